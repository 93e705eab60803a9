#pragma once
// One neighbour's settings as the speaker uses them: resolved from the config (defaults applied,
// the MD5 key file read) by the daemon, so that bgp/ does not depend on config/.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bgp/fsm.h"
#include "common/ip.h"

namespace vane::bgp {

// Routes held from one neighbour when nothing larger is configured (config's
// kDefaultMaxReceivedRoutes; the daemon always sets max_routes from the config).
inline constexpr uint32_t kDefaultMaxRoutes = 100000;

struct PrefixFilter {
  Prefix prefix;
  uint8_t ge = 0, le = 0;
  bool matches(const Prefix& p) const { return prefix.contains(p) && p.len >= ge && p.len <= le; }
  bool operator==(const PrefixFilter&) const = default;
};

struct NeighborConfig {
  std::string name;
  std::string description;
  IpAddress address;
  uint16_t port = 179;
  std::optional<IpAddress> local_address;
  uint32_t local_asn = 0;
  uint32_t remote_asn = 0;
  uint32_t router_id = 0;  // host order
  std::chrono::seconds hold_time{90};
  std::optional<std::chrono::seconds> keepalive;
  std::chrono::seconds connect_retry{5};
  bool passive = false;
  int ttl = 1;          // outgoing TTL / hop limit
  int min_ttl = 0;      // GTSM; 0: off
  std::string md5_key;  // the key file's contents; empty: no MD5
  bool ipv4_unicast = true;
  bool ipv6_unicast = false;
  bool graceful_restart = false;
  uint16_t restart_time = 120;
  std::chrono::seconds stale_time{360};
  uint32_t max_prefixes = 0;  // 0: no limit
  // Routes held from this neighbour at most, whatever max_prefixes says: max(max_prefixes, the
  // default). Announcements of further prefixes are discarded, so a flooding peer costs no memory.
  uint32_t max_routes = kDefaultMaxRoutes;
  bool max_prefixes_stop = true;
  std::chrono::seconds max_prefixes_restart{0};
  bool keep_routes = false;
  std::vector<PrefixFilter> import_filter;
  bool shutdown = false;
  bool extended_messages = true;
  std::optional<IpAddress> next_hop;   // IPv4 routes
  std::optional<IpAddress> next_hop6;  // IPv6 routes
  // Unnumbered (the session runs over IPv6 link-local addresses on this interface): the scope of
  // `address`, or, with learn_address, where the router's address is learned from its router
  // advertisements (`address` is then unused; Speaker::set_learned_address supplies it).
  std::string interface;
  bool learn_address = false;
  // RFC 8950: advertise IPv4 unicast with an IPv6 next hop (IPv4 routes then carry the IPv6 next
  // hop when the neighbour has no IPv4 next hop).
  bool extended_next_hop = false;

  bool operator==(const NeighborConfig&) const = default;
};

// The session FSM's share of a neighbour's settings. A validated config always yields one that
// check_config accepts (tests/unit/daemon/neighbor_config_test.cc pins that).
inline FsmConfig fsm_config(const NeighborConfig& n) {
  FsmConfig c;
  c.local_asn = n.local_asn;
  c.remote_asn = n.remote_asn;
  c.local_bgp_id = n.router_id;
  c.hold_time = n.hold_time;
  c.keepalive = n.keepalive;
  c.connect_retry = n.connect_retry;
  // The restart delay doubles up to max_backoff: a retry interval above it is its own ceiling.
  c.max_backoff = std::max(c.max_backoff, n.connect_retry);
  c.passive = n.passive;
  return c;
}

}  // namespace vane::bgp
