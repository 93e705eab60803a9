#include "daemon/load_loop.h"

#include <spdlog/spdlog.h>

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

LoadLoop::LoadLoop(boost::asio::io_context& io, PeersFn peers, ChangeFn on_change)
    : io_(io), timer_(io), peers_(std::move(peers)), on_change_(std::move(on_change)) {}

void LoadLoop::configure(const config::SiteLoadSettings& s, uint32_t configured, uint32_t cpus) {
  const bool same_source = running_ && s.source == settings_.source && s.cgroup_path == settings_.cgroup_path &&
                           s.cgroup_cpu_path == settings_.cgroup_cpu_path;
  if (!same_source) window_.clear();
  if (status_.configured != configured) level_ = 0;  // a new configured weight: start from it
  settings_ = s;
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
  if (auto s = sample(mono)) {
    window_.add(mono, *s);
    status_.error.clear();
  } else {
    // A source that fails is no signal: the law walks back to the configured weight.
    if (status_.error != s.error()) spdlog::warn("site: load: {}", s.error());
    status_.error = s.error();
    ++status_.sample_errors;
    window_.clear();
  }
  status_.utilisation = window_.utilisation();
  if (now >= next_decision_) {
    next_decision_ = now + std::chrono::milliseconds(settings_.period_ms);
    steer::LoadInputs in;
    in.utilisation = status_.utilisation;
    in.peers = peers_();
    in.configured = status_.configured;
    in.level = level_;
    in.low_load = status_.low_load;
    const auto d = steer::load_step(law_settings(settings_), in);
    level_ = d.level;
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
