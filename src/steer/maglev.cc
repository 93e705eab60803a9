#include "steer/maglev.h"

#include <algorithm>
#include <bit>
#include <ranges>
#include <utility>

namespace vane::steer {
namespace {

// Part of the table's definition: see the header about changing them.
constexpr uint64_t kOffsetSeed = 0x76616e652d6d6731;  // "vane-mg1"
constexpr uint64_t kSkipSeed = 0x76616e652d6d6732;    // "vane-mg2"
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15;

// MurmurHash3's 64-bit finalizer: a bijection with full avalanche.
constexpr uint64_t fmix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccd;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53;
  x ^= x >> 33;
  return x;
}

uint64_t load_le(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

constexpr bool is_prime(uint32_t n) {
  if (n < 2) return false;
  for (uint32_t d = 2; uint64_t(d) * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}
static_assert(std::ranges::all_of(kMaglevTableSizes, is_prime));
static_assert(std::ranges::is_sorted(kMaglevTableSizes));

struct Checked {
  std::vector<MaglevServer> servers;  // sorted
  uint32_t size = 0;
};

std::expected<Checked, MaglevError> check(std::span<const MaglevServer> servers, uint32_t table_size) {
  if (servers.empty()) return std::unexpected(MaglevError::no_servers);
  Checked c{maglev_sorted(servers), table_size_for(servers.size(), table_size)};
  bool any_weight = false;
  for (size_t i = 0; i < c.servers.size(); ++i) {
    if (c.servers[i].weight > kMaglevMaxWeight) return std::unexpected(MaglevError::weight_too_large);
    if (i > 0 && c.servers[i].key == c.servers[i - 1].key) return std::unexpected(MaglevError::duplicate_key);
    any_weight |= c.servers[i].weight > 0;
  }
  if (c.size > kMaglevMaxTableSize) return std::unexpected(MaglevError::table_size_too_large);
  if (!is_prime(c.size)) return std::unexpected(MaglevError::table_size_not_prime);
  if (c.size < c.servers.size()) return std::unexpected(MaglevError::table_size_too_small);
  if (!any_weight) return std::unexpected(MaglevError::all_weights_zero);
  return c;
}

struct Filled {
  std::vector<uint32_t> first;
  std::vector<uint32_t> runner_up;  // kMaglevNone where no other server probed the bucket
};

// The Maglev population loop. Permutation entries are generated on the fly (position += skip mod m)
// rather than stored, and occupancy lives in a bitmap small enough for L1 at the default sizes: the
// probing is nearly all of the work.
//
// Turn order is by time (2k - 1) / (2w) (see the header). A heap over the servers would cost
// O(m log n) comparisons; instead turns are bucketed into windows of time narrow enough that a server
// has at most one turn per window, so each window needs only a small sort, and a ring of windows a
// little longer than the slowest server's period holds every pending turn.
template <bool kRunnerUp>
Filled fill(const std::vector<MaglevServer>& servers, uint32_t m) {
  std::vector<uint32_t> index, weight, pos, skip, turn;
  for (uint32_t i = 0; i < servers.size(); ++i) {
    if (servers[i].weight == 0) continue;
    index.push_back(i);
    weight.push_back(servers[i].weight);
    pos.push_back(static_cast<uint32_t>(maglev_hash(servers[i].key, kOffsetSeed) % m));
    skip.push_back(static_cast<uint32_t>(maglev_hash(servers[i].key, kSkipSeed) % (m - 1) + 1));
    turn.push_back(1);
  }
  const auto n = static_cast<uint32_t>(index.size());
  uint64_t total = 0;
  uint32_t wmax = 0;
  uint32_t wmin = kMaglevMaxWeight;
  for (uint32_t w : weight) {
    total += w;
    wmax = std::max(wmax, w);
    wmin = std::min(wmin, w);
  }
  // Windows per period of the heaviest server: enough for about 8 turns per window, which keeps the
  // per-window sorts tiny. Only speed depends on it; the order does not.
  const uint64_t per_period = std::clamp<uint64_t>(total / (8 * uint64_t(wmax)), 1, 64);
  const uint64_t scale = per_period * wmax;
  auto window = [&](uint32_t a) { return (2 * uint64_t(turn[a]) - 1) * scale / (2 * uint64_t(weight[a])); };
  // Consecutive windows of one server are at most scale / w + 1 apart.
  const uint64_t ring = std::bit_ceil(scale / wmin + 2);
  std::vector<uint32_t> head(ring, kMaglevNone);
  std::vector<uint32_t> link(n);
  auto push = [&](uint32_t a) {
    const uint64_t slot = window(a) & (ring - 1);
    link[a] = head[slot];
    head[slot] = a;
  };
  auto earlier = [&](uint32_t a, uint32_t b) {
    const uint64_t ta = (2 * uint64_t(turn[a]) - 1) * weight[b];
    const uint64_t tb = (2 * uint64_t(turn[b]) - 1) * weight[a];
    return ta < tb || (ta == tb && a < b);
  };

  Filled out;
  out.first.assign(m, kMaglevNone);
  std::vector<uint64_t> taken((m + 63) / 64);
  std::vector<uint64_t> probed;
  if constexpr (kRunnerUp) {
    out.runner_up.assign(m, kMaglevNone);
    probed.assign(taken.size(), 0);
  }
  for (uint32_t a = 0; a < n; ++a) push(a);

  std::vector<uint32_t> batch;
  batch.reserve(n);
  uint32_t filled = 0;
  for (uint64_t w = 0;; ++w) {
    const uint64_t slot = w & (ring - 1);
    if (head[slot] == kMaglevNone) continue;
    batch.clear();
    for (uint32_t a = head[slot]; a != kMaglevNone; a = link[a]) batch.push_back(a);
    head[slot] = kMaglevNone;
    // The list is LIFO; reversed it is in the order of the previous turns, often already sorted.
    std::ranges::reverse(batch);
    if (batch.size() <= 16) {
      for (size_t i = 1; i < batch.size(); ++i)
        for (size_t j = i; j > 0 && earlier(batch[j], batch[j - 1]); --j) std::swap(batch[j], batch[j - 1]);
    } else if (!std::ranges::is_sorted(batch, earlier)) {
      std::ranges::sort(batch, earlier);
    }
    for (uint32_t a : batch) {
      uint32_t p = pos[a];
      const uint32_t s = skip[a];
      while (taken[p >> 6] & (uint64_t(1) << (p & 63))) {
        if constexpr (kRunnerUp) {
          if (!(probed[p >> 6] & (uint64_t(1) << (p & 63)))) {
            probed[p >> 6] |= uint64_t(1) << (p & 63);
            out.runner_up[p] = index[a];
          }
        }
        p += s;
        if (p >= m) p -= m;
      }
      taken[p >> 6] |= uint64_t(1) << (p & 63);
      out.first[p] = index[a];
      if (++filled == m) return out;
      p += s;
      if (p >= m) p -= m;
      pos[a] = p;
      ++turn[a];
      push(a);
    }
  }
}

}  // namespace

std::string_view to_string(MaglevError e) {
  switch (e) {
    case MaglevError::no_servers:
      return "no servers";
    case MaglevError::all_weights_zero:
      return "every server has weight 0";
    case MaglevError::weight_too_large:
      return "weight above 1000";
    case MaglevError::duplicate_key:
      return "two servers with the same key";
    case MaglevError::table_size_not_prime:
      return "table size is not prime";
    case MaglevError::table_size_too_small:
      return "table size smaller than the number of servers";
    case MaglevError::table_size_too_large:
      return "table size above 16777259";
  }
  return "unknown maglev error";
}

uint32_t table_size_for(size_t n_servers, uint32_t configured) {
  if (configured != 0) return configured;
  for (uint32_t m : kMaglevTableSizes)
    if (uint64_t(m) >= 100 * uint64_t(n_servers)) return m;
  return kMaglevTableSizes.back();
}

std::vector<MaglevServer> maglev_sorted(std::span<const MaglevServer> servers) {
  std::vector<MaglevServer> out(servers.begin(), servers.end());
  // Ties only between duplicate keys, which are rejected; weight as a tie-break keeps even that
  // order independent of the input order.
  std::ranges::sort(out, [](const MaglevServer& a, const MaglevServer& b) {
    return a.key != b.key ? a.key < b.key : a.weight < b.weight;
  });
  return out;
}

uint64_t maglev_hash(std::string_view key, uint64_t seed) {
  uint64_t h = fmix64(seed ^ (uint64_t(key.size()) * kGolden));
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) h = std::rotl(h ^ fmix64(load_le(key.data() + i, 8)), 31) * kGolden;
  if (i < key.size()) h = std::rotl(h ^ fmix64(load_le(key.data() + i, key.size() - i)), 31) * kGolden;
  return fmix64(h);
}

std::optional<uint32_t> MaglevTable::find(std::string_view key) const {
  auto it = std::ranges::lower_bound(servers_, key, {}, &MaglevServer::key);
  if (it == servers_.end() || it->key != key) return std::nullopt;
  return static_cast<uint32_t>(it - servers_.begin());
}

std::expected<MaglevFirstHops, MaglevError> build_maglev_first_hops(std::span<const MaglevServer> servers,
                                                                    uint32_t table_size) {
  auto c = check(servers, table_size);
  if (!c) return std::unexpected(c.error());
  Filled f = fill<false>(c->servers, c->size);
  return MaglevFirstHops{std::move(c->servers), std::move(f.first)};
}

std::expected<MaglevTable, MaglevError> build_maglev(std::span<const MaglevServer> servers, uint32_t table_size,
                                                     const MaglevTable* previous) {
  auto c = check(servers, table_size);
  if (!c) return std::unexpected(c.error());
  const uint32_t m = c->size;
  const auto n = static_cast<uint32_t>(c->servers.size());
  Filled f = fill<true>(c->servers, m);

  MaglevTable t;
  t.entries_.resize(m);
  for (uint32_t b = 0; b < m; ++b) t.entries_[b] = {f.first[b], f.runner_up[b]};

  if (previous != nullptr && previous->size() == m) {
    // Both server lists are sorted by key: one merge maps old indices to new.
    const auto& old = previous->servers();
    std::vector<uint32_t> to_new(old.size(), kMaglevNone);
    for (uint32_t i = 0, j = 0; i < old.size() && j < n;) {
      if (old[i].key < c->servers[j].key) {
        ++i;
      } else if (c->servers[j].key < old[i].key) {
        ++j;
      } else {
        to_new[i++] = j++;
      }
    }
    for (uint32_t b = 0; b < m; ++b) {
      const uint32_t was = to_new[previous->entries_[b].first];
      if (was != kMaglevNone && was != t.entries_[b].first) t.entries_[b].second = was;
    }
  }

  const auto weighted = std::ranges::count_if(c->servers, [](const MaglevServer& s) { return s.weight > 0; });
  if (weighted >= 2) {
    // Walking backwards twice round the ring: `next` is the first hop of b + 1 and `other` the first
    // hop of the nearest bucket after that with a different one.
    uint32_t next = t.entries_[0].first;
    uint32_t other = kMaglevNone;
    for (uint64_t i = 2 * uint64_t(m); i-- > 0;) {
      MaglevEntry& e = t.entries_[i % m];
      if (i < m && e.second == kMaglevNone) e.second = e.first != next ? next : other;
      if (e.first != next) {
        other = next;
        next = e.first;
      }
    }
  }
  // Left only when a single server owns every bucket.
  for (MaglevEntry& e : t.entries_)
    if (e.second == kMaglevNone) e.second = n >= 2 ? (e.first + 1) % n : e.first;
  t.servers_ = std::move(c->servers);
  return t;
}

}  // namespace vane::steer
