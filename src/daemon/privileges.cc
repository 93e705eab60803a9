#include "daemon/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/caps.h"

namespace vane::daemon {

const std::vector<int>& needed_capabilities() {
  // CAP_NET_RAW: the raw ICMPv6 socket of router advertisements (unnumbered neighbours).
  static const std::vector<int> caps{CAP_BPF,    CAP_PERFMON, CAP_NET_ADMIN, CAP_NET_BIND_SERVICE,
                                     CAP_SETUID, CAP_SETGID,  CAP_KILL,      CAP_NET_RAW};
  return caps;
}

std::expected<std::string, std::string> limit_capabilities() {
  uint64_t keep = 0;
  for (int c : needed_capabilities()) keep |= uint64_t(1) << c;
  int last = CAP_LAST_CAP;
  if (std::ifstream f("/proc/sys/kernel/cap_last_cap"); f) f >> last;
  // The bounding set first: dropping from it takes CAP_SETPCAP, which goes below.
  if (have_capability(CAP_SETPCAP))
    for (int c = 0; c <= last && c < 64; ++c)
      if (!(keep >> c & 1) && ::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
        return std::unexpected("drop " + capability_name(c) + " from the bounding set: " + std::strerror(errno));
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return std::unexpected(std::string("clear the ambient set: ") + std::strerror(errno));
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (::syscall(SYS_capget, &hdr, d) != 0) return std::unexpected(std::string("capget: ") + std::strerror(errno));
  for (int i = 0; i < 2; ++i) {
    const auto k = uint32_t(keep >> (32 * i));
    d[i].effective &= k;
    d[i].permitted &= k;
    d[i].inheritable = 0;
  }
  if (::syscall(SYS_capset, &hdr, d) != 0) return std::unexpected(std::string("capset: ") + std::strerror(errno));
  std::string held;
  for (int c : needed_capabilities())
    if (have_capability(c)) held += (held.empty() ? "" : " ") + capability_name(c);
  return held.empty() ? "none" : held;
}

}  // namespace vane::daemon
