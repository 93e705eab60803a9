#pragma once
// vaned keeps no capability beyond the ones it can use (docs/operations.md, "Running as an
// unprivileged user"), however it was started: a vaned run as root by hand ends up with the same
// set as the systemd unit gives it.
#include <expected>
#include <string>
#include <vector>

namespace vane::daemon {

// CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_NET_RAW.
const std::vector<int>& needed_capabilities();

// Drops every other capability from the effective, permitted and inheritable sets, clears the
// ambient set, and (when it may: CAP_SETPCAP) the bounding set. Returns the names of the needed
// capabilities still held, e.g. "CAP_BPF CAP_NET_ADMIN", or "none".
std::expected<std::string, std::string> limit_capabilities();

}  // namespace vane::daemon
