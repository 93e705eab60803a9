#pragma once
// The one bounded cursor every decoder reads the wire through, and its writing counterpart.
//
// Contract: every read checks the remaining length first; a failed read returns false and leaves
// the cursor where it was, so a decoder can never step past the end of its buffer. Lengths taken
// off the wire are only ever used as arguments to these calls, never for pointer arithmetic.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace vane::bgp::wire {

using Bytes = std::span<const uint8_t>;

class Reader {
 public:
  Reader() = default;
  explicit Reader(Bytes data) : p_(data.data()), end_(data.data() + data.size()) {}

  size_t remaining() const { return size_t(end_ - p_); }
  bool empty() const { return p_ == end_; }
  Bytes rest() const { return {p_, remaining()}; }

  [[nodiscard]] bool u8(uint8_t& v) {
    if (remaining() < 1) return false;
    v = *p_++;
    return true;
  }
  [[nodiscard]] bool u16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = uint16_t(p_[0] << 8 | p_[1]);
    p_ += 2;
    return true;
  }
  [[nodiscard]] bool u32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = uint32_t(p_[0]) << 24 | uint32_t(p_[1]) << 16 | uint32_t(p_[2]) << 8 | p_[3];
    p_ += 4;
    return true;
  }
  [[nodiscard]] bool bytes(size_t n, Bytes& out) {
    if (remaining() < n) return false;
    out = {p_, n};
    p_ += n;
    return true;
  }
  [[nodiscard]] bool skip(size_t n) {
    if (remaining() < n) return false;
    p_ += n;
    return true;
  }
  [[nodiscard]] bool peek_u8(uint8_t& v) const {
    if (remaining() < 1) return false;
    v = *p_;
    return true;
  }

 private:
  const uint8_t* p_ = nullptr;
  const uint8_t* end_ = nullptr;
};

// Appends big-endian fields to a byte vector. Length fields that precede their content are
// reserved with a placeholder and patched once the content is written.
class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}

  size_t size() const { return out_.size(); }
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    out_.push_back(uint8_t(v >> 8));
    out_.push_back(uint8_t(v));
  }
  void u32(uint32_t v) {
    u16(uint16_t(v >> 16));
    u16(uint16_t(v));
  }
  void bytes(Bytes b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void fill(size_t n, uint8_t v) { out_.insert(out_.end(), n, v); }
  void put_u8_at(size_t at, uint8_t v) { out_[at] = v; }
  void put_u16_at(size_t at, uint16_t v) {
    out_[at] = uint8_t(v >> 8);
    out_[at + 1] = uint8_t(v);
  }

 private:
  std::vector<uint8_t>& out_;
};

}  // namespace vane::bgp::wire
