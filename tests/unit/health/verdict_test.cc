// Rise/fall hysteresis, the start-up rule and how a service's checks combine.
#include "health/verdict.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vane::health {
namespace {

using namespace std::chrono_literals;

const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

Result ok() {
  return Result{true, 1ms, "ok", {}, false};
}
Result bad() {
  return Result{false, 2ms, "bad", {}, false};
}

// Feeds a string of results ('+' success, '-' failure), one per second; returns the verdicts.
std::string feed(CheckVerdict& v, std::string_view seq) {
  std::string out;
  TimePoint t = t0;
  for (char c : seq) {
    v.record(c == '+' ? ok() : bad(), t);
    t += 1s;
    out += v.verdict() == Verdict::Up ? 'U' : v.verdict() == Verdict::Down ? 'D' : '?';
  }
  return out;
}

TEST(CheckVerdict, StartsUnknownAndRisesAfterRiseSuccesses) {
  CheckVerdict v(2, 3);
  EXPECT_EQ(v.verdict(), Verdict::Unknown);
  EXPECT_EQ(feed(v, "++"), "?U");
  EXPECT_EQ(v.transitions(), 1u);
}

TEST(CheckVerdict, StartsUnknownAndFallsAfterFallFailures) {
  CheckVerdict v(2, 3);
  EXPECT_EQ(feed(v, "---"), "??D");
}

TEST(CheckVerdict, FirstResultAloneDoesNotDecideUnlessThresholdIsOne) {
  CheckVerdict two(2, 2);
  EXPECT_EQ(feed(two, "+"), "?");
  CheckVerdict one(1, 1);
  EXPECT_EQ(feed(one, "-"), "D");
}

TEST(CheckVerdict, MixedResultsAtStartUpStayUnknown) {
  CheckVerdict v(2, 3);
  EXPECT_EQ(feed(v, "+-+--+-+"), "????????");
  EXPECT_EQ(v.transitions(), 0u);
}

TEST(CheckVerdict, UpNeedsFallConsecutiveFailuresToGoDown) {
  CheckVerdict v(2, 3);
  EXPECT_EQ(feed(v, "++--+---"), "?UUUUUUD");
  EXPECT_EQ(v.transitions(), 2u);
}

TEST(CheckVerdict, DownNeedsRiseConsecutiveSuccessesToComeBack) {
  CheckVerdict v(3, 1);
  EXPECT_EQ(feed(v, "-++-+++"), "DDDDDDU");
  EXPECT_EQ(v.transitions(), 2u);
}

TEST(CheckVerdict, RecordReturnsTrueOnlyOnChange) {
  CheckVerdict v(1, 1);
  EXPECT_TRUE(v.record(ok(), t0));
  EXPECT_FALSE(v.record(ok(), t0 + 1s));
  EXPECT_TRUE(v.record(bad(), t0 + 2s));
  EXPECT_EQ(*v.last_change(), t0 + 2s);
  EXPECT_EQ(*v.last_checked(), t0 + 2s);
}

TEST(CheckVerdict, KeepsLastResultLatencyAndStreaks) {
  CheckVerdict v(2, 3);
  feed(v, "++-");
  ASSERT_TRUE(v.last_result());
  EXPECT_FALSE(v.last_result()->ok);
  EXPECT_EQ(v.last_result()->latency, 2ms);
  EXPECT_EQ(v.last_result()->detail, "bad");
  EXPECT_EQ(v.failures(), 1u);
  EXPECT_EQ(v.successes(), 0u);
  EXPECT_EQ(*v.last_change(), t0 + 1s);
}

TEST(CheckVerdict, ZeroThresholdsActAsOne) {
  CheckVerdict v(0, 0);
  EXPECT_EQ(feed(v, "+-"), "UD");
}

TEST(CheckVerdict, NewThresholdsApplyFromTheNextResult) {
  CheckVerdict v(5, 5);
  feed(v, "++");
  v.set_thresholds(3, 5);
  EXPECT_EQ(feed(v, "+"), "U");  // third success in a row
}

// --- service health ---------------------------------------------------------------------------

std::vector<CheckInput> checks(std::string_view s, bool gating = true) {
  std::vector<CheckInput> out;
  for (char c : s) out.push_back({c == 'U' ? Verdict::Up : c == 'D' ? Verdict::Down : Verdict::Unknown, gating});
  return out;
}

std::optional<bool> eval(config::HealthMode mode, std::string_view s, uint32_t n = 0) {
  const auto in = checks(s);
  return service_health(HealthRule{mode, n}, in);
}

TEST(ServiceHealth, ServiceWithNoChecksIsHealthy) {
  EXPECT_EQ(service_health(HealthRule{}, {}), std::optional<bool>(true));
  EXPECT_EQ(eval(config::ANY, ""), std::optional<bool>(true));
}

TEST(ServiceHealth, AllNeedsEveryCheckUp) {
  EXPECT_EQ(eval(config::ALL, "UUU"), std::optional<bool>(true));
  EXPECT_EQ(eval(config::ALL, "UDU"), std::optional<bool>(false));
  EXPECT_EQ(eval(config::HEALTH_MODE_UNSPECIFIED, "UD"), std::optional<bool>(false));
  EXPECT_EQ(eval(config::HEALTH_MODE_UNSPECIFIED, "UU"), std::optional<bool>(true));
}

TEST(ServiceHealth, AnyNeedsOneCheckUp) {
  EXPECT_EQ(eval(config::ANY, "DDU"), std::optional<bool>(true));
  EXPECT_EQ(eval(config::ANY, "DDD"), std::optional<bool>(false));
}

TEST(ServiceHealth, AtLeastCountsUpChecks) {
  EXPECT_EQ(eval(config::AT_LEAST, "UUDD", 2), std::optional<bool>(true));
  EXPECT_EQ(eval(config::AT_LEAST, "UDDD", 2), std::optional<bool>(false));
  EXPECT_EQ(eval(config::AT_LEAST, "UU", 3), std::optional<bool>(false));
}

TEST(ServiceHealth, UnknownGatingCheckHoldsTheServiceUndecidedInEveryMode) {
  EXPECT_EQ(eval(config::ALL, "UU?"), std::nullopt);
  EXPECT_EQ(eval(config::ANY, "UU?"), std::nullopt);
  EXPECT_EQ(eval(config::AT_LEAST, "UU?", 1), std::nullopt);
  EXPECT_EQ(eval(config::ALL, "???"), std::nullopt);
}

TEST(ServiceHealth, UnknownNonGatingChecksAreLeftOut) {
  auto in = checks("UU");
  in.push_back({Verdict::Unknown, false});
  EXPECT_EQ(service_health(HealthRule{config::ALL, 0}, in), std::optional<bool>(true));
  in[0].verdict = Verdict::Down;
  EXPECT_EQ(service_health(HealthRule{config::ALL, 0}, in), std::optional<bool>(false));
  const auto only_new = checks("??", false);
  EXPECT_EQ(service_health(HealthRule{config::ALL, 0}, only_new), std::nullopt);
}

TEST(ServiceHealth, RuleFromConfig) {
  config::Service s;
  s.set_health_mode(config::AT_LEAST);
  s.set_min_checks_up(2);
  const HealthRule r = HealthRule::from_config(s);
  EXPECT_EQ(r.mode, config::AT_LEAST);
  EXPECT_EQ(r.min_up, 2u);
}

}  // namespace
}  // namespace vane::health
