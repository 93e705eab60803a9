// Writes the seed corpora under tests/fuzz/seeds/<target>/ from golden messages built with the
// codec itself (the same shapes the unit tests pin byte for byte). Run by `scripts/fuzz --seeds`.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bgp/wire/hex.h"
#include "bgp/wire/message.h"
#include "fuzz_support.h"

using namespace vane::bgp::wire;
namespace fs = std::filesystem;

namespace {

fs::path g_root;

void write(const std::string& target, const std::string& name, const std::vector<uint8_t>& bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
}

std::vector<uint8_t> H(const char* hex) {
  return from_hex(hex).value();
}

std::vector<uint8_t> with_context(const DecodeContext& ctx, std::vector<uint8_t> bytes) {
  bytes.insert(bytes.begin(), fuzz::context_byte(ctx));
  return bytes;
}

std::vector<uint8_t> body_of(const std::vector<uint8_t>& msg) {
  return {msg.begin() + kHeaderLength, msg.end()};
}

WirePrefix P(const char* text) {
  return WirePrefix::from(*vane::Prefix::parse(text)).value();
}
vane::IpAddress A(const char* text) {
  return *vane::IpAddress::parse(text);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SEED_DIR\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  DecodeContext four, two, ibgp;
  two.four_byte_as = false;
  ibgp.is_ebgp = false;

  Capabilities caps;
  caps.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
  caps.route_refresh = caps.enhanced_route_refresh = caps.extended_message = true;
  GracefulRestart gr;
  gr.flags = GracefulRestart::kRestartState;
  gr.restart_time = 120;
  gr.families = {{kIpv4Unicast, GracefulRestart::kForwardingPreserved}, {kIpv6Unicast, 0}};
  caps.graceful_restart = gr;
  caps.unknown = {{73, {4, 'h', 'o', 's', 't', 0}}};
  const auto open = encode_open(OpenMessage::make(65001, 90, 0xc0000201, caps));
  const auto open4 = encode_open(OpenMessage::make(4200000001u, 180, 0xc0000202, {}));
  Capabilities big;
  big.unknown = {{200, std::vector<uint8_t>(200, 1)}, {201, std::vector<uint8_t>(100, 2)}};
  const auto open_ext = encode_open(OpenMessage::make(65001, 90, 1, big));

  PathAttributes v4;
  v4.as_path = AsPath::sequence({65001, 4200000001u});
  v4.next_hop = A("192.0.2.1");
  v4.med = 100;
  v4.local_pref = 200;
  v4.atomic_aggregate = true;
  v4.aggregator = Aggregator{4200000001u, 0xc0000209};
  v4.communities = {0xfde90064, 0xffff0000};
  v4.ext_communities = {{0x0002fde900000064ull}};
  v4.large_communities = {{65001, 1, 2}};
  v4.unknown = {{99, {0xaa, 0xbb}}};
  PathAttributes v6;
  v6.as_path = AsPath::sequence({65001});
  v6.mp_next_hop = A("2001:db8::1");
  v6.mp_link_local = A("fe80::1");
  const WirePrefix p4[] = {P("203.0.113.0/24"), P("198.51.100.128/25"), P("192.0.2.1/32"), P("0.0.0.0/0")};
  const WirePrefix p6[] = {P("2001:db8:1::/48"), P("2001:db8::/32"), P("2001:db8::1/128")};
  EncodeContext ibgp_send, two_send;
  ibgp_send.is_ebgp = false;
  two_send.four_byte_as = false;
  two_send.is_ebgp = false;

  std::vector<uint8_t> ann4, ann4_two, ann6, wd4, wd6, eor4, eor6;
  (void)encode_announce(v4, p4, ibgp_send, ann4);
  (void)encode_announce(v4, p4, two_send, ann4_two);
  (void)encode_announce(v6, p6, EncodeContext{}, ann6);
  (void)encode_withdraw(p4, EncodeContext{}, wd4);
  (void)encode_withdraw(p6, EncodeContext{}, wd6);
  encode_end_of_rib(kIpv4Unicast, eor4);
  encode_end_of_rib(kIpv6Unicast, eor6);
  const auto keepalive = encode_keepalive();
  const auto shutdown = encode_notification(make_shutdown(CeaseSubcode::administrative_shutdown, "maintenance"));
  const auto borr = encode_route_refresh({kIpv6Unicast, uint8_t(RouteRefreshSubtype::begin)});

  // Whole messages (one context byte first).
  write("bgp_message", "keepalive", with_context(four, keepalive));
  write("bgp_message", "open", with_context(four, open));
  write("bgp_message", "open_as4", with_context(four, open4));
  write("bgp_message", "open_extended_params", with_context(four, open_ext));
  write("bgp_message", "update_ipv4", with_context(ibgp, ann4));
  write("bgp_message", "update_two_byte_as", with_context(two, ann4_two));
  write("bgp_message", "update_ipv6", with_context(four, ann6));
  write("bgp_message", "withdraw_ipv4", with_context(four, wd4));
  write("bgp_message", "withdraw_ipv6", with_context(four, wd6));
  write("bgp_message", "eor_ipv4", with_context(four, eor4));
  write("bgp_message", "eor_ipv6", with_context(four, eor6));
  write("bgp_message", "notification_shutdown", with_context(four, shutdown));
  write("bgp_message", "route_refresh_borr", with_context(four, borr));
  std::vector<uint8_t> stream = open;
  const std::vector<uint8_t>* rest[] = {&keepalive, &ann4, &ann6, &wd6, &eor4, &borr, &shutdown};
  for (const auto* m : rest) stream.insert(stream.end(), m->begin(), m->end());
  write("bgp_message", "session_stream", with_context(ibgp, stream));

  // UPDATE bodies.
  write("bgp_update", "ipv4", with_context(ibgp, body_of(ann4)));
  write("bgp_update", "two_byte_as", with_context(two, body_of(ann4_two)));
  write("bgp_update", "ipv6", with_context(four, body_of(ann6)));
  write("bgp_update", "withdraw_ipv4", with_context(four, body_of(wd4)));
  write("bgp_update", "withdraw_ipv6", with_context(four, body_of(wd6)));
  write("bgp_update", "eor_ipv6", with_context(four, body_of(eor6)));
  write("bgp_update", "malformed_origin",
        with_context(four, H("0000 0014 40010103 40020602010000fde9 4003 04c0000201 18cb0071")));

  // Single attributes: flags, type, value.
  auto attribute = [&](const char* name, const DecodeContext& ctx, const char* hex) {
    write("bgp_attribute", name, with_context(ctx, H(hex)));
  };
  attribute("origin", four, "40 01 00");
  attribute("as_path", four, "40 02 02 02 0000fde9 fa56ea01");
  attribute("as_path_set_confed", four, "40 02 03 02 0000fc00 01 01 0000fde9");
  attribute("as_path_two_byte", two, "40 02 02 03 fde9 5ba0");
  attribute("as4_path", two, "c0 11 02 02 0000fde9 fa56ea01");
  attribute("as4_aggregator", two, "c0 12 fa56ea01 c0000209");
  attribute("med", four, "80 04 00000064");
  attribute("local_pref", ibgp, "40 05 000000c8");
  attribute("atomic_aggregate", four, "40 06");
  attribute("aggregator", four, "c0 07 0000fde9 c0000209");
  attribute("aggregator_two_byte", two, "c0 07 fde9 c0000209");
  attribute("communities", four, "c0 08 fde90064 ffff0000");
  attribute("originator_id", ibgp, "80 09 c0000201");
  attribute("cluster_list", ibgp, "80 0a c0000201 c0000202");
  attribute("mp_reach_ipv6", four,
            "80 0e 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 30 20010db80001");
  attribute("mp_reach_ipv4", four, "80 0e 0001 01 04 c0000201 00 18 cb0071");
  attribute("mp_unreach_ipv6", four, "80 0f 0002 01 30 20010db80001");
  attribute("ext_communities", four, "c0 10 0002fde900000064");
  attribute("large_communities", four, "c0 20 0000fde9 00000001 00000002");
  attribute("unknown_transitive", four, "c0 63 aabb");

  // NLRI runs: family byte (0 IPv4, 1 IPv6), then prefixes.
  write("bgp_nlri", "ipv4", H("00 18cb0071 19c6336480 00 20c0000201"));
  write("bgp_nlri", "ipv6", H("01 30 20010db80001 80 20010db8000000000000000000000001 00"));

  // OPEN bodies.
  write("bgp_open", "typical", body_of(open));
  write("bgp_open", "as4", body_of(open4));
  write("bgp_open", "extended_params", body_of(open_ext));
  write("bgp_open", "rfc9072_short", H("04 fde9 005a c0000201 ff ff 000b 02 0008 0200 41040000fde9"));
  return 0;
}
