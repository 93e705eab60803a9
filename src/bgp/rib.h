#pragma once
// Adj-RIB-In storage sized for a full table: a million IPv4 routes must fit in BIRD's class of
// memory (under ~94 bytes a route), so routes live in open-addressing tables of plain words and
// each route points at an interned, reference-counted copy of its raw path attributes.
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vane::bgp {

// Interned attribute blobs: routes that share attributes (the common case: one UPDATE carries
// hundreds of prefixes) share one copy.
class AttrStore {
 public:
  static constexpr uint32_t kNone = 0;
  // Returns an id holding one reference; the same bytes give the same id.
  uint32_t intern(std::span<const uint8_t> raw);
  void ref(uint32_t id);
  void unref(uint32_t id);
  std::span<const uint8_t> get(uint32_t id) const;
  size_t size() const { return by_bytes_.size(); }
  size_t bytes() const;

 private:
  struct Entry {
    std::string raw;
    uint32_t refs = 0;
  };
  // A deque: growing it never moves an entry, so the string_views in by_bytes_ (which may point
  // into a short string's inline buffer) stay valid.
  std::deque<Entry> entries_{1};  // id 0 is kNone
  std::vector<uint32_t> free_;
  std::unordered_map<std::string_view, uint32_t> by_bytes_;
};

// IPv4 prefix -> attribute id, open addressing with linear probing. Key packs the address and
// length into one word so a probe is one compare.
class V4Table {
 public:
  // Returns the previous attribute id (AttrStore::kNone if the prefix was new).
  uint32_t put(uint32_t addr, uint8_t len, uint32_t attr);
  // Returns the removed attribute id, or kNone if absent.
  uint32_t erase(uint32_t addr, uint8_t len);
  uint32_t get(uint32_t addr, uint8_t len) const;
  size_t size() const { return size_; }
  size_t capacity() const { return keys_.size(); }
  void clear();
  void for_each(const std::function<void(uint32_t addr, uint8_t len, uint32_t attr)>& f) const;

 private:
  static constexpr uint64_t kEmpty = 0, kTomb = 1;
  // +2 keeps real keys clear of the empty and tombstone markers.
  static uint64_t key(uint32_t addr, uint8_t len) { return (uint64_t(addr) << 8 | len) + 2; }
  size_t slot(uint64_t k) const;
  void grow();
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> vals_;
  size_t size_ = 0, used_ = 0;  // used_ counts tombstones too
};

// IPv6 prefix -> attribute id. IPv6 tables are two orders of magnitude smaller on the Internet,
// so a node-based map is fine.
class V6Table {
 public:
  struct Key {
    uint64_t hi = 0, lo = 0;
    uint8_t len = 0;
    bool operator==(const Key&) const = default;
  };
  uint32_t put(const Key& k, uint32_t attr);
  uint32_t erase(const Key& k);
  uint32_t get(const Key& k) const;
  size_t size() const { return map_.size(); }
  void clear() { map_.clear(); }
  void for_each(const std::function<void(const Key&, uint32_t attr)>& f) const;

 private:
  struct Hash {
    size_t operator()(const Key& k) const;
  };
  std::unordered_map<Key, uint32_t, Hash> map_;
};

}  // namespace vane::bgp
