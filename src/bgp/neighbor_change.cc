#include "bgp/neighbor_change.h"

namespace vane::bgp {

NeighborChange classify_neighbor_change(const NeighborConfig& a, const NeighborConfig& b) {
  NeighborChange out{NeighborChange::kNone, {}, {}};
  std::vector<std::string> reset;
  // `needs_reset`: the OPEN or the TCP connection carries the setting (RFC 4271 4.2, RFC 2385), or
  // it decides who opens the connection; the running session cannot take a new value.
  auto field = [&](bool changed, const char* name, bool needs_reset) {
    if (!changed) return;
    out.fields.push_back(name);
    if (needs_reset) reset.push_back(name);
  };
  field(a.description != b.description, "description", false);
  field(a.address != b.address, "address", true);
  field(a.port != b.port, "port", true);
  // The link the session runs on, and whether the router's address is learned there.
  field(a.interface != b.interface || a.learn_address != b.learn_address, "interface", true);
  field(a.extended_next_hop != b.extended_next_hop, "extended_next_hop", true);
  field(a.local_address != b.local_address, "local_address", true);
  field(a.local_asn != b.local_asn, "local_asn", true);
  field(a.remote_asn != b.remote_asn, "remote_asn", true);
  field(a.router_id != b.router_id, "router_id", true);
  field(a.hold_time != b.hold_time, "hold_time", true);
  // The keepalive interval is derived from the hold time negotiated at OPEN.
  field(a.keepalive != b.keepalive, "keepalive", true);
  field(a.connect_retry != b.connect_retry, "connect_retry", false);
  field(a.passive != b.passive, "passive", true);
  // Socket options: set on the live connection.
  field(a.ttl != b.ttl, "ttl", false);
  field(a.min_ttl != b.min_ttl, "min_ttl", false);
  // Every segment of the running connection is signed with the old key: a new key is a new
  // connection, on both sides.
  field(a.md5_key != b.md5_key, "md5_key", true);
  field(a.ipv4_unicast != b.ipv4_unicast || a.ipv6_unicast != b.ipv6_unicast, "families", true);
  field(a.graceful_restart != b.graceful_restart || a.restart_time != b.restart_time, "graceful_restart", true);
  field(a.extended_messages != b.extended_messages, "extended_messages", true);
  // Local policy over what was received or is sent: re-evaluated in place.
  field(a.stale_time != b.stale_time, "stale_time", false);
  field(a.max_prefixes != b.max_prefixes || a.max_routes != b.max_routes ||
            a.max_prefixes_stop != b.max_prefixes_stop || a.max_prefixes_restart != b.max_prefixes_restart,
        "max_prefixes", false);
  field(a.keep_routes != b.keep_routes, "keep_received_routes", false);
  field(a.import_filter != b.import_filter, "import_prefix", false);
  field(a.shutdown != b.shutdown, "shutdown", false);
  field(a.next_hop != b.next_hop, "next_hop", false);
  field(a.next_hop6 != b.next_hop6, "next_hop6", false);
  field(a.name != b.name, "name", true);

  if (out.fields.empty()) return out;
  if (reset.empty()) {
    out.kind = NeighborChange::kInPlace;
    return out;
  }
  out.kind = NeighborChange::kReset;
  out.reason = "the session negotiated ";
  for (size_t i = 0; i < reset.size(); ++i) out.reason += (i ? ", " : "") + reset[i];
  out.reason += ": it must be opened again";
  return out;
}

}  // namespace vane::bgp
