#include "daemon/daemon.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <set>
#include <tuple>
#ifdef VANE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include <google/protobuf/util/message_differencer.h>

#include "common/log.h"
#include "daemon/neighbor_config.h"
#include "steer/controller.h"

namespace vane::daemon {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
// systemd readiness and watchdog; a no-op when not run under systemd (NOTIFY_SOCKET unset).
void notify(const char* state) {
#ifdef VANE_HAVE_SYSTEMD
  sd_notify(0, state);
#else
  (void)state;
#endif
}

// How long start-up may wait for every check's first verdict before End-of-RIB goes out anyway:
// long enough for the slowest check to rise or fall.
std::chrono::milliseconds ready_deadline(const config::Config& cfg) {
  std::chrono::milliseconds worst{0};
  for (auto& s : cfg.service())
    for (auto& c : s.check()) {
      auto interval =
          std::chrono::milliseconds(c.has_interval_ms() ? c.interval_ms() : config::kDefaultCheckIntervalMs);
      uint32_t n =
          std::max(c.has_rise() ? c.rise() : config::kDefaultRise, c.has_fall() ? c.fall() : config::kDefaultFall);
      worst = std::max(worst, interval * (n + 1));
    }
  return std::min<std::chrono::milliseconds>(worst + 1s, 120s);
}
}  // namespace

Daemon::Daemon(config::Loaded cfg, Options opts)
    : signals_(io_, SIGTERM, SIGINT, SIGHUP),
      watchdog_(io_),
      ready_timer_(io_),
      drain_timer_(io_),
      confirm_timer_(io_),
      cfg_(std::move(cfg)),
      opts_(std::move(opts)) {
  signals_.add(SIGUSR1);
  signals_.add(SIGUSR2);
}

Daemon::~Daemon() = default;

std::filesystem::path Daemon::marker_path() const {
  std::string sock = cfg_.proto.control().socket().empty() ? config::kDefaultSocket : cfg_.proto.control().socket();
  return sock + ".running";
}

int Daemon::run() {
  arm_signals();
  // A marker left behind by an earlier vaned means it did not exit cleanly: tell routers we are
  // restarting (RFC 4724) so they keep our routes while we come back.
  std::error_code ec;
  bool restarting = std::filesystem::exists(marker_path(), ec);
  std::filesystem::create_directories(marker_path().parent_path(), ec);
  std::ofstream(marker_path()) << getpid() << "\n";

  if (cfg_.proto.forwarding().enabled()) {
    auto fw = Forwarding::start(cfg_);
    if (!fw) {
      spdlog::critical("forwarding: {}; refusing to start", fw.error());
      std::filesystem::remove(marker_path(), ec);
      return 1;
    }
    forwarding_ = std::move(*fw);
  }

  bgp::SpeakerOptions so;
  so.listen = listen_addresses(cfg_);
  so.listen_port = listen_port(cfg_.proto);
  so.restarting = restarting;
  speaker_ = std::make_unique<bgp::Speaker>(io_, so);
  bfd_ = std::make_unique<BfdLink>(io_, *speaker_);
  bfd_->apply(cfg_);  // before the neighbours start: a session BFD holds must not
  for (auto& n : cfg_.proto.neighbor()) speaker_->add_neighbor(neighbor_config(cfg_, n));
  for (auto& e : speaker_->start()) spdlog::error("bgp: {}", e);
  apply_ra_links(cfg_);

  health_ = std::make_unique<health::Engine>(io_, clock_);
  health_->on_prefix_change([this](const std::vector<health::PrefixChange>& changes) {
    for (auto& c : changes)
      spdlog::info("prefix {}: {} -> {}", c.prefix, health::to_string(c.from), health::to_string(c.to));
    update_exports();
  });
  health_->on_change([this](const health::Change& c) {
    if (!c.check.empty())
      spdlog::info("service {} check {}: {}{}", c.service, c.check, health::to_string(c.verdict),
                   c.health_changed ? (c.healthy ? " (service healthy)" : " (service unhealthy)") : "");
    // Once for every change queued in this turn (at start-up every check's first verdict lands
    // within a few ms): update_site looks at every service.
    if (site_pending_) return;
    site_pending_ = true;
    asio::post(io_, [this] {
      site_pending_ = false;
      update_site();
      check_ready();
    });
  });
  health_->apply(cfg_.proto);
  health_->start();
  apply_site();
  apply_load();
  update_site();
  update_exports();
  check_ready();
  if (!ready_) {
    ready_timer_.expires_after(ready_deadline(cfg_.proto));
    ready_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || ready_) return;
      spdlog::warn("start-up: not every check has a verdict yet; sending End-of-RIB anyway");
      ready_ = true;
      speaker_->set_exports_ready();
    });
  }

  start_control();
  spdlog::info("vaned {} started: node {} ({}), {} neighbor(s), {} service(s){}", VANE_VERSION,
               cfg_.proto.node().name(), cfg_.proto.node().address(), cfg_.proto.neighbor_size(),
               cfg_.proto.service_size(), restarting ? "; restarting after an unclean exit" : "");
  notify("READY=1");
  arm_watchdog();
  io_.run();
  std::filesystem::remove(marker_path(), ec);
  spdlog::info("vaned stopped");
  return exit_code_;
}

void Daemon::start_control() {
  start_time_ =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  start_control_socket();
  start_metrics();
}

void Daemon::start_control_socket() {
  control::ServerOptions co;
  co.socket_path = cfg_.proto.control().socket().empty() ? config::kDefaultSocket : cfg_.proto.control().socket();
  control_ = std::make_unique<control::Server>(
      io_, co, [this](const control::Request& req, control::Server::Reply reply) { handle(req, std::move(reply)); });
  if (auto r = control_->start(); !r) {
    spdlog::error("control socket {}: {}; vanectl will not reach this vaned", co.socket_path.string(), r.error());
    control_.reset();
  }
}

void Daemon::start_metrics() {
  if (cfg_.proto.metrics().listen().empty()) return;
  metrics_ = std::make_unique<metrics::HttpServer>(
      io_,
      metrics::HttpServerOptions{.listen = cfg_.proto.metrics().listen(),
                                 .allow_remote = cfg_.proto.metrics().allow_remote()},
      [this](metrics::Registry& reg) { collect(reg); });
  if (auto r = metrics_->start(); !r) {
    spdlog::error("metrics on {}: {}", cfg_.proto.metrics().listen(), r.error());
    metrics_.reset();
  }
}

void Daemon::apply_admin(const config::Config& before) {
  using pb = google::protobuf::util::MessageDifferencer;
  // The metrics endpoint was switched by the reload's own step (bound before anything changed).
  if (!pb::Equals(before.log(), cfg_.proto.log())) {
    const std::string level = opts_.log_level.empty() ? cfg_.proto.log().level() : opts_.log_level;
    const std::string format = opts_.log_format.empty() ? cfg_.proto.log().format() : opts_.log_format;
    if (setup_logging(level, format))
      spdlog::info("reload: logging now at level {}, format {}", level.empty() ? "info" : level,
                   format.empty() ? "text" : format);
  }
  if (!pb::Equals(before.control(), cfg_.proto.control()))
    // Moving the socket from under the request that asked for this reload would drop its answer.
    spdlog::warn("reload: control socket settings changed; they take effect when vaned restarts");
}

void Daemon::update_exports() {
  if (!speaker_ || !health_ || stopping_) return;
  // A backend-only server is reached through the forwarders only: routers must not send it traffic.
  if (config::node_role(cfg_.proto) == config::BACKEND_ONLY) {
    speaker_->set_exports({});
    return;
  }
  speaker_->set_exports(steer::exports(cfg_.proto, health_->prefixes()));
}

health::SiteReport Daemon::local_report() const {
  return with_load(health::local_report(cfg_.proto.node().name(),
                                        health_ ? health_->local_services() : std::vector<health::LocalService>{}));
}

void Daemon::apply_site() {
  const auto st = config::site_health(cfg_.proto);
  if (!st.enabled() || stopping_) {
    if (site_) spdlog::info("site: site health off; the tables use the configured weights");
    site_.reset();
    return;
  }
  std::vector<boost::asio::ip::address> addrs;
  boost::system::error_code ec;
  for (const auto* a : {&cfg_.proto.node().address(), &cfg_.proto.node().address6()})
    if (!a->empty()) addrs.push_back(boost::asio::ip::make_address(*a, ec));
  // A new port or node address: a new agent, bound where the config now says.
  if (site_ && (site_port_ != st.port || site_->addresses() != addrs)) site_.reset();
  const bool fresh = !site_;
  const auto old_ids = site_ ? site_->key_ids() : std::vector<std::string>{};
  if (!site_) {
    site_ = std::make_unique<health::SiteAgent>(
        io_, clock_, [this] { return with_load(site_report_); }, [this] { update_site(); });
    site_port_ = st.port;
  }
  site_->set_keys(cfg_.site_keys);
  if (fresh || site_->key_ids() != old_ids) {
    std::string ids;
    for (auto& id : site_->key_ids()) ids += (ids.empty() ? "" : ", ") + id;
    if (site_->authenticated())
      spdlog::info("site: replies authenticated (HMAC-SHA-256); key id(s) {}, the first signs", ids);
    else
      spdlog::warn("site: unauthenticated: no site.key_file, so any host that reaches port {} can answer for a server",
                   st.port);
  }
  if (fresh) {
    // While it cannot bind (the port squatted, say), the agent retries and update_site below
    // reports this server down everywhere it counts: never serving without an agent.
    if (auto r = site_->serve(addrs, st.port); !r) spdlog::error("site: agent: {}", r.error());
  }
  // Only the other servers query this agent, each from its configured address (the poller binds
  // it as the source): every other source is refused at once.
  std::vector<boost::asio::ip::address> sources;
  for (auto& s : cfg_.proto.site().server()) {
    if (s.name() == cfg_.proto.node().name()) continue;
    for (const auto* a : {&s.address(), &s.address6()})
      if (!a->empty())
        if (auto x = boost::asio::ip::make_address(*a, ec); !ec) sources.push_back(x);
  }
  site_->set_sources(sources);
  std::vector<health::SitePeer> peers;
  for (auto& s : cfg_.proto.site().server()) {
    // Forwarder-only servers are never a hop, so their health does not enter any table.
    if (s.name() == cfg_.proto.node().name() || config::role_of(s) == config::FORWARDER_ONLY) continue;
    peers.push_back({s.name(), boost::asio::ip::make_address(s.address(), ec)});
  }
  health::SiteSettings settings{st.port, std::chrono::milliseconds(st.interval_ms),
                                std::chrono::milliseconds(st.timeout_ms), st.rise, st.fall};
  for (auto& a : addrs) (a.is_v4() ? settings.source4 : settings.source6) = a;
  site_->configure(settings, peers);
}

Daemon::SiteState Daemon::site_state(const config::Config& cfg) const {
  SiteState out;
  const auto report = with_load(health::local_report(
      cfg.node().name(), health_ ? health_->local_services() : std::vector<health::LocalService>{}));
  const health::SiteView* view = site_ && config::site_health(cfg).enabled() ? &site_->view() : nullptr;
  // Without its agent this server cannot vouch for itself: the others count it unreachable (or
  // refuse whoever answers in its place), so it drops out of its own tables too and withdraws.
  // A forwarder-only server is never queried, so its agent vouches for nothing.
  const bool agent_down = site_ && !site_->listening() && config::node_role(cfg) != config::FORWARDER_ONLY;
  for (auto& svc : cfg.service()) {
    auto w = health::service_weights(cfg, svc.name(), report, view);
    if (agent_down)
      for (auto& x : w)
        if (x.name == cfg.node().name() && x.why != "forwarder only")
          x = {x.name, 0, false, "site agent not listening"};
    const uint32_t need = min_healthy_servers(cfg, svc);
    const uint32_t have = health::healthy_servers(w);
    out.gates[svc.name()] = !agent_down && (need == 0 || have >= need);
    for (auto& x : w) out.effective[svc.name()][x.name] = x.weight;
    out.weights.emplace(svc.name(), std::move(w));
  }
  return out;
}

void Daemon::update_site() {
  if (!health_) return;
  site_report_ = local_report();
  auto st = site_state(cfg_.proto);
  // The engine returns what a gate moved (it runs no handler from here, so nothing re-enters).
  bool prefixes_moved = false;
  for (auto& [svc, open] : st.gates)
    for (auto& c : health_->set_site_gate(svc, open)) {
      spdlog::info("prefix {}: {} -> {}", c.prefix, health::to_string(c.from), health::to_string(c.to));
      prefixes_moved = true;
    }
  if (prefixes_moved) update_exports();
  auto& all = st.weights;
  if (all != site_weights_) {
    // One line per server whose standing changed, so the log says why a table moved.
    for (auto& [svc, ws] : all) {
      auto before = site_weights_.find(svc);
      for (size_t i = 0; i < ws.size(); ++i) {
        const health::ServerWeight& w = ws[i];
        // Both lists are in site config order: entry i, unless a reload reordered the servers.
        const health::ServerWeight* was = nullptr;
        if (before != site_weights_.end()) {
          const auto& b = before->second;
          if (i < b.size() && b[i].name == w.name)
            was = &b[i];
          else if (auto it = std::ranges::find(b, w.name, &health::ServerWeight::name); it != b.end())
            was = &*it;
        }
        if (was && was->weight == w.weight && was->why == w.why) continue;
        spdlog::info("site: service {}: server {} weight {} -> {} ({})", svc, w.name,
                     was ? std::to_string(was->weight) : std::string("-"), w.weight, w.why);
      }
    }
    site_weights_ = std::move(all);
    if (forwarding_) {
      if (auto r = forwarding_->apply(cfg_, st.effective); !r)
        spdlog::error("forwarding: site change: {}", r.error());
      else
        spdlog::info("site: forwarding tables now at generation {}", forwarding_->generation());
    }
  }
}

uint32_t Daemon::min_healthy_servers(const config::Config& cfg, const config::Service& svc) const {
  // A forwarder-only server has nothing to offer when no server can take the traffic.
  if (site_ && config::node_role(cfg) == config::FORWARDER_ONLY) return std::max(svc.min_healthy_servers(), 1u);
  return svc.min_healthy_servers();
}

SiteWeights Daemon::current_weights() const {
  SiteWeights out;
  for (auto& [svc, ws] : site_weights_)
    for (auto& w : ws) out[svc][w.name] = w.weight;
  return out;
}

void Daemon::check_ready() {
  if (ready_ || !health_ || !health_->all_gating_decided()) return;
  ready_ = true;
  ready_timer_.cancel();
  spdlog::info("start-up: every check has a verdict; announcing");
  update_exports();
  speaker_->set_exports_ready();
}

void Daemon::arm_watchdog() {
#ifdef VANE_HAVE_SYSTEMD
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  // Pet at half the interval: a wedged io_context stops petting and systemd restarts us.
  watchdog_.expires_after(std::chrono::microseconds(usec / 2));
  watchdog_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    notify("WATCHDOG=1");
    arm_watchdog();
  });
#endif
}

void Daemon::arm_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    on_signal(sig);
    arm_signals();
  });
}

void Daemon::on_signal(int sig) {
  switch (sig) {
    case SIGTERM:
    case SIGINT:
      spdlog::info("{} received: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      stop();
      break;
    case SIGHUP:
      (void)reload();
      break;
    case SIGUSR1:
      spdlog::info("SIGUSR1: draining every service");
      health_->drain_all();
      break;
    case SIGUSR2:
      spdlog::info("SIGUSR2: undraining every service");
      health_->undrain_all();
      break;
    default:
      break;
  }
}

void Daemon::apply_neighbors(const config::Loaded& before, const config::Loaded& next) {
  bfd_->apply(next);
  std::set<std::string> keep;
  for (auto& n : next.proto.neighbor()) {
    keep.insert(n.name());
    speaker_->update_neighbor(neighbor_config(next, n));
  }
  for (auto& n : before.proto.neighbor())
    if (!keep.count(n.name())) speaker_->remove_neighbor(n.name());
  apply_ra_links(next);
}

void Daemon::apply_ra_links(const config::Loaded& cfg) {
  std::set<std::string> want;
  for (auto& n : cfg.proto.neighbor())
    if (!n.interface().empty()) want.insert(n.interface());
  std::erase_if(ra_links_, [&](auto& kv) {
    if (want.count(kv.first)) return false;
    spdlog::info("router advertisements on {}: stopped (no unnumbered neighbor there any more)", kv.first);
    return true;
  });
  for (auto& ifname : want) {
    if (ra_links_.count(ifname)) continue;
    auto link = std::make_unique<bgp::RaLink>(io_, ifname, [this, ifname](std::optional<IpAddress> router) {
      for (auto& n : cfg_.proto.neighbor())
        if (n.interface() == ifname && n.address().empty()) speaker_->set_learned_address(n.name(), router);
    });
    // Without the socket the neighbour stays Idle (no address to call, and the router does not
    // learn ours): say so, but the rest of the daemon goes on; the link tries again by itself.
    if (auto e = link->start()) spdlog::error("bgp: {}", *e);
    ra_links_.emplace(ifname, std::move(link));
  }
  // Neighbours new on an interface whose router is already known.
  for (auto& n : cfg.proto.neighbor()) {
    if (n.interface().empty() || !n.address().empty()) continue;
    if (auto r = ra_links_.at(n.interface())->router()) speaker_->set_learned_address(n.name(), r);
  }
}

std::expected<void, std::string> Daemon::apply_forwarding(const config::Loaded& next, const SiteWeights& weights) {
  if (!next.proto.forwarding().enabled()) {
    if (forwarding_) {
      spdlog::info("forwarding: disabled by reload; detaching");
      forwarding_->stop();
    }
    forwarding_.reset();
    return {};
  }
  if (forwarding_) {
    // All or nothing (Forwarding::apply): on error the programs, maps and tables are as they were.
    if (auto r = forwarding_->apply(next, weights); !r) {
      spdlog::error("forwarding: reload: {}", r.error());
      return std::unexpected("forwarding: " + r.error());
    }
    return {};
  }
  auto fw = Forwarding::start(next, weights);
  if (!fw) return std::unexpected("forwarding: " + fw.error());
  forwarding_ = std::move(*fw);
  return {};
}

ReloadPlan Daemon::plan_for(const config::Loaded& next) const {
  PlanInputs in;
  in.current = &cfg_;
  in.next = &next;
  in.exports_now = speaker_ ? speaker_->exports() : bgp::ExportSet{};
  if (health_ && config::node_role(next.proto) != config::BACKEND_ONLY)
    in.exports_next = steer::exports(next.proto, health_->preview_prefixes(next.proto));
  in.weights_now = current_weights();
  in.weights_next = site_state(next.proto).effective;
  in.forwarding_now = forwarding_ != nullptr;
  if (next.proto.forwarding().enabled())
    in.forwarding =
        forwarding_ ? forwarding_->plan(next, in.weights_next) : Forwarding::plan_start(next, in.weights_next);
  return make_plan(in);
}

std::expected<void, StepFailure> Daemon::apply_config(config::Loaded next, const ReloadPlan& plan) {
  (void)plan;
  const auto weights = site_state(next.proto).effective;
  // Only a new address needs a new endpoint; allow_remote alone changes nothing once it is bound
  // (binding the same address beside the old server would fail with EADDRINUSE).
  const bool metrics_changed = cfg_.proto.metrics().listen() != next.proto.metrics().listen();
  std::unique_ptr<metrics::HttpServer> new_metrics;
  // What can fail comes first, each undoable; the data path last (all or nothing itself); then
  // the steps that cannot fail. So no session is reset and no check restarted for a reload that
  // is then rolled back.
  const std::vector<Step> steps = {
      // Only opens (a bind failure changes nothing); the commit closes the unwanted ones, so undoing
      // this step never has to bind a port again.
      {"bgp listeners",
       [&]() -> std::expected<void, std::string> {
         if (auto r =
                 speaker_->apply_listeners(listen_addresses(next), listen_port(next.proto), /*close_unwanted=*/false);
             !r)
           return std::unexpected("bgp: " + r.error());
         return {};
       },
       [&] {
         if (auto r = speaker_->apply_listeners(listen_addresses(cfg_), listen_port(cfg_.proto)); !r)
           spdlog::error("reload: closing the bgp listeners it opened: {}", r.error());
       }},
      {"metrics endpoint",
       [&]() -> std::expected<void, std::string> {
         const auto& listen = next.proto.metrics().listen();
         if (!metrics_changed || listen.empty()) return {};
         new_metrics = std::make_unique<metrics::HttpServer>(
             io_, metrics::HttpServerOptions{.listen = listen, .allow_remote = next.proto.metrics().allow_remote()},
             [this](metrics::Registry& reg) { collect(reg); });
         if (auto r = new_metrics->start(); !r) {
           new_metrics.reset();
           return std::unexpected("metrics on " + listen + ": " + r.error());
         }
         return {};
       },
       [&] {
         if (new_metrics) new_metrics->stop();
         new_metrics.reset();
       }},
      {"forwarding", [&] { return apply_forwarding(next, weights); }, {}},
      {"commit",
       [&]() -> std::expected<void, std::string> {
         commit_config(std::move(next), std::move(new_metrics), metrics_changed);
         return {};
       },
       {}},
  };
  return run_steps(steps);
}

void Daemon::commit_config(config::Loaded next, std::unique_ptr<metrics::HttpServer> new_metrics,
                           bool metrics_changed) {
  const config::Loaded before = std::move(cfg_);
  cfg_ = std::move(next);
  if (metrics_changed) {
    if (metrics_) metrics_->stop();
    metrics_ = std::move(new_metrics);
    spdlog::info("reload: metrics endpoint {}",
                 cfg_.proto.metrics().listen().empty() ? "off" : cfg_.proto.metrics().listen());
  }
  // Every wanted listener is open since the first step: this only closes, so it cannot fail.
  if (auto r = speaker_->apply_listeners(listen_addresses(cfg_), listen_port(cfg_.proto)); !r)
    spdlog::error("reload: bgp listeners: {}", r.error());
  apply_neighbors(before, cfg_);
  health_->apply(cfg_.proto);
  apply_admin(before.proto);
  apply_site();
  apply_load();
  // Recomputed for the new config; tables are rebuilt where a weight differs from what the
  // forwarding step used.
  update_site();
  update_exports();
}

ReloadResult Daemon::reload(ReloadRequest req) {
  ReloadResult out;
  if (stopping_) {
    out.refused = "vaned is stopping";
    return out;
  }
  std::optional<config::Loaded> next = std::move(req.candidate);
  const std::string source = next ? next->path.string() : opts_.config_path.string();
  if (!next) {
    auto l = config::load_file(opts_.config_path);
    if (!l) {
      spdlog::error("reload refused: {} error(s) in {}; nothing changed", l.error().size(), source);
      for (auto& d : l.error()) spdlog::error("{}", d.str());
      out.errors = std::move(l.error());
      return out;
    }
    next = std::move(*l);
  }
  // The machine check of start-up, again: a reload naming an interface or an address this machine
  // does not have is refused before anything changes (a site agent or listener that cannot bind
  // would otherwise only show after the commit).
  if (auto m = config::check_machine(*next); !m.empty()) {
    spdlog::error("reload refused: {} does not fit this machine; nothing changed", source);
    for (auto& d : m) spdlog::error("{}", d.str());
    out.errors = std::move(m);
    return out;
  }
  out.plan = plan_for(*next);
  if (req.dry_run) {
    spdlog::info("reload dry run: {} change(s) in {}; nothing applied", out.plan.changes.size(), source);
    return out;
  }
  if (confirm_previous_) {
    const auto left = std::chrono::ceil<std::chrono::seconds>(confirm_deadline_ - std::chrono::steady_clock::now());
    out.refused = "the last reload awaits confirmation (vanectl reload --confirm); it rolls back in " +
                  std::to_string(std::max<int64_t>(left.count(), 0)) + "s";
    spdlog::warn("reload refused: {}", out.refused);
    return out;
  }
  if (out.plan.empty()) {
    spdlog::info("reload: {} is valid and unchanged", source);
    return out;
  }
  notify("RELOADING=1");
  struct Done {
    ~Done() { notify("READY=1"); }
  } done;
  spdlog::info("reload: {} is valid; applying {} change(s):", source, out.plan.changes.size());
  for (auto& c : out.plan.changes) spdlog::info("  {}", c);
  for (auto& r : out.plan.restart) spdlog::warn("reload: {} changed; takes effect when vaned restarts", r);
  config::Loaded previous = cfg_;
  if (auto r = apply_config(std::move(*next), out.plan); !r) {
    spdlog::error("reload failed at {}: {}; rolled back, {} stays current", r.error().step, r.error().error,
                  opts_.config_path.string());
    out.failed = std::move(r.error());
    return out;
  }
  out.applied = true;
  if (req.confirm_within.count() > 0) arm_confirm(std::move(previous), req.confirm_within);
  return out;
}

void Daemon::arm_confirm(config::Loaded previous, std::chrono::seconds within) {
  confirm_previous_ = std::move(previous);
  confirm_deadline_ = std::chrono::steady_clock::now() + within;
  spdlog::info("reload: rolls back in {}s unless confirmed (vanectl reload --confirm)", within.count());
  confirm_timer_.expires_after(within);
  confirm_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) roll_back_unconfirmed();
  });
}

bool Daemon::confirm_reload() {
  if (!confirm_previous_) return false;
  confirm_previous_.reset();
  confirm_timer_.cancel();
  spdlog::info("reload: confirmed");
  return true;
}

void Daemon::roll_back_unconfirmed() {
  if (!confirm_previous_ || stopping_) return;
  config::Loaded previous = std::move(*confirm_previous_);
  confirm_previous_.reset();
  auto plan = plan_for(previous);
  spdlog::warn("reload: not confirmed in time; rolling back {} change(s)", plan.changes.size());
  if (plan.empty()) return;
  if (auto r = apply_config(std::move(previous), plan); !r)
    spdlog::error("reload: rollback failed at {}: {}; the unconfirmed config stays current", r.error().step,
                  r.error().error);
  else
    spdlog::info("reload: rolled back to the previous config");
}

void Daemon::stop() {
  if (stopping_) {
    spdlog::info("second stop request: exiting now");
    finish();
    return;
  }
  const auto& node = cfg_.proto.node();
  if (!draining_for_stop_ && node.drain_on_stop() && node.drain_time_s() > 0) {
    // Drain first so routers move traffic away gracefully; a second SIGTERM skips the rest.
    draining_for_stop_ = true;
    spdlog::info("draining for {}s before withdrawing", node.drain_time_s());
    health_->drain_all();
    drain_timer_.expires_after(std::chrono::seconds(node.drain_time_s()));
    drain_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) stop();
    });
    return;
  }
  drain_timer_.cancel();
  stopping_ = true;
  notify("STOPPING=1");
  health_->stop();
  if (site_) site_->stop();
  if (load_) load_->stop();
  speaker_->shutdown("vaned is shutting down", 2s, [this] { finish(); });
}

void Daemon::finish() {
  if (control_) control_->stop();
  if (metrics_) metrics_->stop();
  signals_.cancel();
  watchdog_.cancel();
  ready_timer_.cancel();
  drain_timer_.cancel();
  confirm_timer_.cancel();
  io_.stop();
}

}  // namespace vane::daemon
