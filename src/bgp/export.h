#pragma once
// What the daemon asks the speaker to announce: one entry per configured prefix that should be
// in the routers' tables now. The speaker turns each into per-neighbour attributes (AS path,
// next hop) and diffs the set against what each neighbour was last sent.
#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"

namespace vane::bgp {

struct ExportAttrs {
  std::vector<uint32_t> communities;           // sorted, unique
  std::vector<std::array<uint32_t, 3>> large;  // sorted, unique
  std::vector<uint64_t> extended;              // sorted, unique
  std::optional<uint32_t> med;
  uint32_t prepend = 0;  // extra copies of the local AS

  auto operator<=>(const ExportAttrs&) const = default;
};

using ExportSet = std::map<Prefix, ExportAttrs>;

}  // namespace vane::bgp
