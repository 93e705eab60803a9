#pragma once
// Shared by the libFuzzer targets: the decode context comes from the input itself, so the fuzzer
// explores every combination of negotiated options, and a broken invariant stops the run with a
// crash the fuzzer records.
#include <cstdint>
#include <cstdlib>

#include "bgp/wire/types.h"

namespace vane::bgp::wire::fuzz {

inline DecodeContext context_from(uint8_t b) {
  DecodeContext c;
  c.four_byte_as = b & 0x01;
  c.extended_message = b & 0x02;
  c.families.ipv4_unicast = b & 0x04;
  c.families.ipv6_unicast = b & 0x08;
  c.is_ebgp = b & 0x10;
  c.peer_as = b & 0x20 ? 65001 : 0;
  return c;
}

inline uint8_t context_byte(const DecodeContext& c) {
  return uint8_t((c.four_byte_as ? 0x01 : 0) | (c.extended_message ? 0x02 : 0) | (c.families.ipv4_unicast ? 0x04 : 0) |
                 (c.families.ipv6_unicast ? 0x08 : 0) | (c.is_ebgp ? 0x10 : 0) | (c.peer_as ? 0x20 : 0));
}

inline void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace vane::bgp::wire::fuzz
