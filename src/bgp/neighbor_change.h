#pragma once
// What a changed neighbour block costs its session: the protocol fixes some settings when the
// session opens (addresses, ASNs, router id, capabilities, hold time, the TCP MD5 key), so a
// change there needs a new session; every other setting applies to the running one. Pure: the
// reload's dry-run and Speaker::update_neighbor ask the same question here.
#include <string>
#include <vector>

#include "bgp/neighbor.h"

namespace vane::bgp {

struct NeighborChange {
  enum Kind { kNone, kInPlace, kReset } kind;
  std::vector<std::string> fields;  // every changed field, in declaration order
  std::string reason;               // for kReset: the fields that force it, in words
};

// `before` and `after` are the same neighbour (same name).
NeighborChange classify_neighbor_change(const NeighborConfig& before, const NeighborConfig& after);

}  // namespace vane::bgp
