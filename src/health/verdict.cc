#include "health/verdict.h"

#include <algorithm>
#include <limits>

namespace vane::health {

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::Unknown:
      return "unknown";
    case Verdict::Up:
      return "up";
    case Verdict::Down:
      return "down";
  }
  return "?";
}

CheckVerdict::CheckVerdict(uint32_t rise, uint32_t fall) {
  set_thresholds(rise, fall);
}

void CheckVerdict::set_thresholds(uint32_t rise, uint32_t fall) {
  // A threshold of 0 would decide without evidence; config validation refuses it, this is defence.
  rise_ = std::max<uint32_t>(rise, 1);
  fall_ = std::max<uint32_t>(fall, 1);
}

bool CheckVerdict::record(const Result& r, TimePoint now) {
  constexpr uint32_t kCap = std::numeric_limits<uint32_t>::max() - 1;  // streaks saturate, never wrap
  Verdict next = verdict_;
  if (r.ok) {
    failures_ = 0;
    successes_ = std::min(successes_ + 1, kCap);
    if (successes_ >= rise_) next = Verdict::Up;
  } else {
    successes_ = 0;
    failures_ = std::min(failures_ + 1, kCap);
    if (failures_ >= fall_) next = Verdict::Down;
  }
  last_ = r;
  last_checked_ = now;
  if (next == verdict_) return false;
  verdict_ = next;
  last_change_ = now;
  if (transitions_ < kCap) ++transitions_;
  return true;
}

HealthRule HealthRule::from_config(const config::Service& s) {
  return HealthRule{s.health_mode(), s.min_checks_up()};
}

std::optional<bool> service_health(const HealthRule& rule, std::span<const CheckInput> checks) {
  if (checks.empty()) return true;
  size_t known = 0, up = 0;
  for (const CheckInput& c : checks) {
    if (c.verdict == Verdict::Unknown) {
      if (c.gating) return std::nullopt;
      continue;
    }
    ++known;
    if (c.verdict == Verdict::Up) ++up;
  }
  if (known == 0) return std::nullopt;
  switch (rule.mode) {
    case config::ANY:
      return up >= 1;
    case config::AT_LEAST:
      return up >= rule.min_up;
    default:
      return up == known;
  }
}

}  // namespace vane::health
