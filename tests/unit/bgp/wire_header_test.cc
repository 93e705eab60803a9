// Framing and the three kinds of message that are little more than a header: KEEPALIVE,
// NOTIFICATION and ROUTE-REFRESH.
#include <gtest/gtest.h>

#include <string>

#include "bgp/wire/header.h"
#include "bgp/wire/hex.h"
#include "bgp/wire/message.h"
#include "bgp/wire/notification.h"
#include "bgp/wire/route_refresh.h"

namespace vane::bgp::wire {
namespace {

const std::string kMarker = "ffffffffffffffffffffffffffffffff";

std::vector<uint8_t> H(const std::string& s) {
  auto v = from_hex(s);
  EXPECT_TRUE(v.has_value()) << s;
  return v.value_or(std::vector<uint8_t>{});
}

Notification header_error(HeaderSubcode sub, const std::string& data = "") {
  return Notification::make(ErrorCode::header, sub, H(data));
}

TEST(WireHeader, KeepaliveIsABareHeader) {
  EXPECT_EQ(to_hex(encode_keepalive()), kMarker +
                                            "0013"
                                            "04");
}

TEST(WireHeader, FewerThanNineteenBytesAsksForMore) {
  auto f = frame_message(H(kMarker + "00"), kMaxMessageLength);
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->complete);
  EXPECT_EQ(f->length, 0u);
}

TEST(WireHeader, WholeMessageIsReportedWithItsLengthAndType) {
  auto buf = H(kMarker + "0013 04" + kMarker + "0017 02 0000 0000");
  auto f = frame_message(buf, kMaxMessageLength);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->complete);
  EXPECT_EQ(f->length, 19u);
  EXPECT_EQ(f->type, MessageType::keepalive);
  auto g = frame_message(Bytes(buf).subspan(19), kMaxMessageLength);
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->complete);
  EXPECT_EQ(g->length, 23u);
  EXPECT_EQ(g->type, MessageType::update);
}

TEST(WireHeader, PartialBodyTellsHowMuchToRead) {
  auto f = frame_message(H(kMarker + "001e 02 0000 00"), kMaxMessageLength);
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->complete);
  EXPECT_EQ(f->length, 30u);
}

TEST(WireHeader, BadMarkerIsConnectionNotSynchronizedAsSoonAsSeen) {
  auto f = frame_message(H("ffff00"), kMaxMessageLength);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), header_error(HeaderSubcode::connection_not_synchronized));
  EXPECT_EQ(to_hex(encode_notification(f.error())), kMarker + "0015030101");
}

TEST(WireHeader, LengthBelowNineteenIsBadLengthWithTheLength) {
  auto f = frame_message(H(kMarker + "0012 04"), kMaxMessageLength);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), header_error(HeaderSubcode::bad_message_length, "0012"));
  EXPECT_EQ(to_hex(encode_notification(f.error())), kMarker + "00170301020012");
}

TEST(WireHeader, LengthAbove4096NeedsExtendedMessages) {
  auto buf = H(kMarker + "1001 02");
  auto f = frame_message(buf, kMaxMessageLength);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), header_error(HeaderSubcode::bad_message_length, "1001"));
  auto g = frame_message(buf, kMaxExtendedMessageLength);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->length, 4097u);
  EXPECT_FALSE(g->complete);
}

TEST(WireHeader, OpenAndKeepaliveIgnoreExtendedMessages) {
  auto open = frame_message(H(kMarker + "1001 01"), kMaxExtendedMessageLength);
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error(), header_error(HeaderSubcode::bad_message_length, "1001"));
  auto ka = frame_message(H(kMarker + "0014 04 00"), kMaxExtendedMessageLength);
  ASSERT_FALSE(ka);
  EXPECT_EQ(ka.error(), header_error(HeaderSubcode::bad_message_length, "0014"));
}

TEST(WireHeader, EachTypeHasAMinimumLength) {
  const std::pair<std::string, std::string> cases[] = {
      {"001c 01", "001c"},  // OPEN < 29
      {"0016 02", "0016"},  // UPDATE < 23
      {"0014 03", "0014"},  // NOTIFICATION < 21
      {"0016 05", "0016"},  // ROUTE-REFRESH < 23
  };
  for (const auto& [hdr, len] : cases) {
    auto f = frame_message(H(kMarker + hdr), kMaxMessageLength);
    ASSERT_FALSE(f) << hdr;
    EXPECT_EQ(f.error(), header_error(HeaderSubcode::bad_message_length, len)) << hdr;
  }
}

TEST(WireHeader, UnknownTypeIsBadTypeWithTheType) {
  for (const char* t : {"00", "06", "ff"}) {
    auto f = frame_message(H(kMarker + "0013" + t), kMaxMessageLength);
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error(), header_error(HeaderSubcode::bad_message_type, t));
  }
}

TEST(WireNotification, EncodesCodeSubcodeAndData) {
  EXPECT_EQ(to_hex(encode_notification(Notification::make(ErrorCode::hold_timer_expired, 0))), kMarker + "0015030400");
  EXPECT_EQ(
      to_hex(encode_notification(Notification::make(ErrorCode::open, OpenSubcode::unsupported_version, H("0004")))),
      kMarker + "00170302010004");
}

TEST(WireNotification, DecodesAnyCodeWithItsData) {
  auto n = decode_notification(H("0302 4001"));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->code, 3);
  EXPECT_EQ(n->subcode, 2);
  EXPECT_EQ(to_hex(n->data), "4001");
  auto odd = decode_notification(H("ee77"));
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->code, 0xee);
  EXPECT_TRUE(odd->data.empty());
}

TEST(WireNotification, DataIsCutSoTheMessageFits4096) {
  std::vector<uint8_t> big(5000, 0xab);
  auto n = Notification::make(ErrorCode::update, UpdateSubcode::optional_attribute_error, big);
  EXPECT_EQ(n.data.size(), 4096u - 21);
  EXPECT_EQ(encode_notification(n).size(), 4096u);
}

TEST(WireNotification, ShutdownCommunicationGolden) {
  auto n = make_shutdown(CeaseSubcode::administrative_shutdown, "maintenance");
  EXPECT_EQ(to_hex(encode_notification(n)), kMarker +
                                                "00210306020b"
                                                "6d61696e74656e616e6365");
  auto back = decode_notification(Bytes(encode_notification(n)).subspan(19));
  ASSERT_TRUE(back);
  auto text = shutdown_communication(*back);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "maintenance");
}

TEST(WireNotification, AdministrativeResetCarriesACommunicationToo) {
  auto n = make_shutdown(CeaseSubcode::administrative_reset, "new ASN");
  EXPECT_EQ(to_hex(n.data),
            "07"
            "6e65772041534e");
  EXPECT_EQ(n.subcode, 4);
  EXPECT_EQ(shutdown_communication(n).value(), "new ASN");
}

TEST(WireNotification, ShutdownCommunicationIsCutAt255BytesOnACharacterBoundary) {
  auto n = make_shutdown(CeaseSubcode::administrative_shutdown, std::string(300, 'a'));
  EXPECT_EQ(n.data[0], 255);
  EXPECT_EQ(n.data.size(), 256u);
  // 254 ASCII bytes then a two-byte character straddling the limit: the character goes whole.
  auto m = make_shutdown(CeaseSubcode::administrative_shutdown, std::string(254, 'a') + "\xc3\xa9");
  EXPECT_EQ(m.data[0], 254);
  EXPECT_TRUE(shutdown_communication(m).has_value());
}

TEST(WireNotification, BrokenShutdownCommunicationsAreReportedNotShown) {
  Notification n = Notification::make(ErrorCode::cease, CeaseSubcode::administrative_shutdown, H("0c 6162"));
  EXPECT_EQ(shutdown_communication(n).error(), ShutdownCommunicationError::bad_length);
  n.data = H("02 c0af");  // overlong encoding of '/'
  EXPECT_EQ(shutdown_communication(n).error(), ShutdownCommunicationError::bad_utf8);
  n.data.clear();  // from a speaker that predates RFC 8203
  EXPECT_EQ(shutdown_communication(n).value(), "");
  EXPECT_EQ(
      shutdown_communication(Notification::make(ErrorCode::cease, CeaseSubcode::peer_deconfigured, H("0161"))).value(),
      "");
}

TEST(WireNotification, Utf8ValidationFollowsRfc3629) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("h\xc3\xa9llo"));
  EXPECT_TRUE(is_valid_utf8("\xe6\x97\xa5\xe6\x9c\xac"));
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe6\x97"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\x80"));              // stray continuation
}

TEST(WireNotification, MaxPrefixesCarriesFamilyAndLimit) {
  auto n = make_max_prefixes(kIpv4Unicast, 1000);
  EXPECT_EQ(to_hex(encode_notification(n)), kMarker + "001c030601000101000003e8");
}

TEST(WireNotification, DescribeNamesCodeAndSubcode) {
  EXPECT_EQ(describe(make_shutdown(CeaseSubcode::administrative_shutdown, "")), "Cease / Administrative Shutdown");
  EXPECT_EQ(describe(Notification::make(ErrorCode::update, UpdateSubcode::malformed_as_path)),
            "UPDATE Message Error / Malformed AS_PATH");
  EXPECT_EQ(describe(Notification::make(ErrorCode::hold_timer_expired, 0)), "Hold Timer Expired");
  Notification odd;
  odd.code = 99;
  odd.subcode = 7;
  EXPECT_EQ(describe(odd), "Error Code 99 / subcode 7");
}

TEST(WireRouteRefresh, RequestGolden) {
  RouteRefresh rr{kIpv4Unicast, 0};
  EXPECT_EQ(to_hex(encode_route_refresh(rr)), kMarker + "00170500010001");
  auto back = decode_route_refresh(H("0001 00 01"));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, rr);
}

TEST(WireRouteRefresh, EnhancedBeginAndEndGolden) {
  RouteRefresh borr{kIpv6Unicast, uint8_t(RouteRefreshSubtype::begin)};
  RouteRefresh eorr{kIpv6Unicast, uint8_t(RouteRefreshSubtype::end)};
  EXPECT_EQ(to_hex(encode_route_refresh(borr)), kMarker + "00170500020101");
  EXPECT_EQ(to_hex(encode_route_refresh(eorr)), kMarker + "00170500020201");
  EXPECT_EQ(decode_route_refresh(H("0002 01 01")).value(), borr);
  EXPECT_EQ(decode_route_refresh(H("0002 02 01")).value(), eorr);
}

TEST(WireRouteRefresh, LongBeginOrEndIsInvalidLengthWithTheWholeMessage) {
  auto r = decode_route_refresh(H("0001 01 01 00"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 7);
  EXPECT_EQ(r.error().subcode, 1);
  EXPECT_EQ(to_hex(r.error().data), kMarker + "0018050001010100");
}

TEST(WireRouteRefresh, UnknownSubtypeDecodesButIsMarkedForIgnoring) {
  auto r = decode_route_refresh(H("0001 03 01"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->known_subtype());
  // A plain request followed by ORF entries is still a request.
  auto orf = decode_route_refresh(H("0001 00 01 01 0203"));
  ASSERT_TRUE(orf);
  EXPECT_TRUE(orf->known_subtype());
}

TEST(WireMessage, DecodesEachTypeThroughOneEntryPoint) {
  DecodeContext ctx;
  auto ka = decode_message(H(kMarker + "0013 04"), ctx);
  ASSERT_TRUE(ka);
  EXPECT_TRUE(std::holds_alternative<Keepalive>(*ka));
  auto n = decode_message(H(kMarker + "0015 03 0602"), ctx);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::get<Notification>(*n).subcode, 2);
  auto rr = decode_message(H(kMarker + "0017 05 0002 00 01"), ctx);
  ASSERT_TRUE(rr);
  EXPECT_EQ(std::get<RouteRefresh>(*rr).afi_safi, kIpv6Unicast);
  auto eor = decode_message(H(kMarker + "0017 02 0000 0000"), ctx);
  ASSERT_TRUE(eor);
  EXPECT_EQ(std::get<Update>(*eor).end_of_rib, kIpv4Unicast);
  auto cut = decode_message(H(kMarker + "0017 02 0000"), ctx);
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().subcode, uint8_t(HeaderSubcode::bad_message_length));
}

// RFC 8654 section 4: once extended messages are in use every message but OPEN and KEEPALIVE may
// reach 65535 bytes; without them 4096 is the most.
TEST(WireMessage, ExtendedMessagesRaiseEveryLimitButOpenAndKeepalive) {
  auto sized = [](MessageType type, size_t len, std::vector<uint8_t> head) {
    std::vector<uint8_t> m(len, 0);
    std::fill_n(m.begin(), kMarkerLength, 0xff);
    m[16] = uint8_t(len >> 8);
    m[17] = uint8_t(len);
    m[18] = uint8_t(type);
    std::copy(head.begin(), head.end(), m.begin() + 19);
    return m;
  };
  DecodeContext plain, extended;
  extended.extended_message = true;
  const std::vector<uint8_t> rr_head{0, 1, 0, 1}, notif_head{6, 6};
  for (auto [type, head] :
       {std::pair{MessageType::route_refresh, rr_head}, std::pair{MessageType::notification, notif_head}}) {
    EXPECT_TRUE(decode_message(sized(type, 4096, head), plain)) << int(type);
    auto over = decode_message(sized(type, 4097, head), plain);
    ASSERT_FALSE(over) << int(type);
    EXPECT_EQ(over.error(), header_error(HeaderSubcode::bad_message_length, "1001"));
    EXPECT_TRUE(decode_message(sized(type, 4097, head), extended)) << int(type);
    EXPECT_TRUE(decode_message(sized(type, 65535, head), extended)) << int(type);
  }
  auto n = decode_message(sized(MessageType::notification, 65535, notif_head), extended);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::get<Notification>(*n).data.size(), 65535u - 21);
  // OPEN stays at 4096 and KEEPALIVE at 19, whatever was negotiated.
  auto open = decode_message(sized(MessageType::open, 4097, {4}), extended);
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error(), header_error(HeaderSubcode::bad_message_length, "1001"));
  auto ka = decode_message(sized(MessageType::keepalive, 20, {}), extended);
  ASSERT_FALSE(ka);
  EXPECT_EQ(ka.error(), header_error(HeaderSubcode::bad_message_length, "0014"));
}

}  // namespace
}  // namespace vane::bgp::wire
