// Attaching for real: xdp_pass and the forwarder natively on a veth in a namespace of the test's
// own; map pinning and takeover by a second loader.
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include "common.h"

#include "xdp_pass.skel.h"

namespace vane::test {
namespace {

uint32_t attached_id(int ifindex) {
  uint32_t id = 0;
  if (bpf_xdp_query_id(ifindex, XDP_FLAGS_DRV_MODE, &id) != 0) return 0;
  return id;
}

TEST(Attach, XdpPassAttachesNativelyToVeth) {
  VANE_WORLD_OR_SKIP(w);
  (void)w;
  Netns ns;
  ASSERT_TRUE(ns.ok());
  ASSERT_EQ(ns.ip("link add va0 type veth peer name va1"), 0);
  ASSERT_EQ(ns.ip("link set va0 up"), 0);
  ASSERT_EQ(ns.ip("link set va1 up"), 0);
  ASSERT_TRUE(ns.enter());
  int ifindex = int(if_nametoindex("va0"));
  ASSERT_GT(ifindex, 0);
  xdp_pass* s = xdp_pass__open_and_load();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(bpf_xdp_attach(ifindex, bpf_program__fd(s->progs.xdp_pass), XDP_FLAGS_DRV_MODE, nullptr), 0);
  EXPECT_NE(attached_id(ifindex), 0u);
  EXPECT_EQ(bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr), 0);
  EXPECT_EQ(attached_id(ifindex), 0u);
  xdp_pass__destroy(s);
  ns.leave();
  Netns* back = &w->ns;
  ASSERT_TRUE(back->enter() || true);
}

TEST(Attach, ForwarderAttachesPinsAndIsTakenOver) {
  VANE_WORLD_OR_SKIP(w);
  (void)w;
  Netns ns;
  ASSERT_TRUE(ns.ok());
  ASSERT_EQ(ns.ip("link add vf0 type veth peer name vf1"), 0);
  ASSERT_EQ(ns.ip("link set vf0 up"), 0);
  ASSERT_EQ(ns.ip("link set vf1 up"), 0);
  ASSERT_TRUE(ns.enter());
  int ifindex = int(if_nametoindex("vf0"));
  std::string pin = "/sys/fs/bpf/vane-test-" + std::to_string(getpid());

  xdp::Options o;
  o.config = world_config();
  o.interface = "vf0";
  o.pin_dir = pin;
  o.keep_on_exit = true;
  uint32_t first_id = 0;
  {
    auto a = xdp::Loader::open(o);
    ASSERT_TRUE(a) << a.error();
    EXPECT_FALSE((*a)->reused_pinned_maps());
    ASSERT_TRUE((*a)->set_table(3, xdp::Table(5, {1u, 2u})));
    auto r = (*a)->attach();
    ASSERT_TRUE(r) << r.error();
    first_id = attached_id(ifindex);
    EXPECT_NE(first_id, 0u);
  }  // keep_on_exit: still attached, maps still pinned
  EXPECT_EQ(attached_id(ifindex), first_id);
  {
    o.keep_on_exit = false;
    auto b = xdp::Loader::open(o);
    ASSERT_TRUE(b) << b.error();
    EXPECT_TRUE((*b)->reused_pinned_maps());
    auto t = (*b)->read_table(3);
    ASSERT_TRUE(t) << t.error();
    EXPECT_EQ(*t, xdp::Table(5, {1u, 2u})) << "tables survive a restart";
    auto r = (*b)->attach();  // replaces the old program in one step
    ASSERT_TRUE(r) << r.error();
    uint32_t second_id = attached_id(ifindex);
    EXPECT_NE(second_id, 0u);
    EXPECT_NE(second_id, first_id);
  }  // clean shutdown: detached and unpinned
  EXPECT_EQ(attached_id(ifindex), 0u);
  EXPECT_NE(access(pin.c_str(), F_OK), 0) << "pin dir removed";
  ns.leave();
}

}  // namespace
}  // namespace vane::test
