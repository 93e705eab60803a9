// The load loop's wiring on a real io_context: it samples a (fake) cgroup, decides every period
// from the peers the daemon hands it, and reports a changed published weight.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>

#include "daemon/load_loop.h"

namespace vane::daemon {
namespace {

namespace fs = std::filesystem;

TEST(LoadLoop, AnIdleServerBesideBusyOnesTakesMoreWeightAndANewOneWhenTheSourceFails) {
  const fs::path dir = fs::temp_directory_path() / ("vane_load_loop_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "cpuacct.usage") << "1000\n";  // never moves: this server is idle
  std::ofstream(dir / "cpu.cfs_quota_us") << "100000\n";
  std::ofstream(dir / "cpu.cfs_period_us") << "100000\n";

  boost::asio::io_context io;
  int changes = 0;
  auto loop = std::make_shared<LoadLoop>(
      io,
      [] {
        return std::vector<steer::PeerLoad>{{0.8, 100}, {0.8, 100}};
      },
      [&] { ++changes; });
  config::SiteLoadSettings s;
  s.enabled = true;
  s.source = config::SiteLoad::CGROUP;
  s.cgroup_path = dir.string();
  s.period_ms = 200;
  s.window_ms = 100;
  loop->configure(s, 100, 1);
  EXPECT_EQ(loop->published().weight, 100u) << "starts at the configured weight";
  EXPECT_FALSE(loop->published().utilisation);

  boost::asio::steady_timer stop(io);
  stop.expires_after(std::chrono::milliseconds(700));
  stop.async_wait([&](auto) { loop->stop(); });
  io.run();
  EXPECT_GE(changes, 1);
  EXPECT_GT(loop->published().weight, 100u);
  ASSERT_TRUE(loop->published().utilisation);
  EXPECT_EQ(*loop->published().utilisation, 0u);
  EXPECT_TRUE(loop->status().reason == steer::LoadReason::StepLimit ||
              loop->status().reason == steer::LoadReason::Moved)
      << steer::to_string(loop->status().reason);
  const uint32_t high = loop->published().weight;

  // The source breaks: no signal, back towards the configured weight, the error kept for show site.
  std::ofstream(dir / "cpuacct.usage") << "garbage\n";
  io.restart();
  loop->configure(s, 100, 1);
  stop.expires_after(std::chrono::milliseconds(700));
  stop.async_wait([&](auto) { loop->stop(); });
  io.run();
  EXPECT_LT(loop->published().weight, high);
  EXPECT_EQ(loop->status().reason, steer::LoadReason::NoSignal);
  EXPECT_NE(loop->status().error.find("cpuacct.usage"), std::string::npos) << loop->status().error;
  EXPECT_GT(loop->status().sample_errors, 0u);
  fs::remove_all(dir);
}

// A server that carries no traffic (drained, down or gated) must not climb on its idle CPU: it
// publishes no utilisation and its configured weight, at once, and returns to service there.
TEST(LoadLoop, AServerServingNothingPublishesNoUtilisationAndItsConfiguredWeight) {
  const fs::path dir = fs::temp_directory_path() / ("vane_load_loop_drain_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "cpuacct.usage") << "1000\n";  // idle
  std::ofstream(dir / "cpu.cfs_quota_us") << "100000\n";
  std::ofstream(dir / "cpu.cfs_period_us") << "100000\n";

  boost::asio::io_context io;
  bool serving = true;
  auto loop = std::make_shared<LoadLoop>(
      io,
      [] {
        return std::vector<steer::PeerLoad>{{0.8, 100}, {0.8, 100}};
      },
      [] {}, [&] { return serving; });
  config::SiteLoadSettings s;
  s.enabled = true;
  s.source = config::SiteLoad::CGROUP;
  s.cgroup_path = dir.string();
  s.period_ms = 200;
  s.window_ms = 100;
  loop->configure(s, 100, 1);
  boost::asio::steady_timer stop(io);
  stop.expires_after(std::chrono::milliseconds(700));
  stop.async_wait([&](auto) { loop->stop(); });
  io.run();
  ASSERT_GT(loop->published().weight, 100u) << "idle beside busy peers while serving: climbs";

  // Drained: back to the configured weight within a sample interval, not a step per period.
  serving = false;
  io.restart();
  loop->configure(s, 100, 1);
  stop.expires_after(std::chrono::milliseconds(150));
  stop.async_wait([&](auto) { loop->stop(); });
  io.run();
  EXPECT_EQ(loop->published().weight, 100u);
  EXPECT_FALSE(loop->published().utilisation) << "publishes \"-\" while serving nothing";
  EXPECT_EQ(loop->status().reason, steer::LoadReason::NotServing);

  // Still drained much later: still there (an idle server never climbs).
  io.restart();
  loop->configure(s, 100, 1);
  stop.expires_after(std::chrono::milliseconds(600));
  stop.async_wait([&](auto) { loop->stop(); });
  io.run();
  EXPECT_EQ(loop->published().weight, 100u);
  EXPECT_FALSE(loop->published().utilisation);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vane::daemon
