// Attaching for real: xdp_pass and the forwarder natively on a veth in a namespace of the test's
// own; map pinning and takeover by a second loader.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <net/if.h>
#include <cstring>

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

// A vaned restarting over the maps of a version with fewer counter reasons (another value size
// of vane_stats) and no site address map: it starts, replaces only the counters (their counts
// are lost), keeps the tables, and creates the site map. Any other mismatch still fails.
TEST(Attach, TakeoverReplacesCountersOfAnOlderLayoutOnly) {
  VANE_WORLD_OR_SKIP(w);
  (void)w;
  std::string pin = "/sys/fs/bpf/vane-test-old-" + std::to_string(getpid());
  xdp::Options o;
  o.config = world_config();
  o.pin_dir = pin;
  o.keep_on_exit = true;
  {
    auto a = xdp::Loader::open(o);
    ASSERT_TRUE(a) << a.error();
    ASSERT_TRUE((*a)->set_table(3, xdp::Table(5, {1u, 2u})));
  }
  // What the previous version left: 14 reasons, and no vane_site_addrs.
  const std::string stats = pin + "/vane_stats", site = pin + "/vane_site_addrs";
  ASSERT_EQ(unlink(stats.c_str()), 0);
  ASSERT_EQ(unlink(site.c_str()), 0);
  ASSERT_EQ(unlink((pin + "/vane_site_index").c_str()), 0);
  ASSERT_EQ(unlink((pin + "/vane_site_index_ctl").c_str()), 0);
  int old = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "vane_stats", 4, 16 * 14, VANE_STATS_SLOTS, nullptr);
  ASSERT_GE(old, 0);
  ASSERT_EQ(bpf_obj_pin(old, stats.c_str()), 0);
  close(old);
  {
    auto b = xdp::Loader::open(o);
    ASSERT_TRUE(b) << b.error();
    EXPECT_TRUE((*b)->reused_pinned_maps());
    EXPECT_EQ((*b)->replaced_pinned_maps(), std::vector<std::string>{"vane_stats"});
    auto t = (*b)->read_table(3);
    ASSERT_TRUE(t) << t.error();
    EXPECT_EQ(*t, xdp::Table(5, {1u, 2u})) << "tables survive the upgrade";
    EXPECT_TRUE((*b)->counters(VANE_STATS_GLOBAL)) << "the new counters map is readable";
    EXPECT_EQ(access(site.c_str(), F_OK), 0) << "the site map is pinned now";
    std::vector<xdp::Server> servers = {{0, addr("192.0.2.1"), std::nullopt, false},
                                        {1, std::nullopt, addr("2001:db8::2"), false}};
    ASSERT_TRUE((*b)->set_servers(servers));
    vane_site_key k{};
    k.family = VANE_AF_INET6;
    std::memcpy(k.addr, addr("2001:db8::2").bytes.data(), 16);
    __u32 idx = 99;
    EXPECT_EQ(bpf_map_lookup_elem((*b)->map_fd("vane_site_addrs"), &k, &idx), 0);
    EXPECT_EQ(idx, 1u);
  }
  // A mismatch in a map that holds the data path's state is not papered over.
  const std::string vips = pin + "/vane_vips";
  ASSERT_EQ(unlink(vips.c_str()), 0);
  old = bpf_map_create(BPF_MAP_TYPE_HASH, "vane_vips", 20, 8, VANE_MAX_VIPS, nullptr);
  ASSERT_GE(old, 0);
  ASSERT_EQ(bpf_obj_pin(old, vips.c_str()), 0);
  close(old);
  {
    auto c = xdp::Loader::open(o);
    EXPECT_FALSE(c);
    if (!c) {
      EXPECT_NE(c.error().find("incompatible"), std::string::npos) << c.error();
    }
  }
  for (const char* m :
       {"vane_vips", "vane_servers", "vane_table_ctl", "vane_buckets", "vane_stats", "vane_vip_filter",
        "vane_vip_index", "vane_vip_index_ctl", "vane_site_addrs", "vane_site_index", "vane_site_index_ctl"})
    unlink((pin + "/" + m).c_str());
  rmdir(pin.c_str());
}

// A start that fails (here: a state map of another layout) leaves the pinned maps as it found
// them, the old counters included: the data path that keeps running keeps its readable counts,
// and the next vaned finds the same folder.
TEST(Attach, FailedTakeoverKeepsTheOldCountersPinned) {
  VANE_WORLD_OR_SKIP(w);
  (void)w;
  std::string pin = "/sys/fs/bpf/vane-test-fail-" + std::to_string(getpid());
  xdp::Options o;
  o.config = world_config();
  o.pin_dir = pin;
  o.keep_on_exit = true;
  {
    auto a = xdp::Loader::open(o);
    ASSERT_TRUE(a) << a.error();
  }
  auto map_id = [](const std::string& path) -> __u32 {
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return 0;
    bpf_map_info info{};
    __u32 len = sizeof(info);
    __u32 id = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
    close(fd);
    return id;
  };
  const std::string stats = pin + "/vane_stats", vips = pin + "/vane_vips";
  ASSERT_EQ(unlink(stats.c_str()), 0);
  int old = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "vane_stats", 4, 16 * 14, VANE_STATS_SLOTS, nullptr);
  ASSERT_GE(old, 0);
  ASSERT_EQ(bpf_obj_pin(old, stats.c_str()), 0);
  close(old);
  ASSERT_EQ(unlink(vips.c_str()), 0);
  old = bpf_map_create(BPF_MAP_TYPE_HASH, "vane_vips", 20, 8, VANE_MAX_VIPS, nullptr);
  ASSERT_GE(old, 0);
  ASSERT_EQ(bpf_obj_pin(old, vips.c_str()), 0);
  close(old);
  const __u32 stats_id = map_id(stats);
  ASSERT_NE(stats_id, 0u);
  {
    auto b = xdp::Loader::open(o);
    EXPECT_FALSE(b);
  }
  EXPECT_EQ(map_id(stats), stats_id) << "the old counters are still pinned where they were";
  {
    // and once the state map is fixed, the counters are replaced as usual
    ASSERT_EQ(unlink(vips.c_str()), 0);
    auto c = xdp::Loader::open(o);
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ((*c)->replaced_pinned_maps(), std::vector<std::string>{"vane_stats"});
    EXPECT_NE(map_id(stats), stats_id);
    EXPECT_NE(map_id(stats), 0u);
  }
  DIR* d = opendir(pin.c_str());
  ASSERT_TRUE(d);
  std::vector<std::string> left;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') left.emplace_back(e->d_name);
  closedir(d);
  EXPECT_EQ(left.size(), 11u) << "the maps, nothing else";
  for (auto& m : left) unlink((pin + "/" + m).c_str());
  rmdir(pin.c_str());
}

}  // namespace
}  // namespace vane::test
