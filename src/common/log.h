#pragma once
#include <string>

namespace vane {

// Configures the default spdlog logger: level name as in the config file ("info", ...),
// format "text" (default) or "json" (one object per line, for log shippers).
// Returns false when the level name is unknown.
bool setup_logging(const std::string& level, const std::string& format);

}  // namespace vane
