// site_peers: many site servers from one process, for bench/site-scale.sh. Each simulated server
// has its own address and does what a vaned's site agent and poller do towards the one vaned
// under test, with vane's own site codec (src/health/site.h), so the bytes on the wire and the
// HMAC work are the real ones:
//   - its agent listens on ADDRESS:PORT and answers one `vane-site-query` with its signed report
//     (one service, up 100; SIGUSR1 toggles the first server's between up and down);
//   - its poller queries the vaned under test every interval (+ up to 10% jitter, first queries
//     spread over the first interval, like vaned's), from ADDRESS, and checks the reply's MAC.
// It prints one line of totals every 5 s and at SIGTERM/SIGINT.
//
// Usage: site_peers --peers FILE (lines "NAME ADDRESS") --target ADDRESS --name NAME
//          --key FILE (hex, first line) [--port 6081] [--interval-ms 500] [--timeout-ms 400]
//          [--service web]
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "health/site.h"

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace vane::health;

namespace {

struct Stats {
  uint64_t served = 0, bad_requests = 0, queries = 0, answers = 0, refused = 0, failed = 0;
};

struct Opts {
  std::string peers, target, name, key, service = "web";
  uint16_t port = 6081;
  int interval_ms = 500, timeout_ms = 400;
};

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(char(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

struct Sim;

struct Server {
  std::string name;
  asio::ip::address addr;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> timer;
  bool down = false;
};

struct Sim {
  asio::io_context io;
  Opts o;
  SiteKey key;
  std::vector<SiteKey> keys;
  tcp::endpoint target;
  std::vector<Server> servers;
  Stats st;
  std::mt19937_64 rng{std::random_device{}()};

  void accept(size_t i) {
    auto& s = servers[i];
    s.acceptor->async_accept([this, i](boost::system::error_code ec, tcp::socket sock) {
      if (!ec) serve(i, std::make_shared<tcp::socket>(std::move(sock)));
      if (ec != asio::error::operation_aborted) accept(i);
    });
  }

  void serve(size_t i, std::shared_ptr<tcp::socket> sock) {
    auto buf = std::make_shared<asio::streambuf>(kSiteMaxRequest);
    auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(o.timeout_ms));
    t->async_wait([sock](boost::system::error_code ec) {
      if (!ec) sock->close();
    });
    asio::async_read_until(*sock, *buf, '\n', [this, i, sock, buf, t](boost::system::error_code ec, size_t n) {
      if (ec) {
        ++st.bad_requests;
        t->cancel();
        return;
      }
      std::string line(asio::buffers_begin(buf->data()), asio::buffers_begin(buf->data()) + n - 1);
      auto nonce = parse_site_request(line);
      if (!nonce) {
        ++st.bad_requests;
        t->cancel();
        sock->close();
        return;
      }
      SiteReport r{servers[i].name, {}};
      r.services[o.service] = SiteService{servers[i].down ? SiteService::State::Down : SiteService::State::Up, 100};
      auto out = std::make_shared<std::string>(sign_site_reply(format_site_reply(r), key, *nonce));
      asio::async_write(*sock, asio::buffer(*out), [this, sock, out, t](boost::system::error_code ec, size_t) {
        t->cancel();
        if (!ec) ++st.served;
        boost::system::error_code ig;
        sock->shutdown(tcp::socket::shutdown_send, ig);
        sock->close(ig);
      });
    });
  }

  std::chrono::milliseconds next_delay() {
    return std::chrono::milliseconds(o.interval_ms + int64_t(rng() % uint64_t(o.interval_ms / 10 + 1)));
  }

  void schedule(size_t i, std::chrono::milliseconds d) {
    auto& t = *servers[i].timer;
    t.expires_after(d);
    t.async_wait([this, i](boost::system::error_code ec) {
      if (!ec) query(i);
    });
  }

  void query(size_t i) {
    ++st.queries;
    auto sock = std::make_shared<tcp::socket>(io);
    auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(o.timeout_ms));
    auto nonce = random_site_nonce();
    if (!nonce) {
      ++st.failed;
      schedule(i, next_delay());
      return;
    }
    boost::system::error_code ec;
    sock->open(target.protocol(), ec);
    if (!ec) sock->bind(tcp::endpoint(servers[i].addr, 0), ec);
    if (ec) {
      ++st.failed;
      schedule(i, next_delay());
      return;
    }
    auto done = std::make_shared<bool>(false);
    auto finish = [this, i, sock, t, done](bool ok, bool refused) {
      if (*done) return;
      *done = true;
      t->cancel();
      boost::system::error_code ig;
      sock->close(ig);
      if (ok)
        ++st.answers;
      else if (refused)
        ++st.refused;
      else
        ++st.failed;
      schedule(i, next_delay());
    };
    t->async_wait([finish](boost::system::error_code ec) {
      if (!ec) finish(false, false);
    });
    sock->async_connect(target, [this, sock, nonce, finish](boost::system::error_code ec) {
      if (ec) return finish(false, false);
      auto req = std::make_shared<std::string>(format_site_request(*nonce));
      asio::async_write(
          *sock, asio::buffer(*req), [this, sock, req, nonce, finish](boost::system::error_code ec, size_t) {
            if (ec) return finish(false, false);
            auto buf = std::make_shared<asio::streambuf>(kSiteMaxReply + kSiteMaxAuthLine + 1);
            asio::async_read(*sock, *buf, [this, buf, nonce, finish](boost::system::error_code ec, size_t) {
              if (ec != asio::error::eof) return finish(false, false);
              std::string text(asio::buffers_begin(buf->data()), asio::buffers_end(buf->data()));
              auto r = open_site_reply(text, *nonce, keys);
              finish(r.has_value() && r->node == o.name, !r.has_value());
            });
          });
    });
  }
};

}  // namespace

int main(int argc, char** argv) {
  Sim sim;
  auto& o = sim.o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--peers")
      o.peers = v;
    else if (k == "--target")
      o.target = v;
    else if (k == "--name")
      o.name = v;
    else if (k == "--key")
      o.key = v;
    else if (k == "--service")
      o.service = v;
    else if (k == "--port")
      o.port = uint16_t(std::stoi(v));
    else if (k == "--interval-ms")
      o.interval_ms = std::stoi(v);
    else if (k == "--timeout-ms")
      o.timeout_ms = std::stoi(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (o.peers.empty() || o.target.empty() || o.name.empty() || o.key.empty() || o.interval_ms < 10) {
    std::cerr << "usage: site_peers --peers FILE --target ADDRESS --name NAME --key FILE [--port P] "
                 "[--interval-ms MS] [--timeout-ms MS] [--service NAME]\n";
    return 2;
  }
  // A listener per server, and a socket per query in flight.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::string hexkey;
  {
    std::ifstream f(o.key);
    std::getline(f, hexkey);
  }
  if (hexkey.size() < 64) {
    std::cerr << "bad key file\n";
    return 2;
  }
  sim.key = make_site_key(unhex(hexkey));
  sim.keys = {sim.key};
  sim.target = tcp::endpoint(asio::ip::make_address(o.target), o.port);
  {
    std::ifstream f(o.peers);
    std::string n, a;
    while (f >> n >> a) sim.servers.push_back(Server{n, asio::ip::make_address(a), nullptr, nullptr});
  }
  for (size_t i = 0; i < sim.servers.size(); ++i) {
    auto& s = sim.servers[i];
    s.acceptor = std::make_unique<tcp::acceptor>(sim.io);
    tcp::endpoint ep(s.addr, o.port);
    s.acceptor->open(ep.protocol());
    s.acceptor->set_option(tcp::acceptor::reuse_address(true));
    boost::system::error_code ec;
    s.acceptor->bind(ep, ec);
    if (ec) {
      std::cerr << "bind " << s.addr << ": " << ec.message() << "\n";
      return 1;
    }
    s.acceptor->listen(64);
    s.timer = std::make_unique<asio::steady_timer>(sim.io);
    sim.accept(i);
    sim.schedule(i, std::chrono::milliseconds(int64_t(sim.rng() % uint64_t(o.interval_ms))));
  }
  auto report = [&sim](const char* why) {
    auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::printf("%.6f %s servers %zu served %lu bad_requests %lu queries %lu answers %lu refused %lu failed %lu\n", now,
                why, sim.servers.size(), sim.st.served, sim.st.bad_requests, sim.st.queries, sim.st.answers,
                sim.st.refused, sim.st.failed);
    std::fflush(stdout);
  };
  asio::steady_timer tick(sim.io);
  std::function<void()> arm = [&] {
    tick.expires_after(std::chrono::seconds(5));
    tick.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      report("stats");
      arm();
    });
  };
  arm();
  asio::signal_set sigs(sim.io, SIGTERM, SIGINT, SIGUSR1);
  std::function<void()> wait_sig = [&] {
    sigs.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGUSR1) {
        // The change under measurement: the first server's service goes down (or up again) from its
        // next reply.
        sim.servers.front().down = !sim.servers.front().down;
        report(sim.servers.front().down ? "down" : "up");
        wait_sig();
        return;
      }
      report("final");
      sim.io.stop();
    });
  };
  wait_sig();
  report("ready");
  sim.io.run();
  return 0;
}
