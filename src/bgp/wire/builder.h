#pragma once
// The sending side of UPDATE: packs many prefixes sharing one attribute set into as few messages
// as the negotiated size allows. Each UPDATE carries one kind of NLRI only, with MP_REACH_NLRI or
// MP_UNREACH_NLRI as its first attribute (RFC 7606 5.1).
#include <cstddef>
#include <span>
#include <vector>

#include "bgp/wire/attributes.h"
#include "bgp/wire/expected.h"
#include "bgp/wire/nlri.h"
#include "bgp/wire/types.h"

namespace vane::bgp::wire {

// Appends UPDATE messages to `out` (one contiguous stream, ready for the socket) announcing every
// prefix with `attrs`: IPv4 in the NLRI field with attrs.next_hop, IPv6 in MP_REACH_NLRI with
// attrs.mp_next_hop (and attrs.mp_link_local when set). IPv4 without attrs.next_hop, when the
// session negotiated RFC 8950 (ctx.ipv4_over_ipv6), goes in MP_REACH_NLRI AFI 1 with the IPv6 ones. Returns the number
// of messages. On error nothing is appended.
Expected<size_t, EncodeError> encode_announce(const PathAttributes& attrs, std::span<const WirePrefix> prefixes,
                                              const EncodeContext& ctx, std::vector<uint8_t>& out);

// Appends UPDATE messages withdrawing every prefix: IPv4 in Withdrawn Routes, IPv6 in
// MP_UNREACH_NLRI. Returns the number of messages.
Expected<size_t, EncodeError> encode_withdraw(std::span<const WirePrefix> prefixes, const EncodeContext& ctx,
                                              std::vector<uint8_t>& out);

// RFC 4724 End-of-RIB: an empty UPDATE for IPv4 unicast, an empty MP_UNREACH_NLRI otherwise.
void encode_end_of_rib(AfiSafi family, std::vector<uint8_t>& out);

}  // namespace vane::bgp::wire
