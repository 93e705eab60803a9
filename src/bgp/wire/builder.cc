#include "bgp/wire/builder.h"

#include <optional>

#include "bgp/wire/header.h"

namespace vane::bgp::wire {

namespace {

constexpr size_t kUpdateFixed = kHeaderLength + 4;  // header, withdrawn length, attributes length
constexpr size_t kMpHeader = 4;                     // flags, type, two-byte length

bool valid(std::span<const WirePrefix> prefixes) {
  for (const auto& p : prefixes)
    if (p.len > p.max_len()) return false;
  return true;
}

// Runs `add` for each prefix of one family; `open_message` starts a message and returns the room
// left in it for prefixes, `close_message` finishes it. Returns the number of messages, or 0 when
// a prefix does not fit even an empty message.
template <class Open, class Close>
size_t pack(std::span<const WirePrefix> prefixes, bool v4, std::vector<uint8_t>& out, Open open_message,
            Close close_message) {
  size_t messages = 0;
  size_t room = 0;
  bool in_message = false;
  for (const auto& p : prefixes) {
    if (p.is_v4() != v4) continue;
    const size_t need = p.encoded_size();
    if (in_message && need > room) {
      close_message();
      in_message = false;
    }
    if (!in_message) {
      room = open_message();
      in_message = true;
      ++messages;
      if (need > room) return 0;
    }
    append_prefix(out, p);
    room -= need;
  }
  if (in_message) close_message();
  return messages;
}

size_t count_family(std::span<const WirePrefix> prefixes, bool v4) {
  size_t n = 0;
  for (const auto& p : prefixes) n += p.is_v4() == v4;
  return n;
}

}  // namespace

Expected<size_t, EncodeError> encode_announce(const PathAttributes& attrs, std::span<const WirePrefix> prefixes,
                                              const EncodeContext& ctx, std::vector<uint8_t>& out) {
  if (!valid(prefixes)) return Unexpected(EncodeError::invalid_prefix);
  const size_t max = ctx.max_message_length();
  const size_t rollback = out.size();
  size_t messages = 0;

  // Prefixes of one family in MP_REACH_NLRI with the IPv6 next hop(s): IPv6 always, IPv4 under
  // RFC 8950 (AFI 1, SAFI 1, a 16 or 32 byte next hop).
  auto mp_announce = [&](bool v4) -> std::optional<EncodeError> {
    if (!attrs.mp_next_hop) return EncodeError::missing_next_hop;
    if (!attrs.mp_next_hop->is_v6() || (attrs.mp_link_local && !attrs.mp_link_local->is_v6()))
      return EncodeError::next_hop_family;
    std::vector<uint8_t> pa;
    auto enc = encode_path_attributes(attrs, ctx, false, pa);
    if (!enc) return enc.error();
    const uint8_t nh_len = attrs.mp_link_local ? 32 : 16;
    size_t start = 0, mp_start = 0;
    const size_t n = pack(
        prefixes, v4, out,
        [&] {
          start = begin_message(out, MessageType::update);
          Writer w(out);
          w.u16(0);
          w.u16(0);  // patched on close
          mp_start = out.size();
          w.u8(attr::kOptional | attr::kExtendedLength);
          w.u8(attr::kMpReachNlri);
          w.u16(0);  // patched on close
          w.u16(v4 ? kAfiIpv4 : kAfiIpv6);
          w.u8(kSafiUnicast);
          w.u8(nh_len);
          w.bytes(Bytes(attrs.mp_next_hop->bytes.data(), 16));
          if (attrs.mp_link_local) w.bytes(Bytes(attrs.mp_link_local->bytes.data(), 16));
          w.u8(0);  // reserved
          const size_t used = out.size() - start + pa.size();
          return used < max ? max - used : 0;
        },
        [&] {
          Writer w(out);
          w.put_u16_at(mp_start + 2, uint16_t(out.size() - mp_start - kMpHeader));
          w.bytes(pa);
          w.put_u16_at(start + kHeaderLength + 2, uint16_t(out.size() - mp_start));
          patch_length(out, start);
        });
    if (n == 0) return EncodeError::attributes_too_large;
    messages += n;
    return std::nullopt;
  };

  if (count_family(prefixes, true) != 0) {
    if (!attrs.next_hop && ctx.ipv4_over_ipv6) {
      if (auto e = mp_announce(true)) {
        out.resize(rollback);
        return Unexpected(*e);
      }
    } else {
      std::vector<uint8_t> pa;
      auto enc = encode_path_attributes(attrs, ctx, true, pa);
      if (!enc) return Unexpected(enc.error());
      if (kUpdateFixed + pa.size() >= max) return Unexpected(EncodeError::attributes_too_large);
      size_t start = 0;
      const size_t n = pack(
          prefixes, true, out,
          [&] {
            start = begin_message(out, MessageType::update);
            Writer w(out);
            w.u16(0);
            w.u16(uint16_t(pa.size()));
            w.bytes(pa);
            return max - (out.size() - start);
          },
          [&] { patch_length(out, start); });
      if (n == 0) {
        out.resize(rollback);
        return Unexpected(EncodeError::attributes_too_large);
      }
      messages += n;
    }
  }

  if (count_family(prefixes, false) != 0) {
    if (auto e = mp_announce(false)) {
      out.resize(rollback);
      return Unexpected(*e);
    }
  }
  return messages;
}

Expected<size_t, EncodeError> encode_withdraw(std::span<const WirePrefix> prefixes, const EncodeContext& ctx,
                                              std::vector<uint8_t>& out) {
  if (!valid(prefixes)) return Unexpected(EncodeError::invalid_prefix);
  const size_t max = ctx.max_message_length();
  size_t start = 0, mp_start = 0;
  size_t messages = pack(
      prefixes, true, out,
      [&] {
        start = begin_message(out, MessageType::update);
        Writer(out).u16(0);  // patched on close
        return max - kUpdateFixed;
      },
      [&] {
        Writer w(out);
        w.put_u16_at(start + kHeaderLength, uint16_t(out.size() - start - kHeaderLength - 2));
        w.u16(0);
        patch_length(out, start);
      });
  messages += pack(
      prefixes, false, out,
      [&] {
        start = begin_message(out, MessageType::update);
        Writer w(out);
        w.u16(0);
        w.u16(0);  // patched on close
        mp_start = out.size();
        w.u8(attr::kOptional | attr::kExtendedLength);
        w.u8(attr::kMpUnreachNlri);
        w.u16(0);  // patched on close
        w.u16(kAfiIpv6);
        w.u8(kSafiUnicast);
        return max - (out.size() - start);
      },
      [&] {
        Writer w(out);
        w.put_u16_at(mp_start + 2, uint16_t(out.size() - mp_start - kMpHeader));
        w.put_u16_at(start + kHeaderLength + 2, uint16_t(out.size() - mp_start));
        patch_length(out, start);
      });
  return messages;
}

void encode_end_of_rib(AfiSafi family, std::vector<uint8_t>& out) {
  const size_t start = begin_message(out, MessageType::update);
  Writer w(out);
  w.u16(0);
  if (family == kIpv4Unicast) {
    w.u16(0);
  } else {
    w.u16(6);
    w.u8(attr::kOptional);
    w.u8(attr::kMpUnreachNlri);
    w.u8(3);
    w.u16(family.afi);
    w.u8(family.safi);
  }
  patch_length(out, start);
}

}  // namespace vane::bgp::wire
