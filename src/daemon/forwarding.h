#pragma once
// The daemon's side of the data path: from the config and site health to the XDP loader's VIPs,
// servers and Maglev tables. One table per service, in config order.
//
// A change is a plan, then an apply of it (plan() and apply() run the same code). Each server keeps
// its index in the data path's server map ("slot") for as long as it stays in the site, so a server
// added or removed renumbers nobody, this node's own index included; what the programs hold fixed
// (this node's addresses and index, GUE port, hash seed, MTU, the program itself) changes by
// loading new programs on the same maps and swapping them in atomically.
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/sysctl.h"
#include "steer/maglev.h"
#include "steer/tables.h"
#include "xdp/loader.h"

namespace vane::daemon {

struct VipCounters {
  std::string service;
  std::string vip;  // address
  uint32_t port = 0;
  std::string protocol;  // "tcp" / "udp"
  xdp::Counters counters;
};

// Effective weight of each server, by server name, for one service (site health applied).
using ServiceWeights = steer::ServiceWeights;
// By service name. A service left out uses the configured weights.
using SiteWeights = steer::SiteWeights;

// One service's table in a plan.
struct TableChange {
  std::string service;
  uint32_t table_size = 0;     // 0: the service has no table after the change (removed, or none buildable)
  uint32_t buckets_moved = 0;  // buckets whose first hop changes
  std::map<std::string, int64_t> buckets_delta;  // by server: + gained, - lost (first hops)
};

struct ForwardingPlan {
  bool programs_reload = false;     // new programs are loaded and swapped in
  std::string programs_reason;      // which settings make them reload
  bool identity_changed = false;    // this node's index or fabric addresses change
  std::vector<TableChange> tables;  // every service with a table before or after, config order first
};

class Forwarding {
 public:
  // Loads and attaches the programs on the node's interface, then programs the maps. A
  // backend-only node runs the redirector alone; every other role the combined program.
  static std::expected<std::unique_ptr<Forwarding>, std::string> start(const config::Loaded& cfg,
                                                                       const SiteWeights& weights = {});
  // What start() would install (forwarding not running yet): every table is new.
  static std::expected<ForwardingPlan, std::string> plan_start(const config::Loaded& next,
                                                               const SiteWeights& weights = {});
  // Detaches (unless keep_on_exit) and restores the sysctls it changed (unless keep_on_exit: the
  // attached program still needs them).
  ~Forwarding();
  // Forwarding turned off: detaches and unpins whatever keep_on_exit says, restores the sysctls.
  void stop();

  // What apply(next, weights) would do, without changing anything. An error is what apply would
  // refuse (a setting that needs a restart).
  std::expected<ForwardingPlan, std::string> plan(const config::Loaded& next, const SiteWeights& weights = {}) const;

  // Recomputes VIPs, servers and tables from a (reloaded) config and the site's current weights,
  // reloading the programs if their fixed settings changed. All or nothing: on error the programs,
  // maps and tables are as they were and the error says what failed.
  std::expected<void, std::string> apply(const config::Loaded& cfg, const SiteWeights& weights = {});

  std::vector<VipCounters> counters() const;
  uint64_t generation() const { return generation_; }
  uint32_t table_size() const { return table_size_; }
  // Site servers in table order (sorted by name), with their configured weights.
  const std::vector<steer::MaglevServer>& servers() const { return servers_; }
  // Each server's index in the data path's server map, by name.
  const std::map<std::string, uint32_t>& slots() const { return slots_; }
  // The loaded programs and their maps (tests read the data path through it).
  const xdp::Loader& loader() const { return *loader_; }

  struct Prepared;

 private:
  std::expected<Prepared, std::string> prepare(const config::Loaded& next, const SiteWeights& weights) const;
  std::expected<void, std::string> install(Prepared& p, std::unique_ptr<xdp::Loader> fresh);
  void adopt_installed_tables(const config::Config& cfg);
  void restore_sysctls();

  std::unique_ptr<xdp::Loader> loader_;
  std::unique_ptr<Sysctls> sysctls_;
  bool keep_on_exit_ = false;
  std::vector<steer::MaglevServer> servers_;
  std::map<std::string, uint32_t> slots_;  // by server name
  // Each service's table id, by name: kept while the service stays, so that a service added or
  // moved in the config does not make another's VIPs read its table.
  std::map<std::string, uint32_t> table_ids_;
  std::vector<xdp::Server> xservers_;                    // as written to the server map
  std::map<std::string, steer::InstalledTable> tables_;  // by service, the installed generation
  std::vector<std::pair<std::string, xdp::Vip>> vips_;
  std::vector<uint32_t> vip_slots_;  // counter slot of vips_[i]
  uint64_t generation_ = 0;
  uint32_t table_size_ = 0;
};

}  // namespace vane::daemon
