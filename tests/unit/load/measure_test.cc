#include <gtest/gtest.h>

#include <fstream>

#include "load/measure.h"

namespace vane::load {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vane_measure_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void put(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  fs::path dir_;
};

TEST_F(Files, ProcStat) {
  put("stat", "cpu  100 20 30 800 50 5 5 10 7 0\ncpu0 1 2 3 4 5 6 7 8 9 0\nintr 1 2\n");
  auto s = read_proc_stat(dir_ / "stat");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->busy, 100u + 20 + 30 + 5 + 5 + 10);
  EXPECT_EQ(s->total, s->busy + 800 + 50);
}

TEST_F(Files, ProcStatGarbage) {
  for (const char* text : {"", "cpu 1 2 3\n", "cpu 1 2 3 4 5 6 7 x\n", "cpu -1 2 3 4 5 6 7 8\n",
                           "cpu 99999999999999999999999 2 3 4 5 6 7 8\n", "intr 1\n",
                           "cpu 18446744073709551615 18446744073709551615 0 0 0 0 0 0\n"}) {
    put("stat", text);
    auto s = read_proc_stat(dir_ / "stat");
    EXPECT_FALSE(s) << text;
  }
  EXPECT_FALSE(read_proc_stat(dir_ / "missing"));
  put("big", std::string(70000, 'x'));
  auto s = read_proc_stat(dir_ / "big");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("larger"), std::string::npos);
}

TEST_F(Files, CgroupV1) {
  put("cpuacct.usage", "2000000000\n");
  put("cpu.cfs_quota_us", "50000\n");
  put("cpu.cfs_period_us", "100000\n");
  WindowAverage w(seconds(2));
  auto a = read_cgroup(dir_, 10'000'000'000, 4);
  ASSERT_TRUE(a) << a.error();
  w.add(seconds(10), *a);
  // 0.25 s of CPU in 1 s with half a CPU of quota: 50%.
  put("cpuacct.usage", "2250000000\n");
  auto b = read_cgroup(dir_, 11'000'000'000, 4);
  ASSERT_TRUE(b);
  w.add(seconds(11), *b);
  ASSERT_TRUE(w.utilisation());
  EXPECT_NEAR(*w.utilisation(), 0.5, 1e-9);
  // No quota: the machine's CPUs.
  put("cpu.cfs_quota_us", "-1\n");
  put("cpuacct.usage", "4250000000\n");
  auto c = read_cgroup(dir_, 12'000'000'000, 4);
  ASSERT_TRUE(c);
  w.clear();
  w.add(seconds(11), CpuSample{b->busy, 11'000'000'000ull, 4});
  w.add(seconds(12), *c);
  EXPECT_NEAR(*w.utilisation(), 0.5, 1e-9);
}

TEST_F(Files, CgroupV2) {
  put("cgroup.controllers", "cpu io memory\n");
  put("cpu.stat", "usage_usec 1000000\nuser_usec 1\nsystem_usec 2\n");
  put("cpu.max", "200000 100000\n");
  WindowAverage w(seconds(1));
  w.add(seconds(1), *read_cgroup(dir_, 1'000'000'000, 8));
  put("cpu.stat", "usage_usec 1500000\nuser_usec 1\n");
  w.add(seconds(2), *read_cgroup(dir_, 2'000'000'000, 8));
  EXPECT_NEAR(*w.utilisation(), 0.25, 1e-9);  // 0.5 CPU s of 2 CPUs for 1 s
  put("cpu.max", "max 100000\n");
  auto s = read_cgroup(dir_, 3'000'000'000, 8);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->total, 3'000'000'000ull);
  EXPECT_EQ(s->capacity, 8.0);
}

// A machine up for 11.6 days (monotonic 1e15 ns) with 64 CPUs and no quota, and a cgroup that has
// used 300 CPU-days: scaling either cumulative counter to a common unit would overflow 64 bits.
TEST_F(Files, CgroupLongUptimeManyCpus) {
  put("cpuacct.usage", "25920000000000000\n");  // 300 CPU-days in ns
  put("cpu.cfs_quota_us", "-1\n");
  put("cpu.cfs_period_us", "100000\n");
  const uint64_t now = 1'000'000'000'000'000ull;
  WindowAverage w(seconds(2));
  auto a = read_cgroup(dir_, now, 64);
  ASSERT_TRUE(a) << a.error();
  w.add(std::chrono::nanoseconds(now), *a);
  // 16 CPU-seconds in 1 s of 64 CPUs: 25%.
  put("cpuacct.usage", "25920016000000000\n");
  auto b = read_cgroup(dir_, now + 1'000'000'000, 64);
  ASSERT_TRUE(b) << b.error();
  w.add(std::chrono::nanoseconds(now + 1'000'000'000), *b);
  ASSERT_TRUE(w.utilisation());
  EXPECT_NEAR(*w.utilisation(), 0.25, 1e-9);
  // The same on v2 (usage in microseconds), with a 48-CPU quota.
  put("cgroup.controllers", "cpu\n");
  put("cpu.stat", "usage_usec 25920000000000\n");
  put("cpu.max", "4800000 100000\n");
  WindowAverage v(seconds(2));
  auto c = read_cgroup(dir_, now, 64);
  ASSERT_TRUE(c) << c.error();
  v.add(std::chrono::nanoseconds(now), *c);
  put("cpu.stat", "usage_usec 25920024000000\n");
  auto d = read_cgroup(dir_, now + 1'000'000'000, 64);
  ASSERT_TRUE(d) << d.error();
  v.add(std::chrono::nanoseconds(now + 1'000'000'000), *d);
  EXPECT_NEAR(*v.utilisation(), 0.5, 1e-9);  // 24 CPU-seconds of 48 CPUs in 1 s
}

TEST_F(Files, CgroupGarbage) {
  put("cpuacct.usage", "12x\n");
  put("cpu.cfs_quota_us", "50000\n");
  put("cpu.cfs_period_us", "100000\n");
  EXPECT_FALSE(read_cgroup(dir_, 1, 1));
  put("cpuacct.usage", "12\n");
  put("cpu.cfs_period_us", "0\n");
  EXPECT_FALSE(read_cgroup(dir_, 1, 1));
  put("cpu.cfs_period_us", "100000\n");
  put("cpu.cfs_quota_us", "-7\n");
  EXPECT_FALSE(read_cgroup(dir_, 1, 1));
  put("cpu.cfs_quota_us", "0\n");
  EXPECT_FALSE(read_cgroup(dir_, 1, 1));
  put("cpu.cfs_quota_us", "50000\n");
  EXPECT_TRUE(read_cgroup(dir_, 1, 1));
  EXPECT_FALSE(read_cgroup(dir_ / "nope", 1, 1));
  put("cgroup.controllers", "cpu\n");
  put("cpu.stat", "user_usec 5\n");
  put("cpu.max", "max 100000\n");
  auto s = read_cgroup(dir_, 1, 1);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("usage_usec"), std::string::npos);
  put("cpu.stat", "usage_usec 5\n");
  put("cpu.max", "max\n");
  EXPECT_FALSE(read_cgroup(dir_, 1, 1));
  put("cpu.max", "0 100000\n");
  EXPECT_FALSE(read_cgroup(dir_, 1, 1));
  put("cpu.stat", "usage_usec 99999999999999999999\n");
  put("cpu.max", "max 100000\n");
  EXPECT_FALSE(read_cgroup(dir_, 1, 1));
}

TEST(WindowAverage, SpansTheWindowAndRestartsOnReset) {
  WindowAverage w(seconds(4));
  EXPECT_FALSE(w.utilisation());
  // busy 10 per second of 100 for 4 s, then 50 per second.
  uint64_t busy = 0, total = 0;
  for (int t = 0; t <= 4; ++t) {
    w.add(seconds(t), {busy, total});
    busy += 10, total += 100;
  }
  EXPECT_NEAR(*w.utilisation(), 0.1, 1e-9);
  for (int t = 5; t <= 8; ++t) {
    busy += 40;
    w.add(seconds(t), {busy, total});
    busy += 10, total += 100;
  }
  // The window now covers seconds 4..8 only: 50%.
  EXPECT_NEAR(*w.utilisation(), 0.5, 1e-9);
  // Counters going back once are skipped (one bad read): the window is kept.
  w.add(seconds(9), {0, 0});
  EXPECT_NEAR(*w.utilisation(), 0.5, 1e-9);
  // Going on from there (the cgroup was recreated): starts afresh from the two, and too short a
  // span is no signal.
  w.add(seconds(10), {10, 100});
  EXPECT_FALSE(w.utilisation());  // 1 s of a 4 s window
  w.add(seconds(11), {20, 200});
  EXPECT_NEAR(*w.utilisation(), 0.1, 1e-9);
}

// One bad sample (a counter read lower, as /proc/stat's iowait can be) between good ones costs
// nothing: skipped, the average goes on as if it had not been taken. A sample not later than the
// newest is ignored; a source failing for longer than the window is no signal.
TEST(WindowAverage, SkipsOneBackwardsSampleAndExpiresWhenStale) {
  WindowAverage w(seconds(4));
  for (int t = 0; t <= 4; ++t) w.add(seconds(t), {uint64_t(t) * 30, uint64_t(t) * 100});
  EXPECT_NEAR(*w.utilisation(), 0.3, 1e-9);
  w.add(seconds(5), {149, 499});
  EXPECT_NEAR(*w.utilisation(), (149.0 - 30) / (499 - 100), 1e-9);  // seconds 1..5
  w.add(std::chrono::milliseconds(5500), {140, 480});               // behind: skipped
  EXPECT_NEAR(*w.utilisation(), (149.0 - 30) / (499 - 100), 1e-9);
  w.add(seconds(6), {180, 600});  // goes on from the kept newest: a good sample
  EXPECT_NEAR(*w.utilisation(), (180.0 - 60) / (600 - 200), 1e-9);
  w.add(seconds(6), {999, 1000});  // not later: ignored
  EXPECT_NEAR(*w.utilisation(), (180.0 - 60) / (600 - 200), 1e-9);
  w.expire(seconds(9));
  EXPECT_TRUE(w.utilisation()) << "newest 3 s old, within the 4 s window";
  w.expire(std::chrono::milliseconds(10001));
  EXPECT_FALSE(w.utilisation()) << "nothing new for longer than the window";
}

}  // namespace
}  // namespace vane::load
