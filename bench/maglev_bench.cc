// Build time of the weighted Maglev forwarding tables, with their quality as counters:
//   share_max_over_ideal  largest first-hop bucket count / that server's weighted ideal count (for
//                         equal weights: max / mean)
//   share_max_dev         largest |bucket count - weighted ideal count|, in buckets
//   moved_over_ideal      buckets whose first hop changes when one server (the middle one by key) is
//                         removed / max(M / N, that server's weighted share)
//   moved_pct             the same buckets as a percentage of the table
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "steer/maglev.h"

namespace vane::steer {
namespace {

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
  return s;
}

void quality_counters(benchmark::State& state, const std::vector<MaglevServer>& s, uint32_t m) {
  auto full = build_maglev_first_hops(s, m);
  if (!full) return state.SkipWithError(std::string(to_string(full.error())).c_str());
  const uint32_t size = static_cast<uint32_t>(full->first.size());
  double total = 0;
  for (const auto& x : full->servers) total += x.weight;
  std::vector<uint32_t> count(full->servers.size());
  for (uint32_t f : full->first) ++count[f];
  double worst = 0;
  double worst_dev = 0;
  for (size_t i = 0; i < count.size(); ++i) {
    const double ideal = size * full->servers[i].weight / total;
    if (ideal > 0) worst = std::max(worst, count[i] / ideal);
    worst_dev = std::max(worst_dev, std::abs(count[i] - ideal));
  }

  const size_t victim = full->servers.size() / 2;
  auto fewer = full->servers;
  fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(victim));
  auto after = build_maglev_first_hops(fewer, size);
  if (!after) return state.SkipWithError(std::string(to_string(after.error())).c_str());
  uint32_t moved = 0;
  for (uint32_t b = 0; b < size; ++b) moved += full->servers[full->first[b]].key != after->servers[after->first[b]].key;
  const double ideal = std::max(double(size) / s.size(), size * full->servers[victim].weight / total);

  state.counters["M"] = size;
  state.counters["share_max_over_ideal"] = worst;
  state.counters["share_max_dev"] = worst_dev;
  state.counters["moved_over_ideal"] = moved / ideal;
  state.counters["moved_pct"] = 100.0 * moved / size;
}

// Args: servers, table size (0: automatic), mixed weights (0/1).
void BM_MaglevFirstHops(benchmark::State& state) {
  const auto s = servers(static_cast<uint32_t>(state.range(0)), state.range(2) != 0);
  const auto m = static_cast<uint32_t>(state.range(1));
  for (auto _ : state) {
    auto t = build_maglev_first_hops(s, m);
    benchmark::DoNotOptimize(t);
  }
  quality_counters(state, s, m);
}

// The whole table with second hops, daisy-chained from the table before one server was removed.
void BM_MaglevTableWithPrevious(benchmark::State& state) {
  const auto s = servers(static_cast<uint32_t>(state.range(0)), state.range(2) != 0);
  const auto m = static_cast<uint32_t>(state.range(1));
  auto fewer = s;
  fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(fewer.size() / 2));
  auto previous = build_maglev(s, m);
  if (!previous) return state.SkipWithError(std::string(to_string(previous.error())).c_str());
  for (auto _ : state) {
    auto t = build_maglev(fewer, m, &*previous);
    benchmark::DoNotOptimize(t);
  }
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"servers", "M", "mixed"});
  for (int mixed : {0, 1}) {
    b->Args({100, 65537, mixed});
    b->Args({1000, 65537, mixed});
    b->Args({1000, 0, mixed});
  }
  b->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_MaglevFirstHops)->Apply(args);
BENCHMARK(BM_MaglevTableWithPrevious)->Apply(args);

}  // namespace
}  // namespace vane::steer

BENCHMARK_MAIN();
