#include "health/site_agent.h"

#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <random>

#include "common/sanitize.h"

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

namespace {
// An IPv4 peer reaching an IPv6 socket shows as ::ffff:a.b.c.d; it is the IPv4 address all the same.
asio::ip::address canonical(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}
}  // namespace

std::string_view to_string(AgentRefusal r) {
  switch (r) {
    case AgentRefusal::NotASiteServer:
      return "not_a_site_server";
    case AgentRefusal::PerSourceLimit:
      return "per_source_limit";
    case AgentRefusal::TooManyClients:
      return "too_many_clients";
  }
  return "?";
}

struct SiteAgent::Client {
  Client(asio::io_context& io, tcp::socket s, asio::ip::address src) : socket(std::move(s)), timer(io), source(src) {}
  tcp::socket socket;
  asio::steady_timer timer;
  asio::ip::address source;
  std::array<char, kSiteMaxRequest> in{};
  size_t got = 0;
  std::string reply;
  bool ended = false;
};

struct SiteAgent::Poll {
  Poll(asio::io_context& io, SitePeer p) : peer(std::move(p)), timer(io), deadline(io), socket(io) {}
  SitePeer peer;
  asio::steady_timer timer;     // the schedule
  asio::steady_timer deadline;  // the query in flight
  tcp::socket socket;
  std::string buf;
  std::array<char, 4096> chunk{};
  SiteNonce nonce{};
  std::string request;
  // The last refusal logged, so an attack logs when it starts or changes, not on every query.
  std::string logged_refusal;
  std::optional<TimePoint> logged_at;
  bool inflight = false;
  bool removed = false;
  uint64_t seq = 0;  // which query a completion belongs to
};

SiteAgent::SiteAgent(asio::io_context& io, const Clock& clock, ReportFn report, ChangeFn on_change)
    : io_(io), clock_(clock), report_(std::move(report)), on_change_(std::move(on_change)) {}

SiteAgent::~SiteAgent() {
  stop();
}

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
    if (ec)
      return std::unexpected("listen on " + a.to_string() + " port " + std::to_string(port) + ": " + ec.message());
    ls.push_back(std::move(l));
  }
  for (auto& l : ls) {
    listeners_.push_back(l);
    accept(l);
  }
  return {};
}

std::expected<void, std::string> SiteAgent::serve(const std::vector<asio::ip::address>& addresses, uint16_t port) {
  for (auto& a : addresses)
    if (a.is_unspecified()) return std::unexpected("refusing to listen on a wildcard address");
  bind_addresses_ = addresses;
  bind_port_ = port;
  backoff_ = std::chrono::milliseconds(0);
  bind_failures_ = 0;
  bind_warned_.reset();
  if (!bind_timer_) bind_timer_ = std::make_unique<asio::steady_timer>(io_);
  try_bind();
  return {};
}

void SiteAgent::try_bind() {
  auto r = listen(bind_addresses_, bind_port_);
  if (r) {
    if (bind_failures_ > 0)
      spdlog::info("site: agent now listening on port {} after {} failed attempt(s); this server serves again",
                   bind_port_, bind_failures_);
    const bool changed = !listen_error_.empty();
    listen_error_.clear();
    bind_failures_ = 0;
    backoff_ = std::chrono::milliseconds(0);
    if (changed && on_change_) on_change_();
    return;
  }
  const bool first = listen_error_.empty();
  const bool new_error = r.error() != listen_error_;
  ++bind_failures_;
  listen_error_ = r.error();
  backoff_ = backoff_.count() == 0 ? backoff_min_ : std::min(backoff_ * 2, backoff_max_);
  // One line when it starts or its cause changes, then one every 5 minutes: a squatted port must
  // show in the log without filling it.
  const auto now = std::chrono::steady_clock::now();
  if (first || new_error || !bind_warned_ || now - *bind_warned_ >= std::chrono::minutes(5)) {
    spdlog::warn(
        "site: agent cannot listen: {}; this server reports itself down to the site and withdraws its "
        "services until it can (attempt {}, next in {} ms)",
        listen_error_, bind_failures_, backoff_.count());
    bind_warned_ = now;
  }
  bind_timer_->expires_after(backoff_);
  bind_timer_->async_wait([this, alive = std::weak_ptr<bool>(alive_)](error_code e) {
    if (!e && !alive.expired() && !listen_error_.empty()) try_bind();
  });
  if (first && on_change_) on_change_();
}

void SiteAgent::set_keys(const std::vector<std::string>& secrets) {
  keys_.clear();
  for (auto& k : secrets) keys_.push_back(make_site_key(k));
}

void SiteAgent::set_sources(const std::vector<asio::ip::address>& allowed) {
  sources_.clear();
  for (auto& a : allowed) sources_.push_back(canonical(a));
}

uint64_t SiteAgent::refused() const {
  uint64_t n = 0;
  for (auto c : refused_) n += c;
  return n;
}

std::vector<std::string> SiteAgent::key_ids() const {
  std::vector<std::string> out;
  for (auto& k : keys_) out.push_back(hex(k.id));
  return out;
}

void SiteAgent::accept(const std::shared_ptr<Listener>& l) {
  l->acceptor.async_accept([this, l, alive = std::weak_ptr<bool>(alive_)](error_code ec, tcp::socket s) {
    if (alive.expired() || ec == asio::error::operation_aborted || !l->acceptor.is_open()) return;
    if (!ec) {
      if (auto src = admit(s)) {
        auto c = std::make_shared<Client>(io_, std::move(s), *src);
        ++clients_;
        ++per_source_[*src];
        c->timer.expires_after(settings_.timeout);
        c->timer.async_wait([this, c, alive](error_code e) {
          if (e) return;
          if (alive.expired()) {  // stopped: counters are gone, the socket still goes
            c->socket.close(e);
            return;
          }
          client_end(c, false);
        });
        client_read(c);
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

std::optional<asio::ip::address> SiteAgent::admit(tcp::socket& s) {
  error_code ec;
  const auto ep = s.remote_endpoint(ec);
  auto refuse = [&](AgentRefusal r) -> std::optional<asio::ip::address> {
    ++refused_[size_t(r)];
    // A reset, not a close: a flood of refused connections leaves no TIME_WAIT behind here.
    s.set_option(tcp::socket::linger(true, 0), ec);
    s.close(ec);
    return std::nullopt;
  };
  if (ec) {  // gone before it was looked at
    s.close(ec);
    return std::nullopt;
  }
  const auto src = canonical(ep.address());
  if (std::ranges::find(sources_, src) == sources_.end()) {
    // Only the site's servers query the agent; anything else is a scan or an attempt to take their
    // slots. Logged at most once a minute: a flood must not fill the log.
    const auto now = std::chrono::steady_clock::now();
    if (!stranger_logged_ || now - *stranger_logged_ >= std::chrono::minutes(1)) {
      spdlog::warn("site agent: refused a connection from {} (not a site server; {} refused so far)", src.to_string(),
                   refused_[size_t(AgentRefusal::NotASiteServer)] + 1);
      stranger_logged_ = now;
    }
    return refuse(AgentRefusal::NotASiteServer);
  }
  if (auto it = per_source_.find(src); it != per_source_.end() && it->second >= kSiteMaxPerSource)
    return refuse(AgentRefusal::PerSourceLimit);
  if (clients_ >= kSiteMaxClients) return refuse(AgentRefusal::TooManyClients);
  return src;
}

void SiteAgent::client_read(const std::shared_ptr<Client>& c) {
  // The agent reads one bounded request line and nothing else: the nonce to sign for.
  c->socket.async_read_some(asio::buffer(c->in.data() + c->got, c->in.size() - c->got),
                            [this, c, alive = std::weak_ptr<bool>(alive_)](error_code e, size_t n) {
                              if (alive.expired() || c->ended) return;
                              c->got += n;
                              std::string_view in(c->in.data(), c->got);
                              const size_t nl = in.find('\n');
                              if (nl == std::string_view::npos) {
                                if (e || c->got == c->in.size()) return client_end(c, false);
                                return client_read(c);
                              }
                              auto nonce = parse_site_request(in.substr(0, nl));
                              if (!nonce) return client_end(c, false);
                              c->reply = format_site_reply(report_());
                              if (!keys_.empty())
                                c->reply = sign_site_reply(std::move(c->reply), keys_.front(), *nonce);
                              asio::async_write(c->socket, asio::buffer(c->reply),
                                                [this, c, alive](error_code w, size_t) {
                                                  if (alive.expired() || c->ended) return;
                                                  if (!w) c->socket.shutdown(tcp::socket::shutdown_send, w);
                                                  client_end(c, !w);
                                                });
                            });
}

void SiteAgent::client_end(const std::shared_ptr<Client>& c, bool served) {
  if (c->ended) return;
  c->ended = true;
  c->timer.cancel();
  error_code ec;
  c->socket.close(ec);
  --clients_;
  if (auto it = per_source_.find(c->source); it != per_source_.end() && --it->second == 0) per_source_.erase(it);
  if (served)
    ++served_;
  else
    ++bad_requests_;
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
  view_.set_peers(kept, configured_);
  for (auto& [_, p] : polls_) {  // gone or moved to another address
    p->removed = true;
    p->timer.cancel();
    p->deadline.cancel();
    error_code ec;
    p->socket.close(ec);
  }
  polls_ = std::move(next);
  // After the first configure, a new peer was added by a reload (or moved): it may not serve yet.
  view_.set_peers(names, configured_);
  configured_ = true;
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
  if (bind_timer_) bind_timer_->cancel();
  for (auto& l : listeners_) {
    error_code ec;
    l->acceptor.close(ec);
    l->retry.cancel();
  }
  listeners_.clear();
  clients_ = 0;
  per_source_.clear();
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
  auto nonce = random_site_nonce();
  if (!nonce) return done(p, std::unexpected("no random nonce (OpenSSL RAND_bytes failed)"));
  // Fresh for every query: a reply signed for an earlier or another server's query fails.
  p->nonce = *nonce;
  p->request = format_site_request(p->nonce);
  p->socket = tcp::socket(io_);
  tcp::endpoint ep(p->peer.address, settings_.port);
  if (const auto& src = p->peer.address.is_v4() ? settings_.source4 : settings_.source6) {
    error_code e;
    p->socket.open(ep.protocol(), e);
    // The port is then picked at connect, by the whole 4-tuple, as for an unbound socket: binding
    // the address must not make queries compete for ports.
    int one = 1;
    if (!e) ::setsockopt(p->socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (!e) p->socket.bind({*src, 0}, e);
    if (e) return done(p, std::unexpected("bind source " + src->to_string() + ": " + e.message()));
  }
  auto alive = std::weak_ptr<bool>(alive_);
  p->deadline.expires_after(settings_.timeout);
  p->deadline.async_wait([this, p, seq, alive](error_code e) {
    if (e || alive.expired() || p->removed || p->seq != seq || !p->inflight) return;
    done(p, std::unexpected("timed out after " + std::to_string(settings_.timeout.count()) + " ms"));
  });
  p->socket.async_connect(ep, [this, p, seq, alive](error_code e) {
    if (alive.expired() || p->removed || p->seq != seq || !p->inflight) return;
    if (e) return done(p, std::unexpected("connect: " + e.message()));
    asio::async_write(p->socket, asio::buffer(p->request), [this, p, seq, alive](error_code w, size_t) {
      if (alive.expired() || p->removed || p->seq != seq || !p->inflight) return;
      if (w) return done(p, std::unexpected("write: " + w.message()));
      read(p, seq);
    });
  });
}

void SiteAgent::read(const std::shared_ptr<Poll>& p, uint64_t seq) {
  // Read to EOF, keeping one byte more than the limit so an over-long reply is recognised.
  constexpr size_t kLimit = kSiteMaxReply + kSiteMaxAuthLine;
  p->socket.async_read_some(asio::buffer(p->chunk), [this, p, seq, alive = std::weak_ptr<bool>(alive_)](error_code e,
                                                                                                        size_t n) {
    if (alive.expired() || p->removed || p->seq != seq || !p->inflight) return;
    p->buf.append(p->chunk.data(), std::min(n, kLimit + 1 - std::min(kLimit + 1, p->buf.size())));
    if (p->buf.size() > kLimit)
      return done(p, std::unexpected("reply longer than " + std::to_string(kLimit) + " bytes"), SiteRefusal::TooLong);
    if (e == asio::error::eof) {
      auto r = open_site_reply(p->buf, p->nonce, keys_);
      if (!r) return done(p, std::unexpected(std::move(r.error().detail)), r.error().reason);
      return done(p, std::move(*r));
    }
    if (e) return done(p, std::unexpected("read: " + e.message()));
    read(p, seq);
  });
}

void SiteAgent::done(const std::shared_ptr<Poll>& p, std::expected<SiteReport, std::string> r,
                     std::optional<SiteRefusal> refusal) {
  p->inflight = false;
  p->deadline.cancel();
  error_code ec;
  p->socket.close(ec);
  const auto before = view_.find(p->peer.name);
  const Verdict was = before ? before->reach : Verdict::Unknown;
  const uint64_t refused_before = before ? [&] {
    uint64_t n = 0;
    for (auto& [_, c] : before->refused) n += c;
    return n;
  }() : 0;
  const bool changed = view_.record(p->peer.name, std::move(r), clock_.now(), refusal);
  if (const auto* now = view_.find(p->peer.name)) {
    uint64_t refused_now = 0;
    for (auto& [_, c] : now->refused) refused_now += c;
    if (refused_now > refused_before) {
      // Logged when refusals start or change reason, then at most once a minute per server.
      const TimePoint t = clock_.now();
      if (now->refusal != p->logged_refusal || !p->logged_at || t - *p->logged_at >= std::chrono::minutes(1)) {
        spdlog::warn("site: refused a reply from server {} ({}): {}", p->peer.name, now->refusal, now->error);
        p->logged_refusal = now->refusal;
        p->logged_at = t;
      }
    }
  }
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
