// Consistent hashing at 10 to 1,000 servers: what a single-server change moves, how long a build
// takes and how close the shares are to the weights, for vane's table builder and the candidates
// it was measured against, all on the same inputs in the same run:
//   vane       vane's weighted Maglev (src/steer/maglev.cc), first hops only
//   maglev-v2  a Maglev V2 baseline written from the published description of Katran's
//              "MaglevHashV2" (each round every server earns its weight in credit and takes a
//              turn per max-weight of credit; a turn walks the server's permutation offset +
//              j * skip mod M to the first free bucket), for the build time
//   hrw-capped hrw, then exact quotas: a server over its quota keeps its earliest-hit buckets and
//              releases the rest, which go to the servers under quota by a second race in hit-time
//              order (not optimised for speed; equal weights only)
//   mg+hrwX%   Maglev V2 stopped with X% of the buckets free, the rest by weighted rendezvous:
//              is the cascade in Maglev's end game? (a probe; double-precision scores)
//   hrw        weighted rendezvous hashing (GLB's rows, first choice only) computed as a race:
//              server i "hits" buckets hash(i, k) mod M at times (2k + 1) / (2 w_i), k = 0, 1, ...;
//              a bucket belongs to the server that hits it first (ties: lower key). The first hit
//              time of a server on a bucket is ~ Exp(w_i), so this is weighted HRW; it is
//              generated server by server until every bucket is hit, ~ M ln M hits in all
//              instead of M x N scores.
//
// Per server count N (10, 50, 100, 200, 500, 1000; M = 65537 unless given) and change:
//   remove     the middle server (by key) goes
//   add        a new server of weight 100
//   weight     the middle server's weight 100 -> 150 (mixed weights: x 1.5)
// moved/ideal = buckets whose first hop changed / (M x the changed server's change of weight
// share). Build: CPU ms per build (thread CPU time, median of the repeats), so load on the
// machine counts little. Share error: max over servers of |count - M w_i / W| / (M w_i / W), and
// the same in buckets.
//
//   maglev_disruption [M [repeats [algorithm]]]   e.g. build/bench/maglev_disruption 65537 7
// (algorithm: only those whose name contains it)
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "steer/maglev.h"

using namespace vane::steer;

namespace {

using Builder = std::function<std::vector<uint32_t>(const std::vector<MaglevServer>& sorted, uint32_t m)>;

std::vector<uint32_t> vane_build(const std::vector<MaglevServer>& s, uint32_t m) {
  auto t = build_maglev_first_hops(s, m);
  if (!t) {
    std::fprintf(stderr, "build: %s\n", std::string(to_string(t.error())).c_str());
    std::exit(1);
  }
  return std::move(t->first);
}

// Katran's MaglevHashV2 as published: rounds over the servers in order; credit += weight; a
// server with credit >= max weight spends max weight and claims the next free bucket of its
// permutation. The permutation is the classic Maglev one; offsets and skips from vane's key hash
// (the hash function is not what is being compared).
std::vector<uint32_t> maglev_v2(const std::vector<MaglevServer>& s, uint32_t m) {
  const auto n = static_cast<uint32_t>(s.size());
  std::vector<uint32_t> offset(n), skip(n), credit(n, 0);
  std::vector<uint64_t> next(n, 0);
  uint32_t wmax = 0;
  for (uint32_t i = 0; i < n; ++i) {
    offset[i] = static_cast<uint32_t>(maglev_hash(s[i].key, kMaglevOffsetSeed) % m);
    skip[i] = static_cast<uint32_t>(maglev_hash(s[i].key, kMaglevSkipSeed) % (m - 1) + 1);
    wmax = std::max(wmax, s[i].weight);
  }
  std::vector<int32_t> table(m, -1);
  uint32_t filled = 0;
  for (;;) {
    for (uint32_t i = 0; i < n; ++i) {
      credit[i] += s[i].weight;
      if (credit[i] < wmax) continue;
      credit[i] -= wmax;
      uint64_t cur = (offset[i] + next[i] * skip[i]) % m;
      while (table[cur] >= 0) {
        ++next[i];
        cur = (offset[i] + next[i] * skip[i]) % m;
      }
      table[cur] = static_cast<int32_t>(i);
      ++next[i];
      if (++filled == m) return {table.begin(), table.end()};
    }
  }
}

uint64_t fmix64(uint64_t x);

// Maglev V2 stopped when a fraction `rest` of the buckets is still free (before the end game,
// where walks are long and one change ripples furthest), the rest by weighted rendezvous over all
// servers: score -ln(u) / w, lowest wins (double arithmetic: a bench probe, not a portable
// table). Tests whether Maglev's cascade lives in its end game.
std::vector<uint32_t> maglev_then_hrw(const std::vector<MaglevServer>& s, uint32_t m, double rest) {
  const auto n = static_cast<uint32_t>(s.size());
  std::vector<uint32_t> offset(n), skip(n), credit(n, 0);
  std::vector<uint64_t> next(n, 0), seed(n);
  uint32_t wmax = 0;
  for (uint32_t i = 0; i < n; ++i) {
    offset[i] = static_cast<uint32_t>(maglev_hash(s[i].key, kMaglevOffsetSeed) % m);
    skip[i] = static_cast<uint32_t>(maglev_hash(s[i].key, kMaglevSkipSeed) % (m - 1) + 1);
    seed[i] = maglev_hash(s[i].key, 0x68727721);
    wmax = std::max(wmax, s[i].weight);
  }
  std::vector<int32_t> table(m, -1);
  const auto stop = static_cast<uint32_t>(m * (1 - rest));
  uint32_t filled = 0;
  while (filled < stop) {
    for (uint32_t i = 0; i < n && filled < stop; ++i) {
      credit[i] += s[i].weight;
      if (credit[i] < wmax) continue;
      credit[i] -= wmax;
      uint64_t cur = (offset[i] + next[i] * skip[i]) % m;
      while (table[cur] >= 0) {
        ++next[i];
        cur = (offset[i] + next[i] * skip[i]) % m;
      }
      table[cur] = static_cast<int32_t>(i);
      ++next[i];
      ++filled;
    }
  }
  for (uint32_t b = 0; b < m; ++b) {
    if (table[b] >= 0) continue;
    double best = 1e300;
    for (uint32_t i = 0; i < n; ++i) {
      if (s[i].weight == 0) continue;
      const double u = (double(fmix64(seed[i] ^ (b * 0x9e3779b97f4a7c15ULL)) >> 11) + 0.5) / 9007199254740992.0;
      const double score = -std::log(u) / s[i].weight;
      if (score < best) best = score, table[b] = static_cast<int32_t>(i);
    }
  }
  return {table.begin(), table.end()};
}

uint64_t fmix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Weighted rendezvous by a race (see the top). Times (2k + 1) / (2 w) are compared exactly as
// fractions: t_a < t_b <=> (2 k_a + 1) w_b < (2 k_b + 1) w_a.
std::vector<uint32_t> hrw_race(const std::vector<MaglevServer>& s, uint32_t m) {
  const auto n = static_cast<uint32_t>(s.size());
  uint64_t total = 0;
  for (const auto& x : s) total += x.weight;
  std::vector<uint32_t> owner(m, UINT32_MAX);
  std::vector<uint32_t> best_k(m, 0);  // the owner's hit index k
  std::vector<uint64_t> base(n), done(n, 0);
  for (uint32_t i = 0; i < n; ++i) base[i] = maglev_hash(s[i].key, kMaglevOffsetSeed);
  // Hits up to time T reach each bucket Poisson(W T / M) times: T = M (ln M + 4) / W leaves ~2%
  // chance of a bucket unhit; then T grows until none is.
  double horizon = m * (std::log(double(m)) + 4) / double(total);
  for (;;) {
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t w = s[i].weight;
      if (w == 0) continue;
      const auto upto = static_cast<uint64_t>(horizon * w);
      for (uint64_t k = done[i]; k < upto; ++k) {
        const auto b = static_cast<uint32_t>(((fmix64(base[i] + k * 0x9e3779b97f4a7c15ULL) >> 32) * m) >> 32);
        const uint32_t o = owner[b];
        if (o == UINT32_MAX || (2 * k + 1) * s[o].weight < (2 * uint64_t(best_k[b]) + 1) * w ||
            ((2 * k + 1) * s[o].weight == (2 * uint64_t(best_k[b]) + 1) * w && i < o)) {
          owner[b] = i;
          best_k[b] = static_cast<uint32_t>(k);
        }
      }
      done[i] = std::max(done[i], upto);
    }
    if (std::find(owner.begin(), owner.end(), UINT32_MAX) == owner.end()) return owner;
    horizon *= 1.25;
  }
}

// Exact quotas: M apportioned by weight (largest remainder, ties by sorted index).
std::vector<uint32_t> quotas(const std::vector<MaglevServer>& s, uint32_t m) {
  uint64_t total = 0;
  for (const auto& x : s) total += x.weight;
  std::vector<uint32_t> q(s.size());
  std::vector<std::pair<uint64_t, uint32_t>> rem;
  uint32_t given = 0;
  for (uint32_t i = 0; i < s.size(); ++i) {
    q[i] = static_cast<uint32_t>(uint64_t(m) * s[i].weight / total);
    given += q[i];
    rem.push_back({uint64_t(m) * s[i].weight % total, i});
  }
  std::ranges::sort(rem, [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  for (uint32_t k = 0; given < m; ++k, ++given) ++q[rem[k].second];
  return q;
}

// The hit stream of server i: bucket of hit k, and hit times compared as (2k + 1) / (2 w).
struct Hits {
  uint64_t base;
  uint32_t w;
  uint32_t bucket(uint64_t k, uint32_t m) const {
    return static_cast<uint32_t>(((fmix64(base + k * 0x9e3779b97f4a7c15ULL) >> 32) * m) >> 32);
  }
};

// HRW with exact quotas: (1) every bucket to its HRW winner (the race above); (2) a server over
// its quota keeps its quota's worth of earliest-hit buckets and releases the rest; (3) the
// released buckets go, in order of hit time, to the first server under its quota that hits them
// (a second race among those servers, over the released buckets only).
std::vector<uint32_t> hrw_capped(const std::vector<MaglevServer>& s, uint32_t m) {
  std::vector<uint32_t> owner = hrw_race(s, m);
  const auto n = static_cast<uint32_t>(s.size());
  const std::vector<uint32_t> q = quotas(s, m);
  std::vector<Hits> h(n);
  for (uint32_t i = 0; i < n; ++i) h[i] = {maglev_hash(s[i].key, kMaglevOffsetSeed), s[i].weight};
  // Hit index of each bucket's owner: replay the streams up to the same horizon as hrw_race.
  // (Recomputed here to keep hrw_race unchanged; a real implementation keeps it.)
  uint64_t total = 0;
  for (const auto& x : s) total += x.weight;
  std::vector<uint32_t> kk(m, UINT32_MAX);
  double horizon = m * (std::log(double(m)) + 4) / double(total);
  for (;;) {
    bool all = true;
    for (uint32_t i = 0; i < n; ++i)
      for (uint64_t k = 0, upto = static_cast<uint64_t>(horizon * s[i].weight); k < upto; ++k) {
        const uint32_t b = h[i].bucket(k, m);
        if (owner[b] == i && kk[b] == UINT32_MAX) kk[b] = static_cast<uint32_t>(k);
      }
    for (uint32_t b = 0; b < m; ++b) all &= kk[b] != UINT32_MAX;
    if (all) break;
    horizon *= 1.25;
  }
  std::vector<std::vector<uint32_t>> mine(n);
  for (uint32_t b = 0; b < m; ++b) mine[owner[b]].push_back(b);
  std::vector<uint8_t> released(m, 0);
  std::vector<uint32_t> deficit(n, 0);
  uint32_t n_released = 0;
  for (uint32_t i = 0; i < n; ++i) {
    auto& v = mine[i];
    if (v.size() > q[i]) {
      // earliest hits first: (2k + 1) / (2w) with the same w orders by k
      std::ranges::sort(v, [&](uint32_t a, uint32_t b) { return kk[a] != kk[b] ? kk[a] < kk[b] : a < b; });
      for (size_t j = q[i]; j < v.size(); ++j) released[v[j]] = 1, ++n_released;
    } else {
      deficit[i] = q[i] - static_cast<uint32_t>(v.size());
    }
  }
  if (n_released == 0) return owner;
  // Second race over the released buckets, among servers with a deficit, in time order.
  struct Hit {
    uint64_t num, den;  // time (2k + 1) / (2 w) as num / den
    uint32_t server, bucket;
  };
  double h2 = horizon;
  for (;;) {
    std::vector<Hit> hits;
    for (uint32_t i = 0; i < n; ++i) {
      if (deficit[i] == 0) continue;
      for (uint64_t k = 0, upto = static_cast<uint64_t>(h2 * s[i].weight); k < upto; ++k) {
        const uint32_t b = h[i].bucket(k, m);
        if (released[b]) hits.push_back({2 * k + 1, 2 * uint64_t(s[i].weight), i, b});
      }
    }
    std::ranges::sort(hits, [](const Hit& a, const Hit& b) {
      const uint64_t l = a.num * b.den, r = b.num * a.den;  // < 2^36 each
      return l != r ? l < r : a.server != b.server ? a.server < b.server : a.bucket < b.bucket;
    });
    std::vector<uint32_t> left = deficit;
    std::vector<uint32_t> out = owner;
    std::vector<uint8_t> done(m, 0);
    uint32_t placed = 0;
    for (const Hit& x : hits) {
      if (done[x.bucket] || left[x.server] == 0) continue;
      done[x.bucket] = 1;
      --left[x.server];
      out[x.bucket] = x.server;
      if (++placed == n_released) return out;
    }
    h2 *= 2;
  }
}

double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

uint32_t pseudo_weight(uint32_t i) {
  uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 29;
  return 1 + static_cast<uint32_t>(x % kMaglevMaxWeight);
}

std::vector<MaglevServer> servers(uint32_t n, bool mixed) {
  std::vector<MaglevServer> s;
  for (uint32_t i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "edge-%05u", i);
    s.push_back({name, mixed ? pseudo_weight(i) : 100});
  }
  return maglev_sorted(s);
}

struct Row {
  double moved_remove = 0, moved_add = 0, moved_weight = 0;
  double build_ms = 0;
  double share_err = 0, share_err_buckets = 0;
};

// Buckets whose first hop (by key) differs between two tables of the same size.
uint32_t moved(const std::vector<MaglevServer>& sa, const std::vector<uint32_t>& a, const std::vector<MaglevServer>& sb,
               const std::vector<uint32_t>& b) {
  uint32_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += sa[a[i]].key != sb[b[i]].key;
  return n;
}

double share(const std::vector<MaglevServer>& s, const std::string& key) {
  double total = 0, mine = 0;
  for (const auto& x : s) {
    total += x.weight;
    if (x.key == key) mine = x.weight;
  }
  return mine / total;
}

Row measure(const Builder& build, uint32_t n, bool mixed, uint32_t m, int repeats) {
  Row r;
  const auto s = servers(n, mixed);
  std::vector<double> times;
  std::vector<uint32_t> t;
  for (int i = 0; i < repeats; ++i) {
    const double t0 = cpu_ms();
    t = build(s, m);
    times.push_back(cpu_ms() - t0);
  }
  std::ranges::sort(times);
  r.build_ms = times[times.size() / 2];

  double total = 0;
  for (const auto& x : s) total += x.weight;
  std::vector<uint32_t> count(n);
  for (uint32_t f : t) ++count[f];
  for (uint32_t i = 0; i < n; ++i) {
    const double ideal = m * s[i].weight / total;
    r.share_err = std::max(r.share_err, std::abs(count[i] - ideal) / ideal);
    r.share_err_buckets = std::max(r.share_err_buckets, std::abs(count[i] - ideal));
  }

  const MaglevServer& mid = s[n / 2];
  auto fewer = s;
  fewer.erase(fewer.begin() + n / 2);
  r.moved_remove = moved(s, t, fewer, build(fewer, m)) / (m * share(s, mid.key));

  auto more = s;
  more.push_back({"edge-new", 100});
  more = maglev_sorted(more);
  r.moved_add = moved(s, t, more, build(more, m)) / (m * share(more, "edge-new"));

  auto heavier = s;
  heavier[n / 2].weight = std::min<uint32_t>(kMaglevMaxWeight, mid.weight + (mid.weight + 1) / 2);
  r.moved_weight =
      moved(s, t, heavier, build(heavier, m)) / (m * std::abs(share(heavier, mid.key) - share(s, mid.key)));
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const auto m = static_cast<uint32_t>(argc > 1 ? std::atoi(argv[1]) : 65537);
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 15;
  if (m < 1000 || m > kMaglevMaxTableSize || repeats < 1)
    return std::fprintf(stderr, "usage: maglev_disruption [M [repeats]]\n"), 2;
  const struct {
    const char* name;
    Builder build;
  } algos[] = {
      {"vane", vane_build},
      {"maglev-v2", maglev_v2},
      {"hrw", hrw_race},
      {"hrw-capped", hrw_capped},
      {"mg+hrw5%", [](const std::vector<MaglevServer>& s, uint32_t m) { return maglev_then_hrw(s, m, 0.05); }},
      {"mg+hrw20%", [](const std::vector<MaglevServer>& s, uint32_t m) { return maglev_then_hrw(s, m, 0.20); }}};
  std::printf("M = %u, %d builds per figure (median CPU ms)\n", m, repeats);
  std::printf("%-10s %-6s %5s  %7s %7s %7s  %8s  %9s %8s\n", "algorithm", "weights", "N", "remove", "add", "weight",
              "build ms", "share err", "buckets");
  for (bool mixed : {false, true})
    for (uint32_t n : {10u, 50u, 100u, 200u, 500u, 1000u})
      for (const auto& a : algos) {
        // The capped variant's second race is slow with light servers (not optimised: it lost
        // on disruption already): equal weights only.
        if (mixed && std::string_view(a.name) == "hrw-capped") continue;
        if (argc > 3 && std::string_view(a.name).find(argv[3]) == std::string_view::npos) continue;
        const Row r = measure(a.build, n, mixed, m, repeats);
        std::printf("%-10s %-6s %5u  %7.2f %7.2f %7.2f  %8.2f  %8.2f%% %8.1f\n", a.name, mixed ? "mixed" : "equal", n,
                    r.moved_remove, r.moved_add, r.moved_weight, r.build_ms, 100 * r.share_err, r.share_err_buckets);
        std::fflush(stdout);
      }
  return 0;
}
