// The engine: scheduling, verdicts into service health and prefixes, reloads, drains, snapshots.
#include "health/engine.h"

#include <gtest/gtest.h>

#include <google/protobuf/text_format.h>

#include <boost/asio/post.hpp>

#include "health/test_util.h"

namespace vane::health {
namespace {

using namespace std::chrono_literals;
using namespace test;

// Probes that answer from a table the test controls, keyed by an exec check's command (or
// "agent:PORT"), asynchronously like real ones.
class FakeRunner final : public ProbeRunner {
 public:
  struct State {
    std::map<std::string, Result> results;
    std::map<std::string, int> starts;
    int cancels = 0;
  };
  FakeRunner(asio::io_context& io, std::shared_ptr<State> st) : io_(io), st_(std::move(st)) {}

  std::shared_ptr<Probe> start(const ProbeSpec& spec, ProbeCallback cb) override {
    std::string key;
    if (auto* e = std::get_if<ExecSpec>(&spec.kind)) key = e->command;
    if (auto* a = std::get_if<AgentSpec>(&spec.kind)) key = "agent:" + std::to_string(a->port);
    ++st_->starts[key];
    auto it = st_->results.find(key);
    Result r = it == st_->results.end() ? Result{false, 1ms, "no result set", {}, false} : it->second;
    auto p = std::make_shared<FakeProbe>(st_);
    asio::post(io_, [p, cb = std::move(cb), r] {
      if (!p->cancelled) cb(r);
    });
    return p;
  }

 private:
  struct FakeProbe final : Probe {
    explicit FakeProbe(std::shared_ptr<State> s) : st(std::move(s)) {}
    void cancel() override {
      if (!cancelled) ++st->cancels;
      cancelled = true;
    }
    std::shared_ptr<State> st;
    bool cancelled = false;
  };
  asio::io_context& io_;
  std::shared_ptr<State> st_;
};

Result up() {
  return Result{true, 3ms, "fine", {}, false};
}
Result down() {
  return Result{false, 4ms, "broken", {}, false};
}

config::Config parse(const std::string& text) {
  config::Config c;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &c)) << text;
  return c;
}

// A service "NAME" announcing PREFIX, with exec checks named after their commands, fast and
// without jitter.
std::string service(const std::string& name, const std::string& prefix, std::vector<std::string> checks,
                    const std::string& extra = "") {
  std::string s = "service { name: '" + name + "' vip { address: '203.0.113.10' port: 80 protocol: TCP } " +
                  "announce { prefix: '" + prefix + "' } " + extra;
  for (const auto& c : checks) {
    s += " check { name: '" + c + "' exec { command: '" + c + "' } interval_ms: 50 rise: 2 fall: 2 jitter_pct: 0 }";
  }
  return s + " }\n";
}

struct Fixture : ::testing::Test {
  asio::io_context io;
  FakeClock clock;
  std::shared_ptr<FakeRunner::State> st = std::make_shared<FakeRunner::State>();
  Engine engine{io, clock, std::make_unique<FakeRunner>(io, st)};
  std::vector<Change> changes;
  std::vector<PrefixChange> prefix_changes;

  Fixture() {
    engine.seed(1);
    engine.on_change([this](const Change& c) { changes.push_back(c); });
    engine.on_prefix_change([this](const std::vector<PrefixChange>& p) {
      prefix_changes.insert(prefix_changes.end(), p.begin(), p.end());
    });
  }
  bool wait_for(PrefixState s, const std::string& prefix = "203.0.113.0/24") {
    return run_until(io, [&] {
      auto m = engine.prefixes();
      auto it = m.find(prefix);
      return it != m.end() && it->second == s;
    });
  }
  const CheckStatus* check(const Snapshot& snap, const std::string& svc, const std::string& name) {
    for (const auto& s : snap.services) {
      if (s.name != svc) continue;
      for (const auto& c : s.checks) {
        if (c.name == name) return &c;
      }
    }
    return nullptr;
  }
};

using EngineTest = Fixture;

TEST_F(EngineTest, ServiceWithoutChecksIsAnnouncedAtOnce) {
  engine.apply(parse(service("dns", "203.0.113.0/24", {})));
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Announced);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].service, "dns");
  EXPECT_TRUE(changes[0].healthy);
  EXPECT_TRUE(changes[0].health_changed);
  ASSERT_EQ(prefix_changes.size(), 1u);
  EXPECT_EQ(prefix_changes[0].to, PrefixState::Announced);
}

TEST_F(EngineTest, ServiceIsGatedUntilItsChecksHaveAVerdictThenAnnounced) {
  st->results["a"] = up();
  engine.apply(parse(service("web", "203.0.113.0/24", {"a"})));
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Withdrawn);
  EXPECT_TRUE(changes.empty());
  engine.start();
  ASSERT_TRUE(wait_for(PrefixState::Announced));
  EXPECT_GE(st->starts["a"], 2);  // rise 2
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].service, "web");
  EXPECT_EQ(changes[0].check, "a");
  EXPECT_EQ(changes[0].verdict, Verdict::Up);
  EXPECT_TRUE(changes[0].healthy);
  EXPECT_TRUE(changes[0].health_changed);
}

TEST_F(EngineTest, FailingCheckWithdrawsAfterFall) {
  st->results["a"] = up();
  engine.apply(parse(service("web", "203.0.113.0/24", {"a"})));
  engine.start();
  ASSERT_TRUE(wait_for(PrefixState::Announced));
  st->results["a"] = down();
  ASSERT_TRUE(wait_for(PrefixState::Withdrawn));
  const Change& last = changes.back();
  EXPECT_EQ(last.verdict, Verdict::Down);
  EXPECT_FALSE(last.healthy);
}

TEST_F(EngineTest, AnyModeStaysHealthyWithOneCheckUp) {
  st->results["a"] = up();
  st->results["b"] = down();
  engine.apply(parse(service("web", "203.0.113.0/24", {"a", "b"}, "health_mode: ANY")));
  engine.start();
  ASSERT_TRUE(wait_for(PrefixState::Announced));
  auto snap = engine.snapshot();
  EXPECT_EQ(check(snap, "web", "b")->verdict, Verdict::Down);
}

TEST_F(EngineTest, SnapshotShowsPerCheckAndPerServiceState) {
  st->results["a"] = up();
  engine.apply(parse(service("web", "203.0.113.0/24", {"a"})));
  engine.start();
  ASSERT_TRUE(wait_for(PrefixState::Announced));
  auto snap = engine.snapshot();
  ASSERT_EQ(snap.services.size(), 1u);
  EXPECT_TRUE(snap.services[0].healthy);
  EXPECT_FALSE(snap.services[0].drained);
  const CheckStatus* a = check(snap, "web", "a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, "exec");
  EXPECT_EQ(a->verdict, Verdict::Up);
  EXPECT_EQ(a->transitions, 1u);
  EXPECT_EQ(a->rise, 2u);
  ASSERT_TRUE(a->last);
  EXPECT_EQ(a->last->latency, 3ms);
  EXPECT_EQ(a->last->detail, "fine");
  EXPECT_EQ(*a->last_change, clock.now());
  ASSERT_EQ(snap.prefixes.size(), 1u);
  EXPECT_EQ(snap.prefixes[0].services, std::vector<std::string>{"web"});
}

TEST_F(EngineTest, CheckThatCannotRunCountsAsFailing) {
  engine.apply(
      parse("service { name: 'web' announce { prefix: '203.0.113.0/24' } "
            "check { name: 'noaddr' tcp { port: 80 } interval_ms: 50 rise: 1 fall: 1 jitter_pct: 0 } }"));
  engine.start();
  ASSERT_TRUE(run_until(io, [&] { return !changes.empty(); }));
  auto snap = engine.snapshot();
  const CheckStatus* c = check(snap, "web", "noaddr");
  EXPECT_EQ(c->verdict, Verdict::Down);
  EXPECT_NE(c->config_error.find("no address"), std::string::npos);
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Withdrawn);
}

TEST_F(EngineTest, ReloadAddingAndRemovingLeavesOtherChecksUndisturbed) {
  st->results["a"] = up();
  st->results["b"] = up();
  st->results["c"] = up();
  engine.apply(parse(service("web", "203.0.113.0/24", {"a"}) + service("api", "198.51.100.0/24", {"b"}) +
                     service("old", "192.0.2.0/24", {"c"})));
  engine.start();
  ASSERT_TRUE(wait_for(PrefixState::Announced));
  ASSERT_TRUE(wait_for(PrefixState::Announced, "198.51.100.0/24"));
  ASSERT_TRUE(wait_for(PrefixState::Announced, "192.0.2.0/24"));
  const auto before = engine.snapshot();
  const int cancels_before = st->cancels;

  // "api" gains a check that has no result yet, "old" goes away, "web" is untouched but its check
  // interval changes.
  std::string web = service("web", "203.0.113.0/24", {"a"});
  web.replace(web.find("interval_ms: 50"), 15, "interval_ms: 60");
  engine.apply(parse(web + service("api", "198.51.100.0/24", {"b", "new"})));

  const auto after = engine.snapshot();
  EXPECT_EQ(check(after, "web", "a")->transitions, check(before, "web", "a")->transitions);
  EXPECT_EQ(check(after, "web", "a")->verdict, Verdict::Up);
  EXPECT_EQ(check(after, "api", "b")->verdict, Verdict::Up);
  EXPECT_EQ(check(after, "api", "new")->verdict, Verdict::Unknown);
  EXPECT_FALSE(check(after, "api", "new")->gating);
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Announced);
  EXPECT_EQ(engine.prefixes().at("198.51.100.0/24"), PrefixState::Announced);  // not withdrawn by "new"
  EXPECT_EQ(engine.prefixes().count("192.0.2.0/24"), 0u);                      // withdrawn and forgotten
  EXPECT_EQ(prefix_changes.back().prefix, "192.0.2.0/24");
  EXPECT_EQ(prefix_changes.back().to, PrefixState::Withdrawn);
  EXPECT_GE(st->cancels, cancels_before);

  // The new check decides the service like any other once it has a verdict.
  const int old_runs = st->starts["c"];
  ASSERT_TRUE(wait_for(PrefixState::Withdrawn, "198.51.100.0/24"));  // "new" has no result: fails
  const int web_runs = st->starts["a"];
  ASSERT_TRUE(run_until(io, [&] { return st->starts["a"] > web_runs + 2; }));
  EXPECT_EQ(st->starts["c"], old_runs);  // the removed service's check no longer runs
}

TEST_F(EngineTest, RemovedCheckStopsRunning) {
  st->results["a"] = up();
  st->results["b"] = up();
  engine.apply(parse(service("web", "203.0.113.0/24", {"a", "b"})));
  engine.start();
  ASSERT_TRUE(wait_for(PrefixState::Announced));
  engine.apply(parse(service("web", "203.0.113.0/24", {"a"})));
  const int b_runs = st->starts["b"];
  const int a_runs = st->starts["a"];
  ASSERT_TRUE(run_until(io, [&] { return st->starts["a"] >= a_runs + 3; }));
  EXPECT_EQ(st->starts["b"], b_runs);
}

TEST_F(EngineTest, ChangedCheckTargetStartsOverUnknown) {
  st->results["a"] = up();
  engine.apply(parse(service("web", "203.0.113.0/24", {"a"})));
  engine.start();
  ASSERT_TRUE(wait_for(PrefixState::Announced));
  std::string moved = service("web", "203.0.113.0/24", {"a"});
  moved.replace(moved.find("203.0.113.10"), 12, "203.0.113.11");
  engine.apply(parse(moved));
  // An exec check has no target address, so moving the VIP does not touch it...
  EXPECT_EQ(check(engine.snapshot(), "web", "a")->verdict, Verdict::Up);
  // ...but a different command is a different check.
  st->results["a2"] = up();
  std::string renamed = service("web", "203.0.113.0/24", {"a2"});
  renamed.replace(renamed.find("name: 'a2'"), 10, "name: 'a'");
  engine.apply(parse(renamed));
  EXPECT_EQ(check(engine.snapshot(), "web", "a")->verdict, Verdict::Unknown);
}

TEST_F(EngineTest, DrainAnnouncesGracefulShutdownThenWithdrawsAfterDrainTime) {
  st->results["a"] = up();
  engine.apply(parse("node { drain_time_s: 5 }\n" + service("web", "203.0.113.0/24", {"a"})));
  engine.start();
  ASSERT_TRUE(wait_for(PrefixState::Announced));
  changes.clear();
  EXPECT_FALSE(engine.drain("nope"));
  ASSERT_TRUE(engine.drain("web"));
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::AnnouncedDraining);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(changes[0].drained);
  EXPECT_TRUE(changes[0].healthy);
  ASSERT_TRUE(engine.next_wakeup());
  EXPECT_EQ(*engine.next_wakeup(), clock.now() + 5s);
  EXPECT_TRUE(engine.snapshot().services[0].admin_drained);

  clock.advance(4999ms);
  engine.reevaluate();
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::AnnouncedDraining);
  clock.advance(1ms);
  engine.reevaluate();
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Withdrawn);

  ASSERT_TRUE(engine.undrain("web"));
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Announced);
  EXPECT_FALSE(changes.back().drained);
}

TEST_F(EngineTest, ServiceDrainTimeOverridesNodeDefault) {
  engine.apply(parse("node { drain_time_s: 100 }\n" + service("web", "203.0.113.0/24", {}, "drain_time_s: 0")));
  engine.drain("web");
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Withdrawn);
}

TEST_F(EngineTest, DrainAllDrainsEveryService) {
  engine.apply(
      parse("node { drain_time_s: 1 }\n" + service("a", "203.0.113.0/25", {}) + service("b", "203.0.113.128/25", {})));
  changes.clear();
  engine.drain_all();
  EXPECT_EQ(changes.size(), 2u);
  auto snap = engine.snapshot();
  EXPECT_TRUE(snap.node_drained);
  for (const auto& s : snap.services) EXPECT_TRUE(s.drained);
  for (const auto& [p, s] : engine.prefixes()) EXPECT_EQ(s, PrefixState::AnnouncedDraining) << p;
  // The engine's own timer ends the drain; with the hand-driven clock it is re-armed until time moves.
  clock.advance(1s);
  ASSERT_TRUE(run_until(io, [&] {
    for (const auto& [p, s] : engine.prefixes())
      if (s != PrefixState::Withdrawn) return false;
    return true;
  }));
  engine.undrain_all();
  for (const auto& [p, s] : engine.prefixes()) EXPECT_EQ(s, PrefixState::Announced) << p;
}

TEST_F(EngineTest, AgentDrainAndWeightReachTheService) {
  st->results["agent:9999"] = Result{true, 1ms, "agent: drain 30%", 30u, true};
  engine.apply(
      parse("node { drain_time_s: 60 }\n"
            "service { name: 'web' vip { address: '203.0.113.10' } announce { prefix: '203.0.113.0/24' } "
            "check { name: 'ag' agent { port: 9999 } interval_ms: 50 rise: 1 fall: 1 jitter_pct: 0 } }"));
  engine.start();
  ASSERT_TRUE(run_until(io, [&] { return !changes.empty(); }));
  // Up and drained in one step: a withdrawn prefix is not brought back just to drain it.
  EXPECT_EQ(changes.back().weight, 30u);
  EXPECT_TRUE(changes.back().drained);
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Withdrawn);
  auto snap = engine.snapshot();
  EXPECT_TRUE(snap.services[0].agent_drained);
  EXPECT_EQ(snap.services[0].weight, 30u);

  st->results["agent:9999"] = Result{true, 1ms, "agent: up 80%", 80u, false};
  ASSERT_TRUE(wait_for(PrefixState::Announced));
  EXPECT_EQ(engine.snapshot().services[0].weight, 80u);
  st->results["agent:9999"] = Result{true, 1ms, "agent: drain", {}, true};
  ASSERT_TRUE(wait_for(PrefixState::AnnouncedDraining));
}

TEST_F(EngineTest, StopCancelsInFlightProbesAndKeepsState) {
  st->results["a"] = up();
  engine.apply(parse(service("web", "203.0.113.0/24", {"a"})));
  engine.start();
  ASSERT_TRUE(wait_for(PrefixState::Announced));
  engine.stop();
  const int runs = st->starts["a"];
  run_until(
      io, [] { return false; }, 200ms);
  EXPECT_EQ(st->starts["a"], runs);
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Announced);
  engine.start();
  ASSERT_TRUE(run_until(io, [&] { return st->starts["a"] > runs; }));
}

TEST_F(EngineTest, HandlerMayReloadTheEngine) {
  st->results["a"] = up();
  engine.apply(parse(service("web", "203.0.113.0/24", {"a"})));
  bool reloaded = false;
  engine.on_change([&](const Change&) {
    if (reloaded) return;
    reloaded = true;
    engine.apply(parse(service("other", "198.51.100.0/24", {})));
  });
  engine.start();
  ASSERT_TRUE(run_until(io, [&] { return reloaded; }));
  run_until(
      io, [] { return false; }, 200ms);
  auto snap = engine.snapshot();
  ASSERT_EQ(snap.services.size(), 1u);
  EXPECT_EQ(snap.services[0].name, "other");
}

TEST_F(EngineTest, ClosedSiteGateWithdrawsButTheServiceStaysHealthy) {
  engine.apply(parse(service("web", "203.0.113.0/24", {})));
  ASSERT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Announced);
  engine.set_site_gate("web", false);
  EXPECT_NE(engine.prefixes().at("203.0.113.0/24"), PrefixState::Announced);
  auto snap = engine.snapshot();
  ASSERT_EQ(snap.services.size(), 1u);
  EXPECT_TRUE(snap.services[0].site_gate_closed);
  // What the site agent reports stays the service's own health, so gates never cascade.
  auto local = engine.local_services();
  ASSERT_EQ(local.size(), 1u);
  EXPECT_TRUE(local[0].healthy);
  // The gate outlives a reload that re-creates the service.
  engine.apply(parse(service("web", "203.0.113.0/24", {}, "min_healthy_servers: 2")));
  EXPECT_NE(engine.prefixes().at("203.0.113.0/24"), PrefixState::Announced);
  engine.set_site_gate("web", true);
  EXPECT_EQ(engine.prefixes().at("203.0.113.0/24"), PrefixState::Announced);
  EXPECT_FALSE(engine.snapshot().services[0].site_gate_closed);
}

// The work of a probe result is its own service's, however many services there are: a result that
// changes no verdict evaluates no prefix, and one that flips a service evaluates that service's
// prefixes only (issue 16: 1,000 failing checks at 1 s kept a core busy re-deciding everything).
TEST_F(EngineTest, AProbeResultCostsTheSameHoweverManyServicesThereAre) {
  constexpr int kServices = 200;
  std::string cfg;
  for (int i = 0; i < kServices; ++i)
    cfg += service(std::string("s").append(std::to_string(i)),
                   std::string("203.0.113.").append(std::to_string(i)).append("/32"),
                   {std::string("c").append(std::to_string(i))});
  engine.apply(parse(cfg));  // no result set: every check fails
  engine.start();
  ASSERT_TRUE(run_until(io, [&] { return engine.all_gating_decided(); }));
  const Engine::Work w0 = engine.work();
  ASSERT_TRUE(run_until(io, [&] { return engine.work().results >= w0.results + 2 * kServices; }));
  const Engine::Work w1 = engine.work();
  const uint64_t results = w1.results - w0.results;
  EXPECT_LE(w1.services - w0.services, 4 * results) << results << " results";
  EXPECT_EQ(w1.prefixes - w0.prefixes, 0u) << results << " results";

  // One service comes up: its own prefix is evaluated, no other.
  st->results["c7"] = up();
  ASSERT_TRUE(wait_for(PrefixState::Announced, "203.0.113.7/32"));
  const Engine::Work w2 = engine.work();
  EXPECT_EQ(w2.prefixes - w1.prefixes, 1u);
  EXPECT_LE(w2.services - w1.services, 4 * (w2.results - w1.results));
  EXPECT_TRUE(engine.all_gating_decided());
}

// A closed site gate is returned as a value: the handlers do not run, so a handler that sets a
// gate (the daemon's update_site) cannot re-enter itself.
TEST_F(EngineTest, SiteGateReturnsItsPrefixChangesWithoutRunningHandlers) {
  engine.apply(parse(service("web", "203.0.113.0/24", {})));
  changes.clear();
  prefix_changes.clear();
  const auto moved = engine.set_site_gate("web", false);
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0].prefix, "203.0.113.0/24");
  EXPECT_EQ(moved[0].to, PrefixState::Withdrawn);
  EXPECT_TRUE(changes.empty());
  EXPECT_TRUE(prefix_changes.empty());
  EXPECT_TRUE(engine.set_site_gate("web", false).empty());  // unchanged
  const auto back = engine.set_site_gate("web", true);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].to, PrefixState::Announced);
}

TEST(Jitter, SpreadsWithinThePercentage) {
  std::mt19937_64 rng(7);
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    const auto d = jittered_interval(1000ms, 10, rng);
    EXPECT_GE(d, 1000ms);
    EXPECT_LE(d, 1100ms);
    seen.insert(d.count());
  }
  EXPECT_GT(seen.size(), 20u);
  EXPECT_EQ(jittered_interval(1000ms, 0, rng), 1000ms);
  EXPECT_LE(jittered_interval(1000ms, 500, rng), 2000ms);  // capped at 100%
}

TEST(EngineWithRealProbes, TcpCheckAgainstALoopbackListener) {
  asio::io_context io;
  SteadyClock clock;
  TcpServer server(io, [](auto) {});
  Engine engine(io, clock);
  engine.apply(
      parse("service { name: 'web' vip { address: '127.0.0.1' } announce { prefix: '203.0.113.0/24' } "
            "check { name: 'tcp' tcp { port: " +
            std::to_string(server.port()) + " } interval_ms: 50 timeout_ms: 2000 rise: 2 fall: 1 } }"));
  engine.start();
  ASSERT_TRUE(run_until(io, [&] { return engine.prefixes().at("203.0.113.0/24") == PrefixState::Announced; }));
  // The probe's connect can complete before the server's accept handler runs on the same
  // io_context: let the listener catch up before counting what it saw.
  run_until(
      io, [&] { return server.accepted() >= 2; }, 2s);
  EXPECT_GE(server.accepted(), 2);
}

}  // namespace
}  // namespace vane::health
