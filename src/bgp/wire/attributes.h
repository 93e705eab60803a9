#pragma once
// Path attributes as values (RFC 4271 5, RFC 1997, RFC 4360, RFC 6793, RFC 8092) and their
// encoding. PathAttributes is ordered and comparable so a sender can key a map by it and group
// every prefix that shares one attribute set into the same UPDATEs.
#include <compare>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

#include "bgp/wire/expected.h"
#include "bgp/wire/reader.h"
#include "bgp/wire/types.h"
#include "common/ip.h"

namespace vane::bgp::wire {

namespace attr {
inline constexpr uint8_t kOptional = 0x80;
inline constexpr uint8_t kTransitive = 0x40;
inline constexpr uint8_t kPartial = 0x20;
inline constexpr uint8_t kExtendedLength = 0x10;

inline constexpr uint8_t kOrigin = 1;
inline constexpr uint8_t kAsPath = 2;
inline constexpr uint8_t kNextHop = 3;
inline constexpr uint8_t kMed = 4;
inline constexpr uint8_t kLocalPref = 5;
inline constexpr uint8_t kAtomicAggregate = 6;
inline constexpr uint8_t kAggregator = 7;
inline constexpr uint8_t kCommunities = 8;
inline constexpr uint8_t kOriginatorId = 9;
inline constexpr uint8_t kClusterList = 10;
inline constexpr uint8_t kMpReachNlri = 14;
inline constexpr uint8_t kMpUnreachNlri = 15;
inline constexpr uint8_t kExtendedCommunities = 16;
inline constexpr uint8_t kAs4Path = 17;
inline constexpr uint8_t kAs4Aggregator = 18;
inline constexpr uint8_t kLargeCommunities = 32;
}  // namespace attr

// Well-known communities (RFC 1997, RFC 3765, RFC 7999, RFC 8326).
namespace community {
inline constexpr uint32_t kGracefulShutdown = 0xFFFF0000;
inline constexpr uint32_t kAcceptOwn = 0xFFFF0001;
inline constexpr uint32_t kBlackhole = 0xFFFF029A;
inline constexpr uint32_t kNoExport = 0xFFFFFF01;
inline constexpr uint32_t kNoAdvertise = 0xFFFFFF02;
inline constexpr uint32_t kNoExportSubconfed = 0xFFFFFF03;
inline constexpr uint32_t kNoPeer = 0xFFFFFF04;
constexpr uint32_t make(uint16_t asn, uint16_t value) {
  return uint32_t(asn) << 16 | value;
}
}  // namespace community

enum class Origin : uint8_t { igp = 0, egp = 1, incomplete = 2 };

enum class SegmentType : uint8_t {
  as_set = 1,
  as_sequence = 2,
  confed_sequence = 3,  // RFC 5065
  confed_set = 4,
};

struct AsSegment {
  SegmentType type = SegmentType::as_sequence;
  std::vector<uint32_t> asns;
  auto operator<=>(const AsSegment&) const = default;
};

struct AsPath {
  std::vector<AsSegment> segments;

  static AsPath sequence(std::initializer_list<uint32_t> asns);
  // Path length for best-path selection (RFC 4271 9.1.2.2): a set counts one, confederation
  // segments count nothing (RFC 5065).
  size_t length() const;
  // Puts asn in front `times` times, as a speaker does on export (and for prepending).
  void prepend(uint32_t asn, unsigned times = 1);
  bool contains(uint32_t asn) const;
  bool empty() const { return segments.empty(); }
  auto operator<=>(const AsPath&) const = default;
};

struct Aggregator {
  uint32_t asn = 0;
  uint32_t address = 0;  // IPv4, host byte order
  auto operator<=>(const Aggregator&) const = default;
};

struct ExtendedCommunity {  // RFC 4360: 8 opaque bytes, type in the high byte
  uint64_t value = 0;
  uint8_t type() const { return uint8_t(value >> 56); }
  uint8_t subtype() const { return uint8_t(value >> 48); }
  auto operator<=>(const ExtendedCommunity&) const = default;
};

struct LargeCommunity {  // RFC 8092
  uint32_t global_admin = 0;
  uint32_t local1 = 0;
  uint32_t local2 = 0;
  auto operator<=>(const LargeCommunity&) const = default;
};

// An optional transitive attribute this codec does not interpret. It is passed on with the
// Partial bit set (RFC 4271 5).
struct RawAttribute {
  uint8_t type = 0;
  std::vector<uint8_t> value;
  auto operator<=>(const RawAttribute&) const = default;
};

struct PathAttributes {
  Origin origin = Origin::igp;
  AsPath as_path;
  std::optional<IpAddress> next_hop;       // NEXT_HOP, for IPv4 routes in the classic NLRI field
  std::optional<IpAddress> mp_next_hop;    // MP_REACH_NLRI next hop (global)
  std::optional<IpAddress> mp_link_local;  // MP_REACH_NLRI IPv6 link-local next hop, if any
  std::optional<uint32_t> med;
  std::optional<uint32_t> local_pref;
  bool atomic_aggregate = false;
  std::optional<Aggregator> aggregator;
  std::vector<uint32_t> communities;
  std::vector<ExtendedCommunity> ext_communities;
  std::vector<LargeCommunity> large_communities;
  std::vector<RawAttribute> unknown;

  // Sorts and de-duplicates the community lists and orders unknown attributes by type, so two
  // sets that mean the same thing compare equal (and encode identically).
  void canonicalize();
  bool has_community(uint32_t c) const;
  auto operator<=>(const PathAttributes&) const = default;
};

enum class EncodeError : uint8_t {
  missing_next_hop,      // no NEXT_HOP (IPv4) or MP next hop (IPv6) for the routes being sent
  next_hop_family,       // an IPv4 next hop for IPv6 routes or the reverse
  attributes_too_large,  // the attributes and one prefix do not fit the negotiated message size
  invalid_prefix,        // a prefix length beyond its family's width
};

// Appends every attribute except MP_REACH_NLRI/MP_UNREACH_NLRI in ascending type order:
// NEXT_HOP only when with_next_hop, LOCAL_PREF never to an external peer, AS_PATH/AGGREGATOR in
// two-byte form plus AS4_PATH/AS4_AGGREGATOR when the peer lacks four-byte AS support.
Expected<size_t, EncodeError> encode_path_attributes(const PathAttributes& a, const EncodeContext& ctx,
                                                     bool with_next_hop, std::vector<uint8_t>& out);

// Appends one attribute header and value, using the extended length form only when needed.
void append_attribute(std::vector<uint8_t>& out, uint8_t flags, uint8_t type, Bytes value);

// RFC 6793 4.2.3: rebuilds the four-byte path from a two-byte peer's AS_PATH and AS4_PATH.
AsPath merge_as4_path(const AsPath& as_path, const AsPath& as4_path);

}  // namespace vane::bgp::wire
