// Site agent and poller over real loopback TCP: a peer's report arrives, a dead or lying peer
// becomes unreachable, the agent never listens on a wildcard and bounds its connections.
#include <gtest/gtest.h>

#include "health/site_agent.h"
#include "test_util.h"

namespace vane::health {
namespace {

using namespace std::chrono_literals;
using test::run_until;
namespace asio = boost::asio;

// A port free on 127.0.0.1 right now (the agent needs the same port on every server).
uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

SiteSettings fast(uint16_t port) { return {port, 50ms, 500ms, 1, 2}; }

struct Pair {
  asio::io_context io;
  test::FakeClock clock;
  SiteReport a_report{"a", {{"web", {SiteService::State::Up, 100}}}};
  int changes = 0;
  std::unique_ptr<SiteAgent> a, b;
  uint16_t port = free_port();

  Pair() {
    a = std::make_unique<SiteAgent>(io, clock, [this] { return a_report; }, [] {});
    b = std::make_unique<SiteAgent>(io, clock, [] { return SiteReport{"b", {}}; }, [this] { ++changes; });
  }
  const PeerStatus* a_seen_by_b() const { return b->view().find("a"); }
};

TEST(SiteAgent, PeerReportArrivesAndFollowsChanges) {
  Pair p;
  ASSERT_TRUE(p.a->listen({asio::ip::make_address("127.0.0.1")}, p.port));
  p.b->configure(fast(p.port), {{"a", asio::ip::make_address("127.0.0.1")}});
  ASSERT_TRUE(run_until(p.io, [&] { return p.a_seen_by_b()->reach == Verdict::Up; }));
  EXPECT_EQ(p.a_seen_by_b()->last->services.at("web").state, SiteService::State::Up);
  const int before = p.changes;
  EXPECT_GE(before, 1);
  p.a_report.services["web"].state = SiteService::State::Drain;
  ASSERT_TRUE(run_until(p.io, [&] { return p.a_seen_by_b()->last->services.at("web").state == SiteService::State::Drain; }));
  EXPECT_GT(p.changes, before);
  EXPECT_GT(p.a->served(), 1u);
}

TEST(SiteAgent, StoppedPeerBecomesUnreachable) {
  Pair p;
  ASSERT_TRUE(p.a->listen({asio::ip::make_address("127.0.0.1")}, p.port));
  p.b->configure(fast(p.port), {{"a", asio::ip::make_address("127.0.0.1")}});
  ASSERT_TRUE(run_until(p.io, [&] { return p.a_seen_by_b()->reach == Verdict::Up; }));
  p.a->stop();
  ASSERT_TRUE(run_until(p.io, [&] { return p.a_seen_by_b()->reach == Verdict::Down; }));
  EXPECT_NE(p.a_seen_by_b()->error.find("connect"), std::string::npos) << p.a_seen_by_b()->error;
}

TEST(SiteAgent, GarbageAndSilentPeersAreFailures) {
  asio::io_context io;
  test::FakeClock clock;
  const uint16_t port = free_port();
  // Something else on the port: writes junk and closes.
  asio::ip::tcp::acceptor junk(io, {asio::ip::make_address("127.0.0.1"), port});
  std::function<void()> serve = [&] {
    auto s = std::make_shared<asio::ip::tcp::socket>(io);
    junk.async_accept(*s, [&, s](boost::system::error_code ec) {
      if (ec) return;
      asio::async_write(*s, asio::buffer(std::string_view("SSH-2.0-OpenSSH\r\n")), [s](auto, auto) { s->close(); });
      serve();
    });
  };
  serve();
  SiteAgent b(io, clock, [] { return SiteReport{"b", {}}; }, [] {});
  b.configure(fast(port), {{"a", asio::ip::make_address("127.0.0.1")}});
  ASSERT_TRUE(run_until(io, [&] { return b.view().find("a")->reach == Verdict::Down; }));
  EXPECT_EQ(b.view().find("a")->error, "line 1: not a vane site agent reply");

  // A peer that accepts and never writes: the query times out.
  asio::io_context io2;
  const uint16_t port2 = free_port();
  asio::ip::tcp::acceptor mute(io2, {asio::ip::make_address("127.0.0.1"), port2});
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> held;
  std::function<void()> hold = [&] {
    auto s = std::make_shared<asio::ip::tcp::socket>(io2);
    mute.async_accept(*s, [&, s](boost::system::error_code ec) {
      if (ec) return;
      held.push_back(s);
      hold();
    });
  };
  hold();
  SiteAgent c(io2, clock, [] { return SiteReport{"c", {}}; }, [] {});
  c.configure({port2, 50ms, 30ms, 1, 1}, {{"a", asio::ip::make_address("127.0.0.1")}});
  ASSERT_TRUE(run_until(io2, [&] { return c.view().find("a")->reach == Verdict::Down; }));
  EXPECT_EQ(c.view().find("a")->error, "timed out after 30 ms");
}

TEST(SiteAgent, RefusesWildcardAndReportsBindErrors) {
  asio::io_context io;
  test::FakeClock clock;
  SiteAgent a(io, clock, [] { return SiteReport{"a", {}}; }, [] {});
  auto r = a.listen({asio::ip::make_address("0.0.0.0")}, free_port());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "refusing to listen on a wildcard address");
  auto r2 = a.listen({asio::ip::make_address("192.0.2.250")}, free_port());  // not on this host
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().find("listen on 192.0.2.250"), std::string::npos) << r2.error();
}

TEST(SiteAgent, BoundsConcurrentConnections) {
  asio::io_context io;
  test::FakeClock clock;
  const uint16_t port = free_port();
  SiteAgent a(io, clock, [] { return SiteReport{"a", {}}; }, [] {});
  ASSERT_TRUE(a.listen({asio::ip::make_address("127.0.0.1")}, port));
  // Clients that never read: the agent's writes are small, so they complete; what bounds the agent
  // is the count of connections it holds at once. Open many at once and check every one is closed.
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> socks;
  int connected = 0;
  for (size_t i = 0; i < kSiteMaxClients * 2; ++i) {
    auto s = std::make_shared<asio::ip::tcp::socket>(io);
    s->async_connect({asio::ip::make_address("127.0.0.1"), port}, [&, s](boost::system::error_code ec) {
      if (!ec) ++connected;
    });
    socks.push_back(s);
  }
  ASSERT_TRUE(run_until(io, [&] { return a.served() + a.refused() == kSiteMaxClients * 2; }));
  EXPECT_EQ(connected, int(kSiteMaxClients * 2));
}

}  // namespace
}  // namespace vane::health
