#include "bgp/rib.h"

#include <cassert>
#include <cstring>

namespace vane::bgp {

namespace {
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

uint32_t AttrStore::intern(std::span<const uint8_t> raw) {
  std::string_view v(reinterpret_cast<const char*>(raw.data()), raw.size());
  if (auto it = by_bytes_.find(v); it != by_bytes_.end()) {
    ++entries_[it->second].refs;
    return it->second;
  }
  uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = uint32_t(entries_.size());
    entries_.emplace_back();
  }
  entries_[id].raw.assign(v);
  entries_[id].refs = 1;
  by_bytes_.emplace(std::string_view(entries_[id].raw), id);
  return id;
}

void AttrStore::ref(uint32_t id) {
  if (id != kNone) ++entries_[id].refs;
}

void AttrStore::unref(uint32_t id) {
  if (id == kNone) return;
  Entry& e = entries_[id];
  assert(e.refs > 0);
  if (--e.refs) return;
  by_bytes_.erase(std::string_view(e.raw));
  std::string().swap(e.raw);
  free_.push_back(id);
}

std::span<const uint8_t> AttrStore::get(uint32_t id) const {
  const std::string& r = entries_[id].raw;
  return {reinterpret_cast<const uint8_t*>(r.data()), r.size()};
}

size_t AttrStore::bytes() const {
  size_t n = entries_.size() * sizeof(Entry);
  for (auto& e : entries_) n += e.raw.capacity() > 15 ? e.raw.capacity() : 0;
  return n + by_bytes_.size() * 48;
}

size_t V4Table::slot(uint64_t k) const {
  return mix(k) & (keys_.size() - 1);
}

void V4Table::grow() {
  std::vector<uint64_t> ok = std::move(keys_);
  std::vector<uint32_t> ov = std::move(vals_);
  size_t cap = ok.empty() ? 1024 : (size_ * 2 > ok.size() / 2 ? ok.size() * 2 : ok.size());
  keys_.assign(cap, kEmpty);
  vals_.assign(cap, 0);
  used_ = size_;
  for (size_t i = 0; i < ok.size(); ++i) {
    if (ok[i] <= kTomb) continue;
    size_t s = slot(ok[i]);
    while (keys_[s] != kEmpty) s = (s + 1) & (cap - 1);
    keys_[s] = ok[i];
    vals_[s] = ov[i];
  }
}

uint32_t V4Table::put(uint32_t addr, uint8_t len, uint32_t attr) {
  // Keep the load (live + tombstones) under 7/8: probes stay short and an empty slot always exists.
  if ((used_ + 1) * 8 > keys_.size() * 7) grow();
  uint64_t k = key(addr, len);
  size_t mask = keys_.size() - 1, s = slot(k), tomb = SIZE_MAX;
  for (;; s = (s + 1) & mask) {
    if (keys_[s] == k) {
      uint32_t old = vals_[s];
      vals_[s] = attr;
      return old;
    }
    if (keys_[s] == kTomb && tomb == SIZE_MAX) tomb = s;
    if (keys_[s] == kEmpty) break;
  }
  if (tomb != SIZE_MAX) {
    s = tomb;
  } else {
    ++used_;
  }
  keys_[s] = k;
  vals_[s] = attr;
  ++size_;
  return 0;
}

uint32_t V4Table::erase(uint32_t addr, uint8_t len) {
  if (keys_.empty()) return 0;
  uint64_t k = key(addr, len);
  size_t mask = keys_.size() - 1;
  for (size_t s = slot(k);; s = (s + 1) & mask) {
    if (keys_[s] == kEmpty) return 0;
    if (keys_[s] == k) {
      keys_[s] = kTomb;
      --size_;
      return vals_[s];
    }
  }
}

uint32_t V4Table::get(uint32_t addr, uint8_t len) const {
  if (keys_.empty()) return 0;
  uint64_t k = key(addr, len);
  size_t mask = keys_.size() - 1;
  for (size_t s = slot(k);; s = (s + 1) & mask) {
    if (keys_[s] == kEmpty) return 0;
    if (keys_[s] == k) return vals_[s];
  }
}

void V4Table::clear() {
  keys_.clear();
  vals_.clear();
  keys_.shrink_to_fit();
  vals_.shrink_to_fit();
  size_ = used_ = 0;
}

void V4Table::for_each(const std::function<void(uint32_t, uint8_t, uint32_t)>& f) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] <= kTomb) continue;
    uint64_t k = keys_[i] - 2;
    f(uint32_t(k >> 8), uint8_t(k & 0xff), vals_[i]);
  }
}

size_t V6Table::Hash::operator()(const Key& k) const {
  return mix(k.hi ^ mix(k.lo ^ k.len));
}

uint32_t V6Table::put(const Key& k, uint32_t attr) {
  auto [it, inserted] = map_.try_emplace(k, attr);
  if (inserted) return 0;
  uint32_t old = it->second;
  it->second = attr;
  return old;
}

uint32_t V6Table::erase(const Key& k) {
  auto it = map_.find(k);
  if (it == map_.end()) return 0;
  uint32_t old = it->second;
  map_.erase(it);
  return old;
}

uint32_t V6Table::get(const Key& k) const {
  auto it = map_.find(k);
  return it == map_.end() ? 0 : it->second;
}

void V6Table::for_each(const std::function<void(const Key&, uint32_t)>& f) const {
  for (auto& [k, v] : map_) f(k, v);
}

}  // namespace vane::bgp
