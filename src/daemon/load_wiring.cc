// The daemon's part of load-driven weights (docs/load.md): kept out of daemon.cc so that the wiring
// of the load loop stays in one place.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "common/sanitize.h"

#include "daemon/daemon.h"

namespace vane::daemon {

namespace {
uint32_t configured_weight(const config::Server& s) {
  return s.has_weight() ? s.weight() : config::kDefaultWeight;
}
}  // namespace

health::SiteReport Daemon::with_load(health::SiteReport r) const {
  if (load_ && load_->status().enabled) r.load = load_->published();
  return r;
}

void Daemon::apply_load() {
  const auto ls = config::site_load(cfg_.proto);
  const auto law = law_settings(ls);
  const std::string& self = cfg_.proto.node().name();
  if (site_) {
    // What each peer may publish, from this server's config; replies outside are refused.
    std::map<std::string, std::pair<uint32_t, uint32_t>> bounds;
    for (auto& s : cfg_.proto.site().server()) {
      if (s.name() == self) continue;
      const uint32_t c = configured_weight(s);
      // The raw range, not this server's grid: a peer with another quantum has other levels.
      bounds[s.name()] = steer::load_peer_bounds(law, c);
    }
    site_->set_load_bounds(std::move(bounds));
  }
  if (!ls.enabled || !site_ || stopping_ || config::node_role(cfg_.proto) == config::FORWARDER_ONLY) {
    if (load_) {
      spdlog::info("site: load: off; this server stands at its configured weight");
      load_->stop();
      load_.reset();
    }
    return;
  }
  uint32_t configured = config::kDefaultWeight;
  for (auto& s : cfg_.proto.site().server())
    if (s.name() == self) configured = configured_weight(s);
  if (!load_) {
    load_ = std::make_shared<LoadLoop>(
        io_,
        [this] {
          std::vector<steer::PeerLoad> out;
          if (!site_) return out;
          for (auto& s : cfg_.proto.site().server()) {
            if (s.name() == cfg_.proto.node().name() || config::role_of(s) == config::FORWARDER_ONLY) continue;
            const health::PeerStatus* p = site_->view().find(s.name());
            if (!p || !p->last || p->reach == health::Verdict::Down) continue;
            steer::PeerLoad pl;
            pl.published = p->last->load ? p->last->load->weight : configured_weight(s);
            if (p->last->load && p->last->load->utilisation) pl.utilisation = *p->last->load->utilisation / 1000.0;
            // A server with no service up (with a weight) carries nothing: its utilisation would
            // drag the mean down, whatever it publishes.
            pl.serving = std::ranges::any_of(p->last->services, [](auto& kv) {
              return kv.second.state == health::SiteService::State::Up && kv.second.percent > 0;
            });
            out.push_back(pl);
          }
          return out;
        },
        [this] { update_site(); },
        [this] {
          // Serving: some service healthy, not drained (node drain included), with a weight, and
          // its site gate open; otherwise this server carries no traffic.
          if (!health_) return false;
          for (auto& l : health_->local_services())
            if (l.healthy && !l.drained && l.percent.value_or(100) > 0 && health_->site_gate_open(l.name)) return true;
          return false;
        });
    spdlog::info("site: load: on ({}, period {} ms, window {} ms)",
                 ls.source == config::SiteLoad::CGROUP ? "cgroup " + ls.cgroup_path : std::string("/proc/stat"),
                 ls.period_ms, ls.window_ms);
  }
  load_->configure(ls, configured, std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace vane::daemon

namespace vane::daemon {

void Daemon::fill_load(control::SiteServer& out, const config::Server& s) const {
  auto permille = [](std::optional<uint32_t> u) { return u ? int32_t(*u) : -1; };
  if (s.name() == cfg_.proto.node().name()) {
    if (!load_ || !load_->status().enabled) return;
    const auto& st = load_->status();
    const auto p = load_->published();
    out.set_load(true);
    out.set_load_weight(p.weight);
    out.set_utilisation_permille(permille(p.utilisation));
    out.set_load_reason(std::string(steer::to_string(st.reason)) +
                        (st.error.empty() ? "" : "; " + printable(st.error, 200)));
    out.set_load_mean_permille(st.mean > 0 ? int32_t(std::lround(st.mean * 1000)) : -1);
    return;
  }
  const health::PeerStatus* p = site_ ? site_->view().find(s.name()) : nullptr;
  // An unreachable server's last report no longer counts (its tables weight is 0): not shown as
  // if it did, as the metrics skip it too.
  if (!p || !p->last || !p->last->load || p->reach == health::Verdict::Down) return;
  out.set_load(true);
  out.set_load_weight(p->last->load->weight);
  out.set_utilisation_permille(permille(p->last->load->utilisation));
  out.set_load_mean_permille(-1);
}

void Daemon::collect_load(metrics::Registry& reg) const {
  if (!site_ && !load_) return;
  auto& util = reg.gauge("vane_site_utilisation", "CPU utilisation a server publishes (0..1; load-driven weights)");
  auto& weight = reg.gauge("vane_site_published_weight", "Weight a server publishes (load-driven weights)");
  auto put = [&](const std::string& name, const health::PublishedLoad& l) {
    if (l.utilisation) util.set(metrics::Labels{{"server", name}}, *l.utilisation / 1000.0);
    weight.set(metrics::Labels{{"server", name}}, double(l.weight));
  };
  if (load_ && load_->status().enabled) {
    const auto& st = load_->status();
    put(cfg_.proto.node().name(), load_->published());
    reg.counter("vane_site_load_moves_total", "Decisions of this server's load loop that changed its published weight")
        .set(double(st.moves));
    reg.counter("vane_site_load_sample_errors_total", "Failed CPU samples of this server's load loop")
        .set(double(st.sample_errors));
    reg.gauge("vane_site_load_low", "1 while this server's load loop is in low load (configured weight)")
        .set(st.low_load ? 1 : 0);
  }
  if (site_)
    for (auto& p : site_->view().peers())
      if (p.last && p.last->load && p.reach != health::Verdict::Down) put(p.name, *p.last->load);
}

}  // namespace vane::daemon
