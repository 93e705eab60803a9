#include "steer/load_law.h"

#include <algorithm>
#include <cmath>

namespace vane::steer {

namespace {

double log_q(const LoadSettings& s) {
  return std::log1p(s.quantum);
}

int min_level(const LoadSettings& s, uint32_t configured) {
  const double lo = std::max(s.min_factor, 1.0 / std::max<uint32_t>(configured, 1));
  return int(std::ceil(std::log(lo) / log_q(s) - 1e-9));
}

int max_level(const LoadSettings& s, uint32_t configured) {
  const double hi = std::min(s.max_factor, double(kLoadMaxWeight) / std::max<uint32_t>(configured, 1));
  return std::max(0, int(std::floor(std::log(hi) / log_q(s) + 1e-9)));
}

int step_levels(const LoadSettings& s) {
  return std::max(1, int(std::floor(std::log1p(s.step) / log_q(s) + 1e-9)));
}

// Towards the configured weight (level 0) by at most one step.
LoadDecision back_to_configured(const LoadSettings& s, int level, LoadReason why) {
  LoadDecision d;
  d.reason = why;
  d.level = level - std::clamp(level, -step_levels(s), step_levels(s));
  return d;
}

}  // namespace

std::string_view to_string(LoadReason r) {
  switch (r) {
    case LoadReason::Moved:
      return "moved";
    case LoadReason::StepLimit:
      return "step limit";
    case LoadReason::AtLimit:
      return "at limit";
    case LoadReason::DeadBand:
      return "dead band";
    case LoadReason::Quantum:
      return "below one quantum";
    case LoadReason::LowLoad:
      return "low load";
    case LoadReason::NoSignal:
      return "no signal";
    case LoadReason::NotServing:
      return "not serving";
  }
  return "?";
}

uint32_t load_weight_at(const LoadSettings& s, uint32_t configured, int level) {
  if (configured == 0) return 0;
  level = std::clamp(level, min_level(s, configured), max_level(s, configured));
  const double w = std::round(double(configured) * std::pow(1.0 + s.quantum, level));
  return uint32_t(std::clamp(w, 1.0, double(kLoadMaxWeight)));
}

int load_level_of(const LoadSettings& s, uint32_t configured, uint32_t weight) {
  if (configured == 0 || weight == 0) return 0;
  const int k = int(std::lround(std::log(double(weight) / configured) / log_q(s)));
  return std::clamp(k, min_level(s, configured), max_level(s, configured));
}

uint32_t load_min_weight(const LoadSettings& s, uint32_t configured) {
  return load_weight_at(s, configured, min_level(s, configured));
}

uint32_t load_max_weight(const LoadSettings& s, uint32_t configured) {
  return load_weight_at(s, configured, max_level(s, configured));
}

std::pair<uint32_t, uint32_t> load_peer_bounds(const LoadSettings& s, uint32_t configured) {
  const double c = configured, top = kLoadMaxWeight;
  const double lo = std::clamp(std::floor(c * s.min_factor + 1e-9), 1.0, top);
  const double hi = std::clamp(std::ceil(c * s.max_factor - 1e-9), 1.0, top);
  return {uint32_t(lo), uint32_t(std::max(lo, hi))};
}

LoadDecision load_step(const LoadSettings& s, const LoadInputs& in) {
  const int kmin = min_level(s, in.configured), kmax = max_level(s, in.configured);
  const int k = std::clamp(in.level, kmin, kmax);
  auto finish = [&](LoadDecision d) {
    d.level = std::clamp(d.level, kmin, kmax);
    d.published = load_weight_at(s, in.configured, d.level);
    return d;
  };
  if (in.configured == 0) return finish({0, LoadReason::NoSignal, in.low_load, 0, 0});
  if (!in.serving) return finish({0, LoadReason::NotServing, false, 0, 0});
  if (!in.utilisation) {
    if (in.no_signal_before == 0) return finish({0, LoadReason::NoSignal, in.low_load, 0, k});
    auto d = back_to_configured(s, k, LoadReason::NoSignal);
    d.low_load = in.low_load;
    return finish(d);
  }
  double sum = *in.utilisation;
  size_t n = 1;
  for (auto& p : in.peers)
    if (p.utilisation && p.serving && p.published > 0) sum += *p.utilisation, ++n;
  const double mean = sum / double(n);
  const bool low = in.low_load ? mean < s.low_load * s.low_load_exit : mean < s.low_load;
  if (low) {
    auto d = back_to_configured(s, k, LoadReason::LowLoad);
    d.low_load = true;
    d.mean = mean;
    return finish(d);
  }
  LoadDecision d{0, LoadReason::DeadBand, false, mean, k};
  // A server that measures (next to) nothing while the site is loaded takes more, by the step.
  const double u = std::max(*in.utilisation, 1e-3);
  if (std::abs(u / mean - 1) <= s.dead_band) return finish(d);
  // The ideal move, if the others held still, is log(mean / u) in log-weight; apply a fraction.
  const double want = kLoadGain * std::log(mean / u) / log_q(s);
  int move = int(std::lround(want));
  if (move == 0) {
    d.reason = LoadReason::Quantum;
    return finish(d);
  }
  d.reason = LoadReason::Moved;
  const int smax = step_levels(s);
  if (std::abs(move) > smax) {
    move = std::clamp(move, -smax, smax);
    d.reason = LoadReason::StepLimit;
  }
  if (k + move < kmin || k + move > kmax) d.reason = LoadReason::AtLimit;
  d.level = std::clamp(k + move, kmin, kmax);
  return finish(d);
}

}  // namespace vane::steer
