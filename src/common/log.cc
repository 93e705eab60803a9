#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace vane {

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
  if (format == "json")
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%v"})");
  else
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::flush_on(spdlog::level::info);
  return true;
}

}  // namespace vane
