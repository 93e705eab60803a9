#pragma once
// vaned's wiring: one io_context thread owns every piece of protocol state. Health decisions
// flow into the controller, which gives the speaker the routes to announce.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <memory>

#include "bgp/speaker.h"
#include "daemon/bfd_link.h"
#include "config/config.h"
#include "control/metrics.h"
#include "control/metrics_http.h"
#include "control/server.h"
#include "daemon/forwarding.h"
#include "health/engine.h"
#include "health/site_agent.h"

namespace vane::daemon {

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

  // Reload from the config file: validated whole, then applied as a difference. Returns the
  // errors (with line and column) when the new file is refused; nothing changes then.
  config::Diagnostics reload();

 private:
  void arm_signals();
  void arm_watchdog();
  void on_signal(int sig);
  void stop();
  void finish();
  void update_exports();
  void check_ready();
  void apply_neighbors(const config::Loaded& next);
  void start_control();
  void start_control_socket();
  void start_metrics();
  // Applies log and metrics changes of a reload (control socket changes wait for a restart).
  void apply_admin(const config::Config& before);
  void handle(const control::Request& req, control::Server::Reply reply);
  void collect(metrics::Registry& reg);
  void apply_forwarding(const config::Loaded& next);
  // Site health: starts or adjusts the site agent for the current config.
  void apply_site();
  // Recomputes every service's server weights from this server's health and the site view; gives
  // the forwarder new tables and the health engine its min_healthy_servers gates.
  void update_site();
  health::SiteReport local_report() const;
  SiteWeights current_weights() const;
  // The service's min_healthy_servers as applied on this node (at least 1 on a forwarder-only one).
  uint32_t min_healthy_servers(const config::Service& svc) const;
  std::filesystem::path marker_path() const;

  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer watchdog_, ready_timer_, drain_timer_;
  config::Loaded cfg_;
  Options opts_;
  health::SteadyClock clock_;
  std::unique_ptr<bgp::Speaker> speaker_;
  std::unique_ptr<BfdLink> bfd_;  // after speaker_: its sessions call into the speaker
  std::unique_ptr<health::Engine> health_;
  std::unique_ptr<Forwarding> forwarding_;
  std::unique_ptr<health::SiteAgent> site_;
  std::map<std::string, std::vector<health::ServerWeight>> site_weights_;  // by service
  health::SiteReport site_report_;  // what the site agent answers; kept current by update_site
  uint16_t site_port_ = 0;
  bool updating_site_ = false;
  std::unique_ptr<control::Server> control_;
  std::unique_ptr<metrics::HttpServer> metrics_;
  int64_t start_time_ = 0;
  bool stopping_ = false;
  bool ready_ = false;
  bool draining_for_stop_ = false;
  int exit_code_ = 0;
};

}  // namespace vane::daemon
