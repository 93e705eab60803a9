#include "daemon/neighbor_config.h"

#include <algorithm>

namespace vane::daemon {

static_assert(bgp::kDefaultMaxRoutes == config::kDefaultMaxReceivedRoutes);

bgp::NeighborConfig neighbor_config(const config::Loaded& loaded, const config::Neighbor& n) {
  const auto& node = loaded.proto.node();
  bgp::NeighborConfig c;
  c.name = n.name();
  c.description = n.description();
  c.interface = n.interface();
  const bool unnumbered = !c.interface.empty();
  if (auto a = IpAddress::parse(n.address()))
    c.address = *a;
  else
    c.learn_address = true;  // unnumbered: from the router's advertisements
  if (unnumbered) c.address.family = IpAddress::Family::v6;
  c.extended_next_hop = n.has_extended_next_hop() ? n.extended_next_hop() : unnumbered;
  c.port = uint16_t(n.has_port() ? n.port() : 179);
  // Unnumbered: no local address; the kernel picks the interface's link-local one.
  if (unnumbered) {
    // nothing
  } else if (!n.local_address().empty()) {
    c.local_address = IpAddress::parse(n.local_address());
  } else if (c.address.is_v4() && !node.address().empty()) {
    c.local_address = IpAddress::parse(node.address());
  } else if (c.address.is_v6() && !node.address6().empty()) {
    c.local_address = IpAddress::parse(node.address6());
  }
  c.local_asn = n.has_local_asn() ? n.local_asn() : node.asn();
  c.remote_asn = n.remote_asn();
  c.router_id = IpAddress::parse(node.router_id())->v4_host_order();
  c.hold_time = std::chrono::seconds(n.has_hold_time_s() ? n.hold_time_s() : config::kDefaultHoldTime);
  // keepalive_s 0 is allowed only beside hold_time_s 0, where no KEEPALIVE is sent at all.
  if (n.has_keepalive_s() && n.keepalive_s() > 0) c.keepalive = std::chrono::seconds(n.keepalive_s());
  c.connect_retry = std::chrono::seconds(n.has_connect_retry_s() ? n.connect_retry_s() : config::kDefaultConnectRetry);
  c.passive = n.passive();
  bool ebgp = c.local_asn != c.remote_asn;
  if (n.ttl_security()) {
    int hops = n.multihop_ttl() ? int(n.multihop_ttl()) : 1;
    c.ttl = 255;
    c.min_ttl = 255 - hops + 1;
  } else {
    c.ttl = n.multihop_ttl() ? int(n.multihop_ttl()) : (ebgp ? 1 : 255);
  }
  if (auto it = loaded.md5_keys.find(n.name()); it != loaded.md5_keys.end()) c.md5_key = it->second;
  if (n.families_size() == 0) {
    c.ipv4_unicast = c.address.is_v4() || unnumbered;
    c.ipv6_unicast = c.address.is_v6();
  } else {
    c.ipv4_unicast = c.ipv6_unicast = false;
    for (int f : n.families()) {
      if (f == config::IPV4_UNICAST) c.ipv4_unicast = true;
      if (f == config::IPV6_UNICAST) c.ipv6_unicast = true;
    }
  }
  if (n.has_graceful_restart() && (!n.graceful_restart().has_enabled() || n.graceful_restart().enabled())) {
    c.graceful_restart = true;
    if (n.graceful_restart().restart_time_s()) c.restart_time = uint16_t(n.graceful_restart().restart_time_s());
    if (n.graceful_restart().stale_time_s()) c.stale_time = std::chrono::seconds(n.graceful_restart().stale_time_s());
  }
  c.max_prefixes = n.max_prefixes().limit();
  c.max_routes = std::max(c.max_prefixes, config::kDefaultMaxReceivedRoutes);
  c.max_prefixes_stop = n.max_prefixes().action() != config::WARN;
  c.max_prefixes_restart = std::chrono::seconds(n.max_prefixes().restart_s());
  c.keep_routes = n.keep_received_routes();
  for (auto& s : n.import_prefix()) {
    auto r = config::parse_prefix_range(s);
    if (!r) continue;
    c.import_filter.push_back({*Prefix::parse(r->prefix), r->ge, r->le});
  }
  c.shutdown = n.shutdown();
  c.extended_messages = !n.has_extended_messages() || n.extended_messages();
  if (!n.next_hop().empty()) c.next_hop = IpAddress::parse(n.next_hop());
  // A router across an unnumbered link cannot reach node.address: IPv4 routes go with the IPv6
  // next hops (RFC 8950) unless next_hop says otherwise.
  else if (!node.address().empty() && !unnumbered)
    c.next_hop = IpAddress::parse(node.address());
  if (!n.next_hop6().empty())
    c.next_hop6 = IpAddress::parse(n.next_hop6());
  else if (!node.address6().empty())
    c.next_hop6 = IpAddress::parse(node.address6());
  return c;
}

}  // namespace vane::daemon
