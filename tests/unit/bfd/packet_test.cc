// The BFD codec on golden packets laid out by hand from RFC 5880 §4, and every length check of
// §6.8.6.
#include <gtest/gtest.h>

#include "bfd/auth.h"
#include "bfd/packet.h"

namespace vane::bfd {
namespace {

using V = std::vector<uint8_t>;

// Down, diag 0, mult 3, My 1, Your 0, tx 1 s, rx 100 ms, echo 0.
const V kDown = {0x20, 0x40, 0x03, 0x18, 0,    0,    0,    1,    0, 0, 0, 0,
                 0x00, 0x0f, 0x42, 0x40, 0x00, 0x01, 0x86, 0xa0, 0, 0, 0, 0};

// Up with Poll, diag 3 (neighbor signaled down), mult 5, My 0x11223344, Your 0x55667788,
// tx 300 ms, rx 50 ms, echo 7.
const V kUpPoll = {0x23, 0xe0, 0x05, 0x18, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                   0x00, 0x04, 0x93, 0xe0, 0x00, 0x00, 0xc3, 0x50, 0,    0,    0,    7};

// Up (A bit) with keyed SHA1, key id 7, sequence 0x01020304, key "secret"; the hash was computed
// with Python's hashlib over the packet with the key (zero-padded to 20 bytes) in the hash field.
V sha1_golden() {
  V v = {0x20, 0xc4, 0x03, 52,   0, 0, 0, 1, 0, 0,  0, 2, 0x00, 0x01, 0x86, 0xa0,
         0x00, 0x01, 0x86, 0xa0, 0, 0, 0, 0, 4, 28, 7, 0, 1,    2,    3,    4};
  const char* hex = "92cac569e0de63bfce43ffe5f05423b4523f4431";
  for (int i = 0; i < 20; i++) v.push_back(uint8_t(std::stoi(std::string(hex + 2 * i, 2), nullptr, 16)));
  return v;
}

TEST(BfdPacket, DecodesDown) {
  auto p = decode(kDown);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->state, State::Down);
  EXPECT_EQ(p->diag, Diag::None);
  EXPECT_EQ(p->detect_mult, 3);
  EXPECT_EQ(p->my_discr, 1u);
  EXPECT_EQ(p->your_discr, 0u);
  EXPECT_EQ(p->desired_min_tx_us, 1000000u);
  EXPECT_EQ(p->required_min_rx_us, 100000u);
  EXPECT_FALSE(p->poll || p->final || p->has_auth || p->demand || p->cpi);
  EXPECT_EQ(encode(*p), kDown);
}

TEST(BfdPacket, DecodesUpPoll) {
  auto p = decode(kUpPoll);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->state, State::Up);
  EXPECT_EQ(p->diag, Diag::NeighborSignaledDown);
  EXPECT_TRUE(p->poll);
  EXPECT_FALSE(p->final);
  EXPECT_EQ(p->detect_mult, 5);
  EXPECT_EQ(p->my_discr, 0x11223344u);
  EXPECT_EQ(p->your_discr, 0x55667788u);
  EXPECT_EQ(p->desired_min_tx_us, 300000u);
  EXPECT_EQ(p->required_min_rx_us, 50000u);
  EXPECT_EQ(p->required_min_echo_rx_us, 7u);
  EXPECT_EQ(encode(*p), kUpPoll);
}

TEST(BfdPacket, FlagsRoundTrip) {
  Packet p;
  p.state = State::Init;
  p.final = true;
  p.cpi = true;
  p.demand = true;
  p.my_discr = 9;
  auto w = encode(p);
  EXPECT_EQ(w[1], 0x80 | 0x10 | 0x08 | 0x02);
  auto back = decode(w);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, p);
}

TEST(BfdPacket, PaddingPastLengthIgnored) {
  V v = kDown;
  v.push_back(0xff);
  auto p = decode(v);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->my_discr, 1u);
}

TEST(BfdPacket, RefusesWhatRfc5880Refuses) {
  auto err = [](V v) {
    auto p = decode(v);
    return p ? std::string("ok") : std::string(error_name(p.error()));
  };
  for (size_t n = 0; n < kDown.size(); n++) EXPECT_EQ(err(V(kDown.begin(), kDown.begin() + long(n))), "too short") << n;
  V v = kDown;
  v[0] = 0x40;  // version 2
  EXPECT_EQ(err(v), "bad version");
  v = kDown;
  v[0] = 0x00;  // version 0
  EXPECT_EQ(err(v), "bad version");
  v = kDown;
  v[3] = 23;
  EXPECT_EQ(err(v), "bad length");
  v = kDown;
  v[3] = 25;  // beyond the payload
  EXPECT_EQ(err(v), "too short");
  v.push_back(0);  // within the payload, but no field for the byte
  EXPECT_EQ(err(v), "bad length");
  v = kDown;
  v[2] = 0;
  EXPECT_EQ(err(v), "zero detect mult");
  v = kDown;
  v[1] |= 0x01;
  EXPECT_EQ(err(v), "multipoint bit set");
  v = kDown;
  v[7] = 0;
  EXPECT_EQ(err(v), "zero my discriminator");
  v = kDown;
  v[1] |= 0x04;  // A bit, Length 24
  EXPECT_EQ(err(v), "bad length");
}

TEST(BfdPacket, AuthSectionLengths) {
  auto err = [](V v) {
    auto p = decode(v);
    return p ? std::string("ok") : std::string(error_name(p.error()));
  };
  V g = sha1_golden();
  EXPECT_EQ(err(g), "ok");
  // Auth Len not 28 for SHA1.
  V v = g;
  v[25] = 27;
  EXPECT_EQ(err(v), "bad auth length");
  // Auth Len past the packet's Length.
  v = g;
  v[25] = 29;
  EXPECT_EQ(err(v), "bad auth length");
  // Length shorter than the section says.
  v = g;
  v[3] = 51;
  EXPECT_EQ(err(v), "bad auth length");
  // Keyed MD5 needs 24.
  v = g;
  v[24] = 2;
  EXPECT_EQ(err(v), "bad auth length");
  v[25] = 24;
  v[3] = 48;
  v.resize(48);
  EXPECT_EQ(err(v), "ok");
  // Unknown type.
  v = g;
  v[24] = 6;
  EXPECT_EQ(err(v), "unknown auth type");
  v[24] = 0;
  EXPECT_EQ(err(v), "unknown auth type");
  // Simple password of 1..16 bytes: Auth Len 4..19.
  V s(kDown);
  s[1] |= 0x04;
  s.insert(s.end(), {1, 4, 1, 'x'});
  s[3] = 28;
  EXPECT_EQ(err(s), "ok");
  s[25] = 3;
  s[3] = 27;
  s.pop_back();
  EXPECT_EQ(err(s), "bad auth length");
  // A bit with a 2-byte section: type and a length that promises more.
  V t(kDown);
  t[1] |= 0x04;
  t.insert(t.end(), {4, 28});
  t[3] = 26;
  EXPECT_EQ(err(t), "bad auth length");
}

TEST(BfdAuth, Sha1GoldenVerifies) {
  V g = sha1_golden();
  auto p = decode(g);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->auth.type, AuthType::KeyedSha1);
  EXPECT_EQ(p->auth.key_id, 7);
  EXPECT_EQ(p->auth.sequence, 0x01020304u);
  AuthKey k{AuthType::KeyedSha1, 7, V{'s', 'e', 'c', 'r', 'e', 't'}};
  EXPECT_TRUE(verify(g, *p, k));
  // seal() makes the same bytes.
  Packet q = *p;
  EXPECT_EQ(seal(q, &k), g);

  AuthKey wrong = k;
  wrong.secret.back() = 'T';
  EXPECT_FALSE(verify(g, *p, wrong));
  AuthKey other_id = k;
  other_id.key_id = 8;
  EXPECT_FALSE(verify(g, *p, other_id));
  AuthKey meticulous = k;
  meticulous.type = AuthType::MeticulousKeyedSha1;
  EXPECT_FALSE(verify(g, *p, meticulous));
  // Any changed bit of the packet breaks the hash.
  for (size_t i = 0; i < g.size(); i++) {
    if (i == 26) continue;  // key id: refused before hashing
    V c = g;
    c[i] ^= 0x01;
    auto d = decode(c);
    if (!d) continue;
    EXPECT_FALSE(verify(c, *d, k)) << i;
  }
}

}  // namespace
}  // namespace vane::bfd
