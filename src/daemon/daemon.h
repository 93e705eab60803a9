#pragma once
// vaned's wiring: one io_context thread owns every piece of protocol state.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <memory>

#include "config/config.h"

namespace vane::daemon {

struct Options {
  std::filesystem::path config_path;
  bool skip_machine_checks = false;  // tests of the pure wiring only
};

class Daemon {
 public:
  Daemon(config::Loaded cfg, Options opts);
  ~Daemon();
  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

 private:
  void arm_signals();
  void on_signal(int sig);
  void reload();
  void shutdown();

  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  config::Loaded cfg_;
  Options opts_;
  bool stopping_ = false;
};

}  // namespace vane::daemon
