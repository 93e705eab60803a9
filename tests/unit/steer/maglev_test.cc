#include "steer/maglev.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace vane::steer {
namespace {

constexpr uint32_t kM = 65537;

std::string key(uint32_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "edge-%04u", i);
  return buf;
}

// Weights from a fixed formula rather than <random> distributions, whose output differs between
// standard libraries: the golden test below needs the same inputs everywhere.
uint32_t pseudo_weight(uint32_t i, uint32_t max) {
  uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 29;
  return 1 + static_cast<uint32_t>(x % max);
}

std::vector<MaglevServer> equal(uint32_t n, uint32_t w = 100) {
  std::vector<MaglevServer> s;
  for (uint32_t i = 0; i < n; ++i) s.push_back({key(i), w});
  return s;
}

std::vector<MaglevServer> one_to_ten(uint32_t n) {
  std::vector<MaglevServer> s;
  for (uint32_t i = 0; i < n; ++i) s.push_back({key(i), 1 + i % 10});
  return s;
}

std::vector<MaglevServer> up_to_1000(uint32_t n) {
  std::vector<MaglevServer> s;
  for (uint32_t i = 0; i < n; ++i) s.push_back({key(i), pseudo_weight(i, 1000)});
  return s;
}

MaglevTable build(const std::vector<MaglevServer>& s, uint32_t m = kM, const MaglevTable* prev = nullptr) {
  auto t = build_maglev(s, m, prev);
  EXPECT_TRUE(t.has_value()) << to_string(t.error());
  return t ? std::move(*t) : MaglevTable{};
}

std::vector<uint32_t> first_hop_counts(const MaglevTable& t) {
  std::vector<uint32_t> c(t.servers().size());
  for (const MaglevEntry& e : t.entries()) ++c[e.first];
  return c;
}

uint32_t moved(const MaglevTable& a, const MaglevTable& b) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < a.size(); ++i)
    n += a.servers()[a[i].first].key != b.servers()[b[i].first].key;
  return n;
}

uint64_t total_weight(const std::vector<MaglevServer>& s) {
  uint64_t w = 0;
  for (const auto& x : s) w += x.weight;
  return w;
}

void expect_shares_within_one_percent(const std::vector<MaglevServer>& s) {
  MaglevTable t = build(s);
  auto counts = first_hop_counts(t);
  const double total = double(total_weight(s));
  for (uint32_t i = 0; i < counts.size(); ++i) {
    const double ideal = t.servers()[i].weight / total;
    EXPECT_LE(std::abs(double(counts[i]) / kM - ideal), 0.01 * ideal)
        << t.servers()[i].key << " weight " << t.servers()[i].weight << " got " << counts[i] << " ideal "
        << ideal * kM;
  }
}

TEST(Maglev, EqualWeightsGiveEveryServerItsShareWithinOnePercent) { expect_shares_within_one_percent(equal(100)); }

TEST(Maglev, WeightsOneToTenGiveEveryServerItsShareWithinOnePercent) {
  expect_shares_within_one_percent(one_to_ten(100));
}

// With weights 1..1000 the lightest servers are owed one or two buckets, where a whole bucket is far
// more than 1%; the apportionment can do no better than the nearest whole bucket, so the bound is 1%
// or one bucket, whichever is larger.
TEST(Maglev, WeightsUpTo1000GiveEveryServerItsShareWithinOnePercentOrOneBucket) {
  auto s = up_to_1000(100);
  MaglevTable t = build(s);
  auto counts = first_hop_counts(t);
  const double total = double(total_weight(s));
  for (uint32_t i = 0; i < counts.size(); ++i) {
    const double ideal = kM * (t.servers()[i].weight / total);
    EXPECT_LE(std::abs(counts[i] - ideal), std::max(1.0, 0.01 * ideal))
        << t.servers()[i].key << " weight " << t.servers()[i].weight << " got " << counts[i];
  }
}

// The least any removal can move is the removed server's own buckets (its weighted share); Maglev moves
// a little more because a few claims cascade.
void expect_removal_disruption_bounded(const std::vector<MaglevServer>& s, uint32_t m, std::vector<uint32_t> victims) {
  MaglevTable full = build(s, m);
  const double total = double(total_weight(s));
  for (uint32_t v : victims) {
    auto fewer = s;
    fewer.erase(fewer.begin() + v);
    MaglevTable t = build(fewer, m);
    const double ideal = full.size() * (s[v].weight / total);
    EXPECT_LE(moved(full, t), 1.6 * ideal) << "removing " << s[v].key << " weight " << s[v].weight;
    // Adding it back is the same change the other way round.
    EXPECT_LE(moved(t, full), 1.6 * ideal) << "adding " << s[v].key;
  }
}

TEST(Maglev, RemovingOrAddingOneServerMovesAtMost1_6TimesItsShareEqualWeights) {
  expect_removal_disruption_bounded(equal(100), kM, {0, 17, 50, 99});
}

TEST(Maglev, RemovingOrAddingOneServerMovesAtMost1_6TimesItsShareMixedWeights) {
  auto s = one_to_ten(100);
  expect_removal_disruption_bounded(s, kM, {0, 9, 42, 99});
  auto r = up_to_1000(100);
  const auto heaviest = std::ranges::max_element(r, {}, &MaglevServer::weight) - r.begin();
  expect_removal_disruption_bounded(r, kM, {static_cast<uint32_t>(heaviest), 3, 71});
}

TEST(Maglev, RemovingOrAddingOneOf1000ServersAtAutomaticSizeMovesAtMost1_6TimesItsShare) {
  const uint32_t m = table_size_for(1000, 0);
  ASSERT_EQ(m, 131071u);
  expect_removal_disruption_bounded(equal(1000), m, {0, 500, 999});
  expect_removal_disruption_bounded(up_to_1000(1000), m, {1, 333, 998});
}

TEST(Maglev, ReweightingOneServerLeavesTheOthersAlmostInPlace) {
  auto s = one_to_ten(100);
  MaglevTable before = build(s);
  const double ideal = kM * (s[42].weight / double(total_weight(s)));
  s[42].weight = 0;  // draining
  MaglevTable after = build(s);
  EXPECT_LE(moved(before, after), 1.6 * ideal);
}

TEST(Maglev, IdenticalInputsInAnyOrderGiveIdenticalTables) {
  auto s = up_to_1000(100);
  MaglevTable ref = build(s);
  for (uint32_t seed : {1u, 2u, 3u, 12345u}) {
    auto shuffled = s;
    std::mt19937 rng(seed);
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    MaglevTable t = build(shuffled);
    EXPECT_EQ(t, ref) << "seed " << seed;
    auto f = build_maglev_first_hops(shuffled, kM);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->servers, ref.servers());
  }
}

TEST(Maglev, ServersAreIndexedSortedByKey) {
  std::vector<MaglevServer> s = {{"c", 1}, {"a", 1}, {"b", 1}};
  MaglevTable t = build(s);
  ASSERT_EQ(t.servers().size(), 3u);
  EXPECT_EQ(t.servers()[0].key, "a");
  EXPECT_EQ(t.servers()[1].key, "b");
  EXPECT_EQ(t.servers()[2].key, "c");
  EXPECT_EQ(t.find("c"), 2u);
  EXPECT_EQ(t.find("d"), std::nullopt);
}

TEST(Maglev, FirstHopsOnlyBuildMatchesFullBuild) {
  auto s = up_to_1000(100);
  MaglevTable t = build(s);
  auto f = build_maglev_first_hops(s, kM);
  ASSERT_TRUE(f.has_value());
  ASSERT_EQ(f->first.size(), t.size());
  for (uint32_t b = 0; b < t.size(); ++b) ASSERT_EQ(f->first[b], t[b].first) << b;
}

TEST(Maglev, WeightZeroServerGetsNoFirstHopBuckets) {
  auto s = equal(10);
  s[3].weight = 0;
  MaglevTable t = build(s);
  auto counts = first_hop_counts(t);
  EXPECT_EQ(counts[*t.find(s[3].key)], 0u);
  for (uint32_t i = 0; i < counts.size(); ++i)
    if (t.servers()[i].weight > 0) {
      EXPECT_GT(counts[i], 0u);
    }
}

TEST(Maglev, AllWeightsZeroIsAnError) {
  auto s = equal(5, 0);
  EXPECT_EQ(build_maglev(s, kM).error(), MaglevError::all_weights_zero);
  EXPECT_EQ(build_maglev_first_hops(s, kM).error(), MaglevError::all_weights_zero);
}

TEST(Maglev, NoServersIsAnError) {
  EXPECT_EQ(build_maglev({}, kM).error(), MaglevError::no_servers);
  EXPECT_EQ(build_maglev_first_hops({}, 0).error(), MaglevError::no_servers);
}

TEST(Maglev, SingleServerGetsEveryBucket) {
  std::vector<MaglevServer> s = {{"only", 7}};
  MaglevTable t = build(s);
  ASSERT_EQ(t.size(), kM);
  for (const MaglevEntry& e : t.entries()) {
    ASSERT_EQ(e.first, 0u);
    ASSERT_EQ(e.second, 0u);
  }
}

TEST(Maglev, SingleWeightedServerAmongDrainedOnesGetsEveryBucketAndADistinctSecondHop) {
  std::vector<MaglevServer> s = {{"a", 0}, {"b", 5}, {"c", 0}};
  MaglevTable t = build(s, 101);
  for (const MaglevEntry& e : t.entries()) {
    ASSERT_EQ(e.first, 1u);
    ASSERT_NE(e.second, 1u);
  }
}

TEST(Maglev, BadInputsAreRejected) {
  EXPECT_EQ(build_maglev(std::vector<MaglevServer>{{"a", 1001}}, kM).error(), MaglevError::weight_too_large);
  EXPECT_EQ(build_maglev(std::vector<MaglevServer>{{"a", 1}, {"a", 2}}, kM).error(), MaglevError::duplicate_key);
  EXPECT_EQ(build_maglev(equal(5), 3).error(), MaglevError::table_size_too_small);
  EXPECT_EQ(build_maglev(equal(5), 16777259 + 2).error(), MaglevError::table_size_too_large);
  EXPECT_EQ(build_maglev(equal(5), 5).has_value(), true);
  EXPECT_EQ(build_maglev(equal(3), 2).error(), MaglevError::table_size_too_small);
}

TEST(Maglev, NonPrimeTableSizeIsRejected) {
  for (uint32_t m : {65536u, 65535u, 100000u, 1u, 9u})
    EXPECT_EQ(build_maglev(equal(3), m).error(), MaglevError::table_size_not_prime) << m;
  EXPECT_EQ(build_maglev_first_hops(equal(3), 65536).error(), MaglevError::table_size_not_prime);
  EXPECT_TRUE(build_maglev(equal(3), 65521).has_value());
}

TEST(Maglev, TableSizeForPicksTheSmallestListedPrimeAtLeast100TimesTheServers) {
  EXPECT_EQ(table_size_for(0, 0), 65537u);
  EXPECT_EQ(table_size_for(1, 0), 65537u);
  EXPECT_EQ(table_size_for(655, 0), 65537u);
  EXPECT_EQ(table_size_for(656, 0), 131071u);
  EXPECT_EQ(table_size_for(1000, 0), 131071u);
  EXPECT_EQ(table_size_for(1311, 0), 131071u);
  EXPECT_EQ(table_size_for(1312, 0), 262147u);
  EXPECT_EQ(table_size_for(6553, 0), 655373u);
  EXPECT_EQ(table_size_for(104857, 0), 10485767u);
  EXPECT_EQ(table_size_for(200000, 0), 10485767u);  // past the list: the largest
  EXPECT_EQ(table_size_for(1000, 65521), 65521u);   // configured wins
  EXPECT_EQ(build(equal(700), 0).size(), 131071u);
}

TEST(Maglev, SecondHopDiffersFromFirstHop) {
  for (const auto& s : {equal(2), equal(100), one_to_ten(100), up_to_1000(100)}) {
    MaglevTable t = build(s);
    for (uint32_t b = 0; b < t.size(); ++b) {
      ASSERT_NE(t[b].first, t[b].second) << b;
      ASSERT_LT(t[b].second, t.servers().size());
    }
  }
}

TEST(Maglev, SecondHopIsThePreviousOwnerWhereTheFirstHopChanged) {
  auto s = one_to_ten(100);
  MaglevTable before = build(s);
  auto changed = s;
  changed.erase(changed.begin() + 10);        // one server fails
  changed.push_back({"edge-9999", 5});        // another joins
  changed[20].weight = 0;                     // and one drains
  MaglevTable after = build(changed, kM, &before);
  uint32_t moves = 0;
  for (uint32_t b = 0; b < kM; ++b) {
    const std::string& was = before.servers()[before[b].first].key;
    const std::string& now = after.servers()[after[b].first].key;
    const std::string& second = after.servers()[after[b].second].key;
    if (was != now && was != s[10].key) {
      ++moves;
      ASSERT_EQ(second, was) << b;
    }
    ASSERT_NE(second, now) << b;
  }
  EXPECT_GT(moves, 0u);
  // The draining server is a second hop for every bucket it owned.
  const uint32_t drained = *after.find(s[20].key);
  const uint32_t owned = first_hop_counts(before)[*before.find(s[20].key)];
  EXPECT_EQ(uint32_t(std::ranges::count_if(after.entries(), [&](const MaglevEntry& e) { return e.second == drained; })),
            owned);
}

TEST(Maglev, SecondHopWithoutAChangeIsTheSameAsWithoutAPreviousTable) {
  auto s = one_to_ten(100);
  MaglevTable alone = build(s);
  MaglevTable again = build(s, kM, &alone);
  EXPECT_EQ(again, alone);
  // Unrelated servers changing leaves an unmoved bucket's second hop a deterministic function of the
  // inputs: two builds from the same inputs agree.
  auto other = s;
  other.pop_back();
  EXPECT_EQ(build(other, kM, &alone), build(other, kM, &alone));
}

TEST(Maglev, PreviousTableOfAnotherSizeIsIgnored) {
  auto s = equal(10);
  MaglevTable small = build(s, 1009);
  EXPECT_EQ(build(s, kM, &small), build(s, kM));
}

// Every server of a site must compute the same table, including servers running another vaned version:
// a change here is a change of the table's definition and needs a coordinated rollout.
TEST(Maglev, GoldenTableIsStable) {
  EXPECT_EQ(maglev_hash("", 0), 0x0ull) << std::hex << maglev_hash("", 0);
  EXPECT_EQ(maglev_hash("edge-0001", 1), 0x0ull) << std::hex << maglev_hash("edge-0001", 1);
  MaglevTable t = build(up_to_1000(50), 1009);
  uint64_t h = 1469598103934665603ULL;
  for (const MaglevEntry& e : t.entries()) {
    h = (h ^ e.first) * 1099511628211ULL;
    h = (h ^ e.second) * 1099511628211ULL;
  }
  EXPECT_EQ(h, 0x0ull) << std::hex << h;
}

}  // namespace
}  // namespace vane::steer
