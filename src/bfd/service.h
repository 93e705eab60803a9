#pragma once
// BFD over UDP on the daemon's io_context: the Asio adapter around the pure Session.
//
// Single hop (RFC 5881): control packets to UDP 3784 with TTL / hop limit 255, and only packets
// that arrive with 255 are taken, so nothing more than one hop away can reach a session.
// Multihop (RFC 5883): UDP 4784, TTL 255 sent, at least 256 - hops required on receipt.
// Packets are sent from a port in 49152..65535 (RFC 5881 §4).
//
// Trust: a packet is looked at only when its source address is a configured peer's of the same
// kind (single hop or multihop); then the session checks discriminators, the key and sequence.
// Everything else is counted and dropped.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bfd/session.h"
#include "common/ip.h"

namespace vane::bfd {

inline constexpr uint16_t kSingleHopPort = 3784;
inline constexpr uint16_t kMultihopPort = 4784;

struct PeerConfig {
  std::string name;  // the BGP neighbour's
  IpAddress peer;
  std::optional<IpAddress> local;  // source address; default: the kernel's choice
  int hops = 1;                    // above 1: multihop
  SessionConfig session;
  bool multihop() const { return hops > 1; }
  bool operator==(const PeerConfig&) const = default;
};

struct PeerStatus {
  PeerConfig config;
  State state = State::Down, remote_state = State::Down;
  Diag local_diag = Diag::None, remote_diag = Diag::None;
  uint32_t local_discr = 0, remote_discr = 0;
  Micros tx_interval{0}, detection_time{0}, remote_min_rx{0}, remote_min_tx{0};
  uint8_t remote_mult = 0;
  bool poll = false;
  Clock::time_point since{};
  SessionCounters counters;
  std::string last_error;  // last send or bind error
};

// Packets dropped before any session saw them.
struct ServiceCounters {
  uint64_t unknown_source = 0;  // not a configured peer of that kind
  uint64_t bad_ttl = 0;         // TTL / hop limit below what the kind requires, or not reported
  uint64_t malformed = 0;       // refused by the codec
  uint64_t receive_errors = 0;
};

class Service {
 public:
  explicit Service(boost::asio::io_context& io);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Adds or changes a peer (timers and key change in place, by a Poll Sequence; a new address
  // or kind starts a new session). Errors (e.g. a port in use) are returned and the session
  // stays Down.
  std::vector<std::string> set_peer(const PeerConfig& cfg);
  void remove_peer(const std::string& name);
  bool has_peer(const std::string& name) const;
  // Operator shutdown of the BGP neighbour: the peer is told AdminDown.
  void set_admin_down(const std::string& name, bool down);

  // Called on every state change of a session.
  using StateHook = std::function<void(const std::string& name, State from, State to, Diag diag)>;
  void on_state_change(StateHook f) { hook_ = std::move(f); }

  std::vector<PeerStatus> status() const;
  std::optional<State> state(const std::string& name) const;
  const ServiceCounters& counters() const { return counters_; }

  class Peer;
  class Receiver;

 private:
  friend class Peer;
  friend class Receiver;
  Receiver* receiver(bool v6, bool multihop, std::string& error);
  void deliver(bool multihop, const IpAddress& from, int ttl, const uint8_t* data, size_t len);

  boost::asio::io_context& io_;
  std::map<std::string, std::unique_ptr<Peer>> peers_;
  std::map<std::pair<bool, bool>, std::unique_ptr<Receiver>> receivers_;  // (v6, multihop)
  ServiceCounters counters_;
  StateHook hook_;
  std::mt19937_64 rng_;
};

}  // namespace vane::bfd
