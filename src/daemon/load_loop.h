#pragma once
// The load loop's wiring (docs/load.md): samples this server's CPU, and every period asks the pure
// law (steer/load_law.h) for the weight to publish, from its own utilisation and the other
// servers' last replies. The daemon puts the result in its site reply and its own tables.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "health/site.h"
#include "load/measure.h"
#include "steer/load_law.h"

namespace vane::daemon {

steer::LoadSettings law_settings(const config::SiteLoadSettings& s);

struct LoadStatus {
  bool enabled = false;
  std::optional<double> utilisation;
  uint32_t configured = 0, published = 0;
  steer::LoadReason reason = steer::LoadReason::NoSignal;
  bool low_load = false;
  double mean = 0;
  std::string error;   // why the last sample failed; empty after a good one
  uint64_t moves = 0;  // decisions that changed the published weight
  uint64_t sample_errors = 0;
  std::optional<std::chrono::steady_clock::time_point> last_move;
};

class LoadLoop : public std::enable_shared_from_this<LoadLoop> {
 public:
  // The other servers that count now: their published utilisation and weight.
  using PeersFn = std::function<std::vector<steer::PeerLoad>()>;
  using ChangeFn = std::function<void()>;
  // Whether this server carries traffic now (some service up, not drained, its gate open); none
  // given: always.
  using ServingFn = std::function<bool()>;

  LoadLoop(boost::asio::io_context& io, PeersFn peers, ChangeFn on_change, ServingFn serving = {});
  // Starts, or adjusts on reload (keeping the level and samples when the source is the same).
  void configure(const config::SiteLoadSettings& s, uint32_t configured, uint32_t cpus);
  void stop();

  health::PublishedLoad published() const;
  const LoadStatus& status() const { return status_; }

 private:
  void arm();
  void tick(const boost::system::error_code& ec);
  std::expected<load::CpuSample, std::string> sample(std::chrono::nanoseconds now) const;

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  PeersFn peers_;
  ChangeFn on_change_;
  ServingFn serving_;
  bool was_serving_ = true;
  config::SiteLoadSettings settings_;
  uint32_t cpus_ = 1;
  load::WindowAverage window_{std::chrono::seconds(5)};
  int level_ = 0;
  int no_signal_ = 0;  // decisions in a row without a signal
  std::chrono::steady_clock::time_point next_decision_{};
  bool running_ = false;
  LoadStatus status_;
};

}  // namespace vane::daemon
