#include "load/measure.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <vector>

namespace vane::load {

namespace {

// Kernel files here are a few hundred bytes; a larger one is not what we think it is.
constexpr size_t kMaxFile = 64 * 1024;

std::expected<std::string, std::string> slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return std::unexpected(p.string() + ": cannot open");
  std::string out(kMaxFile + 1, '\0');
  f.read(out.data(), std::streamsize(out.size()));
  if (f.bad()) return std::unexpected(p.string() + ": read error");
  out.resize(size_t(f.gcount()));
  if (out.size() > kMaxFile)
    return std::unexpected(p.string() + ": larger than " + std::to_string(kMaxFile) + " bytes");
  return out;
}

std::optional<uint64_t> u64(std::string_view s) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<int64_t> i64(std::string_view s) {
  int64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size() && out.size() < 32) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string_view first_line(std::string_view s) {
  return s.substr(0, s.find('\n'));
}

bool add(uint64_t& acc, uint64_t v) {
  if (acc > std::numeric_limits<uint64_t>::max() - v) return false;
  acc += v;
  return true;
}

}  // namespace

std::expected<CpuSample, std::string> read_proc_stat(const std::filesystem::path& file) {
  auto text = slurp(file);
  if (!text) return std::unexpected(text.error());
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    auto w = words(line);
    if (w.empty() || w[0] != "cpu") continue;
    // cpu user nice system idle iowait irq softirq steal [guest guest_nice]
    if (w.size() < 9)
      return std::unexpected(file.string() + ": \"cpu\" line has " + std::to_string(w.size() - 1) +
                             " fields, expected at least 8");
    uint64_t f[8];
    for (int i = 0; i < 8; ++i) {
      auto v = u64(w[size_t(i) + 1]);
      if (!v)
        return std::unexpected(file.string() + ": \"cpu\" line: field " + std::to_string(i + 1) + " is not a number");
      f[i] = *v;
    }
    CpuSample s;
    for (int i : {0, 1, 2, 5, 6, 7})
      if (!add(s.busy, f[i])) return std::unexpected(file.string() + ": counters overflow");
    s.total = s.busy;
    if (!add(s.total, f[3]) || !add(s.total, f[4])) return std::unexpected(file.string() + ": counters overflow");
    return s;
  }
  return std::unexpected(file.string() + ": no \"cpu\" line");
}

std::expected<CpuSample, std::string> read_cgroup(const std::filesystem::path& dir, uint64_t now_ns, uint32_t cpus,
                                                  const std::filesystem::path& cpu_dir) {
  const auto& qdir = cpu_dir.empty() ? dir : cpu_dir;
  uint64_t used_ns = 0;
  double capacity = cpus;  // CPUs
  std::error_code ec;
  if (std::filesystem::exists(dir / "cgroup.controllers", ec)) {
    auto stat = slurp(dir / "cpu.stat");
    if (!stat) return std::unexpected(stat.error());
    std::optional<uint64_t> usec;
    std::string_view rest = *stat;
    while (!rest.empty() && !usec) {
      const size_t nl = rest.find('\n');
      auto w = words(rest.substr(0, nl));
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      if (w.size() == 2 && w[0] == "usage_usec") {
        usec = u64(w[1]);
        if (!usec) return std::unexpected((dir / "cpu.stat").string() + ": usage_usec is not a number");
      }
    }
    if (!usec) return std::unexpected((dir / "cpu.stat").string() + ": no usage_usec");
    if (*usec > std::numeric_limits<uint64_t>::max() / 1000)
      return std::unexpected((dir / "cpu.stat").string() + ": usage_usec out of range");
    used_ns = *usec * 1000;
    auto max = slurp(qdir / "cpu.max");
    if (!max) return std::unexpected(max.error());
    auto w = words(first_line(*max));
    if (w.size() != 2) return std::unexpected((qdir / "cpu.max").string() + ": expected \"<quota|max> <period>\"");
    auto period = u64(w[1]);
    if (!period || *period == 0) return std::unexpected((qdir / "cpu.max").string() + ": bad period");
    if (w[0] != "max") {
      auto quota = u64(w[0]);
      if (!quota || *quota == 0) return std::unexpected((qdir / "cpu.max").string() + ": bad quota");
      capacity = double(*quota) / double(*period);
    }
  } else {
    auto usage = slurp(dir / "cpuacct.usage");
    if (!usage) return std::unexpected(usage.error());
    auto v = u64(first_line(*usage));
    if (!v) return std::unexpected((dir / "cpuacct.usage").string() + ": not a number");
    used_ns = *v;
    auto q = slurp(qdir / "cpu.cfs_quota_us"), p = slurp(qdir / "cpu.cfs_period_us");
    if (!q) return std::unexpected(q.error());
    if (!p) return std::unexpected(p.error());
    auto quota = i64(first_line(*q));
    auto period = u64(first_line(*p));
    if (!quota || *quota < -1 || *quota == 0)
      return std::unexpected((qdir / "cpu.cfs_quota_us").string() + ": bad quota");
    if (!period || *period == 0) return std::unexpected((qdir / "cpu.cfs_period_us").string() + ": bad period");
    if (*quota > 0) capacity = double(*quota) / double(*period);
  }
  if (capacity <= 0) return std::unexpected(dir.string() + ": no CPU capacity");
  return CpuSample{used_ns, now_ns, capacity};
}

void WindowAverage::add(std::chrono::nanoseconds at, CpuSample s) {
  auto behind = [](const CpuSample& a, const CpuSample& b) { return a.busy < b.busy || a.total < b.total; };
  if (!samples_.empty()) {
    const auto& last = samples_.back();
    if (at <= last.first) return;
    if (behind(s, last.second)) {
      if (!pending_ || at <= pending_->first || behind(s, pending_->second)) {
        pending_.emplace(at, s);
        return;
      }
      // Two samples in a row behind the window, the second going on from the first: the counters
      // were reset, so the window starts afresh from them.
      samples_.assign(1, *pending_);
    }
  }
  pending_.reset();
  samples_.emplace_back(at, s);
  // Keep the newest sample at or beyond the window's start, so the average spans the whole window.
  while (samples_.size() > 2 && samples_[1].first <= at - window_) samples_.pop_front();
}

void WindowAverage::expire(std::chrono::nanoseconds now) {
  if (!samples_.empty() && now - samples_.back().first > window_) clear();
}

std::optional<double> WindowAverage::utilisation() const {
  if (samples_.size() < 2) return std::nullopt;
  const auto& [t0, a] = samples_.front();
  const auto& [t1, b] = samples_.back();
  if (t1 - t0 < window_ / 2 || b.total == a.total) return std::nullopt;
  return std::clamp(double(b.busy - a.busy) / (double(b.total - a.total) * b.capacity), 0.0, 1.0);
}

}  // namespace vane::load
