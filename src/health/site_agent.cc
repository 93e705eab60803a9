#include "health/site_agent.h"

#include <spdlog/spdlog.h>

#include <array>
#include <random>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace vane::health {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

struct SiteAgent::Listener {
  explicit Listener(asio::io_context& io) : acceptor(io), retry(io) {}
  tcp::acceptor acceptor;
  asio::steady_timer retry;
};

struct SiteAgent::Client {
  Client(asio::io_context& io, tcp::socket s) : socket(std::move(s)), timer(io) {}
  tcp::socket socket;
  asio::steady_timer timer;
  std::string reply;
};

struct SiteAgent::Poll {
  Poll(asio::io_context& io, SitePeer p) : peer(std::move(p)), timer(io), deadline(io), socket(io) {}
  SitePeer peer;
  asio::steady_timer timer;     // the schedule
  asio::steady_timer deadline;  // the query in flight
  tcp::socket socket;
  std::string buf;
  std::array<char, 4096> chunk{};
  bool inflight = false;
  bool removed = false;
  uint64_t seq = 0;  // which query a completion belongs to
};

SiteAgent::SiteAgent(asio::io_context& io, const Clock& clock, ReportFn report, ChangeFn on_change)
    : io_(io), clock_(clock), report_(std::move(report)), on_change_(std::move(on_change)) {}

SiteAgent::~SiteAgent() { stop(); }

std::expected<void, std::string> SiteAgent::listen(const std::vector<asio::ip::address>& addresses, uint16_t port) {
  std::vector<std::shared_ptr<Listener>> ls;
  for (auto& a : addresses) {
    if (a.is_unspecified()) return std::unexpected("refusing to listen on a wildcard address");
    auto l = std::make_shared<Listener>(io_);
    error_code ec;
    tcp::endpoint ep(a, port);
    l->acceptor.open(ep.protocol(), ec);
    if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    if (!ec) l->acceptor.listen(128, ec);
    if (ec) return std::unexpected("listen on " + a.to_string() + " port " + std::to_string(port) + ": " + ec.message());
    ls.push_back(std::move(l));
  }
  for (auto& l : ls) {
    listeners_.push_back(l);
    accept(l);
  }
  return {};
}

void SiteAgent::accept(const std::shared_ptr<Listener>& l) {
  l->acceptor.async_accept([this, l, alive = std::weak_ptr<bool>(alive_)](error_code ec, tcp::socket s) {
    if (alive.expired() || ec == asio::error::operation_aborted || !l->acceptor.is_open()) return;
    if (!ec) {
      if (clients_ >= kSiteMaxClients) {
        ++refused_;
        s.close(ec);
      } else {
        // The agent reads nothing: it writes its report and closes, so a client cannot make it
        // parse anything.
        auto c = std::make_shared<Client>(io_, std::move(s));
        c->reply = format_site_reply(report_());
        ++clients_;
        c->timer.expires_after(std::chrono::seconds(2));
        c->timer.async_wait([c](error_code e) {
          if (!e) c->socket.close(e);
        });
        asio::async_write(c->socket, asio::buffer(c->reply), [this, c, alive](error_code e, size_t) {
          c->timer.cancel();
          if (!e) {
            c->socket.shutdown(tcp::socket::shutdown_send, e);
          }
          c->socket.close(e);
          if (alive.expired()) return;
          --clients_;
          ++served_;
        });
      }
      accept(l);
      return;
    }
    // Out of descriptors or similar: retrying at once would spin; try again shortly.
    spdlog::warn("site agent: accept: {}; retrying in 100 ms", ec.message());
    l->retry.expires_after(std::chrono::milliseconds(100));
    l->retry.async_wait([this, l, alive](error_code e) {
      if (!e && !alive.expired() && l->acceptor.is_open()) accept(l);
    });
  });
}

void SiteAgent::configure(const SiteSettings& s, const std::vector<SitePeer>& peers) {
  const bool restart = s.interval != settings_.interval || s.timeout != settings_.timeout;
  settings_ = s;
  view_.set_thresholds(s.rise, s.fall);
  std::vector<std::string> names, kept;
  std::map<std::string, std::shared_ptr<Poll>> next;
  for (auto& p : peers) {
    names.push_back(p.name);
    auto it = polls_.find(p.name);
    if (it != polls_.end() && it->second->peer.address == p.address) {
      kept.push_back(p.name);
      next.emplace(p.name, it->second);
      polls_.erase(it);
      continue;
    }
    next.emplace(p.name, std::make_shared<Poll>(io_, p));
  }
  // A server at a new address is a new peer: what the old address answered does not carry over.
  view_.set_peers(kept);
  for (auto& [_, p] : polls_) {  // gone or moved to another address
    p->removed = true;
    p->timer.cancel();
    p->deadline.cancel();
    error_code ec;
    p->socket.close(ec);
  }
  polls_ = std::move(next);
  view_.set_peers(names);
  // First queries spread over half an interval so that a site restarting together does not query
  // in lockstep.
  for (auto& [_, p] : polls_) {
    if (p->inflight) continue;
    if (restart || p->seq == 0) {
      auto spread = std::uniform_int_distribution<int64_t>(0, settings_.interval.count() / 2)(rng_);
      schedule(p, std::chrono::milliseconds(spread));
    }
  }
}

void SiteAgent::stop() {
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  for (auto& l : listeners_) {
    error_code ec;
    l->acceptor.close(ec);
    l->retry.cancel();
  }
  listeners_.clear();
  clients_ = 0;
  for (auto& [_, p] : polls_) {
    p->removed = true;
    p->timer.cancel();
    p->deadline.cancel();
    error_code ec;
    p->socket.close(ec);
  }
  polls_.clear();
}

void SiteAgent::schedule(const std::shared_ptr<Poll>& p, std::chrono::milliseconds delay) {
  p->timer.expires_after(delay);
  p->timer.async_wait([this, p, alive = std::weak_ptr<bool>(alive_)](error_code ec) {
    if (ec || alive.expired() || p->removed) return;
    query(p);
  });
}

void SiteAgent::query(const std::shared_ptr<Poll>& p) {
  const uint64_t seq = ++p->seq;
  p->inflight = true;
  p->buf.clear();
  p->socket = tcp::socket(io_);
  tcp::endpoint ep(p->peer.address, settings_.port);
  auto alive = std::weak_ptr<bool>(alive_);
  p->deadline.expires_after(settings_.timeout);
  p->deadline.async_wait([this, p, seq, alive](error_code e) {
    if (e || alive.expired() || p->removed || p->seq != seq || !p->inflight) return;
    done(p, std::unexpected("timed out after " + std::to_string(settings_.timeout.count()) + " ms"));
  });
  p->socket.async_connect(ep, [this, p, seq, alive](error_code e) {
    if (alive.expired() || p->removed || p->seq != seq || !p->inflight) return;
    if (e) return done(p, std::unexpected("connect: " + e.message()));
    read(p, seq);
  });
}

void SiteAgent::read(const std::shared_ptr<Poll>& p, uint64_t seq) {
  // Read to EOF, keeping one byte more than the limit so an over-long reply is recognised.
  p->socket.async_read_some(asio::buffer(p->chunk), [this, p, seq, alive = std::weak_ptr<bool>(alive_)](error_code e,
                                                                                                      size_t n) {
    if (alive.expired() || p->removed || p->seq != seq || !p->inflight) return;
    p->buf.append(p->chunk.data(), std::min(n, kSiteMaxReply + 1 - std::min(kSiteMaxReply + 1, p->buf.size())));
    if (e == asio::error::eof) return done(p, parse_site_reply(p->buf));
    if (e) return done(p, std::unexpected("read: " + e.message()));
    if (p->buf.size() > kSiteMaxReply)
      return done(p, std::unexpected("reply longer than " + std::to_string(kSiteMaxReply) + " bytes"));
    read(p, seq);
  });
}

void SiteAgent::done(const std::shared_ptr<Poll>& p, std::expected<SiteReport, std::string> r) {
  p->inflight = false;
  p->deadline.cancel();
  error_code ec;
  p->socket.close(ec);
  const auto before = view_.find(p->peer.name);
  const Verdict was = before ? before->reach : Verdict::Unknown;
  const bool changed = view_.record(p->peer.name, std::move(r), clock_.now());
  if (const auto* now = view_.find(p->peer.name); now && now->reach != was)
    spdlog::info("site: server {} is now {}{}", p->peer.name, now->reach == Verdict::Up ? "reachable" : "unreachable",
                 now->error.empty() ? "" : " (" + now->error + ")");
  // Up to 10% of jitter, as for checks: queries of many servers drift apart instead of arriving
  // in bursts, and no peer's answer stays phase-locked to its own checks.
  const auto jitter = std::uniform_int_distribution<int64_t>(0, settings_.interval.count() / 10)(rng_);
  schedule(p, settings_.interval + std::chrono::milliseconds(jitter));
  if (changed && on_change_) on_change_();
}

}  // namespace vane::health
