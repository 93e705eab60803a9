#include "daemon/load_loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace vane::daemon {

namespace {
std::chrono::milliseconds sample_interval(const config::SiteLoadSettings& s) {
  // Ten samples a window: the average then spans the window to within a tenth.
  return std::chrono::milliseconds(std::max<uint32_t>(50, s.window_ms / 10));
}
}  // namespace

steer::LoadSettings law_settings(const config::SiteLoadSettings& s) {
  steer::LoadSettings out;
  out.dead_band = s.dead_band_percent / 100.0;
  out.step = s.step_percent / 100.0;
  out.min_factor = s.min_percent / 100.0;
  out.max_factor = s.max_percent / 100.0;
  out.quantum = s.quantum_percent / 100.0;
  out.low_load = s.low_load_percent / 100.0;
  return out;
}

LoadLoop::LoadLoop(boost::asio::io_context& io, PeersFn peers, ChangeFn on_change, ServingFn serving)
    : io_(io), timer_(io), peers_(std::move(peers)), on_change_(std::move(on_change)), serving_(std::move(serving)) {}

void LoadLoop::configure(const config::SiteLoadSettings& s, uint32_t configured, uint32_t cpus) {
  const bool same_source = running_ && s.source == settings_.source && s.cgroup_path == settings_.cgroup_path &&
                           s.cgroup_cpu_path == settings_.cgroup_cpu_path;
  if (!same_source) window_.clear();
  if (status_.configured != configured) {
    level_ = 0;  // a new configured weight: start from it
  } else if (running_ && s.quantum_percent != settings_.quantum_percent) {
    // Another grid: the level nearest the weight published now, so the weight does not jump.
    level_ = steer::load_level_of(law_settings(s), configured, status_.published);
  }
  const bool new_period = running_ && s.period_ms != settings_.period_ms;
  settings_ = s;
  // A shorter period takes effect now, not after the rest of the old one.
  if (new_period)
    next_decision_ =
        std::min(next_decision_, std::chrono::steady_clock::now() + std::chrono::milliseconds(s.period_ms));
  cpus_ = std::max<uint32_t>(cpus, 1);
  window_.set_window(std::chrono::milliseconds(s.window_ms));
  status_.enabled = true;
  status_.configured = configured;
  status_.published = steer::load_weight_at(law_settings(s), configured, level_);
  if (!running_) {
    running_ = true;
    // The first decision waits for a full window of samples.
    next_decision_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(s.period_ms, s.window_ms));
    arm();
  }
}

void LoadLoop::stop() {
  running_ = false;
  status_.enabled = false;
  timer_.cancel();
}

health::PublishedLoad LoadLoop::published() const {
  health::PublishedLoad p;
  if (status_.utilisation) p.utilisation = uint32_t(std::lround(std::clamp(*status_.utilisation, 0.0, 1.0) * 1000));
  p.weight = status_.published;
  return p;
}

void LoadLoop::arm() {
  timer_.expires_after(sample_interval(settings_));
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) { self->tick(ec); });
}

std::expected<load::CpuSample, std::string> LoadLoop::sample(std::chrono::nanoseconds now) const {
  if (settings_.source == config::SiteLoad::CGROUP)
    return load::read_cgroup(settings_.cgroup_path, uint64_t(now.count()), cpus_, settings_.cgroup_cpu_path);
  return load::read_proc_stat("/proc/stat");
}

void LoadLoop::tick(const boost::system::error_code& ec) {
  if (ec || !running_) return;
  const auto now = std::chrono::steady_clock::now();
  const auto mono = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
  const bool serving = !serving_ || serving_();
  if (!serving) {
    // Idle CPU says nothing of the weight: publish no utilisation (so the others leave this server
    // out of their mean), and decide at once (the configured weight), not at the next period.
    window_.clear();
    next_decision_ = now;
  } else if (!was_serving_) {
    // Back in service: the first decision waits for a full window of samples taken while serving.
    next_decision_ = now + std::chrono::milliseconds(std::max(settings_.period_ms, settings_.window_ms));
  }
  was_serving_ = serving;
  if (!serving) {
    status_.error.clear();
  } else if (auto s = sample(mono)) {
    window_.add(mono, *s);
    status_.error.clear();
  } else {
    // A failed sample is skipped; a source failing for longer than the window is no signal (the
    // law holds once, then walks back to the configured weight).
    if (status_.error != s.error()) spdlog::warn("site: load: {}", s.error());
    status_.error = s.error();
    ++status_.sample_errors;
  }
  window_.expire(mono);
  status_.utilisation = window_.utilisation();
  if (now >= next_decision_) {
    next_decision_ = now + std::chrono::milliseconds(settings_.period_ms);
    steer::LoadInputs in;
    in.utilisation = status_.utilisation;
    in.peers = peers_();
    in.configured = status_.configured;
    in.level = level_;
    in.low_load = status_.low_load;
    in.serving = serving;
    in.no_signal_before = no_signal_;
    const auto d = steer::load_step(law_settings(settings_), in);
    level_ = d.level;
    no_signal_ = serving && !status_.utilisation ? no_signal_ + 1 : 0;
    status_.low_load = d.low_load;
    status_.reason = d.reason;
    status_.mean = d.mean;
    if (d.published != status_.published) {
      spdlog::info("site: load: published weight {} -> {} ({}; utilisation {:.1f}%, site mean {:.1f}%)",
                   status_.published, d.published, steer::to_string(d.reason), status_.utilisation.value_or(0) * 100,
                   d.mean * 100);
      status_.published = d.published;
      status_.last_move = now;
      ++status_.moves;
      on_change_();
    }
  }
  if (running_) arm();
}

}  // namespace vane::daemon
