#pragma once
// Weighted Maglev consistent hashing (Eisenbud et al., NSDI 2016) for the per-service forwarding
// tables. Pure: no I/O, no globals, no randomness. Every server of a site must compute the same table
// from the same inputs, so the result depends only on the set of (key, weight) pairs and the table
// size: not on input order, pointer values or hash-container iteration order. Changing the key hash,
// its seeds or the turn order changes every table, and a site running two versions would then
// disagree on where flows go; tests/unit/steer/maglev_test.cc pins a golden table for that reason.
//
// Weights: a server with weight w takes its k-th turn at time (2k - 1) / (2w), turns in time order,
// equal times by sorted index. This is the continuous form of "every server earns its weight in credit
// per round, starts with half a threshold, and takes a turn whenever its credit reaches the largest
// weight" (a Sainte-Lague divisor apportionment), so bucket counts are proportional to the weights over
// the whole table, not only in the first round. Because a server's turn times depend on its own weight
// alone, adding, removing or reweighting one server never reorders the turns of the others: a change
// disturbs them only through the buckets it frees or takes (Maglev's usual cascade, ~0.4-0.8% of the
// table on top of the changed server's share, whatever the number of servers).
#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vane::steer {

inline constexpr uint32_t kMaglevMaxWeight = 1000;
// The same bound config validation puts on site.table_size.
inline constexpr uint32_t kMaglevMaxTableSize = 16777259;
// Automatic table sizes: primes, so that every skip is coprime with the size and each server's
// preference list is a full permutation of the buckets. The design's list had 1310729 (7 x 187247) and
// 2621443 (11 x 238313); these are the smallest primes above them.
inline constexpr std::array<uint32_t, 9> kMaglevTableSizes = {65537,   131071,  262147,  524287,  655373,
                                                              1310741, 2621447, 5242883, 10485767};
// Marks "no server" in intermediate results; never appears in a built table.
inline constexpr uint32_t kMaglevNone = UINT32_MAX;

struct MaglevServer {
  std::string key;      // stable and unique within the site, e.g. the server's name
  uint32_t weight = 0;  // 0..kMaglevMaxWeight; 0: no buckets as first hop (drain)

  bool operator==(const MaglevServer&) const = default;
};

// Server indices into MaglevTable::servers(), i.e. the input servers sorted by key.
struct MaglevEntry {
  uint32_t first = 0;
  uint32_t second = 0;
  // The second hop is the bucket's first hop in the previous table (rule 1 below): it may hold
  // connections of this bucket, so the data path checks for them only in such buckets.
  bool moved = false;

  bool operator==(const MaglevEntry&) const = default;
};

enum class MaglevError : uint8_t {
  no_servers,
  all_weights_zero,
  weight_too_large,
  duplicate_key,
  table_size_not_prime,
  table_size_too_small,  // fewer buckets than servers
  table_size_too_large,
  entry_out_of_range,  // from_entries: a hop names no server of the list
};
std::string_view to_string(MaglevError e);

// `configured` when non-zero (build_maglev validates it), else the smallest listed size >= 100 x
// n_servers, else the largest listed size. Callers should pass the site's configured server count, not
// the healthy count: a different size reshuffles every bucket and breaks every connection.
uint32_t table_size_for(size_t n_servers, uint32_t configured);

// The order the tables index servers by: sorted by key, bytewise.
std::vector<MaglevServer> maglev_sorted(std::span<const MaglevServer> servers);

// The 64-bit key hash behind the permutations. Little-endian byte order whatever the host, so that all
// servers agree. A server's permutation of the buckets is offset + j * skip (mod M), j = 0, 1, ...,
// with offset = maglev_hash(key, kMaglevOffsetSeed) % M and skip = maglev_hash(key, kMaglevSkipSeed)
// % (M - 1) + 1.
uint64_t maglev_hash(std::string_view key, uint64_t seed);
inline constexpr uint64_t kMaglevOffsetSeed = 0x76616e652d6d6731;  // "vane-mg1"
inline constexpr uint64_t kMaglevSkipSeed = 0x76616e652d6d6732;    // "vane-mg2"

class MaglevTable {
 public:
  MaglevTable() = default;

  uint32_t size() const { return static_cast<uint32_t>(entries_.size()); }
  // Sorted by key; MaglevEntry indices point here.
  const std::vector<MaglevServer>& servers() const { return servers_; }
  std::span<const MaglevEntry> entries() const { return entries_; }
  const MaglevEntry& operator[](uint32_t bucket) const { return entries_[bucket]; }
  std::optional<uint32_t> find(std::string_view key) const;

  // A table read back from where it was installed (a restarted vaned taking over the data path),
  // to serve as `previous` for the next build. `servers` must be the list the entries index, sorted
  // by key. Fails if an entry points past it.
  static std::expected<MaglevTable, MaglevError> from_entries(std::vector<MaglevServer> servers,
                                                              std::vector<MaglevEntry> entries);

  bool operator==(const MaglevTable&) const = default;

 private:
  friend std::expected<MaglevTable, MaglevError> build_maglev(std::span<const MaglevServer>, uint32_t,
                                                              const MaglevTable*);
  std::vector<MaglevServer> servers_;
  std::vector<MaglevEntry> entries_;
};

// First hops only: first[b] indexes servers (sorted by key).
struct MaglevFirstHops {
  std::vector<MaglevServer> servers;
  std::vector<uint32_t> first;
};

// table_size 0: table_size_for(servers.size(), 0).
std::expected<MaglevFirstHops, MaglevError> build_maglev_first_hops(std::span<const MaglevServer> servers,
                                                                    uint32_t table_size = 0);

// Second hop of bucket b, for daisy chaining (connections survive a table change):
//  1. the first hop of b in `previous`, if that server is still in `servers` (even at weight 0, which
//     is how a draining server keeps its connections) and is not b's new first hop; when b kept its
//     first hop, its second hop in `previous` if that one came from this rule (moved), so a
//     bucket's last owner is remembered until the bucket moves again, not only for one change;
//  2. otherwise the first hop of the nearest following bucket (b + 1, b + 2, ... round the table) whose
//     first hop differs from b's: a deterministic function of the first hops alone, spread over the
//     servers in proportion to their weights;
//  3. with a single weighted server, the next server in sorted order.
// second == first only when there is a single server. `previous` is ignored unless it has the same
// size: buckets of tables of different sizes do not correspond.
std::expected<MaglevTable, MaglevError> build_maglev(std::span<const MaglevServer> servers, uint32_t table_size = 0,
                                                     const MaglevTable* previous = nullptr);

}  // namespace vane::steer
