// NLRI encoding: the compact prefix type and the zero-copy view.
#include <gtest/gtest.h>

#include "bgp/wire/hex.h"
#include "bgp/wire/nlri.h"

namespace vane::bgp::wire {
namespace {

std::vector<uint8_t> H(const std::string& s) {
  return from_hex(s).value_or(std::vector<uint8_t>{});
}

WirePrefix P(const char* text) {
  return WirePrefix::from(*Prefix::parse(text)).value();
}

TEST(WireNlri, ViewYieldsEachPrefixInOrder) {
  auto bytes = H("18cb0071 19c6336480 00 20c0000201");
  auto v = NlriView::parse(bytes, IpAddress::Family::v4);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->size(), 4u);
  std::vector<std::string> got;
  for (const auto& p : *v) got.push_back(p.to_prefix().str());
  EXPECT_EQ(got, (std::vector<std::string>{"203.0.113.0/24", "198.51.100.128/25", "0.0.0.0/0", "192.0.2.1/32"}));
}

TEST(WireNlri, TrailingBitsPastTheLengthAreIgnored) {
  auto bytes = H("17cb0071");  // /23 with the last bit set on the wire
  auto v = NlriView::parse(bytes, IpAddress::Family::v4);
  ASSERT_TRUE(v);
  EXPECT_EQ((*v->begin()).to_prefix().str(), "203.0.112.0/23");
  EXPECT_EQ(*v->begin(), P("203.0.112.0/23"));
}

TEST(WireNlri, Ipv6PrefixesUpTo128Bits) {
  auto bytes = H("30 20010db80001 80 20010db8000000000000000000000001 00");
  auto v = NlriView::parse(bytes, IpAddress::Family::v6);
  ASSERT_TRUE(v);
  auto all = v->to_vector();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], P("2001:db8:1::/48"));
  EXPECT_EQ(all[1], P("2001:db8::1/128"));
  EXPECT_EQ(all[2], P("::/0"));
}

TEST(WireNlri, LengthBeyondTheFamilyIsRejected) {
  EXPECT_EQ(NlriView::parse(H("21cb007100ff"), IpAddress::Family::v4).error(), NlriError::prefix_too_long);
  EXPECT_EQ(NlriView::parse(H("81" + std::string(34, '0')), IpAddress::Family::v6).error(), NlriError::prefix_too_long);
}

TEST(WireNlri, PrefixRunningPastTheFieldIsRejected) {
  EXPECT_EQ(NlriView::parse(H("18cb00"), IpAddress::Family::v4).error(), NlriError::truncated);
  EXPECT_EQ(NlriView::parse(H("18cb0071 08"), IpAddress::Family::v4).error(), NlriError::truncated);
}

TEST(WireNlri, EmptyFieldIsAnEmptyView) {
  auto v = NlriView::parse({}, IpAddress::Family::v4);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->empty());
  EXPECT_EQ(v->begin(), v->end());
}

TEST(WireNlri, AppendPrefixWritesOnlySignificantOctets) {
  std::vector<uint8_t> out;
  append_prefix(out, P("203.0.113.0/24"));
  append_prefix(out, P("198.51.100.128/25"));
  append_prefix(out, P("0.0.0.0/0"));
  append_prefix(out, P("2001:db8::/32"));
  EXPECT_EQ(to_hex(out),
            "18cb0071"
            "19c6336480"
            "00"
            "2020010db8");
}

TEST(WireNlri, CompactPrefixIsSmallAndOrdered) {
  static_assert(sizeof(WirePrefix) == 18);
  EXPECT_LT(P("192.0.2.0/24"), P("192.0.2.0/25"));
  EXPECT_LT(P("192.0.2.0/24"), P("2001:db8::/32"));
  EXPECT_EQ(WirePrefix::v4(0xc0000201, 24), P("192.0.2.0/24"));
  EXPECT_EQ(P("192.0.2.0/24").to_prefix(), *Prefix::parse("192.0.2.0/24"));
  EXPECT_EQ(P("192.0.2.0/24").encoded_size(), 4u);
}

}  // namespace
}  // namespace vane::bgp::wire
