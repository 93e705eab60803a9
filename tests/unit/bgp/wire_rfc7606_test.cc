// RFC 7606 error handling of UPDATE messages, case by case: which errors reset the session
// (and with which NOTIFICATION), which make the update treat-as-withdraw, which only drop an
// attribute.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "bgp/wire/hex.h"
#include "bgp/wire/notification.h"
#include "bgp/wire/update.h"

namespace vane::bgp::wire {
namespace {

std::vector<uint8_t> H(const std::string& s) {
  auto v = from_hex(s);
  EXPECT_TRUE(v.has_value()) << s;
  return v.value_or(std::vector<uint8_t>{});
}

// An UPDATE body from its three parts, lengths filled in.
std::vector<uint8_t> B(const std::string& attrs, const std::string& nlri = "18 cb0071",
                       const std::string& withdrawn = "") {
  const auto w = H(withdrawn), a = H(attrs), n = H(nlri);
  // Sized up front: g++ 12 at -O3 warns falsely about growing a vector by inserts here.
  std::vector<uint8_t> b(4 + w.size() + a.size() + n.size());
  b[0] = uint8_t(w.size() >> 8);
  b[1] = uint8_t(w.size());
  std::copy(w.begin(), w.end(), b.begin() + 2);
  b[2 + w.size()] = uint8_t(a.size() >> 8);
  b[3 + w.size()] = uint8_t(a.size());
  std::copy(a.begin(), a.end(), b.begin() + 4 + long(w.size()));
  std::copy(n.begin(), n.end(), b.begin() + 4 + long(w.size() + a.size()));
  return b;
}

const std::string kOrigin = "40 01 01 00 ";
const std::string kAsPath = "40 02 06 02 01 0000fde9 ";
const std::string kNextHop = "40 03 04 c0000201 ";
const std::string kBase = kOrigin + kAsPath + kNextHop;

DecodeContext ebgp() {
  return {};
}
DecodeContext ibgp() {
  DecodeContext c;
  c.is_ebgp = false;
  return c;
}
DecodeContext two_byte() {
  DecodeContext c;
  c.four_byte_as = false;
  return c;
}

Update ok(const std::vector<uint8_t>& body, const DecodeContext& ctx = ebgp()) {
  auto r = decode_update(body, ctx);
  EXPECT_TRUE(r) << (r ? "" : describe(r.error()) + " " + to_hex(r.error().data));
  return r ? std::move(r).value() : Update{};
}

Notification reset(const std::vector<uint8_t>& body, const DecodeContext& ctx = ebgp()) {
  auto r = decode_update(body, ctx);
  EXPECT_FALSE(r);
  return r ? Notification{} : r.error();
}

Notification update_error(UpdateSubcode sub, const std::string& data = "") {
  return Notification::make(ErrorCode::update, sub, H(data));
}

void expect_withdraw(const Update& u, uint8_t type, IssueReason reason) {
  EXPECT_EQ(u.disposition, Disposition::treat_as_withdraw);
  ASSERT_FALSE(u.issues.empty());
  EXPECT_EQ(u.issues.front().type, type);
  EXPECT_EQ(u.issues.front().action, Disposition::treat_as_withdraw);
  EXPECT_EQ(u.issues.front().reason, reason);
}

void expect_discard(const Update& u, uint8_t type, IssueReason reason) {
  EXPECT_EQ(u.disposition, Disposition::attribute_discard);
  ASSERT_EQ(u.issues.size(), 1u);
  EXPECT_EQ(u.issues[0].type, type);
  EXPECT_EQ(u.issues[0].action, Disposition::attribute_discard);
  EXPECT_EQ(u.issues[0].reason, reason);
  EXPECT_EQ(u.nlri.size(), 1u);
}

TEST(WireRfc7606, WellFormedUpdateIsNormal) {
  auto b = B(kBase);
  auto u = ok(b);
  EXPECT_EQ(u.disposition, Disposition::normal);
  EXPECT_TRUE(u.issues.empty());
}

// --- Section 7: per-attribute rules -------------------------------------------------------------

TEST(WireRfc7606, OriginWithWrongLengthOrUndefinedValueIsTreatAsWithdraw) {
  auto b = B("40 01 02 0000 " + kAsPath + kNextHop);
  expect_withdraw(ok(b), attr::kOrigin, IssueReason::bad_length);
  auto c = B("40 01 01 03 " + kAsPath + kNextHop);
  auto u = ok(c);
  expect_withdraw(u, attr::kOrigin, IssueReason::bad_value);
  EXPECT_EQ(u.issues[0].subcode, UpdateSubcode::invalid_origin);
  EXPECT_EQ(to_hex(u.issues[0].attribute), "40010103");
}

TEST(WireRfc7606, MalformedAsPathIsTreatAsWithdraw) {
  const char* bad[] = {
      "40 02 06 05 01 0000fde9",     // unknown segment type
      "40 02 02 02 00",              // zero-length segment
      "40 02 06 02 02 0000fde9",     // segment overruns the attribute
      "40 02 07 02 01 0000fde9 02",  // one byte left over: not enough for a segment
  };
  for (const char* as_path : bad) {
    auto b = B(kOrigin + as_path + " " + kNextHop);
    auto u = ok(b);
    expect_withdraw(u, attr::kAsPath, IssueReason::malformed_as_path);
    EXPECT_EQ(u.issues[0].subcode, UpdateSubcode::malformed_as_path);
  }
}

TEST(WireRfc7606, AsZeroInPathIsTreatAsWithdraw) {
  auto b = B(kOrigin + "40 02 0a 02 02 0000fde9 00000000 " + kNextHop);
  expect_withdraw(ok(b), attr::kAsPath, IssueReason::as_zero);
}

TEST(WireRfc7606, ExternalPeerPathMustStartWithThePeerAsWhenAsked) {
  DecodeContext ctx;
  ctx.peer_as = 65001;
  auto good = B(kBase);
  EXPECT_EQ(ok(good, ctx).disposition, Disposition::normal);
  auto other = B(kOrigin + "40 02 06 02 01 0000fdea " + kNextHop);
  expect_withdraw(ok(other, ctx), attr::kAsPath, IssueReason::first_as_not_peer);
  auto empty = B(kOrigin + "40 02 00 " + kNextHop);
  expect_withdraw(ok(empty, ctx), attr::kAsPath, IssueReason::first_as_not_peer);
  auto set_first = B(kOrigin + "40 02 06 01 01 0000fde9 " + kNextHop);
  expect_withdraw(ok(set_first, ctx), attr::kAsPath, IssueReason::first_as_not_peer);
  EXPECT_EQ(ok(other).disposition, Disposition::normal);  // not asked: a route server's path
  auto internal = ctx;
  internal.is_ebgp = false;
  EXPECT_EQ(ok(empty, internal).disposition, Disposition::normal);
}

TEST(WireRfc7606, TwoByteAsPathIsReadWithTwoByteContext) {
  auto b = B(kOrigin + "40 02 04 02 01 fde9 " + kNextHop);
  auto u = ok(b, two_byte());
  EXPECT_EQ(u.disposition, Disposition::normal);
  EXPECT_EQ(u.attrs.as_path, AsPath::sequence({65001}));
  // The same bytes in a four-byte session are malformed.
  expect_withdraw(ok(b), attr::kAsPath, IssueReason::malformed_as_path);
}

TEST(WireRfc7606, NextHopMedAndLocalPrefWithWrongLengthAreTreatAsWithdraw) {
  auto nh = B(kOrigin + kAsPath + "40 03 05 c000020100");
  expect_withdraw(ok(nh), attr::kNextHop, IssueReason::bad_length);
  auto med = B(kBase + "80 04 03 000064");
  expect_withdraw(ok(med), attr::kMed, IssueReason::bad_length);
  auto lp = B(kBase + "40 05 03 000064");
  expect_withdraw(ok(lp, ibgp()), attr::kLocalPref, IssueReason::bad_length);
}

TEST(WireRfc7606, LocalPrefFromExternalPeerIsDiscardedWhateverItsShape) {
  auto good = B(kBase + "40 05 04 00000064");
  auto u = ok(good);
  expect_discard(u, attr::kLocalPref, IssueReason::from_external_peer);
  EXPECT_FALSE(u.attrs.local_pref);
  auto bad = B(kBase + "40 05 03 000064");
  expect_discard(ok(bad), attr::kLocalPref, IssueReason::from_external_peer);
  EXPECT_EQ(ok(good, ibgp()).attrs.local_pref, 100u);
}

TEST(WireRfc7606, MalformedAtomicAggregateAndAggregatorAreDiscarded) {
  auto aa = B(kBase + "40 06 01 00");
  auto u = ok(aa);
  expect_discard(u, attr::kAtomicAggregate, IssueReason::bad_length);
  EXPECT_FALSE(u.attrs.atomic_aggregate);
  auto ag = B(kBase + "c0 07 06 fde9 c0000201");  // two-byte form in a four-byte session
  expect_discard(ok(ag), attr::kAggregator, IssueReason::bad_length);
  auto ag0 = B(kBase + "c0 07 08 00000000 c0000201");
  expect_discard(ok(ag0), attr::kAggregator, IssueReason::as_zero);
}

TEST(WireRfc7606, CommunityListsOfTheWrongSizeAreTreatAsWithdraw) {
  const std::pair<std::string, uint8_t> cases[] = {
      {"c0 08 00", attr::kCommunities},
      {"c0 08 05 fde9006400", attr::kCommunities},
      {"c0 10 07 0002fde9000000", attr::kExtendedCommunities},
      {"c0 20 0b 0000fde9 00000001 000000", attr::kLargeCommunities},
      {"c0 20 00", attr::kLargeCommunities},
  };
  for (const auto& [a, type] : cases) {
    auto b = B(kBase + a);
    auto u = ok(b);
    expect_withdraw(u, type, IssueReason::bad_length);
    EXPECT_EQ(u.issues[0].subcode, UpdateSubcode::optional_attribute_error);
  }
}

TEST(WireRfc7606, ReflectorAttributesAreCheckedFromInternalPeersAndDroppedFromExternal) {
  auto oid = B(kBase + "80 09 03 c00002");
  expect_withdraw(ok(oid, ibgp()), attr::kOriginatorId, IssueReason::bad_length);
  expect_discard(ok(oid), attr::kOriginatorId, IssueReason::from_external_peer);
  auto cl = B(kBase + "80 0a 05 c000020100");
  expect_withdraw(ok(cl, ibgp()), attr::kClusterList, IssueReason::bad_length);
  auto fine = B(kBase + "80 09 04 c0000201 80 0a 04 c0000201");
  EXPECT_EQ(ok(fine, ibgp()).disposition, Disposition::normal);
}

// --- Section 3: flags, duplicates, missing attributes -------------------------------------------

TEST(WireRfc7606, FlagsConflictingWithTheAttributeAreTreatAsWithdraw) {
  auto b = B("c0 01 01 00 " + kAsPath + kNextHop);  // ORIGIN marked optional
  auto u = ok(b);
  expect_withdraw(u, attr::kOrigin, IssueReason::bad_flags);
  EXPECT_EQ(u.issues[0].subcode, UpdateSubcode::attribute_flags_error);
  auto med = B(kBase + "c0 04 04 00000064");  // MED marked transitive
  expect_withdraw(ok(med), attr::kMed, IssueReason::bad_flags);
  // Partial and extended-length bits are not part of the check.
  auto ext = B("50 01 0001 00 " + kAsPath + kNextHop);
  EXPECT_EQ(ok(ext).disposition, Disposition::normal);
}

TEST(WireRfc7606, RepeatedAttributeKeepsTheFirstAndDiscardsTheRest) {
  auto b = B(kBase + "40 01 01 02");
  auto u = ok(b);
  expect_discard(u, attr::kOrigin, IssueReason::duplicate);
  EXPECT_EQ(u.attrs.origin, Origin::igp);
}

TEST(WireRfc7606, RepeatedMpAttributeResetsTheSession) {
  const std::string mp = "80 0f 03 0002 01 ";
  auto b = B(mp + mp, "");
  EXPECT_EQ(reset(b), update_error(UpdateSubcode::malformed_attribute_list));
}

TEST(WireRfc7606, MissingWellKnownAttributeWithRoutesIsTreatAsWithdraw) {
  auto no_origin = B(kAsPath + kNextHop);
  auto u = ok(no_origin);
  expect_withdraw(u, attr::kOrigin, IssueReason::missing_well_known);
  EXPECT_EQ(u.issues[0].subcode, UpdateSubcode::missing_well_known_attribute);
  auto none = B("");
  auto n = ok(none);
  EXPECT_EQ(n.disposition, Disposition::treat_as_withdraw);
  EXPECT_EQ(n.issues.size(), 3u);
}

TEST(WireRfc7606, NextHopIsOnlyNeededForTheClassicNlriField) {
  auto b = B("90 0e 001a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8 " + kOrigin + kAsPath, "");
  auto u = ok(b);
  EXPECT_EQ(u.disposition, Disposition::normal);
  auto missing = B("90 0e 001a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8 " + kOrigin, "");
  expect_withdraw(ok(missing), attr::kAsPath, IssueReason::missing_well_known);
}

TEST(WireRfc7606, StrongestActionWins) {
  auto b = B(kBase + "40 06 01 00 c0 08 03 000000");
  auto u = ok(b);
  EXPECT_EQ(u.disposition, Disposition::treat_as_withdraw);
  ASSERT_EQ(u.issues.size(), 2u);
  EXPECT_EQ(u.issues[0].action, Disposition::attribute_discard);
  EXPECT_EQ(u.issues[1].action, Disposition::treat_as_withdraw);
}

TEST(WireRfc7606, TreatAsWithdrawTurnsAnnouncementsIntoWithdrawals) {
  auto b = B("40 01 01 07 " + kAsPath + kNextHop, "18 cb0071 18 c63364", "18 c00002");
  auto u = ok(b);
  ASSERT_TRUE(u.treat_as_withdraw());
  std::vector<std::string> gone, added;
  u.for_each_withdrawn([&](const WirePrefix& p) { gone.push_back(p.to_prefix().str()); });
  u.for_each_announced([&](const WirePrefix& p) { added.push_back(p.to_prefix().str()); });
  EXPECT_EQ(gone, (std::vector<std::string>{"192.0.2.0/24", "203.0.113.0/24", "198.51.100.0/24"}));
  EXPECT_TRUE(added.empty());
}

// --- Sections 4 and 5: lengths and NLRI ---------------------------------------------------------

TEST(WireRfc7606, AttributeRunningPastTheAttributeFieldIsTreatAsWithdraw) {
  auto b = B(kBase + "c0 08 08 fde90064");  // claims 8 bytes, has 4
  auto u = ok(b);
  expect_withdraw(u, attr::kCommunities, IssueReason::attribute_overrun);
  EXPECT_EQ(u.nlri.size(), 1u);  // the NLRI field is still found from the total length
  auto c = B(kBase + "c0 08");   // fewer than three bytes left
  expect_withdraw(ok(c), attr::kCommunities, IssueReason::attribute_overrun);
  auto d = B(kBase + "d0 08 00");  // extended length needs four
  expect_withdraw(ok(d), attr::kCommunities, IssueReason::attribute_overrun);
}

TEST(WireRfc7606, LengthsBeyondTheMessageResetWithMalformedAttributeList) {
  EXPECT_EQ(reset(H("0005 18cb0071")), update_error(UpdateSubcode::malformed_attribute_list));
  EXPECT_EQ(reset(H("0000 0010 40010100")), update_error(UpdateSubcode::malformed_attribute_list));
  EXPECT_EQ(reset(H("00")), update_error(UpdateSubcode::malformed_attribute_list));
}

TEST(WireRfc7606, UnparseableNlriResetsWithInvalidNetworkField) {
  auto too_long = B(kBase, "21 cb007100 ff");
  EXPECT_EQ(reset(too_long), update_error(UpdateSubcode::invalid_network_field));
  auto cut = B(kBase, "18 cb00");
  EXPECT_EQ(reset(cut), update_error(UpdateSubcode::invalid_network_field));
  auto bad_withdrawn = B("", "", "19 cb00");
  EXPECT_EQ(reset(bad_withdrawn), update_error(UpdateSubcode::invalid_network_field));
}

TEST(WireRfc7606, AttributesWithoutReachableNlriAndAnErrorResetTheSession) {
  // Section 5.2: the NLRI may have been misparsed, so treat-as-withdraw cannot be trusted.
  auto b = B("40 01 01 05 " + kAsPath + kNextHop, "");
  EXPECT_EQ(reset(b), update_error(UpdateSubcode::invalid_origin, "40010105"));
  auto w = B("40 01 01 05 " + kAsPath, "", "18 cb0071");
  EXPECT_EQ(reset(w), update_error(UpdateSubcode::invalid_origin, "40010105"));
  // Discards alone are fine.
  auto d = B(kBase + "40 06 01 00", "");
  EXPECT_EQ(ok(d).disposition, Disposition::attribute_discard);
}

TEST(WireRfc7606, UnrecognizedWellKnownAttributeResetsWithTheAttribute) {
  auto b = B(kBase + "40 63 01 00");
  EXPECT_EQ(reset(b), update_error(UpdateSubcode::unrecognized_well_known_attribute, "40630100"));
}

// --- MP_REACH_NLRI / MP_UNREACH_NLRI ------------------------------------------------------------

TEST(WireRfc7606, MalformedMpReachResetsWithOptionalAttributeError) {
  const char* bad[] = {
      "80 0e 04 0002 01 10",                                                  // shorter than 5
      "80 0e 0a 0002 01 05 2001db8000 00",                                    // IPv6 next hop of 5
      "80 0e 0a 0001 01 05 c000020100 00",                                    // IPv4 next hop of 5
      "80 0e 14 0002 01 10 20010db8000000000000000000000001",                 // no reserved byte
      "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 81 20010db8",  // /129
      "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 40 20010db8",  // runs past the end
  };
  for (const char* mp : bad) {
    auto b = B(std::string(mp) + " " + kOrigin + kAsPath, "");
    auto n = reset(b);
    EXPECT_EQ(n.code, 3) << mp;
    EXPECT_EQ(n.subcode, uint8_t(UpdateSubcode::optional_attribute_error)) << mp;
    EXPECT_EQ(to_hex(n.data), to_hex(H(mp))) << mp;
  }
}

TEST(WireRfc7606, MalformedMpUnreachResets) {
  auto b = B("80 0f 02 0002", "");
  EXPECT_EQ(reset(b).subcode, uint8_t(UpdateSubcode::optional_attribute_error));
  auto c = B("80 0f 05 0002 01 30 20", "");
  EXPECT_EQ(reset(c).subcode, uint8_t(UpdateSubcode::optional_attribute_error));
}

TEST(WireRfc7606, MpAttributeWithWrongFlagsResets) {
  auto b = B("c0 0f 03 0002 01", "");
  EXPECT_EQ(reset(b), update_error(UpdateSubcode::attribute_flags_error, "c00f03000201"));
}

TEST(WireRfc7606, MpAttributeOfAFamilyNotNegotiatedIsIgnored) {
  DecodeContext v4_only;
  v4_only.families = {true, false};
  auto b = B("80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8 " + kBase);
  auto u = ok(b, v4_only);
  EXPECT_FALSE(u.mp_reach);
  expect_discard(u, attr::kMpReachNlri, IssueReason::family_not_negotiated);
  auto vpn = B("80 0f 03 0001 80", "");  // VPNv4 End-of-RIB: not ours, but still a marker
  auto e = ok(vpn);
  EXPECT_EQ(e.end_of_rib, (AfiSafi{1, 128}));
}

TEST(WireRfc7606, MpReachWithIpv4NextHopCarriesIpv4Routes) {
  auto b = B("80 0e 0d 0001 01 04 c0000201 00 18 cb0071 " + kOrigin + kAsPath, "");
  auto u = ok(b);
  ASSERT_TRUE(u.mp_reach);
  EXPECT_EQ(u.mp_reach->afi_safi, kIpv4Unicast);
  EXPECT_EQ(u.attrs.mp_next_hop, IpAddress::parse("192.0.2.1"));
  EXPECT_EQ(u.mp_reach->nlri.size(), 1u);
}

// --- RFC 6793: AS4_PATH and AS4_AGGREGATOR ------------------------------------------------------

TEST(WireRfc7606, As4AttributesFromFourBytePeerAreDiscarded) {
  auto b = B(kBase + "c0 11 06 02 01 fa56ea01");
  auto u = ok(b);
  expect_discard(u, attr::kAs4Path, IssueReason::as4_from_four_byte_peer);
  EXPECT_EQ(u.attrs.as_path, AsPath::sequence({65001}));
}

TEST(WireRfc7606, MalformedAs4PathIsDiscardedAndAsPathUsed) {
  const std::string as_path = "40 02 04 02 01 5ba0 ";
  auto b = B(kOrigin + as_path + kNextHop + "c0 11 05 02 01 fa56ea");
  auto u = ok(b, two_byte());
  expect_discard(u, attr::kAs4Path, IssueReason::malformed_as_path);
  EXPECT_EQ(u.attrs.as_path, AsPath::sequence({kAsTrans}));
}

TEST(WireRfc7606, ConfederationSegmentsAreRemovedFromAs4Path) {
  const std::string as_path = "40 02 06 02 02 fde9 5ba0 ";
  auto b = B(kOrigin + as_path + kNextHop + "c0 11 10 03 01 0000fc00 02 02 0000fde9 fa56ea01");
  auto u = ok(b, two_byte());
  expect_discard(u, attr::kAs4Path, IssueReason::confed_in_as4_path);
  EXPECT_EQ(u.attrs.as_path, AsPath::sequence({65001, 4200000001u}));
}

TEST(WireRfc7606, As4PathLongerThanAsPathIsIgnored) {
  const std::string as_path = "40 02 04 02 01 5ba0 ";
  auto b = B(kOrigin + as_path + kNextHop + "c0 11 0a 02 02 0000fde9 fa56ea01");
  auto u = ok(b, two_byte());
  EXPECT_EQ(u.disposition, Disposition::normal);
  EXPECT_EQ(u.attrs.as_path, AsPath::sequence({kAsTrans}));
}

TEST(WireRfc7606, AggregatorWithoutAsTransMeansAs4AttributesAreIgnored) {
  const std::string as_path = "40 02 04 02 01 5ba0 ";
  auto b =
      B(kOrigin + as_path + kNextHop + "c0 07 06 fde9 c0000209 c0 11 06 02 01 fa56ea01 c0 12 08 fa56ea01 c0000209");
  auto u = ok(b, two_byte());
  EXPECT_EQ(u.attrs.as_path, AsPath::sequence({kAsTrans}));
  EXPECT_EQ(u.attrs.aggregator, (Aggregator{65001, 0xc0000209}));
}

}  // namespace
}  // namespace vane::bgp::wire
