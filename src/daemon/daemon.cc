#include "daemon/daemon.h"

#include <spdlog/spdlog.h>

#include <csignal>

namespace vane::daemon {

namespace asio = boost::asio;

Daemon::Daemon(config::Loaded cfg, Options opts)
    : signals_(io_, SIGTERM, SIGINT, SIGHUP), cfg_(std::move(cfg)), opts_(std::move(opts)) {
  signals_.add(SIGUSR1);
  signals_.add(SIGUSR2);
}

Daemon::~Daemon() = default;

int Daemon::run() {
  arm_signals();
  spdlog::info("vaned {} started: node {} ({}), {} neighbor(s), {} service(s)", VANE_VERSION, cfg_.proto.node().name(),
               cfg_.proto.node().address(), cfg_.proto.neighbor_size(), cfg_.proto.service_size());
  io_.run();
  spdlog::info("vaned stopped");
  return 0;
}

void Daemon::arm_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    on_signal(sig);
    if (!stopping_) arm_signals();
  });
}

void Daemon::on_signal(int sig) {
  switch (sig) {
    case SIGTERM:
    case SIGINT:
      spdlog::info("{} received: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      shutdown();
      break;
    case SIGHUP:
      reload();
      break;
    default:
      spdlog::info("signal {} ignored", sig);
  }
}

void Daemon::reload() {
  auto next = config::load_file(opts_.config_path);
  if (!next) {
    spdlog::error("reload refused: {} error(s) in {}; nothing changed", next.error().size(), opts_.config_path.string());
    for (auto& d : next.error()) spdlog::error("{}", d.str());
    return;
  }
  auto changes = config::diff(cfg_.proto, next->proto);
  if (changes.empty()) {
    spdlog::info("reload: {} is valid and unchanged", opts_.config_path.string());
    return;
  }
  spdlog::info("reload: {} is valid; {} change(s):", opts_.config_path.string(), changes.size());
  for (auto& c : changes) spdlog::info("  {}", c);
  cfg_ = std::move(*next);
}

void Daemon::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  signals_.cancel();
  io_.stop();
}

}  // namespace vane::daemon
