#pragma once
// A reload is a transaction. The new config (with the key files it names) is first resolved into a
// ReloadPlan: what would change, computed without touching anything (make_plan is pure). The same
// plan is what `vanectl reload --dry-run` prints and what the real reload applies. The apply runs
// as Steps: the ones that can fail (binding sockets, loading programs) come first and can be
// undone; when one fails, the steps already done are undone in reverse order, so vaned is back
// where it was and keeps its previous config (the next reload tries again).
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bgp/export.h"
#include "bgp/neighbor.h"
#include "common/ip.h"
#include "config/config.h"
#include "daemon/forwarding.h"

namespace vane::daemon {

struct NeighborPlan {
  enum class Kind : uint8_t { Add, Remove, Reset, InPlace };
  std::string name;
  Kind kind = Kind::InPlace;
  std::vector<std::string> fields;  // the settings that differ (Reset, InPlace)
  std::string reason;               // why a reset is needed
  bool operator==(const NeighborPlan&) const = default;
};
std::string_view to_string(NeighborPlan::Kind k);

struct PrefixPlan {
  enum class Kind : uint8_t { Announce, Withdraw, Attributes };
  std::string prefix;
  Kind kind = Kind::Announce;
  bool operator==(const PrefixPlan&) const = default;
};
std::string_view to_string(PrefixPlan::Kind k);

struct ServicePlan {
  std::string service;
  uint32_t table_size = 0;               // after; 0: no table
  uint32_t moved = 0;                    // buckets whose first hop changes
  std::map<std::string, int64_t> delta;  // by server: buckets gained (+) or lost (-)
  bool operator==(const ServicePlan&) const = default;
};

struct ReloadPlan {
  std::vector<std::string> changes;  // one line per changed part of the config (config::diff + keys)
  std::vector<NeighborPlan> neighbors;
  std::vector<std::string> listeners;  // "open ADDRESS port N" / "close ADDRESS port N"
  std::vector<PrefixPlan> prefixes;
  std::vector<ServicePlan> services;
  std::vector<std::string> programs;  // data-path programs reloaded, with why
  std::vector<std::string> restart;   // fields that take effect only when vaned restarts
  bool empty() const { return changes.empty(); }
};

// Everything the plan is computed from; the daemon fills it from its current state.
struct PlanInputs {
  const config::Loaded* current = nullptr;
  const config::Loaded* next = nullptr;
  bgp::ExportSet exports_now, exports_next;
  // Effective weights per service: now, and under `next` (a server the reload adds is at 0 until
  // it answers).
  SiteWeights weights_now, weights_next;
  bool forwarding_now = false;  // the data path is running
  // The data path's own preview (Forwarding::plan / plan_start) when `next` forwards; an error is
  // what its apply would refuse.
  std::optional<std::expected<ForwardingPlan, std::string>> forwarding;
};
ReloadPlan make_plan(const PlanInputs& in);

// How a neighbour's change is applied. A session is reset only for what the protocol negotiated or
// the connection depends on.
NeighborPlan classify_neighbor(const bgp::NeighborConfig& before, const bgp::NeighborConfig& after);

// The addresses BGP listens on for a config (bgp.listen, or the local side of each neighbour).
std::vector<IpAddress> listen_addresses(const config::Loaded& cfg);
uint16_t listen_port(const config::Config& cfg);

struct Step {
  std::string name;
  std::function<std::expected<void, std::string>()> apply;
  // Puts back exactly what apply changed; empty when apply changes nothing that must be put back.
  std::function<void()> undo;
};
struct StepFailure {
  std::string step, error;
  std::vector<std::string> undone;  // in the order they were undone
};
// Runs the steps in order; on the first failure undoes the ones done, last first.
std::expected<void, StepFailure> run_steps(std::span<const Step> steps);

}  // namespace vane::daemon
