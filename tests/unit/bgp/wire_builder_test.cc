// The sender's packing: as few UPDATEs as the negotiated size allows, every one decodable.
#include <gtest/gtest.h>

#include <map>

#include "bgp/wire/builder.h"
#include "bgp/wire/header.h"
#include "bgp/wire/update.h"

namespace vane::bgp::wire {
namespace {

IpAddress A(const char* text) {
  return *IpAddress::parse(text);
}

std::vector<WirePrefix> v4_prefixes(size_t n, uint8_t len = 24) {
  std::vector<WirePrefix> out;
  for (size_t i = 0; i < n; ++i) out.push_back(WirePrefix::v4(uint32_t(0x0a000000 + (i << (32 - len))), len));
  return out;
}

std::vector<WirePrefix> v6_prefixes(size_t n) {
  std::vector<WirePrefix> out;
  for (size_t i = 0; i < n; ++i) {
    WirePrefix p;
    p.family = IpAddress::Family::v6;
    p.len = 48;
    p.addr = A("2001:db8::").bytes;
    p.addr[4] = uint8_t(i >> 8);
    p.addr[5] = uint8_t(i);
    out.push_back(p);
  }
  return out;
}

PathAttributes attrs() {
  PathAttributes a;
  a.as_path = AsPath::sequence({65001});
  a.next_hop = A("192.0.2.1");
  a.mp_next_hop = A("2001:db8::1");
  return a;
}

struct Split {
  std::vector<size_t> sizes;
  std::vector<WirePrefix> announced, withdrawn;
  std::vector<PathAttributes> attrs;
};

// Frames the stream back into messages and decodes each one.
Split split(const std::vector<uint8_t>& stream, size_t max) {
  Split s;
  Bytes rest = stream;
  while (!rest.empty()) {
    auto f = frame_message(rest, max);
    EXPECT_TRUE(f && f->complete);
    if (!f || !f->complete) break;
    s.sizes.push_back(f->length);
    auto u = decode_update(rest.subspan(kHeaderLength, f->length - kHeaderLength), DecodeContext{});
    EXPECT_TRUE(u);
    if (!u) break;
    EXPECT_EQ(u->disposition, Disposition::normal);
    u->for_each_announced([&](const WirePrefix& p) { s.announced.push_back(p); });
    u->for_each_withdrawn([&](const WirePrefix& p) { s.withdrawn.push_back(p); });
    s.attrs.push_back(u->attrs);
    rest = rest.subspan(f->length);
  }
  return s;
}

// Every message but the last is so full that the next prefix would not have fitted.
void expect_tightly_packed(const Split& s, size_t max, size_t prefix_size) {
  for (size_t i = 0; i + 1 < s.sizes.size(); ++i) {
    EXPECT_LE(s.sizes[i], max);
    EXPECT_GT(s.sizes[i] + prefix_size, max);
  }
  EXPECT_LE(s.sizes.back(), max);
}

TEST(WireBuilder, Ipv4PrefixesFillMessagesUpTo4096) {
  const auto prefixes = v4_prefixes(3000);
  std::vector<uint8_t> out;
  auto n = encode_announce(attrs(), prefixes, EncodeContext{}, out);
  ASSERT_TRUE(n);
  // 23 header bytes, 20 of attributes, then 4 per /24: 1013 per message.
  EXPECT_EQ(*n, 3u);
  auto s = split(out, 4096);
  EXPECT_EQ(s.sizes.size(), 3u);
  EXPECT_EQ(s.announced, prefixes);
  expect_tightly_packed(s, 4096, 4);
  for (const auto& a : s.attrs) {
    EXPECT_EQ(a.as_path, attrs().as_path);
    EXPECT_EQ(a.next_hop, attrs().next_hop);
  }
}

TEST(WireBuilder, ExtendedMessagesTakeUpTo65535) {
  const auto prefixes = v4_prefixes(20000);
  EncodeContext ctx;
  ctx.extended_message = true;
  std::vector<uint8_t> out;
  auto n = encode_announce(attrs(), prefixes, ctx, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);  // 16373 /24s per message
  auto s = split(out, 65535);
  EXPECT_EQ(s.announced, prefixes);
  expect_tightly_packed(s, 65535, 4);
}

TEST(WireBuilder, Ipv6PrefixesGoInMpReachFirst) {
  const auto prefixes = v6_prefixes(2000);
  std::vector<uint8_t> out;
  auto n = encode_announce(attrs(), prefixes, EncodeContext{}, out);
  ASSERT_TRUE(n);
  auto s = split(out, 4096);
  EXPECT_EQ(s.sizes.size(), *n);
  EXPECT_EQ(s.announced, prefixes);
  expect_tightly_packed(s, 4096, 7);
  // MP_REACH_NLRI is the first attribute of every message (RFC 7606 5.1).
  size_t at = 0;
  for (size_t size : s.sizes) {
    EXPECT_EQ(out[at + kHeaderLength + 4 + 1], attr::kMpReachNlri);
    at += size;
  }
  for (const auto& a : s.attrs) {
    EXPECT_EQ(a.mp_next_hop, A("2001:db8::1"));
    EXPECT_FALSE(a.next_hop);  // NEXT_HOP is not sent with MP_REACH_NLRI only
  }
}

TEST(WireBuilder, MixedFamiliesAreSplitByFamily) {
  auto prefixes = v4_prefixes(3);
  auto six = v6_prefixes(2);
  prefixes.insert(prefixes.begin() + 1, six.begin(), six.end());
  std::vector<uint8_t> out;
  auto n = encode_announce(attrs(), prefixes, EncodeContext{}, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  auto s = split(out, 4096);
  ASSERT_EQ(s.announced.size(), 5u);
  EXPECT_TRUE(s.announced[0].is_v4());
  EXPECT_FALSE(s.announced[4].is_v4());
}

TEST(WireBuilder, WithdrawalsArePackedToo) {
  auto prefixes = v4_prefixes(2000);
  auto six = v6_prefixes(1000);
  prefixes.insert(prefixes.end(), six.begin(), six.end());
  std::vector<uint8_t> out;
  auto n = encode_withdraw(prefixes, EncodeContext{}, out);
  ASSERT_TRUE(n);
  auto s = split(out, 4096);
  EXPECT_EQ(s.sizes.size(), *n);
  EXPECT_EQ(s.withdrawn, prefixes);
  EXPECT_TRUE(s.announced.empty());
  // 2000 x 4 bytes in 4073-byte fields: 2 messages; 1000 x 7 in 4066-byte fields: 2 messages.
  EXPECT_EQ(*n, 4u);
}

TEST(WireBuilder, NothingToSendIsNoMessages) {
  std::vector<uint8_t> out;
  EXPECT_EQ(encode_announce(attrs(), {}, EncodeContext{}, out).value(), 0u);
  EXPECT_EQ(encode_withdraw({}, EncodeContext{}, out).value(), 0u);
  EXPECT_TRUE(out.empty());
}

TEST(WireBuilder, MissingOrWrongNextHopIsRefused) {
  std::vector<uint8_t> out;
  auto a = attrs();
  a.next_hop.reset();
  EXPECT_EQ(encode_announce(a, v4_prefixes(1), EncodeContext{}, out).error(), EncodeError::missing_next_hop);
  a = attrs();
  a.next_hop = A("2001:db8::1");
  EXPECT_EQ(encode_announce(a, v4_prefixes(1), EncodeContext{}, out).error(), EncodeError::next_hop_family);
  a = attrs();
  a.mp_next_hop.reset();
  EXPECT_EQ(encode_announce(a, v6_prefixes(1), EncodeContext{}, out).error(), EncodeError::missing_next_hop);
  a = attrs();
  a.mp_next_hop = A("192.0.2.1");
  EXPECT_EQ(encode_announce(a, v6_prefixes(1), EncodeContext{}, out).error(), EncodeError::next_hop_family);
  // An error part way leaves nothing behind, not even the IPv4 messages already built.
  auto mixed = v4_prefixes(2);
  auto six = v6_prefixes(1);
  mixed.insert(mixed.end(), six.begin(), six.end());
  a = attrs();
  a.mp_next_hop.reset();
  EXPECT_FALSE(encode_announce(a, mixed, EncodeContext{}, out));
  EXPECT_TRUE(out.empty());
}

TEST(WireBuilder, AttributesTooLargeForTheMessageAreRefused) {
  auto a = attrs();
  for (uint32_t i = 0; i < 1100; ++i) a.communities.push_back(community::make(65001, uint16_t(i)));
  std::vector<uint8_t> out;
  EXPECT_EQ(encode_announce(a, v4_prefixes(1), EncodeContext{}, out).error(), EncodeError::attributes_too_large);
  EXPECT_EQ(encode_announce(a, v6_prefixes(1), EncodeContext{}, out).error(), EncodeError::attributes_too_large);
  EXPECT_TRUE(out.empty());
  EncodeContext big;
  big.extended_message = true;
  EXPECT_TRUE(encode_announce(a, v4_prefixes(1), big, out));
}

TEST(WireBuilder, PrefixLongerThanItsFamilyIsRefused) {
  auto p = v4_prefixes(1);
  p[0].len = 33;
  std::vector<uint8_t> out;
  EXPECT_EQ(encode_announce(attrs(), p, EncodeContext{}, out).error(), EncodeError::invalid_prefix);
  EXPECT_EQ(encode_withdraw(p, EncodeContext{}, out).error(), EncodeError::invalid_prefix);
}

TEST(WireBuilder, AttributeSetsGroupPrefixesInAMap) {
  // What a speaker does: one map entry per distinct attribute set, one encode per entry.
  std::map<PathAttributes, std::vector<WirePrefix>> groups;
  auto plain = attrs();
  auto shut = attrs();
  shut.communities = {community::kGracefulShutdown, community::make(65001, 1)};
  auto shut_reordered = attrs();
  shut_reordered.communities = {community::make(65001, 1), community::kGracefulShutdown};
  shut.canonicalize();
  shut_reordered.canonicalize();
  auto p = v4_prefixes(3);
  groups[plain].push_back(p[0]);
  groups[shut].push_back(p[1]);
  groups[shut_reordered].push_back(p[2]);
  EXPECT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[shut].size(), 2u);
  std::vector<uint8_t> out;
  size_t messages = 0;
  for (const auto& [a, prefixes] : groups) messages += encode_announce(a, prefixes, EncodeContext{}, out).value();
  EXPECT_EQ(messages, 2u);
}

}  // namespace
}  // namespace vane::bgp::wire
