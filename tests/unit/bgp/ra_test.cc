// Router advertisements: the RFC 4861 6.1.2 checks and every length, and the RA vaned sends.
#include <gtest/gtest.h>

#include "bgp/ra.h"
#include "bgp/wire/hex.h"

namespace vane::bgp::ra {
namespace {

IpAddress A(const char* text) {
  return *IpAddress::parse(text);
}
std::vector<uint8_t> H(const std::string& s) {
  return wire::from_hex(s).value();
}

// FRR's: hop limit 64, router lifetime 1800 s, a source link-layer option and an MTU option.
const std::string kFrrRa =
    "86 00 0000 40 00 0708 00000000 00000000"
    "01 01 020000000001"
    "05 01 0000 000005dc";

TEST(RouterAdvertisement, ValidOneIsParsed) {
  auto p = parse(H(kFrrRa), 255, A("fe80::1"));
  ASSERT_TRUE(p.ra);
  EXPECT_FALSE(p.refused);
  EXPECT_EQ(p.ra->router_lifetime, 1800);
  EXPECT_EQ(p.ra->cur_hop_limit, 64);
  EXPECT_EQ(p.ra->source_link_layer, H("020000000001"));
}

TEST(RouterAdvertisement, RoutedOrNotLinkLocalIsRefused) {
  EXPECT_EQ(parse(H(kFrrRa), 254, A("fe80::1")).refused, Refusal::hop_limit);
  EXPECT_EQ(parse(H(kFrrRa), -1, A("fe80::1")).refused, Refusal::hop_limit);  // no hop limit known
  EXPECT_EQ(parse(H(kFrrRa), 255, A("2001:db8::1")).refused, Refusal::source);
  EXPECT_EQ(parse(H(kFrrRa), 255, A("192.0.2.1")).refused, Refusal::source);
  EXPECT_FALSE(parse(H(kFrrRa), 254, A("fe80::1")).ra);
}

TEST(RouterAdvertisement, EveryLengthIsChecked) {
  const auto ll = A("fe80::1");
  // Shorter than the fixed part.
  EXPECT_EQ(parse(H("86 00 0000 40 00 0708 00000000 000000"), 255, ll).refused, Refusal::malformed);
  EXPECT_EQ(parse({}, 255, ll).refused, Refusal::malformed);
  // Not an RA, or code not 0.
  EXPECT_EQ(parse(H("85 00 0000 40 00 0708 00000000 00000000"), 255, ll).refused, Refusal::malformed);
  EXPECT_EQ(parse(H("86 01 0000 40 00 0708 00000000 00000000"), 255, ll).refused, Refusal::malformed);
  // An option of length 0 (RFC 4861 4.6: would loop forever), one past the end, a lone byte.
  EXPECT_EQ(parse(H("86 00 0000 40 00 0708 00000000 00000000 01 00 020000000001"), 255, ll).refused,
            Refusal::malformed);
  EXPECT_EQ(parse(H("86 00 0000 40 00 0708 00000000 00000000 01 02 020000000001"), 255, ll).refused,
            Refusal::malformed);
  EXPECT_EQ(parse(H("86 00 0000 40 00 0708 00000000 00000000 01"), 255, ll).refused, Refusal::malformed);
  // No options at all is fine.
  EXPECT_TRUE(parse(H("86 00 0000 40 00 0708 00000000 00000000"), 255, ll).ra);
}

// Cur Hop Limit 0 too: hosts adopt a non-zero one even from a router with lifetime 0 (RFC 4861
// 6.3.4), and the server must not set the link's hop limit for them.
TEST(RouterAdvertisement, OursHasRouterLifetimeAndHopLimitZeroGolden) {
  const std::vector<uint8_t> mac = H("02aabbccddee");
  EXPECT_EQ(wire::to_hex(build(mac)), wire::to_hex(H("86 00 0000 00 00 0000 00000000 00000000 01 01 02aabbccddee")));
  EXPECT_EQ(wire::to_hex(build({})), wire::to_hex(H("86 00 0000 00 00 0000 00000000 00000000")));
  auto back = parse(build(mac), 255, A("fe80::2"));
  ASSERT_TRUE(back.ra);
  EXPECT_EQ(back.ra->router_lifetime, 0);
  EXPECT_EQ(back.ra->cur_hop_limit, 0);
}

}  // namespace
}  // namespace vane::bgp::ra
