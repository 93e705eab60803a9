#pragma once
// OPEN (RFC 4271 4.2), capabilities (RFC 5492) and the extended optional parameters length
// (RFC 9072). Decoding checks structure only; check_open() applies the RFC 4271 6.2 rules that
// need the session's configuration, and negotiate() turns two OPENs into the session's contexts.
#include <cstdint>
#include <optional>
#include <vector>

#include "bgp/wire/expected.h"
#include "bgp/wire/reader.h"
#include "bgp/wire/types.h"

namespace vane::bgp::wire {

inline constexpr uint8_t kCapMultiprotocol = 1;          // RFC 4760
inline constexpr uint8_t kCapRouteRefresh = 2;           // RFC 2918
inline constexpr uint8_t kCapExtendedNextHop = 5;        // RFC 8950
inline constexpr uint8_t kCapExtendedMessage = 6;        // RFC 8654
inline constexpr uint8_t kCapGracefulRestart = 64;       // RFC 4724
inline constexpr uint8_t kCapFourByteAs = 65;            // RFC 6793
inline constexpr uint8_t kCapEnhancedRouteRefresh = 70;  // RFC 7313
inline constexpr uint8_t kOptParamCapabilities = 2;      // RFC 5492
inline constexpr uint8_t kOptParamExtendedLength = 255;  // RFC 9072

struct GracefulRestart {
  static constexpr uint8_t kRestartState = 0x8;  // R: the sender has restarted
  static constexpr uint8_t kNotification = 0x4;  // N: RFC 8538 graceful NOTIFICATION support
  static constexpr uint8_t kForwardingPreserved = 0x80;

  struct Family {
    AfiSafi afi_safi;
    uint8_t flags = 0;
    bool forwarding_preserved() const { return flags & kForwardingPreserved; }
    auto operator<=>(const Family&) const = default;
  };
  uint8_t flags = 0;          // the 4 restart flag bits, right-aligned
  uint16_t restart_time = 0;  // seconds, 12 bits on the wire
  std::vector<Family> families;

  bool restart_state() const { return flags & kRestartState; }
  auto operator<=>(const GracefulRestart&) const = default;
};

// A capability this codec does not interpret: kept so it can be logged, then ignored (RFC 5492).
struct RawCapability {
  uint8_t code = 0;
  std::vector<uint8_t> value;
  auto operator<=>(const RawCapability&) const = default;
};

// RFC 8950: routes of `nlri` may carry a next hop of address family `nexthop_afi`.
struct ExtendedNextHop {
  AfiSafi nlri;
  uint16_t nexthop_afi = 0;
  auto operator<=>(const ExtendedNextHop&) const = default;
};
// The one tuple vaned uses: IPv4 unicast routes with an IPv6 next hop.
inline constexpr ExtendedNextHop kIpv4OverIpv6{kIpv4Unicast, kAfiIpv6};

struct Capabilities {
  std::vector<AfiSafi> multiprotocol;              // in the order received, without repeats
  std::vector<ExtendedNextHop> extended_next_hop;  // in the order received, without repeats
  bool route_refresh = false;
  bool enhanced_route_refresh = false;
  bool extended_message = false;
  std::optional<uint32_t> four_byte_as;
  std::optional<GracefulRestart> graceful_restart;
  std::vector<RawCapability> unknown;

  auto operator<=>(const Capabilities&) const = default;
};

struct OpenMessage {
  uint8_t version = kBgpVersion;
  uint16_t my_as = 0;  // the wire field: AS_TRANS when the real ASN needs four bytes
  uint16_t hold_time = 0;
  uint32_t bgp_id = 0;  // host byte order
  Capabilities caps;

  // Fills my_as (AS_TRANS above 65535) and the four-byte AS capability from asn.
  static OpenMessage make(uint32_t asn, uint16_t hold_time, uint32_t bgp_id, Capabilities caps);
  // The speaker's AS: the four-byte capability when present, else My Autonomous System.
  uint32_t asn() const { return caps.four_byte_as ? *caps.four_byte_as : my_as; }
  auto operator<=>(const OpenMessage&) const = default;
};

// body: the message after the header. Errors: 2/1 (data: the version we support, 0x0004) for a
// version other than 4; 2/4 for an optional parameter other than capabilities; 2/0 for
// parameters or capabilities whose lengths do not add up.
Expected<OpenMessage, Notification> decode_open(Bytes body);
// Uses the RFC 9072 encoding only when the parameters exceed 255 bytes.
std::vector<uint8_t> encode_open(const OpenMessage& m);

struct OpenCheck {
  std::optional<uint32_t> peer_as;  // the configured remote AS, if any
  uint32_t local_bgp_id = 0;
  bool is_ibgp = false;
};
// RFC 4271 6.2 / RFC 6286 / RFC 7607: AS 0 or an unexpected AS -> 2/2; identifier 0, or our own on
// an internal session -> 2/3; hold time 1 or 2 -> 2/6.
std::optional<Notification> check_open(const OpenMessage& m, const OpenCheck& check);

struct Negotiated {
  uint32_t peer_asn = 0;
  uint16_t hold_time = 0;  // the smaller of the two; 0 disables keepalives
  bool four_byte_as = false;
  bool receive_extended = false;  // we advertised RFC 8654: accept up to 65535
  bool send_extended = false;     // both advertised: we may send up to 65535
  bool route_refresh = false;
  bool enhanced_route_refresh = false;
  // RFC 8950 IPv4 unicast with an IPv6 next hop. The capability says what its sender can receive,
  // so each direction stands alone (RFC 8950 4).
  bool accept_ipv4_over_ipv6 = false;  // we advertised it: such routes from the peer are valid
  bool send_ipv4_over_ipv6 = false;    // the peer advertised it: we may send them (MP_REACH_NLRI)
  AfiSafiSet families;
  std::optional<GracefulRestart> peer_graceful_restart;

  DecodeContext decode_context(bool is_ebgp) const;
  EncodeContext encode_context(bool is_ebgp) const;
};
// A side that advertises no multiprotocol capability speaks IPv4 unicast only (RFC 4760 section 8).
Negotiated negotiate(const OpenMessage& local, const OpenMessage& remote);

}  // namespace vane::bgp::wire
