#include "packet.h"

#include <cstdio>
#include <cstdlib>

#include "vane_abi.h"

namespace vane::test {
namespace {
void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = uint8_t(v >> 8);
  b[at + 1] = uint8_t(v);
}
void put32(Bytes& b, size_t at, uint32_t v) {
  put16(b, at, uint16_t(v >> 16));
  put16(b, at + 2, uint16_t(v));
}
}  // namespace

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

IpAddress addr(std::string_view text) {
  auto a = IpAddress::parse(text);
  if (!a) {
    std::fprintf(stderr, "bad address in test: %.*s\n", int(text.size()), text.data());
    std::abort();
  }
  return *a;
}

std::string hex(const Bytes& b) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < b.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", b[i]);
    s += buf;
    if (i % 16 == 15)
      s += '\n';
    else if (i % 2 == 1)
      s += ' ';
  }
  return s;
}

uint16_t inet_checksum(const uint8_t* p, size_t n, uint32_t initial) {
  uint64_t sum = initial;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i]) << 8 | p[i + 1];
  if (n & 1) sum += uint32_t(p[n - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

Bytes eth(const Mac& dst, const Mac& src, uint16_t ethertype, const Bytes& payload, std::optional<uint16_t> vlan_tci) {
  Bytes b(dst.begin(), dst.end());
  b.insert(b.end(), src.begin(), src.end());
  if (vlan_tci) {
    b.resize(b.size() + 4);
    put16(b, 12, kEthVlan);
    put16(b, 14, *vlan_tci);
  }
  b.resize(b.size() + 2);
  put16(b, b.size() - 2, ethertype);
  return b + payload;
}

Bytes ipv4(const V4& h, const Bytes& payload) {
  size_t hl = 20 + h.options.size();
  Bytes b(20);
  b[0] = uint8_t(0x40 | (h.ihl ? *h.ihl : hl / 4));
  b[1] = h.tos;
  put16(b, 2, h.tot_len ? *h.tot_len : uint16_t(hl + payload.size()));
  put16(b, 4, h.id);
  put16(b, 6, uint16_t((h.df ? 0x4000 : 0) | (h.mf ? 0x2000 : 0) | h.frag_offset8));
  b[8] = h.ttl;
  b[9] = h.proto;
  IpAddress s = addr(h.src), d = addr(h.dst);
  std::copy(s.bytes.begin(), s.bytes.begin() + 4, b.begin() + 12);
  std::copy(d.bytes.begin(), d.bytes.begin() + 4, b.begin() + 16);
  b = b + h.options;
  put16(b, 10, inet_checksum(b.data(), b.size()));
  return b + payload;
}

Bytes ipv6(const V6& h, const Bytes& payload) {
  Bytes ext;
  uint8_t first = h.ext.empty() ? h.proto : h.ext[0].type;
  for (size_t i = 0; i < h.ext.size(); ++i) {
    uint8_t next = i + 1 < h.ext.size() ? h.ext[i + 1].type : h.proto;
    const Ext& e = h.ext[i];
    Bytes x(8);
    x[0] = next;
    if (e.type == 44) {
      put16(x, 2, uint16_t(e.frag_offset8 << 3 | (e.mf ? 1 : 0)));
      put32(x, 4, 0xcafe);
    } else {
      x[1] = e.len8;
      x.resize(8 + 8 * size_t(e.len8));
      if (e.type == 0 || e.type == 60) {  // one PadN option filling the header
        x[2] = 1;
        x[3] = uint8_t(x.size() - 4);
      }
    }
    ext = ext + x;
  }
  Bytes b(40);
  b[0] = uint8_t(0x60 | h.tclass >> 4);
  b[1] = uint8_t(h.tclass << 4 | (h.flow_label >> 16 & 0xf));
  b[2] = uint8_t(h.flow_label >> 8);
  b[3] = uint8_t(h.flow_label);
  put16(b, 4, h.payload_len ? *h.payload_len : uint16_t(ext.size() + payload.size()));
  b[6] = first;
  b[7] = h.hop_limit;
  IpAddress s = addr(h.src), d = addr(h.dst);
  std::copy(s.bytes.begin(), s.bytes.end(), b.begin() + 8);
  std::copy(d.bytes.begin(), d.bytes.end(), b.begin() + 24);
  return b + ext + payload;
}

Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, size_t payload, uint8_t doff) {
  Bytes b(size_t(doff) * 4);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put32(b, 4, 1000);
  put32(b, 8, (flags & kAck) ? 2000 : 0);
  b[12] = uint8_t(doff << 4);
  b[13] = flags;
  put16(b, 14, 65535);
  for (size_t i = 20; i < b.size(); ++i) b[i] = 1;  // NOP options
  return b + zeros(payload);
}

Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload, std::optional<uint16_t> len) {
  Bytes b(8);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, len ? *len : uint16_t(8 + payload.size()));
  return b + payload;
}

Bytes icmp4(uint8_t type, uint8_t code, uint16_t mtu, const Bytes& quoted) {
  Bytes b(8);
  b[0] = type;
  b[1] = code;
  put16(b, 6, mtu);
  b = b + quoted;
  put16(b, 2, inet_checksum(b.data(), b.size()));
  return b;
}

Bytes icmp6(uint8_t type, uint8_t code, uint32_t mtu, const Bytes& quoted) {
  Bytes b(8);
  b[0] = type;
  b[1] = code;
  put32(b, 4, mtu);
  return b + quoted;
}

Bytes zeros(size_t n, uint8_t fill) {
  return Bytes(n, fill);
}

Bytes gue(const Gue& g, const Bytes& inner) {
  size_t hop_size = g.glb_version == 1 ? 16 : 4;
  size_t priv = 4 + g.hops.size() * hop_size;
  Bytes b(8);
  b[0] = g.first_byte ? *g.first_byte : uint8_t(priv / 4);
  b[1] = g.ctype;
  put16(b, 2, g.flags);
  b[4] = uint8_t(g.glb_version << 4 | g.glb_flags);
  b[5] = g.reserved;
  b[6] = g.next_hop;
  b[7] = g.hop_count ? *g.hop_count : uint8_t(g.hops.size());
  for (const auto& h : g.hops) {
    if (hop_size == 16)
      b.insert(b.end(), h.bytes.begin(), h.bytes.end());
    else
      b.insert(b.end(), h.bytes.begin(), h.bytes.begin() + 4);
  }
  return b + inner;
}

uint32_t flow_hash(const IpAddress& src, const IpAddress& dst, uint16_t sport, uint16_t dport, uint8_t proto,
                   uint32_t seed) {
  __u32 w[VANE_HASH_WORDS];
  auto be32 = [](const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; };
  for (int i = 0; i < 4; ++i) {
    w[i] = be32(src.bytes.data() + 4 * i);
    w[4 + i] = be32(dst.bytes.data() + 4 * i);
  }
  w[8] = uint32_t(sport) << 16 | dport;
  w[9] = uint32_t(proto) << 8 | (src.is_v4() ? VANE_AF_INET : VANE_AF_INET6);
  return vane_hash_words(w, seed);
}

uint16_t gue_sport(uint32_t h) {
  return uint16_t(VANE_GUE_SPORT_MIN + ((h ^ (h >> 16)) & 0x3fff));
}

}  // namespace vane::test
