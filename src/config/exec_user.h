#pragma once
// The user an exec check runs as, looked up in the passwd and group databases. Shared by
// `vaned --check` (an unknown user or an unapproved root is a config error) and the probe.
#include <sys/types.h>

#include <expected>
#include <string>
#include <vector>

#include "vane/config.pb.h"

namespace vane::config {

inline constexpr const char* kDefaultExecUser = "nobody";

struct ExecUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, the primary one included
  std::string home;
};

// The check's user (default kDefaultExecUser). Errors: unknown user; uid 0 without allow_root.
std::expected<ExecUser, std::string> resolve_exec_user(const ExecCheck& exec);

}  // namespace vane::config
