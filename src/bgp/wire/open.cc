#include "bgp/wire/open.h"

#include <algorithm>

#include "bgp/wire/header.h"

namespace vane::bgp::wire {

namespace {

Notification open_error(OpenSubcode sub) {
  return Notification::make(ErrorCode::open, sub);
}

// Returns false when a known capability's value has the wrong shape.
bool decode_capability(uint8_t code, Bytes value, Capabilities& caps) {
  Reader r(value);
  switch (code) {
    case kCapMultiprotocol: {
      AfiSafi f;
      uint8_t reserved = 0;
      if (value.size() != 4 || !r.u16(f.afi) || !r.u8(reserved) || !r.u8(f.safi)) return false;
      if (std::find(caps.multiprotocol.begin(), caps.multiprotocol.end(), f) == caps.multiprotocol.end())
        caps.multiprotocol.push_back(f);
      return true;
    }
    case kCapExtendedNextHop: {
      // A list of (NLRI AFI: 2, NLRI SAFI: 2, next hop AFI: 2) tuples, at least one.
      if (value.empty() || value.size() % 6 != 0) return false;
      while (!r.empty()) {
        ExtendedNextHop e;
        uint16_t safi = 0;
        if (!r.u16(e.nlri.afi) || !r.u16(safi) || !r.u16(e.nexthop_afi)) return false;
        // A SAFI above 255 names nothing this codec (or RFC 4760's one-byte field) knows: skip it.
        if (safi > 255) continue;
        e.nlri.safi = uint8_t(safi);
        if (std::find(caps.extended_next_hop.begin(), caps.extended_next_hop.end(), e) == caps.extended_next_hop.end())
          caps.extended_next_hop.push_back(e);
      }
      return true;
    }
    case kCapRouteRefresh:
      caps.route_refresh = true;
      return value.empty();
    case kCapEnhancedRouteRefresh:
      caps.enhanced_route_refresh = true;
      return value.empty();
    case kCapExtendedMessage:
      caps.extended_message = true;
      return value.empty();
    case kCapFourByteAs: {
      uint32_t asn = 0;
      if (value.size() != 4 || !r.u32(asn)) return false;
      caps.four_byte_as = asn;
      return true;
    }
    case kCapGracefulRestart: {
      GracefulRestart gr;
      uint16_t head = 0;
      if (value.size() < 2 || (value.size() - 2) % 4 != 0 || !r.u16(head)) return false;
      gr.flags = uint8_t(head >> 12);
      gr.restart_time = head & 0x0fff;
      while (!r.empty()) {
        GracefulRestart::Family f;
        if (!r.u16(f.afi_safi.afi) || !r.u8(f.afi_safi.safi) || !r.u8(f.flags)) return false;
        gr.families.push_back(f);
      }
      caps.graceful_restart = std::move(gr);
      return true;
    }
    default:
      caps.unknown.push_back({code, {value.begin(), value.end()}});
      return true;
  }
}

bool decode_capabilities(Bytes param, Capabilities& caps) {
  Reader r(param);
  while (!r.empty()) {
    uint8_t code = 0, len = 0;
    Bytes value;
    if (!r.u8(code) || !r.u8(len) || !r.bytes(len, value)) return false;
    if (!decode_capability(code, value, caps)) return false;
  }
  return true;
}

void encode_capability(Writer& w, uint8_t code, Bytes value) {
  w.u8(code);
  w.u8(uint8_t(value.size()));
  w.bytes(value);
}

std::vector<uint8_t> encode_capabilities(const Capabilities& caps) {
  std::vector<uint8_t> out, v;
  Writer w(out);
  for (const auto& f : caps.multiprotocol) {
    v.clear();
    Writer vw(v);
    vw.u16(f.afi);
    vw.u8(0);
    vw.u8(f.safi);
    encode_capability(w, kCapMultiprotocol, v);
  }
  if (!caps.extended_next_hop.empty()) {
    v.clear();
    Writer vw(v);
    // 42 tuples is all a one-byte capability length can hold.
    const size_t n = std::min<size_t>(caps.extended_next_hop.size(), 42);
    for (size_t i = 0; i < n; ++i) {
      vw.u16(caps.extended_next_hop[i].nlri.afi);
      vw.u16(caps.extended_next_hop[i].nlri.safi);
      vw.u16(caps.extended_next_hop[i].nexthop_afi);
    }
    encode_capability(w, kCapExtendedNextHop, v);
  }
  if (caps.route_refresh) encode_capability(w, kCapRouteRefresh, {});
  if (caps.extended_message) encode_capability(w, kCapExtendedMessage, {});
  if (caps.graceful_restart) {
    const auto& gr = *caps.graceful_restart;
    v.clear();
    Writer vw(v);
    vw.u16(uint16_t((gr.flags & 0xf) << 12 | (gr.restart_time & 0x0fff)));
    // 63 families is all a one-byte capability length can hold.
    const size_t n = std::min<size_t>(gr.families.size(), 63);
    for (size_t i = 0; i < n; ++i) {
      vw.u16(gr.families[i].afi_safi.afi);
      vw.u8(gr.families[i].afi_safi.safi);
      vw.u8(gr.families[i].flags);
    }
    encode_capability(w, kCapGracefulRestart, v);
  }
  if (caps.four_byte_as) {
    v.clear();
    Writer(v).u32(*caps.four_byte_as);
    encode_capability(w, kCapFourByteAs, v);
  }
  if (caps.enhanced_route_refresh) encode_capability(w, kCapEnhancedRouteRefresh, {});
  for (const auto& u : caps.unknown) {
    Bytes value = u.value;
    if (value.size() > 255) value = value.first(255);
    encode_capability(w, u.code, value);
  }
  return out;
}

}  // namespace

OpenMessage OpenMessage::make(uint32_t asn, uint16_t hold_time, uint32_t bgp_id, Capabilities caps) {
  OpenMessage m;
  m.my_as = asn > 0xffff ? kAsTrans : uint16_t(asn);
  m.hold_time = hold_time;
  m.bgp_id = bgp_id;
  m.caps = std::move(caps);
  m.caps.four_byte_as = asn;
  return m;
}

Expected<OpenMessage, Notification> decode_open(Bytes body) {
  Reader r(body);
  OpenMessage m;
  if (!r.u8(m.version)) return Unexpected(open_error(OpenSubcode::unspecific));
  if (m.version != kBgpVersion) {
    // RFC 4271 6.2: the data is the largest supported version below the one bid, or our only one.
    const uint8_t d[2] = {0, kBgpVersion};
    return Unexpected(Notification::make(ErrorCode::open, OpenSubcode::unsupported_version, d));
  }
  uint8_t opt_len = 0;
  if (!r.u16(m.my_as) || !r.u16(m.hold_time) || !r.u32(m.bgp_id) || !r.u8(opt_len)) {
    const uint16_t len = uint16_t(body.size() + kHeaderLength);
    const uint8_t d[2] = {uint8_t(len >> 8), uint8_t(len)};
    return Unexpected(Notification::make(ErrorCode::header, HeaderSubcode::bad_message_length, d));
  }

  // RFC 9072: a non-zero length followed by type 255 announces two-byte lengths throughout.
  uint8_t first_type = 0;
  bool extended = opt_len != 0 && r.peek_u8(first_type) && first_type == kOptParamExtendedLength;
  size_t params_len = opt_len;
  if (extended) {
    uint16_t ext_len = 0;
    if (!r.skip(1) || !r.u16(ext_len)) return Unexpected(open_error(OpenSubcode::unspecific));
    params_len = ext_len;
  }
  if (r.remaining() != params_len) return Unexpected(open_error(OpenSubcode::unspecific));

  while (!r.empty()) {
    uint8_t type = 0;
    uint16_t len = 0;
    uint8_t len8 = 0;
    Bytes value;
    if (!r.u8(type)) return Unexpected(open_error(OpenSubcode::unspecific));
    if (extended ? !r.u16(len) : !r.u8(len8)) return Unexpected(open_error(OpenSubcode::unspecific));
    if (!extended) len = len8;
    if (!r.bytes(len, value)) return Unexpected(open_error(OpenSubcode::unspecific));
    if (type != kOptParamCapabilities) return Unexpected(open_error(OpenSubcode::unsupported_optional_parameter));
    if (!decode_capabilities(value, m.caps)) return Unexpected(open_error(OpenSubcode::unspecific));
  }
  return m;
}

std::vector<uint8_t> encode_open(const OpenMessage& m) {
  std::vector<uint8_t> out;
  const size_t start = begin_message(out, MessageType::open);
  Writer w(out);
  w.u8(m.version);
  w.u16(m.my_as);
  w.u16(m.hold_time);
  w.u32(m.bgp_id);
  const auto caps = encode_capabilities(m.caps);
  if (caps.empty()) {
    w.u8(0);
  } else if (caps.size() + 2 <= 255) {
    w.u8(uint8_t(caps.size() + 2));
    w.u8(kOptParamCapabilities);
    w.u8(uint8_t(caps.size()));
    w.bytes(caps);
  } else {
    // An OPEN never exceeds 4096 bytes, so the two-byte lengths below cannot overflow.
    w.u8(255);
    w.u8(kOptParamExtendedLength);
    w.u16(uint16_t(caps.size() + 3));
    w.u8(kOptParamCapabilities);
    w.u16(uint16_t(caps.size()));
    w.bytes(caps);
  }
  patch_length(out, start);
  return out;
}

std::optional<Notification> check_open(const OpenMessage& m, const OpenCheck& check) {
  const uint32_t asn = m.asn();
  if (m.my_as == 0 || asn == 0 || (check.peer_as && *check.peer_as != asn)) return open_error(OpenSubcode::bad_peer_as);
  if (m.bgp_id == 0 || (check.is_ibgp && m.bgp_id == check.local_bgp_id))
    return open_error(OpenSubcode::bad_bgp_identifier);
  if (m.hold_time == 1 || m.hold_time == 2) return open_error(OpenSubcode::unacceptable_hold_time);
  return std::nullopt;
}

namespace {

AfiSafiSet families_of(const Capabilities& c) {
  AfiSafiSet s;
  if (c.multiprotocol.empty()) {
    s.ipv4_unicast = true;
    return s;
  }
  for (const auto& f : c.multiprotocol) {
    if (f == kIpv4Unicast) s.ipv4_unicast = true;
    if (f == kIpv6Unicast) s.ipv6_unicast = true;
  }
  return s;
}

}  // namespace

Negotiated negotiate(const OpenMessage& local, const OpenMessage& remote) {
  Negotiated n;
  n.peer_asn = remote.asn();
  n.hold_time = std::min(local.hold_time, remote.hold_time);
  n.four_byte_as = local.caps.four_byte_as.has_value() && remote.caps.four_byte_as.has_value();
  n.receive_extended = local.caps.extended_message;
  n.send_extended = local.caps.extended_message && remote.caps.extended_message;
  n.route_refresh = local.caps.route_refresh && remote.caps.route_refresh;
  n.enhanced_route_refresh = local.caps.enhanced_route_refresh && remote.caps.enhanced_route_refresh;
  auto has = [](const Capabilities& c) {
    return std::find(c.extended_next_hop.begin(), c.extended_next_hop.end(), kIpv4OverIpv6) !=
           c.extended_next_hop.end();
  };
  n.accept_ipv4_over_ipv6 = has(local.caps);
  n.send_ipv4_over_ipv6 = has(remote.caps);
  const AfiSafiSet a = families_of(local.caps), b = families_of(remote.caps);
  n.families.ipv4_unicast = a.ipv4_unicast && b.ipv4_unicast;
  n.families.ipv6_unicast = a.ipv6_unicast && b.ipv6_unicast;
  n.peer_graceful_restart = remote.caps.graceful_restart;
  return n;
}

DecodeContext Negotiated::decode_context(bool is_ebgp) const {
  DecodeContext c;
  c.four_byte_as = four_byte_as;
  c.extended_message = receive_extended;
  c.families = families;
  c.is_ebgp = is_ebgp;
  c.ipv4_over_ipv6 = accept_ipv4_over_ipv6;
  return c;
}

EncodeContext Negotiated::encode_context(bool is_ebgp) const {
  EncodeContext c;
  c.four_byte_as = four_byte_as;
  c.extended_message = send_extended;
  c.is_ebgp = is_ebgp;
  c.ipv4_over_ipv6 = send_ipv4_over_ipv6;
  return c;
}

}  // namespace vane::bgp::wire
