#include "health/decider.h"

#include <algorithm>
#include <cmath>

namespace vane::health {

namespace {

using std::chrono::milliseconds;

template <class T>
void keep_earliest(std::optional<T>& acc, const std::optional<T>& v) {
  if (v && (!acc || *v < *acc)) acc = v;
}

}  // namespace

std::string_view to_string(PrefixState s) {
  switch (s) {
    case PrefixState::Withdrawn:
      return "withdrawn";
    case PrefixState::Announced:
      return "announced";
    case PrefixState::AnnouncedDraining:
      return "announced-draining";
  }
  return "?";
}

FlapPolicy FlapPolicy::from_config(const config::Dampening& d) {
  FlapPolicy p;
  p.hold_down = milliseconds(d.hold_down_ms());
  p.penalty = d.penalty();
  if (d.suppress() != 0) p.suppress = d.suppress();
  if (d.reuse() != 0) p.reuse = d.reuse();
  if (d.half_life_s() != 0) p.half_life = std::chrono::seconds(d.half_life_s());
  return p;
}

PrefixGate::PrefixGate(FlapPolicy policy) : policy_(policy) {}

void PrefixGate::set_policy(const FlapPolicy& p) {
  if (p == policy_) return;
  policy_ = p;
  if (!policy_.dampening()) {
    penalty_ = 0;
    suppressed_ = false;
  }
}

double PrefixGate::penalty(TimePoint now) const {
  if (penalty_ <= 0 || !policy_.dampening()) return 0;
  const double dt = std::chrono::duration<double>(now - penalty_at_).count();
  const double hl = std::chrono::duration<double>(policy_.half_life).count();
  if (dt <= 0) return penalty_;
  return penalty_ * std::exp2(-dt / hl);
}

std::optional<TimePoint> PrefixGate::blocked_until(TimePoint now) const {
  std::optional<TimePoint> until;
  if (last_withdraw_ && policy_.hold_down.count() > 0) {
    const TimePoint h = *last_withdraw_ + policy_.hold_down;
    if (h > now) until = h;
  }
  if (suppressed_ && reuse_at_ > now && (!until || reuse_at_ > *until)) until = reuse_at_;
  return until;
}

bool PrefixGate::idle(TimePoint now) const {
  return state_ == PrefixState::Withdrawn && !blocked_until(now) && penalty(now) < 1.0;
}

void PrefixGate::withdraw(TimePoint now, bool flap) {
  state_ = PrefixState::Withdrawn;
  since_ = now;
  last_withdraw_ = now;
  ++withdraws_;
  if (!flap || !policy_.dampening()) return;
  penalty_ = std::min(penalty(now) + policy_.penalty, policy_.ceiling());
  penalty_at_ = now;
  if (penalty_ > policy_.suppress) {
    suppressed_ = true;
    // Solve penalty * 2^(-t / half_life) = reuse for t; round up so the penalty is at reuse by then.
    const double t = std::chrono::duration<double>(policy_.half_life).count() *
                     std::log2(penalty_ / static_cast<double>(policy_.reuse));
    reuse_at_ = now + std::chrono::ceil<milliseconds>(std::chrono::duration<double>(std::max(t, 0.0)));
  }
}

PrefixState PrefixGate::update(std::span<const Announcer> announcers, TimePoint now) {
  bool serving = false, any_drained = false;
  std::optional<TimePoint> drain_end;  // the latest end among healthy announcers still draining
  for (const Announcer& a : announcers) {
    if (a.drain_since) any_drained = true;
    if (!a.healthy) continue;
    if (!a.drain_since) {
      serving = true;
      continue;
    }
    const TimePoint end = *a.drain_since + a.drain_time;
    if (now < end && (!drain_end || end > *drain_end)) drain_end = end;
  }

  wakeup_.reset();
  if (state_ != PrefixState::Withdrawn) {
    PrefixState next = state_;
    if (serving) {
      next = PrefixState::Announced;
    } else if (drain_end) {
      next = PrefixState::AnnouncedDraining;
      wakeup_ = drain_end;
    } else {
      withdraw(now, !any_drained);
      return state_;
    }
    if (next != state_) {
      state_ = next;
      since_ = now;
    }
    return state_;
  }

  if (!serving) return state_;
  if (suppressed_ && now >= reuse_at_) suppressed_ = false;
  if (const auto until = blocked_until(now)) {
    wakeup_ = until;
    return state_;
  }
  state_ = PrefixState::Announced;
  since_ = now;
  ++announces_;
  return state_;
}

void Decider::set_service(const std::string& name, ServiceSpec spec) {
  std::sort(spec.prefixes.begin(), spec.prefixes.end());
  spec.prefixes.erase(std::unique(spec.prefixes.begin(), spec.prefixes.end()), spec.prefixes.end());
  auto [it, added] = services_.try_emplace(name);
  if (!added) {
    touch(it->second);
    for (const std::string& p : it->second.spec.prefixes) {
      auto a = announcers_.find(p);
      if (a == announcers_.end()) continue;
      std::erase(a->second, name);
      if (a->second.empty()) announcers_.erase(a);
    }
  }
  it->second.spec = std::move(spec);
  for (const std::string& p : it->second.spec.prefixes) {
    auto& names = announcers_[p];
    names.insert(std::lower_bound(names.begin(), names.end(), name), name);
  }
  touch(it->second);
}

void Decider::remove_service(const std::string& name) {
  auto it = services_.find(name);
  if (it == services_.end()) return;
  touch(it->second);
  for (const std::string& p : it->second.spec.prefixes) {
    auto a = announcers_.find(p);
    if (a == announcers_.end()) continue;
    std::erase(a->second, name);
    if (a->second.empty()) announcers_.erase(a);
  }
  services_.erase(it);
}

void Decider::touch(const Service& s) {
  dirty_.insert(s.spec.prefixes.begin(), s.spec.prefixes.end());
}

void Decider::touch_all() {
  for (const auto& [p, _] : announcers_) dirty_.insert(p);
}

void Decider::set_healthy(const std::string& name, bool healthy) {
  auto it = services_.find(name);
  if (it == services_.end() || it->second.healthy == healthy) return;
  it->second.healthy = healthy;
  touch(it->second);
}

namespace {
// True if the slot changed.
bool set_drain(std::optional<TimePoint>& slot, bool on, TimePoint now) {
  if (!on) {
    if (!slot) return false;
    slot.reset();
    return true;
  }
  if (slot) return false;  // a second drain request does not restart the drain time
  slot = now;
  return true;
}
}  // namespace

void Decider::set_drained(const std::string& name, bool drained, TimePoint now) {
  if (auto it = services_.find(name); it != services_.end() && set_drain(it->second.admin_drain, drained, now))
    touch(it->second);
}

void Decider::set_agent_drain(const std::string& name, bool drained, TimePoint now) {
  if (auto it = services_.find(name); it != services_.end() && set_drain(it->second.agent_drain, drained, now))
    touch(it->second);
}

void Decider::set_node_drained(bool drained, TimePoint now) {
  if (set_drain(node_drain_, drained, now)) touch_all();
}

std::optional<TimePoint> Decider::effective_drain(const Service& s) const {
  std::optional<TimePoint> since;
  keep_earliest(since, s.admin_drain);
  keep_earliest(since, s.agent_drain);
  keep_earliest(since, node_drain_);
  return since;
}

bool Decider::drained(const std::string& name) const {
  return drain_since(name).has_value();
}

bool Decider::admin_drained(const std::string& name) const {
  auto it = services_.find(name);
  return it != services_.end() && it->second.admin_drain.has_value();
}

std::optional<TimePoint> Decider::drain_since(const std::string& name) const {
  auto it = services_.find(name);
  if (it == services_.end()) return std::nullopt;
  return effective_drain(it->second);
}

void Decider::file_wakeup(const std::string& prefix, std::optional<TimePoint> before, std::optional<TimePoint> after) {
  if (before == after) return;
  if (before) wakeups_.erase({*before, prefix});
  if (after) wakeups_.emplace(*after, prefix);
}

std::vector<PrefixChange> Decider::evaluate(TimePoint now) {
  // What may have moved: changed inputs, wake-ups that are due, gates left without announcers.
  std::set<std::string> todo = std::move(dirty_);
  dirty_.clear();
  for (auto w = wakeups_.begin(); w != wakeups_.end() && w->first <= now; ++w) todo.insert(w->second);
  todo.insert(orphans_.begin(), orphans_.end());

  std::vector<PrefixChange> changes, orphan_changes;
  std::vector<Announcer> announcers;
  for (const std::string& prefix : todo) {
    ++evaluations_;
    const auto names = announcers_.find(prefix);
    if (names == announcers_.end()) {
      // No service announces it any more: withdraw, and forget it once there is nothing left to
      // remember (a reload that drops and re-adds a prefix must not escape its hold-down).
      auto it = prefixes_.find(prefix);
      if (it == prefixes_.end()) {
        orphans_.erase(prefix);
        continue;
      }
      PrefixGate& gate = it->second;
      const PrefixState before = gate.state();
      const auto wake_before = gate.next_wakeup();
      gate.update({}, now);
      file_wakeup(prefix, wake_before, gate.next_wakeup());
      if (gate.state() != before) orphan_changes.push_back({prefix, before, gate.state()});
      if (gate.idle(now)) {
        file_wakeup(prefix, gate.next_wakeup(), std::nullopt);
        prefixes_.erase(it);
        orphans_.erase(prefix);
      } else {
        orphans_.insert(prefix);
      }
      continue;
    }
    orphans_.erase(prefix);
    FlapPolicy policy;
    bool have_dampening = false;
    announcers.clear();
    for (const std::string& name : names->second) {  // by name, which fixes whose dampening wins
      const Service& svc = services_.at(name);
      announcers.push_back({svc.healthy, effective_drain(svc), svc.spec.drain_time});
      policy.hold_down = std::max(policy.hold_down, svc.spec.policy.hold_down);
      if (!have_dampening && svc.spec.policy.dampening()) {
        const auto hold = policy.hold_down;
        policy = svc.spec.policy;
        policy.hold_down = hold;
        have_dampening = true;
      }
    }
    auto [it, added] = prefixes_.try_emplace(prefix, policy);
    PrefixGate& gate = it->second;
    if (!added) gate.set_policy(policy);
    const PrefixState before = gate.state();
    const auto wake_before = gate.next_wakeup();
    if (gate.update(announcers, now) != before) changes.push_back({prefix, before, gate.state()});
    file_wakeup(prefix, wake_before, gate.next_wakeup());
  }
  changes.insert(changes.end(), orphan_changes.begin(), orphan_changes.end());
  return changes;
}

std::optional<TimePoint> Decider::next_wakeup() const {
  if (wakeups_.empty()) return std::nullopt;
  return wakeups_.begin()->first;
}

PrefixState Decider::state(const std::string& prefix) const {
  auto it = prefixes_.find(prefix);
  return it == prefixes_.end() ? PrefixState::Withdrawn : it->second.state();
}

std::map<std::string, PrefixState> Decider::states() const {
  std::map<std::string, PrefixState> out;
  for (const auto& [p, gate] : prefixes_) out.emplace(p, gate.state());
  return out;
}

std::vector<PrefixStatus> Decider::status(TimePoint now) const {
  std::vector<PrefixStatus> out;
  for (const auto& [p, gate] : prefixes_) {
    PrefixStatus s;
    s.prefix = p;
    s.state = gate.state();
    s.since = gate.since();
    s.penalty = gate.penalty(now);
    s.suppressed = gate.suppressed(now);
    s.blocked_until = gate.blocked_until(now);
    s.announces = gate.announces();
    s.withdraws = gate.withdraws();
    if (auto a = announcers_.find(p); a != announcers_.end()) s.services = a->second;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace vane::health
