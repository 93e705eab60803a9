#pragma once
// Site health, the I/O half: vaned's site agent (a TCP listener on this server's fabric
// addresses that writes this server's report and closes) and the poller that queries every other
// server's agent on a schedule and feeds a SiteView. Single-threaded on the caller's io_context.
#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "health/site.h"
#include "health/types.h"

namespace vane::health {

// At most this many agent connections at once; more are closed at once (a scan or a flood must not
// make vaned hold sockets without bound).
inline constexpr size_t kSiteMaxClients = 64;
// At most this many at once from one source address: a server queries each other server one query
// at a time, so a source holding more is faulty or hostile, and must not take the others' slots.
inline constexpr size_t kSiteMaxPerSource = 4;
// While the agent cannot bind its address it retries, first after the minimum, doubling up to the
// maximum.
inline constexpr std::chrono::milliseconds kSiteBindRetryMin{1000};
inline constexpr std::chrono::milliseconds kSiteBindRetryMax{30000};

struct SitePeer {
  std::string name;
  boost::asio::ip::address address;
};

struct SiteSettings {
  uint16_t port = 0;
  std::chrono::milliseconds interval{500};
  // A query's whole time (connect, request, reply). The agent gives its clients the same time to
  // send their request and take the reply: the querier has given up by then.
  std::chrono::milliseconds timeout{400};
  uint32_t rise = 2, fall = 3;
  // The addresses queries are sent from (node.address, node.address6): the other agents serve
  // only site servers' addresses, so the source must not be left to the routing table.
  std::optional<boost::asio::ip::address> source4, source6;
};

// Why the agent closed a connection at once, without reading from it.
enum class AgentRefusal : uint8_t { NotASiteServer, PerSourceLimit, TooManyClients };
inline constexpr size_t kAgentRefusals = 3;
std::string_view to_string(AgentRefusal r);  // "not_a_site_server", "per_source_limit", "too_many_clients"

class SiteAgent {
 public:
  using ReportFn = std::function<SiteReport()>;
  using ChangeFn = std::function<void()>;

  // `report` is asked for this server's report on every query it answers; `on_change` runs when
  // the view of the other servers changes in a way that matters to the tables.
  SiteAgent(boost::asio::io_context& io, const Clock& clock, ReportFn report, ChangeFn on_change);
  ~SiteAgent();
  SiteAgent(const SiteAgent&) = delete;
  SiteAgent& operator=(const SiteAgent&) = delete;

  // Listens on each address (never a wildcard) at `port`. All or nothing.
  std::expected<void, std::string> listen(const std::vector<boost::asio::ip::address>& addresses, uint16_t port);
  // listen(), and while that fails (the port is taken, the address not up yet) retries with
  // backoff (set_bind_backoff) until it succeeds; `on_change` runs when listening() changes. An
  // error comes back only for what no retry can fix (a wildcard address).
  std::expected<void, std::string> serve(const std::vector<boost::asio::ip::address>& addresses, uint16_t port);
  bool listening() const { return !listeners_.empty(); }
  // What serve() was asked to bind.
  const std::vector<boost::asio::ip::address>& addresses() const { return bind_addresses_; }
  // Why the agent is not listening (serve() still retrying); empty while it listens.
  const std::string& listen_error() const { return listen_error_; }
  void set_bind_backoff(std::chrono::milliseconds min, std::chrono::milliseconds max) {
    backoff_min_ = min, backoff_max_ = max;
  }

  // The site keys (raw secrets, site.key_file): the first signs this agent's replies, any of them
  // verifies the other servers'. Empty: unauthenticated, as before keys existed.
  void set_keys(const std::vector<std::string>& secrets);
  bool authenticated() const { return !keys_.empty(); }
  std::vector<std::string> key_ids() const;  // hex, signing key first
  // The addresses allowed to query this agent: the other site servers' (IPv4 and IPv6). A
  // connection from any other source is closed at once, unread (a host of the fabric must not
  // hold the slots the servers need); none are allowed until this is called.
  void set_sources(const std::vector<boost::asio::ip::address>& allowed);
  // Starts (or, on reload, adjusts) the queries: peers kept by name keep their state and schedule.
  void configure(const SiteSettings& s, const std::vector<SitePeer>& peers);
  void stop();

  const SiteView& view() const { return view_; }
  void set_load_bounds(std::map<std::string, std::pair<uint32_t, uint32_t>> b) { view_.set_load_bounds(std::move(b)); }
  uint64_t served() const { return served_; }  // replies written
  // Connections closed at once, unread: in all, and by reason.
  uint64_t refused() const;
  uint64_t refused(AgentRefusal r) const { return refused_[size_t(r)]; }
  uint64_t bad_requests() const {
    return bad_requests_;
  }  // clients closed without a reply: no valid request line in time

 private:
  struct Listener;
  struct Client;
  struct Poll;
  void accept(const std::shared_ptr<Listener>& l);
  // The source address of a connection this agent will serve; nullopt: refused and closed.
  std::optional<boost::asio::ip::address> admit(boost::asio::ip::tcp::socket& s);
  void client_read(const std::shared_ptr<Client>& c);
  void client_end(const std::shared_ptr<Client>& c, bool served);
  void try_bind();
  void schedule(const std::shared_ptr<Poll>& p, std::chrono::milliseconds delay);
  void query(const std::shared_ptr<Poll>& p);
  void read(const std::shared_ptr<Poll>& p, uint64_t seq);
  void done(const std::shared_ptr<Poll>& p, std::expected<SiteReport, std::string> r,
            std::optional<SiteRefusal> refusal = std::nullopt);

  boost::asio::io_context& io_;
  const Clock& clock_;
  ReportFn report_;
  ChangeFn on_change_;
  SiteSettings settings_;
  SiteView view_{2, 3};
  bool configured_ = false;  // configure() ran once: peers added later are `joined`
  std::vector<std::shared_ptr<Listener>> listeners_;
  std::map<std::string, std::shared_ptr<Poll>> polls_;
  size_t clients_ = 0;
  std::map<boost::asio::ip::address, size_t> per_source_;  // clients held, by source address
  std::vector<boost::asio::ip::address> sources_;          // allowed to connect (set_sources)
  uint64_t served_ = 0, bad_requests_ = 0;
  std::array<uint64_t, kAgentRefusals> refused_{};
  std::optional<std::chrono::steady_clock::time_point> stranger_logged_;
  std::vector<SiteKey> keys_;
  // serve(): what to bind, and the retry state while binding fails.
  std::vector<boost::asio::ip::address> bind_addresses_;
  uint16_t bind_port_ = 0;
  std::unique_ptr<boost::asio::steady_timer> bind_timer_;
  std::chrono::milliseconds backoff_min_ = kSiteBindRetryMin, backoff_max_ = kSiteBindRetryMax, backoff_{0};
  std::string listen_error_;
  uint64_t bind_failures_ = 0;
  std::optional<std::chrono::steady_clock::time_point> bind_warned_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace vane::health
