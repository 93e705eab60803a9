#include "bfd/packet.h"

#include <cstdio>

namespace vane::bfd {

using bgp::wire::Unexpected;

const char* state_name(State s) {
  switch (s) {
    case State::AdminDown:
      return "AdminDown";
    case State::Down:
      return "Down";
    case State::Init:
      return "Init";
    case State::Up:
      return "Up";
  }
  return "?";
}

const char* diag_name(Diag d) {
  switch (d) {
    case Diag::None:
      return "none";
    case Diag::DetectionTimeExpired:
      return "detection time expired";
    case Diag::EchoFailed:
      return "echo failed";
    case Diag::NeighborSignaledDown:
      return "neighbor signaled session down";
    case Diag::ForwardingPlaneReset:
      return "forwarding plane reset";
    case Diag::PathDown:
      return "path down";
    case Diag::ConcatenatedPathDown:
      return "concatenated path down";
    case Diag::AdminDown:
      return "administratively down";
    case Diag::ReverseConcatenatedPathDown:
      return "reverse concatenated path down";
  }
  return "other";
}

const char* error_name(DecodeError e) {
  switch (e) {
    case DecodeError::TooShort:
      return "too short";
    case DecodeError::BadVersion:
      return "bad version";
    case DecodeError::BadLength:
      return "bad length";
    case DecodeError::ZeroDetectMult:
      return "zero detect mult";
    case DecodeError::Multipoint:
      return "multipoint bit set";
    case DecodeError::ZeroMyDiscr:
      return "zero my discriminator";
    case DecodeError::BadAuthLength:
      return "bad auth length";
    case DecodeError::UnknownAuthType:
      return "unknown auth type";
  }
  return "?";
}

namespace {

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(uint8_t(v >> 24));
  out.push_back(uint8_t(v >> 16));
  out.push_back(uint8_t(v >> 8));
  out.push_back(uint8_t(v));
}

// The Auth Len each authentication type must carry; 0 for the password type, whose length varies.
size_t auth_length(AuthType t) {
  switch (t) {
    case AuthType::KeyedMd5:
    case AuthType::MeticulousKeyedMd5:
      return kMd5AuthLength;
    case AuthType::KeyedSha1:
    case AuthType::MeticulousKeyedSha1:
      return kSha1AuthLength;
    default:
      return 0;
  }
}

}  // namespace

bgp::wire::Expected<Packet, DecodeError> decode(Bytes data) {
  if (data.size() < kMandatoryLength) return Unexpected(DecodeError::TooShort);
  const uint8_t* d = data.data();
  if ((d[0] >> 5) != 1) return Unexpected(DecodeError::BadVersion);
  Packet p;
  p.diag = Diag(d[0] & 0x1f);
  p.state = State(d[1] >> 6);
  p.poll = d[1] & 0x20;
  p.final = d[1] & 0x10;
  p.cpi = d[1] & 0x08;
  p.has_auth = d[1] & 0x04;
  p.demand = d[1] & 0x02;
  const bool multipoint = d[1] & 0x01;
  p.detect_mult = d[2];
  const size_t length = d[3];
  // RFC 5880 §6.8.6: at least 24 bytes, 26 with an authentication section, and no more than
  // the payload.
  if (length < kMandatoryLength || (p.has_auth && length < kMandatoryLength + 2))
    return Unexpected(DecodeError::BadLength);
  if (length > data.size()) return Unexpected(DecodeError::TooShort);
  // Without an authentication section nothing may follow the mandatory one: bytes the sender
  // counted but no field accounts for are refused rather than ignored.
  if (!p.has_auth && length != kMandatoryLength) return Unexpected(DecodeError::BadLength);
  if (p.detect_mult == 0) return Unexpected(DecodeError::ZeroDetectMult);
  if (multipoint) return Unexpected(DecodeError::Multipoint);
  p.my_discr = be32(d + 4);
  if (p.my_discr == 0) return Unexpected(DecodeError::ZeroMyDiscr);
  p.your_discr = be32(d + 8);
  p.desired_min_tx_us = be32(d + 12);
  p.required_min_rx_us = be32(d + 16);
  p.required_min_echo_rx_us = be32(d + 20);
  if (!p.has_auth) return p;

  const uint8_t* a = d + kMandatoryLength;
  const size_t avail = length - kMandatoryLength;
  const size_t alen = a[1];
  // The section must fill exactly what Length leaves for it.
  if (alen != avail) return Unexpected(DecodeError::BadAuthLength);
  uint8_t type = a[0];
  if (type < uint8_t(AuthType::SimplePassword) || type > uint8_t(AuthType::MeticulousKeyedSha1))
    return Unexpected(DecodeError::UnknownAuthType);
  p.auth.type = AuthType(type);
  if (p.auth.type == AuthType::SimplePassword) {
    // Type, length, key id and a 1..16-byte password.
    if (alen < 4 || alen > 19) return Unexpected(DecodeError::BadAuthLength);
    p.auth.key_id = a[2];
    p.auth.digest.assign(a + 3, a + alen);
    return p;
  }
  if (alen != auth_length(p.auth.type)) return Unexpected(DecodeError::BadAuthLength);
  p.auth.key_id = a[2];
  p.auth.sequence = be32(a + 4);
  p.auth.digest.assign(a + 8, a + alen);
  return p;
}

std::vector<uint8_t> encode(const Packet& p) {
  std::vector<uint8_t> out;
  out.reserve(kMaxPacketLength);
  out.push_back(uint8_t(1 << 5 | (uint8_t(p.diag) & 0x1f)));
  out.push_back(uint8_t(uint8_t(p.state) << 6 | (p.poll ? 0x20 : 0) | (p.final ? 0x10 : 0) | (p.cpi ? 0x08 : 0) |
                        (p.has_auth ? 0x04 : 0) | (p.demand ? 0x02 : 0)));
  out.push_back(p.detect_mult);
  out.push_back(0);  // length, below
  put32(out, p.my_discr);
  put32(out, p.your_discr);
  put32(out, p.desired_min_tx_us);
  put32(out, p.required_min_rx_us);
  put32(out, p.required_min_echo_rx_us);
  if (p.has_auth) {
    out.push_back(uint8_t(p.auth.type));
    if (p.auth.type == AuthType::SimplePassword) {
      out.push_back(uint8_t(3 + p.auth.digest.size()));
      out.push_back(p.auth.key_id);
      out.insert(out.end(), p.auth.digest.begin(), p.auth.digest.end());
    } else {
      size_t want = auth_length(p.auth.type);
      out.push_back(uint8_t(want));
      out.push_back(p.auth.key_id);
      out.push_back(0);
      put32(out, p.auth.sequence);
      std::vector<uint8_t> digest = p.auth.digest;
      digest.resize(want - 8, 0);
      out.insert(out.end(), digest.begin(), digest.end());
    }
  }
  out[3] = uint8_t(out.size());
  return out;
}

std::string describe(const Packet& p) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "state %s diag %u%s%s mult %u my %u your %u tx %u rx %u%s", state_name(p.state),
                unsigned(p.diag), p.poll ? " P" : "", p.final ? " F" : "", unsigned(p.detect_mult), p.my_discr,
                p.your_discr, p.desired_min_tx_us, p.required_min_rx_us, p.has_auth ? " auth" : "");
  return buf;
}

}  // namespace vane::bfd
