// RFC 8950: the extended next hop capability and IPv4 routes with an IPv6 next hop, on golden bytes.
#include <gtest/gtest.h>

#include <string>

#include "bgp/wire/builder.h"
#include "bgp/wire/header.h"
#include "bgp/wire/hex.h"
#include "bgp/wire/open.h"
#include "bgp/wire/update.h"

namespace vane::bgp::wire {
namespace {

const std::string kMarker = "ffffffffffffffffffffffffffffffff";
IpAddress A(const char* text) {
  return *IpAddress::parse(text);
}
std::vector<uint8_t> H(const std::string& s) {
  auto v = from_hex(s);
  EXPECT_TRUE(v.has_value()) << s;
  return v.value_or(std::vector<uint8_t>{});
}
std::string N(const std::string& s) {
  return to_hex(H(s));
}

// AS 65001, hold 90, id 192.0.2.1; MP IPv4 unicast, extended next hop (IPv4 unicast over IPv6), 4-byte AS.
const std::string kOpen = kMarker +
                          "0033 01 04 fde9 005a c0000201 16 02 14"
                          "01 04 0001 00 01"
                          "05 06 0001 0001 0002"
                          "41 04 0000fde9";

TEST(WireExtendedNextHop, CapabilityEncodesAndDecodesGolden) {
  Capabilities c;
  c.multiprotocol = {kIpv4Unicast};
  c.extended_next_hop = {kIpv4OverIpv6};
  EXPECT_EQ(to_hex(encode_open(OpenMessage::make(65001, 90, 0xc0000201, c))), N(kOpen));
  auto m = decode_open(Bytes(H(kOpen)).subspan(kHeaderLength));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->caps.extended_next_hop, (std::vector<ExtendedNextHop>{kIpv4OverIpv6}));
}

TEST(WireExtendedNextHop, SeveralTuplesAndUnknownSafisAreKeptOrSkipped) {
  // IPv4 unicast over IPv6, IPv4 SAFI 128 (VPN) over IPv6, and a SAFI above 255 that is skipped.
  const std::string open = kMarker +
                           "0033 01 04 fde9 005a c0000201 16 02 14"
                           "05 12 0001 0001 0002 0001 0080 0002 0001 0100 0002";
  auto m = decode_open(Bytes(H(open)).subspan(kHeaderLength));
  ASSERT_TRUE(m);
  ASSERT_EQ(m->caps.extended_next_hop.size(), 2u);
  EXPECT_EQ(m->caps.extended_next_hop[0], kIpv4OverIpv6);
  EXPECT_EQ(m->caps.extended_next_hop[1].nlri.safi, 128);
}

TEST(WireExtendedNextHop, MalformedCapabilityLengthIsAnOpenError) {
  for (std::string cap : {"05 00", "05 04 0001 0001", "05 07 0001 0001 0002 00"}) {
    const size_t caps_len = H(cap).size();
    char head[64];
    std::snprintf(head, sizeof head, "%04zx 01 04 fde9 005a c0000201 %02zx 02 %02zx", 19 + 10 + 2 + caps_len,
                  2 + caps_len, caps_len);
    auto m = decode_open(Bytes(H(kMarker + head + cap)).subspan(kHeaderLength));
    ASSERT_FALSE(m) << cap;
    EXPECT_EQ(m.error().code, uint8_t(ErrorCode::open)) << cap;
  }
}

// RFC 8950 4: the capability says what its sender can receive. What we advertised decides what
// we accept; what the peer advertised decides what we may send. Neither needs the other.
TEST(WireExtendedNextHop, EachDirectionFollowsTheReceiversCapability) {
  Capabilities with, without;
  with.multiprotocol = without.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
  with.extended_next_hop = {kIpv4OverIpv6};
  auto open = [](Capabilities c) { return OpenMessage::make(65001, 90, 1, std::move(c)); };
  auto both = negotiate(open(with), open(with));
  EXPECT_TRUE(both.decode_context(true).ipv4_over_ipv6);
  EXPECT_TRUE(both.encode_context(true).ipv4_over_ipv6);
  // Only we advertised it: the router may send such routes, we must not.
  auto ours = negotiate(open(with), open(without));
  EXPECT_TRUE(ours.decode_context(true).ipv4_over_ipv6);
  EXPECT_FALSE(ours.encode_context(true).ipv4_over_ipv6);
  // Only the router advertised it: we may send, and refuse what we did not ask for.
  auto theirs = negotiate(open(without), open(with));
  EXPECT_FALSE(theirs.decode_context(true).ipv4_over_ipv6);
  EXPECT_TRUE(theirs.encode_context(true).ipv4_over_ipv6);
  EXPECT_FALSE(negotiate(open(without), open(without)).decode_context(true).ipv4_over_ipv6);
  // Another tuple (IPv6 routes over IPv4) does not count.
  Capabilities other = without;
  other.extended_next_hop = {{kIpv6Unicast, kAfiIpv4}};
  EXPECT_FALSE(negotiate(open(with), open(other)).encode_context(true).ipv4_over_ipv6);
  EXPECT_FALSE(negotiate(open(other), open(with)).decode_context(true).ipv4_over_ipv6);
}

// 203.0.113.10/32 from AS 65011, next hop 2001:db8::11 plus link-local fe80::1 (32 bytes), in
// MP_REACH_NLRI AFI 1 SAFI 1.
const std::string kUpdate = kMarker +
                            "0052 02 0000 003b"
                            "90 0e 002a 0001 01 20"
                            "20010db8000000000000000000000011"
                            "fe800000000000000000000000000001"
                            "00 20 cb00710a"
                            "40 01 01 00"
                            "40 02 06 02 01 0000fdf3";

PathAttributes attrs() {
  PathAttributes a;
  a.as_path = AsPath::sequence({65011});
  a.mp_next_hop = A("2001:db8::11");
  a.mp_link_local = A("fe80::1");
  return a;
}

TEST(WireExtendedNextHop, Ipv4RouteWithIpv6NextHopEncodesGolden) {
  EncodeContext ctx;
  ctx.ipv4_over_ipv6 = true;
  std::vector<uint8_t> out;
  const std::vector<WirePrefix> p{WirePrefix::v4(0xcb00710a, 32)};
  auto n = encode_announce(attrs(), p, ctx, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(to_hex(out), N(kUpdate));
  // The peer did not advertise it: without an IPv4 NEXT_HOP there is nothing to send the route with.
  out.clear();
  EXPECT_EQ(encode_announce(attrs(), p, EncodeContext{}, out).error(), EncodeError::missing_next_hop);
  EXPECT_TRUE(out.empty());
  // An IPv4 next hop, when there is one, still goes the classic way.
  auto a = attrs();
  a.next_hop = A("192.0.2.11");
  ASSERT_TRUE(encode_announce(a, p, ctx, out));
  auto u = decode_update(Bytes(out).subspan(kHeaderLength), DecodeContext{});
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->mp_reach);
  EXPECT_EQ(u->attrs.next_hop, A("192.0.2.11"));
}

TEST(WireExtendedNextHop, SixteenByteNextHopWithoutLinkLocal) {
  EncodeContext ctx;
  ctx.ipv4_over_ipv6 = true;
  auto a = attrs();
  a.mp_link_local.reset();
  std::vector<uint8_t> out;
  const std::vector<WirePrefix> p{WirePrefix::v4(0xcb00710a, 32)};
  ASSERT_TRUE(encode_announce(a, p, ctx, out));
  EXPECT_EQ(to_hex(out),
            N(kMarker + "0042 02 0000 002b 90 0e 001a 0001 01 10 20010db8000000000000000000000011 00 20 cb00710a"
                        "40 01 01 00 40 02 06 02 01 0000fdf3"));
}

TEST(WireExtendedNextHop, Ipv4RouteWithIpv6NextHopDecodesOnlyWhenWeAdvertisedIt) {
  const auto msg = H(kUpdate);
  DecodeContext ctx;
  ctx.ipv4_over_ipv6 = true;
  auto u = decode_update(Bytes(msg).subspan(kHeaderLength), ctx);
  ASSERT_TRUE(u);
  ASSERT_TRUE(u->mp_reach);
  EXPECT_EQ(u->mp_reach->afi_safi, kIpv4Unicast);
  EXPECT_EQ(u->attrs.mp_next_hop, A("2001:db8::11"));
  EXPECT_EQ(u->attrs.mp_link_local, A("fe80::1"));
  std::vector<WirePrefix> got;
  u->for_each_announced([&](const WirePrefix& p) { got.push_back(p); });
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].len, 32);
  EXPECT_TRUE(got[0].is_v4());
  // Not advertised by us: an IPv6 next hop on IPv4 routes is a malformed MP_REACH_NLRI.
  auto bad = decode_update(Bytes(msg).subspan(kHeaderLength), DecodeContext{});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, uint8_t(ErrorCode::update));
  // Other lengths stay refused when advertised.
  auto odd =
      H(kMarker + "0032 02 0000 001b 90 0e 000a 0001 01 05 0102030405 00 00 40 01 01 00 40 02 06 02 01 0000fdf3");
  EXPECT_FALSE(decode_update(Bytes(odd).subspan(kHeaderLength), ctx));
}

}  // namespace
}  // namespace vane::bgp::wire
