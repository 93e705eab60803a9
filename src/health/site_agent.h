#pragma once
// Site health, the I/O half: vaned's site agent (a TCP listener on this server's fabric
// addresses that writes this server's report and closes) and the poller that queries every other
// server's agent on a schedule and feeds a SiteView. Single-threaded on the caller's io_context.
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include "health/site.h"
#include "health/types.h"

namespace vane::health {

// At most this many agent connections at once; more are closed at once (a scan or a flood must not
// make vaned hold sockets without bound).
inline constexpr size_t kSiteMaxClients = 64;

struct SitePeer {
  std::string name;
  boost::asio::ip::address address;
};

struct SiteSettings {
  uint16_t port = 0;
  std::chrono::milliseconds interval{500};
  std::chrono::milliseconds timeout{400};
  uint32_t rise = 2, fall = 3;
};

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
  // Starts (or, on reload, adjusts) the queries: peers kept by name keep their state and schedule.
  void configure(const SiteSettings& s, const std::vector<SitePeer>& peers);
  void stop();

  const SiteView& view() const { return view_; }
  uint64_t served() const { return served_; }    // replies written
  uint64_t refused() const { return refused_; }  // connections closed because of kSiteMaxClients

 private:
  struct Listener;
  struct Client;
  struct Poll;
  void accept(const std::shared_ptr<Listener>& l);
  void schedule(const std::shared_ptr<Poll>& p, std::chrono::milliseconds delay);
  void query(const std::shared_ptr<Poll>& p);
  void read(const std::shared_ptr<Poll>& p, uint64_t seq);
  void done(const std::shared_ptr<Poll>& p, std::expected<SiteReport, std::string> r);

  boost::asio::io_context& io_;
  const Clock& clock_;
  ReportFn report_;
  ChangeFn on_change_;
  SiteSettings settings_;
  SiteView view_{2, 3};
  std::vector<std::shared_ptr<Listener>> listeners_;
  std::map<std::string, std::shared_ptr<Poll>> polls_;
  size_t clients_ = 0;
  uint64_t served_ = 0, refused_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace vane::health
