#include "bgp/rib.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace vane::bgp {
namespace {

TEST(AttrStore, SameAttributesShareOneCopyUntilTheLastRouteGoes) {
  AttrStore s;
  std::vector<uint8_t> a{0x40, 1, 1, 0}, b{0x40, 1, 1, 2};
  uint32_t x = s.intern(a), y = s.intern(a), z = s.intern(b);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  EXPECT_EQ(s.size(), 2u);
  s.unref(x);
  EXPECT_EQ(s.size(), 2u);
  s.unref(y);
  EXPECT_EQ(s.size(), 1u);
  uint32_t w = s.intern(a);  // a freed id is reused
  EXPECT_EQ(w, x);
  EXPECT_EQ(std::vector<uint8_t>(s.get(w).begin(), s.get(w).end()), a);
}

TEST(V4Table, BehavesLikeAMapUnderRandomAddAndRemove) {
  V4Table t;
  std::map<std::pair<uint32_t, uint8_t>, uint32_t> ref;
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint32_t addr = rng() & 0xffff00;
    uint8_t len = uint8_t(16 + rng() % 9);
    if (rng() % 3) {
      uint32_t v = 1 + rng() % 100;
      auto it = ref.find({addr, len});
      uint32_t want = it == ref.end() ? 0 : it->second;
      ASSERT_EQ(t.put(addr, len, v), want);
      ref[{addr, len}] = v;
    } else {
      auto it = ref.find({addr, len});
      uint32_t want = it == ref.end() ? 0 : it->second;
      ASSERT_EQ(t.erase(addr, len), want);
      if (it != ref.end()) ref.erase(it);
    }
    ASSERT_EQ(t.size(), ref.size());
  }
  size_t n = 0;
  t.for_each([&](uint32_t a, uint8_t l, uint32_t v) {
    ++n;
    EXPECT_EQ(ref.at({a, l}), v);
  });
  EXPECT_EQ(n, ref.size());
}

TEST(V4Table, SamePrefixWithDifferentLengthsAreDifferentRoutes) {
  V4Table t;
  t.put(0xCB007100, 24, 5);
  t.put(0xCB007100, 25, 6);
  EXPECT_EQ(t.get(0xCB007100, 24), 5u);
  EXPECT_EQ(t.get(0xCB007100, 25), 6u);
  EXPECT_EQ(t.get(0xCB007100, 26), 0u);
  t.put(0, 0, 9);  // the default route is a route too
  EXPECT_EQ(t.get(0, 0), 9u);
}

TEST(V4Table, MillionRoutesStayCompact) {
  V4Table t;
  for (uint32_t i = 0; i < 1000000; ++i) t.put(0x10000000 + (i << 8), 24, 1);
  EXPECT_EQ(t.size(), 1000000u);
  // 12 bytes a slot at a load of at least 0.43 after the last doubling.
  EXPECT_LE(t.capacity() * 12 / t.size(), 28u);
}

TEST(V6Table, PutGetErase) {
  V6Table t;
  V6Table::Key k{0x20010db800000000ull, 0, 48};
  EXPECT_EQ(t.put(k, 3), 0u);
  EXPECT_EQ(t.put(k, 4), 3u);
  EXPECT_EQ(t.get(k), 4u);
  EXPECT_EQ(t.erase(k), 4u);
  EXPECT_EQ(t.size(), 0u);
}

}  // namespace
}  // namespace vane::bgp
