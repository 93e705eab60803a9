#pragma once
// `vanectl router-config`: the router's half of the BGP sessions, written from the servers' own
// config files so the two sides cannot disagree. No daemon and no key file is needed: MD5 keys
// appear as placeholders, never as the key.
#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "config/config.h"

namespace vane::cli {

enum class RouterKind { bird, frr, junos, eos };

struct RouterConfigOptions {
  RouterKind kind = RouterKind::bird;
  // Only sessions to these routers (a neighbour's address or name in the servers' configs);
  // empty: every neighbour. All chosen sessions must name one router AS.
  std::vector<std::string> routers;
  // Routes a server may send on one session and family before the router closes it; 0: the
  // prefixes that server may announce in that family plus kDefaultMaxPrefixMargin.
  uint32_t max_prefix = 0;
};

// A server announcing a few prefixes outside its list gets them refused by the import filter
// and keeps its session; only a flood beyond the margin closes it.
inline constexpr uint32_t kDefaultMaxPrefixMargin = 10;

// The placeholder printed where the router's config needs the MD5 key of `server`'s session
// `neighbor` (the content of that server's md5_key_file).
std::string md5_placeholder(const std::string& server, const std::string& neighbor);

// The router config for `servers` (each a loaded vaned config, one per server), or an error
// saying why none can be written (e.g. two router ASes, a server listed twice).
std::expected<std::string, std::string> router_config(const std::vector<config::Loaded>& servers,
                                                      const RouterConfigOptions& opts);

}  // namespace vane::cli
