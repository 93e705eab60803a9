// The reload transaction's pure halves: the plan computed from two configs and the daemon's state,
// and the step runner that puts everything back when a step fails.
#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "daemon/reload.h"

namespace vane::daemon {
namespace {

constexpr const char* kBase = R"(
node { name: "s2" router_id: "192.0.2.12" asn: 65012 address: "192.0.2.12" interface: "eth0" }
neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 }
neighbor { name: "tor2" address: "192.0.2.2" remote_asn: 65000 }
service {
  name: "web"
  vip { address: "203.0.113.10" port: 80 protocol: TCP }
  announce { prefix: "203.0.113.10/32" }
  check { name: "http" http { port: 80 } }
}
site {
  server { name: "s2" address: "192.0.2.12" }
  server { name: "s3" address: "192.0.2.13" }
  table_size: 1021
}
forwarding { enabled: true }
)";

config::Loaded load(std::string text) {
  auto l = config::load_string(text, "t.conf");
  if (!l) {
    ADD_FAILURE() << l.error()[0].str();
    return {};
  }
  return *l;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

struct Planned {
  config::Loaded cur, next;
  PlanInputs in;
  Planned(std::string a, std::string b) : cur(load(std::move(a))), next(load(std::move(b))) {
    in.current = &cur;
    in.next = &next;
    in.forwarding_now = true;
  }
  ReloadPlan plan() { return make_plan(in); }
};

TEST(ReloadPlan, TheSameConfigPlansNothing) {
  Planned p(kBase, kBase);
  auto plan = p.plan();
  EXPECT_TRUE(plan.empty());
  EXPECT_TRUE(plan.neighbors.empty());
  EXPECT_TRUE(plan.services.empty());
  EXPECT_TRUE(plan.programs.empty());
  EXPECT_TRUE(plan.restart.empty());
}

TEST(ReloadPlan, NeighboursAddedRemovedAndChanged) {
  auto next = replace(kBase, R"(neighbor { name: "tor2" address: "192.0.2.2" remote_asn: 65000 })",
                      R"(neighbor { name: "tor3" address: "192.0.2.3" remote_asn: 65000 })");
  next = replace(next, R"(remote_asn: 65000 }
neighbor { name: "tor3")",
                 R"(remote_asn: 65000 hold_time_s: 30 }
neighbor { name: "tor3")");
  Planned p(kBase, next);
  auto plan = p.plan();
  ASSERT_EQ(plan.neighbors.size(), 3u);
  EXPECT_EQ(plan.neighbors[0].name, "tor1");
  EXPECT_EQ(plan.neighbors[0].kind, NeighborPlan::Kind::Reset);
  EXPECT_EQ(plan.neighbors[0].fields, std::vector<std::string>{"hold_time"});
  EXPECT_EQ(plan.neighbors[1].name, "tor3");
  EXPECT_EQ(plan.neighbors[1].kind, NeighborPlan::Kind::Add);
  EXPECT_EQ(plan.neighbors[2].name, "tor2");
  EXPECT_EQ(plan.neighbors[2].kind, NeighborPlan::Kind::Remove);
}

TEST(ReloadPlan, ABfdKeyRotationAloneIsAChange) {
  Planned p(kBase, kBase);
  p.cur.bfd_keys["tor1"] = "old key";
  p.next.bfd_keys["tor1"] = "new key";
  auto plan = p.plan();
  ASSERT_FALSE(plan.empty()) << "the BFD key file's contents are part of the diff";
  EXPECT_EQ(plan.changes, std::vector<std::string>{"neighbor tor1: bfd key changed"});
  EXPECT_TRUE(plan.neighbors.empty()) << "a BFD key does not reset the BGP session";
}

TEST(ReloadPlan, AnMd5KeyRotationAloneIsAChange) {
  Planned p(kBase, kBase);
  p.cur.md5_keys["tor1"] = "old key";
  p.next.md5_keys["tor1"] = "new key";
  auto plan = p.plan();
  ASSERT_FALSE(plan.empty()) << "the key file's contents are part of the diff";
  EXPECT_EQ(plan.changes, std::vector<std::string>{"neighbor tor1: md5 key changed"});
  ASSERT_EQ(plan.neighbors.size(), 1u);
  EXPECT_EQ(plan.neighbors[0].fields, std::vector<std::string>{"md5_key"});
  EXPECT_EQ(plan.neighbors[0].kind, NeighborPlan::Kind::Reset);
}

TEST(ReloadPlan, ASiteKeyRotationAloneIsAChange) {
  Planned p(kBase, kBase);
  p.next.site_keys = {std::string(32, 'k')};
  EXPECT_EQ(p.plan().changes, std::vector<std::string>{"site keys: changed"});
}

TEST(ReloadPlan, PrefixesAnnouncedWithdrawnAndReattributed) {
  Planned p(kBase, kBase);
  auto a = *Prefix::parse("203.0.113.10/32"), b = *Prefix::parse("203.0.113.11/32"),
       c = *Prefix::parse("203.0.113.12/32");
  p.in.exports_now = {{a, {}}, {b, {}}};
  bgp::ExportAttrs med;
  med.med = 10;
  p.in.exports_next = {{a, med}, {c, {}}};
  auto plan = p.plan();
  ASSERT_EQ(plan.prefixes.size(), 3u);
  EXPECT_EQ(plan.prefixes[0], (PrefixPlan{"203.0.113.10/32", PrefixPlan::Kind::Attributes}));
  EXPECT_EQ(plan.prefixes[1], (PrefixPlan{"203.0.113.11/32", PrefixPlan::Kind::Withdraw}));
  EXPECT_EQ(plan.prefixes[2], (PrefixPlan{"203.0.113.12/32", PrefixPlan::Kind::Announce}));
}

TEST(ReloadPlan, TheControlSocketNeedsARestart) {
  Planned p(kBase, std::string(kBase) + "control { socket: \"/tmp/other.sock\" }\n");
  EXPECT_EQ(p.plan().restart, std::vector<std::string>{"control.socket"});
}

TEST(ReloadPlan, ListenerChangesAreNamed) {
  Planned p(kBase, std::string(kBase) + "bgp { listen_port: 1179 }\n");
  auto plan = p.plan();
  EXPECT_TRUE(plan.restart.empty());
  EXPECT_EQ(plan.listeners, (std::vector<std::string>{"close 192.0.2.12 port 179", "open 192.0.2.12 port 1179"}))
      << "without bgp.listen, the neighbours' local side (node.address)";
  Planned q(std::string(kBase) + "bgp { listen: \"192.0.2.12\" }\n",
            std::string(kBase) + "bgp { listen: \"192.0.2.12\" listen_port: 1179 }\n");
  EXPECT_EQ(q.plan().listeners, (std::vector<std::string>{"close 192.0.2.12 port 179", "open 192.0.2.12 port 1179"}));
}

TEST(ReloadPlan, TheDataPathSaysWhatItReloadsAndMoves) {
  Planned p(kBase, kBase);
  ForwardingPlan f;
  f.programs_reload = true;
  f.programs_reason = "forwarding.gue_port";
  f.tables.push_back({"web", 1021, 510, {{"s2", 510}, {"s3", -510}}});
  f.tables.push_back({"dns", 1021, 0, {}});
  p.in.forwarding = f;
  auto plan = p.plan();
  EXPECT_EQ(plan.programs, std::vector<std::string>{"reloaded: forwarding.gue_port"});
  ASSERT_EQ(plan.services.size(), 1u) << "a table that does not move is left out";
  EXPECT_EQ(plan.services[0], (ServicePlan{"web", 1021, 510, {{"s2", 510}, {"s3", -510}}}));
}

TEST(ReloadPlan, WhatTheDataPathWouldRefuseIsNamed) {
  Planned p(kBase, kBase);
  p.in.forwarding = std::unexpected(std::string("forwarding.pin_path changed: needs a restart of vaned"));
  EXPECT_EQ(p.plan().restart,
            std::vector<std::string>{"data path: forwarding.pin_path changed: needs a restart of vaned"});
}

TEST(ReloadPlan, ForwardingTurnedOnAndOff) {
  Planned on(replace(kBase, "forwarding { enabled: true }", "forwarding { enabled: false }"), kBase);
  on.in.forwarding_now = false;
  on.in.forwarding = ForwardingPlan{};
  EXPECT_EQ(on.plan().programs, std::vector<std::string>{"loaded: forwarding enabled"});
  Planned off(kBase, replace(kBase, "forwarding { enabled: true }", "forwarding { enabled: false }"));
  EXPECT_EQ(off.plan().programs, std::vector<std::string>{"detached: forwarding disabled"});
}

// Each fake step owns one piece of state; the transaction must put every piece back whichever
// step fails.
TEST(RunSteps, AFailureAtEveryStepPutsEverythingBack) {
  constexpr int kSteps = 5;
  for (int fail_at = 0; fail_at <= kSteps; ++fail_at) {
    SCOPED_TRACE("failing step " + std::to_string(fail_at));
    std::map<std::string, int> state;
    for (int i = 0; i < kSteps; ++i) state["part" + std::to_string(i)] = i;
    const auto initial = state;
    std::vector<std::string> undo_order;
    std::vector<Step> steps;
    for (int i = 0; i < kSteps; ++i) {
      const std::string name = "part" + std::to_string(i);
      auto prev = std::make_shared<int>(0);
      steps.push_back({name,
                       [&, name, prev, i]() -> std::expected<void, std::string> {
                         if (i == fail_at) return std::unexpected("injected");
                         *prev = state[name];
                         state[name] = 100 + i;
                         return {};
                       },
                       [&, name, prev] {
                         state[name] = *prev;
                         undo_order.push_back(name);
                       }});
    }
    auto r = run_steps(steps);
    if (fail_at == kSteps) {
      ASSERT_TRUE(r);
      for (int i = 0; i < kSteps; ++i) EXPECT_EQ(state["part" + std::to_string(i)], 100 + i);
      EXPECT_TRUE(undo_order.empty());
      continue;
    }
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().step, "part" + std::to_string(fail_at));
    EXPECT_EQ(r.error().error, "injected");
    EXPECT_EQ(state, initial);
    std::vector<std::string> want;
    for (int i = fail_at - 1; i >= 0; --i) want.push_back("part" + std::to_string(i));
    EXPECT_EQ(undo_order, want) << "last done, first undone";
    EXPECT_EQ(r.error().undone, want);
  }
}

TEST(RunSteps, StepsWithoutUndoAreSkippedWhenUndoing) {
  int a = 0;
  std::vector<Step> steps = {{"a",
                              [&]() -> std::expected<void, std::string> {
                                a = 1;
                                return {};
                              },
                              [&] { a = 0; }},
                             {"b", [&]() -> std::expected<void, std::string> { return {}; }, {}},
                             {"c", [&]() -> std::expected<void, std::string> { return std::unexpected("no"); }, {}}};
  auto r = run_steps(steps);
  ASSERT_FALSE(r);
  EXPECT_EQ(a, 0);
  EXPECT_EQ(r.error().undone, std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace vane::daemon
