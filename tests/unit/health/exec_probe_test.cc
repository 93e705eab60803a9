// Exec checks: exit status, bounded output, and timeouts that kill the whole process group.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
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
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("vane-health-exec-" + std::to_string(::getpid()) + "-" +
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
  run_until(io, [] { return false; }, 200ms);  // let the probe reap its shell
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
  run_until(io, [] { return false; }, 200ms);
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

}  // namespace
}  // namespace vane::health
