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

SiteSettings fast(uint16_t port) {
  return {port, 50ms, 500ms, 1, 2};
}

struct Pair {
  asio::io_context io;
  test::FakeClock clock;
  SiteReport a_report{"a", {{"web", {SiteService::State::Up, 100}}}};
  int changes = 0;
  std::unique_ptr<SiteAgent> a, b;
  uint16_t port = free_port();

  Pair() {
    a = std::make_unique<SiteAgent>(
        io, clock, [this] { return a_report; }, [] {});
    b = std::make_unique<SiteAgent>(
        io, clock,
        [] {
          return SiteReport{"b", {}};
        },
        [this] { ++changes; });
    // b queries without a configured source, so from 127.0.0.1.
    a->set_sources({asio::ip::make_address("127.0.0.1")});
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
  ASSERT_TRUE(
      run_until(p.io, [&] { return p.a_seen_by_b()->last->services.at("web").state == SiteService::State::Drain; }));
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
  // Something else on the port: reads the request, writes junk and closes.
  asio::ip::tcp::acceptor junk(io, {asio::ip::make_address("127.0.0.1"), port});
  std::function<void()> serve = [&] {
    auto s = std::make_shared<asio::ip::tcp::socket>(io);
    junk.async_accept(*s, [&, s](boost::system::error_code ec) {
      if (ec) return;
      auto buf = std::make_shared<std::array<char, 256>>();
      s->async_read_some(asio::buffer(*buf), [s, buf](auto, auto) {
        asio::async_write(*s, asio::buffer(std::string_view("SSH-2.0-OpenSSH\r\n")), [s](auto, auto) { s->close(); });
      });
      serve();
    });
  };
  serve();
  SiteAgent b(
      io, clock,
      [] {
        return SiteReport{"b", {}};
      },
      [] {});
  b.configure(fast(port), {{"a", asio::ip::make_address("127.0.0.1")}});
  ASSERT_TRUE(run_until(io, [&] { return b.view().find("a")->reach == Verdict::Down; }));
  EXPECT_EQ(b.view().find("a")->error, "line 1: not a vane site agent reply");
  EXPECT_EQ(b.view().find("a")->refusal, "malformed");

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
  SiteAgent c(
      io2, clock,
      [] {
        return SiteReport{"c", {}};
      },
      [] {});
  c.configure({port2, 50ms, 30ms, 1, 1}, {{"a", asio::ip::make_address("127.0.0.1")}});
  ASSERT_TRUE(run_until(io2, [&] { return c.view().find("a")->reach == Verdict::Down; }));
  EXPECT_EQ(c.view().find("a")->error, "timed out after 30 ms");
}

TEST(SiteAgent, RefusesWildcardAndReportsBindErrors) {
  asio::io_context io;
  test::FakeClock clock;
  SiteAgent a(
      io, clock,
      [] {
        return SiteReport{"a", {}};
      },
      [] {});
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
  SiteAgent a(
      io, clock,
      [] {
        return SiteReport{"a", {}};
      },
      [] {});
  ASSERT_TRUE(a.listen({asio::ip::make_address("127.0.0.1")}, port));
  // Clients that never read: the agent's writes are small, so they complete; what bounds the agent
  // is the count of connections it holds at once. Open many at once, from enough site servers that
  // no one of them passes its own limit, and check every one is closed.
  std::vector<asio::ip::address> sources;
  for (size_t i = 0; i < 2 * kSiteMaxClients / kSiteMaxPerSource; ++i)
    sources.push_back(asio::ip::make_address_v4(asio::ip::address_v4::uint_type(0x7f000100 + i)));  // 127.0.1.i
  a.set_sources(sources);
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> socks;
  int connected = 0;
  const std::string request = format_site_request(SiteNonce{});
  for (size_t i = 0; i < kSiteMaxClients * 2; ++i) {
    auto s = std::make_shared<asio::ip::tcp::socket>(io);
    s->open(asio::ip::tcp::v4());
    s->bind({sources[i / kSiteMaxPerSource], 0});
    s->async_connect({asio::ip::make_address("127.0.0.1"), port}, [&, s](boost::system::error_code ec) {
      if (ec) return;
      ++connected;
      asio::async_write(*s, asio::buffer(request), [s](auto, auto) {});
    });
    socks.push_back(s);
  }
  ASSERT_TRUE(run_until(io, [&] { return a.served() + a.refused() == kSiteMaxClients * 2; }));
  EXPECT_EQ(connected, int(kSiteMaxClients * 2));
  EXPECT_EQ(a.bad_requests(), 0u);
  EXPECT_EQ(a.refused(AgentRefusal::NotASiteServer), 0u);
}

// ---- authentication and binding --------------------------------------------------------------------

std::string key(char fill) {
  return std::string(32, fill);
}

// One exchange with an agent, the way an attacker would: its own request bytes, whatever comes back.
std::string fetch(asio::io_context& io, asio::ip::address addr, uint16_t port, const std::string& request) {
  asio::ip::tcp::socket s(io);
  std::string got;
  std::array<char, 4096> chunk{};
  bool finished = false;
  std::function<void()> rd = [&] {
    s.async_read_some(asio::buffer(chunk), [&](boost::system::error_code ec, size_t n) {
      got.append(chunk.data(), n);
      if (ec)
        finished = true;
      else
        rd();
    });
  };
  s.async_connect({addr, port}, [&](boost::system::error_code ec) {
    if (ec) {
      finished = true;
      return;
    }
    asio::async_write(s, asio::buffer(request), [&](boost::system::error_code, size_t) { rd(); });
  });
  EXPECT_TRUE(run_until(io, [&] { return finished; }));
  return got;
}

// Answers every connection with `reply` after reading (and ignoring) what the client sends.
struct FakeAgent {
  FakeAgent(asio::io_context& io, asio::ip::address addr, uint16_t port, std::string reply)
      : io(io), acceptor(io, {addr, port}), reply(std::make_shared<std::string>(std::move(reply))) {
    serve();
  }
  // Connections in flight own what they use: the fake may go away under them.
  void serve() {
    auto s = std::make_shared<asio::ip::tcp::socket>(io);
    acceptor.async_accept(*s, [this, s](boost::system::error_code ec) {
      if (ec) return;
      auto buf = std::make_shared<std::array<char, 256>>();
      s->async_read_some(asio::buffer(*buf), [s, buf, reply = reply](boost::system::error_code, size_t) {
        asio::async_write(*s, asio::buffer(*reply), [s, reply](auto, auto) {
          boost::system::error_code e;
          s->shutdown(asio::ip::tcp::socket::shutdown_send, e);
          s->close(e);
        });
      });
      serve();
    });
  }
  asio::io_context& io;
  asio::ip::tcp::acceptor acceptor;
  std::shared_ptr<std::string> reply;
};

TEST(SiteAgentAuth, SameKeyExchangesReports) {
  Pair p;
  p.a->set_keys({key('k')});
  p.b->set_keys({key('k')});
  ASSERT_TRUE(p.a->listen({asio::ip::make_address("127.0.0.1")}, p.port));
  p.b->configure(fast(p.port), {{"a", asio::ip::make_address("127.0.0.1")}});
  ASSERT_TRUE(run_until(p.io, [&] { return p.a_seen_by_b()->reach == Verdict::Up; }));
  EXPECT_TRUE(p.a_seen_by_b()->refused.empty());
  EXPECT_EQ(p.a_seen_by_b()->last->services.at("web").state, SiteService::State::Up);
}

TEST(SiteAgentAuth, WrongKeyAndMissingMacAreRefusedAndCounted) {
  Pair p;
  p.a->set_keys({key('x')});
  p.b->set_keys({key('k')});
  ASSERT_TRUE(p.a->listen({asio::ip::make_address("127.0.0.1")}, p.port));
  p.b->configure(fast(p.port), {{"a", asio::ip::make_address("127.0.0.1")}});
  ASSERT_TRUE(run_until(p.io, [&] { return p.a_seen_by_b()->reach == Verdict::Down; }));
  EXPECT_FALSE(p.a_seen_by_b()->last) << "no reply of a wrong key is ever used";
  EXPECT_EQ(p.a_seen_by_b()->refusal, "unknown_key");
  EXPECT_GE(p.a_seen_by_b()->refused.at("unknown_key"), 2u);
  EXPECT_NE(p.a_seen_by_b()->error.find("unknown key id"), std::string::npos) << p.a_seen_by_b()->error;

  p.a->set_keys({});  // the agent stops signing
  ASSERT_TRUE(run_until(p.io, [&] { return p.a_seen_by_b()->refused.contains("missing_mac"); }));
  EXPECT_EQ(p.a_seen_by_b()->reach, Verdict::Down);
  EXPECT_FALSE(p.a_seen_by_b()->last);
}

TEST(SiteAgentAuth, AReplayedSignedReplyIsRefused) {
  asio::io_context io;
  test::FakeClock clock;
  const uint16_t port = free_port();
  SiteAgent real(
      io, clock,
      [] {
        return SiteReport{"a", {{"web", {SiteService::State::Up, 100}}}};
      },
      [] {});
  real.set_keys({key('k')});
  real.set_sources({asio::ip::make_address("127.0.0.1")});
  ASSERT_TRUE(real.listen({asio::ip::make_address("127.0.0.1")}, port));
  // The attacker asks the real agent with a nonce of its own: a validly signed reply...
  SiteNonce mine{};
  mine.fill(0x42);
  const std::string signed_reply = fetch(io, asio::ip::make_address("127.0.0.1"), port, format_site_request(mine));
  ASSERT_NE(signed_reply.find("\nauth "), std::string::npos) << signed_reply;
  // ...and serves it, at another address, to b's queries.
  FakeAgent fake(io, asio::ip::make_address("127.0.0.2"), port, signed_reply);
  SiteAgent b(
      io, clock,
      [] {
        return SiteReport{"b", {}};
      },
      [] {});
  b.set_keys({key('k')});
  b.configure(fast(port), {{"a", asio::ip::make_address("127.0.0.2")}});
  ASSERT_TRUE(run_until(io, [&] {
    return b.view().find("a")->refused.contains("replay") && b.view().find("a")->reach == Verdict::Down;
  }));
  EXPECT_FALSE(b.view().find("a")->last);
  EXPECT_EQ(b.view().find("a")->refused.size(), 1u);
}

TEST(SiteAgentAuth, TwoKeysLetARotationProceedWithoutAFlagDay) {
  Pair p;
  ASSERT_TRUE(p.a->listen({asio::ip::make_address("127.0.0.1")}, p.port));
  p.b->configure(fast(p.port), {{"a", asio::ip::make_address("127.0.0.1")}});
  // Step by step as docs/site-health.md says; b must keep accepting a at every step.
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> steps = {
      {{key('o')}, {key('o')}},            // old key everywhere
      {{key('o'), key('n')}, {key('o')}},  // a has the new key second
      {{key('o'), key('n')}, {key('o'), key('n')}},
      {{key('n'), key('o')}, {key('o'), key('n')}},  // a signs with the new key
      {{key('n'), key('o')}, {key('n'), key('o')}},
      {{key('n')}, {key('n'), key('o')}},  // a drops the old key
      {{key('n')}, {key('n')}},
  };
  for (auto& [ak, bk] : steps) {
    p.a->set_keys(ak);
    p.b->set_keys(bk);
    const uint32_t before = p.a_seen_by_b() ? p.a_seen_by_b()->answers : 0;
    ASSERT_TRUE(run_until(p.io, [&] { return p.a_seen_by_b()->answers >= before + 3; }));
    EXPECT_TRUE(p.a_seen_by_b()->refused.empty()) << p.a_seen_by_b()->refusal;
    EXPECT_EQ(p.a_seen_by_b()->reach, Verdict::Up);
  }
}

TEST(SiteAgentAuth, OverLongOrBogusRequestsGetNoReply) {
  asio::io_context io;
  test::FakeClock clock;
  const uint16_t port = free_port();
  SiteAgent a(
      io, clock,
      [] {
        return SiteReport{"a", {}};
      },
      [] {});
  a.set_sources({asio::ip::make_address("127.0.0.1")});
  ASSERT_TRUE(a.listen({asio::ip::make_address("127.0.0.1")}, port));
  const auto lo = asio::ip::make_address("127.0.0.1");
  EXPECT_EQ(fetch(io, lo, port, std::string(kSiteMaxRequest + 10, 'a')), "");
  EXPECT_EQ(fetch(io, lo, port, "GET / HTTP/1.0\r\n\r\n"), "");
  EXPECT_EQ(a.bad_requests(), 2u);
  EXPECT_EQ(a.served(), 0u);
  EXPECT_EQ(fetch(io, lo, port, format_site_request(SiteNonce{})), "vane-site 1 a\nend\n");
  EXPECT_EQ(a.served(), 1u);
}

TEST(SiteAgentAuth, AnOverLongReplyIsRefused) {
  asio::io_context io;
  test::FakeClock clock;
  const uint16_t port = free_port();
  FakeAgent fake(io, asio::ip::make_address("127.0.0.1"), port,
                 std::string(kSiteMaxReply + kSiteMaxAuthLine + 100, 'x'));
  SiteAgent b(
      io, clock,
      [] {
        return SiteReport{"b", {}};
      },
      [] {});
  b.configure(fast(port), {{"a", asio::ip::make_address("127.0.0.1")}});
  ASSERT_TRUE(run_until(io, [&] { return b.view().find("a")->refused.contains("too_long"); }));
}

TEST(SiteAgentAuth, ASquatterOnTheAgentsPortIsRefusedAndTheAgentRetriesUntilItBinds) {
  asio::io_context io;
  test::FakeClock clock;
  const uint16_t port = free_port();
  const auto lo = asio::ip::make_address("127.0.0.1");
  // The squatter answers for "a" with an unsigned up 100.
  auto squatter = std::make_unique<FakeAgent>(io, lo, port, "vane-site 1 a\nservice web up 100\nend\n");
  int changes = 0;
  SiteAgent a(
      io, clock,
      [] {
        return SiteReport{"a", {}};
      },
      [&] { ++changes; });
  a.set_keys({key('k')});
  a.set_sources({lo});
  a.set_bind_backoff(20ms, 80ms);
  ASSERT_TRUE(a.serve({lo}, port));
  EXPECT_FALSE(a.listening());
  EXPECT_NE(a.listen_error().find("Address already in use"), std::string::npos) << a.listen_error();
  EXPECT_EQ(changes, 1) << "the owner learns at once that its agent is not listening";

  SiteAgent b(
      io, clock,
      [] {
        return SiteReport{"b", {}};
      },
      [] {});
  b.set_keys({key('k')});
  b.configure(fast(port), {{"a", lo}});
  ASSERT_TRUE(run_until(io, [&] { return b.view().find("a")->reach == Verdict::Down; }));
  EXPECT_EQ(b.view().find("a")->refusal, "missing_mac");
  EXPECT_FALSE(b.view().find("a")->last);
  run_until(
      io, [] { return false; }, 300ms);  // several retries, all failing
  EXPECT_FALSE(a.listening());
  EXPECT_EQ(changes, 1) << "retries that fail the same way change nothing";

  squatter.reset();  // the squatter goes away: the agent binds on a retry and b sees the real one
  ASSERT_TRUE(run_until(io, [&] { return a.listening(); }));
  EXPECT_TRUE(a.listen_error().empty());
  EXPECT_EQ(changes, 2);
  ASSERT_TRUE(run_until(io, [&] { return b.view().find("a")->reach == Verdict::Up; }));
  EXPECT_TRUE(b.view().find("a")->last->services.empty());
}

// ---- who may connect: only site servers, and a few connections each --------------------------------

// Every 127.0.0.x address is local, so a client picks its source by binding it: 127.0.0.2 and
// 127.0.0.3 play site servers, 127.0.0.9 a host of the fabric that is not one.
const auto kAgentAddr = asio::ip::make_address("127.0.0.1");
const auto kSiteSrc = asio::ip::make_address("127.0.0.2");
const auto kSiteSrc2 = asio::ip::make_address("127.0.0.3");
const auto kStranger = asio::ip::make_address("127.0.0.9");

// Keeps `n` connections from `src` open to the agent and sends nothing on them; whenever the agent
// closes one, opens another after `delay`. Bounded by `max_opens` in all.
struct Holder {
  Holder(asio::io_context& io, asio::ip::address src, uint16_t port, size_t n, std::chrono::milliseconds delay,
         size_t max_opens = 20000)
      : io(io), src(src), port(port), delay(delay), max_opens(max_opens) {
    for (size_t i = 0; i < n; ++i) open();
  }
  ~Holder() { *alive = false; }
  void open() {
    if (opens >= max_opens) return;
    ++opens;
    auto s = std::make_shared<asio::ip::tcp::socket>(io);
    boost::system::error_code ec;
    s->open(src.is_v4() ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), ec);
    if (!ec) s->bind({src, 0}, ec);
    if (ec) return;
    socks.push_back(s);
    s->async_connect({kAgentAddr, port}, [this, s, alive = alive](boost::system::error_code ec) {
      if (!*alive) return;
      if (!ec) ++connected;
      auto buf = std::make_shared<std::array<char, 64>>();
      // Waits for the agent to close it (an idle client reads nothing), then takes the slot again.
      s->async_read_some(asio::buffer(*buf), [this, s, buf, alive](boost::system::error_code, size_t) {
        if (!*alive) return;
        ++closed;
        auto t = std::make_shared<asio::steady_timer>(io, delay);
        t->async_wait([this, t, alive](boost::system::error_code) {
          if (*alive) open();
        });
      });
    });
  }
  asio::io_context& io;
  asio::ip::address src;
  uint16_t port;
  std::chrono::milliseconds delay;
  size_t max_opens, opens = 0, connected = 0, closed = 0;
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> socks;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

// fetch() from a chosen source address.
std::string fetch_from(asio::io_context& io, asio::ip::address src, uint16_t port, const std::string& request) {
  asio::ip::tcp::socket s(io);
  s.open(asio::ip::tcp::v4());
  s.bind({src, 0});
  std::string got;
  std::array<char, 4096> chunk{};
  bool finished = false;
  std::function<void()> rd = [&] {
    s.async_read_some(asio::buffer(chunk), [&](boost::system::error_code ec, size_t n) {
      got.append(chunk.data(), n);
      if (ec)
        finished = true;
      else
        rd();
    });
  };
  s.async_connect({kAgentAddr, port}, [&](boost::system::error_code ec) {
    if (ec) {
      finished = true;
      return;
    }
    asio::async_write(s, asio::buffer(request), [&](boost::system::error_code, size_t) { rd(); });
  });
  EXPECT_TRUE(run_until(io, [&] { return finished; }));
  return got;
}

TEST(SiteAgentSources, IdleConnectionsFromAnyoneElseNeverStarveASiteServer) {
  asio::io_context io;
  test::FakeClock clock;
  const uint16_t port = free_port();
  SiteAgent a(
      io, clock,
      [] {
        return SiteReport{"a", {{"web", {SiteService::State::Up, 100}}}};
      },
      [] {});
  a.set_sources({kSiteSrc, kSiteSrc2});
  ASSERT_TRUE(a.listen({kAgentAddr}, port));
  // A stranger and another site server both try to hold every slot of the agent, taking each one
  // back as soon as it is closed.
  Holder stranger(io, kStranger, port, kSiteMaxClients, 20ms);
  Holder greedy(io, kSiteSrc2, port, kSiteMaxClients, 20ms);
  ASSERT_TRUE(
      run_until(io, [&] { return stranger.connected >= kSiteMaxClients && greedy.connected >= kSiteMaxClients; }));

  SiteAgent b(
      io, clock,
      [] {
        return SiteReport{"b", {}};
      },
      [] {});
  auto s = fast(port);
  s.source4 = kSiteSrc;
  b.configure(s, {{"a", kAgentAddr}});
  ASSERT_TRUE(run_until(io, [&] { return b.view().find("a")->answers >= 10; }));
  EXPECT_EQ(b.view().find("a")->failures, 0u) << b.view().find("a")->error;
  EXPECT_EQ(b.view().find("a")->reach, Verdict::Up);
  EXPECT_GE(a.refused(AgentRefusal::NotASiteServer), uint64_t(kSiteMaxClients));
  EXPECT_GE(a.refused(AgentRefusal::PerSourceLimit), uint64_t(kSiteMaxClients - kSiteMaxPerSource));
  EXPECT_EQ(a.refused(AgentRefusal::TooManyClients), 0u);
}

TEST(SiteAgentSources, AStrangerGetsNothingAndEachSourceHasItsOwnFewSlots) {
  asio::io_context io;
  test::FakeClock clock;
  const uint16_t port = free_port();
  SiteAgent a(
      io, clock,
      [] {
        return SiteReport{"a", {}};
      },
      [] {});
  a.set_sources({kSiteSrc, kSiteSrc2});
  auto slow = fast(port);
  slow.timeout = 10s;  // idle clients keep their slots for the whole test
  a.configure(slow, {});
  ASSERT_TRUE(a.listen({kAgentAddr}, port));
  const std::string req = format_site_request(SiteNonce{});
  EXPECT_EQ(fetch_from(io, kStranger, port, req), "");
  EXPECT_EQ(a.refused(AgentRefusal::NotASiteServer), 1u);
  EXPECT_EQ(a.bad_requests(), 0u) << "refused at accept, before reading anything";
  EXPECT_EQ(fetch_from(io, kSiteSrc, port, req), "vane-site 1 a\nend\n");

  // kSiteSrc2 holds its slots (and keeps them for as long as the agent lets it) ...
  Holder greedy(io, kSiteSrc2, port, kSiteMaxPerSource, 10s);
  ASSERT_TRUE(run_until(io, [&] { return greedy.connected == kSiteMaxPerSource; }));
  run_until(
      io, [] { return false; }, 50ms);  // the agent accepts them
  EXPECT_EQ(greedy.closed, 0u);
  // ... so its next connection is refused, and another site server is still served.
  EXPECT_EQ(fetch_from(io, kSiteSrc2, port, req), "");
  EXPECT_EQ(a.refused(AgentRefusal::PerSourceLimit), 1u);
  EXPECT_EQ(fetch_from(io, kSiteSrc, port, req), "vane-site 1 a\nend\n");

  // A reload that drops kSiteSrc from the site: it is a stranger from then on.
  a.set_sources({kSiteSrc2});
  EXPECT_EQ(fetch_from(io, kSiteSrc, port, req), "");
  EXPECT_EQ(a.refused(AgentRefusal::NotASiteServer), 2u);
}

TEST(SiteAgentSources, AnIdleSiteClientIsClosedWithinTheQueryTimeout) {
  asio::io_context io;
  test::FakeClock clock;
  const uint16_t port = free_port();
  SiteAgent a(
      io, clock,
      [] {
        return SiteReport{"a", {}};
      },
      [] {});
  a.set_sources({kSiteSrc});
  auto s = fast(port);
  s.timeout = 100ms;  // the querier gives up after this: holding a connection longer helps no one
  a.configure(s, {});
  ASSERT_TRUE(a.listen({kAgentAddr}, port));
  Holder idle(io, kSiteSrc, port, 1, 10s, 1);
  ASSERT_TRUE(run_until(
      io, [&] { return idle.closed == 1; }, 5s));
  EXPECT_EQ(a.bad_requests(), 1u);
}

TEST(SiteAgentSources, TheQuerierSpeaksFromItsConfiguredAddress) {
  asio::io_context io;
  test::FakeClock clock;
  const uint16_t port = free_port();
  SiteAgent a(
      io, clock,
      [] {
        return SiteReport{"a", {}};
      },
      [] {});
  a.set_sources({kSiteSrc2});
  ASSERT_TRUE(a.listen({kAgentAddr}, port));
  SiteAgent b(
      io, clock,
      [] {
        return SiteReport{"b", {}};
      },
      [] {});
  auto s = fast(port);
  s.source4 = kSiteSrc2;
  b.configure(s, {{"a", kAgentAddr}});
  ASSERT_TRUE(run_until(io, [&] { return b.view().find("a")->reach == Verdict::Up; }));
  // Without a source the kernel picks 127.0.0.1, which is not a site server here.
  SiteAgent c(
      io, clock,
      [] {
        return SiteReport{"c", {}};
      },
      [] {});
  c.configure(fast(port), {{"a", kAgentAddr}});
  ASSERT_TRUE(run_until(io, [&] { return c.view().find("a")->reach == Verdict::Down; }));
  EXPECT_GE(a.refused(AgentRefusal::NotASiteServer), 1u);
}

TEST(SiteAgentAuth, ServeRefusesAWildcardWithoutRetrying) {
  asio::io_context io;
  test::FakeClock clock;
  SiteAgent a(
      io, clock,
      [] {
        return SiteReport{"a", {}};
      },
      [] {});
  auto r = a.serve({asio::ip::make_address("::")}, free_port());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "refusing to listen on a wildcard address");
}

}  // namespace
}  // namespace vane::health
