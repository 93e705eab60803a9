#include "bgp/wire/update.h"

#include <algorithm>
#include <bitset>
#include <cstring>

namespace vane::bgp::wire {

namespace {

using Result = std::optional<Notification>;  // set: reset the session with this NOTIFICATION

Notification update_error(UpdateSubcode sub, Bytes data = {}) {
  return Notification::make(ErrorCode::update, sub, data);
}

bool is_mp(uint8_t type) {
  return type == attr::kMpReachNlri || type == attr::kMpUnreachNlri;
}

// The Optional and Transitive bits each known attribute is defined with; 0xff for unknown types.
uint8_t expected_flags(uint8_t type) {
  constexpr uint8_t wk = attr::kTransitive, opt = attr::kOptional, opt_tr = attr::kOptional | attr::kTransitive;
  switch (type) {
    case attr::kOrigin:
    case attr::kAsPath:
    case attr::kNextHop:
    case attr::kLocalPref:
    case attr::kAtomicAggregate:
      return wk;
    case attr::kMed:
    case attr::kOriginatorId:
    case attr::kClusterList:
    case attr::kMpReachNlri:
    case attr::kMpUnreachNlri:
      return opt;
    case attr::kAggregator:
    case attr::kCommunities:
    case attr::kExtendedCommunities:
    case attr::kAs4Path:
    case attr::kAs4Aggregator:
    case attr::kLargeCommunities:
      return opt_tr;
    default:
      return 0xff;
  }
}

// An ASN of asn_size (2 or 4) bytes.
bool read_asn(Reader& r, size_t asn_size, uint32_t& asn) {
  if (asn_size == 4) return r.u32(asn);
  uint16_t a = 0;
  if (!r.u16(a)) return false;
  asn = a;
  return true;
}

// Exactly one big-endian u32 and nothing else.
bool only_u32(Bytes v, uint32_t& x) {
  Reader r(v);
  return r.u32(x) && r.empty();
}

// RFC 7606 7.2: unknown segment type, zero-length segment, overrun or underrun make it malformed.
bool parse_as_path(Bytes v, size_t asn_size, AsPath& out, bool& has_zero) {
  Reader r(v);
  while (!r.empty()) {
    uint8_t type = 0, count = 0;
    if (!r.u8(type) || !r.u8(count)) return false;
    if (type < uint8_t(SegmentType::as_set) || type > uint8_t(SegmentType::confed_set) || count == 0) return false;
    AsSegment seg{SegmentType(type), {}};
    seg.asns.reserve(count);
    for (unsigned i = 0; i < count; ++i) {
      uint32_t asn = 0;
      if (!read_asn(r, asn_size, asn)) return false;
      if (asn == 0) has_zero = true;
      seg.asns.push_back(asn);
    }
    out.segments.push_back(std::move(seg));
  }
  return true;
}

struct Decoder {
  Decoder(const DecodeContext& c, Update& up) : ctx(c), u(up) {}

  const DecodeContext& ctx;
  Update& u;
  std::bitset<256> seen;
  bool other_than_unreach = false;  // an attribute besides MP_UNREACH_NLRI is present (7606 5.2)
  size_t attribute_count = 0;
  std::optional<AfiSafi> unreach_family;
  bool unreach_empty = false;
  std::optional<AsPath> as4_path;
  std::optional<Aggregator> as4_aggregator;

  void issue(uint8_t type, Disposition action, IssueReason reason, UpdateSubcode sub, Bytes raw) {
    u.issues.push_back({type, action, reason, sub, raw});
    if (action > u.disposition) u.disposition = action;
  }
  void withdraw(uint8_t type, IssueReason reason, UpdateSubcode sub, Bytes raw) {
    issue(type, Disposition::treat_as_withdraw, reason, sub, raw);
  }
  void discard(uint8_t type, IssueReason reason, UpdateSubcode sub, Bytes raw) {
    issue(type, Disposition::attribute_discard, reason, sub, raw);
  }

  Result attribute(uint8_t flags, uint8_t type, Bytes v, Bytes raw);
  Result mp_reach(Bytes v, Bytes raw);
  Result mp_unreach(Bytes v, Bytes raw);
  void as4_merge();
  bool as_path_malformed() const {
    return std::any_of(u.issues.begin(), u.issues.end(), [](const auto& i) { return i.type == attr::kAsPath; });
  }
};

Result Decoder::attribute(uint8_t flags, uint8_t type, Bytes v, Bytes raw) {
  ++attribute_count;
  if (type != attr::kMpUnreachNlri) other_than_unreach = true;
  if (seen[type]) {
    if (is_mp(type)) return update_error(UpdateSubcode::malformed_attribute_list);
    discard(type, IssueReason::duplicate, UpdateSubcode::malformed_attribute_list, raw);
    return std::nullopt;
  }
  seen[type] = true;

  const uint8_t want = expected_flags(type);
  if (want == 0xff) {
    if (!(flags & attr::kOptional)) return update_error(UpdateSubcode::unrecognized_well_known_attribute, raw);
    // Unknown optional non-transitive attributes are quietly ignored (RFC 4271 5).
    if (flags & attr::kTransitive) u.attrs.unknown.push_back({type, {v.begin(), v.end()}});
    return std::nullopt;
  }

  // Attributes RFC 7606 and RFC 6793 dispose of before looking at their content.
  if (ctx.is_ebgp && (type == attr::kLocalPref || type == attr::kOriginatorId || type == attr::kClusterList)) {
    discard(type, IssueReason::from_external_peer, UpdateSubcode::malformed_attribute_list, raw);
    return std::nullopt;
  }
  if (ctx.four_byte_as && (type == attr::kAs4Path || type == attr::kAs4Aggregator)) {
    discard(type, IssueReason::as4_from_four_byte_peer, UpdateSubcode::optional_attribute_error, raw);
    return std::nullopt;
  }

  if ((flags & (attr::kOptional | attr::kTransitive)) != want) {
    if (is_mp(type)) return update_error(UpdateSubcode::attribute_flags_error, raw);
    if (type == attr::kAs4Path || type == attr::kAs4Aggregator)
      discard(type, IssueReason::bad_flags, UpdateSubcode::attribute_flags_error, raw);
    else
      withdraw(type, IssueReason::bad_flags, UpdateSubcode::attribute_flags_error, raw);
    return std::nullopt;
  }

  const size_t asn_size = ctx.four_byte_as ? 4 : 2;
  switch (type) {
    case attr::kOrigin:
      if (v.size() != 1)
        withdraw(type, IssueReason::bad_length, UpdateSubcode::attribute_length_error, raw);
      else if (v[0] > uint8_t(Origin::incomplete))
        withdraw(type, IssueReason::bad_value, UpdateSubcode::invalid_origin, raw);
      else
        u.attrs.origin = Origin(v[0]);
      break;
    case attr::kAsPath: {
      AsPath p;
      bool zero = false;
      if (!parse_as_path(v, asn_size, p, zero))
        withdraw(type, IssueReason::malformed_as_path, UpdateSubcode::malformed_as_path, raw);
      else if (zero)
        withdraw(type, IssueReason::as_zero, UpdateSubcode::malformed_as_path, raw);
      else
        u.attrs.as_path = std::move(p);
      break;
    }
    case attr::kNextHop:
    case attr::kMed:
    case attr::kLocalPref: {
      uint32_t x = 0;
      if (!only_u32(v, x))
        withdraw(type, IssueReason::bad_length, UpdateSubcode::attribute_length_error, raw);
      else if (type == attr::kNextHop)
        u.attrs.next_hop = IpAddress::v4(x);
      else
        (type == attr::kMed ? u.attrs.med : u.attrs.local_pref) = x;
      break;
    }
    case attr::kAtomicAggregate:
      if (!v.empty())
        discard(type, IssueReason::bad_length, UpdateSubcode::attribute_length_error, raw);
      else
        u.attrs.atomic_aggregate = true;
      break;
    case attr::kAggregator: {
      Reader r(v);
      Aggregator a;
      if (!read_asn(r, asn_size, a.asn) || !r.u32(a.address) || !r.empty()) {
        discard(type, IssueReason::bad_length, UpdateSubcode::attribute_length_error, raw);
        break;
      }
      if (a.asn == 0)
        discard(type, IssueReason::as_zero, UpdateSubcode::optional_attribute_error, raw);
      else
        u.attrs.aggregator = a;
      break;
    }
    case attr::kCommunities:
    case attr::kExtendedCommunities:
    case attr::kLargeCommunities: {
      // RFC 7606 section 7 and RFC 8092 6: anything but a non-zero multiple of the item size.
      const size_t item = type == attr::kCommunities ? 4 : type == attr::kExtendedCommunities ? 8 : 12;
      if (v.empty() || v.size() % item) {
        withdraw(type, IssueReason::bad_length, UpdateSubcode::optional_attribute_error, raw);
        break;
      }
      Reader r(v);
      uint32_t a = 0, b = 0, c = 0;
      if (type == attr::kCommunities) {
        u.attrs.communities.reserve(v.size() / item);
        while (r.u32(a)) u.attrs.communities.push_back(a);
      } else if (type == attr::kExtendedCommunities) {
        u.attrs.ext_communities.reserve(v.size() / item);
        while (r.u32(a) && r.u32(b)) u.attrs.ext_communities.push_back({uint64_t(a) << 32 | b});
      } else {
        u.attrs.large_communities.reserve(v.size() / item);
        while (r.u32(a) && r.u32(b) && r.u32(c)) u.attrs.large_communities.push_back({a, b, c});
      }
      break;
    }
    case attr::kOriginatorId: {  // only validated: this speaker is not a route reflector
      uint32_t id = 0;
      if (!only_u32(v, id)) withdraw(type, IssueReason::bad_length, UpdateSubcode::attribute_length_error, raw);
      break;
    }
    case attr::kClusterList:
      if (v.empty() || v.size() % 4)
        withdraw(type, IssueReason::bad_length, UpdateSubcode::attribute_length_error, raw);
      break;
    case attr::kAs4Path: {
      AsPath p;
      bool zero = false;
      if (v.empty() || !parse_as_path(v, 4, p, zero)) {
        discard(type, IssueReason::malformed_as_path, UpdateSubcode::optional_attribute_error, raw);
        break;
      }
      if (zero) {
        discard(type, IssueReason::as_zero, UpdateSubcode::optional_attribute_error, raw);
        break;
      }
      const auto before = p.segments.size();
      std::erase_if(p.segments, [](const AsSegment& s) {
        return s.type == SegmentType::confed_sequence || s.type == SegmentType::confed_set;
      });
      if (p.segments.size() != before)
        discard(type, IssueReason::confed_in_as4_path, UpdateSubcode::optional_attribute_error, raw);
      as4_path = std::move(p);
      break;
    }
    case attr::kAs4Aggregator: {
      Reader r(v);
      Aggregator a;
      if (!r.u32(a.asn) || !r.u32(a.address) || !r.empty())
        discard(type, IssueReason::bad_length, UpdateSubcode::optional_attribute_error, raw);
      else if (a.asn == 0)
        discard(type, IssueReason::as_zero, UpdateSubcode::optional_attribute_error, raw);
      else
        as4_aggregator = a;
      break;
    }
    case attr::kMpReachNlri:
      return mp_reach(v, raw);
    case attr::kMpUnreachNlri:
      return mp_unreach(v, raw);
    default:
      break;
  }
  return std::nullopt;
}

std::optional<IpAddress::Family> family_of(AfiSafi f) {
  if (f == kIpv4Unicast) return IpAddress::Family::v4;
  if (f == kIpv6Unicast) return IpAddress::Family::v6;
  return std::nullopt;
}

IpAddress address_from(Bytes b, IpAddress::Family fam) {
  IpAddress a;
  a.family = fam;
  std::memcpy(a.bytes.data(), b.data(), b.size() < 16 ? b.size() : 16);
  return a;
}

// Malformed MP attributes reset the session: RFC 7606 allows "AFI/SAFI disable" instead, which
// needs per-family state this stateless codec does not keep.
Result Decoder::mp_reach(Bytes v, Bytes raw) {
  const auto bad = [&] { return update_error(UpdateSubcode::optional_attribute_error, raw); };
  Reader r(v);
  AfiSafi f;
  uint8_t nh_len = 0, reserved = 0;
  Bytes nh;
  if (!r.u16(f.afi) || !r.u8(f.safi) || !r.u8(nh_len) || !r.bytes(nh_len, nh) || !r.u8(reserved)) return bad();
  const auto fam = family_of(f);
  if (!fam || !ctx.families.contains(f)) {
    discard(attr::kMpReachNlri, IssueReason::family_not_negotiated, UpdateSubcode::optional_attribute_error, raw);
    return std::nullopt;
  }
  // An IPv4 next hop is 4 bytes; IPv6 is global, or global + link-local. With RFC 8950
  // negotiated, IPv4 routes may carry an IPv6 one (16 or 32 bytes), never otherwise.
  const bool v6_nh = nh_len == 16 || nh_len == 32;
  const bool v4_nh = nh_len == 4;
  if (*fam == IpAddress::Family::v4 ? !(v4_nh || (v6_nh && ctx.ipv4_over_ipv6)) : !v6_nh) return bad();
  auto view = NlriView::parse(r.rest(), *fam);
  if (!view) return bad();
  const auto nh_fam = v4_nh ? IpAddress::Family::v4 : IpAddress::Family::v6;
  u.attrs.mp_next_hop = address_from(nh.first(v4_nh ? 4 : 16), nh_fam);
  if (nh_len == 32) u.attrs.mp_link_local = address_from(nh.subspan(16), nh_fam);
  u.mp_reach = MpNlri{f, *view};
  return std::nullopt;
}

Result Decoder::mp_unreach(Bytes v, Bytes raw) {
  Reader r(v);
  AfiSafi f;
  if (!r.u16(f.afi) || !r.u8(f.safi)) return update_error(UpdateSubcode::optional_attribute_error, raw);
  unreach_family = f;
  unreach_empty = r.empty();
  const auto fam = family_of(f);
  if (!fam || !ctx.families.contains(f)) {
    discard(attr::kMpUnreachNlri, IssueReason::family_not_negotiated, UpdateSubcode::optional_attribute_error, raw);
    return std::nullopt;
  }
  auto view = NlriView::parse(r.rest(), *fam);
  if (!view) return update_error(UpdateSubcode::optional_attribute_error, raw);
  u.mp_unreach = MpNlri{f, *view};
  return std::nullopt;
}

// RFC 6793 4.2.3: only a two-byte peer's AS4_PATH and AS4_AGGREGATOR get here.
void Decoder::as4_merge() {
  if (as4_aggregator && u.attrs.aggregator) {
    if (u.attrs.aggregator->asn != kAsTrans) return;  // AS4_* come from a confused speaker: ignore both
    u.attrs.aggregator = as4_aggregator;
  }
  if (as4_path && seen[attr::kAsPath] && !as_path_malformed())
    u.attrs.as_path = merge_as4_path(u.attrs.as_path, *as4_path);
}

}  // namespace

Expected<Update, Notification> decode_update(Bytes body, const DecodeContext& ctx) {
  Update u;
  Decoder d(ctx, u);
  Reader r(body);
  uint16_t withdrawn_len = 0, attrs_len = 0;
  Bytes withdrawn, attrs;
  // RFC 4271 6.3: lengths that do not fit the message are a Malformed Attribute List.
  if (!r.u16(withdrawn_len) || !r.bytes(withdrawn_len, withdrawn) || !r.u16(attrs_len) || !r.bytes(attrs_len, attrs))
    return Unexpected(update_error(UpdateSubcode::malformed_attribute_list));
  const Bytes nlri = r.rest();

  // RFC 7606 5.3: NLRI that cannot be parsed cannot be treat-as-withdrawn.
  auto wv = NlriView::parse(withdrawn, IpAddress::Family::v4);
  auto nv = NlriView::parse(nlri, IpAddress::Family::v4);
  if (!wv || !nv) return Unexpected(update_error(UpdateSubcode::invalid_network_field));
  if (ctx.families.ipv4_unicast) {
    u.withdrawn = *wv;
    u.nlri = *nv;
  } else if (!wv->empty() || !nv->empty()) {
    d.discard(0, IssueReason::family_not_negotiated, UpdateSubcode::invalid_network_field, {});
  }

  Reader ar(attrs);
  while (!ar.empty()) {
    const Bytes at = ar.rest();
    uint8_t flags = 0, type = 0;
    uint16_t len = 0;
    uint8_t len8 = 0;
    Bytes value;
    bool ok = ar.u8(flags) && ar.u8(type);
    if (ok && (flags & attr::kExtendedLength)) {
      ok = ar.u16(len);
    } else if (ok) {
      ok = ar.u8(len8);
      len = len8;
    }
    if (!ok || !ar.bytes(len, value)) {
      // RFC 7606 4: treat-as-withdraw; the NLRI field is still found from the total length.
      d.other_than_unreach = true;
      d.withdraw(type, IssueReason::attribute_overrun, UpdateSubcode::malformed_attribute_list, at);
      break;
    }
    const Bytes raw = at.first(at.size() - ar.remaining());
    if (auto reset = d.attribute(flags, type, value, raw)) return Unexpected(std::move(*reset));
  }

  if (!ctx.four_byte_as) d.as4_merge();

  const bool reachable = !u.nlri.empty() || (u.mp_reach && !u.mp_reach->nlri.empty());
  if (reachable) {
    // RFC 7606 3.d; RFC 4760 makes NEXT_HOP needed only for routes in the NLRI field.
    static constexpr uint8_t kWellKnown[] = {attr::kOrigin, attr::kAsPath, attr::kNextHop};
    for (uint8_t type : kWellKnown) {
      if (d.seen[type] || (type == attr::kNextHop && u.nlri.empty())) continue;
      d.withdraw(type, IssueReason::missing_well_known, UpdateSubcode::missing_well_known_attribute, {});
    }
    const auto& segs = u.attrs.as_path.segments;
    if (ctx.is_ebgp && ctx.peer_as != 0 && d.seen[attr::kAsPath] && !d.as_path_malformed() &&
        (segs.empty() || segs[0].type != SegmentType::as_sequence || segs[0].asns[0] != ctx.peer_as))
      d.withdraw(attr::kAsPath, IssueReason::first_as_not_peer, UpdateSubcode::malformed_as_path, {});
  } else if (d.other_than_unreach && u.disposition == Disposition::treat_as_withdraw) {
    // RFC 7606 5.2: attributes but no reachable NLRI means the NLRI may have been misparsed.
    for (const auto& i : u.issues)
      if (i.action == Disposition::treat_as_withdraw) return Unexpected(update_error(i.subcode, i.attribute));
  }

  // RFC 4724 2: an empty UPDATE, or one holding nothing but an empty MP_UNREACH_NLRI.
  if (withdrawn.empty() && nlri.empty()) {
    if (attrs.empty())
      u.end_of_rib = kIpv4Unicast;
    else if (d.attribute_count == 1 && d.unreach_family && d.unreach_empty)
      u.end_of_rib = d.unreach_family;
  }
  return u;
}

std::string_view to_string(Disposition d) {
  switch (d) {
    case Disposition::normal:
      return "normal";
    case Disposition::attribute_discard:
      return "attribute-discard";
    case Disposition::treat_as_withdraw:
      return "treat-as-withdraw";
  }
  return "?";
}

std::string_view to_string(IssueReason r) {
  switch (r) {
    case IssueReason::bad_flags:
      return "attribute flags conflict with the attribute type";
    case IssueReason::bad_length:
      return "attribute length is wrong";
    case IssueReason::bad_value:
      return "attribute value is undefined";
    case IssueReason::malformed_as_path:
      return "malformed AS path";
    case IssueReason::as_zero:
      return "AS 0 in path or aggregator";
    case IssueReason::duplicate:
      return "repeated attribute";
    case IssueReason::attribute_overrun:
      return "attribute runs past the path attributes";
    case IssueReason::missing_well_known:
      return "well-known mandatory attribute missing";
    case IssueReason::from_external_peer:
      return "attribute not accepted from an external peer";
    case IssueReason::as4_from_four_byte_peer:
      return "AS4 attribute from a four-byte AS peer";
    case IssueReason::confed_in_as4_path:
      return "confederation segments in AS4_PATH";
    case IssueReason::family_not_negotiated:
      return "address family not negotiated";
    case IssueReason::first_as_not_peer:
      return "AS path does not start with the peer's AS";
  }
  return "?";
}

}  // namespace vane::bgp::wire
