#include "config/exec_user.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vane::config {

std::expected<ExecUser, std::string> resolve_exec_user(const ExecCheck& exec) {
  const std::string name = exec.user().empty() ? kDefaultExecUser : exec.user();
  passwd pw{}, *found = nullptr;
  std::vector<char> buf(16384);
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) return std::unexpected("user \"" + name + "\": cannot look it up: " + std::strerror(rc));
  if (!found) return std::unexpected("user \"" + name + "\" does not exist");
  ExecUser u;
  u.name = name;
  u.uid = pw.pw_uid;
  u.gid = pw.pw_gid;
  u.home = pw.pw_dir ? pw.pw_dir : "/";
  if (u.uid == 0 && !exec.allow_root())
    return std::unexpected("user \"" + name + "\" is root (uid 0): checks run as root only with allow_root: true");
  int n = 64;
  for (int tries = 0; tries < 4; ++tries) {
    u.groups.resize(size_t(n));
    int got = n;
    if (::getgrouplist(name.c_str(), u.gid, u.groups.data(), &got) >= 0) {
      u.groups.resize(size_t(got));
      return u;
    }
    n = std::max(got, n * 2);
  }
  return std::unexpected("user \"" + name + "\": too many groups");
}

}  // namespace vane::config
