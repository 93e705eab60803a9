#pragma once
// Pure verdict logic for one check and for one service: no sockets, no timers, time is an argument.
#include <cstdint>
#include <optional>
#include <span>

#include "health/types.h"
#include "vane/config.pb.h"

namespace vane::health {

// Rise/fall hysteresis for one check.
//
// Start-up rule: a check starts Unknown and the first result does not decide it on its own. It
// becomes Up after `rise` consecutive successes or Down after `fall` consecutive failures, the same
// thresholds that govern every later change. A daemon that just started therefore never announces on
// the strength of a single lucky probe, and never withdraws on one unlucky one; until then the
// service is gated (see service_health).
class CheckVerdict {
 public:
  CheckVerdict(uint32_t rise, uint32_t fall);

  // New thresholds (live reload); they apply from the next result on and keep the current streaks.
  void set_thresholds(uint32_t rise, uint32_t fall);

  // Feeds one result taken at `now`; returns true when the verdict changed.
  bool record(const Result& r, TimePoint now);

  Verdict verdict() const { return verdict_; }
  // Verdict changes so far, the first one out of Unknown included.
  uint32_t transitions() const { return transitions_; }
  // Current streaks: consecutive successes / failures up to the last result.
  uint32_t successes() const { return successes_; }
  uint32_t failures() const { return failures_; }
  uint32_t rise() const { return rise_; }
  uint32_t fall() const { return fall_; }
  const std::optional<Result>& last_result() const { return last_; }
  std::optional<TimePoint> last_checked() const { return last_checked_; }
  std::optional<TimePoint> last_change() const { return last_change_; }

 private:
  uint32_t rise_, fall_;
  Verdict verdict_ = Verdict::Unknown;
  uint32_t transitions_ = 0;
  uint32_t successes_ = 0, failures_ = 0;
  std::optional<Result> last_;
  std::optional<TimePoint> last_checked_, last_change_;
};

// How a service's checks combine.
struct HealthRule {
  config::HealthMode mode = config::ALL;
  uint32_t min_up = 0;  // AT_LEAST only
  static HealthRule from_config(const config::Service& s);
};

struct CheckInput {
  Verdict verdict = Verdict::Unknown;
  // A gating check must have a verdict before the service can have one. Checks are gating while the
  // service has never been decided; a check added later by a reload is not, so that adding a check
  // to a serving service does not withdraw it while the new check warms up.
  bool gating = true;
};

// A service's health from its checks' verdicts.
//   - no checks at all: healthy;
//   - any gating check still Unknown: nullopt (undecided; the caller treats that as "not healthy"
//     at start-up and as "keep the previous value" afterwards);
//   - non-gating Unknown checks are left out; if that leaves none: nullopt;
//   - ALL (and unspecified): every remaining check Up; ANY: at least one Up;
//     AT_LEAST: at least min_up Up (more than there are checks: never healthy).
std::optional<bool> service_health(const HealthRule& rule, std::span<const CheckInput> checks);

}  // namespace vane::health
