#include "common/ip.h"

#include <arpa/inet.h>

#include <cstring>

namespace vane {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  IpAddress a;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.family = Family::v4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  a.family = Family::v6;
  return a;
}

IpAddress IpAddress::v4(uint32_t h) {
  IpAddress a;
  a.bytes[0] = uint8_t(h >> 24);
  a.bytes[1] = uint8_t(h >> 16);
  a.bytes[2] = uint8_t(h >> 8);
  a.bytes[3] = uint8_t(h);
  return a;
}

uint32_t IpAddress::v4_host_order() const {
  return uint32_t(bytes[0]) << 24 | uint32_t(bytes[1]) << 16 | uint32_t(bytes[2]) << 8 | bytes[3];
}

bool IpAddress::is_loopback() const {
  if (is_v4()) return bytes[0] == 127;
  static constexpr std::array<uint8_t, 16> lo{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return bytes == lo;
}

bool IpAddress::is_unspecified() const {
  for (int i = 0; i < size(); ++i)
    if (bytes[i]) return false;
  return true;
}

bool IpAddress::is_link_local() const {
  return is_v6() && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

static bool prefix_match(const IpAddress& a, const IpAddress& b, int len) {
  int full = len / 8, rest = len % 8;
  if (std::memcmp(a.bytes.data(), b.bytes.data(), full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = uint8_t(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (b.bytes[full] & mask);
}

std::optional<Prefix> Prefix::parse(std::string_view text, std::string* why) {
  auto fail = [&](const char* m) -> std::optional<Prefix> {
    if (why) *why = m;
    return std::nullopt;
  };
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return fail("not an IP address");
  Prefix p{*addr, uint8_t(addr->bits())};
  if (slash != std::string_view::npos) {
    auto l = text.substr(slash + 1);
    if (l.empty() || l.size() > 3) return fail("bad prefix length");
    int v = 0;
    for (char c : l) {
      if (c < '0' || c > '9') return fail("bad prefix length");
      v = v * 10 + (c - '0');
    }
    if (v > addr->bits()) return fail("prefix length too long for the address family");
    p.len = uint8_t(v);
  }
  IpAddress masked = p.addr;
  for (int i = 0; i < 16; ++i) {
    int keep = p.len - i * 8;
    if (keep >= 8) continue;
    masked.bytes[i] &= keep <= 0 ? 0 : uint8_t(0xff << (8 - keep));
  }
  if (masked != p.addr) return fail("host bits set after the prefix length");
  return p;
}

bool Prefix::contains(const IpAddress& a) const {
  return a.family == addr.family && prefix_match(addr, a, len);
}

bool Prefix::contains(const Prefix& p) const {
  return p.len >= len && contains(p.addr);
}

std::string Prefix::str() const {
  return addr.str() + "/" + std::to_string(len);
}

}  // namespace vane
