#pragma once
// The daemon's side of the data path: from the config (and, later, site health) to the XDP
// loader's VIPs, servers and Maglev tables. One table per service, in config order.
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "steer/maglev.h"
#include "xdp/loader.h"

namespace vane::daemon {

struct VipCounters {
  std::string service;
  std::string vip;       // address
  uint32_t port = 0;
  std::string protocol;  // "tcp" / "udp"
  xdp::Counters counters;
};

class Forwarding {
 public:
  // Loads and attaches the programs on the node's interface, then programs the maps.
  static std::expected<std::unique_ptr<Forwarding>, std::string> start(const config::Loaded& cfg);
  ~Forwarding();

  // Recomputes VIPs, servers and tables from a (reloaded) config; tables are switched atomically.
  std::expected<void, std::string> apply(const config::Loaded& cfg);

  std::vector<VipCounters> counters() const;
  uint64_t generation() const { return generation_; }
  uint32_t table_size() const { return table_size_; }
  // Site servers in table order (sorted by name), with their configured weights.
  const std::vector<steer::MaglevServer>& servers() const { return servers_; }

 private:
  std::unique_ptr<xdp::Loader> loader_;
  std::vector<steer::MaglevServer> servers_;
  std::map<std::string, steer::MaglevTable> tables_;  // by service, the previous generation
  std::vector<std::pair<std::string, xdp::Vip>> vips_;
  uint64_t generation_ = 0;
  uint32_t table_size_ = 0;
};

}  // namespace vane::daemon
