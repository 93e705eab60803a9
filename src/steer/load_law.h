#pragma once
// The load control law: each server moves the weight it publishes so that its CPU utilisation
// approaches the site's mean (docs/load.md has the law and why it cannot oscillate). Pure: no I/O,
// no clock; the caller measures, keeps the last decision and calls once per period.
//
// Weights live on a geometric grid around the configured weight: level k publishes
// round(configured x (1 + quantum)^k), so one quantum is the same relative change at every weight
// and a move is a whole number of levels.
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace vane::steer {

struct LoadSettings {
  double dead_band = 0.05;   // |u / mean - 1| within this: hold
  double step = 0.25;        // at most this relative weight change per period
  double min_factor = 0.25;  // published weight >= configured x min_factor
  double max_factor = 4.0;   // published weight <= configured x max_factor
  double quantum = 0.02;     // relative size of one level
  double low_load = 0.2;     // site mean below this: back to the configured weight
  // Leaving low load needs the mean above low_load x this (hysteresis: balancing changes the mean
  // a little, which must not flip the mode back).
  double low_load_exit = 1.5;
};

// The fraction of the ideal correction applied per period. Below 1 every server's deviation from
// the mean shrinks by (1 - gain) per period without changing sign (docs/load.md).
inline constexpr double kLoadGain = 0.5;
// Published weights are at most this (steer::kMaglevMaxWeight) and at least 1.
inline constexpr uint32_t kLoadMaxWeight = 1000;

struct PeerLoad {
  std::optional<double> utilisation;  // 0..1; nullopt: no signal
  uint32_t published = 0;
  // False when its last report has no service up with a weight: a server carrying no traffic
  // measures (next to) nothing, which would drag the mean down, so it is left out of the mean.
  bool serving = true;
};

struct LoadInputs {
  std::optional<double> utilisation;  // this server's smoothed utilisation, 0..1
  std::vector<PeerLoad> peers;        // the other servers that answer (the law skips those not serving)
  uint32_t configured = 100;
  // The last decision's grid level (0, the configured weight, at first) and mode. The level, not
  // the published weight, is the state: at small weights several levels round to one weight.
  int level = 0;
  bool low_load = false;
  // Decisions in a row without a signal before this one: a short spell (none before) holds the
  // level, so that one failed read does not cost a step; a longer one walks back.
  int no_signal_before = 0;
  // False while this server carries no traffic (every service drained, down or gated): its
  // utilisation says nothing of its weight, so it stands at its configured weight (level 0, at
  // once) and comes back there, instead of climbing towards max while idle.
  bool serving = true;
};

enum class LoadReason : uint8_t {
  Moved,       // moved towards equal utilisation
  StepLimit,   // moved, but by less than the law asked (the step bound)
  AtLimit,     // wanted to move past min/max; at the limit
  DeadBand,    // within the dead band: held
  Quantum,     // the correction is smaller than one level: held
  LowLoad,     // the site is lightly loaded: configured weight (reached by bounded steps)
  NoSignal,    // no utilisation for this server: held once, then configured weight (bounded steps)
  NotServing,  // this server carries no traffic: configured weight, at once
};
std::string_view to_string(LoadReason r);

struct LoadDecision {
  uint32_t published = 0;
  LoadReason reason = LoadReason::DeadBand;
  bool low_load = false;
  double mean = 0;  // the site mean the decision compared with (0 without signal)
  int level = 0;    // the grid level of `published`
};

// The limits in weight units for a configured weight (both at least 1, at most kLoadMaxWeight).
uint32_t load_min_weight(const LoadSettings& s, uint32_t configured);
uint32_t load_max_weight(const LoadSettings& s, uint32_t configured);
// What another server with this configured weight may publish, whatever its quantum (its grid):
// the raw range [floor(configured x min_factor), ceil(configured x max_factor)], within
// 1..kLoadMaxWeight. Every weight on any grid within the factors lies inside it.
std::pair<uint32_t, uint32_t> load_peer_bounds(const LoadSettings& s, uint32_t configured);
// The weight at grid level k, and the level nearest to a weight.
uint32_t load_weight_at(const LoadSettings& s, uint32_t configured, int level);
int load_level_of(const LoadSettings& s, uint32_t configured, uint32_t weight);

LoadDecision load_step(const LoadSettings& s, const LoadInputs& in);

}  // namespace vane::steer
