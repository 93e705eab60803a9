#include "cli/render.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "cli/sample.h"

namespace vane::cli {
namespace {

TEST(Table, AlignsPadsAndTrimsTrailingBlanks) {
  Table t({"A", "Num", "Last"}, {Table::Align::left, Table::Align::right});
  t.add({"long-cell", "7", ""});
  t.add({"x", "12345", "end"});
  t.add({"short"});  // missing cells are empty
  EXPECT_EQ(t.str(),
            "A            Num  Last\n"
            "long-cell      7\n"
            "x          12345  end\n"
            "short\n");
}

TEST(Table, CountsUtf8CodePoints) {
  Table t({"Name", "X"});
  t.add({"zürich", "1"});
  t.add({"abc", "2"});
  EXPECT_EQ(t.str(),
            "Name    X\n"
            "zürich  1\n"
            "abc     2\n");
}

TEST(Render, Durations) {
  EXPECT_EQ(format_duration(0), "00:00:00");
  EXPECT_EQ(format_duration(59), "00:00:59");
  EXPECT_EQ(format_duration(3600 + 61), "01:01:01");
  EXPECT_EQ(format_duration(86399), "23:59:59");
  EXPECT_EQ(format_duration(86400), "1d 00:00:00");
  EXPECT_EQ(format_duration(400 * 86400 + 7), "400d 00:00:07");
}

TEST(Render, Neighbors) {
  EXPECT_EQ(render_text(sample::neighbors()),
            "Name            Address             ASN  State             Uptime  Sent  Rcvd  LastError\n"
            "tor1            192.0.2.1         65001  Established  3d 05:02:07     4     0  -\n"
            "tor2-long-name  2001:db8::2  4200000002  Idle(Admin)            -     0     0  "
            "NOTIFICATION sent 6/2 (Administrative Shutdown: maintenance)\n"
            "tor3            192.0.2.3         65001  Active                 -     0     0  hold timer expired\n");
}

TEST(Render, NeighborDetail) {
  control::NeighborsReply one;
  *one.add_neighbors() = sample::neighbors().neighbors().neighbors(1);
  EXPECT_EQ(render_neighbors(one, true),
            "Neighbor           tor2-long-name\n"
            "Description        -\n"
            "Address            2001:db8::2\n"
            "Remote AS          4200000002\n"
            "State              Idle (admin shutdown)\n"
            "Uptime             -\n"
            "Families           -\n"
            "Prefixes sent      0\n"
            "Prefixes received  0\n"
            "Routes discarded   0\n"
            "Send queue         0 bytes\n"
            "Last error         -\n"
            "Last notification  NOTIFICATION sent 6/2 (Administrative Shutdown: maintenance), 00:01:15 ago\n");
}

TEST(Render, Routes) {
  EXPECT_EQ(render_text(sample::routes()),
            "Prefix             State      MED  Prepend  Communities          Reasons\n"
            "192.0.2.0/24       announced   10        0  65000:100 65000:1:2  web: healthy (2/2 checks up)\n"
            "2001:db8:100::/48  withdrawn    -        2  -                    dns: check udp53 down; dns: drained\n"
            "198.51.100.0/24    draining     0        0  -                    -\n");
}

TEST(Render, Services) {
  EXPECT_EQ(render_text(sample::services()),
            "Name  Health  Drained  Checks  VIPs                           Prefixes\n"
            "web   up      no          2/2  192.0.2.10,tcp/192.0.2.11:443  192.0.2.0/24\n"
            "dns   down    yes         1/3  -                              -\n");
}

TEST(Render, Health) {
  EXPECT_EQ(render_text(sample::health()),
            "Service  Check   Kind  Verdict  Last  Latency  Transitions  Weight  Detail\n"
            "web      http80  http  up       ok      1.2ms            1       1  200 OK\n"
            "dns      udp53   dns   down     fail   1000ms           12      10  timeout after 1s\n"
            "dns      peer    peer  unknown  fail    0.0ms            0       0  -\n");
}

TEST(Render, Site) {
  EXPECT_EQ(render_text(sample::site()),
            "Table generation 42, 65537 buckets; site health on (port 6081, authenticated)\n"
            "\n"
            "Name  Address   Role     Weight  Reach        Self\n"
            "s1    10.0.0.1  both        100  self         *\n"
            "s2    10.0.0.2  backend       0  unreachable\n"
            "\n"
            "Service  Server  Weight  State\n"
            "web      s1         100  up\n"
            "web      s2           0  unreachable\n"
            "\n"
            "s2: connect: Connection refused\n"
            "s2: refused replies: bad_mac 3, replay 1 (last: bad_mac)\n"
            "service web: 1 healthy server(s), needs 2: WITHDRAWN (too few healthy servers)\n");
}

TEST(Render, SiteAgentNotListeningSaysSo) {
  control::Response r = sample::site();
  r.mutable_site()->set_agent_listening(false);
  r.mutable_site()->set_agent_error("listen on 192.0.2.12 port 6081: Address already in use");
  const std::string text = render_text(r);
  EXPECT_EQ(
      text.substr(0, text.find("\n\n") + 2),
      "Table generation 42, 65537 buckets; site health on (port 6081, authenticated)\n"
      "site agent NOT LISTENING: listen on 192.0.2.12 port 6081: Address already in use; this server counts itself "
      "down and withdraws (retrying)\n\n");
}

TEST(Render, SiteAgentRefusedConnectionsAreCountedByReason) {
  control::Response r = sample::site();
  for (auto [reason, n] : {std::pair{"not_a_site_server", 12}, {"per_source_limit", 3}, {"too_many_clients", 0}}) {
    auto* c = r.mutable_site()->add_agent_refused();
    c->set_reason(reason);
    c->set_count(n);
  }
  const std::string text = render_text(r);
  EXPECT_NE(text.find("\nsite agent refused connections: not_a_site_server 12, per_source_limit 3\n"),
            std::string::npos)
      << text;
}

TEST(Render, SiteLoadDrivenWeights) {
  control::Response r = sample::site();
  auto* a = r.mutable_site()->mutable_servers(0);
  a->set_load(true);
  a->set_load_weight(148);
  a->set_utilisation_permille(412);
  a->set_load_reason("dead band");
  a->set_load_mean_permille(403);
  auto* b = r.mutable_site()->mutable_servers(1);
  b->set_load(true);
  b->set_load_weight(74);
  b->set_utilisation_permille(-1);
  b->set_load_mean_permille(-1);
  const std::string text = render_text(r);
  EXPECT_NE(text.find("\nLoad-driven weights\n"
                      "Server  Utilisation  Published  Why\n"
                      "s1            41.2%        148  dead band (site mean 40.3%)\n"
                      "s2                -         74  -\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(render_text(sample::site()).find("Load-driven"), std::string::npos) << "nothing when no server publishes";
}

TEST(Render, ForwardingKnownReasonsFirstThenNewOnes) {
  EXPECT_EQ(render_text(sample::forwarding()),
            "VIP           Proto  Port  Passed  Local  Forwarded  TooBig  NoTable  Malformed  Errors  ttl_exceeded\n"
            "192.0.2.10    tcp     443    1000      7    2500000       -        -          -       0             -\n"
            "2001:db8::53  udp       *       5      -          -       -        -          -       -             3\n");
}

TEST(Render, EmptyViewsPrintTheirHeader) {
  control::Response r;
  r.mutable_neighbors();
  EXPECT_EQ(render_text(r), "Name  Address  ASN  State  Uptime  Sent  Rcvd  LastError\n");
}

TEST(Render, Action) {
  control::Response r;
  r.mutable_action()->set_message("reloaded /etc/vane/vaned.conf");
  r.mutable_action()->add_changes("neighbor tor3: added");
  r.mutable_action()->add_changes("service dns: check udp53 changed");
  EXPECT_EQ(render_text(r),
            "reloaded /etc/vane/vaned.conf\n"
            "  neighbor tor3: added\n"
            "  service dns: check udp53 changed\n");
  r.mutable_action()->Clear();
  EXPECT_EQ(render_text(r), "ok\n");
}

TEST(Render, ErrorWithDetails) {
  control::Response r;
  r.set_error("reload refused: 2 errors in /etc/vane/vaned.conf; nothing changed");
  r.set_code(control::ERROR_CODE_INVALID_CONFIG);
  auto* d = r.add_error_details();
  d->set_file("/etc/vane/vaned.conf");
  d->set_line(12);
  d->set_column(5);
  d->set_message("unknown field \"neighbour\"");
  r.add_error_details()->set_message("no neighbor configured");
  EXPECT_EQ(render_error(r),
            "error: reload refused: 2 errors in /etc/vane/vaned.conf; nothing changed\n"
            "  /etc/vane/vaned.conf:12:5: unknown field \"neighbour\"\n"
            "  no neighbor configured\n");
}

TEST(Render, JsonIsTheProtobufMapping) {
  control::Response r = sample::site();
  r.set_version(1u << 16);
  EXPECT_EQ(
      render_json(r),
      "{\"version\":65536,\"error\":\"\",\"error_details\":[],\"code\":\"ERROR_CODE_UNSPECIFIED\","
      "\"site\":{\"servers\":[{\"name\":\"s1\",\"address\":\"10.0.0.1\",\"weight\":100,\"healthy\":true,"
      "\"is_self\":true,\"reach\":\"self\",\"error\":\"\",\"services\":[{\"service\":\"web\",\"weight\":100,"
      "\"healthy\":true,\"state\":\"up\"}],\"role\":\"FORWARD_AND_SERVE\",\"refusal\":\"\",\"refused\":[],"
      "\"load\":false,\"load_weight\":0,\"utilisation_permille\":0,\"load_reason\":\"\",\"load_mean_permille\":0},"
      "{\"name\":\"s2\",\"address\":\"10.0.0.2\","
      "\"weight\":0,\"healthy\":false,\"is_self\":false,\"reach\":\"unreachable\",\"error\":\"connect: Connection "
      "refused\",\"services\":[{\"service\":\"web\",\"weight\":0,\"healthy\":false,\"state\":\"unreachable\"}],"
      "\"role\":\"BACKEND_ONLY\",\"refusal\":\"bad_mac\",\"refused\":[{\"reason\":\"bad_mac\",\"count\":\"3\"},"
      "{\"reason\":\"replay\",\"count\":\"1\"}],"
      "\"load\":false,\"load_weight\":0,\"utilisation_permille\":0,\"load_reason\":\"\",\"load_mean_permille\":0}],"
      "\"table_generation\":\"42\",\"table_size\":65537,\"site_health\":true,"
      "\"site_port\":6081,\"services\":[{\"service\":\"web\",\"healthy_servers\":1,\"min_healthy_servers\":2,"
      "\"gate_open\":false}],\"auth\":\"authenticated\",\"key_ids\":[\"0123456789abcdef\"],\"agent_listening\":true,"
      "\"agent_error\":\"\",\"agent_bad_requests\":\"0\",\"agent_refused\":[]}}\n");
}

TEST(Render, JsonRoundTripsEveryView) {
  for (const auto& r : {sample::neighbors(), sample::routes(), sample::services(), sample::health(), sample::site(),
                        sample::forwarding()}) {
    const std::string json = render_json(r);
    ASSERT_EQ(json.back(), '\n');
    control::Response back;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok()) << json;
    // Compared as messages: map entries have no wire order.
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, r)) << json;
  }
  // Field names as in the .proto; zero values printed; enums by name; explicit-presence MED kept.
  const std::string n = render_json(sample::neighbors());
  EXPECT_NE(n.find("\"remote_asn\":65001"), std::string::npos);
  EXPECT_NE(n.find("\"prefixes_received\":\"0\""), std::string::npos);
  EXPECT_NE(n.find("\"last_error\":\"\""), std::string::npos);
  const std::string rt = render_json(sample::routes());
  EXPECT_NE(rt.find("\"state\":\"ROUTE_STATE_DRAINING\""), std::string::npos);
  EXPECT_NE(rt.find("\"med\":0"), std::string::npos);
}

}  // namespace
}  // namespace vane::cli

namespace vane::cli {
namespace {

TEST(RenderReceived, ListsKeptRoutesAndSaysWhenOnlyCounted) {
  control::ReceivedReply r;
  r.set_neighbor("tor1");
  r.set_total(3);
  auto* a = r.add_routes();
  a->set_prefix("198.51.100.0/30");
  a->set_attributes("origin igp as-path 65000 next-hop 192.0.2.1");
  auto* b = r.add_routes();
  b->set_prefix("198.51.100.4/30");
  b->set_stale(true);
  EXPECT_EQ(render_received(r),
            "neighbor tor1: 3 route(s) held, first 2 shown\n"
            "Prefix           Stale  Attributes\n"
            "198.51.100.0/30         origin igp as-path 65000 next-hop 192.0.2.1\n"
            "198.51.100.4/30  stale  -\n");
  control::ReceivedReply c;
  c.set_neighbor("tor2");
  c.set_total(20);
  c.set_count_only(true);
  EXPECT_EQ(render_received(c),
            "neighbor tor2: 20 route(s) held (counted only: set keep_received_routes to keep them)\n");
}

}  // namespace
}  // namespace vane::cli
