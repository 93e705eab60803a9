#pragma once
// A small packet builder for BPF fixtures: each function returns the bytes of one header plus
// what it carries, with lengths and IPv4 header checksums filled in. Inside out:
//   eth(dst, src, ETH_P_IP, ipv4({.src = "198.51.100.7", .dst = "203.0.113.10"}, tcp(...)))
#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"

namespace vane::test {

// An IPv4 socket address from text, for the tests' real sockets.
inline sockaddr_in sin4(const char* a, uint16_t port) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  inet_pton(AF_INET, a, &s.sin_addr);
  return s;
}

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

Bytes operator+(Bytes a, const Bytes& b);
IpAddress addr(std::string_view text);  // aborts the test binary on a typo
std::string hex(const Bytes& b);

constexpr uint16_t kEthIp = 0x0800, kEthIp6 = 0x86dd, kEthArp = 0x0806, kEthVlan = 0x8100;
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58;
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

// One's-complement sum folded and inverted (the Internet checksum).
uint16_t inet_checksum(const uint8_t* p, size_t n, uint32_t initial = 0);

Bytes eth(const Mac& dst, const Mac& src, uint16_t ethertype, const Bytes& payload,
          std::optional<uint16_t> vlan_tci = std::nullopt);

struct V4 {
  std::string src, dst;
  uint8_t proto = kTcp;
  Bytes options;  // padded to 4 bytes by the caller
  bool df = true;
  bool mf = false;
  uint16_t frag_offset8 = 0;  // in 8-byte units
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 0x1234;
  std::optional<uint16_t> tot_len;  // override (malformed cases)
  std::optional<uint8_t> ihl;       // override
};
Bytes ipv4(const V4& h, const Bytes& payload);

struct Ext {
  uint8_t type;      // 0 hop-by-hop, 43 routing, 60 destination options, 44 fragment
  uint8_t len8 = 0;  // hdrlen (8-byte units beyond the first 8); ignored for fragment
  uint16_t frag_offset8 = 0;
  bool mf = false;
};
struct V6 {
  std::string src, dst;
  uint8_t proto = kTcp;  // upper-layer protocol
  std::vector<Ext> ext;
  uint8_t tclass = 0;
  uint8_t hop_limit = 64;
  uint32_t flow_label = 0;
  std::optional<uint16_t> payload_len;  // override
};
Bytes ipv6(const V6& h, const Bytes& payload);

Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, size_t payload = 0, uint8_t doff = 5);
Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload, std::optional<uint16_t> len = std::nullopt);
Bytes icmp4(uint8_t type, uint8_t code, uint16_t mtu, const Bytes& quoted);
Bytes icmp6(uint8_t type, uint8_t code, uint32_t mtu, const Bytes& quoted);
Bytes zeros(size_t n, uint8_t fill = 0xab);

// GUE header (version 0, no C bit) + GLB private data + inner packet.
struct Gue {
  uint8_t ctype = 4;        // 4 or 41
  uint8_t glb_version = 0;  // 0: IPv4 hops, 1: IPv6 hops
  uint8_t glb_flags = 0;
  uint8_t next_hop = 1;
  std::vector<IpAddress> hops;
  std::optional<uint8_t> first_byte;  // override ver/C/hlen (malformed cases)
  std::optional<uint8_t> hop_count;   // override
  uint8_t reserved = 0;
  uint16_t flags = 0;
};
Bytes gue(const Gue& g, const Bytes& inner);

// vane's flow hash and GUE source port, computed the way the BPF side does.
uint32_t flow_hash(const IpAddress& src, const IpAddress& dst, uint16_t sport, uint16_t dport, uint8_t proto,
                   uint32_t seed);
uint16_t gue_sport(uint32_t hash);

}  // namespace vane::test
