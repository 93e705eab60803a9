#pragma once
// Load measurement: this server's CPU utilisation, from the whole machine (/proc/stat) or from one
// cgroup's CPU use over its quota (v1 cpuacct/cpu, or v2), smoothed as a window average. The
// readers take their file or folder as an argument so that tests feed them fake files; anything
// unexpected in a file is an error value, never a crash.
#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>

namespace vane::load {

// Cumulative CPU counters: `busy` out of `total` x `capacity`, busy and total in one unit
// (whatever the source uses). The utilisation between two samples is
// (busy2 - busy1) / ((total2 - total1) x capacity2). The counters are kept unscaled: scaling a
// cumulative counter (ns since boot times CPUs) overflows on a long-running machine.
struct CpuSample {
  uint64_t busy = 0;
  uint64_t total = 0;
  double capacity = 1;  // CPUs `total` stands for (cgroup); 1 for /proc/stat
};

// The "cpu " line of /proc/stat (normally /proc/stat): busy = user + nice + system + irq + softirq
// + steal, total = busy + idle + iowait (jiffies; guest time is already inside user and nice).
std::expected<CpuSample, std::string> read_proc_stat(const std::filesystem::path& file);

// A cgroup's CPU use against its quota, at monotonic time `now` (ns). `dir` is the cgroup's folder:
//   v2 (cgroup.controllers present): cpu.stat "usage_usec", cpu.max "<quota|max> <period>";
//   v1: cpuacct.usage (ns), cpu.cfs_quota_us and cpu.cfs_period_us (co-mounted cpu,cpuacct; a
//       separate cpu folder may be given as `cpu_dir`).
// busy = CPU time used (ns), total = wall time (ns), capacity = the CPUs the quota allows; without a
// quota (max, -1) the machine's `cpus`.
std::expected<CpuSample, std::string> read_cgroup(const std::filesystem::path& dir, uint64_t now_ns, uint32_t cpus,
                                                  const std::filesystem::path& cpu_dir = {});

// The utilisation over the last `window`: the counters' change between the newest sample and the
// oldest one still within the window (a window average, not an EWMA: a change older than the
// window has no effect at all, which bounds the controller's delay, docs/load.md).
class WindowAverage {
 public:
  explicit WindowAverage(std::chrono::nanoseconds window) : window_(window) {}
  void set_window(std::chrono::nanoseconds w) { window_ = w; }
  // A sample at monotonic time `at`. A sample whose counters go backwards is skipped (one bad read,
  // or /proc/stat's iowait, which can decrease, must not cost the window); when the next sample
  // goes on from it (a cgroup recreated), the window starts afresh from the two. A sample not
  // later than the newest is ignored.
  void add(std::chrono::nanoseconds at, CpuSample s);
  // Drops the samples when the newest is older than the window at `now` (the source has failed
  // that long): no signal rather than a stale one.
  void expire(std::chrono::nanoseconds now);
  void clear() {
    samples_.clear();
    pending_.reset();
  }
  // 0..1; nullopt until two samples span at least half the window.
  std::optional<double> utilisation() const;

 private:
  std::chrono::nanoseconds window_;
  std::deque<std::pair<std::chrono::nanoseconds, CpuSample>> samples_;
  std::optional<std::pair<std::chrono::nanoseconds, CpuSample>> pending_;  // the last skipped sample
};

}  // namespace vane::load
