// Redirector fixtures: GUE packets to this server (192.0.2.1 / 2001:db8::1, port 6080), run
// through the combined program and the standalone redirector. Sockets for the "belongs to a
// local connection" cases are real ones, made in the test namespace.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>

#include "common.h"

namespace vane::test {
namespace {

const IpAddress Self4 = addr(kSelf4), S2 = addr("192.0.2.3"), Self6 = addr(kSelf6), S2v6 = addr("2001:db8::3");

Bytes inner_tcp4(uint8_t flags, uint16_t sport = 40000, uint16_t dport = 80) {
  return ipv4({.src = kClient4, .dst = "203.0.113.10"}, tcp(sport, dport, flags, 20));
}
Bytes inner_udp4(uint16_t sport, uint16_t dport) {
  return ipv4({.src = kClient4, .dst = "203.0.113.10", .proto = kUdp}, udp(sport, dport, zeros(12)));
}
Bytes inner_tcp6(uint8_t flags) {
  return ipv6({.src = kClient6, .dst = "2001:db8:100::10", .proto = kTcp}, tcp(40001, 443, flags, 20));
}

// GUE from server 1 to us over IPv4, as vane's forwarder sends it.
Bytes gue4(const Bytes& inner, Gue g = {}, uint8_t ctype = 4) {
  if (g.hops.empty()) g.hops = {Self4, S2};
  g.ctype = ctype;
  return from_router(kEthIp, ipv4({.src = "192.0.2.2", .dst = kSelf4, .proto = kUdp, .id = 7},
                                  udp(50001, kGuePort, gue(g, inner))));
}
// ... and what we send on to the next hop: same packet, new outer addresses, next_hop + 1.
Bytes fwd4(const Bytes& inner, Gue g, const IpAddress& to, const Mac& dmac, uint8_t ctype = 4) {
  if (g.hops.empty()) g.hops = {Self4, S2};
  g.ctype = ctype;
  g.next_hop += 1;
  return eth(dmac, kSelfMac, kEthIp,
             ipv4({.src = kSelf4, .dst = to.str(), .proto = kUdp, .id = 7}, udp(50001, kGuePort, gue(g, inner))));
}
Bytes gue6(const Bytes& inner, Gue g = {}, uint8_t ctype = 41) {
  if (g.hops.empty()) g.hops = {Self6, S2v6};
  g.ctype = ctype;
  g.glb_version = 1;
  return from_router(kEthIp6, ipv6({.src = "2001:db8::2", .dst = kSelf6, .proto = kUdp},
                                   udp(50001, kGuePort, gue(g, inner))));
}
Bytes decap(const Bytes& inner, uint16_t ethertype = kEthIp) { return from_router(ethertype, inner); }

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
  v.push_back({"glb_director_style_list_without_self", [] { return gue4(inner_tcp4(kAck), {.next_hop = 0, .hops = {S2}}); },
               XDP_TX, [] { return fwd4(inner_tcp4(kAck), {.next_hop = 0, .hops = {S2}}, S2, server_mac(3)); },
               VANE_R_REDIRECTED});
  v.push_back({"udp_without_connected_socket_goes_on", [] { return gue4(inner_udp4(40000, 5399)); }, XDP_TX,
               [] { return fwd4(inner_udp4(40000, 5399), {}, S2, server_mac(3)); }, VANE_R_REDIRECTED});
  v.push_back({"inner_fragment_decapsulated",
               [] { return gue4(ipv4({.src = kClient4, .dst = "203.0.113.10", .df = false, .frag_offset8 = 3}, zeros(24))); },
               XDP_PASS, [] { return decap(ipv4({.src = kClient4, .dst = "203.0.113.10", .df = false, .frag_offset8 = 3}, zeros(24))); },
               VANE_R_DECAP_OTHER});
  v.push_back({"ipv6_inner_in_ipv4_fabric_decapsulated", [] { return gue4(inner_tcp6(kSyn), {}, 41); }, XDP_PASS,
               [] { return decap(inner_tcp6(kSyn), kEthIp6); }, VANE_R_DECAP_SYN});
  v.push_back({"ipv6_fabric_syn_decapsulated", [] { return gue6(inner_tcp6(kSyn)); }, XDP_PASS,
               [] { return decap(inner_tcp6(kSyn), kEthIp6); }, VANE_R_DECAP_SYN});
  v.push_back({"ipv6_fabric_ack_goes_to_second_hop", [] { return gue6(inner_tcp6(kAck)); }, XDP_TX,
               [] {
                 Gue g{.ctype = 41, .glb_version = 1, .next_hop = 2, .hops = {Self6, S2v6}};
                 return eth(server_mac(3), kSelfMac, kEthIp6,
                            ipv6({.src = kSelf6, .dst = "2001:db8::3", .proto = kUdp}, udp(50001, kGuePort, gue(g, inner_tcp6(kAck)))));
               },
               VANE_R_REDIRECTED});
  v.push_back({"gue_to_another_address_is_not_ours", [] {
                 return from_router(kEthIp, ipv4({.src = "192.0.2.2", .dst = "192.0.2.9", .proto = kUdp},
                                                 udp(1, kGuePort, gue({.hops = {Self4}}, inner_tcp4(kSyn)))));
               },
               XDP_PASS, nullptr, VANE_R_PASSED});
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
  bad("hop_count_over_limit", [] {
    return gue4(inner_tcp4(kAck), {.hops = {Self4, S2, S2, S2, S2}});
  });
  bad("glb_version_disagrees_with_outer_family", [] { return gue4(inner_tcp4(kAck), {.glb_version = 1, .hops = {Self4}}); });
  bad("glb_unknown_flag", [] { return gue4(inner_tcp4(kAck), {.glb_flags = VANE_GLB_F_LAST_HOP_GRE}); });
  bad("glb_reserved_byte", [] { return gue4(inner_tcp4(kAck), {.reserved = 1}); });
  bad("inner_length_past_gue_payload", [] {
    return gue4(ipv4({.src = kClient4, .dst = "203.0.113.10", .tot_len = 200}, tcp(40000, 80, kAck)));
  });
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

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

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
  auto vip = sin4("203.0.113.10", 8080), client = sin4(kClient4, 0);
  ASSERT_EQ(bind(lst.fd, reinterpret_cast<sockaddr*>(&vip), sizeof vip), 0);
  ASSERT_EQ(listen(lst.fd, 4), 0);
  ASSERT_EQ(bind(cli.fd, reinterpret_cast<sockaddr*>(&client), sizeof client), 0);
  ASSERT_EQ(connect(cli.fd, reinterpret_cast<sockaddr*>(&vip), sizeof vip), 0);
  socklen_t len = sizeof client;
  getsockname(cli.fd, reinterpret_cast<sockaddr*>(&client), &len);
  uint16_t cport = ntohs(client.sin_port);

  ASSERT_TRUE(w->fwd->clear_counters());
  auto r = run_xdp(w->fwd->prog_fd(), gue4(inner_tcp4(kAck, cport, 8080)), w->veth0);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(r->out, decap(inner_tcp4(kAck, cport, 8080)));
  EXPECT_EQ(packets(*w->fwd, G, VANE_R_DECAP_LOCAL), 1u);

  // Another client port: only the listener matches, the ACK is no valid syncookie -> next hop.
  r = run_xdp(w->fwd->prog_fd(), gue4(inner_tcp4(kAck, uint16_t(cport + 1), 8080)), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX);
  EXPECT_EQ(packets(*w->fwd, G, VANE_R_REDIRECTED), 1u);
}

TEST(RedirectorSockets, ConnectedUdpSocketIsDeliveredHere) {
  VANE_WORLD_OR_SKIP(w);
  Fd s{socket(AF_INET, SOCK_DGRAM, 0)};
  auto vip = sin4("203.0.113.10", 5353), client = sin4(kClient4, 40002);
  ASSERT_EQ(bind(s.fd, reinterpret_cast<sockaddr*>(&vip), sizeof vip), 0);
  Fd unconnected{socket(AF_INET, SOCK_DGRAM, 0)};
  auto vip2 = sin4("203.0.113.10", 5354);
  ASSERT_EQ(bind(unconnected.fd, reinterpret_cast<sockaddr*>(&vip2), sizeof vip2), 0);
  ASSERT_EQ(connect(s.fd, reinterpret_cast<sockaddr*>(&client), sizeof client), 0);

  auto r = run_xdp(w->fwd->prog_fd(), gue4(inner_udp4(40002, 5353)), w->veth0);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(r->out, decap(inner_udp4(40002, 5353)));
  r = run_xdp(w->fwd->prog_fd(), gue4(inner_udp4(40002, 5354)), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX) << "an unconnected socket does not pin the flow here";
}

}  // namespace
}  // namespace vane::test
