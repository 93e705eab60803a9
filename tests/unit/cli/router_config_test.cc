#include "cli/router_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli.h"

namespace vane::cli {
namespace {

// A server of the e2e/lab shape: s<i> at 192.0.2.1<i>, AS 6501<i>, peering with tor1 (AS 65000).
std::string server(int i, const std::string& neighbors, const std::string& extra = "") {
  return fmt::format(R"(
node {{ name: "s{0}" router_id: "192.0.2.1{0}" asn: 6501{0} address: "192.0.2.1{0}" address6: "2001:db8::1{0}" interface: "eth0" }}
{1}
service {{
  name: "web"
  vip {{ address: "203.0.113.10" port: 80 protocol: TCP }}
  vip {{ address: "2001:db8:10::10" port: 80 protocol: TCP }}
  announce {{ prefix: "203.0.113.10/32" }}
  announce {{ prefix: "2001:db8:10::/48" }}
}}
{2}
site {{ server {{ name: "s1" address: "192.0.2.11" }} server {{ name: "s2" address: "192.0.2.12" }} }}
)",
                     i, neighbors, extra);
}

const char* kTor =
    R"(neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 md5_key_file: "tor1.key" })";
const char* kTorGr =
    R"(neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 graceful_restart { restart_time_s: 30 } })";
const char* kTorV6 = R"(neighbor { name: "tor1v6" address: "2001:db8::1" remote_asn: 65000 })";

config::Loaded load(const std::string& text, const std::string& name) {
  auto l = config::load_string(text, "/nonexistent/" + name, config::LoadOptions{.read_secrets = false});
  if (!l) {
    std::string all;
    for (auto& d : l.error()) all += d.str() + "\n";
    ADD_FAILURE() << all;
    return {};
  }
  return *l;
}

std::string gen(RouterKind k, const std::vector<config::Loaded>& s, RouterConfigOptions o = {}) {
  o.kind = k;
  auto r = router_config(s, o);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  return r ? *r : "";
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(RouterConfig, BirdTwoServers) {
  auto t = gen(RouterKind::bird, {load(server(1, kTor), "s1.conf"), load(server(2, kTorGr), "s2.conf")});
  EXPECT_TRUE(has(t, "protocol bgp vane_s1_tor1 {\n")) << t;
  EXPECT_TRUE(has(t, "protocol bgp vane_s2_tor1 {\n")) << t;
  EXPECT_TRUE(has(t, "  local 192.0.2.1 as 65000;\n  neighbor 192.0.2.11 as 65011;\n")) << t;
  EXPECT_TRUE(has(t, "  neighbor 192.0.2.12 as 65012;\n")) << t;
  // Only the key's place: s2 has no key file, s1 one.
  EXPECT_TRUE(has(t, "  password \"@MD5:s1:tor1@\";")) << t;
  EXPECT_EQ(t.find("password", t.find("protocol bgp vane_s2_tor1")), std::string::npos) << t;
  EXPECT_TRUE(has(t, "  hold time 9; keepalive time 3;\n")) << t;
  // Graceful restart where the server offers it, and only there.
  auto s2 = t.substr(t.find("protocol bgp vane_s2_tor1"));
  EXPECT_TRUE(has(s2, "graceful restart on;")) << t;
  EXPECT_FALSE(has(t.substr(0, t.find("protocol bgp vane_s2_tor1")), "graceful restart on;")) << t;
  // Exact prefixes of the family the session carries; nothing exported; a limit.
  EXPECT_TRUE(has(t, "filter vane_s1_tor1_ipv4 {\n  if net ~ [ 203.0.113.10/32 ] then accept;\n  reject;\n}\n")) << t;
  EXPECT_FALSE(has(t, "2001:db8:10::/48")) << "IPv4-only sessions carry no IPv6 prefix:\n" << t;
  EXPECT_TRUE(has(t, "    import filter vane_s1_tor1_ipv4;\n    export none;\n    receive limit 11 action restart;\n"))
      << t;
  EXPECT_TRUE(has(t, "merge paths on limit 2;")) << t;
  EXPECT_TRUE(has(t, "#   s1: /nonexistent/s1.conf\n")) << t;
}

TEST(RouterConfig, BirdIpv6SessionAndMaxPrefix) {
  RouterConfigOptions o;
  o.max_prefix = 3;
  auto t = gen(RouterKind::bird, {load(server(1, kTorV6), "s1.conf")}, o);
  EXPECT_TRUE(has(t, "  local 2001:db8::1 as 65000;\n  neighbor 2001:db8::11 as 65011;\n")) << t;
  EXPECT_TRUE(has(t, "if net ~ [ 2001:db8:10::/48 ] then accept;")) << t;
  EXPECT_TRUE(has(
      t, "  ipv6 {\n    import filter vane_s1_tor1v6_ipv6;\n    export none;\n    receive limit 3 action restart;\n"))
      << t;
  EXPECT_FALSE(has(t, "ipv4 {")) << t;
}

TEST(RouterConfig, FrrUnnumberedNeighborIsAnInterfaceNeighbor) {
  auto s1 =
      load(server(1, R"(neighbor { name: "tor1" interface: "eth0" remote_asn: 65000 hold_time_s: 9 })"), "s1.conf");
  auto t = gen(RouterKind::frr, {s1});
  EXPECT_TRUE(has(
      t, " neighbor @PORT:s1:tor1@ interface remote-as 65011\n neighbor @PORT:s1:tor1@ capability extended-nexthop\n"))
      << t;
  EXPECT_FALSE(has(t, "update-source")) << t;
  EXPECT_TRUE(has(t, " address-family ipv4 unicast\n  neighbor @PORT:s1:tor1@ activate\n")) << t;
  EXPECT_TRUE(has(t, " address-family ipv6 unicast\n  neighbor @PORT:s1:tor1@ activate\n")) << t;
  RouterConfigOptions o;
  o.kind = RouterKind::bird;
  auto r = router_config({s1}, o);
  ASSERT_FALSE(r);
  EXPECT_TRUE(has(r.error(), "only --for frr")) << r.error();
}

// Two unnumbered neighbours of one server: each its own port placeholder and names; the router
// takes the server's TTL security and waits for the server's call (vaned has no listener on a
// link-local address).
TEST(RouterConfig, FrrUnnumberedNeighboursAreDistinctPassiveAndKeepTtlSecurity) {
  auto s = load(server(1, R"(neighbor { name: "a.b" address: "192.0.2.1" remote_asn: 65000 }
neighbor { name: "a" interface: "eth0" remote_asn: 65000 ttl_security: true }
neighbor { name: "a_b" interface: "eth1" remote_asn: 65000 })"),
                "s1.conf");
  auto t = gen(RouterKind::frr, {s});
  EXPECT_TRUE(has(t, " neighbor @PORT:s1:a@ interface remote-as 65011\n")) << t;
  EXPECT_TRUE(has(t, " neighbor @PORT:s1:a_b@ interface remote-as 65011\n")) << t;
  EXPECT_TRUE(has(t, " neighbor @PORT:s1:a@ ttl-security hops 1\n")) << t;
  EXPECT_FALSE(has(t, " neighbor @PORT:s1:a_b@ ttl-security")) << t;
  EXPECT_TRUE(has(t, " neighbor @PORT:s1:a@ passive\n")) << t;
  EXPECT_TRUE(has(t, " neighbor @PORT:s1:a_b@ passive\n")) << t;
  EXPECT_FALSE(has(t, " neighbor 192.0.2.11 passive")) << t;
  // "a_b" and "a.b" make the same safe name: the tags (prefix-list and route-map names) differ.
  EXPECT_TRUE(has(t, "route-map VANE-IN-s1_a_b-V4 permit 10\n")) << t;
  EXPECT_TRUE(has(t, "route-map VANE-IN-s1_a_b_2-V4 permit 10\n")) << t;
  EXPECT_TRUE(has(t, "! Replace each @PORT:SERVER:NEIGHBOR@ with the router's port")) << t;
}

TEST(RouterConfig, NeverPrintsTheKey) {
  auto dir = std::filesystem::temp_directory_path() / ("vane-rc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "tor1.key") << "very-secret-key\n"; }
  ::chmod((dir / "tor1.key").c_str(), 0600);
  // Even loaded with the key read, the output has only the placeholder.
  auto l = config::load_string(server(1, kTor), dir / "s1.conf");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->md5_keys.at("tor1"), "very-secret-key");
  for (auto k : {RouterKind::bird, RouterKind::frr, RouterKind::junos, RouterKind::eos}) {
    auto t = gen(k, {*l});
    EXPECT_FALSE(has(t, "very-secret")) << t;
    EXPECT_TRUE(has(t, "@MD5:s1:tor1@")) << t;
  }
  std::filesystem::remove_all(dir);
}

TEST(RouterConfig, Frr) {
  auto t = gen(RouterKind::frr,
               {load(server(1, std::string(kTor) + kTorV6), "s1.conf"), load(server(2, kTorGr), "s2.conf")});
  EXPECT_TRUE(has(t, "ip prefix-list VANE-s1_tor1-V4 seq 5 permit 203.0.113.10/32\n")) << t;
  EXPECT_TRUE(has(t, "ipv6 prefix-list VANE-s1_tor1v6-V6 seq 5 permit 2001:db8:10::/48\n")) << t;
  EXPECT_TRUE(has(t, "route-map VANE-IN-s1_tor1-V4 permit 10\n match ip address prefix-list VANE-s1_tor1-V4\n")) << t;
  EXPECT_TRUE(has(t, "route-map VANE-NONE deny 10\n")) << t;
  EXPECT_TRUE(has(t, "router bgp 65000\n bgp bestpath as-path multipath-relax\n")) << t;
  EXPECT_TRUE(has(t, " neighbor 192.0.2.11 remote-as 65011\n")) << t;
  EXPECT_TRUE(has(t, " neighbor 192.0.2.11 password @MD5:s1:tor1@\n")) << t;
  EXPECT_TRUE(has(t, " neighbor 192.0.2.11 timers 3 9\n")) << t;
  EXPECT_TRUE(has(t, " neighbor 2001:db8::11 remote-as 65011\n")) << t;
  EXPECT_TRUE(has(t, " neighbor 192.0.2.12 graceful-restart\n")) << t;
  EXPECT_FALSE(has(t, " neighbor 192.0.2.11 graceful-restart\n")) << t;
  EXPECT_TRUE(
      has(t,
          "  neighbor 192.0.2.11 route-map VANE-IN-s1_tor1-V4 in\n  neighbor 192.0.2.11 route-map VANE-NONE out\n"
          "  neighbor 192.0.2.11 maximum-prefix 11 restart 1 force\n"))
      << t;
  // The IPv6-transport session carries IPv6 only: not activated for IPv4.
  EXPECT_TRUE(has(t, "  no neighbor 2001:db8::11 activate\n")) << t;
  EXPECT_TRUE(has(t, "  neighbor 2001:db8::11 route-map VANE-IN-s1_tor1v6-V6 in\n")) << t;
  EXPECT_TRUE(has(t, "  maximum-paths 2\n")) << t;
  EXPECT_FALSE(has(t, "maximum-paths ibgp")) << t;
}

TEST(RouterConfig, JunosAndEos) {
  auto servers = std::vector{load(server(1, kTor), "s1.conf"), load(server(2, kTorGr), "s2.conf")};
  auto j = gen(RouterKind::junos, servers);
  EXPECT_TRUE(has(j, "    prefix-list vane-s1_tor1-v4 {\n        203.0.113.10/32;\n    }\n")) << j;
  EXPECT_TRUE(has(j, "prefix-list-filter vane-s1_tor1-v4 exact;")) << j;
  EXPECT_TRUE(
      has(j, "            type external;\n            multipath multiple-as;\n            export vane-export-none;\n"))
      << j;
  EXPECT_TRUE(has(j, "            neighbor 192.0.2.11 {\n")) << j;
  EXPECT_TRUE(has(j, "                peer-as 65011;\n")) << j;
  EXPECT_TRUE(has(j, "                authentication-key \"@MD5:s1:tor1@\";")) << j;
  EXPECT_TRUE(has(j, "maximum 11;")) << j;
  EXPECT_TRUE(has(j, "                import vane-import-s1_tor1;\n")) << j;
  auto e = gen(RouterKind::eos, servers);
  EXPECT_TRUE(has(e, "ip prefix-list VANE-s1_tor1-V4\n   seq 10 permit 203.0.113.10/32\n")) << e;
  EXPECT_TRUE(has(e, "   maximum-paths 2 ecmp 2\n   bgp bestpath as-path multipath-relax\n")) << e;
  EXPECT_TRUE(has(e, "   neighbor 192.0.2.11 password 0 @MD5:s1:tor1@\n")) << e;
  EXPECT_TRUE(has(e, "   neighbor 192.0.2.12 graceful-restart\n")) << e;
  EXPECT_TRUE(has(e, "   neighbor 192.0.2.11 maximum-routes 11\n")) << e;
  EXPECT_TRUE(has(
      e,
      "      neighbor 192.0.2.11 route-map VANE-IN-s1_tor1-V4 in\n      neighbor 192.0.2.11 route-map VANE-NONE out\n"))
      << e;
}

TEST(RouterConfig, ChoosesOneRouter) {
  const std::string two = std::string(kTor) + R"(neighbor { name: "tor2" address: "192.0.2.2" remote_asn: 65001 })";
  auto servers = std::vector{load(server(1, two), "s1.conf")};
  auto r = router_config(servers, {});
  ASSERT_FALSE(r);
  EXPECT_TRUE(has(r.error(), "more than one router AS (65000, 65001)")) << r.error();
  RouterConfigOptions o;
  o.routers = {"tor2"};
  auto t = gen(RouterKind::bird, servers, o);
  EXPECT_TRUE(has(t, "local 192.0.2.2 as 65001;")) << t;
  EXPECT_FALSE(has(t, "192.0.2.1 as")) << t;
  o.routers = {"192.0.2.1"};
  t = gen(RouterKind::bird, servers, o);
  EXPECT_TRUE(has(t, "local 192.0.2.1 as 65000;")) << t;
  o.routers = {"tor9"};
  r = router_config(servers, o);
  ASSERT_FALSE(r);
  EXPECT_TRUE(has(r.error(), "matches --router")) << r.error();
}

TEST(RouterConfig, RefusesAServerTwice) {
  auto r = router_config({load(server(1, kTor), "a.conf"), load(server(1, kTor), "b.conf")}, {});
  ASSERT_FALSE(r);
  EXPECT_TRUE(has(r.error(), "server s1 is given twice")) << r.error();
  EXPECT_FALSE(router_config({}, {}));
}

TEST(RouterConfig, IbgpServers) {
  const char* ibgp = R"(neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65011 })";
  auto servers = std::vector{load(server(1, ibgp), "s1.conf")};
  auto f = gen(RouterKind::frr, servers);
  EXPECT_TRUE(has(f, "  maximum-paths ibgp 2\n")) << f;
  EXPECT_FALSE(has(f, "bgp bestpath as-path multipath-relax")) << f;
  auto j = gen(RouterKind::junos, servers);
  EXPECT_TRUE(has(j, "group vane-ibgp {\n            type internal;\n            multipath;\n")) << j;
  EXPECT_FALSE(has(j, "peer-as")) << j;
}

// Through vanectl: files, no daemon; an invalid file is reported with its place.
TEST(RouterConfig, Vanectl) {
  auto dir = std::filesystem::temp_directory_path() / ("vane-rc-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "s1.conf") << server(1, kTor);  // its key file does not exist: not needed
  std::ofstream(dir / "s2.conf") << server(2, kTorGr);
  std::ofstream(dir / "bad.conf") << "node { bogus: 1 }\n";
  auto run_cli = [](std::vector<std::string> args, std::string& out, std::string& err) {
    args.insert(args.begin(), "vanectl");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    std::ostringstream o, e;
    bool called = false;
    int rc = run(static_cast<int>(argv.size()), argv.data(), o, e, [&](auto&, auto&) -> CallResult {
      called = true;
      return control::Response{};
    });
    EXPECT_FALSE(called);
    out = o.str();
    err = e.str();
    return rc;
  };
  std::string out, err;
  EXPECT_EQ(run_cli({"router-config", "--for", "frr", "--config", dir / "s1.conf", dir / "s2.conf"}, out, err), kExitOk)
      << err;
  EXPECT_TRUE(has(out, " neighbor 192.0.2.11 remote-as 65011\n")) << out;
  EXPECT_TRUE(has(out, " neighbor 192.0.2.12 remote-as 65012\n")) << out;
  EXPECT_EQ(run_cli({"router-config", "--for", "bird", "-c", dir / "s1.conf", "-c", dir / "s2.conf"}, out, err),
            kExitOk);
  EXPECT_TRUE(has(out, "protocol bgp vane_s2_tor1")) << out;
  EXPECT_EQ(run_cli({"router-config", "--for", "bird", "-c", dir / "bad.conf"}, out, err), kExitDaemonError);
  EXPECT_TRUE(has(err, "bad.conf:1:")) << err;
  EXPECT_EQ(run_cli({"router-config", "--for", "cisco", "-c", dir / "s1.conf"}, out, err), kExitUsage);
  EXPECT_EQ(run_cli({"router-config", "-c", dir / "s1.conf"}, out, err), kExitUsage);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vane::cli
