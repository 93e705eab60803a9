#pragma once
// BGP-4 protocol numbers and the small value types shared by every part of the codec.
#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vane::bgp::wire {

inline constexpr size_t kHeaderLength = 19;
inline constexpr size_t kMarkerLength = 16;
inline constexpr size_t kMaxMessageLength = 4096;           // RFC 4271
inline constexpr size_t kMaxExtendedMessageLength = 65535;  // RFC 8654
inline constexpr uint16_t kAsTrans = 23456;                 // RFC 6793
inline constexpr uint8_t kBgpVersion = 4;

enum class MessageType : uint8_t {
  open = 1,
  update = 2,
  notification = 3,
  keepalive = 4,
  route_refresh = 5,  // RFC 2918
};

// AFI/SAFI keep their raw numbers: capabilities and ROUTE-REFRESH may name families this codec
// does not implement, and those must survive a decode.
struct AfiSafi {
  uint16_t afi = 0;
  uint8_t safi = 0;
  auto operator<=>(const AfiSafi&) const = default;
};
inline constexpr uint16_t kAfiIpv4 = 1;
inline constexpr uint16_t kAfiIpv6 = 2;
inline constexpr uint8_t kSafiUnicast = 1;
inline constexpr AfiSafi kIpv4Unicast{kAfiIpv4, kSafiUnicast};
inline constexpr AfiSafi kIpv6Unicast{kAfiIpv6, kSafiUnicast};

// The families whose NLRI this codec parses. Anything else is carried opaquely or ignored.
struct AfiSafiSet {
  bool ipv4_unicast = false;
  bool ipv6_unicast = false;
  bool contains(AfiSafi f) const { return (f == kIpv4Unicast && ipv4_unicast) || (f == kIpv6Unicast && ipv6_unicast); }
  bool operator==(const AfiSafiSet&) const = default;
};

// What the receiving side of a session has negotiated; decoding an UPDATE depends on it.
struct DecodeContext {
  bool four_byte_as = true;       // RFC 6793 capability exchanged both ways
  bool extended_message = false;  // RFC 8654: we advertised it, so the peer may send 65535
  AfiSafiSet families{true, true};
  bool is_ebgp = true;  // LOCAL_PREF / ORIGINATOR_ID / CLUSTER_LIST handling (RFC 7606 7.5, 7.9, 7.10)
  // Non-zero on an EBGP session: routes whose AS_PATH does not start with this AS are
  // treat-as-withdraw (RFC 4271 6.3, RFC 7606 7.2). Left 0 for route servers, which do not prepend.
  uint32_t peer_as = 0;
  // RFC 8950: we advertised it, so IPv4 unicast MP_REACH_NLRI may carry a 16 or 32 byte IPv6 next hop.
  bool ipv4_over_ipv6 = false;
  size_t max_message_length() const { return extended_message ? kMaxExtendedMessageLength : kMaxMessageLength; }
};

// What the sending side of a session has negotiated.
struct EncodeContext {
  bool four_byte_as = true;
  bool extended_message = false;  // RFC 8654: the peer advertised it
  bool is_ebgp = true;            // LOCAL_PREF is never sent to an external peer (RFC 4271 5.1.5)
  // RFC 8950: the peer advertised it, so IPv4 routes without a NEXT_HOP go in MP_REACH_NLRI with
  // the IPv6 one.
  bool ipv4_over_ipv6 = false;
  size_t max_message_length() const { return extended_message ? kMaxExtendedMessageLength : kMaxMessageLength; }
};

// NOTIFICATION error codes (RFC 4271 4.5, RFC 7313) and subcodes.
enum class ErrorCode : uint8_t {
  header = 1,
  open = 2,
  update = 3,
  hold_timer_expired = 4,
  fsm = 5,
  cease = 6,
  route_refresh = 7,
};
enum class HeaderSubcode : uint8_t {
  connection_not_synchronized = 1,
  bad_message_length = 2,
  bad_message_type = 3,
};
enum class OpenSubcode : uint8_t {
  unspecific = 0,
  unsupported_version = 1,
  bad_peer_as = 2,
  bad_bgp_identifier = 3,
  unsupported_optional_parameter = 4,
  unacceptable_hold_time = 6,
  unsupported_capability = 7,  // RFC 5492
};
enum class UpdateSubcode : uint8_t {
  malformed_attribute_list = 1,
  unrecognized_well_known_attribute = 2,
  missing_well_known_attribute = 3,
  attribute_flags_error = 4,
  attribute_length_error = 5,
  invalid_origin = 6,
  invalid_next_hop = 8,
  optional_attribute_error = 9,
  invalid_network_field = 10,
  malformed_as_path = 11,
};
enum class FsmSubcode : uint8_t {  // RFC 6608
  unspecified = 0,
  unexpected_in_open_sent = 1,
  unexpected_in_open_confirm = 2,
  unexpected_in_established = 3,
};
enum class CeaseSubcode : uint8_t {  // RFC 4486, RFC 8538, RFC 9384
  max_prefixes_reached = 1,
  administrative_shutdown = 2,
  peer_deconfigured = 3,
  administrative_reset = 4,
  connection_rejected = 5,
  other_configuration_change = 6,
  connection_collision_resolution = 7,
  out_of_resources = 8,
  hard_reset = 9,
  bfd_down = 10,
};
enum class RouteRefreshSubcode : uint8_t { invalid_message_length = 1 };  // RFC 7313

// A NOTIFICATION message, and at the same time the error every decoder returns when the session
// must be reset: the caller sends it as is.
struct Notification {
  uint8_t code = 0;
  uint8_t subcode = 0;
  std::vector<uint8_t> data;

  // Data longer than fits a 4096-byte NOTIFICATION is cut: the peer may not have negotiated
  // extended messages, and the data only serves diagnosis.
  static Notification make(ErrorCode code, uint8_t subcode, std::span<const uint8_t> data = {});
  template <class Subcode>
  static Notification make(ErrorCode code, Subcode subcode, std::span<const uint8_t> data = {}) {
    return make(code, uint8_t(subcode), data);
  }
  bool is(ErrorCode c) const { return code == uint8_t(c); }
  bool operator==(const Notification&) const = default;
};

inline constexpr size_t kMaxNotificationData = kMaxMessageLength - kHeaderLength - 2;

}  // namespace vane::bgp::wire
