// Forwarder fixtures: {name, input frame, expected verdict, expected output, counter that moves}.
// Every case runs the combined program (forwarder.bpf.c) through BPF_PROG_TEST_RUN as if the frame
// arrived on veth0 of the test namespace (see world.h for the site it sees).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>

#include "common.h"

namespace vane::test {
namespace {

struct Case {
  std::string name;
  std::function<Bytes()> input;
  int verdict;
  std::function<Bytes()> expect;                      // exact output; empty = the input, untouched
  uint32_t slot;                                      // counter slot (VIP index, or VANE_STATS_GLOBAL)
  unsigned reason;                                    // VANE_R_* that must count this packet
  std::function<void(const Bytes&)> check = nullptr;  // extra checks on the output
};

uint32_t h4(uint16_t sport, uint16_t dport, uint8_t proto = kTcp, const char* vip = "203.0.113.10") {
  return flow_hash(addr(kClient4), addr(vip), sport, dport, proto, kSeed);
}
uint32_t h6(uint16_t sport, uint16_t dport, uint8_t proto = kTcp, const char* vip = "2001:db8:100::10") {
  return flow_hash(addr(kClient6), addr(vip), sport, dport, proto, kSeed);
}
const IpAddress S1 = addr("192.0.2.2"), S2 = addr("192.0.2.3");

Bytes syn4(const char* vip = "203.0.113.10") {
  return ipv4({.src = kClient4, .dst = vip}, tcp(40000, 80, kSyn));
}
Bytes ack4(const char* vip = "203.0.113.10") {
  return ipv4({.src = kClient4, .dst = vip}, tcp(40000, 80, kAck, 100));
}
Bytes ack6(std::vector<Ext> ext = {}, const char* vip = "2001:db8:100::10") {
  return ipv6({.src = kClient6, .dst = vip, .proto = kTcp, .ext = ext}, tcp(40001, 443, kAck, 64));
}
Bytes big4(bool df, const char* vip = "203.0.113.10") {
  return ipv4({.src = kClient4, .dst = vip, .df = df}, tcp(40000, 80, kAck, 1500 - 40));
}
Bytes big6() {
  return ipv6({.src = kClient6, .dst = "2001:db8:100::10", .proto = kTcp}, tcp(40001, 443, kAck, 1500 - 60));
}

// A VIP packet truncated to n bytes of frame.
Bytes cut(Bytes b, size_t n) {
  b.resize(n);
  return b;
}

const uint32_t G = VANE_STATS_GLOBAL;

std::vector<Case> cases() {
  std::vector<Case> v;
  // --- not ours
  v.push_back({"non_vip_ipv4_passes_untouched",
               [] { return from_router(kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.99"}, tcp(1, 80, kSyn))); },
               XDP_PASS, nullptr, G, VANE_R_PASSED});
  v.push_back({"non_vip_port_passes",
               [] { return from_router(kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10"}, tcp(1, 81, kSyn))); },
               XDP_PASS, nullptr, G, VANE_R_PASSED});
  v.push_back({"non_vip_ipv6_udp_passes",
               [] {
                 return from_router(
                     kEthIp6, ipv6({.src = kClient6, .dst = "2001:db8:100::99", .proto = kUdp}, udp(5, 53, zeros(20))));
               },
               XDP_PASS, nullptr, G, VANE_R_PASSED});
  v.push_back({"arp_passes", [] { return from_router(kEthArp, zeros(28)); }, XDP_PASS, nullptr, G, VANE_R_COUNT});
  v.push_back({"disabled_vip_passes", [] { return from_router(kEthIp, ack4("203.0.113.19")); }, XDP_PASS, nullptr, 10,
               VANE_R_PASSED});
  // --- steered
  v.push_back({"ipv4_tcp_syn_encapsulated_to_first_hop_with_second_in_hop_list",
               [] { return from_router(kEthIp, syn4()); }, XDP_TX,
               [] {
                 return encap4(syn4(), 4, {S1, S2}, h4(40000, 80), server_mac(2));
               },
               0, VANE_R_FORWARDED});
  v.push_back({"ipv4_tcp_ack_encapsulated", [] { return from_router(kEthIp, ack4()); }, XDP_TX,
               [] {
                 return encap4(ack4(), 4, {S1, S2}, h4(40000, 80), server_mac(2));
               },
               0, VANE_R_FORWARDED});
  v.push_back({"ipv4_tos_copied_to_outer",
               [] {
                 return from_router(kEthIp,
                                    ipv4({.src = kClient4, .dst = "203.0.113.10", .tos = 0xb8}, tcp(40000, 80, kAck)));
               },
               XDP_TX,
               [] {
                 return encap4(ipv4({.src = kClient4, .dst = "203.0.113.10", .tos = 0xb8}, tcp(40000, 80, kAck)), 4,
                               {S1, S2}, h4(40000, 80), server_mac(2), 0xb8);
               },
               0, VANE_R_FORWARDED});
  v.push_back({"ipv4_udp_encapsulated",
               [] {
                 return from_router(
                     kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10", .proto = kUdp}, udp(5353, 53, zeros(30))));
               },
               XDP_TX,
               [] {
                 return encap4(ipv4({.src = kClient4, .dst = "203.0.113.10", .proto = kUdp}, udp(5353, 53, zeros(30))),
                               4, {S1, S2}, h4(5353, 53, kUdp), server_mac(2));
               },
               1, VANE_R_FORWARDED});
  v.push_back({"ipv6_tcp_encapsulated_in_ipv4_fabric", [] { return from_router(kEthIp6, ack6()); }, XDP_TX,
               [] {
                 return encap4(ack6(), 41, {S1, S2}, h6(40001, 443), server_mac(2));
               },
               2, VANE_R_FORWARDED});
  v.push_back({"ipv6_udp_encapsulated",
               [] {
                 return from_router(
                     kEthIp6, ipv6({.src = kClient6, .dst = "2001:db8:100::10", .proto = kUdp}, udp(7, 53, zeros(9))));
               },
               XDP_TX,
               [] {
                 return encap4(ipv6({.src = kClient6, .dst = "2001:db8:100::10", .proto = kUdp}, udp(7, 53, zeros(9))),
                               41, {S1, S2}, h6(7, 53, kUdp), server_mac(2));
               },
               11, VANE_R_FORWARDED});
  v.push_back({"ipv6_extension_headers_skipped_ports_still_hashed",
               [] {
                 return from_router(kEthIp6, ack6({{0, 0}, {60, 1}, {43, 0}}));
               },
               XDP_TX,
               [] {
                 return encap4(ack6({{0, 0}, {60, 1}, {43, 0}}), 41, {S1, S2}, h6(40001, 443), server_mac(2));
               },
               2, VANE_R_FORWARDED});
  v.push_back({"ipv4_options_skipped",
               [] {
                 return from_router(
                     kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10", .options = Bytes{1, 1, 1, 0, 7, 4, 0, 0}},
                                  tcp(40000, 80, kAck)));
               },
               XDP_TX,
               [] {
                 return encap4(ipv4({.src = kClient4, .dst = "203.0.113.10", .options = Bytes{1, 1, 1, 0, 7, 4, 0, 0}},
                                    tcp(40000, 80, kAck)),
                               4, {S1, S2}, h4(40000, 80), server_mac(2));
               },
               0, VANE_R_FORWARDED});
  v.push_back({"vlan_tag_kept", [] { return from_router(kEthIp, ack4(), 0x0064); }, XDP_TX,
               [] {
                 return encap4(ack4(), 4, {S1, S2}, h4(40000, 80), server_mac(2), 0, 0, 0x0064);
               },
               0, VANE_R_FORWARDED});
  v.push_back({"ethernet_padding_not_tunnelled",
               [] {
                 return from_router(kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10"}, tcp(40000, 80, kAck))) +
                        zeros(6, 0);
               },
               XDP_TX,
               [] {
                 return encap4(ipv4({.src = kClient4, .dst = "203.0.113.10"}, tcp(40000, 80, kAck)), 4, {S1, S2},
                               h4(40000, 80), server_mac(2));
               },
               0, VANE_R_FORWARDED});
  v.push_back({"first_ipv4_fragment_hashed_on_three_tuple",
               [] {
                 return from_router(kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10", .df = false, .mf = true},
                                                 tcp(40000, 80, kAck, 40)));
               },
               XDP_TX,
               [] {
                 return encap4(
                     ipv4({.src = kClient4, .dst = "203.0.113.10", .df = false, .mf = true}, tcp(40000, 80, kAck, 40)),
                     4, {S1, S2}, h4(0, 0), server_mac(2));
               },
               0, VANE_R_FORWARDED});
  v.push_back(
      {"later_ipv4_fragment_same_bucket_as_first",
       [] {
         return from_router(kEthIp,
                            ipv4({.src = kClient4, .dst = "203.0.113.10", .df = false, .frag_offset8 = 10}, zeros(40)));
       },
       XDP_TX,
       [] {
         return encap4(ipv4({.src = kClient4, .dst = "203.0.113.10", .df = false, .frag_offset8 = 10}, zeros(40)), 4,
                       {S1, S2}, h4(0, 0), server_mac(2));
       },
       0, VANE_R_FORWARDED});
  v.push_back({"ipv6_fragment_hashed_on_three_tuple",
               [] {
                 return from_router(kEthIp6, ack6({{44, 0, 0, true}}));
               },
               XDP_TX,
               [] {
                 return encap4(ack6({{44, 0, 0, true}}), 41, {S1, S2}, h6(0, 0), server_mac(2));
               },
               2, VANE_R_FORWARDED});
  v.push_back(
      {"icmp_frag_needed_follows_the_connection_it_quotes",
       [] {
         Bytes quoted = ipv4({.src = "203.0.113.10", .dst = kClient4}, tcp(80, 40000, kAck));
         quoted.resize(28);
         return from_router(
             kEthIp, ipv4({.src = "198.51.100.1", .dst = "203.0.113.10", .proto = kIcmp}, icmp4(3, 4, 1400, quoted)));
       },
       XDP_TX,
       [] {
         Bytes quoted = ipv4({.src = "203.0.113.10", .dst = kClient4}, tcp(80, 40000, kAck));
         quoted.resize(28);
         return encap4(ipv4({.src = "198.51.100.1", .dst = "203.0.113.10", .proto = kIcmp}, icmp4(3, 4, 1400, quoted)),
                       4, {S1, S2}, h4(40000, 80), server_mac(2));
       },
       0, VANE_R_FORWARDED});
  v.push_back(
      {"icmpv6_packet_too_big_follows_the_connection_it_quotes",
       [] {
         Bytes quoted = ipv6({.src = "2001:db8:100::10", .dst = kClient6, .proto = kTcp}, tcp(443, 40001, kAck, 100));
         return from_router(kEthIp6, ipv6({.src = "2001:db8:200::1", .dst = "2001:db8:100::10", .proto = kIcmp6},
                                          icmp6(2, 0, 1280, quoted)));
       },
       XDP_TX,
       [] {
         Bytes quoted = ipv6({.src = "2001:db8:100::10", .dst = kClient6, .proto = kTcp}, tcp(443, 40001, kAck, 100));
         return encap4(
             ipv6({.src = "2001:db8:200::1", .dst = "2001:db8:100::10", .proto = kIcmp6}, icmp6(2, 0, 1280, quoted)),
             41, {S1, S2}, h6(40001, 443), server_mac(2));
       },
       2, VANE_R_FORWARDED});
  v.push_back({"icmp_port_unreachable_for_udp_flow",
               [] {
                 Bytes quoted = ipv4({.src = "203.0.113.10", .dst = kClient4, .proto = kUdp}, udp(53, 5353, zeros(8)));
                 return from_router(
                     kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10", .proto = kIcmp}, icmp4(3, 3, 0, quoted)));
               },
               XDP_TX,
               [] {
                 Bytes quoted = ipv4({.src = "203.0.113.10", .dst = kClient4, .proto = kUdp}, udp(53, 5353, zeros(8)));
                 return encap4(ipv4({.src = kClient4, .dst = "203.0.113.10", .proto = kIcmp}, icmp4(3, 3, 0, quoted)),
                               4, {S1, S2}, h4(5353, 53, kUdp), server_mac(2));
               },
               1, VANE_R_FORWARDED});
  // hash_without_ports: every connection of one client address lands on the same server
  for (uint16_t sport : {40000, 51234})
    v.push_back(
        {"hash_without_ports_ignores_client_port_" + std::to_string(sport),
         [sport] { return from_router(kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.23"}, tcp(sport, 80, kSyn))); },
         XDP_TX,
         [sport] {
           return encap4(ipv4({.src = kClient4, .dst = "203.0.113.23"}, tcp(sport, 80, kSyn)), 4, {S1, S2},
                         h4(0, 0, kTcp, "203.0.113.23"), server_mac(2));
         },
         18, VANE_R_FORWARDED});
  v.push_back({"icmp_error_not_addressed_to_the_quoted_source_is_not_steered",
               [] {
                 Bytes quoted = ipv4({.src = "203.0.113.10", .dst = kClient4}, tcp(80, 40000, kAck));
                 quoted.resize(28);
                 return from_router(kEthIp, ipv4({.src = "198.51.100.1", .dst = "203.0.113.11", .proto = kIcmp},
                                                 icmp4(3, 4, 1400, quoted)));
               },
               XDP_PASS, nullptr, G, VANE_R_MALFORMED});
  v.push_back({"icmp_echo_to_vip_address_passes",
               [] {
                 return from_router(
                     kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10", .proto = kIcmp}, icmp4(8, 0, 0, zeros(8))));
               },
               XDP_PASS, nullptr, G, VANE_R_PASSED});
  // --- table outcomes
  // --- first hop is this server: a SYN stays; a TCP packet that no local socket owns goes on to the
  // second hop (the previous first hop, which owns the connection) as that hop's last hop
  v.push_back({"first_hop_is_self_syn_passes_locally_wildcard_port",
               [] { return from_router(kEthIp, syn4("203.0.113.11")); }, XDP_PASS, nullptr, 3, VANE_R_LOCAL});
  v.push_back({"first_hop_is_self_ack_without_socket_goes_to_second_hop",
               [] { return from_router(kEthIp, ack4("203.0.113.11")); }, XDP_TX,
               [] { return encap4(ack4("203.0.113.11"), 4, {S1}, h4(40000, 80, kTcp, "203.0.113.11"), server_mac(2)); },
               3, VANE_R_FORWARDED});
  v.push_back(
      {"first_hop_is_self_fin_without_socket_goes_to_second_hop",
       [] { return from_router(kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.11"}, tcp(40000, 80, kFin | kAck))); },
       XDP_TX,
       [] {
         return encap4(ipv4({.src = kClient4, .dst = "203.0.113.11"}, tcp(40000, 80, kFin | kAck)), 4, {S1},
                       h4(40000, 80, kTcp, "203.0.113.11"), server_mac(2));
       },
       3, VANE_R_FORWARDED});
  v.push_back({"first_hop_is_self_ipv6_ack_without_socket_goes_to_second_hop",
               [] { return from_router(kEthIp6, ack6({}, "2001:db8:100::11")); }, XDP_TX,
               [] {
                 return encap4(ack6({}, "2001:db8:100::11"), 41, {S1}, h6(40001, 443, kTcp, "2001:db8:100::11"),
                               server_mac(2));
               },
               12, VANE_R_FORWARDED});
  v.push_back({"first_hop_is_self_ipv6_only_second_hop_gets_ipv6_outer",
               [] { return from_router(kEthIp, ack4("203.0.113.12")); }, XDP_TX,
               [] {
                 return encap6(ack4("203.0.113.12"), 4, {addr("2001:db8::4")}, h4(40000, 80, kTcp, "203.0.113.12"),
                               server_mac(4));
               },
               13, VANE_R_FORWARDED});
  v.push_back({"first_hop_is_self_single_hop_vip_passes", [] { return from_router(kEthIp, ack4("203.0.113.20")); },
               XDP_PASS, nullptr, 14, VANE_R_LOCAL});
  v.push_back({"first_hop_is_self_without_second_hop_passes", [] { return from_router(kEthIp, ack4("203.0.113.21")); },
               XDP_PASS, nullptr, 15, VANE_R_LOCAL});
  v.push_back(
      {"first_hop_is_self_icmp_frag_needed_without_socket_goes_to_second_hop",
       [] {
         Bytes quoted = ipv4({.src = "203.0.113.11", .dst = kClient4}, tcp(80, 40000, kAck));
         quoted.resize(28);
         return from_router(
             kEthIp, ipv4({.src = "198.51.100.1", .dst = "203.0.113.11", .proto = kIcmp}, icmp4(3, 4, 1400, quoted)));
       },
       XDP_TX,
       [] {
         Bytes quoted = ipv4({.src = "203.0.113.11", .dst = kClient4}, tcp(80, 40000, kAck));
         quoted.resize(28);
         return encap4(ipv4({.src = "198.51.100.1", .dst = "203.0.113.11", .proto = kIcmp}, icmp4(3, 4, 1400, quoted)),
                       4, {S1}, h4(40000, 80, kTcp, "203.0.113.11"), server_mac(2));
       },
       3, VANE_R_FORWARDED});
  v.push_back({"first_hop_is_self_steady_bucket_icmp_error_passes",
               [] {
                 Bytes quoted = ipv4({.src = "203.0.113.22", .dst = kClient4}, tcp(80, 40000, kAck));
                 quoted.resize(28);
                 return from_router(kEthIp, ipv4({.src = "198.51.100.1", .dst = "203.0.113.22", .proto = kIcmp},
                                                 icmp4(3, 4, 1400, quoted)));
               },
               XDP_PASS, nullptr, 17, VANE_R_LOCAL});
  v.push_back({"first_hop_is_self_steady_bucket_ack_passes_without_lookup",
               [] { return from_router(kEthIp, ack4("203.0.113.22")); }, XDP_PASS, nullptr, 17, VANE_R_LOCAL});
  v.push_back({"first_hop_is_self_udp_passes",
               [] {
                 return from_router(
                     kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.11", .proto = kUdp}, udp(5353, 53, zeros(30))));
               },
               XDP_PASS, nullptr, 16, VANE_R_LOCAL});
  v.push_back({"first_hop_is_self_fragment_passes",
               [] {
                 return from_router(kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.11", .df = false, .mf = true},
                                                 tcp(40000, 80, kAck, 40)));
               },
               XDP_PASS, nullptr, 3, VANE_R_LOCAL});
  v.push_back({"first_hop_is_self_ipv4_over_mtu_gets_frag_needed_for_one_hop",
               [] { return from_router(kEthIp, big4(true, "203.0.113.11")); }, XDP_TX, nullptr, 3, VANE_R_TOO_BIG,
               [](const Bytes& o) {
                 ASSERT_EQ(o.size(), 14u + 28 + 512);
                 EXPECT_EQ(Bytes(o.begin(), o.begin() + 6), Bytes(kRouterMac.begin(), kRouterMac.end()));
                 EXPECT_EQ(inet_checksum(o.data() + 14, 20), 0) << "IPv4 header checksum";
                 EXPECT_EQ(Bytes(o.begin() + 26, o.begin() + 30), (Bytes{203, 0, 113, 11}));
                 EXPECT_EQ(Bytes(o.begin() + 30, o.begin() + 34), (Bytes{198, 51, 100, 7}));
                 EXPECT_EQ(o[34], 3);
                 EXPECT_EQ(o[35], 4);
                 EXPECT_EQ(o[40] << 8 | o[41], kMtu - (VANE_ENCAP4_OVERHEAD - 4)) << "one 4-byte hop";
                 EXPECT_EQ(inet_checksum(o.data() + 34, 8 + 512), 0) << "ICMP checksum";
                 Bytes orig = big4(true, "203.0.113.11");
                 EXPECT_EQ(Bytes(o.begin() + 42, o.end()), Bytes(orig.begin(), orig.begin() + 512));
               }});
  v.push_back({"first_hop_is_self_ipv6_outer_over_mtu_gets_frag_needed",
               [] {
                 return from_router(
                     kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.12"}, tcp(40000, 80, kAck, 1500 - 72 + 1 - 40)));
               },
               XDP_TX, nullptr, 13, VANE_R_TOO_BIG,
               [](const Bytes& o) {
                 ASSERT_EQ(o.size(), 14u + 28 + 512);
                 EXPECT_EQ(o[40] << 8 | o[41], kMtu - (VANE_ENCAP6_OVERHEAD - 16)) << "IPv6 outer, one 16-byte hop";
               }});
  v.push_back({"first_hop_is_self_ipv6_outer_exactly_mtu_fits",
               [] {
                 return from_router(
                     kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.12"}, tcp(40000, 80, kAck, 1500 - 72 - 40)));
               },
               XDP_TX, nullptr, 13, VANE_R_FORWARDED,
               [](const Bytes& o) {
                 EXPECT_EQ(o.size(), 14u + 1500);
                 EXPECT_EQ(o[14] >> 4, 6);
               }});
  v.push_back({"vip_without_table_passes", [] { return from_router(kEthIp, ack4("203.0.113.13")); }, XDP_PASS, nullptr,
               4, VANE_R_NO_TABLE});
  v.push_back({"ipv6_only_first_hop_gets_ipv6_outer_with_16_byte_hops",
               [] { return from_router(kEthIp, ack4("203.0.113.14")); }, XDP_TX,
               [] {
                 return encap6(ack4("203.0.113.14"), 4, {addr("2001:db8::4"), addr("2001:db8::2")},
                               h4(40000, 80, kTcp, "203.0.113.14"), server_mac(4));
               },
               5, VANE_R_FORWARDED});
  v.push_back({"draining_first_hop_sets_forward_syn", [] { return from_router(kEthIp, ack4("203.0.113.15")); }, XDP_TX,
               [] {
                 return encap4(ack4("203.0.113.15"), 4, {addr("192.0.2.5"), S2}, h4(40000, 80, kTcp, "203.0.113.15"),
                               server_mac(5), 0, VANE_GLB_F_FORWARD_SYN);
               },
               6, VANE_R_FORWARDED});
  v.push_back({"single_hop_vip_lists_one_hop", [] { return from_router(kEthIp, ack4("203.0.113.16")); }, XDP_TX,
               [] { return encap4(ack4("203.0.113.16"), 4, {S1}, h4(40000, 80, kTcp, "203.0.113.16"), server_mac(2)); },
               7, VANE_R_FORWARDED});
  v.push_back(
      {"no_neighbour_leaves_encapsulated_packet_to_kernel", [] { return from_router(kEthIp, ack4("203.0.113.17")); },
       XDP_PASS,
       [] {
         return encap4(ack4("203.0.113.17"), 4, {addr("192.0.2.6"), S2}, h4(40000, 80, kTcp, "203.0.113.17"), kSelfMac);
       },
       8, VANE_R_FIB_PASS, [](const Bytes& out) { ASSERT_GE(out.size(), 12u); }});
  v.push_back({"other_egress_interface_is_redirected", [] { return from_router(kEthIp, ack4("203.0.113.18")); },
               XDP_REDIRECT,
               [] {
                 Bytes e = encap4(ack4("203.0.113.18"), 4, {addr("192.0.2.130"), S2},
                                  h4(40000, 80, kTcp, "203.0.113.18"), server_mac(0x82));
                 const Mac veth2{2, 0, 0, 0, 0, 0x21};
                 std::copy(veth2.begin(), veth2.end(), e.begin() + 6);
                 return e;
               },
               9, VANE_R_FORWARDED});
  // --- MTU
  v.push_back({"ipv4_df_over_mtu_gets_frag_needed", [] { return from_router(kEthIp, big4(true)); }, XDP_TX, nullptr, 0,
               VANE_R_TOO_BIG,
               [](const Bytes& o) {
                 ASSERT_EQ(o.size(), 14u + 28 + 512);
                 EXPECT_EQ(Bytes(o.begin(), o.begin() + 6), Bytes(kRouterMac.begin(), kRouterMac.end()));
                 EXPECT_EQ(inet_checksum(o.data() + 14, 20), 0) << "IPv4 header checksum";
                 EXPECT_EQ(o[14 + 9], kIcmp);
                 EXPECT_EQ(Bytes(o.begin() + 26, o.begin() + 30), (Bytes{203, 0, 113, 10}));
                 EXPECT_EQ(Bytes(o.begin() + 30, o.begin() + 34), (Bytes{198, 51, 100, 7}));
                 EXPECT_EQ(o[34], 3);
                 EXPECT_EQ(o[35], 4);
                 EXPECT_EQ(o[40] << 8 | o[41], kMtu - VANE_ENCAP4_OVERHEAD);
                 EXPECT_EQ(inet_checksum(o.data() + 34, 8 + 512), 0) << "ICMP checksum";
                 Bytes orig = big4(true);
                 EXPECT_EQ(Bytes(o.begin() + 42, o.end()), Bytes(orig.begin(), orig.begin() + 512));
               }});
  v.push_back({"ipv4_without_df_over_mtu_dropped", [] { return from_router(kEthIp, big4(false)); }, XDP_DROP, nullptr,
               0, VANE_R_TOO_BIG, [](const Bytes&) {}});
  v.push_back({"ipv6_over_mtu_gets_packet_too_big", [] { return from_router(kEthIp6, big6()); }, XDP_TX, nullptr, 2,
               VANE_R_TOO_BIG,
               [](const Bytes& o) {
                 ASSERT_EQ(o.size(), 14u + 48 + 512);
                 EXPECT_EQ(o[14 + 6], kIcmp6);
                 const IpAddress vip = addr("2001:db8:100::10");
                 EXPECT_EQ(Bytes(o.begin() + 22, o.begin() + 38), Bytes(vip.bytes.begin(), vip.bytes.end()));
                 EXPECT_EQ(o[54], 2);
                 uint32_t mtu = uint32_t(o[58]) << 24 | o[59] << 16 | o[60] << 8 | o[61];
                 EXPECT_EQ(mtu, kMtu - VANE_ENCAP4_OVERHEAD);
                 // checksum over pseudo-header + ICMPv6 message must verify
                 Bytes ph(o.begin() + 22, o.begin() + 54);
                 ph = ph + Bytes{0, 0, 2, 8, 0, 0, 0, 58};
                 Bytes all = ph + Bytes(o.begin() + 54, o.end());
                 EXPECT_EQ(inet_checksum(all.data(), all.size()), 0) << "ICMPv6 checksum";
               }});
  // --- malformed: passed to the kernel untouched, counted
  Bytes full4 = from_router(kEthIp, ack4());
  for (size_t n : {14u, 20u, 33u, 34u, 40u, 53u})
    v.push_back({"truncated_ipv4_frame_at_" + std::to_string(n), [full4, n] { return cut(full4, n); }, XDP_PASS,
                 nullptr, G, VANE_R_MALFORMED});
  Bytes vlan4 = from_router(kEthIp, ack4(), 7);
  v.push_back({"truncated_vlan_tag", [vlan4] { return cut(vlan4, 16); }, XDP_PASS, nullptr, G, VANE_R_MALFORMED});
  Bytes full6 = from_router(kEthIp6, ack6({{0, 0}, {44, 0, 0, false}}));
  for (size_t n : {30u, 53u, 56u, 62u, 66u, 70u, 85u})
    v.push_back({"truncated_ipv6_frame_at_" + std::to_string(n), [full6, n] { return cut(full6, n); }, XDP_PASS,
                 nullptr, G, VANE_R_MALFORMED});
  Bytes icmp = from_router(
      kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10", .proto = kIcmp},
                   icmp4(3, 4, 1400, ipv4({.src = "203.0.113.10", .dst = kClient4}, tcp(80, 40000, kAck)))));
  for (size_t n : {40u, 50u, 64u})
    v.push_back({"truncated_icmp_quote_at_" + std::to_string(n), [icmp, n] { return cut(icmp, n); }, XDP_PASS, nullptr,
                 G, VANE_R_MALFORMED});
  v.push_back(
      {"ipv4_ihl_below_5",
       [] { return from_router(kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10", .ihl = 4}, tcp(1, 80, kAck))); },
       XDP_PASS, nullptr, G, VANE_R_MALFORMED});
  v.push_back({"ipv4_total_length_beyond_frame",
               [] {
                 return from_router(kEthIp,
                                    ipv4({.src = kClient4, .dst = "203.0.113.10", .tot_len = 400}, tcp(1, 80, kAck)));
               },
               XDP_PASS, nullptr, G, VANE_R_MALFORMED});
  v.push_back(
      {"ipv4_version_mismatch", [] { return from_router(kEthIp6, ack4()); }, XDP_PASS, nullptr, G, VANE_R_MALFORMED});
  v.push_back(
      {"tcp_data_offset_below_5",
       [] { return from_router(kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10"}, tcp(1, 80, kAck, 0, 4))); },
       XDP_PASS, nullptr, G, VANE_R_MALFORMED});
  v.push_back({"too_many_ipv6_extension_headers",
               [] {
                 return from_router(kEthIp6, ack6({{0, 0}, {60, 0}, {60, 0}, {60, 0}, {60, 0}, {60, 0}, {60, 0}}));
               },
               XDP_PASS, nullptr, G, VANE_R_MALFORMED});
  return v;
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class Forwarder : public ::testing::TestWithParam<Case> {};

TEST_P(Forwarder, Fixture) {
  VANE_WORLD_OR_SKIP(w);
  const Case& c = GetParam();
  Bytes in = c.input();
  // Without an expected output the packet must leave untouched (unless a check looks instead).
  std::optional<Bytes> want = c.check ? std::nullopt : std::optional<Bytes>(c.expect ? c.expect() : in);
  expect_run(w, in, c.verdict, want, c.slot, c.reason, c.check);
}

INSTANTIATE_TEST_SUITE_P(Cases, Forwarder, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// The bucket the BPF side picks is the one C++ computes with the shared hash.
TEST(ForwarderTable, BucketIsFlowHashModuloM) {
  VANE_WORLD_OR_SKIP(w);
  xdp::Table t(13);
  for (uint32_t i = 0; i < 13; ++i) t[i] = i % 2 ? std::pair{1u, 2u} : std::pair{2u, 1u};
  ASSERT_TRUE(w->fwd->set_table(kT12, t));
  for (uint16_t port = 30000; port < 30040; ++port) {
    Bytes in = from_router(kEthIp, ipv4({.src = kClient4, .dst = "203.0.113.10"}, tcp(port, 80, kAck)));
    auto r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->verdict, XDP_TX);
    uint32_t b = h4(port, 80) % 13;
    uint8_t want = b % 2 ? 2 : 3;  // last byte of the first hop's address
    EXPECT_EQ(r->out[14 + 19], want) << "port " << port;
  }
  ASSERT_TRUE(w->fwd->set_table(kT12, xdp::Table(13, {1u, 2u})));
}

// A new table is switched in whole: before the switch the old first hop, after it the new one.
TEST(ForwarderTable, DoubleBufferedSwitch) {
  VANE_WORLD_OR_SKIP(w);
  Bytes in = from_router(kEthIp, ack4());
  auto first_hop = [&] {
    auto r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
    return r && r->verdict == XDP_TX ? r->out[14 + 19] : 0;
  };
  EXPECT_EQ(first_hop(), 2);
  ASSERT_TRUE(w->fwd->set_table(kT12, xdp::Table(13, {2u, 1u})));
  EXPECT_EQ(first_hop(), 3);
  auto t = w->fwd->read_table(kT12);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->size(), 13u);
  EXPECT_EQ((*t)[0], (std::pair{2u, 1u}));
  ASSERT_TRUE(w->fwd->set_table(kT12, xdp::Table(7, {0u, VANE_SERVER_NONE})));
  auto r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_PASS) << "first hop is now this server, no second hop";
  ASSERT_TRUE(w->fwd->set_table(kT12, xdp::Table(7, {0u, 1u})));
  r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_PASS) << "first hop is this server in a steady bucket: no lookup, local";
  ASSERT_TRUE(w->fwd->set_table(kT12, xdp::Table(7, {0u, 1u | VANE_BUCKET_F_MOVED})));
  r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX) << "first hop is now this server, moved from the second hop, no socket here: on to it";
  EXPECT_EQ(r->out[14 + 19], 2);
  ASSERT_TRUE(w->fwd->set_table(kT12, xdp::Table(13, {1u, 2u})));
  EXPECT_EQ(first_hop(), 2);
}

// Sockets in the test namespace (the thread is inside it): with the first hop this server, a
// packet of a local connection stays here; the rest of the flows go on to the second hop.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// A listener on vip:port and a client connected to it from the client address; the client's port.
uint16_t connect_local(int family, const Fd& lst, const Fd& cli, const char* vip, uint16_t port, const char* client) {
  sockaddr_storage v{}, c{};
  socklen_t len;
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&v);
    auto* c4 = reinterpret_cast<sockaddr_in*>(&c);
    v4->sin_family = c4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    inet_pton(AF_INET, vip, &v4->sin_addr);
    inet_pton(AF_INET, client, &c4->sin_addr);
    len = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&v);
    auto* c6 = reinterpret_cast<sockaddr_in6*>(&c);
    v6->sin6_family = c6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    inet_pton(AF_INET6, vip, &v6->sin6_addr);
    inet_pton(AF_INET6, client, &c6->sin6_addr);
    len = sizeof(sockaddr_in6);
  }
  int one = 1;
  setsockopt(lst.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lst.fd, reinterpret_cast<sockaddr*>(&v), len) != 0 || listen(lst.fd, 4) != 0 ||
      bind(cli.fd, reinterpret_cast<sockaddr*>(&c), len) != 0 ||
      connect(cli.fd, reinterpret_cast<sockaddr*>(&v), len) != 0)
    return 0;
  socklen_t got = sizeof c;
  getsockname(cli.fd, reinterpret_cast<sockaddr*>(&c), &got);
  return ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&c)->sin_port
                                 : reinterpret_cast<sockaddr_in6*>(&c)->sin6_port);
}

TEST(ForwarderSockets, FirstHopSelfKeepsPacketsOfALocalConnection) {
  VANE_WORLD_OR_SKIP(w);
  Fd lst{socket(AF_INET, SOCK_STREAM, 0)}, cli{socket(AF_INET, SOCK_STREAM, 0)};
  const uint16_t cport = connect_local(AF_INET, lst, cli, "203.0.113.11", 8080, kClient4);
  ASSERT_NE(cport, 0) << "cannot connect to 203.0.113.11:8080 in the test namespace";
  auto pkt = [](uint16_t sport, uint8_t flags, size_t payload = 20) {
    return ipv4({.src = kClient4, .dst = "203.0.113.11"}, tcp(sport, 8080, flags, payload));
  };

  ASSERT_TRUE(w->fwd->clear_counters());
  Bytes in = from_router(kEthIp, pkt(cport, kAck));
  auto r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->verdict, XDP_PASS) << "established connection here";
  EXPECT_EQ(r->out, in);
  EXPECT_EQ(packets(*w->fwd, 3, VANE_R_LOCAL), 1u) << "moved:" << counters_moved(*w->fwd);

  // Over the MTU once encapsulated, but it is not encapsulated: the socket is here.
  in = from_router(kEthIp, pkt(cport, kAck | kPsh, 1500 - 40));
  r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_PASS) << "a local connection's packet is never too big";
  EXPECT_EQ(r->out, in);
  EXPECT_EQ(packets(*w->fwd, 3, VANE_R_LOCAL), 2u);

  // An ICMP error about this connection (quoting our reply to the client) stays here too.
  Bytes quoted = ipv4({.src = "203.0.113.11", .dst = kClient4}, tcp(8080, cport, kAck));
  quoted.resize(28);
  in = from_router(kEthIp,
                   ipv4({.src = "198.51.100.1", .dst = "203.0.113.11", .proto = kIcmp}, icmp4(3, 4, 1400, quoted)));
  r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_PASS) << "path MTU news for a local connection is delivered here";
  EXPECT_EQ(packets(*w->fwd, 3, VANE_R_LOCAL), 3u);

  // Another client port: only the listener matches and the ACK is no valid syncookie.
  const uint16_t other = uint16_t(cport + 1);
  r = run_xdp(w->fwd->prog_fd(), from_router(kEthIp, pkt(other, kAck)), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX) << "listener only: on to the second hop";
  Bytes want = encap4(pkt(other, kAck), 4, {S1}, h4(other, 8080, kTcp, "203.0.113.11"), server_mac(2));
  EXPECT_EQ(r->out, want) << "got:\n" << hex(r->out) << "\nwant:\n" << hex(want);
  EXPECT_EQ(packets(*w->fwd, 3, VANE_R_FORWARDED), 1u);

  // A SYN to the listener's port stays without a lookup deciding it (no socket for it either).
  in = from_router(kEthIp, pkt(other, kSyn, 0));
  r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(r->out, in);
  EXPECT_EQ(packets(*w->fwd, 3, VANE_R_LOCAL), 4u);
}

TEST(ForwarderSockets, FirstHopSelfKeepsPacketsOfALocalIpv6Connection) {
  VANE_WORLD_OR_SKIP(w);
  Fd lst{socket(AF_INET6, SOCK_STREAM, 0)}, cli{socket(AF_INET6, SOCK_STREAM, 0)};
  const uint16_t cport = connect_local(AF_INET6, lst, cli, "2001:db8:100::11", 8443, kClient6);
  ASSERT_NE(cport, 0) << "cannot connect to [2001:db8:100::11]:8443 in the test namespace";
  auto pkt = [](uint16_t sport) {
    return ipv6({.src = kClient6, .dst = "2001:db8:100::11", .proto = kTcp}, tcp(sport, 8443, kAck, 20));
  };

  ASSERT_TRUE(w->fwd->clear_counters());
  Bytes in = from_router(kEthIp6, pkt(cport));
  auto r = run_xdp(w->fwd->prog_fd(), in, w->veth0);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->verdict, XDP_PASS);
  EXPECT_EQ(r->out, in);
  EXPECT_EQ(packets(*w->fwd, 12, VANE_R_LOCAL), 1u) << "moved:" << counters_moved(*w->fwd);

  const uint16_t other = uint16_t(cport + 1);
  r = run_xdp(w->fwd->prog_fd(), from_router(kEthIp6, pkt(other)), w->veth0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_TX);
  Bytes want = encap4(pkt(other), 41, {S1}, h6(other, 8443, kTcp, "2001:db8:100::11"), server_mac(2));
  EXPECT_EQ(r->out, want) << "got:\n" << hex(r->out) << "\nwant:\n" << hex(want);
  EXPECT_EQ(packets(*w->fwd, 12, VANE_R_FORWARDED), 1u);
}

TEST(ForwarderLoader, RejectsBadInput) {
  VANE_WORLD_OR_SKIP(w);
  EXPECT_FALSE(w->fwd->set_table(VANE_MAX_TABLES, xdp::Table(3, {1u, 2u})));
  EXPECT_FALSE(w->fwd->set_table(0, xdp::Table{}));
  EXPECT_FALSE(w->fwd->set_table(0, xdp::Table(1000, {1u, 2u})));  // > max_buckets (257)
  EXPECT_FALSE(w->fwd->set_table(0, xdp::Table(3, {VANE_MAX_SERVERS, 2u})));
  xdp::Options o;
  o.config = world_config();
  o.config.mtu = 1300;
  EXPECT_FALSE(xdp::Loader::open(o));
  o.config = world_config();
  o.config.self_v4.reset();
  o.config.self_v6.reset();
  EXPECT_FALSE(xdp::Loader::open(o));
}

}  // namespace
}  // namespace vane::test
