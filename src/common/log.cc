#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace vane {

namespace {

// %* in the json pattern: the message as the inside of a JSON string. Messages quote names and
// config errors ("duplicate neighbor name \"x\""); pasted in raw they would break the line's JSON.
class JsonMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : msg.payload) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        dest.push_back('\\');
        dest.push_back(c);
      } else if (c == '\n') {
        dest.push_back('\\');
        dest.push_back('n');
      } else if (u < 0x20) {
        const char esc[] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 0xf]};
        dest.append(esc, esc + sizeof esc);
      } else {
        dest.push_back(c);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

// %& in the text pattern under systemd: the sd-daemon(3) "<N>" priority prefix, so journald stores
// each line at its level and `journalctl -p` can filter.
class SyslogPriority : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kPrio[] = {'7', '7', '6', '4', '3', '2', '6'};  // trace..critical, off
    const char p[] = {'<', kPrio[std::min<int>(msg.level, 6)], '>'};
    dest.append(p, p + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriority>(); }
};

}  // namespace

bool setup_logging(const std::string& level, const std::string& format) {
  auto lvl = spdlog::level::from_str(level.empty() ? "info" : level);
  // from_str maps unknown names to "off"; only accept "off" when it was asked for.
  if (lvl == spdlog::level::off && level != "off") return false;
  static bool installed = false;
  if (!installed) {
    // stderr: journald captures it under systemd, and stdout stays free for --check output.
    auto logger = spdlog::stderr_color_mt("vane");
    spdlog::set_default_logger(logger);
    installed = true;
  }
  spdlog::set_level(lvl);
  if (format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<JsonMessage>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"})");
    spdlog::set_formatter(std::move(f));
  } else if (std::getenv("JOURNAL_STREAM")) {
    // journald stamps the time itself.
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<SyslogPriority>('&').set_pattern("%&%l %v");
    spdlog::set_formatter(std::move(f));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  spdlog::flush_on(spdlog::level::info);
  return true;
}

}  // namespace vane
