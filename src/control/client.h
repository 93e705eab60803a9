#pragma once
// A blocking control-socket client for vanectl: one request, one response, bounded in time.
#include <chrono>
#include <cstddef>
#include <expected>
#include <filesystem>
#include <string>

#include "control/codec.h"

namespace vane::control {

struct ClientOptions {
  std::filesystem::path socket_path = "/run/vane/vaned.sock";
  std::chrono::milliseconds connect_timeout{2000};
  // For the whole exchange after connecting; a reload may legitimately take a while.
  std::chrono::milliseconds timeout{30000};
  std::size_t max_response_size = kMaxResponseSize;
};

struct ClientError {
  enum class Kind {
    unreachable,  // no socket, nobody listening, permission denied, or no answer in time
    protocol,     // connected, but the exchange broke: short or oversized or unparsable reply
  };
  Kind kind;
  std::string message;
};

// Sends `req` (its version is set to this build's) and returns the daemon's response, which may
// itself carry an error; only transport and framing failures come back as ClientError.
std::expected<Response, ClientError> call(const ClientOptions& opts, Request req);

}  // namespace vane::control
