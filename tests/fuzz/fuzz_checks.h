#pragma once
// Invariants every fuzz target asserts on a decoded UPDATE.
#include <vector>

#include "bgp/wire/attributes.h"
#include "bgp/wire/update.h"
#include "fuzz_support.h"

namespace vane::bgp::wire::fuzz {

inline void check_view(const NlriView& v) {
  size_t n = 0;
  for (const auto& p : v) {
    check(p.len <= p.max_len());
    check(p.family == v.family());
    ++n;
  }
  check(n == v.size());
}

// Decoding the attributes, encoding them and decoding again gives the same attributes.
inline void check_attributes_round_trip(const PathAttributes& decoded) {
  PathAttributes a = decoded;
  a.mp_next_hop.reset();  // lives in MP_REACH_NLRI, which encode_path_attributes leaves out
  a.mp_link_local.reset();
  EncodeContext ectx;
  ectx.extended_message = true;
  ectx.is_ebgp = false;
  std::vector<uint8_t> pa;
  if (!encode_path_attributes(a, ectx, a.next_hop.has_value(), pa)) return;
  if (pa.size() > 60000) return;  // two-byte AS paths double in size: stay inside one message
  std::vector<uint8_t> body{0, 0, uint8_t(pa.size() >> 8), uint8_t(pa.size())};
  body.insert(body.end(), pa.begin(), pa.end());
  DecodeContext dctx;
  dctx.extended_message = true;
  dctx.is_ebgp = false;
  auto again = decode_update(body, dctx);
  check(again.has_value());
  check(again->disposition == Disposition::normal);
  // Unknown attributes come back in type order, not arrival order; compare canonical forms.
  PathAttributes b = again->attrs;
  a.canonicalize();
  b.canonicalize();
  check(b == a);
}

inline void check_update(const Update& u, Bytes message) {
  check_view(u.withdrawn);
  check_view(u.nlri);
  if (u.mp_reach) check_view(u.mp_reach->nlri);
  if (u.mp_unreach) check_view(u.mp_unreach->nlri);
  size_t n = 0;
  u.for_each_withdrawn([&](const WirePrefix&) { ++n; });
  u.for_each_announced([&](const WirePrefix&) { ++n; });
  const uint8_t* lo = message.data();
  const uint8_t* hi = message.data() + message.size();
  for (const auto& i : u.issues) {
    check(i.attribute.empty() || (i.attribute.data() >= lo && i.attribute.data() + i.attribute.size() <= hi));
    check(i.action != Disposition::normal);
    check(i.action <= u.disposition);
  }
  check_attributes_round_trip(u.attrs);
}

}  // namespace vane::bgp::wire::fuzz
