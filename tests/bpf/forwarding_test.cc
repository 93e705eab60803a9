// The daemon's forwarding as a transaction, on a real veth with the programs attached natively:
// a reload keeps every server's slot (this node's included) when a server sorts in before it, a
// changed node address swaps in new programs in one replace, the dry run's numbers are the ones
// the tables then show, and a failure injected at each step of an apply leaves the attached
// program, the maps and the tables exactly as they were, after which the same apply succeeds.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "common.h"
#include "config/config.h"
#include "daemon/forwarding.h"

namespace vane::test {
namespace {

using daemon::Forwarding;

struct Site {
  std::string node = "n";
  std::string address = "192.0.2.60";
  std::vector<std::tuple<std::string, std::string, uint32_t>> servers = {
      {"m", "192.0.2.61", 100}, {"n", "192.0.2.60", 100}, {"p", "192.0.2.62", 100}};
  std::string services_before;  // config text placed before web and dns
};

std::string pin_dir() {
  return "/sys/fs/bpf/vane-fwd-" + std::to_string(getpid());
}

config::Loaded load(const Site& s) {
  std::string text = "node { name: \"" + s.node + "\" router_id: \"192.0.2.60\" asn: 65001 address: \"" + s.address +
                     "\" interface: \"vd0\" }\n" + s.services_before +
                     "service { name: \"web\" vip { address: \"203.0.113.50\" port: 80 protocol: TCP } }\n"
                     "service { name: \"dns\" vip { address: \"203.0.113.51\" port: 53 protocol: UDP } }\n"
                     "site {\n";
  for (auto& [name, addr, w] : s.servers)
    text += "  server { name: \"" + name + "\" address: \"" + addr + "\" weight: " + std::to_string(w) + " }\n";
  text += "}\nforwarding { enabled: true pin_path: \"" + pin_dir() + "\" }\ncontrol { socket: \"/tmp/vane-fwd-" +
          std::to_string(getpid()) + ".sock\" }\n";
  auto l = config::load_string(text, "/tmp/forwarding_test.conf");
  if (!l) {
    std::string e;
    for (auto& d : l.error()) e += d.str() + "\n";
    ADD_FAILURE() << e << text;
    return {};
  }
  return std::move(*l);
}

uint32_t attached_id(const char* dev) {
  uint32_t id = 0;
  if (bpf_xdp_query_id(int(if_nametoindex(dev)), XDP_FLAGS_DRV_MODE, &id) != 0) return 0;
  return id;
}

// Every entry of a map, as bytes (the bucket map is read table by table instead, the counters
// are not state).
std::string dump(int fd) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return "?";
  std::vector<uint8_t> key(info.key_size), next(info.key_size), val(info.value_size);
  std::string out;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    key = next;
    prev = key.data();
    if (bpf_map_lookup_elem(fd, key.data(), val.data()) != 0) continue;
    out.append(reinterpret_cast<char*>(key.data()), key.size());
    out.append(reinterpret_cast<char*>(val.data()), val.size());
  }
  return out;
}

struct State {
  uint32_t prog_id = 0;
  std::map<std::string, std::string> maps;
  std::map<uint32_t, xdp::Table> tables;  // active halves
  bool operator==(const State&) const = default;
};

// The half of a double-buffered index packets read. Which half that is, and the control word's
// generation, are not state: rewriting the same set flips them.
template <class Slot>
std::string active_half(const Forwarding& fw, const char* index, const char* ctl, uint32_t slots) {
  const __u32 zero = 0;
  vane_vip_index_ctl c{};
  if (bpf_map_lookup_elem(fw.loader().map_fd(ctl), &zero, &c) != 0) return "?";
  std::string out;
  for (__u32 i = (c.active & 1) * slots, end = i + slots; i < end; ++i) {
    Slot v{};
    if (bpf_map_lookup_elem(fw.loader().map_fd(index), &i, &v) != 0) return "?";
    out.append(reinterpret_cast<char*>(&v), sizeof v);
  }
  return out;
}

State state(const Forwarding& fw) {
  State s;
  s.prog_id = attached_id("vd0");
  for (const char* m : {"vane_vips", "vane_servers", "vane_table_ctl", "vane_vip_filter", "vane_site_addrs"})
    s.maps[m] = dump(fw.loader().map_fd(m));
  s.maps["vane_vip_index"] =
      active_half<vane_vip_slot>(fw, "vane_vip_index", "vane_vip_index_ctl", VANE_VIP_INDEX_SLOTS);
  s.maps["vane_site_index"] =
      active_half<vane_site_slot>(fw, "vane_site_index", "vane_site_index_ctl", VANE_SITE_INDEX_SLOTS);
  for (uint32_t id = 0; id < 2; ++id)
    if (auto t = fw.loader().read_table(id)) s.tables[id] = *t;
  return s;
}

// A table read back from the map, by server name (through the forwarding's slots).
std::vector<std::string> by_name(const Forwarding& fw, uint32_t id) {
  std::map<uint32_t, std::string> name;
  for (auto& [n, slot] : fw.slots()) name[slot] = n;
  std::vector<std::string> out;
  auto t = fw.loader().read_table(id);
  if (!t) return out;
  for (auto& [a, b] : *t) out.push_back(name.count(a) ? name[a] : "?" + std::to_string(a));
  return out;
}

struct Fixture {
  Netns ns;
  std::unique_ptr<Forwarding> fw;
  std::string error;
  Fixture(const Site& s) {
    if (!ns.ok() || ns.ip("link add vd0 type veth peer name vd1") || ns.ip("link set vd0 up") ||
        ns.ip("link set vd1 up") || !ns.enter()) {
      error = "namespace";
      return;
    }
    auto f = Forwarding::start(load(s));
    if (!f)
      error = f.error();
    else
      fw = std::move(*f);
  }
  ~Fixture() {
    if (fw) fw->stop();
    fw.reset();
    xdp::Loader::clear_faults();
    ns.leave();
  }
};

// The change every transaction test applies: server "a" sorts in before this node "n", this
// node's address changes (new programs), and "m" is drained (both tables rebuilt).
Site changed() {
  Site s;
  s.address = "192.0.2.70";
  s.servers = {{"a", "192.0.2.63", 100}, {"m", "192.0.2.61", 0}, {"n", "192.0.2.70", 100}, {"p", "192.0.2.62", 100}};
  return s;
}

TEST(Forwarding, ServerInsertedBeforeThisNodeRenumbersNobody) {
  VANE_WORLD_OR_SKIP(w);
  (void)w;
  Fixture f(Site{});
  ASSERT_EQ(f.error, "");
  auto slots = f.fw->slots();
  EXPECT_EQ(slots, (std::map<std::string, uint32_t>{{"m", 0}, {"n", 1}, {"p", 2}}));
  const uint32_t prog = attached_id("vd0");
  Site s;
  s.servers.insert(s.servers.begin(), {"a", "192.0.2.63", 100});
  auto next = load(s);
  auto plan = f.fw->plan(next);
  ASSERT_TRUE(plan) << plan.error();
  EXPECT_FALSE(plan->programs_reload) << plan->programs_reason;
  EXPECT_FALSE(plan->identity_changed);
  auto before0 = by_name(*f.fw, 0);
  auto r = f.fw->apply(next);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(f.fw->slots(), (std::map<std::string, uint32_t>{{"a", 3}, {"m", 0}, {"n", 1}, {"p", 2}}));
  EXPECT_EQ(f.fw->loader().options().config.self_index, 1u);
  EXPECT_EQ(attached_id("vd0"), prog) << "nothing the programs hold changed: no reload";
  // The installed table, read back by name, is the dry run's prediction.
  auto after0 = by_name(*f.fw, 0);
  ASSERT_EQ(after0.size(), before0.size());
  std::map<std::string, int64_t> delta;
  uint32_t moved = 0;
  for (size_t b = 0; b < after0.size(); ++b) {
    ++delta[after0[b]];
    --delta[before0[b]];
    moved += after0[b] != before0[b];
  }
  std::erase_if(delta, [](auto& kv) { return kv.second == 0; });
  ASSERT_EQ(plan->tables.size(), 2u);
  EXPECT_EQ(plan->tables[0].service, "web");
  EXPECT_EQ(plan->tables[0].buckets_moved, moved);
  EXPECT_EQ(plan->tables[0].buckets_delta, delta);
  EXPECT_GT(delta["a"], 0);
}

TEST(Forwarding, ChangedAddressSwapsProgramsInOneReplace) {
  VANE_WORLD_OR_SKIP(w);
  (void)w;
  Fixture f(Site{});
  ASSERT_EQ(f.error, "");
  const uint32_t prog = attached_id("vd0");
  ASSERT_NE(prog, 0u);
  Site s;
  s.address = "192.0.2.70";
  std::get<1>(s.servers[1]) = "192.0.2.70";
  auto next = load(s);
  auto plan = f.fw->plan(next);
  ASSERT_TRUE(plan) << plan.error();
  EXPECT_TRUE(plan->programs_reload);
  EXPECT_TRUE(plan->identity_changed);
  EXPECT_NE(plan->programs_reason.find("addresses"), std::string::npos) << plan->programs_reason;
  auto tables = state(*f.fw).tables;
  auto r = f.fw->apply(next);
  ASSERT_TRUE(r) << r.error();
  const uint32_t now = attached_id("vd0");
  EXPECT_NE(now, 0u);
  EXPECT_NE(now, prog) << "new programs attached";
  EXPECT_EQ(f.fw->loader().options().config.self_v4, IpAddress::parse("192.0.2.70"));
  EXPECT_EQ(state(*f.fw).tables, tables) << "the same servers: the same tables";
  // The maps stay the pinned ones.
  struct stat st {};
  EXPECT_EQ(::stat((pin_dir() + "/vane_servers").c_str(), &st), 0);
}

// A service inserted before the others in the config takes a new table id; theirs stay, so their
// VIPs never read another service's table.
TEST(Forwarding, ServiceInsertedFirstKeepsTheOthersTableIds) {
  VANE_WORLD_OR_SKIP(w);
  (void)w;
  Fixture f(Site{});
  ASSERT_EQ(f.error, "");
  const auto tables = state(*f.fw).tables;
  Site s;
  s.services_before = "service { name: \"api\" vip { address: \"203.0.113.52\" port: 443 protocol: TCP } }\n";
  auto r = f.fw->apply(load(s));
  ASSERT_TRUE(r) << r.error();
  auto vips = f.fw->loader().installed_vips();
  ASSERT_TRUE(vips) << vips.error();
  std::map<std::string, uint32_t> ids;
  for (auto& v : *vips) ids[v.addr.str()] = v.table_id;
  EXPECT_EQ(ids, (std::map<std::string, uint32_t>{{"203.0.113.50", 0}, {"203.0.113.51", 1}, {"203.0.113.52", 2}}));
  auto after = state(*f.fw).tables;
  EXPECT_EQ(after.at(0), tables.at(0));
  EXPECT_EQ(after.at(1), tables.at(1));
  // Removed again: its table goes, the others stay.
  auto back = f.fw->apply(load(Site{}));
  ASSERT_TRUE(back) << back.error();
  auto gone = f.fw->loader().read_table(2);
  ASSERT_TRUE(gone) << gone.error();
  EXPECT_TRUE(gone->empty());
  EXPECT_EQ(state(*f.fw).tables, tables);
}

struct Step {
  const char* step;
  unsigned after;
};

class FailingApply : public ::testing::TestWithParam<Step> {};

TEST_P(FailingApply, LeavesEverythingAsItWas) {
  VANE_WORLD_OR_SKIP(w);
  (void)w;
  Fixture f(Site{});
  ASSERT_EQ(f.error, "");
  const State before = state(*f.fw);
  const auto slots = f.fw->slots();
  const uint64_t gen = f.fw->generation();
  ASSERT_NE(before.prog_id, 0u);
  auto next = load(changed());
  xdp::Loader::inject_fault(GetParam().step, GetParam().after);
  auto r = f.fw->apply(next);
  ASSERT_FALSE(r) << "the fault at " << GetParam().step << " was not reached";
  EXPECT_NE(r.error().find("injected fault at " + std::string(GetParam().step)), std::string::npos) << r.error();
  EXPECT_EQ(r.error().find("rollback"), std::string::npos) << "the rollback itself failed: " << r.error();
  const State after = state(*f.fw);
  EXPECT_EQ(after.prog_id, before.prog_id) << "the attached program changed";
  for (auto& [m, bytes] : before.maps) EXPECT_TRUE(after.maps.at(m) == bytes) << m << " changed";
  EXPECT_EQ(after.tables, before.tables) << "a table changed";
  EXPECT_EQ(f.fw->slots(), slots);
  EXPECT_EQ(f.fw->generation(), gen);
  // The same apply, retried, goes through.
  xdp::Loader::clear_faults();
  auto again = f.fw->apply(next);
  ASSERT_TRUE(again) << again.error();
  EXPECT_NE(attached_id("vd0"), before.prog_id);
  EXPECT_EQ(f.fw->slots(), (std::map<std::string, uint32_t>{{"a", 3}, {"m", 0}, {"n", 1}, {"p", 2}}));
  EXPECT_NE(state(*f.fw).tables, before.tables);
}

INSTANTIATE_TEST_SUITE_P(EachStep, FailingApply,
                         ::testing::Values(Step{"load", 0}, Step{"set_servers", 0}, Step{"stage_table", 0},
                                           Step{"stage_table", 1}, Step{"attach", 0}, Step{"commit_tables", 0},
                                           Step{"commit_tables", 1}, Step{"set_servers", 1}, Step{"set_vips", 0}),
                         [](const auto& info) {
                           return std::string(info.param.step) + "_" + std::to_string(info.param.after);
                         });

// Forwarding refuses to start on a pin path that is not on a bpffs, and says how to make one.
TEST(Forwarding, PinPathOffBpffsIsRefusedWithTheFix) {
  VANE_WORLD_OR_SKIP(w);
  (void)w;
  xdp::Options o;
  o.config = world_config();
  o.pin_dir = "/tmp/vane-not-bpffs-" + std::to_string(getpid()) + "/maps";
  auto l = xdp::Loader::open(o);
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().find("not on a bpffs"), std::string::npos) << l.error();
  EXPECT_NE(l.error().find("mount -t bpf bpf /sys/fs/bpf"), std::string::npos) << l.error();
  EXPECT_NE(access(("/tmp/vane-not-bpffs-" + std::to_string(getpid())).c_str(), F_OK), 0) << "nothing created";
}

}  // namespace
}  // namespace vane::test
