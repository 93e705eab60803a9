#pragma once
// Shared by the fixture files: the skip/fail preamble and expected-packet builders.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <functional>
#include <optional>

#include "packet.h"
#include "vane_abi.h"
#include "world.h"

namespace vane::test {

#define VANE_WORLD_OR_SKIP(w)        \
  std::string skip_why_;             \
  World* w = world(&skip_why_);      \
  if (!w) GTEST_SKIP() << skip_why_; \
  ASSERT_EQ(w->error, "") << "building the test namespace failed"

inline const char* kClient4 = "198.51.100.7";
inline const char* kClient6 = "2001:db8:200::7";
inline const char* kSelf4 = "192.0.2.1";
inline const char* kSelf6 = "2001:db8::1";

// A frame as the router delivers it to this server.
inline Bytes from_router(uint16_t ethertype, const Bytes& l3, std::optional<uint16_t> vlan = std::nullopt) {
  return eth(kSelfMac, kRouterMac, ethertype, l3, vlan);
}

// What the forwarder sends: outer IPv4/UDP/GUE/GLB to hops[0], inner unchanged.
inline Bytes encap4(const Bytes& inner, uint8_t ctype, const std::vector<IpAddress>& hops, uint32_t hash,
                    const Mac& dmac, uint8_t tos = 0, uint8_t glb_flags = 0,
                    std::optional<uint16_t> vlan = std::nullopt) {
  V4 o{.src = kSelf4, .dst = hops[0].str(), .proto = kUdp, .df = true, .ttl = 64, .tos = tos, .id = 0};
  Bytes l3 =
      ipv4(o, udp(gue_sport(hash), kGuePort,
                  gue({.ctype = ctype, .glb_version = 0, .glb_flags = glb_flags, .next_hop = 1, .hops = hops}, inner)));
  return eth(dmac, kSelfMac, kEthIp, l3, vlan);
}

inline Bytes encap6(const Bytes& inner, uint8_t ctype, const std::vector<IpAddress>& hops, uint32_t hash,
                    const Mac& dmac, uint8_t tclass = 0) {
  V6 o{.src = kSelf6,
       .dst = hops[0].str(),
       .proto = kUdp,
       .tclass = tclass,
       .hop_limit = 64,
       .flow_label = hash & 0xfffff};
  Bytes l3 = ipv6(
      o, udp(gue_sport(hash), kGuePort, gue({.ctype = ctype, .glb_version = 1, .next_hop = 1, .hops = hops}, inner)));
  return eth(dmac, kSelfMac, kEthIp6, l3);
}

inline uint64_t packets(xdp::Loader& l, uint32_t slot, unsigned reason) {
  auto c = l.counters(slot);
  return c ? c->packets[reason] : ~0ull;
}

// Every counter that moved, for failure messages.
inline std::string counters_moved(xdp::Loader& l) {
  std::string s;
  for (uint32_t slot = 0; slot < VANE_STATS_SLOTS; ++slot) {
    auto c = l.counters(slot);
    if (!c) return c.error();
    for (unsigned r = 0; r < VANE_R_COUNT; ++r)
      if (c->packets[r])
        s += " slot " + std::to_string(slot) + " " + std::string(xdp::reason_name(r)) + "=" +
             std::to_string(c->packets[r]);
  }
  return s.empty() ? " none" : s;
}

// One fixture run through the combined program: counters cleared, then `in` must get `verdict`,
// come out as `want` (unchecked when nullopt; `check`, if any, looks at the output), and be
// counted once as `reason` in `slot` (unless reason >= VANE_R_COUNT).
inline void expect_run(World* w, const Bytes& in, int verdict, const std::optional<Bytes>& want, uint32_t slot,
                       unsigned reason, const std::function<void(const Bytes&)>& check = nullptr) {
  ASSERT_TRUE(w->fwd->clear_counters());
  auto r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->verdict, verdict);
  if (check) check(r->out);
  if (want) {
    EXPECT_EQ(r->out, *want) << "got:\n" << hex(r->out) << "\nwant:\n" << hex(*want);
  }
  if (reason < VANE_R_COUNT) {
    EXPECT_EQ(packets(*w->fwd, slot, reason), 1u)
        << "counter " << xdp::reason_name(reason) << "; moved:" << counters_moved(*w->fwd);
  }
}

}  // namespace vane::test
