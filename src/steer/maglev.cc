#include "steer/maglev.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <ranges>
#include <utility>

namespace vane::steer {
namespace {

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

// Modular inverse by extended Euclid; m is prime and 0 < a < m.
uint32_t inverse_mod(uint32_t a, uint32_t m) {
  int64_t t = 0, new_t = 1, r = m, new_r = a;
  while (new_r != 0) {
    const int64_t q = r / new_r;
    t = std::exchange(new_t, t - q * new_t);
    r = std::exchange(new_r, r - q * new_r);
  }
  return static_cast<uint32_t>(t < 0 ? t + m : t);
}

__extension__ using u128 = unsigned __int128;

// x mod m by Barrett reduction (a division per free bucket would dominate the end game).
struct Mod {
  uint64_t m;
  uint64_t recip = UINT64_MAX / m;
  uint64_t operator()(uint64_t x) const {
    uint64_t r = x - static_cast<uint64_t>((u128(x) * recip) >> 64) * m;
    return r >= m ? r - m : r;
  }
};

// One weighted server's walk and schedule.
struct Walker {
  uint32_t server;  // index into the sorted servers
  uint32_t weight;
  uint32_t pos;  // next entry of the permutation
  uint32_t skip;
  uint32_t inverse = 0;  // of skip mod m; 0 until the end game needs it
  // Window of the next (k-th) turn, floor((2k - 1) scale / (2 weight)), kept as quotient and
  // remainder and advanced by adding 2 scale / (2 weight): no division per turn.
  uint64_t window = 0;
  uint32_t rem = 0;
  uint32_t step_q = 0;
  uint32_t step_r = 0;
  // Time within the window, rem / (2 weight), as a 32-bit fraction: floor(rem 2^32 / (2 weight)),
  // computed as (rem * recip) >> 32 with recip = ceil(2^64 / (2 weight)), which is exact for
  // rem < 2 weight <= 2000. Distinct times differ by at least 1 / (4 weight weight') > 2^-32, so
  // the fractions order turns exactly as the times do, and equal times get equal fractions.
  uint32_t frac = 0;
  uint64_t recip = 0;
  uint32_t link = kMaglevNone;  // next walker in the same window
};

uint32_t time_fraction(uint32_t rem, uint64_t recip) {
  return static_cast<uint32_t>((u128(rem) * recip) >> 32);
}

// Walks from p to the first free bucket and takes it.
inline uint32_t walk(uint64_t* bits, uint32_t p, uint32_t skip, uint32_t m) {
  while ((bits[p >> 6] >> (p & 63)) & 1) {
    p += skip;
    p = p >= m ? p - m : p;
  }
  bits[p >> 6] |= uint64_t(1) << (p & 63);
  return p;
}

// The Maglev population loop, returning each bucket's first hop.
//
// Turns are in order of time (2k - 1) / (2w), then sorted index (see the header). A heap over the
// servers would cost O(m log n) comparisons; instead turns go into windows of time narrow enough
// that a server has at most one turn per window, so each window needs only a small sort, and a ring of
// windows a little longer than the slowest server's period holds every pending turn.
//
// Permutation entries are generated on the fly (position += skip mod m) rather than stored, and
// occupancy is a bitmap (8 KiB at m = 65537) that stays in L1. With f buckets free, a walk probes about
// m / f positions, so the last few hundred claims would cost over half of all probes; once few buckets
// are left, each claim instead finds directly which free bucket its permutation reaches first: bucket b
// is (b - pos) / skip steps away, mod m. Both ways give the same bucket.
std::vector<uint32_t> fill(const std::vector<MaglevServer>& servers, const uint32_t m) {
  std::vector<Walker> walkers;
  uint64_t total = 0;
  uint32_t wmax = 0;
  uint32_t wmin = kMaglevMaxWeight;
  for (uint32_t i = 0; i < servers.size(); ++i) {
    const uint32_t w = servers[i].weight;
    if (w == 0) continue;
    walkers.push_back({.server = i,
                       .weight = w,
                       .pos = static_cast<uint32_t>(maglev_hash(servers[i].key, kMaglevOffsetSeed) % m),
                       .skip = static_cast<uint32_t>(maglev_hash(servers[i].key, kMaglevSkipSeed) % (m - 1) + 1)});
    total += w;
    wmax = std::max(wmax, w);
    wmin = std::min(wmin, w);
  }
  const auto n = static_cast<uint32_t>(walkers.size());
  // Windows per period of the heaviest server: enough for about 4 turns per window, which keeps the
  // per-window sorts tiny. Only speed depends on it; the order does not.
  const uint64_t per_period = std::clamp<uint64_t>(total / (4 * uint64_t(wmax)), 1, 64);
  const uint64_t scale = per_period * wmax;
  // Consecutive windows of one server are at most scale / w + 1 apart.
  const uint64_t ring_mask = std::bit_ceil(scale / wmin + 2) - 1;
  std::vector<uint32_t> head(ring_mask + 1, kMaglevNone);
  for (uint32_t a = 0; a < n; ++a) {
    Walker& x = walkers[a];
    x.window = scale / (2 * uint64_t(x.weight));
    x.rem = static_cast<uint32_t>(scale % (2 * uint64_t(x.weight)));
    x.step_q = static_cast<uint32_t>(scale / x.weight);
    x.step_r = static_cast<uint32_t>((2 * scale) % (2 * uint64_t(x.weight)));
    x.recip = static_cast<uint64_t>(((u128(1) << 64) + 2 * x.weight - 1) / (2 * x.weight));
    x.frac = time_fraction(x.rem, x.recip);
    x.link = std::exchange(head[x.window & ring_mask], a);
  }
  Walker* const wk = walkers.data();

  std::vector<uint32_t> first(m, kMaglevNone);
  std::vector<uint64_t> taken((m + 63) / 64);
  uint32_t* const owner = first.data();
  uint64_t* const bits = taken.data();
  // Where closed form beats walking: about sqrt(m / 2) free buckets, from measurement.
  const uint32_t end_game = std::max<uint32_t>(16, static_cast<uint32_t>(std::sqrt(m / 2.0)));
  const Mod mod{m};
  std::vector<uint32_t> free_buckets;

  // Within a window: (time fraction, walker index), which is the turn order.
  std::vector<uint64_t> batch;
  batch.reserve(n);
  uint32_t left = m;  // free buckets
  for (uint64_t w = 0;; ++w) {
    uint32_t* const slot = &head[w & ring_mask];
    if (*slot == kMaglevNone) continue;
    batch.clear();
    for (uint32_t a = std::exchange(*slot, kMaglevNone); a != kMaglevNone; a = wk[a].link)
      batch.push_back(uint64_t(wk[a].frac) << 32 | a);
    // The list is LIFO; reversed it is in the order of the previous turns, often already sorted.
    std::ranges::reverse(batch);
    if (batch.size() <= 16) {
      for (size_t i = 1; i < batch.size(); ++i) {
        const uint64_t key = batch[i];
        size_t j = i;
        for (; j > 0 && key < batch[j - 1]; --j) batch[j] = batch[j - 1];
        batch[j] = key;
      }
    } else if (!std::ranges::is_sorted(batch)) {
      std::ranges::sort(batch);
    }
    for (const uint64_t key : batch) {
      const auto a = static_cast<uint32_t>(key);
      Walker& x = wk[a];
      const uint32_t skip = x.skip;
      uint32_t p = x.pos;
      if (left > end_game) {
        p = walk(bits, p, skip, m);
      } else {
        if (free_buckets.empty()) {
          for (uint32_t i = 0; i < taken.size(); ++i)
            for (uint64_t holes = ~bits[i]; holes != 0; holes &= holes - 1) {
              const uint32_t b = i * 64 + static_cast<uint32_t>(std::countr_zero(holes));
              if (b < m) free_buckets.push_back(b);
            }
        }
        if (x.inverse == 0) x.inverse = inverse_mod(skip, m);
        const uint64_t inverse = x.inverse;
        size_t best = 0;
        uint64_t best_steps = UINT64_MAX;
        for (size_t i = 0; i < free_buckets.size(); ++i) {
          const uint32_t b = free_buckets[i];
          const uint64_t steps = mod(uint64_t(b >= p ? b - p : b + m - p) * inverse);
          if (steps < best_steps) {
            best_steps = steps;
            best = i;
          }
        }
        p = free_buckets[best];
        free_buckets[best] = free_buckets.back();
        free_buckets.pop_back();
      }
      owner[p] = x.server;
      if (--left == 0) return first;
      p += skip;
      x.pos = p >= m ? p - m : p;
      x.window += x.step_q;
      x.rem += x.step_r;
      if (x.rem >= 2 * x.weight) {
        x.rem -= 2 * x.weight;
        ++x.window;
      }
      x.frac = time_fraction(x.rem, x.recip);
      x.link = std::exchange(head[x.window & ring_mask], a);
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
    case MaglevError::entry_out_of_range:
      return "a bucket names a server index past the server list";
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
  // The length goes in first, so keys that differ only by trailing zero bytes differ; the + 1 keeps
  // fmix64's fixed point at 0 out of reach.
  uint64_t h = fmix64(seed + (uint64_t(key.size()) + 1) * kGolden);
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) h = std::rotl(h ^ fmix64(load_le(key.data() + i, 8)), 31) * kGolden;
  if (i < key.size()) h = std::rotl(h ^ fmix64(load_le(key.data() + i, key.size() - i)), 31) * kGolden;
  return fmix64(h);
}

std::expected<MaglevTable, MaglevError> MaglevTable::from_entries(std::vector<MaglevServer> servers,
                                                                  std::vector<MaglevEntry> entries) {
  const size_t n = servers.size();
  for (const auto& e : entries)
    if (e.first >= n || (e.second != kMaglevNone && e.second >= n))
      return std::unexpected(MaglevError::entry_out_of_range);
  MaglevTable t;
  t.servers_ = std::move(servers);
  t.entries_ = std::move(entries);
  return t;
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
  std::vector<uint32_t> first = fill(c->servers, c->size);
  return MaglevFirstHops{std::move(c->servers), std::move(first)};
}

std::expected<MaglevTable, MaglevError> build_maglev(std::span<const MaglevServer> servers, uint32_t table_size,
                                                     const MaglevTable* previous) {
  auto c = check(servers, table_size);
  if (!c) return std::unexpected(c.error());
  const uint32_t m = c->size;
  const auto n = static_cast<uint32_t>(c->servers.size());
  const std::vector<uint32_t> first = fill(c->servers, m);

  MaglevTable t;
  t.entries_.resize(m);
  for (uint32_t b = 0; b < m; ++b) t.entries_[b] = {first[b], kMaglevNone};

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
      const MaglevEntry& p = previous->entries_[b];
      MaglevEntry& e = t.entries_[b];
      const uint32_t was = to_new[p.first];
      if (was != kMaglevNone && was != e.first) {
        e = {e.first, was, true};
      } else if (was == e.first && p.moved && p.second < old.size()) {
        // The bucket stayed put: its last owner may still hold connections, whatever else moved.
        const uint32_t before = to_new[p.second];
        if (before != kMaglevNone && before != e.first) e = {e.first, before, true};
      }
    }
  }

  // Backwards twice round the ring: `next` is the first hop of b + 1 and `other` that of the nearest
  // bucket after b + 1 with a different first hop. The first lap only finds them for the wrap.
  uint32_t next = t.entries_[0].first;
  uint32_t other = kMaglevNone;
  for (int lap = 0; lap < 2; ++lap) {
    for (uint32_t b = m; b-- > 0;) {
      MaglevEntry& e = t.entries_[b];
      if (lap == 1 && e.second == kMaglevNone) e.second = e.first != next ? next : other;
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
