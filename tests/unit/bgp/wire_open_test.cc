// OPEN, capabilities, the RFC 4271 6.2 checks and capability negotiation.
#include <gtest/gtest.h>

#include <string>

#include "bgp/wire/hex.h"
#include "bgp/wire/open.h"

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
Bytes body(const std::vector<uint8_t>& msg) {
  return Bytes(msg).subspan(19);
}

Capabilities typical_caps() {
  Capabilities c;
  c.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
  c.route_refresh = true;
  c.enhanced_route_refresh = true;
  return c;
}

// AS 65001, hold 90, id 192.0.2.1; MP IPv4 + IPv6 unicast, route refresh, 4-byte AS, enhanced RR.
const std::string kTypicalOpen = kMarker +
                                 "0035 01"
                                 "04 fde9 005a c0000201 18"
                                 "02 16"
                                 "01 04 0001 00 01"
                                 "01 04 0002 00 01"
                                 "02 00"
                                 "41 04 0000fde9"
                                 "46 00";

TEST(WireOpen, TypicalOpenEncodesToGoldenBytes) {
  auto m = OpenMessage::make(65001, 90, 0xc0000201, typical_caps());
  EXPECT_EQ(to_hex(encode_open(m)), N(kTypicalOpen));
}

TEST(WireOpen, TypicalOpenDecodesFromGoldenBytes) {
  auto m = decode_open(body(H(kTypicalOpen)));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->version, 4);
  EXPECT_EQ(m->my_as, 65001);
  EXPECT_EQ(m->asn(), 65001u);
  EXPECT_EQ(m->hold_time, 90);
  EXPECT_EQ(m->bgp_id, 0xc0000201u);
  EXPECT_EQ(m->caps.multiprotocol, (std::vector<AfiSafi>{kIpv4Unicast, kIpv6Unicast}));
  EXPECT_TRUE(m->caps.route_refresh);
  EXPECT_TRUE(m->caps.enhanced_route_refresh);
  EXPECT_FALSE(m->caps.extended_message);
  EXPECT_EQ(m->caps.four_byte_as, 65001u);
  EXPECT_FALSE(m->caps.graceful_restart);
  EXPECT_EQ(*m, OpenMessage::make(65001, 90, 0xc0000201, typical_caps()));
}

TEST(WireOpen, FourByteAsnGoesInTheCapabilityWithAsTransInTheHeader) {
  const std::string golden = kMarker + "0025 01 04 5ba0 00b4 c0000202 08 02 06 41 04 fa56ea01";
  auto m = OpenMessage::make(4200000001u, 180, 0xc0000202, {});
  EXPECT_EQ(m.my_as, kAsTrans);
  EXPECT_EQ(to_hex(encode_open(m)), N(golden));
  auto back = decode_open(body(H(golden)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->asn(), 4200000001u);
}

TEST(WireOpen, GracefulRestartAndExtendedMessageGolden) {
  Capabilities c;
  c.extended_message = true;
  GracefulRestart gr;
  gr.flags = GracefulRestart::kRestartState | GracefulRestart::kNotification;
  gr.restart_time = 120;
  gr.families = {{kIpv4Unicast, GracefulRestart::kForwardingPreserved}, {kIpv6Unicast, 0}};
  c.graceful_restart = gr;
  const std::string golden = kMarker +
                             "0033 01 04 fde9 005a c0000201 16 02 14"
                             "06 00"
                             "40 0a c078 0001 01 80 0002 01 00"
                             "41 04 0000fde9";
  EXPECT_EQ(to_hex(encode_open(OpenMessage::make(65001, 90, 0xc0000201, c))), N(golden));
  auto m = decode_open(body(H(golden)));
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->caps.graceful_restart);
  EXPECT_TRUE(m->caps.graceful_restart->restart_state());
  EXPECT_EQ(m->caps.graceful_restart->flags, 0xc);
  EXPECT_EQ(m->caps.graceful_restart->restart_time, 120);
  ASSERT_EQ(m->caps.graceful_restart->families.size(), 2u);
  EXPECT_TRUE(m->caps.graceful_restart->families[0].forwarding_preserved());
  EXPECT_FALSE(m->caps.graceful_restart->families[1].forwarding_preserved());
  EXPECT_TRUE(m->caps.extended_message);
}

TEST(WireOpen, UnknownCapabilitiesAreKeptRawAndIgnored) {
  // FQDN (73) and an unassigned 200, spread over two optional parameters.
  const std::string golden = kMarker + "0029 01 04 fde9 005a c0000201 0c 02 04 49 02 0102 02 04 c8 02 aabb";
  auto m = decode_open(body(H(golden)));
  ASSERT_TRUE(m);
  ASSERT_EQ(m->caps.unknown.size(), 2u);
  EXPECT_EQ(m->caps.unknown[0], (RawCapability{73, {1, 2}}));
  EXPECT_EQ(m->caps.unknown[1], (RawCapability{200, {0xaa, 0xbb}}));
  EXPECT_FALSE(m->caps.four_byte_as);
  EXPECT_EQ(to_hex(encode_open(*m)), N(kMarker + "0027 01 04 fde9 005a c0000201 0a 02 08 49 02 0102 c8 02 aabb"));
}

TEST(WireOpen, ExtendedOptionalParametersLengthIsDecoded) {
  // RFC 9072: Non-Ext OP Len 255, Non-Ext OP Type 255, then two-byte lengths.
  const std::string golden = kMarker + "002b 01 04 fde9 005a c0000201 ff ff 000b 02 0008 0200 41040000fde9";
  auto m = decode_open(body(H(golden)));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->caps.route_refresh);
  EXPECT_EQ(m->caps.four_byte_as, 65001u);
  // The one-byte length is ignored once the type says extended (RFC 9072 3).
  auto odd = decode_open(body(H(kMarker + "002b 01 04 fde9 005a c0000201 0d ff 000b 02 0008 0200 41040000fde9")));
  ASSERT_TRUE(odd);
  EXPECT_EQ(*odd, *m);
}

TEST(WireOpen, ParametersOver255BytesUseTheExtendedEncoding) {
  Capabilities c;
  c.unknown = {{200, std::vector<uint8_t>(200, 1)}, {201, std::vector<uint8_t>(200, 2)}};
  auto m = OpenMessage::make(65001, 90, 0xc0000201, c);
  auto wire = encode_open(m);
  EXPECT_EQ(wire[28], 0xff);
  EXPECT_EQ(wire[29], 0xff);
  EXPECT_EQ(wire.size(), 19u + 13 + 3 + 404 + 6);
  auto back = decode_open(body(wire));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, m);
}

TEST(WireOpen, VersionOtherThanFourIsRefusedWithOurVersion) {
  auto m = decode_open(H("03 fde9 005a c0000201 00"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error(), Notification::make(ErrorCode::open, OpenSubcode::unsupported_version, H("0004")));
}

TEST(WireOpen, NonCapabilityParameterIsUnsupported) {
  auto m = decode_open(H("04 fde9 005a c0000201 04 01 02 aabb"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error(), Notification::make(ErrorCode::open, OpenSubcode::unsupported_optional_parameter));
}

TEST(WireOpen, LengthsThatDoNotAddUpAreUnspecificOpenErrors) {
  const Notification unspecific = Notification::make(ErrorCode::open, OpenSubcode::unspecific);
  EXPECT_EQ(decode_open(H("04 fde9 005a c0000201 05 02 03 0104")).error(), unspecific);     // param overrun
  EXPECT_EQ(decode_open(H("04 fde9 005a c0000201 04 02 02 0104 00")).error(), unspecific);  // optlen short
  EXPECT_EQ(decode_open(H("04 fde9 005a c0000201 05 02 03 0103 00")).error(), unspecific);  // MP cap of 3 bytes
  EXPECT_EQ(decode_open(H("04 fde9 005a c0000201 04 02 02 0201")).error(), unspecific);     // RR with a value
  EXPECT_EQ(decode_open(H("04 fde9 005a c0000201 06 02 04 4002 0000 ff")).error(), unspecific);
  EXPECT_EQ(decode_open(H("04 fde9 005a c0000201 ff ff 00")).error(), unspecific);  // extended, no length
}

TEST(WireOpen, ChecksHoldTimeIdentifierAndPeerAs) {
  auto m = OpenMessage::make(65001, 90, 0xc0000201, {});
  OpenCheck check{65001, 0xc0000209, false};
  EXPECT_FALSE(check_open(m, check));
  for (uint16_t bad : {1, 2}) {
    auto h = m;
    h.hold_time = bad;
    EXPECT_EQ(check_open(h, check), Notification::make(ErrorCode::open, OpenSubcode::unacceptable_hold_time));
  }
  for (uint16_t good : {0, 3}) {
    auto h = m;
    h.hold_time = good;
    EXPECT_FALSE(check_open(h, check));
  }
  auto zero_id = m;
  zero_id.bgp_id = 0;
  EXPECT_EQ(check_open(zero_id, check), Notification::make(ErrorCode::open, OpenSubcode::bad_bgp_identifier));
  auto same_id = m;
  same_id.bgp_id = check.local_bgp_id;
  EXPECT_FALSE(check_open(same_id, check));  // fine from an external peer
  EXPECT_EQ(check_open(same_id, {65001, 0xc0000209, true}),
            Notification::make(ErrorCode::open, OpenSubcode::bad_bgp_identifier));
  EXPECT_EQ(check_open(m, {65002, 0xc0000209, false}), Notification::make(ErrorCode::open, OpenSubcode::bad_peer_as));
  EXPECT_EQ(check_open(OpenMessage::make(0, 90, 1, {}), {std::nullopt, 2, false}),
            Notification::make(ErrorCode::open, OpenSubcode::bad_peer_as));
  EXPECT_FALSE(check_open(OpenMessage::make(4200000001u, 90, 1, {}), {4200000001u, 2, false}));
}

TEST(WireOpen, NegotiationIntersectsWhatBothSidesAdvertised) {
  Capabilities local = typical_caps();
  local.extended_message = true;
  Capabilities remote;
  remote.multiprotocol = {kIpv6Unicast};
  remote.route_refresh = true;
  auto n = negotiate(OpenMessage::make(65001, 90, 1, local), OpenMessage::make(4200000001u, 30, 2, remote));
  EXPECT_EQ(n.peer_asn, 4200000001u);
  EXPECT_EQ(n.hold_time, 30);
  EXPECT_TRUE(n.four_byte_as);
  EXPECT_TRUE(n.receive_extended);
  EXPECT_FALSE(n.send_extended);
  EXPECT_TRUE(n.route_refresh);
  EXPECT_FALSE(n.enhanced_route_refresh);
  EXPECT_EQ(n.families, (AfiSafiSet{false, true}));
  auto d = n.decode_context(true);
  EXPECT_EQ(d.max_message_length(), 65535u);
  EXPECT_TRUE(d.four_byte_as);
  EXPECT_EQ(n.encode_context(true).max_message_length(), 4096u);
}

TEST(WireOpen, PeerWithoutMultiprotocolSpeaksIpv4UnicastOnly) {
  OpenMessage old;
  old.my_as = 65002;
  old.hold_time = 90;
  old.bgp_id = 2;
  auto n = negotiate(OpenMessage::make(65001, 90, 1, typical_caps()), old);
  EXPECT_EQ(n.families, (AfiSafiSet{true, false}));
  EXPECT_FALSE(n.four_byte_as);
  EXPECT_EQ(n.peer_asn, 65002u);
  EXPECT_FALSE(n.decode_context(true).four_byte_as);
}

}  // namespace
}  // namespace vane::bgp::wire
