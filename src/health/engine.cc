#include "health/engine.h"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "common/ip.h"
#include "config/config.h"

namespace vane::health {

namespace asio = boost::asio;
using std::chrono::milliseconds;

struct Engine::CheckRt {
  CheckRt(asio::io_context& io, Engine* e) : engine(e), timer(io) {}

  Engine* engine;
  std::string service;
  config::Check cfg;
  std::string identity;
  std::expected<ProbeSpec, std::string> spec = std::unexpected(std::string("not configured"));
  CheckVerdict verdict{config::kDefaultRise, config::kDefaultFall};
  bool gating = true;
  bool removed = false;
  asio::steady_timer timer;
  std::shared_ptr<Probe> inflight;
  std::chrono::steady_clock::time_point started;  // real time: it paces the schedule, not verdicts

  milliseconds interval() const {
    return milliseconds(cfg.has_interval_ms() ? cfg.interval_ms() : config::kDefaultCheckIntervalMs);
  }
  uint32_t jitter_pct() const { return cfg.has_jitter_pct() ? cfg.jitter_pct() : 10; }
};

struct Engine::ServiceRt {
  config::Service cfg;
  std::vector<std::shared_ptr<CheckRt>> checks;  // in config order
  bool healthy = false;
  bool decided = false;  // has had a health verdict; from then on new checks do not gate
  bool agent_drain = false;
  std::optional<uint32_t> weight;
};

namespace {

std::string first_vip(const config::Service& s) {
  return s.vip_size() > 0 ? s.vip(0).address() : std::string();
}

// What makes a check "the same check" across a reload: everything but its timing and thresholds,
// plus the address it falls back to.
std::string check_identity(const config::Check& c, const std::string& vip) {
  config::Check k = c;
  k.clear_interval_ms();
  k.clear_timeout_ms();
  k.clear_rise();
  k.clear_fall();
  k.clear_jitter_pct();
  std::string id = k.SerializeAsString();
  if (c.address().empty() && c.kind_case() != config::Check::kExec) id += "\n" + vip;
  return id;
}

std::string normalize_prefix(const std::string& text) {
  if (auto p = Prefix::parse(text)) return p->str();
  return text;
}

Decider::ServiceSpec decider_spec(const config::Service& s, uint32_t node_drain_time_s) {
  Decider::ServiceSpec spec;
  for (const auto& a : s.announce()) spec.prefixes.push_back(normalize_prefix(a.prefix()));
  spec.policy = FlapPolicy::from_config(s.dampening());
  spec.drain_time = std::chrono::seconds(s.has_drain_time_s() ? s.drain_time_s() : node_drain_time_s);
  return spec;
}

// The first run comes after a random share of the jitter, so checks do not start in lockstep.
milliseconds first_delay(milliseconds interval, uint32_t pct, std::mt19937_64& rng) {
  return jittered_interval(interval, pct, rng) - interval;
}

}  // namespace

milliseconds jittered_interval(milliseconds interval, uint32_t pct, std::mt19937_64& rng) {
  const int64_t span = interval.count() * std::min<uint32_t>(pct, 100) / 100;
  if (span <= 0) return interval;
  return interval + milliseconds(std::uniform_int_distribution<int64_t>(0, span)(rng));
}

Engine::Engine(asio::io_context& io, const Clock& clock, std::unique_ptr<ProbeRunner> runner)
    : io_(io),
      clock_(clock),
      runner_(std::move(runner)),
      rng_(std::random_device{}()),
      wake_(io),
      alive_(std::make_shared<Engine*>(this)) {
  if (!runner_) runner_ = std::make_unique<AsioProbeRunner>(io);
}

Engine::~Engine() {
  alive_.reset();
  for (auto& [_, s] : services_) {
    for (auto& c : s.checks) cancel_check(*c);
  }
}

std::shared_ptr<Engine::CheckRt> Engine::make_check(const std::string& service, const config::Check& c,
                                                    const std::string& vip, bool gating) {
  auto rt = std::make_shared<CheckRt>(io_, this);
  rt->service = service;
  rt->cfg = c;
  rt->identity = check_identity(c, vip);
  rt->spec = make_probe_spec(c, vip);
  rt->verdict.set_thresholds(c.has_rise() ? c.rise() : config::kDefaultRise,
                             c.has_fall() ? c.fall() : config::kDefaultFall);
  rt->gating = gating;
  if (!rt->spec) spdlog::warn("health: check {}/{} cannot run: {}", service, c.name(), rt->spec.error());
  return rt;
}

void Engine::cancel_check(CheckRt& rt) {
  rt.removed = true;
  rt.timer.cancel();
  if (rt.inflight) {
    rt.inflight->cancel();
    rt.inflight.reset();
  }
}

void Engine::schedule(const std::shared_ptr<CheckRt>& rt, milliseconds delay) {
  rt->timer.expires_after(delay);
  rt->timer.async_wait([w = std::weak_ptr<CheckRt>(rt)](boost::system::error_code ec) {
    if (ec) return;
    if (auto rt = w.lock(); rt && !rt->removed) rt->engine->run_check(rt);
  });
}

void Engine::run_check(const std::shared_ptr<CheckRt>& rt) {
  if (!running_ || rt->removed || rt->inflight) return;
  rt->started = std::chrono::steady_clock::now();
  if (!rt->spec) {
    // A check that cannot run is a failing check: the service must not look healthy because of it.
    // Posted, so that results always arrive the same way.
    asio::post(io_, [w = std::weak_ptr<CheckRt>(rt), why = rt->spec.error()] {
      if (auto rt = w.lock(); rt && !rt->removed) rt->engine->on_result(rt, Result{false, {}, why, {}, false});
    });
    return;
  }
  rt->inflight = runner_->start(*rt->spec, [w = std::weak_ptr<CheckRt>(rt)](Result r) {
    if (auto rt = w.lock(); rt && !rt->removed) rt->engine->on_result(rt, std::move(r));
  });
}

void Engine::on_result(const std::shared_ptr<CheckRt>& rt, Result r) {
  rt->inflight.reset();
  if (running_) {
    // Paced from the start of the run, so a slow target does not stretch the interval.
    const auto spent = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - rt->started);
    schedule(rt, std::max(milliseconds(0), jittered_interval(rt->interval(), rt->jitter_pct(), rng_) - spent));
  }

  ++results_;
  auto sit = services_.find(rt->service);
  if (sit == services_.end()) return;
  ServiceRt& s = sit->second;
  // A result moves only its own service: four looks at it (drain state before and after, health,
  // settle) however many services there are.
  std::map<std::string, DrainView> before;
  before.emplace(sit->first, drain_view(sit->first, s));
  const TimePoint now = clock_.now();
  const Verdict old = rt->verdict.verdict();
  const bool verdict_changed = rt->verdict.record(r, now);
  if (verdict_changed) {
    spdlog::info("health: check {}/{} {} -> {} ({})", rt->service, rt->cfg.name(), to_string(old),
                 to_string(rt->verdict.verdict()), r.detail);
  } else if (!r.ok) {
    spdlog::debug("health: check {}/{} failed: {}", rt->service, rt->cfg.name(), r.detail);
  }
  const bool health_changed = refresh_service(sit->first, s, now);

  std::vector<Change> changes;
  const DrainView after = drain_view(sit->first, s);
  const bool drain_changed =
      before.at(sit->first).drained != after.drained || before.at(sit->first).weight != after.weight;
  if (verdict_changed || health_changed || drain_changed) {
    Change c = change_for(sit->first, s);
    c.health_changed = health_changed;
    if (verdict_changed) {
      c.check = rt->cfg.name();
      c.verdict = rt->verdict.verdict();
    }
    changes.push_back(std::move(c));
  }
  commit(now, std::move(changes), before, /*all=*/false);
}

bool Engine::refresh_service(const std::string& name, ServiceRt& s, TimePoint now) {
  ++services_looked_at_;
  std::vector<CheckInput> inputs;
  bool agent_drain = false;
  std::optional<uint32_t> weight;
  for (const auto& c : s.checks) {
    inputs.push_back({c->verdict.verdict(), c->gating});
    const auto& last = c->verdict.last_result();
    if (c->cfg.kind_case() != config::Check::kAgent || !last) continue;
    agent_drain = agent_drain || (last->ok && last->drain);
    if (last->weight) weight = weight ? std::min(*weight, *last->weight) : *last->weight;
  }
  const auto h = service_health(HealthRule::from_config(s.cfg), inputs);
  if (h) s.decided = true;
  const bool healthy = h ? *h : (s.decided && s.healthy);
  const bool changed = healthy != s.healthy;
  if (changed) spdlog::info("health: service {} is now {}", name, healthy ? "healthy" : "unhealthy");
  s.healthy = healthy;
  s.agent_drain = agent_drain;
  s.weight = weight;
  decider_.set_healthy(name, healthy && !site_gate_closed_.contains(name));
  decider_.set_agent_drain(name, agent_drain, now);
  return changed;
}

Engine::DrainView Engine::drain_view(const std::string& name, const ServiceRt& s) const {
  ++services_looked_at_;
  return DrainView{decider_.drained(name), s.weight};
}

std::map<std::string, Engine::DrainView> Engine::drain_views() const {
  std::map<std::string, DrainView> out;
  for (const auto& [name, s] : services_) out.emplace(name, drain_view(name, s));
  return out;
}

Change Engine::change_for(const std::string& name, const ServiceRt& s) const {
  Change c;
  c.service = name;
  c.healthy = s.healthy;
  c.drained = decider_.drained(name);
  c.weight = s.weight;
  return c;
}

std::vector<PrefixChange> Engine::settle(TimePoint now, std::vector<Change>& changes,
                                         const std::map<std::string, DrainView>& before, bool all) {
  // Services whose drain state moved without a change already listed (drains, node drains).
  auto note = [&](const std::string& name, const ServiceRt& s) {
    ++services_looked_at_;
    const auto b = before.find(name);
    const bool was_drained = b != before.end() && b->second.drained;
    if (was_drained == decider_.drained(name)) return;
    if (std::any_of(changes.begin(), changes.end(), [&](const Change& c) { return c.service == name; })) return;
    changes.push_back(change_for(name, s));
  };
  if (all) {
    for (const auto& [name, s] : services_) note(name, s);
  } else {
    for (const auto& [name, _] : before)
      if (auto it = services_.find(name); it != services_.end()) note(name, it->second);
  }
  auto prefix_changes = decider_.evaluate(now);
  for (const auto& p : prefix_changes) {
    spdlog::info("health: prefix {} {} -> {}", p.prefix, to_string(p.from), to_string(p.to));
  }
  arm_wakeup();
  return prefix_changes;
}

void Engine::commit(TimePoint now, std::vector<Change> changes, const std::map<std::string, DrainView>& before,
                    bool all) {
  auto prefix_changes = settle(now, changes, before, all);
  // Copies: a handler may replace the handlers or reload the engine.
  auto on_change = on_change_;
  auto on_prefix = on_prefix_;
  if (on_change) {
    for (const auto& c : changes) on_change(c);
  }
  if (on_prefix && !prefix_changes.empty()) on_prefix(prefix_changes);
}

void Engine::arm_wakeup() {
  const auto at = decider_.next_wakeup();
  if (!at) {
    wake_.cancel();
    return;
  }
  const auto delay = std::max(*at - clock_.now(), TimePoint::duration::zero());
  wake_.expires_after(std::chrono::ceil<milliseconds>(delay));
  wake_.async_wait([w = std::weak_ptr<Engine*>(alive_)](boost::system::error_code ec) {
    if (ec) return;
    if (auto e = w.lock()) (*e)->reevaluate();
  });
}

void Engine::reevaluate() {
  // Time alone moves prefix gates (drain ends, hold-downs), never a service's drain state.
  commit(clock_.now(), {}, {}, /*all=*/false);
}

void Engine::apply(const config::Config& cfg) {
  const TimePoint now = clock_.now();
  const auto before = drain_views();
  node_drain_time_s_ = cfg.node().drain_time_s();
  std::vector<Change> changes;

  std::set<std::string, std::less<>> wanted;
  for (const auto& svc : cfg.service()) wanted.insert(svc.name());
  for (auto it = services_.begin(); it != services_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("health: service {} removed", it->first);
    for (auto& c : it->second.checks) cancel_check(*c);
    decider_.remove_service(it->first);
    it = services_.erase(it);
  }

  std::vector<std::shared_ptr<CheckRt>> to_start;
  for (const auto& svc : cfg.service()) {
    const std::string vip = first_vip(svc);
    auto [it, added] = services_.try_emplace(svc.name());
    ServiceRt& s = it->second;
    s.cfg = svc;
    std::map<std::string, std::shared_ptr<CheckRt>> old;
    for (auto& c : s.checks) old.emplace(c->cfg.name(), std::move(c));
    s.checks.clear();
    for (const auto& c : svc.check()) {
      auto o = old.find(c.name());
      if (o != old.end() && o->second->identity == check_identity(c, vip)) {
        auto rt = std::move(o->second);
        old.erase(o);
        rt->cfg = c;
        rt->spec = make_probe_spec(c, vip);
        rt->verdict.set_thresholds(c.has_rise() ? c.rise() : config::kDefaultRise,
                                   c.has_fall() ? c.fall() : config::kDefaultFall);
        s.checks.push_back(std::move(rt));
        continue;
      }
      auto rt = make_check(svc.name(), c, vip, !s.decided);
      to_start.push_back(rt);
      s.checks.push_back(std::move(rt));
    }
    for (auto& [_, rt] : old) cancel_check(*rt);
    if (added) spdlog::info("health: service {} added with {} checks", svc.name(), s.checks.size());
    decider_.set_service(svc.name(), decider_spec(svc, node_drain_time_s_));
    if (refresh_service(svc.name(), s, now)) {
      Change c = change_for(svc.name(), s);
      c.health_changed = true;
      changes.push_back(std::move(c));
    }
  }

  if (running_) {
    for (auto& rt : to_start) schedule(rt, first_delay(rt->interval(), rt->jitter_pct(), rng_));
  }
  commit(now, std::move(changes), before);
}

void Engine::start() {
  if (running_) return;
  running_ = true;
  for (auto& [_, s] : services_) {
    for (auto& rt : s.checks) schedule(rt, first_delay(rt->interval(), rt->jitter_pct(), rng_));
  }
  arm_wakeup();
}

void Engine::stop() {
  running_ = false;
  for (auto& [_, s] : services_) {
    for (auto& rt : s.checks) {
      rt->timer.cancel();
      if (rt->inflight) {
        rt->inflight->cancel();
        rt->inflight.reset();
      }
    }
  }
  wake_.cancel();
}

bool Engine::drain(std::string_view service) {
  auto it = services_.find(service);
  if (it == services_.end()) return false;
  const auto before = drain_views();
  const TimePoint now = clock_.now();
  decider_.set_drained(it->first, true, now);
  commit(now, {}, before);
  return true;
}

bool Engine::undrain(std::string_view service) {
  auto it = services_.find(service);
  if (it == services_.end()) return false;
  const auto before = drain_views();
  const TimePoint now = clock_.now();
  decider_.set_drained(it->first, false, now);
  commit(now, {}, before);
  return true;
}

std::vector<PrefixChange> Engine::set_site_gate(const std::string& service, bool open) {
  if (open == !site_gate_closed_.contains(service)) return {};
  if (open)
    site_gate_closed_.erase(service);
  else
    site_gate_closed_.insert(service);
  auto it = services_.find(service);
  if (it == services_.end()) return {};
  spdlog::info("health: service {}: site gate {} (min_healthy_servers)", service, open ? "open" : "closed");
  const TimePoint now = clock_.now();
  refresh_service(it->first, it->second, now);
  // The gate moves prefix decisions only, never the service's own health or drain state.
  std::vector<Change> none;
  return settle(now, none, {}, /*all=*/false);
}

void Engine::drain_all() {
  const auto before = drain_views();
  const TimePoint now = clock_.now();
  decider_.set_node_drained(true, now);
  commit(now, {}, before);
}

void Engine::undrain_all() {
  const auto before = drain_views();
  const TimePoint now = clock_.now();
  decider_.set_node_drained(false, now);
  commit(now, {}, before);
}

std::map<std::string, PrefixState> Engine::preview_prefixes(const config::Config& cfg) const {
  Decider d = decider_;
  const TimePoint now = clock_.now();
  std::set<std::string, std::less<>> wanted;
  for (const auto& svc : cfg.service()) wanted.insert(svc.name());
  for (const auto& [name, _] : services_)
    if (!wanted.contains(name)) d.remove_service(name);
  for (const auto& svc : cfg.service()) {
    d.set_service(svc.name(), decider_spec(svc, cfg.node().drain_time_s()));
    auto it = services_.find(svc.name());
    d.set_healthy(svc.name(), it != services_.end() && it->second.healthy && !site_gate_closed_.contains(svc.name()));
  }
  d.evaluate(now);
  return d.states();
}

std::vector<LocalService> Engine::local_services() const {
  std::vector<LocalService> out;
  for (const auto& [name, s] : services_) out.push_back({name, s.healthy, decider_.drained(name), s.weight});
  return out;
}

bool Engine::all_gating_decided() const {
  for (const auto& [_, s] : services_)
    for (const auto& c : s.checks)
      if (c->gating && c->verdict.verdict() == Verdict::Unknown) return false;
  return true;
}

Snapshot Engine::snapshot() const {
  const TimePoint now = clock_.now();
  Snapshot snap;
  snap.node_drained = decider_.node_drained();
  for (const auto& [name, s] : services_) {
    ServiceStatus st;
    st.name = name;
    st.healthy = s.healthy;
    st.drained = decider_.drained(name);
    st.admin_drained = decider_.admin_drained(name);
    st.agent_drained = s.agent_drain;
    st.weight = s.weight;
    st.site_gate_closed = !site_gate_open(name);
    for (const auto& c : s.checks) {
      CheckStatus cs;
      cs.name = c->cfg.name();
      cs.kind = std::string(check_kind(c->cfg));
      cs.verdict = c->verdict.verdict();
      cs.transitions = c->verdict.transitions();
      cs.successes = c->verdict.successes();
      cs.failures = c->verdict.failures();
      cs.rise = c->verdict.rise();
      cs.fall = c->verdict.fall();
      cs.gating = c->gating;
      cs.last = c->verdict.last_result();
      cs.last_checked = c->verdict.last_checked();
      cs.last_change = c->verdict.last_change();
      if (!c->spec) cs.config_error = c->spec.error();
      st.checks.push_back(std::move(cs));
    }
    snap.services.push_back(std::move(st));
  }
  snap.prefixes = decider_.status(now);
  return snap;
}

}  // namespace vane::health
