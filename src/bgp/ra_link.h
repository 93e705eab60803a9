#pragma once
// Router advertisements on one interface, for unnumbered BGP: sends ours (router lifetime 0) so
// that the router learns this server's link-local address, and learns the router's link-local
// address from its own. A raw ICMPv6 socket bound to the interface, filtered to RAs in the kernel;
// every RA is checked by ra::parse (hop limit 255, link-local source, lengths) and must have
// arrived on this interface (IPV6_PKTINFO).
#include <boost/asio/generic/raw_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bgp/ra.h"
#include "common/ip.h"

namespace vane::bgp {

struct RaCounters {
  uint64_t sent = 0, send_errors = 0, received = 0;
  // by reason: hop_limit, source, malformed, interface, other_router, receive_error
  std::map<std::string, uint64_t> dropped;
};

class RaLink {
 public:
  // Our RAs go out this often (and at once when a router is first heard or changes).
  static constexpr std::chrono::seconds kInterval{10};
  // A router stays the one learned while it has been heard within this (RFC 4861's largest
  // MaxRtrAdvInterval); another router on the link is ignored meanwhile.
  static constexpr std::chrono::seconds kForget{1800};

  using OnRouter = std::function<void(std::optional<IpAddress>)>;
  RaLink(boost::asio::io_context& io, std::string interface, OnRouter on_router);
  ~RaLink();
  RaLink(const RaLink&) = delete;
  RaLink& operator=(const RaLink&) = delete;

  // Opens the socket and starts sending; the error says why it could not (e.g. no CAP_NET_RAW, or
  // the interface is not there yet). After an error it tries again every kInterval by itself.
  std::optional<std::string> start();
  const std::string& interface() const { return interface_; }
  std::optional<IpAddress> router() const { return router_; }
  const RaCounters& counters() const { return counters_; }

 private:
  std::optional<std::string> open();
  void retry_open();
  void send();
  void arm_send(std::chrono::steady_clock::duration after);
  void receive();
  void on_readable();

  boost::asio::io_context& io_;
  std::string interface_;
  unsigned ifindex_ = 0;
  OnRouter on_router_;
  boost::asio::generic::raw_protocol::socket socket_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer rx_retry_;  // re-arms receiving after an error
  std::string open_error_;
  std::vector<uint8_t> rx_buf_ = std::vector<uint8_t>(65536);
  std::vector<uint8_t> ra_;
  std::optional<IpAddress> router_;
  std::chrono::steady_clock::time_point router_heard_{};
  RaCounters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vane::bgp
