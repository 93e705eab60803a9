#pragma once
// NLRI (RFC 4271 4.3, RFC 4760 5): a compact prefix value and a zero-copy view over a run of
// encoded prefixes. A view is validated once when it is made; iterating it afterwards cannot fail
// and allocates nothing, which is what lets a receiver take in a full table quickly.
#include <array>
#include <compare>
#include <cstdint>
#include <iterator>
#include <optional>
#include <vector>

#include "bgp/wire/expected.h"
#include "bgp/wire/reader.h"
#include "common/ip.h"

namespace vane::bgp::wire {

// 18 bytes, trivially copyable. Bits past `len` are always zero, so equal prefixes compare equal
// whatever trailing bits the sender put on the wire.
struct WirePrefix {
  IpAddress::Family family = IpAddress::Family::v4;
  uint8_t len = 0;
  std::array<uint8_t, 16> addr{};

  static WirePrefix v4(uint32_t host_order, uint8_t len);  // len above 32 is taken as 32
  // Host bits are cleared; a length beyond the family's width is refused.
  static std::optional<WirePrefix> from(const Prefix& p);
  Prefix to_prefix() const;
  bool is_v4() const { return family == IpAddress::Family::v4; }
  int max_len() const { return is_v4() ? 32 : 128; }
  size_t encoded_size() const { return 1 + (size_t(len) + 7) / 8; }

  auto operator<=>(const WirePrefix&) const = default;
};

enum class NlriError : uint8_t {
  prefix_too_long,  // length > 32 (IPv4) or > 128 (IPv6)
  truncated,        // the last prefix runs past the end of the field
};

class NlriView {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = WirePrefix;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = WirePrefix;

    iterator() = default;
    WirePrefix operator*() const;
    iterator& operator++() {
      p_ += 1 + (size_t(*p_) + 7) / 8;
      return *this;
    }
    iterator operator++(int) {
      auto old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator& o) const { return p_ == o.p_; }

   private:
    friend class NlriView;
    iterator(const uint8_t* p, IpAddress::Family f) : p_(p), family_(f) {}
    const uint8_t* p_ = nullptr;
    IpAddress::Family family_ = IpAddress::Family::v4;
  };

  NlriView() = default;
  // Checks every prefix length against the family and the field's end.
  static Expected<NlriView, NlriError> parse(Bytes field, IpAddress::Family family);

  iterator begin() const { return {bytes_.data(), family_}; }
  iterator end() const { return {bytes_.data() + bytes_.size(), family_}; }
  size_t size() const { return count_; }  // number of prefixes
  bool empty() const { return count_ == 0; }
  Bytes bytes() const { return bytes_; }
  IpAddress::Family family() const { return family_; }
  std::vector<WirePrefix> to_vector() const { return {begin(), end()}; }

 private:
  Bytes bytes_;
  IpAddress::Family family_ = IpAddress::Family::v4;
  size_t count_ = 0;
};

// Appends one prefix in NLRI encoding (length octet, then the significant octets).
void append_prefix(std::vector<uint8_t>& out, const WirePrefix& p);

}  // namespace vane::bgp::wire
