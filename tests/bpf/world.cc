#include "world.h"

#include <net/if.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "vane_abi.h"

namespace vane::test {

xdp::Config world_config() {
  xdp::Config c;
  c.self_index = 0;
  c.self_v4 = addr("192.0.2.1");
  c.self_v6 = addr("2001:db8::1");
  c.gue_port = kGuePort;
  c.hash_seed = kSeed;
  c.mtu = kMtu;
  c.table_slots = 12;
  c.max_buckets = 257;
  return c;
}

namespace {

std::string build(World& w) {
  const std::string n = w.ns.name();
  if (!w.ns.ok()) return "cannot create network namespace";
  const char* cmds[] = {
      "link add veth0 address 02:00:00:00:00:01 type veth peer name veth1 address 02:00:00:00:00:fe",
      "link add veth2 address 02:00:00:00:00:21 type veth peer name veth3 address 02:00:00:00:00:fd",
      "link set veth0 up",
      "link set veth1 up",
      "link set veth2 up",
      "link set veth3 up",
      "addr add 192.0.2.1/24 dev veth0",
      "addr add 2001:db8::1/64 dev veth0 nodad",
      "addr add 192.0.2.129/25 dev veth2",
      "neigh add 192.0.2.2 lladdr 02:00:00:00:00:02 nud permanent dev veth0",
      "neigh add 192.0.2.3 lladdr 02:00:00:00:00:03 nud permanent dev veth0",
      "neigh add 192.0.2.5 lladdr 02:00:00:00:00:05 nud permanent dev veth0",
      "neigh add 192.0.2.130 lladdr 02:00:00:00:00:82 nud permanent dev veth2",
      "neigh add 2001:db8::2 lladdr 02:00:00:00:00:02 nud permanent dev veth0",
      "neigh add 2001:db8::3 lladdr 02:00:00:00:00:03 nud permanent dev veth0",
      "neigh add 2001:db8::4 lladdr 02:00:00:00:00:04 nud permanent dev veth0",
      "addr add 203.0.113.10/32 dev lo",
      "addr add 203.0.113.11/32 dev lo",
      "addr add 198.51.100.7/32 dev lo",
      "addr add 2001:db8:100::10/128 dev lo nodad",
      "addr add 2001:db8:100::11/128 dev lo nodad",
      "addr add 2001:db8:200::7/128 dev lo nodad",
  };
  // One `ip -batch` for all of it: every ip process costs a netlink round of its own.
  std::string batch = "/tmp/" + n + ".ip";
  {
    std::ofstream f(batch);
    for (const char* c : cmds) f << c << "\n";
  }
  int rc = w.ns.ip("-batch " + batch + " >/dev/null");
  std::remove(batch.c_str());
  if (rc != 0) return "ip -batch of the test namespace failed";
  if (!w.ns.enter()) return "cannot enter the namespace";
  // /proc/sys/net is the namespace of the thread that opens it: this one, now.
  for (const char* knob : {"/proc/sys/net/ipv4/conf/all/forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"}) {
    std::ofstream f(knob);
    f << "1\n";
    if (!f) return std::string("cannot write ") + knob;
  }
  w.veth0 = int(if_nametoindex("veth0"));
  w.veth2 = int(if_nametoindex("veth2"));

  std::vector<xdp::Server> servers = {
      {0, addr("192.0.2.1"), addr("2001:db8::1"), false}, {1, addr("192.0.2.2"), addr("2001:db8::2"), false},
      {2, addr("192.0.2.3"), addr("2001:db8::3"), false}, {3, std::nullopt, addr("2001:db8::4"), false},
      {4, addr("192.0.2.5"), std::nullopt, true},         {5, addr("192.0.2.6"), std::nullopt, false},
      {6, addr("192.0.2.130"), std::nullopt, false},
  };
  std::vector<xdp::Vip> vips = {
      {addr("203.0.113.10"), 80, kTcp, kT12, 0},
      {addr("203.0.113.10"), 53, kUdp, kT12, 0},
      {addr("2001:db8:100::10"), 443, kTcp, kT12, 0},
      {addr("203.0.113.11"), 0, kTcp, kTLocal, 0},
      {addr("203.0.113.13"), 80, kTcp, kTEmpty, 0},
      {addr("203.0.113.14"), 80, kTcp, kTV6Only, 0},
      {addr("203.0.113.15"), 80, kTcp, kTDrain, 0},
      {addr("203.0.113.16"), 80, kTcp, kT12, VANE_VIP_F_SINGLE_HOP},
      {addr("203.0.113.17"), 80, kTcp, kTNoNeigh, 0},
      {addr("203.0.113.18"), 80, kTcp, kTOther, 0},
      {addr("203.0.113.19"), 80, kTcp, kT12, VANE_VIP_F_DISABLED},
      {addr("2001:db8:100::10"), 53, kUdp, kT12, 0},
      // first hop this server (slots 12-16)
      {addr("2001:db8:100::11"), 0, kTcp, kTLocal, 0},
      {addr("203.0.113.12"), 80, kTcp, kTLocal6, 0},
      {addr("203.0.113.20"), 80, kTcp, kTLocal, VANE_VIP_F_SINGLE_HOP},
      {addr("203.0.113.21"), 80, kTcp, kTSelfOnly, 0},
      {addr("203.0.113.11"), 0, kUdp, kTLocal, 0},
      {addr("203.0.113.22"), 80, kTcp, kTLocalSteady, 0},                // slot 17
      {addr("203.0.113.23"), 80, kTcp, kT12, VANE_VIP_F_HASH_NO_PORTS},  // slot 18
  };
  auto fill = [](uint32_t a, uint32_t b) { return xdp::Table(13, {a, b}); };
  for (auto program : {xdp::Program::forwarder, xdp::Program::redirector}) {
    xdp::Options o;
    o.config = world_config();
    o.program = program;
    auto l = xdp::Loader::open(o);
    if (!l) return "load: " + l.error();
    if (auto r = (*l)->set_servers(servers); !r) return r.error();
    if (auto r = (*l)->set_vips(vips); !r) return r.error();
    // kTLocal and kTLocal6 moved here from their second hop (which may own connections);
    // kTLocalSteady did not.
    for (auto [t, a, b] : {std::tuple{kT12, 1u, 2u},
                           {kTLocal, 0u, 1u | VANE_BUCKET_F_MOVED},
                           {kTV6Only, 3u, 1u},
                           {kTDrain, 4u, 2u},
                           {kTNoNeigh, 5u, 2u},
                           {kTOther, 6u, 2u},
                           {kTLocal6, 0u, 3u | VANE_BUCKET_F_MOVED},
                           {kTSelfOnly, 0u, VANE_SERVER_NONE},
                           {kTLocalSteady, 0u, 1u}})
      if (auto r = (*l)->set_table(t, fill(a, b)); !r) return r.error();
    (program == xdp::Program::forwarder ? w.fwd : w.rdr) = std::move(*l);
  }
  return "";
}

}  // namespace

World* world(std::string* skip) {
  static std::string why = bpf_unavailable_reason();
  if (!why.empty()) {
    *skip = why;
    return nullptr;
  }
  // Destroyed at exit: loaders first, then the namespace is left and deleted.
  static std::unique_ptr<World> w = [] {
    auto nw = std::make_unique<World>();
    nw->error = private_bpffs();
    if (nw->error.empty()) nw->error = build(*nw);
    return nw;
  }();
  return w.get();
}

}  // namespace vane::test
