// Network probes against servers the tests start on loopback, port 0.
#include "health/probe.h"

#include <gtest/gtest.h>

#include <set>

#include "health/test_util.h"

namespace vane::health {
namespace {

using namespace std::chrono_literals;
using namespace test;

ProbeSpec tcp_spec(uint16_t port, std::chrono::milliseconds timeout = 5000ms) {
  ProbeSpec s = loopback_spec(timeout);
  s.kind = TcpSpec{port};
  return s;
}

ProbeSpec http_spec(uint16_t port, uint32_t status = 200, std::string body = {},
                    std::chrono::milliseconds timeout = 5000ms) {
  ProbeSpec s = loopback_spec(timeout);
  HttpSpec h;
  h.port = port;
  h.path = "/healthz";
  h.expect_status = status;
  h.expect_body = std::move(body);
  h.host = "vip.example:" + std::to_string(port);
  s.kind = h;
  return s;
}

ProbeSpec dns_spec(uint16_t port, uint8_t rcode = 0, std::chrono::milliseconds timeout = 5000ms) {
  ProbeSpec s = loopback_spec(timeout);
  s.kind = DnsSpec{port, "health.example", 1, rcode};
  return s;
}

ProbeSpec agent_spec(uint16_t port, std::chrono::milliseconds timeout = 5000ms) {
  ProbeSpec s = loopback_spec(timeout);
  s.kind = AgentSpec{port};
  return s;
}

// --- tcp ------------------------------------------------------------------------------------------

TEST(TcpProbe, SucceedsAgainstAListener) {
  asio::io_context io;
  TcpServer server(io, [](auto) {});
  auto r = probe_once(io, tcp_spec(server.port()));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  EXPECT_GT(r->latency.count(), 0);
  run_until(io, [&] { return server.accepted() == 1; });
  EXPECT_EQ(server.accepted(), 1);
}

TEST(TcpProbe, FailsWhenConnectionRefused) {
  asio::io_context io;
  auto r = probe_once(io, tcp_spec(closed_tcp_port(io)));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("connect"), std::string::npos) << r->detail;
}

TEST(TcpProbe, BindsTheSourceAddress) {
  asio::io_context io;
  std::optional<asio::ip::tcp::endpoint> peer;
  TcpServer server(io, [&](std::shared_ptr<asio::ip::tcp::socket> s) { peer = s->remote_endpoint(); });
  ProbeSpec spec = tcp_spec(server.port());
  spec.source = asio::ip::make_address("127.0.0.1");
  auto r = probe_once(io, spec);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  run_until(io, [&] { return peer.has_value(); });
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->address().to_string(), "127.0.0.1");
}

TEST(TcpProbe, FailsWhenTheSourceAddressCannotBeBound) {
  asio::io_context io;
  TcpServer server(io, [](auto) {});
  ProbeSpec spec = tcp_spec(server.port());
  spec.source = asio::ip::make_address("192.0.2.77");  // not on this machine
  bool synchronous = true;
  std::optional<Result> r;
  auto p = start_probe(io, spec, [&](Result res) { r = std::move(res); });
  synchronous = r.has_value();
  run_until(io, [&] { return r.has_value(); });
  EXPECT_FALSE(synchronous);  // callbacks never run inside start_probe
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
}

TEST(TcpProbe, WorksOverIpv6Loopback) {
  asio::io_context io;
  std::unique_ptr<TcpServer> server;
  try {
    server = std::make_unique<TcpServer>(
        io, [](auto) {}, "::1");
  } catch (const boost::system::system_error&) {
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  ProbeSpec spec = tcp_spec(server->port());
  spec.address = asio::ip::make_address("::1");
  auto r = probe_once(io, spec);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
}

TEST(TcpProbe, CancelSuppressesTheCallback) {
  asio::io_context io;
  TcpServer server(io, [](auto) {});
  bool called = false;
  auto p = start_probe(io, tcp_spec(server.port()), [&](Result) { called = true; });
  p->cancel();
  p->cancel();
  run_until(
      io, [] { return false; }, 200ms);
  EXPECT_FALSE(called);
}

// --- http -----------------------------------------------------------------------------------------

TEST(HttpProbe, SucceedsOnExpectedStatusAndSendsAWellFormedRequest) {
  asio::io_context io;
  HttpServer server(io, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  auto r = probe_once(io, http_spec(server.port()));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  EXPECT_EQ(r->detail, "status 200");
  ASSERT_EQ(server.requests.size(), 1u);
  const std::string& req = server.requests[0];
  EXPECT_TRUE(req.starts_with("GET /healthz HTTP/1.0\r\n")) << req;
  EXPECT_NE(req.find("\r\nHost: vip.example:" + std::to_string(server.port()) + "\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nConnection: close\r\n"), std::string::npos) << req;
}

TEST(HttpProbe, FailsOnWrongStatus) {
  asio::io_context io;
  HttpServer server(io, "HTTP/1.1 503 Service Unavailable\r\n\r\nbusy");
  auto r = probe_once(io, http_spec(server.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->detail, "status 503, expected 200");
}

TEST(HttpProbe, ChecksANonDefaultExpectedStatus) {
  asio::io_context io;
  HttpServer server(io, "HTTP/1.0 204 No Content\r\n\r\n");
  auto r = probe_once(io, http_spec(server.port(), 204));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
}

TEST(HttpProbe, SucceedsWhenBodyContainsExpectedText) {
  asio::io_context io;
  HttpServer server(io, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstatus: SERVING\n");
  auto r = probe_once(io, http_spec(server.port(), 200, "SERVING"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
}

TEST(HttpProbe, FailsOnBodyMismatch) {
  asio::io_context io;
  HttpServer server(io, "HTTP/1.1 200 OK\r\nX-State: SERVING\r\n\r\nstatus: NOT_SERVING\n");
  auto r = probe_once(io, http_spec(server.port(), 200, "status: SERVING"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("body does not contain"), std::string::npos) << r->detail;
}

TEST(HttpProbe, BodyMatchIsNotFooledByHeaders) {
  asio::io_context io;
  HttpServer server(io, "HTTP/1.1 200 OK\r\nX-State: SERVING\r\n\r\nnope");
  auto r = probe_once(io, http_spec(server.port(), 200, "SERVING"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
}

TEST(HttpProbe, ReadsAtMostTheLimitWhenLookingForTheBody) {
  asio::io_context io;
  HttpServer server(io, "HTTP/1.1 200 OK\r\n\r\n" + std::string(kHttpMaxRead * 2, 'x') + "NEEDLE");
  auto r = probe_once(io, http_spec(server.port(), 200, "NEEDLE"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("first 65536 bytes"), std::string::npos) << r->detail;
}

TEST(HttpProbe, FailsOnAResponseThatIsNotHttp) {
  asio::io_context io;
  HttpServer server(io, "SSH-2.0-OpenSSH_9.2\r\n");
  auto r = probe_once(io, http_spec(server.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("malformed status line"), std::string::npos) << r->detail;
}

TEST(HttpProbe, FailsOnEmptyResponse) {
  asio::io_context io;
  HttpServer server(io, "");
  auto r = probe_once(io, http_spec(server.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
}

TEST(HttpProbe, TimesOutAgainstAServerThatNeverAnswers) {
  asio::io_context io;
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> held;
  TcpServer silent(io, [&](std::shared_ptr<asio::ip::tcp::socket> s) { held.push_back(std::move(s)); });
  auto r = probe_once(io, http_spec(silent.port(), 200, {}, 300ms));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("timed out after 300 ms waiting for the response"), std::string::npos) << r->detail;
}

TEST(HttpProbe, FailsWhenConnectionRefused) {
  asio::io_context io;
  auto r = probe_once(io, http_spec(closed_tcp_port(io)));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
}

// --- dns ------------------------------------------------------------------------------------------

TEST(DnsProbe, SucceedsWhenRcodeMatches) {
  asio::io_context io;
  DnsResponder server(io, 0);
  auto r = probe_once(io, dns_spec(server.port()));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  EXPECT_EQ(server.queries, 1);
  // The query asks for health.example A IN, recursion desired.
  ASSERT_GE(server.last_query.size(), 12u);
  EXPECT_EQ(server.last_query[2], 0x01);
  EXPECT_EQ(server.last_query[13], 'h');
}

TEST(DnsProbe, FailsOnRcodeMismatch) {
  asio::io_context io;
  DnsResponder server(io, 2);  // SERVFAIL
  auto r = probe_once(io, dns_spec(server.port(), 0));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("rcode SERVFAIL, expected NOERROR"), std::string::npos) << r->detail;
}

TEST(DnsProbe, ExpectedNxdomainIsHealthy) {
  asio::io_context io;
  DnsResponder server(io, 3);
  auto r = probe_once(io, dns_spec(server.port(), 3));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
}

TEST(DnsProbe, IgnoresAReplyWithAnotherId) {
  asio::io_context io;
  DnsResponder server(io, 3, false, /*decoy_first=*/true);
  auto r = probe_once(io, dns_spec(server.port(), 0));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);  // the decoy said NOERROR; the real reply says NXDOMAIN
  EXPECT_NE(r->detail.find("NXDOMAIN"), std::string::npos) << r->detail;
}

TEST(DnsProbe, QueryIdsVary) {
  asio::io_context io;
  DnsResponder server(io, 0);
  std::set<uint16_t> ids;
  for (int i = 0; i < 8; ++i) {
    probe_once(io, dns_spec(server.port()));
    ids.insert(static_cast<uint16_t>(server.last_query[0] << 8 | server.last_query[1]));
  }
  EXPECT_GT(ids.size(), 1u);
}

TEST(DnsProbe, TimesOutWhenNobodyAnswers) {
  asio::io_context io;
  DnsResponder server(io, 0, /*silent=*/true);
  auto r = probe_once(io, dns_spec(server.port(), 0, 300ms));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("timed out"), std::string::npos) << r->detail;
}

TEST(DnsProbe, FailsFastOnPortUnreachable) {
  asio::io_context io;
  uint16_t port;
  {
    asio::ip::udp::socket s(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = s.local_endpoint().port();
  }
  auto r = probe_once(io, dns_spec(port, 0, 3000ms));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("receive"), std::string::npos) << r->detail;
}

// --- agent ----------------------------------------------------------------------------------------

TEST(AgentProbe, UpWithWeight) {
  asio::io_context io;
  AgentServer agent(io, "up 75%\n");
  auto r = probe_once(io, agent_spec(agent.port()));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  EXPECT_EQ(r->weight, 75u);
  EXPECT_FALSE(r->drain);
  EXPECT_EQ(r->detail, "agent: up 75%");
}

TEST(AgentProbe, DrainIsHealthyButAsksForDrain) {
  asio::io_context io;
  AgentServer agent(io, "drain\r\n");
  auto r = probe_once(io, agent_spec(agent.port()));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok);
  EXPECT_TRUE(r->drain);
}

TEST(AgentProbe, DownAndMaintFail) {
  asio::io_context io;
  AgentServer agent(io, "down#overloaded\n");
  auto r = probe_once(io, agent_spec(agent.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  agent.set_line("maint\n");
  r = probe_once(io, agent_spec(agent.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
}

TEST(AgentProbe, ReplyWithoutNewlineBeforeCloseCounts) {
  asio::io_context io;
  AgentServer agent(io, "ready 40%");
  auto r = probe_once(io, agent_spec(agent.port()));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  EXPECT_EQ(r->weight, 40u);
}

TEST(AgentProbe, GarbageAndSilenceFail) {
  asio::io_context io;
  AgentServer garbage(io, "\x01\x02 hello\n");
  auto r = probe_once(io, agent_spec(garbage.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("unrecognised"), std::string::npos) << r->detail;

  AgentServer empty(io, "");
  r = probe_once(io, agent_spec(empty.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
}

TEST(AgentProbe, OverlongReplyFails) {
  asio::io_context io;
  AgentServer agent(io, std::string(kAgentMaxLine * 4, 'u'));
  auto r = probe_once(io, agent_spec(agent.port()));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
}

TEST(AgentProbe, TimesOutWhenTheAgentSaysNothing) {
  asio::io_context io;
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> held;
  TcpServer silent(io, [&](std::shared_ptr<asio::ip::tcp::socket> s) { held.push_back(std::move(s)); });
  auto r = probe_once(io, agent_spec(silent.port(), 300ms));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("timed out"), std::string::npos) << r->detail;
}

// --- spec from config -----------------------------------------------------------------------------

TEST(ProbeSpecFromConfig, AppliesDefaults) {
  config::Check c;
  c.set_name("web");
  c.mutable_http()->set_port(8080);
  auto s = make_probe_spec(c, "203.0.113.10");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->address.to_string(), "203.0.113.10");
  EXPECT_EQ(s->timeout, 1000ms);
  const auto& h = std::get<HttpSpec>(s->kind);
  EXPECT_EQ(h.path, "/");
  EXPECT_EQ(h.expect_status, 200u);
  EXPECT_EQ(h.host, "203.0.113.10:8080");
}

TEST(ProbeSpecFromConfig, TimeoutDefaultsToIntervalWhenShorter) {
  config::Check c;
  c.mutable_tcp()->set_port(80);
  c.set_interval_ms(300);
  auto s = make_probe_spec(c, "2001:db8::1");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->timeout, 300ms);
  c.clear_interval_ms();
  c.set_timeout_ms(50);
  EXPECT_EQ(make_probe_spec(c, "2001:db8::1")->timeout, 50ms);
}

TEST(ProbeSpecFromConfig, CheckAddressOverridesVipAndIpv6HostIsBracketed) {
  config::Check c;
  c.mutable_http()->set_port(80);
  c.set_address("2001:db8::5");
  auto s = make_probe_spec(c, "203.0.113.10");
  ASSERT_TRUE(s);
  EXPECT_EQ(std::get<HttpSpec>(s->kind).host, "[2001:db8::5]");
}

TEST(ProbeSpecFromConfig, DnsDefaults) {
  config::Check c;
  c.mutable_dns()->set_query_name("example.org");
  auto s = make_probe_spec(c, "203.0.113.10");
  ASSERT_TRUE(s) << s.error();
  const auto& d = std::get<DnsSpec>(s->kind);
  EXPECT_EQ(d.port, 53);
  EXPECT_EQ(d.qtype, 1);
  c.mutable_dns()->set_query_type("SRV");
  EXPECT_EQ(std::get<DnsSpec>(make_probe_spec(c, "203.0.113.10")->kind).qtype, 33);
}

TEST(ProbeSpecFromConfig, RefusesWhatCannotRun) {
  config::Check c;
  EXPECT_FALSE(make_probe_spec(c, "203.0.113.10"));  // no kind
  c.mutable_tcp()->set_port(80);
  EXPECT_FALSE(make_probe_spec(c, ""));  // nowhere to connect
  EXPECT_FALSE(make_probe_spec(c, "not-an-ip"));
  c.set_source_address("2001:db8::1");
  EXPECT_FALSE(make_probe_spec(c, "203.0.113.10"));  // family mismatch
  c.clear_source_address();
  c.mutable_tcp()->set_port(70000);
  EXPECT_FALSE(make_probe_spec(c, "203.0.113.10"));
  c.mutable_dns()->set_query_type("AXFR");
  EXPECT_FALSE(make_probe_spec(c, "203.0.113.10"));
  c.mutable_http()->set_port(80);
  c.mutable_http()->set_path("/a b");
  EXPECT_FALSE(make_probe_spec(c, "203.0.113.10"));
  c.mutable_exec()->set_command("");
  EXPECT_FALSE(make_probe_spec(c, ""));
  c.mutable_exec()->set_command("true");
  EXPECT_TRUE(make_probe_spec(c, ""));  // exec needs no address
}

}  // namespace
}  // namespace vane::health
