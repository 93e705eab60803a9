// UPDATE golden vectors, each decoded and encoded: IPv4 and IPv6 announcements and withdrawals,
// End-of-RIB, every attribute the codec models, and the two-byte AS peer (RFC 6793).
#include <gtest/gtest.h>

#include <string>

#include "bgp/wire/builder.h"
#include "bgp/wire/hex.h"
#include "bgp/wire/message.h"
#include "bgp/wire/update.h"

namespace vane::bgp::wire {
namespace {

const std::string kMarker = "ffffffffffffffffffffffffffffffff";

std::vector<uint8_t> H(const std::string& s) {
  auto v = from_hex(s);
  EXPECT_TRUE(v.has_value()) << s;
  return v.value_or(std::vector<uint8_t>{});
}
std::string N(const std::string& s) {
  return to_hex(H(s));
}
WirePrefix P(const char* text) {
  return WirePrefix::from(*Prefix::parse(text)).value();
}
IpAddress A(const char* text) {
  return *IpAddress::parse(text);
}

// The returned views point into msg, so a temporary buffer is refused at compile time.
Update decode(std::vector<uint8_t>&& msg, const DecodeContext& ctx = {}) = delete;
Update decode(const std::vector<uint8_t>& msg, const DecodeContext& ctx = {}) {
  auto m = decode_message(msg, ctx);
  EXPECT_TRUE(m) << (m ? "" : describe(m.error()));
  if (!m || !std::holds_alternative<Update>(*m)) return {};
  return std::get<Update>(*m);
}

std::vector<std::string> strs(const NlriView& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.to_prefix().str());
  return out;
}

// 203.0.113.0/24 and 198.51.100.128/25 via 192.0.2.1, AS path 65001 65002, MED 100,
// communities 65001:100 and GRACEFUL_SHUTDOWN.
const std::string kIpv4Announce = kMarker +
                                  "004a 02"
                                  "0000 002a"
                                  "40 01 01 00"
                                  "40 02 0a 02 02 0000fde9 0000fdea"
                                  "40 03 04 c0000201"
                                  "80 04 04 00000064"
                                  "c0 08 08 fde90064 ffff0000"
                                  "18 cb0071 19 c6336480";

PathAttributes ipv4_attrs() {
  PathAttributes a;
  a.as_path = AsPath::sequence({65001, 65002});
  a.next_hop = A("192.0.2.1");
  a.med = 100;
  a.communities = {community::make(65001, 100), community::kGracefulShutdown};
  return a;
}

TEST(WireUpdate, Ipv4AnnouncementDecodes) {
  const auto wire = H(kIpv4Announce);
  auto u = decode(wire);
  EXPECT_EQ(u.disposition, Disposition::normal);
  EXPECT_TRUE(u.issues.empty());
  EXPECT_EQ(strs(u.nlri), (std::vector<std::string>{"203.0.113.0/24", "198.51.100.128/25"}));
  EXPECT_TRUE(u.withdrawn.empty());
  EXPECT_FALSE(u.mp_reach);
  EXPECT_EQ(u.attrs, ipv4_attrs());
  EXPECT_TRUE(u.attrs.has_community(community::kGracefulShutdown));
  EXPECT_FALSE(u.end_of_rib);
}

TEST(WireUpdate, Ipv4AnnouncementEncodes) {
  std::vector<uint8_t> out;
  const WirePrefix prefixes[] = {P("203.0.113.0/24"), P("198.51.100.128/25")};
  auto n = encode_announce(ipv4_attrs(), prefixes, EncodeContext{}, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(to_hex(out), N(kIpv4Announce));
}

// 2001:db8:1::/48 and 2001:db8::/32 via 2001:db8::1 and fe80::1, AS path 65001, large
// community 65001:1:2. MP_REACH_NLRI comes first, with the extended length bit.
const std::string kIpv6Announce = kMarker +
                                  "0068 02"
                                  "0000 0051"
                                  "90 0e 0031 0002 01 20"
                                  "20010db8000000000000000000000001"
                                  "fe800000000000000000000000000001"
                                  "00"
                                  "30 20010db80001 20 20010db8"
                                  "40 01 01 00"
                                  "40 02 06 02 01 0000fde9"
                                  "c0 20 0c 0000fde9 00000001 00000002";

PathAttributes ipv6_attrs() {
  PathAttributes a;
  a.as_path = AsPath::sequence({65001});
  a.mp_next_hop = A("2001:db8::1");
  a.mp_link_local = A("fe80::1");
  a.large_communities = {{65001, 1, 2}};
  return a;
}

TEST(WireUpdate, Ipv6AnnouncementDecodes) {
  const auto wire = H(kIpv6Announce);
  auto u = decode(wire);
  EXPECT_EQ(u.disposition, Disposition::normal);
  ASSERT_TRUE(u.mp_reach);
  EXPECT_EQ(u.mp_reach->afi_safi, kIpv6Unicast);
  EXPECT_EQ(strs(u.mp_reach->nlri), (std::vector<std::string>{"2001:db8:1::/48", "2001:db8::/32"}));
  EXPECT_EQ(u.attrs, ipv6_attrs());
}

TEST(WireUpdate, Ipv6AnnouncementEncodes) {
  std::vector<uint8_t> out;
  const WirePrefix prefixes[] = {P("2001:db8:1::/48"), P("2001:db8::/32")};
  ASSERT_TRUE(encode_announce(ipv6_attrs(), prefixes, EncodeContext{}, out));
  EXPECT_EQ(to_hex(out), N(kIpv6Announce));
}

TEST(WireUpdate, Ipv6GlobalOnlyNextHopIs16Bytes) {
  auto a = ipv6_attrs();
  a.mp_link_local.reset();
  std::vector<uint8_t> out;
  const WirePrefix prefixes[] = {P("2001:db8::/32")};
  ASSERT_TRUE(encode_announce(a, prefixes, EncodeContext{}, out));
  const std::string golden = kMarker +
                             "0051 02 0000 003a"
                             "90 0e 001a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8"
                             "40 01 01 00 40 02 06 02 01 0000fde9 c0 20 0c 0000fde9 00000001 00000002";
  EXPECT_EQ(to_hex(out), N(golden));
  auto u = decode(out);
  EXPECT_EQ(u.attrs, a);
  EXPECT_FALSE(u.attrs.mp_link_local);
}

const std::string kIpv4Withdraw = kMarker + "001f 02 0008 18cb0071 18c63364 0000";

TEST(WireUpdate, Ipv4WithdrawalGolden) {
  const auto wire = H(kIpv4Withdraw);
  auto u = decode(wire);
  EXPECT_EQ(strs(u.withdrawn), (std::vector<std::string>{"203.0.113.0/24", "198.51.100.0/24"}));
  EXPECT_TRUE(u.nlri.empty());
  EXPECT_FALSE(u.end_of_rib);
  std::vector<uint8_t> out;
  const WirePrefix prefixes[] = {P("203.0.113.0/24"), P("198.51.100.0/24")};
  ASSERT_TRUE(encode_withdraw(prefixes, EncodeContext{}, out));
  EXPECT_EQ(to_hex(out), N(kIpv4Withdraw));
}

const std::string kIpv6Withdraw = kMarker + "0025 02 0000 000e 90 0f 000a 0002 01 30 20010db80001";

TEST(WireUpdate, Ipv6WithdrawalGolden) {
  const auto wire = H(kIpv6Withdraw);
  auto u = decode(wire);
  ASSERT_TRUE(u.mp_unreach);
  EXPECT_EQ(u.mp_unreach->afi_safi, kIpv6Unicast);
  EXPECT_EQ(strs(u.mp_unreach->nlri), (std::vector<std::string>{"2001:db8:1::/48"}));
  EXPECT_FALSE(u.end_of_rib);
  EXPECT_EQ(u.disposition, Disposition::normal);
  std::vector<uint8_t> out;
  const WirePrefix prefixes[] = {P("2001:db8:1::/48")};
  ASSERT_TRUE(encode_withdraw(prefixes, EncodeContext{}, out));
  EXPECT_EQ(to_hex(out), N(kIpv6Withdraw));
}

TEST(WireUpdate, EndOfRibGolden) {
  std::vector<uint8_t> v4, v6;
  encode_end_of_rib(kIpv4Unicast, v4);
  encode_end_of_rib(kIpv6Unicast, v6);
  EXPECT_EQ(to_hex(v4), N(kMarker + "0017 02 0000 0000"));
  EXPECT_EQ(to_hex(v6), N(kMarker + "001d 02 0000 0006 80 0f 03 0002 01"));
  EXPECT_EQ(decode(v4).end_of_rib, kIpv4Unicast);
  EXPECT_EQ(decode(v6).end_of_rib, kIpv6Unicast);
  // With the extended length form, as some speakers send it.
  const auto wire = H(kMarker + "001e 02 0000 0007 90 0f 0003 0002 01");
  EXPECT_EQ(decode(wire).end_of_rib, kIpv6Unicast);
}

TEST(WireUpdate, EveryModelledAttributeRoundTrips) {
  PathAttributes a;
  a.origin = Origin::incomplete;
  a.as_path.segments = {{SegmentType::as_sequence, {65001, 4200000001u}}, {SegmentType::as_set, {64512, 64513}}};
  a.next_hop = A("192.0.2.1");
  a.med = 5;
  a.local_pref = 200;
  a.atomic_aggregate = true;
  a.aggregator = Aggregator{65001, 0xc0000209};
  a.communities = {community::kNoExport};
  a.ext_communities = {{0x0002fde900000064ull}};
  a.large_communities = {{4200000001u, 7, 8}};
  a.unknown = {{99, {0xaa, 0xbb}}};
  EncodeContext ectx;
  ectx.is_ebgp = false;
  std::vector<uint8_t> pa;
  ASSERT_TRUE(encode_path_attributes(a, ectx, true, pa));
  EXPECT_EQ(to_hex(pa), N("40 01 01 02"
                          "40 02 14 02 02 0000fde9 fa56ea01 01 02 0000fc00 0000fc01"
                          "40 03 04 c0000201"
                          "80 04 04 00000005"
                          "40 05 04 000000c8"
                          "40 06 00"
                          "c0 07 08 0000fde9 c0000209"
                          "c0 08 04 ffffff01"
                          "c0 10 08 0002fde900000064"
                          "c0 20 0c fa56ea01 00000007 00000008"
                          "e0 63 02 aabb"));
  std::vector<uint8_t> msg;
  const WirePrefix prefixes[] = {P("203.0.113.0/24")};
  ASSERT_TRUE(encode_announce(a, prefixes, ectx, msg));
  DecodeContext dctx;
  dctx.is_ebgp = false;
  auto u = decode(msg, dctx);
  EXPECT_EQ(u.disposition, Disposition::normal);
  EXPECT_EQ(u.attrs, a);
}

TEST(WireUpdate, LocalPrefIsNeverSentToExternalPeers) {
  auto a = ipv4_attrs();
  a.local_pref = 300;
  std::vector<uint8_t> pa;
  ASSERT_TRUE(encode_path_attributes(a, EncodeContext{}, true, pa));
  EXPECT_EQ(to_hex(pa).find("400504"), std::string::npos);
}

TEST(WireUpdate, UnknownOptionalTransitiveIsKeptAndResentWithPartialBit) {
  const std::string msg = kMarker +
                          "0032 02 0000 0017"
                          "40 01 01 00 40 02 00 40 03 04 c0000201"
                          "c0 63 02 aabb"  // unknown optional transitive
                          "80 64 01 ff"    // unknown optional non-transitive: dropped
                          "18 cb0071";
  const auto wire = H(msg);
  auto u = decode(wire);
  EXPECT_EQ(u.disposition, Disposition::normal);
  ASSERT_EQ(u.attrs.unknown.size(), 1u);
  EXPECT_EQ(u.attrs.unknown[0], (RawAttribute{99, {0xaa, 0xbb}}));
  std::vector<uint8_t> pa;
  ASSERT_TRUE(encode_path_attributes(u.attrs, EncodeContext{}, true, pa));
  EXPECT_EQ(to_hex(pa), N("40 01 01 00 40 02 00 40 03 04 c0000201 e0 63 02 aabb"));
}

// AS path 65001 4200000001 to and from a peer without four-byte AS support (RFC 6793 4.2).
const std::string kTwoByteAnnounce = kMarker +
                                     "003c 02 0000 0021"
                                     "40 01 01 00"
                                     "40 02 06 02 02 fde9 5ba0"
                                     "40 03 04 c0000201"
                                     "c0 11 0a 02 02 0000fde9 fa56ea01"
                                     "18 cb0071";

TEST(WireUpdate, TwoBytePeerGetsAsTransAndAs4Path) {
  PathAttributes a;
  a.as_path = AsPath::sequence({65001, 4200000001u});
  a.next_hop = A("192.0.2.1");
  EncodeContext ctx;
  ctx.four_byte_as = false;
  std::vector<uint8_t> out;
  const WirePrefix prefixes[] = {P("203.0.113.0/24")};
  ASSERT_TRUE(encode_announce(a, prefixes, ctx, out));
  EXPECT_EQ(to_hex(out), N(kTwoByteAnnounce));
}

TEST(WireUpdate, TwoBytePeerPathIsMergedWithAs4Path) {
  DecodeContext ctx;
  ctx.four_byte_as = false;
  const auto wire = H(kTwoByteAnnounce);
  auto u = decode(wire, ctx);
  EXPECT_EQ(u.disposition, Disposition::normal);
  EXPECT_EQ(u.attrs.as_path, AsPath::sequence({65001, 4200000001u}));
}

TEST(WireUpdate, TwoBytePeerWithOnlyMappableAsnsGetsNoAs4Path) {
  PathAttributes a;
  a.as_path = AsPath::sequence({65001, 65002});
  a.aggregator = Aggregator{65001, 1};
  EncodeContext ctx;
  ctx.four_byte_as = false;
  std::vector<uint8_t> pa;
  ASSERT_TRUE(encode_path_attributes(a, ctx, false, pa));
  EXPECT_EQ(to_hex(pa), N("40 01 01 00 40 02 06 02 02 fde9 fdea c0 07 06 fde9 00000001"));
}

TEST(WireUpdate, TwoBytePeerAggregatorUsesAs4Aggregator) {
  PathAttributes a;
  a.aggregator = Aggregator{4200000001u, 0xc0000209};
  a.atomic_aggregate = true;
  EncodeContext ctx;
  ctx.four_byte_as = false;
  std::vector<uint8_t> pa;
  ASSERT_TRUE(encode_path_attributes(a, ctx, false, pa));
  EXPECT_EQ(to_hex(pa), N("40 01 01 00 40 02 00 40 06 00 c0 07 06 5ba0 c0000209 c0 12 08 fa56ea01 c0000209"));
  // And back: AS_TRANS in AGGREGATOR means AS4_AGGREGATOR holds the real one.
  std::vector<uint8_t> msg = H(kMarker + "0000 02 0000 0000");
  msg[kHeaderLength + 3] = uint8_t(pa.size());
  msg.insert(msg.end(), pa.begin(), pa.end());
  msg[17] = uint8_t(msg.size());
  DecodeContext dctx;
  dctx.four_byte_as = false;
  auto u = decode(msg, dctx);
  EXPECT_EQ(u.attrs.aggregator, (Aggregator{4200000001u, 0xc0000209}));
  EXPECT_TRUE(u.attrs.atomic_aggregate);
}

TEST(WireUpdate, AnnouncedAndWithdrawnHelpersCoverBothFamilies) {
  const auto wire = H(kIpv4Announce);
  auto u = decode(wire);
  std::vector<std::string> ann, wd;
  u.for_each_announced([&](const WirePrefix& p) { ann.push_back(p.to_prefix().str()); });
  u.for_each_withdrawn([&](const WirePrefix& p) { wd.push_back(p.to_prefix().str()); });
  EXPECT_EQ(ann, (std::vector<std::string>{"203.0.113.0/24", "198.51.100.128/25"}));
  EXPECT_TRUE(wd.empty());
  const auto wire6 = H(kIpv6Withdraw);
  auto w6 = decode(wire6);
  w6.for_each_withdrawn([&](const WirePrefix& p) { wd.push_back(p.to_prefix().str()); });
  EXPECT_EQ(wd, (std::vector<std::string>{"2001:db8:1::/48"}));
}

}  // namespace
}  // namespace vane::bgp::wire
