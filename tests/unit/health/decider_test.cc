// Prefix decisions: hold-down, dampening, drains, and when the decider must be woken up.
#include "health/decider.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vane::health {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

const TimePoint t0 = TimePoint{} + std::chrono::hours(1);
const std::string kP = "203.0.113.0/24";

Decider::ServiceSpec spec(FlapPolicy p = {}, milliseconds drain = 0ms, std::vector<std::string> prefixes = {kP}) {
  return Decider::ServiceSpec{std::move(prefixes), p, drain};
}

// Drives a decider the way the engine does: the service's health flips every `period` for
// `duration`, and the decider is also woken at every next_wakeup() it asks for. Returns the
// prefix changes in order, with their times.
struct Step {
  TimePoint at;
  PrefixState to;
};
std::vector<Step> flap(Decider& d, milliseconds period, milliseconds duration, TimePoint start) {
  std::vector<Step> steps;
  bool healthy = true;
  TimePoint next_flip = start;
  const TimePoint end = start + duration;
  TimePoint now = start;
  while (true) {
    const auto wake = d.next_wakeup();
    now = wake && *wake < next_flip ? *wake : next_flip;
    if (now > end) break;
    if (now == next_flip) {
      d.set_healthy("svc", healthy);
      healthy = !healthy;
      next_flip += period;
    }
    for (const auto& c : d.evaluate(now)) steps.push_back({now, c.to});
  }
  return steps;
}

TEST(PrefixGate, AnnouncesWhenAHealthyServiceAnnouncesIt) {
  Decider d;
  d.set_service("svc", spec());
  EXPECT_TRUE(d.evaluate(t0).empty());
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);
  d.set_healthy("svc", true);
  auto ch = d.evaluate(t0);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].prefix, kP);
  EXPECT_EQ(ch[0].from, PrefixState::Withdrawn);
  EXPECT_EQ(ch[0].to, PrefixState::Announced);
  EXPECT_FALSE(d.next_wakeup());
}

TEST(PrefixGate, AnnouncedWhileAtLeastOneAnnouncingServiceIsHealthy) {
  Decider d;
  d.set_service("a", spec());
  d.set_service("b", spec());
  d.set_healthy("a", true);
  d.evaluate(t0);
  d.set_healthy("b", true);
  d.set_healthy("a", false);
  EXPECT_TRUE(d.evaluate(t0 + 1s).empty());
  EXPECT_EQ(d.state(kP), PrefixState::Announced);
  d.set_healthy("b", false);
  d.evaluate(t0 + 2s);
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);
}

TEST(PrefixGate, PrefixesAreNormalisedPerServiceAndDeduplicated) {
  Decider d;
  d.set_service("svc", spec({}, 0ms, {kP, kP, "2001:db8::/32"}));
  d.set_healthy("svc", true);
  EXPECT_EQ(d.evaluate(t0).size(), 2u);
}

TEST(HoldDown, WithdrawIsImmediateButReannounceWaitsForHoldDown) {
  FlapPolicy p;
  p.hold_down = 5000ms;
  Decider d;
  d.set_service("svc", spec(p));
  d.set_healthy("svc", true);
  d.evaluate(t0);
  d.set_healthy("svc", false);
  d.evaluate(t0 + 1s);
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);

  d.set_healthy("svc", true);
  EXPECT_TRUE(d.evaluate(t0 + 2s).empty());
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);
  ASSERT_TRUE(d.next_wakeup());
  EXPECT_EQ(*d.next_wakeup(), t0 + 6s);
  EXPECT_TRUE(d.evaluate(t0 + 6s - 1ms).empty());
  EXPECT_EQ(d.evaluate(t0 + 6s).size(), 1u);
  EXPECT_EQ(d.state(kP), PrefixState::Announced);
}

TEST(HoldDown, UnhealthyAgainDuringHoldDownNeedsNoWakeUp) {
  FlapPolicy p;
  p.hold_down = 5000ms;
  Decider d;
  d.set_service("svc", spec(p));
  d.set_healthy("svc", true);
  d.evaluate(t0);
  d.set_healthy("svc", false);
  d.evaluate(t0 + 1s);
  EXPECT_FALSE(d.next_wakeup());
}

TEST(HoldDown, FlappingServiceAnnouncesAtMostOncePerHoldDown) {
  FlapPolicy p;
  p.hold_down = 1500ms;
  Decider d;
  d.set_service("svc", spec(p));
  const auto steps = flap(d, 200ms, 10s, t0);
  // Every announce but the first follows a withdraw by at least hold_down, so there are at most
  // 1 + duration / hold_down announces, each followed by at most one withdraw.
  const size_t max_announces = 1 + static_cast<size_t>(10000 / 1500);
  size_t announces = 0;
  std::optional<TimePoint> last_withdraw;
  for (const auto& s : steps) {
    if (s.to == PrefixState::Announced) {
      ++announces;
      if (last_withdraw) {
        EXPECT_GE(s.at - *last_withdraw, p.hold_down);
      }
    } else {
      last_withdraw = s.at;
    }
  }
  EXPECT_LE(announces, max_announces);
  EXPECT_LE(steps.size(), 2 * max_announces);
  EXPECT_GE(announces, 2u);  // hold-down delays, it does not suppress
}

TEST(Dampening, FlappingEvery200msFor10sIsBoundedBySettings) {
  FlapPolicy p;
  p.penalty = 1000;
  p.suppress = 3000;
  p.reuse = 750;
  p.half_life = 15s;
  const milliseconds duration = 10s;

  // Without flap control the same flapping moves the prefix at every flip.
  {
    Decider plain;
    plain.set_service("svc", spec());
    EXPECT_EQ(flap(plain, 200ms, duration, t0).size(), 51u);
  }

  // The bound: within the window each withdraw's penalty decays to no less than
  // penalty * 2^(-duration / half_life), so after k withdraws the total is at least k times that;
  // the prefix is suppressed once the total passes `suppress`. Leaving suppression takes at least
  // half_life * log2(suppress / reuse) (30 s here), longer than the window, so nothing comes back.
  const double floor_per_withdraw = p.penalty * std::exp2(-std::chrono::duration<double>(duration).count() /
                                                          std::chrono::duration<double>(p.half_life).count());
  size_t max_withdraws = 1;
  while (static_cast<double>(max_withdraws) * floor_per_withdraw <= p.suppress) ++max_withdraws;
  ASSERT_GT(p.half_life.count() / 1000.0 * std::log2(double(p.suppress) / p.reuse), duration.count() / 1000.0);

  Decider d;
  d.set_service("svc", spec(p));
  const auto steps = flap(d, 200ms, duration, t0);
  size_t announces = 0, withdraws = 0;
  for (const auto& s : steps) (s.to == PrefixState::Announced ? announces : withdraws)++;
  EXPECT_LE(withdraws, max_withdraws);
  EXPECT_LE(announces, max_withdraws);  // each announce after the first needs a withdraw first
  EXPECT_LE(steps.size(), 2 * max_withdraws);
  const auto st = d.status(t0 + duration);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_TRUE(st[0].suppressed);
  EXPECT_EQ(st[0].state, PrefixState::Withdrawn);
}

TEST(Dampening, SuppressedPrefixComesBackOnceThePenaltyDecaysToReuse) {
  FlapPolicy p;
  p.penalty = 1000;
  p.suppress = 1500;
  p.reuse = 750;
  p.half_life = 10s;
  Decider d;
  d.set_service("svc", spec(p));
  TimePoint t = t0;
  for (int i = 0; i < 2; ++i) {
    d.set_healthy("svc", true);
    d.evaluate(t);
    d.set_healthy("svc", false);
    d.evaluate(t);
  }
  // Two withdraws at the same instant: penalty 2000 > 1500, suppressed until 2000 decays to 750.
  const auto st = d.status(t);
  EXPECT_TRUE(st[0].suppressed);
  EXPECT_DOUBLE_EQ(st[0].penalty, 2000.0);
  d.set_healthy("svc", true);
  d.evaluate(t + 1s);
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);
  ASSERT_TRUE(d.next_wakeup());
  const auto expected =
      t + std::chrono::ceil<milliseconds>(std::chrono::duration<double>(10.0 * std::log2(2000.0 / 750.0)));
  EXPECT_EQ(*d.next_wakeup(), expected);
  d.evaluate(expected - 1ms);
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);
  d.evaluate(expected);
  EXPECT_EQ(d.state(kP), PrefixState::Announced);
  EXPECT_LE(d.status(expected)[0].penalty, 750.0);
}

TEST(Dampening, PenaltyIsCappedSoSuppressionEnds) {
  FlapPolicy p;
  p.penalty = 5000;
  p.suppress = 3000;
  p.reuse = 750;
  p.half_life = 1s;
  Decider d;
  d.set_service("svc", spec(p));
  for (int i = 0; i < 20; ++i) {
    d.set_healthy("svc", true);
    d.evaluate(t0);
    d.set_healthy("svc", false);
    d.evaluate(t0);
  }
  EXPECT_LE(d.status(t0)[0].penalty, p.ceiling());
  d.set_healthy("svc", true);
  d.evaluate(t0);
  ASSERT_TRUE(d.next_wakeup());
  EXPECT_LE(*d.next_wakeup(), t0 + 4 * p.half_life + 1ms);  // at most four half-lives
}

TEST(Dampening, FromConfigAppliesDefaults) {
  config::Dampening c;
  c.set_penalty(1000);
  c.set_hold_down_ms(250);
  const FlapPolicy p = FlapPolicy::from_config(c);
  EXPECT_EQ(p.hold_down, 250ms);
  EXPECT_EQ(p.suppress, 3000u);
  EXPECT_EQ(p.reuse, 750u);
  EXPECT_EQ(p.half_life, 15s);
  EXPECT_TRUE(p.dampening());
  EXPECT_FALSE(FlapPolicy::from_config(config::Dampening{}).dampening());
}

TEST(Drain, AnnouncesGracefulShutdownForDrainTimeThenWithdraws) {
  Decider d;
  d.set_service("svc", spec({}, 30s));
  d.set_healthy("svc", true);
  d.evaluate(t0);
  const TimePoint td = t0 + 10s;
  d.set_drained("svc", true, td);
  auto ch = d.evaluate(td);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].to, PrefixState::AnnouncedDraining);
  ASSERT_TRUE(d.next_wakeup());
  EXPECT_EQ(*d.next_wakeup(), td + 30s);
  EXPECT_TRUE(d.evaluate(td + 30s - 1ms).empty());
  ch = d.evaluate(td + 30s);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].from, PrefixState::AnnouncedDraining);
  EXPECT_EQ(ch[0].to, PrefixState::Withdrawn);
  EXPECT_FALSE(d.next_wakeup());
}

TEST(Drain, RepeatedDrainDoesNotRestartTheDrainTime) {
  Decider d;
  d.set_service("svc", spec({}, 30s));
  d.set_healthy("svc", true);
  d.evaluate(t0);
  d.set_drained("svc", true, t0);
  d.evaluate(t0);
  d.set_drained("svc", true, t0 + 20s);
  d.evaluate(t0 + 20s);
  EXPECT_EQ(*d.next_wakeup(), t0 + 30s);
}

TEST(Drain, UndrainDuringDrainTimeReturnsToPlainAnnounce) {
  Decider d;
  d.set_service("svc", spec({}, 30s));
  d.set_healthy("svc", true);
  d.evaluate(t0);
  d.set_drained("svc", true, t0);
  d.evaluate(t0);
  d.set_drained("svc", false, t0 + 5s);
  auto ch = d.evaluate(t0 + 5s);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].to, PrefixState::Announced);
  EXPECT_FALSE(d.next_wakeup());
}

TEST(Drain, UndrainAfterWithdrawAnnouncesAgainWithoutPenalty) {
  FlapPolicy p;
  p.penalty = 5000;  // one flap would suppress
  Decider d;
  d.set_service("svc", spec(p, 1s));
  d.set_healthy("svc", true);
  d.evaluate(t0);
  d.set_drained("svc", true, t0);
  d.evaluate(t0);
  d.evaluate(t0 + 1s);
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);
  EXPECT_EQ(d.status(t0 + 1s)[0].penalty, 0.0);
  d.set_drained("svc", false, t0 + 2s);
  d.evaluate(t0 + 2s);
  EXPECT_EQ(d.state(kP), PrefixState::Announced);
}

TEST(Drain, ZeroDrainTimeWithdrawsAtOnce) {
  Decider d;
  d.set_service("svc", spec());
  d.set_healthy("svc", true);
  d.evaluate(t0);
  d.set_drained("svc", true, t0 + 1s);
  auto ch = d.evaluate(t0 + 1s);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].to, PrefixState::Withdrawn);
}

TEST(Drain, UnhealthyWhileDrainingWithdrawsAtOnce) {
  Decider d;
  d.set_service("svc", spec({}, 30s));
  d.set_healthy("svc", true);
  d.evaluate(t0);
  d.set_drained("svc", true, t0);
  d.evaluate(t0);
  d.set_healthy("svc", false);
  d.evaluate(t0 + 1s);
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);
}

TEST(Drain, DrainedServiceDoesNotBringAWithdrawnPrefixBack) {
  Decider d;
  d.set_service("svc", spec({}, 30s));
  d.set_drained("svc", true, t0);
  d.set_healthy("svc", true);
  EXPECT_TRUE(d.evaluate(t0 + 1s).empty());
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);
}

TEST(Drain, AnotherServingServiceKeepsThePrefixPlainlyAnnounced) {
  Decider d;
  d.set_service("a", spec({}, 30s));
  d.set_service("b", spec({}, 30s));
  d.set_healthy("a", true);
  d.set_healthy("b", true);
  d.evaluate(t0);
  d.set_drained("a", true, t0);
  EXPECT_TRUE(d.evaluate(t0).empty());
  EXPECT_EQ(d.state(kP), PrefixState::Announced);
  d.set_healthy("b", false);
  d.evaluate(t0 + 10s);
  EXPECT_EQ(d.state(kP), PrefixState::AnnouncedDraining);
  d.evaluate(t0 + 30s);
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);
}

TEST(Drain, NodeDrainDrainsEveryServiceWithItsOwnDrainTime) {
  Decider d;
  d.set_service("a", spec({}, 10s, {"203.0.113.0/25"}));
  d.set_service("b", spec({}, 20s, {"203.0.113.128/25"}));
  d.set_healthy("a", true);
  d.set_healthy("b", true);
  d.evaluate(t0);
  d.set_node_drained(true, t0);
  EXPECT_EQ(d.evaluate(t0).size(), 2u);
  EXPECT_TRUE(d.drained("a"));
  EXPECT_FALSE(d.admin_drained("a"));
  EXPECT_EQ(*d.next_wakeup(), t0 + 10s);
  d.evaluate(t0 + 10s);
  EXPECT_EQ(d.state("203.0.113.0/25"), PrefixState::Withdrawn);
  EXPECT_EQ(d.state("203.0.113.128/25"), PrefixState::AnnouncedDraining);
  d.set_node_drained(false, t0 + 15s);
  d.evaluate(t0 + 15s);
  EXPECT_EQ(d.state("203.0.113.0/25"), PrefixState::Announced);
  EXPECT_EQ(d.state("203.0.113.128/25"), PrefixState::Announced);
}

TEST(Drain, AgentDrainIsADrainSource) {
  Decider d;
  d.set_service("svc", spec({}, 5s));
  d.set_healthy("svc", true);
  d.evaluate(t0);
  d.set_agent_drain("svc", true, t0);
  d.evaluate(t0);
  EXPECT_EQ(d.state(kP), PrefixState::AnnouncedDraining);
  d.set_agent_drain("svc", false, t0 + 1s);
  d.evaluate(t0 + 1s);
  EXPECT_EQ(d.state(kP), PrefixState::Announced);
}

TEST(Decider, RemovedServiceWithdrawsItsPrefixButKeepsItsHoldDown) {
  FlapPolicy p;
  p.hold_down = 10s;
  Decider d;
  d.set_service("svc", spec(p));
  d.set_healthy("svc", true);
  d.evaluate(t0);
  d.remove_service("svc");
  auto ch = d.evaluate(t0 + 1s);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].to, PrefixState::Withdrawn);
  d.set_service("svc", spec(p));
  d.set_healthy("svc", true);
  EXPECT_TRUE(d.evaluate(t0 + 2s).empty());
  EXPECT_EQ(d.evaluate(t0 + 11s).size(), 1u);
}

TEST(Decider, SharedPrefixUsesLongestHoldDown) {
  FlapPolicy shortp, longp;
  shortp.hold_down = 1s;
  longp.hold_down = 5s;
  Decider d;
  d.set_service("a", spec(shortp));
  d.set_service("b", spec(longp));
  d.set_healthy("a", true);
  d.evaluate(t0);
  d.set_healthy("a", false);
  d.evaluate(t0);
  d.set_healthy("a", true);
  d.evaluate(t0 + 2s);
  EXPECT_EQ(d.state(kP), PrefixState::Withdrawn);
  EXPECT_EQ(*d.next_wakeup(), t0 + 5s);
}

// evaluate() looks only at what changed (or is due): with many services, one service's flip costs
// its own prefixes, and a hold-down's end is still seen without any input change.
TEST(Decider, EvaluatesOnlyPrefixesWhoseInputsChangedOrAreDue) {
  FlapPolicy p;
  p.hold_down = 3s;
  Decider d;
  for (int i = 0; i < 100; ++i) {
    const std::string name = std::string("s").append(std::to_string(i));
    d.set_service(name, spec(p, 0ms, {std::string("203.0.113.").append(std::to_string(i)).append("/32")}));
    d.set_healthy(name, true);
  }
  EXPECT_EQ(d.evaluate(t0).size(), 100u);
  EXPECT_EQ(d.evaluations(), 100u);
  EXPECT_TRUE(d.evaluate(t0 + 1s).empty());
  d.set_healthy("s5", true);  // no change
  d.set_drained("s6", false, t0 + 1s);
  EXPECT_TRUE(d.evaluate(t0 + 1s).empty());
  EXPECT_EQ(d.evaluations(), 100u);

  d.set_healthy("s5", false);
  auto ch = d.evaluate(t0 + 1s);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].prefix, "203.0.113.5/32");
  EXPECT_EQ(d.evaluations(), 101u);
  d.set_healthy("s5", true);
  EXPECT_TRUE(d.evaluate(t0 + 2s).empty());  // held down until t0 + 4s
  ASSERT_TRUE(d.next_wakeup());
  EXPECT_EQ(*d.next_wakeup(), t0 + 4s);
  EXPECT_TRUE(d.evaluate(t0 + 3s).empty());
  ch = d.evaluate(t0 + 4s);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].to, PrefixState::Announced);
  EXPECT_FALSE(d.next_wakeup());
  EXPECT_EQ(d.evaluations(), 103u);

  // A node drain touches every prefix, once.
  d.set_node_drained(true, t0 + 5s);
  EXPECT_EQ(d.evaluate(t0 + 5s).size(), 100u);
  EXPECT_EQ(d.evaluations(), 203u);
  const auto st = d.status(t0 + 5s);
  ASSERT_EQ(st.size(), 100u);
  EXPECT_EQ(st[0].services, std::vector<std::string>{"s0"});
}

}  // namespace
}  // namespace vane::health
