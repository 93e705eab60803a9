#include "bgp/wire/attributes.h"

#include <algorithm>

namespace vane::bgp::wire {

AsPath AsPath::sequence(std::initializer_list<uint32_t> asns) {
  AsPath p;
  if (asns.size() != 0) p.segments.push_back({SegmentType::as_sequence, asns});
  return p;
}

size_t AsPath::length() const {
  size_t n = 0;
  for (const auto& s : segments) {
    if (s.type == SegmentType::as_sequence) n += s.asns.size();
    if (s.type == SegmentType::as_set) n += 1;
  }
  return n;
}

void AsPath::prepend(uint32_t asn, unsigned times) {
  for (unsigned i = 0; i < times; ++i) {
    // A segment holds at most 255 ASNs on the wire; start a new one rather than overflow.
    if (segments.empty() || segments.front().type != SegmentType::as_sequence || segments.front().asns.size() >= 255)
      segments.insert(segments.begin(), AsSegment{SegmentType::as_sequence, {}});
    auto& a = segments.front().asns;
    a.insert(a.begin(), asn);
  }
}

bool AsPath::contains(uint32_t asn) const {
  for (const auto& s : segments)
    if (std::find(s.asns.begin(), s.asns.end(), asn) != s.asns.end()) return true;
  return false;
}

void PathAttributes::canonicalize() {
  auto sort_unique = [](auto& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  };
  sort_unique(communities);
  sort_unique(ext_communities);
  sort_unique(large_communities);
  std::stable_sort(unknown.begin(), unknown.end(),
                   [](const RawAttribute& x, const RawAttribute& y) { return x.type < y.type; });
}

bool PathAttributes::has_community(uint32_t c) const {
  return std::find(communities.begin(), communities.end(), c) != communities.end();
}

void append_attribute(std::vector<uint8_t>& out, uint8_t flags, uint8_t type, Bytes value) {
  Writer w(out);
  if (value.size() > 255) {
    w.u8(uint8_t(flags | attr::kExtendedLength));
    w.u8(type);
    w.u16(uint16_t(value.size()));
  } else {
    w.u8(uint8_t(flags & ~attr::kExtendedLength));
    w.u8(type);
    w.u8(uint8_t(value.size()));
  }
  w.bytes(value);
}

namespace {

bool is_confed(SegmentType t) {
  return t == SegmentType::confed_sequence || t == SegmentType::confed_set;
}

// four_byte: write ASNs as 4 bytes; otherwise 2, with AS_TRANS for those that do not fit.
// skip_confed: leave confederation segments out (AS4_PATH must not carry them, RFC 6793 3).
void encode_as_path(const AsPath& p, bool four_byte, bool skip_confed, std::vector<uint8_t>& v) {
  Writer w(v);
  for (const auto& s : p.segments) {
    if (skip_confed && is_confed(s.type)) continue;
    for (size_t i = 0; i < s.asns.size(); i += 255) {
      const size_t n = std::min<size_t>(255, s.asns.size() - i);
      w.u8(uint8_t(s.type));
      w.u8(uint8_t(n));
      for (size_t k = i; k < i + n; ++k) {
        const uint32_t asn = s.asns[k];
        if (four_byte)
          w.u32(asn);
        else
          w.u16(asn > 0xffff ? kAsTrans : uint16_t(asn));
      }
    }
  }
}

bool needs_as4_path(const AsPath& p) {
  for (const auto& s : p.segments) {
    if (is_confed(s.type)) continue;
    for (uint32_t asn : s.asns)
      if (asn > 0xffff) return true;
  }
  return false;
}

size_t as_count(const AsPath& p) {
  return p.length();
}

}  // namespace

Expected<size_t, EncodeError> encode_path_attributes(const PathAttributes& a, const EncodeContext& ctx,
                                                     bool with_next_hop, std::vector<uint8_t>& out) {
  const size_t start = out.size();
  std::vector<const RawAttribute*> unknown;
  unknown.reserve(a.unknown.size());
  for (const auto& u : a.unknown) unknown.push_back(&u);
  std::stable_sort(unknown.begin(), unknown.end(),
                   [](const RawAttribute* x, const RawAttribute* y) { return x->type < y->type; });
  size_t next_unknown = 0;
  bool too_large = false;

  auto emit = [&](uint8_t flags, uint8_t type, Bytes value) {
    if (value.size() > 0xffff) {
      too_large = true;
      return;
    }
    append_attribute(out, flags, type, value);
  };
  // Keeps the whole list in ascending type order (RFC 4271 5: SHOULD) with unknown ones interleaved.
  auto put = [&](uint8_t flags, uint8_t type, Bytes value) {
    while (next_unknown < unknown.size() && unknown[next_unknown]->type < type) {
      const auto* u = unknown[next_unknown++];
      emit(attr::kOptional | attr::kTransitive | attr::kPartial, u->type, u->value);
    }
    emit(flags, type, value);
  };

  std::vector<uint8_t> v;
  auto u32_value = [&](uint32_t x) -> Bytes {
    v.clear();
    Writer(v).u32(x);
    return v;
  };

  v.assign(1, uint8_t(a.origin));
  put(attr::kTransitive, attr::kOrigin, v);

  v.clear();
  encode_as_path(a.as_path, ctx.four_byte_as, false, v);
  put(attr::kTransitive, attr::kAsPath, v);

  if (with_next_hop) {
    if (!a.next_hop) return Unexpected(EncodeError::missing_next_hop);
    if (!a.next_hop->is_v4()) return Unexpected(EncodeError::next_hop_family);
    put(attr::kTransitive, attr::kNextHop, Bytes(a.next_hop->bytes.data(), 4));
  }
  if (a.med) put(attr::kOptional, attr::kMed, u32_value(*a.med));
  if (a.local_pref && !ctx.is_ebgp) put(attr::kTransitive, attr::kLocalPref, u32_value(*a.local_pref));
  if (a.atomic_aggregate) put(attr::kTransitive, attr::kAtomicAggregate, {});
  if (a.aggregator) {
    v.clear();
    Writer w(v);
    if (ctx.four_byte_as)
      w.u32(a.aggregator->asn);
    else
      w.u16(a.aggregator->asn > 0xffff ? kAsTrans : uint16_t(a.aggregator->asn));
    w.u32(a.aggregator->address);
    put(attr::kOptional | attr::kTransitive, attr::kAggregator, v);
  }
  if (!a.communities.empty()) {
    v.clear();
    Writer w(v);
    for (uint32_t c : a.communities) w.u32(c);
    put(attr::kOptional | attr::kTransitive, attr::kCommunities, v);
  }
  if (!a.ext_communities.empty()) {
    v.clear();
    Writer w(v);
    for (const auto& c : a.ext_communities) {
      w.u32(uint32_t(c.value >> 32));
      w.u32(uint32_t(c.value));
    }
    put(attr::kOptional | attr::kTransitive, attr::kExtendedCommunities, v);
  }
  if (!ctx.four_byte_as && needs_as4_path(a.as_path)) {
    v.clear();
    encode_as_path(a.as_path, true, true, v);
    put(attr::kOptional | attr::kTransitive, attr::kAs4Path, v);
  }
  if (!ctx.four_byte_as && a.aggregator && a.aggregator->asn > 0xffff) {
    v.clear();
    Writer w(v);
    w.u32(a.aggregator->asn);
    w.u32(a.aggregator->address);
    put(attr::kOptional | attr::kTransitive, attr::kAs4Aggregator, v);
  }
  if (!a.large_communities.empty()) {
    v.clear();
    Writer w(v);
    for (const auto& c : a.large_communities) {
      w.u32(c.global_admin);
      w.u32(c.local1);
      w.u32(c.local2);
    }
    put(attr::kOptional | attr::kTransitive, attr::kLargeCommunities, v);
  }
  while (next_unknown < unknown.size()) {
    const auto* u = unknown[next_unknown++];
    emit(attr::kOptional | attr::kTransitive | attr::kPartial, u->type, u->value);
  }
  if (too_large) {
    out.resize(start);
    return Unexpected(EncodeError::attributes_too_large);
  }
  return out.size() - start;
}

AsPath merge_as4_path(const AsPath& as_path, const AsPath& as4_path) {
  const size_t n = as_count(as_path), n4 = as_count(as4_path);
  if (n < n4) return as_path;  // the AS4_PATH cannot be right: keep what the old speaker sent
  size_t need = n - n4;
  AsPath out;
  for (const auto& s : as_path.segments) {
    if (is_confed(s.type)) {
      out.segments.push_back(s);
      continue;
    }
    if (need == 0) break;
    if (s.type == SegmentType::as_set) {
      out.segments.push_back(s);
      need -= 1;
      continue;
    }
    const size_t take = std::min(need, s.asns.size());
    out.segments.push_back({s.type, {s.asns.begin(), s.asns.begin() + long(take)}});
    need -= take;
  }
  for (const auto& s : as4_path.segments) {
    // Join sequences split only by the merge, so the result compares equal to the original path.
    if (!out.segments.empty() && s.type == SegmentType::as_sequence &&
        out.segments.back().type == SegmentType::as_sequence &&
        out.segments.back().asns.size() + s.asns.size() <= 255) {
      auto& a = out.segments.back().asns;
      a.insert(a.end(), s.asns.begin(), s.asns.end());
    } else {
      out.segments.push_back(s);
    }
  }
  return out;
}

}  // namespace vane::bgp::wire
