// UPDATE decode and encode throughput of the BGP wire codec, in prefixes per second.
//
// Decode: a receive buffer holding a full table of UPDATEs (1,000,000 IPv4 /24 or IPv6 /48
// prefixes, built by the encoder) is framed, decoded with RFC 7606 checks and every prefix
// visited, as a session does before handing routes to the Adj-RIB-In. Encode: the same prefixes
// packed into UPDATEs. Argument 0: 4096-byte messages; 1: RFC 8654 extended (65535).
//
// Run: build-*/bench/bgp_codec_bench
#include <benchmark/benchmark.h>

#include <vector>

#include "bgp/wire/builder.h"
#include "bgp/wire/header.h"
#include "bgp/wire/update.h"

namespace {

using namespace vane::bgp::wire;

constexpr size_t kPrefixes = 1'000'000;

std::vector<WirePrefix> prefixes(bool v6) {
  std::vector<WirePrefix> out;
  out.reserve(kPrefixes);
  for (size_t i = 0; i < kPrefixes; ++i) {
    WirePrefix p;
    if (v6) {
      p.family = vane::IpAddress::Family::v6;
      p.len = 48;
      p.addr = {0x20, 0x01, 0x0d, 0xb8, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
    } else {
      p = WirePrefix::v4(uint32_t(0x01000000 + (i << 8)), 24);
    }
    out.push_back(p);
  }
  return out;
}

PathAttributes attributes() {
  PathAttributes a;
  a.as_path = AsPath::sequence({65001, 65002, 4200000001u});
  a.next_hop = vane::IpAddress::parse("192.0.2.1");
  a.mp_next_hop = vane::IpAddress::parse("2001:db8::1");
  a.med = 10;
  a.communities = {0xfde90064};
  return a;
}

EncodeContext encode_context(const benchmark::State& state) {
  EncodeContext c;
  c.extended_message = state.range(0) != 0;
  return c;
}

void decode(benchmark::State& state, bool v6) {
  const auto ctx = encode_context(state);
  std::vector<uint8_t> stream;
  const auto all = prefixes(v6);
  const size_t messages = encode_announce(attributes(), all, ctx, stream).value();
  DecodeContext dctx;
  dctx.extended_message = ctx.extended_message;
  for (auto _ : state) {
    size_t seen = 0;
    Bytes rest = stream;
    while (!rest.empty()) {
      auto f = frame_message(rest, dctx.max_message_length());
      auto u = decode_update(rest.subspan(kHeaderLength, f->length - kHeaderLength), dctx);
      u->for_each_announced([&](const WirePrefix& p) { seen += p.len; });
      rest = rest.subspan(f->length);
    }
    benchmark::DoNotOptimize(seen);
  }
  state.counters["prefixes/s"] = benchmark::Counter(double(kPrefixes), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["messages"] = double(messages);
  state.counters["bytes"] = double(stream.size());
}

void encode(benchmark::State& state, bool v6) {
  const auto ctx = encode_context(state);
  const auto all = prefixes(v6);
  const auto attrs = attributes();
  std::vector<uint8_t> stream;
  for (auto _ : state) {
    stream.clear();
    benchmark::DoNotOptimize(encode_announce(attrs, all, ctx, stream).value());
  }
  state.counters["prefixes/s"] = benchmark::Counter(double(kPrefixes), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes"] = double(stream.size());
}

void BM_DecodeIpv4(benchmark::State& s) {
  decode(s, false);
}
void BM_DecodeIpv6(benchmark::State& s) {
  decode(s, true);
}
void BM_EncodeIpv4(benchmark::State& s) {
  encode(s, false);
}
void BM_EncodeIpv6(benchmark::State& s) {
  encode(s, true);
}

BENCHMARK(BM_DecodeIpv4)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeIpv6)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeIpv4)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeIpv6)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
