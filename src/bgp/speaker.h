#pragma once
// The BGP speaker: every neighbour's sessions, what each was sent (Adj-RIB-Out) and what each
// sent us (Adj-RIB-In), on the daemon's io_context. The wire codec (bgp/wire) and the FSM
// (bgp/fsm.h) are pure; this is the thin Asio layer that carries out what they decide.
//
// Only the ExportSet given by the daemon is ever announced: nothing received is re-advertised.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bgp/export.h"
#include "bgp/fsm.h"
#include "bgp/neighbor.h"
#include "common/ip.h"

namespace vane::bgp {

struct SpeakerOptions {
  // Addresses to accept sessions on; each must belong to a configured neighbour's side.
  std::vector<IpAddress> listen;
  uint16_t listen_port = 179;
  // Set when this process follows a crash of an earlier one (RFC 4724 Restart State bit).
  bool restarting = false;
};

struct ReceivedRoute {
  Prefix prefix;
  std::string attributes;  // human-readable
  bool stale = false;
};

struct NeighborStatus {
  std::string name, description;
  IpAddress address;
  std::string interface;      // unnumbered: the link the session runs on
  bool address_known = true;  // false: an unnumbered neighbour whose RAs have not arrived yet
  // RFC 8950 (IPv4 routes with an IPv6 next hop) on this session: we send such routes (the router
  // advertised the capability and extended_next_hop is on) / we accept them (we advertised it).
  bool extended_next_hop_sent = false;
  bool extended_next_hop_received = false;
  uint32_t remote_asn = 0;
  State state = State::Idle;
  bool admin_down = false;
  std::chrono::steady_clock::time_point since{};
  uint64_t prefixes_sent = 0;       // currently announced to this neighbour
  uint64_t prefixes_received = 0;   // currently held from it (accepted by the filter)
  uint64_t prefixes_filtered = 0;   // received and refused by the import filter
  uint64_t prefixes_discarded = 0;  // new prefixes not stored: max_routes already held
  uint64_t send_queue_bytes = 0;    // written for the peer, not yet taken by the kernel
  uint64_t refreshes_merged = 0;    // ROUTE-REFRESH requests that restarted a walk under way
  uint64_t updates_sent = 0, updates_received = 0;
  uint64_t messages_sent = 0, messages_received = 0;
  uint64_t established_count = 0, transitions = 0;
  std::string last_error;
  std::optional<NotificationInfo> last_notification;
  bool last_notification_sent = false;
  std::vector<std::string> families;  // negotiated, or configured while down
  uint16_t hold_time = 0;             // negotiated
  bool graceful_restart = false;      // negotiated both ways
  uint64_t stale_routes = 0;
  // Set while its connections are refused after a fall that was its fault (we sent it a
  // NOTIFICATION for a malformed message, an FSM error or too many prefixes): until then.
  std::optional<std::chrono::steady_clock::time_point> damped_until;
};

class Speaker {
 public:
  Speaker(boost::asio::io_context& io, SpeakerOptions options);
  ~Speaker();
  Speaker(const Speaker&) = delete;
  Speaker& operator=(const Speaker&) = delete;

  // Starts listeners; errors (e.g. address in use) are returned, nothing is thrown.
  std::vector<std::string> start();
  // Makes the listeners follow a reload: one per address of `listen` on `port` (0: none).
  // Missing ones are opened first, each with every neighbour's TCP MD5 key; if one cannot be
  // opened, those just opened are closed and the error is returned: nothing changed. Then the
  // listeners no longer wanted are closed. Neighbours added afterwards put their keys on them.
  // close_unwanted = false only opens: a reload opens first, and closes in its commit, so that
  // undoing it never has to bind again what it closed (the port may be taken meanwhile).
  std::expected<void, std::string> apply_listeners(std::vector<IpAddress> listen, uint16_t port,
                                                   bool close_unwanted = true);

  // Its TCP MD5 key, if any, goes on every listener (for its address only).
  void add_neighbor(NeighborConfig cfg);
  // Closes the session with Cease / Peer De-configured and removes its key from the listeners.
  void remove_neighbor(const std::string& name);
  // Applies a changed config as classify_neighbor_change (bgp/neighbor_change.h) decides: a
  // change of what the session negotiated (addresses, ASNs, router id, families and capabilities,
  // hold time, the MD5 key, passive) resets it; any other change applies to the running session
  // without a withdrawal: a new import filter or limit is applied to the held routes, a new next
  // hop re-announces the routes it changes. An unknown name is added.
  void update_neighbor(NeighborConfig cfg);

  // What should be announced now. Diffs against each neighbour's Adj-RIB-Out and sends only the
  // difference, packed by attribute set.
  void set_exports(ExportSet exports);
  // The first complete ExportSet is in: End-of-RIB may follow it (graceful restart waits for this
  // so that the router never drops routes that are about to be re-announced).
  void set_exports_ready();
  const ExportSet& exports() const { return exports_; }

  // BFD beside a neighbour (RFC 5882), from the daemon; neighbours without BFD never see it.
  // Down: a session past Idle is closed at once (Cease / BFD Down, RFC 9384); with `hold` it
  // also stays Idle (no connect, connections refused) until BFD is up. Up: a held session starts.
  // close = false: only hold (BFD just configured beside a session that is already up: that
  // session did not fail, and a reload that adds BFD must not reset it).
  void set_bfd_state(const std::string& name, bool up, bool hold, bool close = true);

  // An unnumbered neighbour's router address, learned from its router advertisements (nullopt:
  // forgotten). The session waits Idle until it is known; a new address restarts the session.
  void set_learned_address(const std::string& name, std::optional<IpAddress> address);

  // Operator commands; false when no such neighbour.
  bool neighbor_shutdown(const std::string& name, const std::string& message);
  bool neighbor_enable(const std::string& name);
  bool neighbor_reset(const std::string& name, const std::string& message);

  // Withdraws everything, closes every session with Cease / Administrative Shutdown and calls
  // done once the NOTIFICATIONs are flushed (or after `deadline`).
  void shutdown(const std::string& message, std::chrono::milliseconds deadline, std::function<void()> done);

  std::vector<NeighborStatus> status() const;
  // Failed accepts on the listeners (e.g. out of descriptors); each one pauses that listener for
  // kAcceptRetry.
  uint64_t accept_errors() const { return accept_errors_; }
  static constexpr std::chrono::milliseconds kAcceptRetry{100};

  // Each session's send queue (bytes written for the peer that the kernel has not taken yet).
  // UPDATEs (announcements, withdrawals, ROUTE-REFRESH answers) are generated a step of about
  // kStepBytes at a time, and only while fewer than kSendQueueHigh bytes are queued; the walk of
  // the Adj-RIB-Out resumes as the peer reads. So the queue never holds more than
  // kSendQueueLimit: the high mark, one step, one message of slack and the few KEEPALIVEs and
  // NOTIFICATION that may follow. (The withdrawal of everything when a session is closed on
  // purpose is written at once, and dropped with the connection within 2 s.)
  static constexpr size_t kSendQueueHigh = 256 * 1024;
  static constexpr size_t kStepBytes = 64 * 1024;
  static constexpr size_t kSendQueueLimit = 512 * 1024;
  std::vector<ReceivedRoute> received_routes(const std::string& neighbor, size_t limit) const;

  class Peer;

 private:
  friend class Peer;
  class Listener;
  void accept(const IpAddress& local, boost::asio::ip::tcp::socket socket);
  std::vector<std::pair<IpAddress, std::string>> md5_keys() const;
  void sync_all();
  void on_shutdown_poll(boost::system::error_code ec);

  boost::asio::io_context& io_;
  SpeakerOptions options_;
  std::map<std::string, std::unique_ptr<Peer>> peers_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  ExportSet exports_;
  bool exports_ready_ = false;
  bool shutting_down_ = false;
  uint64_t accept_errors_ = 0;
  std::map<std::string, bool> bfd_held_;      // neighbours held Idle until their BFD session is up
  std::map<std::string, IpAddress> learned_;  // unnumbered neighbours' addresses, from their RAs
  boost::asio::steady_timer shutdown_timer_;
  std::function<void()> shutdown_done_;
  std::chrono::steady_clock::time_point shutdown_until_{};
};

}  // namespace vane::bgp
