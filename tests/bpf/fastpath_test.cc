// The data path's shortcuts keep the answers of the long way:
//   - the flow hash (computed with a shortened dependency chain in BPF) equals vane_hash_words;
//   - the VIP address filter only lets non-VIP traffic leave early, whatever the VIP set becomes;
//   - the VIP index finds every VIP, also when keys share a slot or the index is not filled;
//   - the per-CPU next-hop cache keeps bpf_fib_lookup's verdicts (route MTU included), never
//     keeps a failure, and sees a neighbour change once its time is up.
#include <arpa/inet.h>
#include <sched.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include <bpf/bpf.h>

#include "common.h"

namespace vane::test {
namespace {

const uint32_t G = VANE_STATS_GLOBAL;
const IpAddress S1 = addr("192.0.2.2"), S2 = addr("192.0.2.3");

// A loader of its own in the test namespace: world's servers, tables kT12 (1, 2) and
// kTNoNeigh (5, 2), the given VIPs and next-hop cache time.
std::unique_ptr<xdp::Loader> own_loader(const std::vector<xdp::Vip>& vips, uint32_t cache_ms = 1000) {
  xdp::Options o;
  o.config = world_config();
  o.config.nexthop_cache_ms = cache_ms;
  auto l = xdp::Loader::open(o);
  if (!l) {
    ADD_FAILURE() << l.error();
    return nullptr;
  }
  std::vector<xdp::Server> servers = {
      {0, addr("192.0.2.1"), addr("2001:db8::1"), false},
      {1, S1, addr("2001:db8::2"), false},
      {2, S2, addr("2001:db8::3"), false},
      {5, addr("192.0.2.6"), std::nullopt, false},
  };
  EXPECT_TRUE((*l)->set_servers(servers));
  EXPECT_TRUE((*l)->set_table(kT12, xdp::Table(13, {1u, 2u})));
  EXPECT_TRUE((*l)->set_table(kTNoNeigh, xdp::Table(13, {5u, 2u})));
  EXPECT_TRUE((*l)->set_vips(vips));
  return std::move(*l);
}

// Runs the test on one CPU: the next-hop cache is per CPU.
struct PinCpu {
  cpu_set_t old{};
  bool ok = false;
  PinCpu() {
    ok = sched_getaffinity(0, sizeof old, &old) == 0;
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &old)) {
        CPU_SET(c, &one);
        break;
      }
    ok = ok && sched_setaffinity(0, sizeof one, &one) == 0;
  }
  ~PinCpu() {
    if (ok) sched_setaffinity(0, sizeof old, &old);
  }
};

Bytes tcp4_to(const std::string& dst, uint16_t dport, uint16_t sport = 40000, size_t payload = 20) {
  return from_router(kEthIp, ipv4({.src = kClient4, .dst = dst}, tcp(sport, dport, kAck, payload)));
}

uint16_t be16_at(const Bytes& b, size_t at) {
  return uint16_t(b[at] << 8 | b[at + 1]);
}

Mac dmac_of(const Bytes& b) {
  Mac m{};
  if (b.size() >= 6) std::copy(b.begin(), b.begin() + 6, m.begin());
  return m;
}

// --- the hash --------------------------------------------------------------------------------

TEST(FastPathHash, EqualsVaneHashWordsForManyFlows) {
  VANE_WORLD_OR_SKIP(w);
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    uint16_t sport = uint16_t(1024 + rng() % 64000);
    std::string c4 = "198.51.100." + std::to_string(1 + rng() % 254);
    // IPv4 inner, IPv4 outer: the UDP source port carries 14 bits of the hash
    Bytes in = from_router(kEthIp, ipv4({.src = c4, .dst = "203.0.113.10"}, tcp(sport, 80, kAck)));
    auto r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->verdict, XDP_TX);
    uint32_t h = flow_hash(addr(c4), addr("203.0.113.10"), sport, 80, kTcp, kSeed);
    ASSERT_EQ(be16_at(r->out, 14 + 20), gue_sport(h)) << c4 << ":" << sport;
    // IPv4 inner to an IPv6-only first hop: the outer flow label carries 20 more bits
    in = from_router(kEthIp, ipv4({.src = c4, .dst = "203.0.113.14"}, tcp(sport, 80, kAck)));
    r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->verdict, XDP_TX);
    h = flow_hash(addr(c4), addr("203.0.113.14"), sport, 80, kTcp, kSeed);
    uint32_t label = uint32_t(r->out[15] & 0x0f) << 16 | uint32_t(r->out[16]) << 8 | r->out[17];
    ASSERT_EQ(label, h & 0xfffff) << c4 << ":" << sport;
    ASSERT_EQ(be16_at(r->out, 14 + 40), gue_sport(h));
    // IPv6 inner, TCP and UDP
    char c6[64];
    std::snprintf(c6, sizeof c6, "2001:db8:200::%x:%x", unsigned(rng() % 0xffff), unsigned(rng() % 0xffff));
    bool udp_flow = i % 2;
    Bytes l4 = udp_flow ? udp(sport, 53, zeros(8)) : tcp(sport, 443, kAck);
    in = from_router(kEthIp6, ipv6({.src = c6, .dst = "2001:db8:100::10", .proto = udp_flow ? kUdp : kTcp}, l4));
    r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->verdict, XDP_TX);
    h = flow_hash(addr(c6), addr("2001:db8:100::10"), sport, udp_flow ? 53 : 443, udp_flow ? kUdp : kTcp, kSeed);
    ASSERT_EQ(be16_at(r->out, 14 + 20), gue_sport(h)) << c6 << ":" << sport;
  }
}

// --- the VIP address filter ------------------------------------------------------------------

bool filter_bit_set(xdp::Loader& l, uint32_t bit) {
  vane_vip_filter f{};
  const __u32 zero = 0;
  if (bpf_map_lookup_elem(l.map_fd("vane_vip_filter"), &zero, &f) != 0) return false;
  return (f.bits[bit / 64] >> (bit % 64)) & 1;
}

uint32_t bit_of(const IpAddress& a) {
  __u32 w[4];
  std::memcpy(w, a.bytes.data(), 16);
  return a.is_v4() ? vane_vip_filter_bit4(w[0]) : vane_vip_filter_bit6(w);
}

TEST(VipFilter, AddressSharingAVipsBitStillPasses) {
  VANE_WORLD_OR_SKIP(w);
  // an address that is no VIP but has 203.0.113.10's bit: it gets the long way, and passes
  const uint32_t want = bit_of(addr("203.0.113.10"));
  std::string other4;
  for (uint32_t i = 1; i < (1u << 24) && other4.empty(); ++i) {
    IpAddress a = IpAddress::v4(0x0a000000u | i);  // 10.0.0.0/8
    if (bit_of(a) == want) other4 = a.str();
  }
  ASSERT_FALSE(other4.empty());
  ASSERT_TRUE(w->fwd->clear_counters());
  Bytes in = tcp4_to(other4, 80);
  auto r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(r->out, in);
  EXPECT_EQ(packets(*w->fwd, G, VANE_R_PASSED), 1u) << other4;

  const uint32_t want6 = bit_of(addr("2001:db8:100::10"));
  std::string other6;
  for (uint32_t i = 1; i < (1u << 24) && other6.empty(); ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "2001:db8:300::%x:%x", i >> 16, i & 0xffff);
    if (bit_of(addr(buf)) == want6) other6 = buf;
  }
  ASSERT_FALSE(other6.empty());
  in = from_router(kEthIp6, ipv6({.src = kClient6, .dst = other6, .proto = kTcp}, tcp(40001, 443, kAck)));
  r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(r->out, in);
  EXPECT_EQ(packets(*w->fwd, G, VANE_R_PASSED), 2u) << other6;
}

TEST(VipFilter, FollowsTheVipSet) {
  VANE_WORLD_OR_SKIP(w);
  const xdp::Vip a{addr("203.0.113.40"), 80, kTcp, kT12, 0}, b{addr("2001:db8:100::40"), 0, kUdp, kT12, 0};
  auto l = own_loader({a});
  ASSERT_TRUE(l);
  Bytes to_a = tcp4_to("203.0.113.40", 80);
  Bytes to_b =
      from_router(kEthIp6, ipv6({.src = kClient6, .dst = "2001:db8:100::40", .proto = kUdp}, udp(9, 99, zeros(8))));
  auto verdict = [&](const Bytes& in) {
    auto r = run_xdp(l->prog_fd(), in, w->veth0);
    return r ? r->verdict : -1;
  };
  EXPECT_EQ(verdict(to_a), XDP_TX);
  EXPECT_EQ(verdict(to_b), XDP_PASS);
  EXPECT_TRUE(filter_bit_set(*l, bit_of(a.addr)));
  EXPECT_FALSE(filter_bit_set(*l, bit_of(b.addr)));

  ASSERT_TRUE(l->set_vips(std::vector<xdp::Vip>{b}));
  EXPECT_FALSE(filter_bit_set(*l, bit_of(a.addr))) << "a removed VIP's bit is cleared";
  EXPECT_TRUE(filter_bit_set(*l, bit_of(b.addr)));
  ASSERT_TRUE(l->clear_counters());
  EXPECT_EQ(verdict(to_a), XDP_PASS);
  EXPECT_EQ(packets(*l, G, VANE_R_PASSED), 1u);
  EXPECT_EQ(verdict(to_b), XDP_TX);
  EXPECT_EQ(packets(*l, 0, VANE_R_FORWARDED), 1u);

  ASSERT_TRUE(l->set_vips(std::vector<xdp::Vip>{a, b}));
  EXPECT_EQ(verdict(to_a), XDP_TX);
  EXPECT_EQ(verdict(to_b), XDP_TX);
  ASSERT_TRUE(l->set_vips(std::vector<xdp::Vip>{}));
  EXPECT_EQ(verdict(to_a), XDP_PASS);
  EXPECT_EQ(verdict(to_b), XDP_PASS);
  EXPECT_FALSE(filter_bit_set(*l, bit_of(a.addr)));
}

// Counters belong to a VIP, not to its position in the list: a reload that reorders or removes
// VIPs leaves the others' counts where they were, a new VIP starts from zero in a freed slot, and a
// loader that takes over pinned maps finds every VIP's slot again.
TEST(VipCounters, FollowTheVipNotItsPosition) {
  VANE_WORLD_OR_SKIP(w);
  const xdp::Vip a{addr("203.0.113.40"), 80, kTcp, kT12, 0}, b{addr("203.0.113.41"), 80, kTcp, kT12, 0},
      c{addr("203.0.113.42"), 80, kTcp, kT12, 0};
  std::string pin = "/sys/fs/bpf/vane-test-slots-" + std::to_string(getpid());
  xdp::Options o;
  o.config = world_config();
  o.pin_dir = pin;
  o.keep_on_exit = true;
  auto l = xdp::Loader::open(o);
  ASSERT_TRUE(l) << l.error();
  auto first = (*l)->set_vips(std::vector<xdp::Vip>{a, b});
  ASSERT_TRUE(first) << first.error();
  EXPECT_EQ(*first, (std::vector<uint32_t>{0, 1}));
  auto send = [&](xdp::Loader& ld, const char* dst) {
    auto r = run_xdp(ld.prog_fd(), tcp4_to(dst, 80), w->veth0);
    return r ? r->verdict : -1;
  };
  ASSERT_TRUE((*l)->set_servers(std::vector<xdp::Server>{
      {0, addr("192.0.2.1"), std::nullopt, false}, {1, S1, std::nullopt, false}, {2, S2, std::nullopt, false}}));
  ASSERT_TRUE((*l)->set_table(kT12, xdp::Table(13, {1u, 2u})));
  send(**l, "203.0.113.41");
  send(**l, "203.0.113.41");
  const auto b_count = [&](xdp::Loader& ld, uint32_t slot) {
    auto cs = ld.counters(slot);
    uint64_t n = 0;
    for (unsigned r = 0; r < VANE_R_COUNT; ++r) n += cs ? cs->packets[r] : 0;
    return n;
  };
  ASSERT_EQ(b_count(**l, 1), 2u);

  auto reordered = (*l)->set_vips(std::vector<xdp::Vip>{c, b});  // a removed, c new, b moved to position 1 -> 0
  ASSERT_TRUE(reordered) << reordered.error();
  EXPECT_EQ(*reordered, (std::vector<uint32_t>{0, 1})) << "c takes a's freed slot 0; b keeps slot 1";
  EXPECT_EQ(b_count(**l, 1), 2u) << "b's counts stay with b";
  EXPECT_EQ(b_count(**l, 0), 0u) << "c starts from zero, not from a's counts";
  l->reset();  // keep_on_exit: maps stay pinned

  o.keep_on_exit = false;
  auto again = xdp::Loader::open(o);
  ASSERT_TRUE(again) << again.error();
  ASSERT_TRUE((*again)->reused_pinned_maps());
  auto after = (*again)->set_vips(std::vector<xdp::Vip>{b, a, c});
  ASSERT_TRUE(after) << after.error();
  EXPECT_EQ(*after, (std::vector<uint32_t>{1, 2, 0})) << "a restarted loader finds b and c where they were";
  EXPECT_EQ(b_count(**again, 1), 2u);
}

// --- the VIP index ---------------------------------------------------------------------------

uint32_t slot_of(const IpAddress& a, uint16_t port, uint8_t proto) {
  vane_vip_key k{};
  std::memcpy(k.addr, a.bytes.data(), 16);
  k.port = htons(port);
  k.proto = proto;
  k.family = a.is_v4() ? VANE_AF_INET : VANE_AF_INET6;
  __u32 w5[5];
  std::memcpy(w5, &k, sizeof w5);
  return vane_vip_slot_of(w5);
}

TEST(VipIndex, KeysSharingASlotAreAllFound) {
  VANE_WORLD_OR_SKIP(w);
  const IpAddress vip = addr("203.0.113.50");
  const uint32_t s80 = slot_of(vip, 80, kTcp);
  std::vector<uint16_t> same;  // other ports whose key has the slot of port 80
  for (uint32_t p = 1; p < 65536 && same.size() < 2; ++p)
    if (p != 80 && slot_of(vip, uint16_t(p), kTcp) == s80) same.push_back(uint16_t(p));
  ASSERT_EQ(same.size(), 2u);
  auto l = own_loader({{vip, 80, kTcp, kT12, 0}, {vip, same[0], kTcp, kTNoNeigh, 0}});
  ASSERT_TRUE(l);
  // the slot says that more than one key maps there
  vane_vip_index_ctl ctl{};
  const __u32 zero = 0;
  ASSERT_EQ(bpf_map_lookup_elem(l->map_fd("vane_vip_index_ctl"), &zero, &ctl), 0);
  __u32 idx = (ctl.active & 1) * VANE_VIP_INDEX_SLOTS + s80;
  vane_vip_slot slot{};
  ASSERT_EQ(bpf_map_lookup_elem(l->map_fd("vane_vip_index"), &idx, &slot), 0);
  EXPECT_EQ(slot.state, uint32_t(VANE_VIP_SLOT_SHARED));

  ASSERT_TRUE(l->clear_counters());
  auto r = run_xdp(l->prog_fd(), tcp4_to(vip.str(), 80), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX);
  EXPECT_EQ(packets(*l, 0, VANE_R_FORWARDED), 1u);
  r = run_xdp(l->prog_fd(), tcp4_to(vip.str(), same[0]), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_PASS) << "kTNoNeigh: first hop without a neighbour";
  EXPECT_EQ(packets(*l, 1, VANE_R_FIB_PASS), 1u);
  Bytes in = tcp4_to(vip.str(), same[1]);
  r = run_xdp(l->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_PASS) << "same slot, no VIP";
  EXPECT_EQ(r->out, in);
  EXPECT_EQ(packets(*l, G, VANE_R_PASSED), 1u);
}

TEST(VipIndex, AnUnfilledIndexAsksTheVipMap) {
  VANE_WORLD_OR_SKIP(w);
  auto l = own_loader({{addr("203.0.113.60"), 80, kTcp, kT12, 0}, {addr("203.0.113.61"), 0, kTcp, kT12, 0}});
  ASSERT_TRUE(l);
  // both halves zeroed: every slot says "ask the VIP map"
  std::vector<vane_vip_slot> zeros_(2 * VANE_VIP_INDEX_SLOTS);
  int fd = l->map_fd("vane_vip_index");
  for (__u32 i = 0; i < 2 * VANE_VIP_INDEX_SLOTS; ++i) ASSERT_EQ(bpf_map_update_elem(fd, &i, &zeros_[i], BPF_ANY), 0);
  ASSERT_TRUE(l->clear_counters());
  auto r = run_xdp(l->prog_fd(), tcp4_to("203.0.113.60", 80), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX);
  r = run_xdp(l->prog_fd(), tcp4_to("203.0.113.61", 8080), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX) << "wildcard port";
  Bytes in = tcp4_to("203.0.113.60", 81);
  r = run_xdp(l->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(packets(*l, 0, VANE_R_FORWARDED), 1u);
  EXPECT_EQ(packets(*l, 1, VANE_R_FORWARDED), 1u);
  EXPECT_EQ(packets(*l, G, VANE_R_PASSED), 1u);
}

// --- the next-hop cache ----------------------------------------------------------------------

const xdp::Vip kVip12{addr("203.0.113.70"), 80, kTcp, kT12, 0};
const xdp::Vip kVipNoNeigh{addr("203.0.113.71"), 80, kTcp, kTNoNeigh, 0};

TEST(NextHopCache, NeighbourChangeIsSeenOnceTheTimeIsUp) {
  VANE_WORLD_OR_SKIP(w);
  PinCpu pin;
  ASSERT_TRUE(pin.ok);
  auto cached = own_loader({kVip12}, 300);
  auto uncached = own_loader({kVip12}, 0);
  ASSERT_TRUE(cached && uncached);
  Bytes in = tcp4_to("203.0.113.70", 80);
  auto dmac = [&](xdp::Loader& l) {
    auto r = run_xdp(l.prog_fd(), in, w->veth0);
    return r && r->verdict == XDP_TX ? dmac_of(r->out) : Mac{};
  };
  EXPECT_EQ(dmac(*cached), server_mac(2));
  EXPECT_EQ(dmac(*uncached), server_mac(2));
  ASSERT_EQ(w->ns.ip("neigh replace 192.0.2.2 lladdr 02:00:00:00:00:42 nud permanent dev veth0"), 0);
  EXPECT_EQ(dmac(*uncached), server_mac(0x42)) << "no cache: every packet asks the FIB";
  EXPECT_EQ(dmac(*cached), server_mac(2)) << "within its time the entry is reused";
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  EXPECT_EQ(dmac(*cached), server_mac(0x42)) << "after its time the FIB is asked again";
  ASSERT_EQ(w->ns.ip("neigh replace 192.0.2.2 lladdr 02:00:00:00:00:02 nud permanent dev veth0"), 0);
  EXPECT_EQ(dmac(*uncached), server_mac(2));
}

TEST(NextHopCache, FailuresAreNotKept) {
  VANE_WORLD_OR_SKIP(w);
  PinCpu pin;
  ASSERT_TRUE(pin.ok);
  auto l = own_loader({kVipNoNeigh}, 60'000);
  ASSERT_TRUE(l);
  Bytes in = tcp4_to("203.0.113.71", 80);
  ASSERT_TRUE(l->clear_counters());
  auto r = run_xdp(l->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(packets(*l, 0, VANE_R_FIB_PASS), 1u);
  ASSERT_EQ(w->ns.ip("neigh replace 192.0.2.6 lladdr 02:00:00:00:00:06 nud permanent dev veth0"), 0);
  r = run_xdp(l->prog_fd(), in, w->veth0);
  EXPECT_TRUE(r && r->verdict == XDP_TX) << "the next packet asks again";
  if (r) {
    EXPECT_EQ(dmac_of(r->out), server_mac(6));
  }
  ASSERT_EQ(w->ns.ip("neigh del 192.0.2.6 dev veth0"), 0);
  // world's own fixture (no_neighbour_leaves_encapsulated_packet_to_kernel) needs it gone again
  auto fresh = own_loader({kVipNoNeigh}, 0);
  ASSERT_TRUE(fresh);
  r = run_xdp(fresh->prog_fd(), in, w->veth0);
  EXPECT_TRUE(r && r->verdict == XDP_PASS);
}

TEST(NextHopCache, KeepsTheRouteMtuVerdict) {
  VANE_WORLD_OR_SKIP(w);
  PinCpu pin;
  ASSERT_TRUE(pin.ok);
  ASSERT_EQ(w->ns.ip("route add 192.0.2.2/32 dev veth0 mtu lock 1400"), 0);
  auto l = own_loader({kVip12}, 60'000);
  auto uncached = own_loader({kVip12}, 0);
  ASSERT_TRUE(l && uncached);
  // outer length = 44 + inner; inner = 20 + 20 + payload
  auto sized = [](size_t outer) { return tcp4_to("203.0.113.70", 80, 40000, outer - 44 - 40); };
  for (xdp::Loader* x : {l.get(), uncached.get()}) {
    ASSERT_TRUE(x->clear_counters());
    auto r = run_xdp(x->prog_fd(), sized(100), w->veth0);  // fills the cache (l)
    ASSERT_TRUE(r);
    EXPECT_EQ(r->verdict, XDP_TX);
    r = run_xdp(x->prog_fd(), sized(1400), w->veth0);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->verdict, XDP_TX) << "exactly the route MTU";
    r = run_xdp(x->prog_fd(), sized(1401), w->veth0);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->verdict, XDP_DROP) << "over the route MTU, as bpf_fib_lookup says";
    EXPECT_EQ(packets(*x, 0, VANE_R_TOO_BIG), 1u);
    EXPECT_EQ(packets(*x, 0, VANE_R_FORWARDED), 2u);
  }
  ASSERT_EQ(w->ns.ip("route del 192.0.2.2/32 dev veth0"), 0);
}

}  // namespace
}  // namespace vane::test
