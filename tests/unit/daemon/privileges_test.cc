// vaned keeps only the capabilities it can use, whoever started it.
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/caps.h"
#include "daemon/privileges.h"

namespace vane::daemon {
namespace {

TEST(Privileges, RootKeepsOnlyTheNeededCapabilitiesBoundingSetIncluded) {
  if (::geteuid() != 0 || !have_capability(CAP_SYS_ADMIN)) GTEST_SKIP() << "needs a root with every capability";
  // In a child: the test process keeps its own.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto r = limit_capabilities();
    if (!r || *r != "CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_KILL CAP_NET_RAW")
      ::_exit(1);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2]{};
    if (::syscall(SYS_capget, &hdr, d) != 0) ::_exit(2);
    uint64_t want = 0;
    for (int c : needed_capabilities()) want |= uint64_t(1) << c;
    const uint64_t eff = d[0].effective | uint64_t(d[1].effective) << 32;
    const uint64_t prm = d[0].permitted | uint64_t(d[1].permitted) << 32;
    const uint64_t inh = d[0].inheritable | uint64_t(d[1].inheritable) << 32;
    if (eff != want || prm != want || inh != 0) ::_exit(3);
    if (::prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0 || ::prctl(PR_CAPBSET_READ, CAP_BPF, 0, 0, 0) != 1)
      ::_exit(4);
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_BPF, 0, 0) != 0) ::_exit(5);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: held set, 2: capget, 3: eff/prm/inh, 4: bounding set, 5: ambient";
}

TEST(Privileges, WithFewerCapabilitiesItKeepsWhatItHasAndSaysSo) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2]{};
    d[0].effective = d[0].permitted = (1u << CAP_NET_ADMIN) | (1u << CAP_SYS_ADMIN);
    if (::syscall(SYS_capset, &hdr, d) != 0) ::_exit(2);
    auto r = limit_capabilities();
    if (!r || *r != "CAP_NET_ADMIN") ::_exit(1);
    if (have_capability(CAP_SYS_ADMIN) || !have_capability(CAP_NET_ADMIN)) ::_exit(3);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace vane::daemon
