#pragma once
// vaned's wiring: one io_context thread owns every piece of protocol state. Health decisions
// flow into the controller, which gives the speaker the routes to announce.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <memory>

#include "bgp/ra_link.h"
#include "bgp/speaker.h"
#include "config/config.h"
#include "control/metrics.h"
#include "control/metrics_http.h"
#include "control/server.h"
#include "daemon/bfd_link.h"
#include "daemon/forwarding.h"
#include "daemon/load_loop.h"
#include "daemon/reload.h"
#include "health/engine.h"
#include "health/site_agent.h"

namespace vane::daemon {

struct ReloadRequest {
  bool dry_run = false;
  // Plan against this config instead of the file's (dry runs only).
  std::optional<config::Loaded> candidate;
  // Roll back by itself unless confirm_reload() comes within this long; 0: no confirmation.
  std::chrono::seconds confirm_within{0};
};

struct ReloadResult {
  config::Diagnostics errors;  // the new config was refused; nothing changed
  std::string refused;         // refused for another reason; nothing changed
  ReloadPlan plan;
  std::optional<StepFailure> failed;  // applying failed; everything was put back
  bool applied = false;
};

struct Options {
  std::filesystem::path config_path;
  // --log-level / --log-format: they win over the file, at start and on reload.
  std::string log_level, log_format;
};

class Daemon {
 public:
  Daemon(config::Loaded cfg, Options opts);
  ~Daemon();
  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

  // Reload from the config file (or plan against a candidate): validated whole, resolved into a
  // plan, then applied as a transaction (see daemon/reload.h). A refused file, a failed step or a
  // pending confirmation leave everything as it was, the previous config current.
  ReloadResult reload(ReloadRequest req = {});
  // Keeps the reload that awaits confirmation; false when none does.
  bool confirm_reload();

 private:
  void arm_signals();
  void arm_watchdog();
  void on_signal(int sig);
  void stop();
  void finish();
  void update_exports();
  void check_ready();
  void apply_neighbors(const config::Loaded& before, const config::Loaded& next);
  ReloadPlan plan_for(const config::Loaded& next) const;
  std::expected<void, StepFailure> apply_config(config::Loaded next, const ReloadPlan& plan);
  // The infallible last step: the new config becomes current and every part follows it.
  void commit_config(config::Loaded next, std::unique_ptr<metrics::HttpServer> new_metrics, bool metrics_changed);
  void arm_confirm(config::Loaded previous, std::chrono::seconds within);
  void roll_back_unconfirmed();
  void start_control();
  void start_control_socket();
  void start_metrics();
  // Applies log and metrics changes of a reload (control socket changes wait for a restart).
  void apply_admin(const config::Config& before);
  void handle(const control::Request& req, control::Server::Reply reply);
  control::Response reload_response(const control::Reload& q);
  void collect(metrics::Registry& reg);
  // All or nothing: on error the data path is as it was.
  std::expected<void, std::string> apply_forwarding(const config::Loaded& next, const SiteWeights& weights);
  // Site health: starts or adjusts the site agent for the current config.
  void apply_site();
  // Recomputes every service's server weights from this server's health and the site view; gives
  // the forwarder new tables and the health engine its min_healthy_servers gates.
  void update_site();
  health::SiteReport local_report() const;
  // Load-driven weights (daemon/load_wiring.cc): starts, adjusts or stops the load loop, and gives
  // the site view the range each peer may publish.
  void apply_load();
  // `r` with the weight (and utilisation) the load loop publishes, when it runs.
  health::SiteReport with_load(health::SiteReport r) const;
  void fill_load(control::SiteServer& out, const config::Server& s) const;
  void collect_load(metrics::Registry& reg) const;
  SiteWeights current_weights() const;
  // Every service's server weights and site gate under `cfg`, from this server's health and the
  // site view as they are now.
  struct SiteState {
    std::map<std::string, std::vector<health::ServerWeight>> weights;  // by service
    SiteWeights effective;
    std::map<std::string, bool> gates;  // open, by service
  };
  SiteState site_state(const config::Config& cfg) const;
  // The service's min_healthy_servers as applied on this node (at least 1 on a forwarder-only one).
  uint32_t min_healthy_servers(const config::Config& cfg, const config::Service& svc) const;
  std::filesystem::path marker_path() const;
  // One RaLink per interface an unnumbered neighbour names; the learned router addresses go to
  // the neighbours that learn theirs there.
  void apply_ra_links(const config::Loaded& cfg);

  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer watchdog_, ready_timer_, drain_timer_, confirm_timer_;
  config::Loaded cfg_;
  Options opts_;
  health::SteadyClock clock_;
  std::unique_ptr<bgp::Speaker> speaker_;
  std::unique_ptr<BfdLink> bfd_;  // after speaker_: its sessions call into the speaker
  // Router advertisements on the interfaces of unnumbered neighbours, by interface; after
  // speaker_: they hand it the routers' addresses.
  std::map<std::string, std::unique_ptr<bgp::RaLink>> ra_links_;
  std::unique_ptr<health::Engine> health_;
  std::unique_ptr<Forwarding> forwarding_;
  std::unique_ptr<health::SiteAgent> site_;
  std::shared_ptr<LoadLoop> load_;
  std::map<std::string, std::vector<health::ServerWeight>> site_weights_;  // by service
  health::SiteReport site_report_;  // what the site agent answers; kept current by update_site
  uint16_t site_port_ = 0;
  bool site_pending_ = false;  // an update_site for the engine's changes is queued
  std::unique_ptr<control::Server> control_;
  std::unique_ptr<metrics::HttpServer> metrics_;
  int64_t start_time_ = 0;
  bool stopping_ = false;
  bool ready_ = false;
  bool draining_for_stop_ = false;
  int exit_code_ = 0;
  // The config to go back to unless the last reload is confirmed in time.
  std::optional<config::Loaded> confirm_previous_;
  std::chrono::steady_clock::time_point confirm_deadline_{};
};

}  // namespace vane::daemon
