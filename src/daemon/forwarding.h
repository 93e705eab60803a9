#pragma once
// The daemon's side of the data path: from the config and site health to the XDP loader's VIPs,
// servers and Maglev tables. One table per service, in config order.
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/sysctl.h"
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

// Effective weight of each server, by server name, for one service (site health applied).
using ServiceWeights = std::map<std::string, uint32_t>;
// By service name. A service left out uses the configured weights.
using SiteWeights = std::map<std::string, ServiceWeights>;

class Forwarding {
 public:
  // Loads and attaches the programs on the node's interface, then programs the maps. A
  // backend-only node runs the redirector alone; every other role the combined program.
  static std::expected<std::unique_ptr<Forwarding>, std::string> start(const config::Loaded& cfg,
                                                                       const SiteWeights& weights = {});
  // Detaches (unless keep_on_exit) and restores the sysctls it changed (unless keep_on_exit: the
  // attached program still needs them).
  ~Forwarding();
  // Forwarding turned off: detaches and unpins whatever keep_on_exit says, restores the sysctls.
  void stop();

  // Recomputes VIPs, servers and tables from a (reloaded) config and the site's current weights;
  // tables are switched atomically. A service whose inputs did not change keeps its table.
  std::expected<void, std::string> apply(const config::Loaded& cfg, const SiteWeights& weights = {});

  std::vector<VipCounters> counters() const;
  uint64_t generation() const { return generation_; }
  uint32_t table_size() const { return table_size_; }
  // Site servers in table order (sorted by name), with their configured weights.
  const std::vector<steer::MaglevServer>& servers() const { return servers_; }

 private:
  void adopt_installed_tables(const config::Config& cfg);
  void restore_sysctls();

  std::unique_ptr<xdp::Loader> loader_;
  std::unique_ptr<Sysctls> sysctls_;
  bool keep_on_exit_ = false;
  std::vector<steer::MaglevServer> servers_;
  std::map<std::string, steer::MaglevTable> tables_;  // by service, the previous generation
  // By service: the server list (with effective weights) and size its table was built from.
  std::map<std::string, std::pair<std::vector<steer::MaglevServer>, uint32_t>> built_from_;
  std::vector<std::pair<std::string, xdp::Vip>> vips_;
  std::vector<uint32_t> vip_slots_;  // counter slot of vips_[i]
  uint64_t generation_ = 0;
  uint32_t table_size_ = 0;
};

}  // namespace vane::daemon
