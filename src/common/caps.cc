#include "common/caps.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace vane {

bool have_capability(int cap) {
  if (cap < 0 || cap >= 64) return false;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) return false;
  return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

std::string capability_name(int cap) {
  switch (cap) {
    case CAP_NET_ADMIN:
      return "CAP_NET_ADMIN";
    case CAP_NET_BIND_SERVICE:
      return "CAP_NET_BIND_SERVICE";
    case CAP_NET_RAW:
      return "CAP_NET_RAW";
    case CAP_SETUID:
      return "CAP_SETUID";
    case CAP_SETGID:
      return "CAP_SETGID";
    case CAP_KILL:
      return "CAP_KILL";
    case CAP_SYS_ADMIN:
      return "CAP_SYS_ADMIN";
    case CAP_PERFMON:
      return "CAP_PERFMON";
    case CAP_BPF:
      return "CAP_BPF";
    default:
      return "capability " + std::to_string(cap);
  }
}

std::string missing_capability_hint(int err, std::initializer_list<int> caps) {
  if (err < 0) err = -err;
  if (err != EPERM && err != EACCES) return {};
  std::string missing;
  for (int c : caps)
    if (!have_capability(c)) missing += (missing.empty() ? "" : ", ") + capability_name(c);
  return missing.empty() ? std::string() : " (vaned lacks " + missing + ")";
}

}  // namespace vane
