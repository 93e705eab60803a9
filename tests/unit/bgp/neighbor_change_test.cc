// Which neighbour edits keep the session and which need a new one.
#include "bgp/neighbor_change.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

namespace vane::bgp {
namespace {

using namespace std::chrono_literals;

NeighborConfig base() {
  NeighborConfig c;
  c.name = "tor1";
  c.description = "rack 1";
  c.address = *IpAddress::parse("192.0.2.1");
  c.local_address = IpAddress::parse("192.0.2.2");
  c.local_asn = 4200000001;
  c.remote_asn = 65000;
  c.router_id = 0xc0000202;
  c.md5_key = "secret";
  c.max_prefixes = 10;
  c.import_filter.push_back({*Prefix::parse("203.0.113.0/24"), 24, 32});
  c.next_hop = IpAddress::parse("192.0.2.2");
  return c;
}

struct Edit {
  const char* field;
  std::function<void(NeighborConfig&)> apply;
  NeighborChange::Kind kind;
};

// One row per NeighborConfig member (keep the table in step with the struct).
const std::vector<Edit>& edits() {
  static const std::vector<Edit> e = {
      {"description", [](auto& c) { c.description = "rack 2"; }, NeighborChange::kInPlace},
      {"address", [](auto& c) { c.address = *IpAddress::parse("192.0.2.9"); }, NeighborChange::kReset},
      {"port", [](auto& c) { c.port = 1179; }, NeighborChange::kReset},
      {"local_address", [](auto& c) { c.local_address = IpAddress::parse("192.0.2.3"); }, NeighborChange::kReset},
      {"local_asn", [](auto& c) { c.local_asn = 4200000002; }, NeighborChange::kReset},
      {"remote_asn", [](auto& c) { c.remote_asn = 65001; }, NeighborChange::kReset},
      {"router_id", [](auto& c) { c.router_id = 0xc0000203; }, NeighborChange::kReset},
      {"hold_time", [](auto& c) { c.hold_time = 30s; }, NeighborChange::kReset},
      {"keepalive", [](auto& c) { c.keepalive = 10s; }, NeighborChange::kReset},
      {"connect_retry", [](auto& c) { c.connect_retry = 10s; }, NeighborChange::kInPlace},
      {"passive", [](auto& c) { c.passive = true; }, NeighborChange::kReset},
      {"ttl", [](auto& c) { c.ttl = 255; }, NeighborChange::kInPlace},
      {"min_ttl", [](auto& c) { c.min_ttl = 254; }, NeighborChange::kInPlace},
      {"md5_key", [](auto& c) { c.md5_key = "rotated"; }, NeighborChange::kReset},
      {"families", [](auto& c) { c.ipv6_unicast = true; }, NeighborChange::kReset},
      {"graceful_restart", [](auto& c) { c.graceful_restart = true; }, NeighborChange::kReset},
      {"graceful_restart", [](auto& c) { c.restart_time = 60; }, NeighborChange::kReset},
      {"stale_time", [](auto& c) { c.stale_time = 60s; }, NeighborChange::kInPlace},
      {"max_prefixes", [](auto& c) { c.max_prefixes = 5; }, NeighborChange::kInPlace},
      {"max_prefixes", [](auto& c) { c.max_routes = 200000; }, NeighborChange::kInPlace},
      {"max_prefixes", [](auto& c) { c.max_prefixes_stop = false; }, NeighborChange::kInPlace},
      {"max_prefixes", [](auto& c) { c.max_prefixes_restart = 30s; }, NeighborChange::kInPlace},
      {"keep_received_routes", [](auto& c) { c.keep_routes = true; }, NeighborChange::kInPlace},
      {"import_prefix", [](auto& c) { c.import_filter.clear(); }, NeighborChange::kInPlace},
      {"shutdown", [](auto& c) { c.shutdown = true; }, NeighborChange::kInPlace},
      {"extended_messages", [](auto& c) { c.extended_messages = false; }, NeighborChange::kReset},
      {"next_hop", [](auto& c) { c.next_hop = IpAddress::parse("192.0.2.4"); }, NeighborChange::kInPlace},
      {"next_hop6", [](auto& c) { c.next_hop6 = IpAddress::parse("2001:db8::4"); }, NeighborChange::kInPlace},
      {"interface", [](auto& c) { c.interface = "eth1"; }, NeighborChange::kReset},
      {"interface", [](auto& c) { c.learn_address = true; }, NeighborChange::kReset},
      {"extended_next_hop", [](auto& c) { c.extended_next_hop = true; }, NeighborChange::kReset},
  };
  return e;
}

TEST(NeighborChange, NothingChangedIsNone) {
  auto r = classify_neighbor_change(base(), base());
  EXPECT_EQ(r.kind, NeighborChange::kNone);
  EXPECT_TRUE(r.fields.empty());
  EXPECT_TRUE(r.reason.empty());
}

TEST(NeighborChange, EachFieldAloneIsClassifiedAndNamed) {
  for (auto& e : edits()) {
    auto after = base();
    e.apply(after);
    ASSERT_NE(after, base()) << e.field;
    auto r = classify_neighbor_change(base(), after);
    EXPECT_EQ(r.kind, e.kind) << e.field;
    EXPECT_EQ(r.fields, std::vector<std::string>{e.field}) << e.field;
    if (e.kind == NeighborChange::kReset)
      EXPECT_NE(r.reason.find(e.field), std::string::npos) << r.reason;
    else
      EXPECT_TRUE(r.reason.empty()) << e.field;
  }
}

TEST(NeighborChange, PolicyEditsTogetherStayInPlace) {
  auto after = base();
  after.description = "moved";
  after.max_prefixes = 1000;
  after.import_filter.push_back({*Prefix::parse("198.51.100.0/24"), 24, 24});
  after.keep_routes = true;
  auto r = classify_neighbor_change(base(), after);
  EXPECT_EQ(r.kind, NeighborChange::kInPlace);
  EXPECT_EQ(r.fields,
            (std::vector<std::string>{"description", "max_prefixes", "keep_received_routes", "import_prefix"}));
}

TEST(NeighborChange, OneProtocolFieldAmongPolicyEditsResetsAndTheReasonNamesOnlyIt) {
  auto after = base();
  after.description = "moved";
  after.md5_key = "rotated";
  auto r = classify_neighbor_change(base(), after);
  EXPECT_EQ(r.kind, NeighborChange::kReset);
  EXPECT_EQ(r.fields, (std::vector<std::string>{"description", "md5_key"}));
  EXPECT_NE(r.reason.find("md5_key"), std::string::npos);
  EXPECT_EQ(r.reason.find("description"), std::string::npos);
}

TEST(NeighborChange, AddingOrRemovingTheKeyResets) {
  auto none = base();
  none.md5_key.clear();
  EXPECT_EQ(classify_neighbor_change(base(), none).kind, NeighborChange::kReset);
  EXPECT_EQ(classify_neighbor_change(none, base()).kind, NeighborChange::kReset);
}

// All the edits at once: every field is named once, and the protocol ones reset.
TEST(NeighborChange, AllEditsAtOnceNameEveryField) {
  auto all = base();
  for (auto& e : edits()) e.apply(all);
  auto r = classify_neighbor_change(base(), all);
  std::set<std::string> want;
  for (auto& e : edits()) want.insert(e.field);
  std::set<std::string> got(r.fields.begin(), r.fields.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(r.kind, NeighborChange::kReset);
}

}  // namespace
}  // namespace vane::bgp
