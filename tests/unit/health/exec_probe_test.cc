// Exec checks: exit status, bounded output, and timeouts that kill the whole process group.
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "health/probe.h"
#include "health/test_util.h"

namespace vane::health {
namespace {

using namespace std::chrono_literals;
using namespace test;

ProbeSpec exec_spec(std::string command, std::chrono::milliseconds timeout = 10000ms) {
  ProbeSpec s;
  s.kind = ExecSpec{std::move(command)};
  s.timeout = timeout;
  return s;
}

// A file the test's commands write a PID into; removed at the end.
struct PidFile {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("vane-health-exec-" + std::to_string(::getpid()) + "-" +
                                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
  ~PidFile() { std::filesystem::remove(path); }
  std::optional<pid_t> read() const {
    std::ifstream in(path);
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return std::nullopt;
    return static_cast<pid_t>(pid);
  }
};

// Gone, or a zombie waiting for whoever inherited it: either way no longer running.
bool dead(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && (line[paren + 2] == 'Z' || line[paren + 2] == 'X');
}

bool becomes_dead(pid_t pid, std::chrono::milliseconds within = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < end) {
    if (dead(pid)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return dead(pid);
}

TEST(ExecProbe, ExitZeroIsHealthy) {
  asio::io_context io;
  auto r = probe_once(io, exec_spec("exit 0"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  EXPECT_EQ(r->detail, "exit status 0");
}

TEST(ExecProbe, NonZeroExitFailsAndCapturesStdoutAndStderr) {
  asio::io_context io;
  auto r = probe_once(io, exec_spec("echo to-stdout; echo to-stderr >&2; exit 3"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_TRUE(r->detail.starts_with("exit status 3: ")) << r->detail;
  EXPECT_NE(r->detail.find("to-stdout"), std::string::npos) << r->detail;
  EXPECT_NE(r->detail.find("to-stderr"), std::string::npos) << r->detail;
}

TEST(ExecProbe, OutputIsBoundedAndExcessDoesNotBreakTheCommand) {
  asio::io_context io;
  // 100 KiB of output: more than the pipe holds and more than is kept. The command must still
  // exit 0 (no SIGPIPE) and the detail must stay bounded.
  auto r = probe_once(io, exec_spec("head -c 102400 /dev/zero | tr '\\000' x"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail.substr(0, 100);
  EXPECT_LE(r->detail.size(), kExecMaxOutput + 64);
}

TEST(ExecProbe, KilledBySignalFails) {
  asio::io_context io;
  auto r = probe_once(io, exec_spec("kill -TERM $$"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->detail, "killed by signal 15");
}

TEST(ExecProbe, GetsNoStdinAndNoInheritedDescriptors) {
  asio::io_context io;
  // Descriptors 0-2 only; stdin is /dev/null so `cat` ends at once.
  auto r = probe_once(io, exec_spec("cat; ls /proc/self/fd | wc -l"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  // ls itself holds one more descriptor for the directory it lists.
  EXPECT_EQ(r->detail, "exit status 0: 4");
}

TEST(ExecProbe, TimeoutKillsTheWholeProcessGroup) {
  asio::io_context io;
  PidFile pidfile;
  auto r = probe_once(io, exec_spec("sleep 30 & echo $! > " + pidfile.path.string() + "; wait", 500ms));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->detail.find("timed out after 500 ms, process group killed"), std::string::npos) << r->detail;
  const auto grandchild = pidfile.read();
  ASSERT_TRUE(grandchild);
  EXPECT_TRUE(becomes_dead(*grandchild)) << "grandchild " << *grandchild << " survived";
  run_until(
      io, [] { return false; }, 200ms);  // let the probe reap its shell
}

TEST(ExecProbe, BackgroundChildrenDoNotOutliveTheCheck) {
  asio::io_context io;
  PidFile pidfile;
  auto r = probe_once(io, exec_spec("sleep 30 > /dev/null 2>&1 & echo $! > " + pidfile.path.string() + "; exit 0"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  const auto grandchild = pidfile.read();
  ASSERT_TRUE(grandchild);
  EXPECT_TRUE(becomes_dead(*grandchild));
}

TEST(ExecProbe, CancelKillsTheGroupWithoutCallingBack) {
  asio::io_context io;
  PidFile pidfile;
  bool called = false;
  auto p = start_probe(io, exec_spec("sleep 30 & echo $! > " + pidfile.path.string() + "; wait"),
                       [&](Result) { called = true; });
  ASSERT_TRUE(run_until(io, [&] { return pidfile.read().has_value(); }));
  const pid_t grandchild = *pidfile.read();
  p->cancel();
  p.reset();
  EXPECT_TRUE(becomes_dead(grandchild));
  run_until(
      io, [] { return false; }, 200ms);
  EXPECT_FALSE(called);
}

TEST(ExecProbe, DoesNotBlockTheIoContext) {
  asio::io_context io;
  std::optional<Result> r;
  auto p = start_probe(io, exec_spec("sleep 0.5"), [&](Result res) { r = std::move(res); });
  int ticks = 0;
  asio::steady_timer t(io);
  std::function<void()> tick = [&] {
    t.expires_after(20ms);
    t.async_wait([&](boost::system::error_code ec) {
      if (ec || r) return;
      ++ticks;
      tick();
    });
  };
  tick();
  ASSERT_TRUE(run_until(io, [&] { return r.has_value(); }));
  EXPECT_TRUE(r->ok);
  EXPECT_GE(ticks, 5);  // the timer kept firing while the command ran
}

TEST(ExecProbe, DestroyingTheIoContextReapsARunningCommand) {
  PidFile pidfile;
  pid_t shell_child = 0;
  {
    asio::io_context io;
    auto p = start_probe(io, exec_spec("sleep 30 & echo $! > " + pidfile.path.string() + "; wait"), [](Result) {});
    ASSERT_TRUE(run_until(io, [&] { return pidfile.read().has_value(); }));
    shell_child = *pidfile.read();
  }
  EXPECT_TRUE(becomes_dead(shell_child));
}

// ---- the check's user, environment and capabilities ----------------------------------------------

ProbeSpec exec_as(std::string command, std::string user, bool allow_root = false,
                  std::chrono::milliseconds timeout = 5000ms) {
  config::Check c;
  c.set_name("as-user");
  c.mutable_exec()->set_command(std::move(command));
  if (!user.empty()) c.mutable_exec()->set_user(std::move(user));
  c.mutable_exec()->set_allow_root(allow_root);
  auto s = make_probe_spec(c, "");
  if (!s) throw std::runtime_error(s.error());
  s->timeout = timeout;
  return *s;
}

// A folder the check's user may write into, for what the check reports about itself.
struct OutDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("vane-health-exec-user-" + std::to_string(::getpid()) + "-" +
                                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
  OutDir() {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
    std::filesystem::permissions(path, std::filesystem::perms::all);
  }
  ~OutDir() { std::filesystem::remove_all(path); }
  std::string read(const std::string& name) const {
    std::ifstream in(path / name);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
};

TEST(ExecProbeUser, DefaultUserIsNobody) {
  config::Check c;
  c.set_name("x");
  c.mutable_exec()->set_command("true");
  auto s = make_probe_spec(c, "");
  ASSERT_TRUE(s) << s.error();
  const auto& e = std::get<ExecSpec>(s->kind);
  ASSERT_TRUE(e.user);
  EXPECT_EQ(e.user->name, "nobody");
  EXPECT_NE(e.user->uid, 0u);
}

TEST(ExecProbeUser, RootIsRefusedWithoutOptIn) {
  config::Check c;
  c.set_name("x");
  c.mutable_exec()->set_command("true");
  c.mutable_exec()->set_user("root");
  auto s = make_probe_spec(c, "");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("allow_root"), std::string::npos) << s.error();
  c.mutable_exec()->set_allow_root(true);
  EXPECT_TRUE(make_probe_spec(c, ""));
}

TEST(ExecProbeUser, UnknownUserIsRefused) {
  config::Check c;
  c.set_name("x");
  c.mutable_exec()->set_command("true");
  c.mutable_exec()->set_user("no-such-user-vane");
  auto s = make_probe_spec(c, "");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), "user \"no-such-user-vane\" does not exist");
}

TEST(ExecProbeUser, RunsAsTheUserWithItsGroupsMinimalEnvironmentAndNoCapabilities) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  OutDir out;
  // Set in vaned's own environment: the check must not see it.
  ::setenv("VANE_TEST_SECRET", "leak", 1);
  asio::io_context io;
  auto r = probe_once(io, exec_as("id -u > " + (out.path / "uid").string() + "; id -G > " +
                                      (out.path / "groups").string() + "; env | sort > " + (out.path / "env").string() +
                                      "; grep ^Cap /proc/self/status > " + (out.path / "caps").string() +
                                      "; grep ^NoNewPrivs /proc/self/status > " + (out.path / "nnp").string(),
                                  "nobody"));
  ::unsetenv("VANE_TEST_SECRET");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->detail;
  passwd* pw = ::getpwnam("nobody");
  ASSERT_NE(pw, nullptr);
  EXPECT_EQ(out.read("uid"), std::to_string(pw->pw_uid) + "\n");
  // nobody's groups, none of root's.
  EXPECT_EQ(out.read("groups"), std::to_string(pw->pw_gid) + "\n");
  std::map<std::string, std::string> env;
  {
    std::istringstream in(out.read("env"));
    for (std::string l; std::getline(in, l);)
      if (auto eq = l.find('='); eq != std::string::npos) env[l.substr(0, eq)] = l.substr(eq + 1);
  }
  EXPECT_EQ(env["PATH"], "/usr/sbin:/usr/bin:/sbin:/bin");
  EXPECT_EQ(env["LANG"], "C");
  EXPECT_EQ(env["HOME"], pw->pw_dir);
  EXPECT_EQ(env["USER"], "nobody");
  EXPECT_EQ(env["LOGNAME"], "nobody");
  // Besides those, only what the shell sets itself.
  for (auto& [k, v] : env)
    EXPECT_TRUE((std::set<std::string>{"PATH", "LANG", "HOME", "USER", "LOGNAME", "PWD", "SHLVL", "_"}.count(k)))
        << k << "=" << v << " leaked into the check's environment";
  EXPECT_EQ(
      out.read("caps"),
      "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
      "CapBnd:\t" +
          [] {
            std::ifstream in("/proc/self/status");
            std::string l;
            while (std::getline(in, l))
              if (l.starts_with("CapBnd:")) return l.substr(8);
            return std::string();
          }() +
          "\nCapAmb:\t0000000000000000\n");
  EXPECT_EQ(out.read("nnp"), "NoNewPrivs:\t1\n");
}

TEST(ExecProbeUser, RootOptInRunsAsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  asio::io_context io;
  auto r = probe_once(io, exec_as("id -u", "root", true));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->detail, "exit status 0: 0");
}

TEST(ExecProbeUser, WithoutCapSetuidACheckAsAnotherUserIsNotStarted) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a process without CAP_SETUID";
  // A child of the test drops CAP_SETUID (as a non-root vaned without it would lack it) and runs
  // the probe; it reports the result through its exit status and a file.
  OutDir out;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::prctl(PR_CAPBSET_DROP, CAP_SETUID, 0, 0, 0);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct caps[2]{};
    ::syscall(SYS_capget, &hdr, caps);
    caps[0].effective &= ~(1u << CAP_SETUID);
    caps[0].permitted &= ~(1u << CAP_SETUID);
    ::syscall(SYS_capset, &hdr, caps);
    asio::io_context io;
    auto r = probe_once(io, exec_as("true", "nobody"));
    std::ofstream(out.path / "detail") << (r ? r->detail : "no result");
    ::_exit(r && !r->ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out.read("detail");
  EXPECT_EQ(out.read("detail"), "cannot run as user nobody: vaned lacks CAP_SETUID");
}

// As a non-root vaned would: uid `daemon`, only the capabilities given (KEEPCAPS across the
// switch). Runs FN in a child process and returns its exit status (0: passed).
int as_unprivileged_vaned(std::initializer_list<int> caps, const std::function<int()>& fn) {
  passwd* pw = ::getpwnam("daemon");
  if (!pw) return 99;
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  const pid_t pid = ::fork();
  if (pid < 0) return 98;
  if (pid == 0) {
    ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, gid, gid, gid) != 0 ||
        ::syscall(SYS_setresuid, uid, uid, uid) != 0)
      ::_exit(97);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (int c : caps) {
      data[c / 32].effective |= 1u << (c % 32);
      data[c / 32].permitted |= 1u << (c % 32);
    }
    if (::syscall(SYS_capset, &hdr, data) != 0) ::_exit(96);
    ::_exit(fn());
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 95;
  return WEXITSTATUS(status);
}

TEST(ExecProbeUser, ANonRootVanedKillsTheGroupOfACheckRunningAsAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make an unprivileged vaned";
  // Signalling another uid's processes takes CAP_KILL: without it a timed-out check as nobody
  // would run on (vaned refuses to start then, see check_machine).
  OutDir out;
  const auto pidfile = out.path / "pid";
  const int rc = as_unprivileged_vaned({CAP_SETUID, CAP_SETGID, CAP_KILL}, [&] {
    asio::io_context io;
    auto r = probe_once(io, exec_as("sleep 30 & echo $! > " + pidfile.string() + "; wait", "nobody", false, 500ms));
    if (!r || r->ok || r->detail.find("timed out") == std::string::npos) return 1;
    std::ifstream in(pidfile);
    pid_t grandchild = 0;
    if (!(in >> grandchild) || grandchild <= 0) return 2;
    return becomes_dead(grandchild) ? 0 : 3;
  });
  EXPECT_EQ(rc, 0);
}

TEST(ExecProbeUser, WithoutCapKillACheckAsAnotherUserIsNotStarted) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make an unprivileged vaned";
  OutDir out;
  const int rc = as_unprivileged_vaned({CAP_SETUID, CAP_SETGID}, [&] {
    asio::io_context io;
    auto r = probe_once(io, exec_as("touch " + (out.path / "ran").string(), "nobody"));
    if (!r || r->ok) return 1;
    if (r->detail != "cannot run as user nobody: vaned lacks CAP_KILL") return 2;
    return std::filesystem::exists(out.path / "ran") ? 3 : 0;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace vane::health
