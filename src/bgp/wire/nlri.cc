#include "bgp/wire/nlri.h"

#include <cstring>

namespace vane::bgp::wire {

namespace {

void clear_host_bits(std::array<uint8_t, 16>& a, int len) {
  for (int i = 0; i < 16; ++i) {
    int keep = len - i * 8;
    if (keep >= 8) continue;
    a[size_t(i)] &= keep <= 0 ? 0 : uint8_t(0xff << (8 - keep));
  }
}

}  // namespace

WirePrefix WirePrefix::v4(uint32_t h, uint8_t len) {
  WirePrefix p;
  p.len = len > 32 ? 32 : len;
  p.addr[0] = uint8_t(h >> 24);
  p.addr[1] = uint8_t(h >> 16);
  p.addr[2] = uint8_t(h >> 8);
  p.addr[3] = uint8_t(h);
  clear_host_bits(p.addr, p.len);
  return p;
}

std::optional<WirePrefix> WirePrefix::from(const Prefix& in) {
  if (in.len > in.addr.bits()) return std::nullopt;
  WirePrefix p;
  p.family = in.addr.family;
  p.len = in.len;
  p.addr = in.addr.bytes;
  if (p.is_v4()) std::memset(p.addr.data() + 4, 0, 12);
  clear_host_bits(p.addr, p.len);
  return p;
}

Prefix WirePrefix::to_prefix() const {
  Prefix p;
  p.addr.family = family;
  p.addr.bytes = addr;
  p.len = len;
  return p;
}

WirePrefix NlriView::iterator::operator*() const {
  WirePrefix p;
  p.family = family_;
  p.len = p_[0];
  size_t n = (size_t(p.len) + 7) / 8;
  std::memcpy(p.addr.data(), p_ + 1, n);
  if (p.len % 8) p.addr[n - 1] &= uint8_t(0xff << (8 - p.len % 8));
  return p;
}

Expected<NlriView, NlriError> NlriView::parse(Bytes field, IpAddress::Family family) {
  const unsigned max_len = family == IpAddress::Family::v4 ? 32 : 128;
  Reader r(field);
  size_t count = 0;
  uint8_t len = 0;
  while (r.u8(len)) {
    if (len > max_len) return Unexpected(NlriError::prefix_too_long);
    if (!r.skip((size_t(len) + 7) / 8)) return Unexpected(NlriError::truncated);
    ++count;
  }
  NlriView v;
  v.bytes_ = field;
  v.family_ = family;
  v.count_ = count;
  return v;
}

void append_prefix(std::vector<uint8_t>& out, const WirePrefix& p) {
  // Encoders validate lengths first; the cap only keeps a bad value from reading past addr.
  size_t n = p.encoded_size() - 1;
  if (n > p.addr.size()) n = p.addr.size();
  out.push_back(p.len);
  out.insert(out.end(), p.addr.begin(), p.addr.begin() + long(n));
}

}  // namespace vane::bgp::wire
