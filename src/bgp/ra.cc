#include "bgp/ra.h"

namespace vane::bgp::ra {

namespace {
uint16_t be16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
}  // namespace

Parsed parse(std::span<const uint8_t> m, int hop_limit, const IpAddress& source) {
  Parsed out;
  // RFC 4861 6.1.2: a router advertisement is valid only from a link-local source, with hop
  // limit 255 (so it was sent on this link, not routed here), and with options of non-zero length.
  if (hop_limit != 255) {
    out.refused = Refusal::hop_limit;
    return out;
  }
  if (!source.is_link_local()) {
    out.refused = Refusal::source;
    return out;
  }
  if (m.size() < kHeaderLength || m[0] != kTypeRouterAdvertisement || m[1] != 0) {
    out.refused = Refusal::malformed;
    return out;
  }
  Advertisement a;
  a.cur_hop_limit = m[4];
  a.flags = m[5];
  a.router_lifetime = be16(&m[6]);
  a.reachable_time = be32(&m[8]);
  a.retrans_timer = be32(&m[12]);
  size_t at = kHeaderLength;
  while (at < m.size()) {
    if (m.size() - at < 2) {
      out.refused = Refusal::malformed;
      return out;
    }
    const size_t len = size_t(m[at + 1]) * 8;  // in units of 8 bytes, type and length included
    if (len == 0 || len > m.size() - at) {
      out.refused = Refusal::malformed;
      return out;
    }
    if (m[at] == kOptionSourceLinkLayer) a.source_link_layer.assign(m.begin() + at + 2, m.begin() + at + len);
    at += len;
  }
  out.ra = std::move(a);
  return out;
}

std::vector<uint8_t> build(std::span<const uint8_t> mac) {
  std::vector<uint8_t> m(kHeaderLength, 0);
  m[0] = kTypeRouterAdvertisement;
  // Cur Hop Limit 0 (unspecified): hosts adopt a non-zero one even from a lifetime-0 router
  // (RFC 4861 6.3.4). Router lifetime, reachable time and retrans timer: 0 too.
  if (mac.size() == 6) {
    m.push_back(kOptionSourceLinkLayer);
    m.push_back(1);
    m.insert(m.end(), mac.begin(), mac.end());
  }
  return m;
}

const char* to_string(Refusal r) {
  switch (r) {
    case Refusal::hop_limit:
      return "hop_limit";
    case Refusal::source:
      return "source";
    case Refusal::malformed:
      return "malformed";
  }
  return "?";
}

}  // namespace vane::bgp::ra
