#pragma once
// Values shared by the verdict logic, the probes and the engine.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vane::health {

using TimePoint = std::chrono::steady_clock::time_point;

// A check's verdict. Unknown until the check has been decided once (see CheckVerdict).
enum class Verdict : uint8_t { Unknown, Up, Down };
std::string_view to_string(Verdict v);

// What one probe run found.
struct Result {
  bool ok = false;
  std::chrono::microseconds latency{0};
  // Human-readable: the error, the status seen, a command's output. For logs and vanectl only.
  std::string detail;
  // Agent checks: the weight the agent asked for, in percent of the configured one.
  std::optional<uint32_t> weight;
  // Agent checks: the agent asked for no new traffic (HAProxy "drain").
  bool drain = false;
};

// Where verdict logic gets "now" from, so tests can drive time by hand.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

// The real monotonic clock.
class SteadyClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace vane::health
