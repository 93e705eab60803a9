#include "bgp/wire/notification.h"

#include "bgp/wire/header.h"

namespace vane::bgp::wire {

Notification Notification::make(ErrorCode code, uint8_t subcode, std::span<const uint8_t> data) {
  Notification n;
  n.code = uint8_t(code);
  n.subcode = subcode;
  if (data.size() > kMaxNotificationData) data = data.first(kMaxNotificationData);
  n.data.assign(data.begin(), data.end());
  return n;
}

Expected<Notification, Notification> decode_notification(Bytes body) {
  Reader r(body);
  Notification n;
  if (!r.u8(n.code) || !r.u8(n.subcode)) {
    const uint16_t len = uint16_t(body.size() + kHeaderLength);
    const uint8_t d[2] = {uint8_t(len >> 8), uint8_t(len)};
    return Unexpected(Notification::make(ErrorCode::header, HeaderSubcode::bad_message_length, d));
  }
  Bytes rest = r.rest();
  n.data.assign(rest.begin(), rest.end());
  return n;
}

std::vector<uint8_t> encode_notification(const Notification& n) {
  std::vector<uint8_t> out;
  const size_t start = begin_message(out, MessageType::notification);
  Writer w(out);
  w.u8(n.code);
  w.u8(n.subcode);
  Bytes data = n.data;
  if (data.size() > kMaxNotificationData) data = data.first(kMaxNotificationData);
  w.bytes(data);
  patch_length(out, start);
  return out;
}

std::vector<uint8_t> encode_shutdown_communication(std::string_view text) {
  if (text.empty()) return {};
  size_t n = text.size() < kMaxShutdownCommunication ? text.size() : kMaxShutdownCommunication;
  // Never cut inside a multi-byte character: back up over continuation bytes.
  if (n < text.size())
    while (n > 0 && (uint8_t(text[n]) & 0xc0) == 0x80) --n;
  std::vector<uint8_t> data;
  data.reserve(n + 1);
  data.push_back(uint8_t(n));
  data.insert(data.end(), text.begin(), text.begin() + long(n));
  return data;
}

Notification make_shutdown(CeaseSubcode subcode, std::string_view message) {
  return Notification::make(ErrorCode::cease, subcode, encode_shutdown_communication(message));
}

Notification make_max_prefixes(AfiSafi family, uint32_t limit) {
  std::vector<uint8_t> data;
  Writer w(data);
  w.u16(family.afi);
  w.u8(family.safi);
  w.u32(limit);
  return Notification::make(ErrorCode::cease, CeaseSubcode::max_prefixes_reached, data);
}

Expected<std::string, ShutdownCommunicationError> shutdown_communication(const Notification& n) {
  if (!n.is(ErrorCode::cease) || (n.subcode != uint8_t(CeaseSubcode::administrative_shutdown) &&
                                  n.subcode != uint8_t(CeaseSubcode::administrative_reset)))
    return std::string();
  Reader r(n.data);
  uint8_t len = 0;
  if (!r.u8(len)) return std::string();  // sent by a speaker predating RFC 8203
  Bytes text;
  if (!r.bytes(len, text)) return Unexpected(ShutdownCommunicationError::bad_length);
  std::string s(text.begin(), text.end());
  if (!is_valid_utf8(s)) return Unexpected(ShutdownCommunicationError::bad_utf8);
  return s;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto cont = [&](size_t k, uint8_t lo = 0x80, uint8_t hi = 0xbf) {
    return k < n && uint8_t(s[k]) >= lo && uint8_t(s[k]) <= hi;
  };
  while (i < n) {
    const uint8_t c = uint8_t(s[i]);
    if (c < 0x80) {
      i += 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (!cont(i + 1)) return false;
      i += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      // E0 needs A0.. (no overlongs); ED stops at 9F (no surrogates).
      const uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
      if (!cont(i + 1, lo, hi) || !cont(i + 2)) return false;
      i += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      // F0 needs 90.. (no overlongs); F4 stops at 8F (nothing above U+10FFFF).
      const uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
      if (!cont(i + 1, lo, hi) || !cont(i + 2) || !cont(i + 3)) return false;
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

namespace {

const char* code_name(uint8_t code) {
  switch (ErrorCode(code)) {
    case ErrorCode::header:
      return "Message Header Error";
    case ErrorCode::open:
      return "OPEN Message Error";
    case ErrorCode::update:
      return "UPDATE Message Error";
    case ErrorCode::hold_timer_expired:
      return "Hold Timer Expired";
    case ErrorCode::fsm:
      return "Finite State Machine Error";
    case ErrorCode::cease:
      return "Cease";
    case ErrorCode::route_refresh:
      return "ROUTE-REFRESH Message Error";
  }
  return nullptr;
}

const char* subcode_name(uint8_t code, uint8_t sub) {
  switch (ErrorCode(code)) {
    case ErrorCode::header:
      switch (HeaderSubcode(sub)) {
        case HeaderSubcode::connection_not_synchronized:
          return "Connection Not Synchronized";
        case HeaderSubcode::bad_message_length:
          return "Bad Message Length";
        case HeaderSubcode::bad_message_type:
          return "Bad Message Type";
      }
      break;
    case ErrorCode::open:
      switch (OpenSubcode(sub)) {
        case OpenSubcode::unspecific:
          return "Unspecific";
        case OpenSubcode::unsupported_version:
          return "Unsupported Version Number";
        case OpenSubcode::bad_peer_as:
          return "Bad Peer AS";
        case OpenSubcode::bad_bgp_identifier:
          return "Bad BGP Identifier";
        case OpenSubcode::unsupported_optional_parameter:
          return "Unsupported Optional Parameter";
        case OpenSubcode::unacceptable_hold_time:
          return "Unacceptable Hold Time";
        case OpenSubcode::unsupported_capability:
          return "Unsupported Capability";
      }
      break;
    case ErrorCode::update:
      switch (UpdateSubcode(sub)) {
        case UpdateSubcode::malformed_attribute_list:
          return "Malformed Attribute List";
        case UpdateSubcode::unrecognized_well_known_attribute:
          return "Unrecognized Well-known Attribute";
        case UpdateSubcode::missing_well_known_attribute:
          return "Missing Well-known Attribute";
        case UpdateSubcode::attribute_flags_error:
          return "Attribute Flags Error";
        case UpdateSubcode::attribute_length_error:
          return "Attribute Length Error";
        case UpdateSubcode::invalid_origin:
          return "Invalid ORIGIN Attribute";
        case UpdateSubcode::invalid_next_hop:
          return "Invalid NEXT_HOP Attribute";
        case UpdateSubcode::optional_attribute_error:
          return "Optional Attribute Error";
        case UpdateSubcode::invalid_network_field:
          return "Invalid Network Field";
        case UpdateSubcode::malformed_as_path:
          return "Malformed AS_PATH";
      }
      break;
    case ErrorCode::fsm:
      switch (FsmSubcode(sub)) {
        case FsmSubcode::unspecified:
          return "Unspecified Error";
        case FsmSubcode::unexpected_in_open_sent:
          return "Receive Unexpected Message in OpenSent State";
        case FsmSubcode::unexpected_in_open_confirm:
          return "Receive Unexpected Message in OpenConfirm State";
        case FsmSubcode::unexpected_in_established:
          return "Receive Unexpected Message in Established State";
      }
      break;
    case ErrorCode::cease:
      switch (CeaseSubcode(sub)) {
        case CeaseSubcode::max_prefixes_reached:
          return "Maximum Number of Prefixes Reached";
        case CeaseSubcode::administrative_shutdown:
          return "Administrative Shutdown";
        case CeaseSubcode::peer_deconfigured:
          return "Peer De-configured";
        case CeaseSubcode::administrative_reset:
          return "Administrative Reset";
        case CeaseSubcode::connection_rejected:
          return "Connection Rejected";
        case CeaseSubcode::other_configuration_change:
          return "Other Configuration Change";
        case CeaseSubcode::connection_collision_resolution:
          return "Connection Collision Resolution";
        case CeaseSubcode::out_of_resources:
          return "Out of Resources";
        case CeaseSubcode::hard_reset:
          return "Hard Reset";
        case CeaseSubcode::bfd_down:
          return "BFD Down";
      }
      break;
    case ErrorCode::route_refresh:
      if (sub == uint8_t(RouteRefreshSubcode::invalid_message_length)) return "Invalid Message Length";
      break;
    case ErrorCode::hold_timer_expired:
      break;
  }
  return nullptr;
}

}  // namespace

std::string describe(const Notification& n) {
  const char* c = code_name(n.code);
  std::string out = c ? c : "Error Code " + std::to_string(n.code);
  if (const char* s = subcode_name(n.code, n.subcode)) {
    out += " / ";
    out += s;
  } else if (n.subcode != 0) {
    out += " / subcode " + std::to_string(n.subcode);
  }
  return out;
}

}  // namespace vane::bgp::wire
