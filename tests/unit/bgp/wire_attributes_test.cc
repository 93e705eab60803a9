// Attribute values: AS path arithmetic, the RFC 6793 merge, canonical ordering.
#include <gtest/gtest.h>

#include "bgp/wire/attributes.h"
#include "bgp/wire/hex.h"

namespace vane::bgp::wire {
namespace {

AsSegment seq(std::vector<uint32_t> a) {
  return {SegmentType::as_sequence, std::move(a)};
}
AsSegment set(std::vector<uint32_t> a) {
  return {SegmentType::as_set, std::move(a)};
}
AsSegment confed(std::vector<uint32_t> a) {
  return {SegmentType::confed_sequence, std::move(a)};
}

TEST(WireAttributes, PathLengthCountsSetsOnceAndConfederationsNotAtAll) {
  AsPath p;
  p.segments = {confed({64512, 64513}), seq({65001, 65002}), set({1, 2, 3})};
  EXPECT_EQ(p.length(), 3u);
  EXPECT_TRUE(p.contains(64513));
  EXPECT_FALSE(p.contains(7));
}

TEST(WireAttributes, PrependGrowsTheFirstSequenceOrStartsOne) {
  AsPath p;
  p.prepend(65001, 2);
  EXPECT_EQ(p, AsPath::sequence({65001, 65001}));
  AsPath q;
  q.segments = {set({1, 2})};
  q.prepend(65001);
  ASSERT_EQ(q.segments.size(), 2u);
  EXPECT_EQ(q.segments[0], seq({65001}));
  AsPath long_path;
  long_path.prepend(65001, 300);
  ASSERT_EQ(long_path.segments.size(), 2u);
  EXPECT_EQ(long_path.segments[0].asns.size(), 45u);
  EXPECT_EQ(long_path.segments[1].asns.size(), 255u);
  EXPECT_EQ(long_path.length(), 300u);
}

TEST(WireAttributes, LongSegmentsAreSplitAt255OnTheWire) {
  PathAttributes a;
  a.as_path.prepend(65001, 300);
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_path_attributes(a, EncodeContext{}, false, out));
  // ORIGIN, then AS_PATH with the extended length: 2 + 45*4 + 2 + 255*4 = 1204 bytes, the short
  // segment first because prepending fills from the front.
  EXPECT_EQ(to_hex(Bytes(out).subspan(4, 6)), "500204b4022d");
  EXPECT_EQ(out[4 + 4 + 2 + 45 * 4], 2);
  EXPECT_EQ(out[4 + 4 + 2 + 45 * 4 + 1], 255);
}

TEST(WireAttributes, As4MergeKeepsLeadingTwoByteAsnsAndTakesTheRestFromAs4Path) {
  AsPath as_path;
  as_path.segments = {seq({65010, kAsTrans, 65001, kAsTrans})};
  AsPath as4;
  as4.segments = {seq({65001, 4200000001u})};
  AsPath want;
  want.segments = {seq({65010, kAsTrans, 65001, 4200000001u})};
  EXPECT_EQ(merge_as4_path(as_path, as4), want);
}

TEST(WireAttributes, As4MergeCountsSetsAsOneAndKeepsLeadingConfederations) {
  AsPath as_path;
  as_path.segments = {confed({64512}), seq({65010}), set({kAsTrans, 65020}), seq({kAsTrans})};
  AsPath as4;
  as4.segments = {set({4200000001u, 65020}), seq({4200000002u})};
  AsPath want;
  want.segments = {confed({64512}), seq({65010}), set({4200000001u, 65020}), seq({4200000002u})};
  EXPECT_EQ(merge_as4_path(as_path, as4), want);
}

TEST(WireAttributes, As4PathLongerThanAsPathLeavesAsPathAlone) {
  AsPath as_path = AsPath::sequence({kAsTrans});
  AsPath as4 = AsPath::sequence({1, 4200000001u});
  EXPECT_EQ(merge_as4_path(as_path, as4), as_path);
}

TEST(WireAttributes, CanonicalizeSortsAndDeduplicatesSoEqualSetsCompareEqual) {
  PathAttributes a, b;
  a.communities = {3, 1, 2, 1};
  b.communities = {1, 2, 3};
  a.large_communities = {{2, 0, 0}, {1, 0, 0}};
  b.large_communities = {{1, 0, 0}, {2, 0, 0}};
  a.ext_communities = {{5}, {4}};
  b.ext_communities = {{4}, {5}};
  a.unknown = {{40, {1}}, {30, {2}}};
  b.unknown = {{30, {2}}, {40, {1}}};
  EXPECT_NE(a, b);
  a.canonicalize();
  b.canonicalize();
  EXPECT_EQ(a, b);
}

TEST(WireAttributes, OrderingIsStableAndTotal) {
  PathAttributes a, b;
  b.med = 10;
  EXPECT_LT(a, b);  // absent sorts before present
  PathAttributes c = b;
  c.med = 20;
  EXPECT_LT(b, c);
  EXPECT_FALSE(c < b);
}

TEST(WireAttributes, UnknownAttributesInterleaveInTypeOrder) {
  PathAttributes a;
  a.communities = {1};
  a.large_communities = {{1, 2, 3}};
  a.unknown = {{40, {0xbb}}, {9, {0xaa}}};  // 9 goes after COMMUNITIES (8), 40 after LARGE (32)
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_path_attributes(a, EncodeContext{}, false, out));
  EXPECT_EQ(to_hex(out),
            "40010100"
            "400200"
            "c0080400000001"
            "e00901aa"
            "c0200c000000010000000200000003"
            "e02801bb");
}

TEST(WireAttributes, ValuesOver255BytesUseTheExtendedLength) {
  std::vector<uint8_t> out;
  append_attribute(out, attr::kOptional | attr::kTransitive, attr::kCommunities, std::vector<uint8_t>(256, 0));
  EXPECT_EQ(to_hex(Bytes(out).first(4)), "d0080100");
  out.clear();
  append_attribute(out, attr::kOptional | attr::kExtendedLength, attr::kMed, std::vector<uint8_t>(4, 0));
  EXPECT_EQ(to_hex(Bytes(out).first(3)), "800404");
}

}  // namespace
}  // namespace vane::bgp::wire
