// Sysctls vaned changes: recorded with their originals, restored, and the record survives a vaned
// that dies without cleanup. A directory of the test's own stands in for /proc/sys.
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "daemon/sysctl.h"

namespace vane::daemon {
namespace {

namespace fs = std::filesystem;

struct FakeProc {
  fs::path dir = fs::temp_directory_path() / ("vane-sysctl-" + std::to_string(::getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::path root = dir / "sys";
  fs::path state = dir / "vaned.sock.sysctl";
  FakeProc(std::string fwd4 = "0", std::string fwd6 = "0", std::string local = "0", std::string ra = "1") {
    fs::remove_all(dir);
    put("net/ipv4/conf/eth0/forwarding", fwd4);
    put("net/ipv4/conf/eth0/accept_local", local);
    put("net/ipv6/conf/eth0/forwarding", fwd6);
    put("net/ipv6/conf/eth0/accept_ra", ra);
  }
  ~FakeProc() { fs::remove_all(dir); }
  void put(const std::string& key, const std::string& v) {
    fs::create_directories((root / key).parent_path());
    std::ofstream(root / key) << v << "\n";
  }
  std::string at(const std::string& key) const {
    std::ifstream in(root / key);
    std::string v;
    std::getline(in, v);
    return v;
  }
};

TEST(Sysctls, EnablingForwardingRecordsAndRestoresEveryValue) {
  FakeProc p;
  Sysctls s(p.root, p.state);
  ASSERT_TRUE(s.load());
  EXPECT_TRUE(enable_forwarding_sysctls(s, "eth0").empty());
  EXPECT_EQ(p.at("net/ipv4/conf/eth0/forwarding"), "1");
  EXPECT_EQ(p.at("net/ipv6/conf/eth0/forwarding"), "1");
  EXPECT_EQ(p.at("net/ipv4/conf/eth0/accept_local"), "1");
  // accept_ra 1 would make the kernel ignore router advertisements once forwarding is on.
  EXPECT_EQ(p.at("net/ipv6/conf/eth0/accept_ra"), "2");
  EXPECT_EQ(s.originals().size(), 4u);
  EXPECT_TRUE(fs::exists(p.state));

  EXPECT_TRUE(s.restore().empty());
  EXPECT_EQ(p.at("net/ipv4/conf/eth0/forwarding"), "0");
  EXPECT_EQ(p.at("net/ipv6/conf/eth0/forwarding"), "0");
  EXPECT_EQ(p.at("net/ipv4/conf/eth0/accept_local"), "0");
  EXPECT_EQ(p.at("net/ipv6/conf/eth0/accept_ra"), "1");
  EXPECT_TRUE(s.originals().empty());
  EXPECT_FALSE(fs::exists(p.state)) << "nothing left to restore, no record";
}

TEST(Sysctls, AcceptRaOtherThanOneIsLeftAlone) {
  for (std::string ra : {"0", "2"}) {
    FakeProc p("0", "0", "0", ra);
    Sysctls s(p.root, p.state);
    EXPECT_TRUE(enable_forwarding_sysctls(s, "eth0").empty());
    EXPECT_EQ(p.at("net/ipv6/conf/eth0/accept_ra"), ra);
    EXPECT_EQ(s.originals().size(), 3u);
    EXPECT_TRUE(s.restore().empty());
    EXPECT_EQ(p.at("net/ipv6/conf/eth0/accept_ra"), ra);
  }
}

TEST(Sysctls, ValuesAlreadySetAreNotRecorded) {
  FakeProc p("1", "0", "1", "0");
  Sysctls s(p.root, p.state);
  EXPECT_TRUE(enable_forwarding_sysctls(s, "eth0").empty());
  ASSERT_EQ(s.originals().size(), 1u);
  EXPECT_EQ(s.originals()[0].first, "net/ipv6/conf/eth0/forwarding");
  EXPECT_TRUE(s.restore().empty());
  EXPECT_EQ(p.at("net/ipv4/conf/eth0/forwarding"), "1") << "the operator's setting, not vaned's";
  EXPECT_EQ(p.at("net/ipv6/conf/eth0/forwarding"), "0");
}

TEST(Sysctls, AVanedKilledAndStartedAgainRestoresTheMachinesValuesNotItsOwn) {
  FakeProc p;
  {
    Sysctls first(p.root, p.state);
    ASSERT_TRUE(first.load());
    EXPECT_TRUE(enable_forwarding_sysctls(first, "eth0").empty());
    // Killed: no restore; the object simply goes away.
  }
  EXPECT_EQ(p.at("net/ipv6/conf/eth0/accept_ra"), "2");
  Sysctls second(p.root, p.state);
  ASSERT_TRUE(second.load());
  EXPECT_EQ(second.originals().size(), 4u);
  EXPECT_TRUE(enable_forwarding_sysctls(second, "eth0").empty());
  EXPECT_EQ(second.originals().size(), 4u);
  EXPECT_TRUE(second.restore().empty());
  EXPECT_EQ(p.at("net/ipv4/conf/eth0/forwarding"), "0");
  EXPECT_EQ(p.at("net/ipv6/conf/eth0/forwarding"), "0");
  EXPECT_EQ(p.at("net/ipv4/conf/eth0/accept_local"), "0");
  EXPECT_EQ(p.at("net/ipv6/conf/eth0/accept_ra"), "1");
}

TEST(Sysctls, RecordIsWrittenBeforeTheValueChanges) {
  FakeProc p;
  Sysctls s(p.root, p.state);
  ASSERT_TRUE(s.set("net/ipv4/conf/eth0/forwarding", "1"));
  std::ifstream in(p.state);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "net/ipv4/conf/eth0/forwarding 0\n");
}

TEST(Sysctls, AMalformedRecordIsRefusedNotGuessedFrom) {
  for (std::string bad : {"net/ipv4/conf/eth0/forwarding\n", "net/ipv4/conf/eth0/forwarding 0 1\n", "kernel/panic 0\n",
                          "net/../../etc/x 0\n", "net/ipv4/conf/eth0/forwarding abc\n",
                          "net/ipv4/conf/eth0/forwarding 0\nnet/ipv4/conf/eth0/forwarding 1\n"}) {
    FakeProc p;
    std::ofstream(p.state) << bad;
    Sysctls s(p.root, p.state);
    auto r = s.load();
    EXPECT_FALSE(r) << bad;
    EXPECT_TRUE(s.originals().empty());
  }
}

TEST(Sysctls, AKeyWhoseInterfaceIsGoneIsForgotten) {
  FakeProc p;
  p.put("net/ipv4/conf/eth1/forwarding", "0");
  Sysctls s(p.root, p.state);
  ASSERT_TRUE(s.set("net/ipv4/conf/eth1/forwarding", "1"));
  ASSERT_TRUE(s.set("net/ipv4/conf/eth0/forwarding", "1"));
  fs::remove_all(p.root / "net/ipv4/conf/eth1");
  EXPECT_TRUE(s.restore().empty());
  EXPECT_EQ(p.at("net/ipv4/conf/eth0/forwarding"), "0");
  EXPECT_FALSE(fs::exists(p.state));
}

TEST(Sysctls, AMissingSysctlIsAnErrorAndNothingIsRecorded) {
  FakeProc p;
  Sysctls s(p.root, p.state);
  EXPECT_FALSE(s.set("net/ipv6/conf/nosuch/forwarding", "1"));
  EXPECT_TRUE(s.originals().empty());
  EXPECT_FALSE(fs::exists(p.state));
}

TEST(Sysctls, AWriteTheKernelRefusesLeavesNoRecord) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (to drop CAP_DAC_OVERRIDE in a child)";
  FakeProc p;
  fs::permissions(p.root / "net/ipv4/conf/eth0/accept_local",
                  fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Without it, root is refused a 0444 file like anyone else: readable, not writable.
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2]{};
    ::syscall(SYS_capget, &hdr, d);
    d[0].effective &= ~(1u << CAP_DAC_OVERRIDE);
    if (::syscall(SYS_capset, &hdr, d) != 0) ::_exit(9);
    Sysctls s(p.root, p.state);
    auto r = s.set("net/ipv4/conf/eth0/accept_local", "1");
    if (r) ::_exit(1);
    if (r.error() != "set net/ipv4/conf/eth0/accept_local = 1: Permission denied") ::_exit(2);
    if (!s.originals().empty()) ::_exit(3);
    if (fs::exists(p.state)) ::_exit(4);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: set succeeded, 2: message, 3: recorded, 4: record file left";
  EXPECT_EQ(p.at("net/ipv4/conf/eth0/accept_local"), "0");
}

}  // namespace
}  // namespace vane::daemon
