#pragma once
// The health engine: runs every service's checks on a schedule, turns results into verdicts, service
// health and per-prefix decisions, and tells the daemon when any of them changes. Single-threaded:
// every method must be called on the io_context's thread, and every callback runs there.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "health/decider.h"
#include "health/probe.h"
#include "health/site.h"
#include "health/types.h"
#include "health/verdict.h"
#include "vane/config.pb.h"

namespace vane::health {

struct CheckStatus {
  std::string name;
  std::string kind;  // "tcp", "http", "dns", "exec", "agent"
  Verdict verdict = Verdict::Unknown;
  uint32_t transitions = 0;
  uint32_t successes = 0, failures = 0;  // current streaks
  uint32_t rise = 0, fall = 0;
  bool gating = true;
  std::optional<Result> last;
  std::optional<TimePoint> last_checked, last_change;
  std::string config_error;  // non-empty: the check cannot run and counts as failing
};

struct ServiceStatus {
  std::string name;
  bool healthy = false;
  bool drained = false;            // any drain source
  bool admin_drained = false;      // drain(service)
  bool agent_drained = false;      // an agent check said "drain"
  std::optional<uint32_t> weight;  // lowest percentage any agent check reported
  bool site_gate_closed = false;   // too few healthy servers in the site (min_healthy_servers)
  std::vector<CheckStatus> checks;
};

struct Snapshot {
  bool node_drained = false;
  std::vector<ServiceStatus> services;  // by name
  std::vector<PrefixStatus> prefixes;   // by prefix
};

// One service changed: a check's verdict, its health, its drain state or its agent weight.
struct Change {
  std::string service;
  std::string check;                   // the check whose verdict changed; empty if none did
  Verdict verdict = Verdict::Unknown;  // that check's new verdict
  bool healthy = false;
  bool health_changed = false;
  bool drained = false;
  std::optional<uint32_t> weight;
};

// interval + a uniform random delay of up to pct percent of it (pct capped at 100).
std::chrono::milliseconds jittered_interval(std::chrono::milliseconds interval, uint32_t pct, std::mt19937_64& rng);

class Engine {
 public:
  using ChangeHandler = std::function<void(const Change&)>;
  using PrefixHandler = std::function<void(const std::vector<PrefixChange>&)>;

  // `clock` stamps verdicts and drives prefix decisions and must outlive the engine. `runner`
  // starts probes; default: the real probes on `io`.
  Engine(boost::asio::io_context& io, const Clock& clock, std::unique_ptr<ProbeRunner> runner = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Handlers must not destroy the engine; they may call any other method.
  void on_change(ChangeHandler h) { on_change_ = std::move(h); }
  void on_prefix_change(PrefixHandler h) { on_prefix_ = std::move(h); }

  // Takes services and drain times from `cfg`. Later calls (reload) apply the difference:
  // services and checks are matched by name; a check whose target or kind is unchanged keeps its
  // verdict, counters and schedule, even if its timing or rise/fall changed; anything else is new
  // and starts Unknown; removed ones are cancelled (an exec check's process group is killed).
  // Services not mentioned in the difference are not disturbed.
  void apply(const config::Config& cfg);

  // Starts probing; each check first runs after a random part of its jitter, then every
  // interval_ms plus jitter. stop() cancels everything in flight and keeps the state.
  void start();
  void stop();
  bool running() const { return running_; }

  // Drains announce the service's prefixes with GRACEFUL_SHUTDOWN for its drain time, then
  // withdraw them; undrain reverses that. False if the service is unknown.
  bool drain(std::string_view service);
  bool undrain(std::string_view service);
  void drain_all();
  void undrain_all();

  // Site gate (min_healthy_servers): while closed, the service's prefixes are decided as if it were
  // unhealthy, but its own health (what the site agent reports to the other servers) is untouched,
  // so that one server's gate never feeds back into another's count. Open for unknown services.
  // Returns what that changed (prefix decisions only: the service's own state does not move) and
  // runs no handler, so a handler may call it without re-entering itself.
  std::vector<PrefixChange> set_site_gate(const std::string& service, bool open);
  bool site_gate_open(std::string_view service) const { return !site_gate_closed_.contains(service); }

  // Brings time-driven prefix state up to date (drain ends, hold-down and suppression ends). The
  // engine arms its own timer for next_wakeup(); this is for clocks driven by hand.
  void reevaluate();
  std::optional<TimePoint> next_wakeup() const { return decider_.next_wakeup(); }

  Snapshot snapshot() const;
  // True when every gating check has a verdict (what start-up waits for before announcing).
  bool all_gating_decided() const;

  // The work done so far, for tests that pin the cost of a probe result: services looked at (each
  // service's health or drain state read or recomputed) and prefixes evaluated.
  struct Work {
    uint64_t results = 0;
    uint64_t services = 0;
    uint64_t prefixes = 0;
  };
  Work work() const { return {results_, services_looked_at_, decider_.evaluations()}; }
  // What the site agent reports: each service's own health, drain and agent weight (no site gate).
  std::vector<LocalService> local_services() const;
  std::map<std::string, PrefixState> prefixes() const { return decider_.states(); }
  // What prefixes() would be right after apply(cfg), without applying it: services keep their
  // current health, new ones start unhealthy (their checks have no verdict yet). For reload plans.
  std::map<std::string, PrefixState> preview_prefixes(const config::Config& cfg) const;
  // Seeds the jitter; for reproducible tests.
  void seed(uint64_t s) { rng_.seed(s); }

 private:
  struct CheckRt;
  struct ServiceRt;
  struct DrainView {
    bool drained;
    std::optional<uint32_t> weight;
  };

  std::shared_ptr<CheckRt> make_check(const std::string& service, const config::Check& c, const std::string& vip,
                                      bool gating);
  void schedule(const std::shared_ptr<CheckRt>& rt, std::chrono::milliseconds delay);
  void run_check(const std::shared_ptr<CheckRt>& rt);
  void on_result(const std::shared_ptr<CheckRt>& rt, Result r);
  void cancel_check(CheckRt& rt);
  // Recomputes a service's health, agent drain and weight; true if its health changed.
  bool refresh_service(const std::string& name, ServiceRt& s, TimePoint now);
  DrainView drain_view(const std::string& name, const ServiceRt& s) const;
  std::map<std::string, DrainView> drain_views() const;
  // Evaluates prefixes and re-arms the wake-up timer. Adds a Change for each service in `before`
  // (or, with `all`, any service) whose drain state moved without one already listed.
  std::vector<PrefixChange> settle(TimePoint now, std::vector<Change>& changes,
                                   const std::map<std::string, DrainView>& before, bool all);
  // settle(), then runs the handlers.
  void commit(TimePoint now, std::vector<Change> changes, const std::map<std::string, DrainView>& before,
              bool all = true);
  void arm_wakeup();
  Change change_for(const std::string& name, const ServiceRt& s) const;

  boost::asio::io_context& io_;
  const Clock& clock_;
  std::unique_ptr<ProbeRunner> runner_;
  std::map<std::string, ServiceRt, std::less<>> services_;
  Decider decider_;
  uint32_t node_drain_time_s_ = 0;
  std::set<std::string, std::less<>> site_gate_closed_;
  bool running_ = false;
  std::mt19937_64 rng_;
  boost::asio::steady_timer wake_;
  // Handlers queued on the io_context check this before touching the engine.
  std::shared_ptr<Engine*> alive_;
  ChangeHandler on_change_;
  PrefixHandler on_prefix_;
  uint64_t results_ = 0;
  mutable uint64_t services_looked_at_ = 0;
};

}  // namespace vane::health
