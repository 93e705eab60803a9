// ns per packet of vane's XDP programs, measured by the kernel through BPF_PROG_TEST_RUN with
// repeat = 1, called N times (a program that rewrites the frame would see its own output again
// with repeat > 1). The kernel's duration brackets the program run only, so the trivial xdp_pass
// line is the floor (timer reads included). XDP_TX/REDIRECT verdicts are returned, not
// transmitted, so this is the program's own cost. Needs root; runs in the BPF tests' namespace
// (tests/bpf/world.h), so fib and socket lookups are real.
//   xdp_bench [iterations [filter]]   e.g. sudo build/bench/xdp_bench 20000
// filter: only the cases whose name contains it (the floor always runs).
// VANE_BENCH_BEFORE=path/forwarder.bpf.o adds, after each case of the combined program, the same
// case run by that build of it (e.g. main's), loaded over the same maps: before/after in one run.
// Columns: p50, p10, p90 and the mean of the middle 80% (the kernel's clock may tick in 10 ns
// steps; the mean resolves smaller differences). bench/xdp-results.txt
// keeps the medians of several such runs, before and after the fast paths.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "packet.h"
#include "world.h"

#include "forwarder_notrust.skel.h"
#include "xdp_pass.skel.h"

using namespace vane::test;

namespace {

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

Bytes frame(uint16_t et, const Bytes& l3) {
  return eth(kSelfMac, kRouterMac, et, l3);
}

// A TCP connection from the client address to VIP:port inside the namespace (the thread is in
// it); returns the client's port, 0 on failure. The sockets stay open until the process ends.
uint16_t local_connection(const char* client, const char* vip, uint16_t port) {
  int lst = socket(AF_INET, SOCK_STREAM, 0), cli = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lst, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto v = sin4(vip, port), c = sin4(client, 0);
  if (bind(lst, reinterpret_cast<sockaddr*>(&v), sizeof v) != 0 || listen(lst, 4) != 0 ||
      bind(cli, reinterpret_cast<sockaddr*>(&c), sizeof c) != 0 ||
      connect(cli, reinterpret_cast<sockaddr*>(&v), sizeof v) != 0)
    return 0;
  socklen_t len = sizeof c;
  getsockname(cli, reinterpret_cast<sockaddr*>(&c), &len);
  return ntohs(c.sin_port);
}

// The world's settings as the loader writes them into the programs' vane_cfg.
vane_config bench_config() {
  const vane::xdp::Config c = world_config();
  vane_config cfg{};
  cfg.self_index = c.self_index;
  cfg.flags = VANE_CFG_F_V4 | VANE_CFG_F_V6;
  std::memcpy(&cfg.self_addr4, c.self_v4->bytes.data(), 4);
  std::memcpy(cfg.self_addr6, c.self_v6->bytes.data(), 16);
  cfg.hash_seed = c.hash_seed;
  cfg.gue_port = htons(c.gue_port);
  cfg.mtu = c.mtu;
  // as the loader converts nexthop_cache_ms: jiffies of the coarse clock's tick, rounded up
  timespec res{};
  uint64_t tick_ns = 4'000'000;
  if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0)
    tick_ns = uint64_t(res.tv_nsec);
  cfg.nexthop_ttl = uint32_t((uint64_t(c.nexthop_cache_ms) * 1'000'000 + tick_ns - 1) / tick_ns);
  return cfg;
}

// The combined program built with the redirector's trust checks compiled out
// (VANE_BENCH_NO_GUE_TRUST), loaded over the world forwarder's own maps so that both programs
// see the same VIPs, servers, tables and site addresses: the difference between them is the
// checks alone. nullptr on failure.
forwarder_notrust* load_without_checks(const World& w) {
  forwarder_notrust* s = forwarder_notrust__open();
  if (!s) return nullptr;
  const vane_config cfg = bench_config();
  s->rodata->vane_cfg = cfg;
  bpf_map* m;
  bpf_object__for_each_map(m, s->obj) {
    const char* name = bpf_map__name(m);
    if (std::strchr(name, '.')) continue;  // .rodata: this program's own
    int fd = w.fwd->map_fd(name);
    if (fd < 0 || bpf_map__reuse_fd(m, fd) != 0) {
      forwarder_notrust__destroy(s);
      return nullptr;
    }
  }
  if (forwarder_notrust__load(s) != 0) {
    forwarder_notrust__destroy(s);
    return nullptr;
  }
  return s;
}

// Another build of the combined program (a forwarder.bpf.o file, e.g. main's) loaded over the
// world forwarder's maps with the same settings: its program fd, or < 0. Stays loaded.
int load_object(const World& w, const char* path) {
  bpf_object* o = bpf_object__open_file(path, nullptr);
  if (!o) return -1;
  const vane_config cfg = bench_config();
  bpf_map* m;
  bpf_object__for_each_map(m, o) {
    const char* name = bpf_map__name(m);
    if (std::strchr(name, '.')) {
      if (std::strstr(name, "rodata")) {
        size_t sz = 0;
        const void* v = bpf_map__initial_value(m, &sz);
        if (!v || sz < sizeof(cfg)) return -2;
        std::vector<char> buf(static_cast<const char*>(v), static_cast<const char*>(v) + sz);
        std::memcpy(buf.data(), &cfg, sizeof(cfg));
        if (bpf_map__set_initial_value(m, buf.data(), sz) != 0) return -5;
      }
      continue;
    }
    int fd = w.fwd->map_fd(name);
    if (fd < 0 || bpf_map__reuse_fd(m, fd) != 0) return -3;
  }
  if (bpf_object__load(o) != 0) return -4;
  return bpf_program__fd(bpf_object__find_program_by_name(o, "vane_xdp"));
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t iterations = argc > 1 ? uint32_t(std::strtoul(argv[1], nullptr, 10)) : 20000;
  if (iterations < 10) iterations = 10;
  const std::string filter = argc > 2 ? argv[2] : "";
  std::string skip;
  World* w = world(&skip);
  if (!w) {
    std::fprintf(stderr, "skipped: %s\n", skip.c_str());
    return 77;
  }
  if (!w->error.empty()) {
    std::fprintf(stderr, "setup failed: %s\n", w->error.c_str());
    return 1;
  }
  xdp_pass* floor = xdp_pass__open_and_load();
  if (!floor) {
    std::fprintf(stderr, "cannot load xdp_pass\n");
    return 1;
  }
  const char* c4 = "198.51.100.7";
  const char* c6 = "2001:db8:200::7";
  auto gue_from = [](const char* from, const Bytes& inner) {
    return frame(kEthIp,
                 ipv4({.src = from, .dst = "192.0.2.1", .proto = kUdp},
                      udp(50001, kGuePort,
                          gue({.ctype = 4, .next_hop = 1, .hops = {addr("192.0.2.1"), addr("192.0.2.3")}}, inner))));
  };
  auto gue_in = [&](const Bytes& inner) { return gue_from("192.0.2.2", inner); };
  auto gue6_in = [](const Bytes& inner) {
    return frame(
        kEthIp6,
        ipv6({.src = "2001:db8::2", .dst = "2001:db8::1", .proto = kUdp},
             udp(50001, kGuePort,
                 gue({.ctype = 41, .glb_version = 1, .next_hop = 1, .hops = {addr("2001:db8::1"), addr("2001:db8::3")}},
                     inner))));
  };
  const Bytes ack6 = ipv6({.src = c6, .dst = "2001:db8:100::10", .proto = kTcp}, tcp(40001, 443, kAck, 64));
  forwarder_notrust* without = load_without_checks(*w);
  if (!without) {
    std::fprintf(stderr, "cannot load the forwarder without trust checks\n");
    return 1;
  }
  const int nocheck = bpf_program__fd(without->progs.vane_xdp);
  struct Case {
    const char* name;
    int fd;
    Bytes pkt;
    int verdict;
  };
  int fwd = w->fwd->prog_fd(), rdr = w->rdr->prog_fd();
  // 203.0.113.11 (any port) has table kTLocal: first hop this server, moved from second hop
  // server 1. 203.0.113.22:80 has kTLocalSteady: first hop this server, a steady bucket.
  const uint16_t cport = local_connection(c4, "203.0.113.11", 8080);
  if (!cport) {
    std::fprintf(stderr, "cannot open a local TCP connection to 203.0.113.11:8080\n");
    return 1;
  }
  std::vector<Case> cases = {
      {"floor: xdp_pass (trivial program)", bpf_program__fd(floor->progs.xdp_pass),
       frame(kEthIp, ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(40000, 80, kAck, 64))), XDP_PASS},
      {"non-VIP IPv4 TCP: pass", fwd, frame(kEthIp, ipv4({.src = c4, .dst = "203.0.113.99"}, tcp(40000, 80, kAck, 64))),
       XDP_PASS},
      {"VIP IPv4 TCP SYN, first hop is this server: pass", fwd,
       frame(kEthIp, ipv4({.src = c4, .dst = "203.0.113.11"}, tcp(40000, 80, kSyn))), XDP_PASS},
      {"first hop self, ACK, steady bucket (no lookup, pass)", fwd,
       frame(kEthIp, ipv4({.src = c4, .dst = "203.0.113.22"}, tcp(40000, 80, kAck, 64))), XDP_PASS},
      {"first hop self, ACK with local socket (lookup, pass)", fwd,
       frame(kEthIp, ipv4({.src = c4, .dst = "203.0.113.11"}, tcp(cport, 8080, kAck, 64))), XDP_PASS},
      {"first hop self, ACK without socket -> second hop (lookup + encap)", fwd,
       frame(kEthIp, ipv4({.src = c4, .dst = "203.0.113.11"}, tcp(40000, 80, kAck, 64))), XDP_TX},
      {"VIP IPv4 TCP SYN: GUE encap + fib + TX", fwd,
       frame(kEthIp, ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(40000, 80, kSyn))), XDP_TX},
      {"VIP IPv4 TCP ACK: GUE encap + fib + TX", fwd,
       frame(kEthIp, ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(40000, 80, kAck, 64))), XDP_TX},
      {"VIP IPv6 TCP ACK: GUE encap + fib + TX", fwd,
       frame(kEthIp6, ipv6({.src = c6, .dst = "2001:db8:100::10", .proto = kTcp}, tcp(40001, 443, kAck, 64))), XDP_TX},
      {"VIP IPv4 UDP: GUE encap + fib + TX", fwd,
       frame(kEthIp, ipv4({.src = c4, .dst = "203.0.113.10", .proto = kUdp}, udp(5353, 53, zeros(64)))), XDP_TX},
      {"redirector (combined prog): SYN decap + deliver", fwd,
       gue_in(ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(40000, 80, kSyn))), XDP_PASS},
      {"redirector (combined prog): ACK, no socket -> 2nd hop", fwd,
       gue_in(ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(40000, 80, kAck, 64))), XDP_TX},
      {"redirector (combined prog): SYN decap + deliver, checks compiled out", nocheck,
       gue_in(ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(40000, 80, kSyn))), XDP_PASS},
      {"redirector (combined prog): ACK, no socket -> 2nd hop, checks compiled out", nocheck,
       gue_in(ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(40000, 80, kAck, 64))), XDP_TX},
      {"redirector (combined prog): IPv6 fabric ACK -> 2nd hop", fwd, gue6_in(ack6), XDP_TX},
      {"redirector (combined prog): IPv6 fabric ACK -> 2nd hop, checks compiled out", nocheck, gue6_in(ack6), XDP_TX},
      {"redirector (combined prog): GUE from outside the site: drop", fwd,
       gue_from("198.51.100.9", ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(40000, 80, kSyn))), XDP_DROP},
      {"redirector (combined prog): inner not for a VIP: drop", fwd,
       gue_in(ipv4({.src = c4, .dst = "192.0.2.3"}, tcp(40000, 22, kSyn))), XDP_DROP},
      {"redirector (standalone): SYN decap + deliver", rdr,
       gue_in(ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(40000, 80, kSyn))), XDP_PASS},
      {"redirector (standalone): ACK, no socket -> 2nd hop", rdr,
       gue_in(ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(40000, 80, kAck, 64))), XDP_TX},
  };

  // Each case of the combined program again with another build of it (same maps, same run),
  // right after its own row: before/after comparisons without a second process.
  if (const char* before_obj = std::getenv("VANE_BENCH_BEFORE")) {
    const int before = load_object(*w, before_obj);
    if (before < 0) {
      std::fprintf(stderr, "cannot load %s over the world's maps (%d)\n", before_obj, before);
      return 1;
    }
    static std::vector<std::string> twin_names;
    twin_names.reserve(cases.size());
    std::vector<Case> with_twins;
    for (const auto& c : cases) {
      with_twins.push_back(c);
      if (c.fd != fwd) continue;
      twin_names.push_back(std::string("  before: ") + c.name);
      with_twins.push_back({twin_names.back().c_str(), before, c.pkt, c.verdict});
    }
    cases = std::move(with_twins);
  }
  utsname u{};
  uname(&u);
  double load[3] = {};
  getloadavg(load, 3);
  std::printf("# vane xdp_bench: ns/packet, BPF_PROG_TEST_RUN repeat=1 x %u calls per case\n", iterations);
  std::printf("# kernel %s, %s, %ld CPUs online, load average %.2f\n", u.release, cpu_model().c_str(),
              sysconf(_SC_NPROCESSORS_ONLN), load[0]);
  std::printf("# command: %s %u%s%s (as root)\n", argv[0], iterations, filter.empty() ? "" : " ", filter.c_str());
  std::printf("%-66s %8s %7s %7s %7s %7s\n", "case", "verdict", "p50", "p10", "p90", "mean80");
  int rc = 0;
  for (const auto& c : cases) {
    if (!filter.empty() && &c != &cases.front() && std::string(c.name).find(filter) == std::string::npos) continue;
    std::vector<uint32_t> ns;
    int verdict = -1;
    for (uint32_t i = 0; i < iterations; ++i) {
      uint32_t d = 0;
      auto r = run_xdp(c.fd, c.pkt, w->veth0, 1, &d);
      if (!r) {
        std::fprintf(stderr, "%s: %s\n", c.name, r.error().c_str());
        return 1;
      }
      verdict = r->verdict;
      ns.push_back(d);
    }
    std::sort(ns.begin(), ns.end());
    const char* names[] = {"ABORTED", "DROP", "PASS", "TX", "REDIRECT"};
    double sum = 0;
    for (size_t i = ns.size() / 10; i < ns.size() * 9 / 10; ++i) sum += ns[i];
    std::printf("%-66s %8s %7u %7u %7u %7.1f\n", c.name, verdict >= 0 && verdict <= 4 ? names[verdict] : "?",
                ns[ns.size() / 2], ns[ns.size() / 10], ns[ns.size() * 9 / 10], sum / double(ns.size() * 8 / 10));
    if (verdict != c.verdict) {
      std::fprintf(stderr, "%s: unexpected verdict %d\n", c.name, verdict);
      rc = 1;
    }
  }
  xdp_pass__destroy(floor);
  forwarder_notrust__destroy(without);
  return rc;
}
