#pragma once
// The site's forwarding tables as a pure function of the config, the site's weights and the
// tables installed before: the daemon's dry run and its apply call the same code, so what the
// dry run shows is what the apply installs.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "steer/maglev.h"
#include "vane/config.pb.h"

namespace vane::steer {

// Effective weight of each server, by server name, for one service (site health applied).
using ServiceWeights = std::map<std::string, uint32_t>;
// By service name. A service left out uses the configured weights.
using SiteWeights = std::map<std::string, ServiceWeights>;

// What a service's installed table was built from.
struct InstalledTable {
  MaglevTable table;
  std::vector<MaglevServer> inputs;  // sorted, effective weights
  uint32_t table_size = 0;
  uint32_t table_id = 0;
};

struct ServiceTable {
  std::string service;
  uint32_t table_id = 0;
  std::vector<MaglevServer> inputs;
  std::optional<MaglevTable> table;  // none: no table (error says why); its VIPs pass locally
  std::optional<MaglevError> error;
  bool rebuilt = false;  // false: same inputs, size and id as the installed table, which stays
};

struct SiteTables {
  std::vector<MaglevServer> servers;  // sorted by name, configured weights (forwarder-only: 0)
  uint32_t table_size = 0;
  std::vector<ServiceTable> services;  // services with VIPs, in config order
};

// The site's servers with their configured weights, sorted by name.
std::vector<MaglevServer> site_servers(const config::Config& cfg);

// table_ids: each service's table id, by name; a service left out gets its position in the config.
SiteTables compute_tables(const config::Config& cfg, const SiteWeights& weights,
                          const std::map<std::string, InstalledTable>& installed,
                          const std::map<std::string, uint32_t>& table_ids = {});

// Buckets whose first hop is each server, by name.
std::map<std::string, int64_t> first_hop_counts(const MaglevTable& t);
// Buckets whose first hop is another server in `after` than in `before` (by name); every bucket
// when the sizes differ.
uint32_t buckets_moved(const MaglevTable* before, const MaglevTable* after);

}  // namespace vane::steer
