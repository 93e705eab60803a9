// The C++ half of the ABI check (bpf/lib/abi_check.h is the BPF half): both compilers must lay
// out the shared structs identically, or the maps would be read as garbage.
#include <gtest/gtest.h>

#include <cstddef>

#include "vane_abi.h"
#include "xdp/loader.h"

namespace {

static_assert(sizeof(vane_vip_key) == 20);
static_assert(offsetof(vane_vip_key, port) == 16);
static_assert(offsetof(vane_vip_key, proto) == 18);
static_assert(offsetof(vane_vip_key, family) == 19);
static_assert(sizeof(vane_vip_value) == 16);
static_assert(sizeof(vane_server) == 24);
static_assert(offsetof(vane_server, addr6) == 8);
static_assert(sizeof(vane_bucket) == 8);
static_assert(sizeof(vane_table_ctl) == 24);
static_assert(offsetof(vane_table_ctl, half) == 8);
static_assert(sizeof(vane_counters) == 16 * VANE_R_COUNT);
static_assert(sizeof(vane_config) == 40);
static_assert(offsetof(vane_config, self_addr6) == 16);
static_assert(offsetof(vane_config, gue_port) == 32);
static_assert(offsetof(vane_config, mtu) == 34);
static_assert(sizeof(vane_gue_hdr) == 4);
static_assert(sizeof(vane_glb_hdr) == 4);
static_assert(offsetof(vane_glb_hdr, next_hop) == 2);
static_assert(offsetof(vane_glb_hdr, hop_count) == 3);
static_assert(VANE_R_COUNT == 17);
static_assert(sizeof(vane_site_key) == 20);
static_assert(offsetof(vane_site_key, family) == 16);
static_assert(sizeof(vane_site_slot) == 24);
static_assert(VANE_ENCAP4_OVERHEAD == 44 && VANE_ENCAP6_OVERHEAD == 88);

TEST(XdpAbi, GlbPrivateDataMatchesGlbWireLayout) {
  // GLB: u16 private data type 0, u8 next hop, u8 hop count. Version 0 = GLB's own format.
  vane_glb_hdr h{};
  h.version_flags = VANE_GLB_VERSION_V4HOPS << VANE_GLB_VERSION_SHIFT;
  h.next_hop = 1;
  h.hop_count = 2;
  const auto* b = reinterpret_cast<const uint8_t*>(&h);
  EXPECT_EQ(b[0], 0);
  EXPECT_EQ(b[1], 0);
  EXPECT_EQ(b[2], 1);
  EXPECT_EQ(b[3], 2);
  EXPECT_EQ(VANE_GLB_VERSION_V6HOPS << VANE_GLB_VERSION_SHIFT, 0x10);
  EXPECT_EQ(VANE_GLB_F_FORWARD_SYN, 0x08);  // cls_redirect's forward_syn bit
}

TEST(XdpAbi, FlowHashIsDeterministicAndSeeded) {
  __u32 w[VANE_HASH_WORDS] = {0xc6336407, 0, 0, 0, 0xcb00710a, 0, 0, 0, 40000u << 16 | 80, 6 << 8 | 4};
  EXPECT_EQ(vane_hash_words(w, 1), vane_hash_words(w, 1));
  EXPECT_NE(vane_hash_words(w, 1), vane_hash_words(w, 2));
  __u32 w2[VANE_HASH_WORDS];
  std::copy(std::begin(w), std::end(w), w2);
  w2[8] = 40001u << 16 | 80;
  EXPECT_NE(vane_hash_words(w, 1), vane_hash_words(w2, 1));
}

TEST(XdpAbi, ReasonNamesCoverEveryReason) {
  for (unsigned r = 0; r < VANE_R_COUNT; ++r) EXPECT_NE(vane::xdp::reason_name(r), "unknown") << r;
  EXPECT_EQ(vane::xdp::reason_name(VANE_R_COUNT), "unknown");
  // Names are what operators alert on (metrics label, vanectl column): pinned here.
  EXPECT_EQ(vane::xdp::reason_name(VANE_R_FIB_PASS), "fib_pass");
  EXPECT_EQ(vane::xdp::reason_name(VANE_R_GUE_BAD_SOURCE), "gue_bad_source");
  EXPECT_EQ(vane::xdp::reason_name(VANE_R_GUE_BAD_INNER), "gue_bad_inner");
  EXPECT_EQ(vane::xdp::reason_name(VANE_R_GUE_BAD_HOP), "gue_bad_hop");
}

}  // namespace
