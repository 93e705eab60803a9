#pragma once
// IPv6 router advertisements (RFC 4861 4.2), only as far as unnumbered BGP needs them: vaned
// sends one with router lifetime 0 (a router on the link learns our link-local address; no host
// takes us for a default router), and learns a router's link-local address from the ones it sends.
// Pure: bytes in, values out; the socket is in ra_link.h.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/ip.h"

namespace vane::bgp::ra {

inline constexpr uint8_t kTypeRouterSolicitation = 133;
inline constexpr uint8_t kTypeRouterAdvertisement = 134;
inline constexpr size_t kHeaderLength = 16;  // ICMPv6 header + RA fixed part
inline constexpr uint8_t kOptionSourceLinkLayer = 1;

struct Advertisement {
  uint8_t cur_hop_limit = 0;
  uint8_t flags = 0;             // M, O, ...
  uint16_t router_lifetime = 0;  // seconds; 0: not a default router
  uint32_t reachable_time = 0;
  uint32_t retrans_timer = 0;
  std::vector<uint8_t> source_link_layer;  // the option's address bytes, if sent
};

enum class Refusal {
  hop_limit,  // not 255: it crossed a router (RFC 4861 6.1.2)
  source,     // not a link-local source
  malformed,  // too short, wrong type or code, an option of length 0 or past the end
};

// The ICMPv6 message (checksum already checked by the kernel on a raw ICMPv6 socket), with the hop
// limit and source address it arrived with.
struct Parsed {
  std::optional<Advertisement> ra;
  std::optional<Refusal> refused;
};
Parsed parse(std::span<const uint8_t> icmp, int hop_limit, const IpAddress& source);

// An RA with router lifetime 0 and no prefixes, with the source link-layer address option when
// `mac` is given (6 bytes). The checksum field is left 0: the kernel fills it on a raw ICMPv6 socket.
std::vector<uint8_t> build(std::span<const uint8_t> mac);

const char* to_string(Refusal r);

}  // namespace vane::bgp::ra
