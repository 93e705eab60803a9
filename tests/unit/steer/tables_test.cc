// steer::compute_tables: the tables a reload (and its dry run) computes from the config, the
// site's weights and the installed tables.
#include "steer/tables.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace vane::steer {
namespace {

config::Config parse(const std::string& servers, const std::string& extra = "") {
  std::string text =
      "node { name: \"n\" router_id: \"192.0.2.60\" asn: 65001 address: \"192.0.2.60\" interface: \"eth0\" }\n"
      "service { name: \"web\" vip { address: \"203.0.113.50\" port: 80 protocol: TCP } }\n" +
      extra + "site {\n" + servers + "}\n";
  auto l = config::load_string(text, "/tmp/tables_test.conf");
  if (!l) {
    std::string e;
    for (auto& d : l.error()) e += d.str() + "\n";
    ADD_FAILURE() << e;
    return {};
  }
  return l->proto;
}

const std::string kThree =
    "server { name: \"m\" address: \"192.0.2.61\" }\nserver { name: \"n\" address: \"192.0.2.60\" }\n"
    "server { name: \"p\" address: \"192.0.2.62\" weight: 200 }\n";

std::map<std::string, InstalledTable> installed(const SiteTables& t) {
  std::map<std::string, InstalledTable> out;
  for (auto& s : t.services)
    if (s.table) out[s.service] = {*s.table, s.inputs, t.table_size, s.table_id};
  return out;
}

TEST(Tables, SameInputsKeepTheInstalledTable) {
  auto cfg = parse(kThree);
  auto first = compute_tables(cfg, {}, {});
  ASSERT_EQ(first.services.size(), 1u);
  EXPECT_TRUE(first.services[0].rebuilt);
  ASSERT_TRUE(first.services[0].table);
  EXPECT_EQ(first.table_size, 65537u);
  auto again = compute_tables(cfg, {}, installed(first));
  EXPECT_FALSE(again.services[0].rebuilt);
  EXPECT_EQ(again.services[0].table, first.services[0].table);
}

TEST(Tables, SiteWeightsApplyAndAConfiguredZeroStaysZero) {
  auto cfg = parse(kThree);
  auto t = compute_tables(cfg, {{"web", {{"p", 0}, {"m", 50}}}}, {});
  ASSERT_TRUE(t.services[0].table);
  auto n = first_hop_counts(*t.services[0].table);
  EXPECT_EQ(n.count("p"), 0u);
  EXPECT_NEAR(double(n["n"]) / double(n["m"]), 2.0, 0.05);
  auto zero = parse(
      "server { name: \"m\" address: \"192.0.2.61\" weight: 0 }\nserver { name: \"n\" address: \"192.0.2.60\" }\n");
  auto z = compute_tables(zero, {{"web", {{"m", 100}}}}, {});
  EXPECT_EQ(first_hop_counts(*z.services[0].table).count("m"), 0u) << "health does not raise a configured 0";
}

TEST(Tables, AServerAddedMovesAboutItsShareAndKeepsSecondHops) {
  auto before = compute_tables(parse(kThree), {}, {});
  auto cfg = parse("server { name: \"a\" address: \"192.0.2.63\" }\n" + kThree);
  auto after = compute_tables(cfg, {}, installed(before));
  ASSERT_TRUE(after.services[0].rebuilt);
  const auto& b = *before.services[0].table;
  const auto& a = *after.services[0].table;
  const uint32_t moved = buckets_moved(&b, &a);
  const auto gained = first_hop_counts(a).at("a");
  EXPECT_GE(moved, uint32_t(gained));
  EXPECT_LE(moved, uint32_t(gained) + a.size() / 100) << "Maglev's cascade stays under 1%";
  // A bucket that moved remembers its previous first hop.
  for (uint32_t i = 0; i < a.size(); ++i)
    if (a.servers()[a[i].first].key != b.servers()[b[i].first].key) {
      ASSERT_TRUE(a[i].moved) << i;
      EXPECT_EQ(a.servers()[a[i].second].key, b.servers()[b[i].first].key) << i;
    }
  EXPECT_EQ(buckets_moved(&a, &a), 0u);
  EXPECT_EQ(buckets_moved(nullptr, &a), a.size());
}

TEST(Tables, NoBuildableTableSaysWhy) {
  auto cfg = parse("server { name: \"n\" address: \"192.0.2.60\" }\n");
  auto t = compute_tables(cfg, {{"web", {{"n", 0}}}}, {});
  ASSERT_EQ(t.services.size(), 1u);
  EXPECT_FALSE(t.services[0].table);
  EXPECT_EQ(t.services[0].error, MaglevError::all_weights_zero);
}

}  // namespace
}  // namespace vane::steer
