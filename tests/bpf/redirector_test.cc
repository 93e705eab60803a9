// Redirector fixtures: GUE packets to this server (192.0.2.1 / 2001:db8::1, port 6080), run
// through the combined program and the standalone redirector. Sockets for the "belongs to a
// local connection" cases are real ones, made in the test namespace.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>

#include "common.h"

namespace vane::test {
namespace {

const IpAddress Self4 = addr(kSelf4), S2 = addr("192.0.2.3"), Self6 = addr(kSelf6), S2v6 = addr("2001:db8::3");

// Inner packets to VIPs of the world (203.0.113.10 TCP 80 / UDP 53, 203.0.113.11 any port,
// 2001:db8:100::10 TCP 443): the redirector accepts nothing else.
Bytes inner_tcp4(uint8_t flags, uint16_t sport = 40000, uint16_t dport = 80, const char* dst = "203.0.113.10") {
  return ipv4({.src = kClient4, .dst = dst}, tcp(sport, dport, flags, 20));
}
Bytes inner_udp4(uint16_t sport, uint16_t dport, const char* dst = "203.0.113.10") {
  return ipv4({.src = kClient4, .dst = dst, .proto = kUdp}, udp(sport, dport, zeros(12)));
}
Bytes inner_tcp6(uint8_t flags, const char* dst = "2001:db8:100::10", uint16_t dport = 443) {
  return ipv6({.src = kClient6, .dst = dst, .proto = kTcp}, tcp(40001, dport, flags, 20));
}

// GUE from server 1 to us over IPv4, as vane's forwarder sends it.
Bytes gue4(const Bytes& inner, Gue g = {}, uint8_t ctype = 4) {
  if (g.hops.empty()) g.hops = {Self4, S2};
  g.ctype = ctype;
  return from_router(
      kEthIp, ipv4({.src = "192.0.2.2", .dst = kSelf4, .proto = kUdp, .id = 7}, udp(50001, kGuePort, gue(g, inner))));
}
// ... and what we send on to the next hop: same packet, new outer addresses, next_hop + 1.
Bytes fwd4(const Bytes& inner, Gue g, const IpAddress& to, const Mac& dmac, uint8_t ctype = 4) {
  if (g.hops.empty()) g.hops = {Self4, S2};
  g.ctype = ctype;
  g.next_hop += 1;
  return eth(dmac, kSelfMac, kEthIp,
             ipv4({.src = kSelf4, .dst = to.str(), .proto = kUdp, .id = 7}, udp(50001, kGuePort, gue(g, inner))));
}
Bytes gue6(const Bytes& inner, Gue g = {}, uint8_t ctype = 41, const char* from = "2001:db8::2") {
  if (g.hops.empty()) g.hops = {Self6, S2v6};
  g.ctype = ctype;
  g.glb_version = 1;
  return from_router(kEthIp6, ipv6({.src = from, .dst = kSelf6, .proto = kUdp}, udp(50001, kGuePort, gue(g, inner))));
}
// GUE from anyone (outer IPv4 source `from`), otherwise as vane's forwarder sends it.
Bytes gue4_from(const char* from, const Bytes& inner, Gue g = {}, uint8_t ctype = 4) {
  if (g.hops.empty()) g.hops = {Self4, S2};
  g.ctype = ctype;
  return from_router(kEthIp,
                     ipv4({.src = from, .dst = kSelf4, .proto = kUdp, .id = 7}, udp(50001, kGuePort, gue(g, inner))));
}
// An ICMPv6 "packet too big" from a router to `to`, quoting the VIP's reply from `quoted_src`.
Bytes icmp6_error(const char* to, const char* quoted_src) {
  Bytes quoted = ipv6({.src = quoted_src, .dst = kClient6, .proto = kTcp}, tcp(443, 40001, kAck, 100));
  return ipv6({.src = "2001:db8:200::1", .dst = to, .proto = kIcmp6}, icmp6(2, 0, 1280, quoted));
}
// An ICMP "fragmentation needed" from a router to `to`, quoting the VIP's reply from `quoted_src`.
Bytes icmp_error4(const char* to, const char* quoted_src) {
  Bytes quoted = ipv4({.src = quoted_src, .dst = kClient4}, tcp(80, 40000, kAck));
  quoted.resize(28);
  return ipv4({.src = "198.51.100.1", .dst = to, .proto = kIcmp}, icmp4(3, 4, 1400, quoted));
}
Bytes decap(const Bytes& inner, uint16_t ethertype = kEthIp) {
  return from_router(ethertype, inner);
}

const uint32_t G = VANE_STATS_GLOBAL;

struct Case {
  std::string name;
  std::function<Bytes()> input;
  int verdict;
  std::function<Bytes()> expect;  // empty: only verdict and counter
  unsigned reason;
};

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back({"inner_syn_decapsulated_here", [] { return gue4(inner_tcp4(kSyn)); }, XDP_PASS,
               [] { return decap(inner_tcp4(kSyn)); }, VANE_R_DECAP_SYN});
  v.push_back({"ack_without_local_socket_goes_to_second_hop", [] { return gue4(inner_tcp4(kAck)); }, XDP_TX,
               [] { return fwd4(inner_tcp4(kAck), {}, S2, server_mac(3)); }, VANE_R_REDIRECTED});
  v.push_back({"last_hop_decapsulates_anything", [] { return gue4(inner_tcp4(kAck), {.next_hop = 2}); }, XDP_PASS,
               [] { return decap(inner_tcp4(kAck)); }, VANE_R_DECAP_LAST_HOP});
  v.push_back({"single_hop_list_is_last_hop", [] { return gue4(inner_tcp4(kAck), {.hops = {Self4}}); }, XDP_PASS,
               [] { return decap(inner_tcp4(kAck)); }, VANE_R_DECAP_LAST_HOP});
  v.push_back({"forward_syn_sends_syn_on", [] { return gue4(inner_tcp4(kSyn), {.glb_flags = VANE_GLB_F_FORWARD_SYN}); },
               XDP_TX, [] { return fwd4(inner_tcp4(kSyn), {.glb_flags = VANE_GLB_F_FORWARD_SYN}, S2, server_mac(3)); },
               VANE_R_REDIRECTED});
  v.push_back({"glb_director_style_list_without_self",
               [] { return gue4(inner_tcp4(kAck), {.next_hop = 0, .hops = {S2}}); }, XDP_TX,
               [] { return fwd4(inner_tcp4(kAck), {.next_hop = 0, .hops = {S2}}, S2, server_mac(3)); },
               VANE_R_REDIRECTED});
  v.push_back({"udp_without_connected_socket_goes_on", [] { return gue4(inner_udp4(40000, 53)); }, XDP_TX,
               [] { return fwd4(inner_udp4(40000, 53), {}, S2, server_mac(3)); }, VANE_R_REDIRECTED});
  v.push_back(
      {"inner_fragment_decapsulated",
       [] { return gue4(ipv4({.src = kClient4, .dst = "203.0.113.10", .df = false, .frag_offset8 = 3}, zeros(24))); },
       XDP_PASS,
       [] { return decap(ipv4({.src = kClient4, .dst = "203.0.113.10", .df = false, .frag_offset8 = 3}, zeros(24))); },
       VANE_R_DECAP_OTHER});
  v.push_back({"ipv6_inner_in_ipv4_fabric_decapsulated", [] { return gue4(inner_tcp6(kSyn), {}, 41); }, XDP_PASS,
               [] { return decap(inner_tcp6(kSyn), kEthIp6); }, VANE_R_DECAP_SYN});
  v.push_back({"ipv6_fabric_syn_decapsulated", [] { return gue6(inner_tcp6(kSyn)); }, XDP_PASS,
               [] { return decap(inner_tcp6(kSyn), kEthIp6); }, VANE_R_DECAP_SYN});
  v.push_back({"ipv6_fabric_ack_goes_to_second_hop", [] { return gue6(inner_tcp6(kAck)); }, XDP_TX,
               [] {
                 Gue g{.ctype = 41, .glb_version = 1, .next_hop = 2, .hops = {Self6, S2v6}};
                 return eth(server_mac(3), kSelfMac, kEthIp6,
                            ipv6({.src = kSelf6, .dst = "2001:db8::3", .proto = kUdp},
                                 udp(50001, kGuePort, gue(g, inner_tcp6(kAck)))));
               },
               VANE_R_REDIRECTED});
  v.push_back({"gue_to_another_address_is_not_ours",
               [] {
                 return from_router(kEthIp, ipv4({.src = "192.0.2.2", .dst = "192.0.2.9", .proto = kUdp},
                                                 udp(1, kGuePort, gue({.hops = {Self4}}, inner_tcp4(kSyn)))));
               },
               XDP_PASS, nullptr, VANE_R_PASSED});
  // --- what vane's forwarder sends besides plain TCP/UDP is accepted
  v.push_back({"icmp_error_about_a_vip_connection_goes_to_second_hop",
               [] { return gue4(icmp_error4("203.0.113.10", "203.0.113.10")); }, XDP_TX,
               [] { return fwd4(icmp_error4("203.0.113.10", "203.0.113.10"), {}, S2, server_mac(3)); },
               VANE_R_REDIRECTED});
  v.push_back({"icmpv6_too_big_about_a_vip_connection_goes_to_second_hop",
               [] { return gue4(icmp6_error("2001:db8:100::10", "2001:db8:100::10"), {}, 41); }, XDP_TX,
               [] { return fwd4(icmp6_error("2001:db8:100::10", "2001:db8:100::10"), {}, S2, server_mac(3), 41); },
               VANE_R_REDIRECTED});
  v.push_back({"udp_to_wildcard_vip_goes_on", [] { return gue4(inner_udp4(40000, 9999, "203.0.113.11")); }, XDP_TX,
               [] { return fwd4(inner_udp4(40000, 9999, "203.0.113.11"), {}, S2, server_mac(3)); }, VANE_R_REDIRECTED});
  v.push_back({"disabled_vip_is_still_the_sites", [] { return gue4(inner_tcp4(kSyn, 40000, 80, "203.0.113.19")); },
               XDP_PASS, [] { return decap(inner_tcp4(kSyn, 40000, 80, "203.0.113.19")); }, VANE_R_DECAP_SYN});
  v.push_back(
      {"ipv6_inner_fragment_finds_fragment_entry",
       [] {
         return gue4(
             ipv6({.src = kClient6, .dst = "2001:db8:100::10", .proto = kTcp, .ext = {{44, 0, 2, true}}}, zeros(16)),
             {}, 41);
       },
       XDP_PASS,
       [] {
         return decap(
             ipv6({.src = kClient6, .dst = "2001:db8:100::10", .proto = kTcp, .ext = {{44, 0, 2, true}}}, zeros(16)),
             kEthIp6);
       },
       VANE_R_DECAP_OTHER});
  v.push_back({"hops_behind_are_not_judged",
               [] {
                 return gue4(inner_tcp4(kAck), {.next_hop = 2, .hops = {addr("198.51.100.9"), Self4}});
               },
               XDP_PASS, [] { return decap(inner_tcp4(kAck)); }, VANE_R_DECAP_LAST_HOP});

  // --- trust: GUE only from servers of the site, for VIPs of the site, on to servers of the site
  auto refused = [&v](std::string name, std::function<Bytes()> in, unsigned reason) {
    v.push_back({"refused_" + name, std::move(in), XDP_DROP, nullptr, reason});
  };
  refused(
      "outer_source_outside_site_v4", [] { return gue4_from(kClient4, inner_tcp4(kSyn)); }, VANE_R_GUE_BAD_SOURCE);
  refused(
      "outer_source_outside_site_last_hop_v4",
      [] { return gue4_from("198.51.100.9", inner_tcp4(kAck), {.next_hop = 1, .hops = {Self4}}); },
      VANE_R_GUE_BAD_SOURCE);
  refused(
      "outer_source_outside_site_v6", [] { return gue6(inner_tcp6(kSyn), {}, 41, kClient6); }, VANE_R_GUE_BAD_SOURCE);
  refused(
      "outer_source_is_a_vip_v6", [] { return gue6(inner_tcp6(kSyn), {}, 41, "2001:db8:100::10"); },
      VANE_R_GUE_BAD_SOURCE);
  refused(
      "outer_source_outside_site_even_when_malformed",
      [] { return gue4_from(kClient4, inner_tcp4(kAck), {.first_byte = 0x40 | 3}); }, VANE_R_GUE_BAD_SOURCE);
  refused(
      "inner_to_fabric_address_v4", [] { return gue4(inner_tcp4(kSyn, 40000, 22, "192.0.2.3")); },
      VANE_R_GUE_BAD_INNER);
  refused(
      "inner_to_this_server_v4", [] { return gue4(inner_tcp4(kSyn, 40000, 22, kSelf4)); }, VANE_R_GUE_BAD_INNER);
  refused(
      "inner_to_vip_on_other_port_v4", [] { return gue4(inner_tcp4(kSyn, 40000, 8080)); }, VANE_R_GUE_BAD_INNER);
  refused(
      "inner_udp_to_fragment_only_entry_v4", [] { return gue4(inner_udp4(40000, 5399)); }, VANE_R_GUE_BAD_INNER);
  refused(
      "inner_icmp_echo_to_vip_v4",
      [] { return gue4(ipv4({.src = kClient4, .dst = "203.0.113.10", .proto = kIcmp}, icmp4(8, 0, 0, zeros(8)))); },
      VANE_R_GUE_BAD_INNER);
  refused(
      "inner_icmp_error_about_no_vip_v4", [] { return gue4(icmp_error4("192.0.2.3", "192.0.2.3")); },
      VANE_R_GUE_BAD_INNER);
  refused(
      "inner_icmpv6_error_about_no_vip_v6", [] { return gue6(icmp6_error("2001:db8::3", "2001:db8::3")); },
      VANE_R_GUE_BAD_INNER);
  refused(
      "inner_to_fabric_address_v6", [] { return gue6(inner_tcp6(kSyn, "2001:db8::3", 22)); }, VANE_R_GUE_BAD_INNER);
  refused(
      "inner_v6_to_fabric_address_in_v4_fabric", [] { return gue4(inner_tcp6(kSyn, "2001:db8::1", 22), {}, 41); },
      VANE_R_GUE_BAD_INNER);
  refused(
      "hop_outside_site_v4",
      [] {
        return gue4(inner_tcp4(kAck), {.hops = {Self4, addr(kClient4)}});
      },
      VANE_R_GUE_BAD_HOP);
  refused(
      "hop_outside_site_even_for_a_syn_v4",
      [] {
        return gue4(inner_tcp4(kSyn), {.hops = {Self4, addr("198.51.100.9")}});
      },
      VANE_R_GUE_BAD_HOP);
  refused(
      "later_hop_outside_site_v4",
      [] {
        return gue4(inner_tcp4(kAck), {.hops = {Self4, S2, addr("198.51.100.9")}});
      },
      VANE_R_GUE_BAD_HOP);
  refused(
      "first_hop_outside_site_v4", [] { return gue4(inner_tcp4(kAck), {.next_hop = 0, .hops = {addr(kClient4)}}); },
      VANE_R_GUE_BAD_HOP);
  // a hop ahead that is this server: a loop (vane never sends one), refused before any FIB lookup
  refused(
      "next_hop_is_this_server_v4",
      [] {
        return gue4(inner_tcp4(kAck), {.hops = {S2, Self4}});
      },
      VANE_R_GUE_BAD_HOP);
  refused(
      "later_hop_is_this_server_v4",
      [] {
        return gue4(inner_tcp4(kAck), {.hops = {Self4, S2, Self4}});
      },
      VANE_R_GUE_BAD_HOP);
  refused(
      "next_hop_is_this_server_v6",
      [] {
        return gue6(inner_tcp6(kAck), {.hops = {Self6, Self6}});
      },
      VANE_R_GUE_BAD_HOP);
  refused(
      "hop_is_a_vip_v4",
      [] {
        return gue4(inner_tcp4(kAck), {.hops = {Self4, addr("203.0.113.10")}});
      },
      VANE_R_GUE_BAD_HOP);
  refused(
      "hop_outside_site_v6",
      [] {
        return gue6(inner_tcp6(kAck), {.hops = {Self6, addr(kClient6)}});
      },
      VANE_R_GUE_BAD_HOP);
  refused(
      "later_hop_outside_site_v6",
      [] {
        return gue6(inner_tcp6(kAck), {.hops = {Self6, S2v6, addr("2001:db8:200::9")}});
      },
      VANE_R_GUE_BAD_HOP);

  // --- malformed: dropped, never passed
  auto bad = [&v](std::string name, std::function<Bytes()> in) {
    v.push_back({"malformed_" + name + "_dropped", std::move(in), XDP_DROP, nullptr, VANE_R_GUE_MALFORMED});
  };
  bad("gue_version_1", [] { return gue4(inner_tcp4(kAck), {.first_byte = 0x40 | 3}); });
  bad("gue_control_bit", [] { return gue4(inner_tcp4(kAck), {.first_byte = 0x20 | 3}); });
  bad("gue_hlen_too_short", [] { return gue4(inner_tcp4(kAck), {.first_byte = 2}); });
  bad("gue_hlen_too_long", [] { return gue4(inner_tcp4(kAck), {.first_byte = 4}); });
  bad("gue_flags_set", [] { return gue4(inner_tcp4(kAck), {.flags = 0x8000}); });
  bad("proto_ctype_not_ip", [] { return gue4(inner_tcp4(kAck), {}, 17); });
  bad("proto_ctype_disagrees_with_inner", [] { return gue4(inner_tcp4(kAck), {}, 41); });
  bad("next_hop_past_hop_count", [] { return gue4(inner_tcp4(kAck), {.next_hop = 3}); });
  bad("hop_count_over_limit", [] { return gue4(inner_tcp4(kAck), {.hops = {Self4, S2, S2, S2, S2}}); });
  bad("glb_version_disagrees_with_outer_family",
      [] { return gue4(inner_tcp4(kAck), {.glb_version = 1, .hops = {Self4}}); });
  bad("glb_unknown_flag", [] { return gue4(inner_tcp4(kAck), {.glb_flags = VANE_GLB_F_LAST_HOP_GRE}); });
  bad("inner_icmp_error_not_to_the_quoted_source", [] { return gue4(icmp_error4("203.0.113.11", "203.0.113.10")); });
  bad("glb_reserved_byte", [] { return gue4(inner_tcp4(kAck), {.reserved = 1}); });
  bad("inner_length_past_gue_payload",
      [] { return gue4(ipv4({.src = kClient4, .dst = "203.0.113.10", .tot_len = 200}, tcp(40000, 80, kAck))); });
  bad("inner_tcp_header_cut", [] {
    Bytes inner = ipv4({.src = kClient4, .dst = "203.0.113.10"}, Bytes(10, 0));
    return gue4(inner);
  });
  bad("udp_length_too_small", [] {
    return from_router(kEthIp, ipv4({.src = "192.0.2.2", .dst = kSelf4, .proto = kUdp},
                                    udp(1, kGuePort, gue({.hops = {Self4, S2}}, inner_tcp4(kAck)), 12)));
  });
  bad("udp_length_past_packet", [] {
    return from_router(kEthIp, ipv4({.src = "192.0.2.2", .dst = kSelf4, .proto = kUdp},
                                    udp(1, kGuePort, gue({.hops = {Self4, S2}}, inner_tcp4(kAck)), 1400)));
  });
  bad("outer_ipv4_options", [] {
    return from_router(kEthIp, ipv4({.src = "192.0.2.2", .dst = kSelf4, .proto = kUdp, .options = Bytes{1, 1, 1, 0}},
                                    udp(1, kGuePort, gue({.hops = {Self4, S2}}, inner_tcp4(kAck)))));
  });
  bad("gue_header_cut", [] {
    return from_router(kEthIp, ipv4({.src = "192.0.2.2", .dst = kSelf4, .proto = kUdp}, udp(1, kGuePort, Bytes{3, 4})));
  });
  bad("ipv6_fabric_hlen_for_ipv4_hops", [] {
    Bytes p = gue6(inner_tcp6(kAck), {.glb_version = 1});
    p[14 + 40 + 8] = 3;  // hlen as if hops were 4 bytes
    return p;
  });
  return v;
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class Redirector : public ::testing::TestWithParam<Case> {};

TEST_P(Redirector, Fixture) {
  VANE_WORLD_OR_SKIP(w);
  const Case& c = GetParam();
  expect_run(w, c.input(), c.verdict, c.expect ? std::optional<Bytes>(c.expect()) : std::nullopt, G, c.reason);
}

INSTANTIATE_TEST_SUITE_P(Cases, Redirector, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// The standalone redirector program gives the same answers, and passes what is not GUE for us.
TEST(StandaloneRedirector, DecapsulatesForwardsAndPassesTheRest) {
  VANE_WORLD_OR_SKIP(w);
  int fd = w->rdr->prog_fd();
  auto r = run_xdp(fd, gue4(inner_tcp4(kSyn)), w->veth0);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(r->out, decap(inner_tcp4(kSyn)));
  r = run_xdp(fd, gue4(inner_tcp4(kAck)), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX);
  EXPECT_EQ(r->out, fwd4(inner_tcp4(kAck), {}, S2, server_mac(3)));
  Bytes vip = from_router(kEthIp, inner_tcp4(kAck));
  r = run_xdp(fd, vip, w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_PASS) << "the standalone redirector does not forward VIP traffic";
  EXPECT_EQ(r->out, vip);
  r = run_xdp(fd, gue4(inner_tcp4(kAck), {.first_byte = 0x40 | 3}), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_DROP);
  // the trust checks are the same code: one refusal of each kind, counted as in the combined one
  ASSERT_TRUE(w->rdr->clear_counters());
  for (const Bytes& in : {gue4_from(kClient4, inner_tcp4(kSyn)), gue4(inner_tcp4(kSyn, 40000, 22, "192.0.2.3")),
                          gue4(inner_tcp4(kAck), {.hops = {Self4, addr(kClient4)}})}) {
    r = run_xdp(fd, in, w->veth0);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->verdict, XDP_DROP);
  }
  EXPECT_EQ(packets(*w->rdr, G, VANE_R_GUE_BAD_SOURCE), 1u);
  EXPECT_EQ(packets(*w->rdr, G, VANE_R_GUE_BAD_INNER), 1u);
  EXPECT_EQ(packets(*w->rdr, G, VANE_R_GUE_BAD_HOP), 1u);
}

// The site address map follows the server list: a server that leaves is refused at once, as
// source and as hop; one that joins is accepted.
TEST(RedirectorTrust, SiteAddressesFollowTheServerList) {
  VANE_WORLD_OR_SKIP(w);
  std::vector<xdp::Server> servers = {
      {0, addr("192.0.2.1"), addr("2001:db8::1"), false}, {1, addr("192.0.2.2"), addr("2001:db8::2"), false},
      {2, addr("192.0.2.3"), addr("2001:db8::3"), false}, {3, std::nullopt, addr("2001:db8::4"), false},
      {4, addr("192.0.2.5"), std::nullopt, true},         {5, addr("192.0.2.6"), std::nullopt, false},
      {6, addr("192.0.2.130"), std::nullopt, false},
  };
  auto without_1 = servers;
  without_1[1] = {1, addr("192.0.2.7"), std::nullopt, false};  // server 1 replaced by a new address
  auto run = [&](const Bytes& in) {
    auto r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
    return r ? r->verdict : -1;
  };
  struct Restore {  // the world is shared by every test of this process
    World* w;
    const std::vector<xdp::Server>& s;
    ~Restore() { (void)w->fwd->set_servers(s); }
  } restore{w, servers};
  ASSERT_TRUE(w->fwd->set_servers(without_1));
  ASSERT_TRUE(w->fwd->clear_counters());
  EXPECT_EQ(run(gue4(inner_tcp4(kSyn))), XDP_DROP) << "192.0.2.2 left the site";
  EXPECT_EQ(run(gue6(inner_tcp6(kSyn))), XDP_DROP) << "2001:db8::2 left the site";
  EXPECT_EQ(run(gue4_from("192.0.2.7", inner_tcp4(kSyn))), XDP_PASS) << "192.0.2.7 joined";
  EXPECT_EQ(run(gue4_from("192.0.2.7", inner_tcp4(kAck), {.hops = {Self4, addr("192.0.2.2")}})), XDP_DROP);
  EXPECT_EQ(packets(*w->fwd, G, VANE_R_GUE_BAD_SOURCE), 2u);
  EXPECT_EQ(packets(*w->fwd, G, VANE_R_GUE_BAD_HOP), 1u);
  ASSERT_TRUE(w->fwd->set_servers(servers));
  EXPECT_EQ(run(gue4_from("192.0.2.7", inner_tcp4(kSyn))), XDP_DROP) << "192.0.2.7 left again";
  EXPECT_EQ(run(gue4(inner_tcp4(kSyn))), XDP_PASS);
  // a rejected server list changes nothing
  std::vector<xdp::Server> bad = {{0, addr("192.0.2.9"), std::nullopt, false},
                                  {VANE_MAX_SERVERS, addr("192.0.2.10"), std::nullopt, false}};
  EXPECT_FALSE(w->fwd->set_servers(bad));
  EXPECT_EQ(run(gue4_from("192.0.2.9", inner_tcp4(kSyn))), XDP_DROP);
  EXPECT_EQ(run(gue4(inner_tcp4(kSyn))), XDP_PASS);
}

// A reload holds the old and the new addresses in vane_site_addrs at once (new ones go in before
// stale ones come out): a full site that renumbers must not run out of room half way, leaving the
// new list unapplied and the site's GUE refused.
TEST(RedirectorTrust, FullSiteRenumberedAtOnceFitsTheAddressMap) {
  VANE_WORLD_OR_SKIP(w);
  auto site = [](const char* v6prefix) {
    std::vector<xdp::Server> s;
    for (uint32_t i = 0; i < VANE_MAX_SERVERS; ++i) {
      char a6[64];
      std::snprintf(a6, sizeof a6, "%s%x", v6prefix, i + 1);
      std::optional<IpAddress> v4;
      if (i < 3 * 254) {  // the three documentation ranges hold 762 of them
        static const char* nets[] = {"192.0.2.", "198.51.100.", "203.0.113."};
        v4 = addr((std::string(nets[i / 254]) + std::to_string(i % 254 + 1)).c_str());
      }
      s.push_back({i, v4, addr(a6), false});
    }
    return s;
  };
  const auto before = site("2001:db8:a::"), after = site("2001:db8:b::");
  std::vector<xdp::Server> world = {
      {0, addr("192.0.2.1"), addr("2001:db8::1"), false}, {1, addr("192.0.2.2"), addr("2001:db8::2"), false},
      {2, addr("192.0.2.3"), addr("2001:db8::3"), false}, {3, std::nullopt, addr("2001:db8::4"), false},
      {4, addr("192.0.2.5"), std::nullopt, true},         {5, addr("192.0.2.6"), std::nullopt, false},
      {6, addr("192.0.2.130"), std::nullopt, false},
  };
  struct Restore {  // the world is shared by every test of this process
    World* w;
    const std::vector<xdp::Server>& s;
    ~Restore() { (void)w->fwd->set_servers(s); }
  } restore{w, world};
  ASSERT_TRUE(w->fwd->set_servers(before));
  auto r = w->fwd->set_servers(after);
  ASSERT_TRUE(r) << r.error();
  auto run = [&](const Bytes& in) {
    auto x = run_xdp(w->fwd->prog_fd(), in, w->veth0);
    return x ? x->verdict : -1;
  };
  EXPECT_EQ(run(gue6(inner_tcp6(kSyn), {.hops = {Self6}}, 41, "2001:db8:b::7")), XDP_PASS);
  EXPECT_EQ(run(gue6(inner_tcp6(kSyn), {.hops = {Self6}}, 41, "2001:db8:a::7")), XDP_DROP) << "renumbered away";
  size_t n = 0;
  vane_site_key k{}, next{};
  const void* prev = nullptr;
  for (int fd = w->fwd->map_fd("vane_site_addrs"); n < 100000 && bpf_map_get_next_key(fd, prev, &next) == 0; ++n) {
    k = next;
    prev = &k;
  }
  EXPECT_EQ(n, VANE_MAX_SERVERS + 3 * 254u) << "stale addresses removed";
}

// Sockets in the test namespace (the thread is inside it).
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

TEST(RedirectorSockets, EstablishedTcpConnectionIsDeliveredHere) {
  VANE_WORLD_OR_SKIP(w);
  Fd lst{socket(AF_INET, SOCK_STREAM, 0)}, cli{socket(AF_INET, SOCK_STREAM, 0)};
  int one = 1;
  setsockopt(lst.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto vip = sin4("203.0.113.11", 8080), client = sin4(kClient4, 0);
  ASSERT_EQ(bind(lst.fd, reinterpret_cast<sockaddr*>(&vip), sizeof vip), 0);
  ASSERT_EQ(listen(lst.fd, 4), 0);
  ASSERT_EQ(bind(cli.fd, reinterpret_cast<sockaddr*>(&client), sizeof client), 0);
  ASSERT_EQ(connect(cli.fd, reinterpret_cast<sockaddr*>(&vip), sizeof vip), 0);
  socklen_t len = sizeof client;
  getsockname(cli.fd, reinterpret_cast<sockaddr*>(&client), &len);
  uint16_t cport = ntohs(client.sin_port);

  ASSERT_TRUE(w->fwd->clear_counters());
  auto r = run_xdp(w->fwd->prog_fd(), gue4(inner_tcp4(kAck, cport, 8080, "203.0.113.11")), w->veth0);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(r->out, decap(inner_tcp4(kAck, cport, 8080, "203.0.113.11")));
  EXPECT_EQ(packets(*w->fwd, G, VANE_R_DECAP_LOCAL), 1u);

  // Another client port: only the listener matches, the ACK is no valid syncookie -> next hop.
  r = run_xdp(w->fwd->prog_fd(), gue4(inner_tcp4(kAck, uint16_t(cport + 1), 8080, "203.0.113.11")), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX);
  EXPECT_EQ(packets(*w->fwd, G, VANE_R_REDIRECTED), 1u);
}

TEST(RedirectorSockets, ConnectedUdpSocketIsDeliveredHere) {
  VANE_WORLD_OR_SKIP(w);
  Fd s{socket(AF_INET, SOCK_DGRAM, 0)};
  auto vip = sin4("203.0.113.11", 5353), client = sin4(kClient4, 40002);
  ASSERT_EQ(bind(s.fd, reinterpret_cast<sockaddr*>(&vip), sizeof vip), 0);
  Fd unconnected{socket(AF_INET, SOCK_DGRAM, 0)};
  auto vip2 = sin4("203.0.113.11", 5354);
  ASSERT_EQ(bind(unconnected.fd, reinterpret_cast<sockaddr*>(&vip2), sizeof vip2), 0);
  ASSERT_EQ(connect(s.fd, reinterpret_cast<sockaddr*>(&client), sizeof client), 0);

  auto r = run_xdp(w->fwd->prog_fd(), gue4(inner_udp4(40002, 5353, "203.0.113.11")), w->veth0);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(r->out, decap(inner_udp4(40002, 5353, "203.0.113.11")));
  r = run_xdp(w->fwd->prog_fd(), gue4(inner_udp4(40002, 5354, "203.0.113.11")), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX) << "an unconnected socket does not pin the flow here";
}

// Addresses that share a slot of the site index: the slot says "shared" and the hash map decides,
// so both servers are accepted and a third address of the same slot is not.
TEST(RedirectorTrust, SharedIndexSlotAsksTheAddressMap) {
  VANE_WORLD_OR_SKIP(w);
  std::map<uint32_t, std::vector<std::string>> by_slot;
  std::vector<std::string> same;
  for (unsigned x = 1; x < 65536 && same.empty(); ++x) {
    char text[64];
    std::snprintf(text, sizeof text, "2001:db8:300::%x", x);
    vane_site_key k{};
    std::memcpy(k.addr, addr(text).bytes.data(), 16);
    k.family = VANE_AF_INET6;
    __u32 words[5];
    std::memcpy(words, &k, sizeof words);
    auto& v = by_slot[vane_site_slot_of(words)];
    v.push_back(text);
    if (v.size() == 3) same = v;
  }
  ASSERT_EQ(same.size(), 3u);
  std::vector<xdp::Server> servers = {
      {0, addr("192.0.2.1"), addr("2001:db8::1"), false}, {1, addr("192.0.2.2"), addr("2001:db8::2"), false},
      {2, addr("192.0.2.3"), addr("2001:db8::3"), false}, {3, std::nullopt, addr("2001:db8::4"), false},
      {4, addr("192.0.2.5"), std::nullopt, true},         {5, addr("192.0.2.6"), std::nullopt, false},
      {6, addr("192.0.2.130"), std::nullopt, false},
  };
  struct Restore {
    World* w;
    const std::vector<xdp::Server>& s;
    ~Restore() { (void)w->fwd->set_servers(s); }
  } restore{w, servers};
  auto more = servers;
  more.push_back({7, std::nullopt, addr(same[0]), false});
  more.push_back({8, std::nullopt, addr(same[1]), false});
  ASSERT_TRUE(w->fwd->set_servers(more));
  ASSERT_TRUE(w->fwd->clear_counters());
  for (int i = 0; i < 3; ++i) {
    auto r = run_xdp(w->fwd->prog_fd(), gue6(inner_tcp6(kSyn), {}, 41, same[i].c_str()), w->veth0);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->verdict, i < 2 ? XDP_PASS : XDP_DROP) << same[i];
  }
  EXPECT_EQ(packets(*w->fwd, G, VANE_R_DECAP_SYN), 2u);
  EXPECT_EQ(packets(*w->fwd, G, VANE_R_GUE_BAD_SOURCE), 1u);
}

}  // namespace
}  // namespace vane::test
