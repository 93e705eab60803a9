// vaned: the anycast load-steering daemon. Wiring lives in daemon.cc; this file parses flags.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <iostream>

#include "common/log.h"
#include "config/config.h"
#include "daemon/daemon.h"
#include "daemon/privileges.h"

int main(int argc, char** argv) {
  CLI::App app{"vaned: BGP anycast announcer, health checker and XDP load-steering forwarder"};
  std::string config_path, check_path, log_level, log_format;
  bool version = false;
  app.add_option("-c,--config", config_path, "Config file to run with (protobuf text format)");
  app.add_option("--check", check_path, "Validate FILE and the files it names, print every error, and exit");
  app.add_option("--log-level", log_level, "Override log.level: trace, debug, info, warn, error, critical, off");
  app.add_option("--log-format", log_format, "Override log.format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("-V,--version", version, "Print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (version) {
    std::cout << "vaned " << VANE_VERSION << "\n";
    return 0;
  }
  if (!check_path.empty()) {
    auto r = vane::config::load_file(check_path);
    if (!r) {
      for (auto& d : r.error()) std::cerr << d.str() << "\n";
      std::cerr << check_path << ": " << r.error().size() << " error(s)\n";
      return 1;
    }
    std::cout << check_path << ": valid\n";
    return 0;
  }
  if (config_path.empty()) {
    std::cerr << "vaned: --config FILE or --check FILE is required (see --help)\n";
    return 2;
  }
  auto cfg = vane::config::load_file(config_path);
  if (!cfg) {
    for (auto& d : cfg.error()) std::cerr << d.str() << "\n";
    std::cerr << "vaned: refusing to start: " << cfg.error().size() << " error(s) in " << config_path << "\n";
    return 1;
  }
  std::string level = log_level.empty() ? cfg->proto.log().level() : log_level;
  std::string format = log_format.empty() ? cfg->proto.log().format() : log_format;
  if (!vane::setup_logging(level, format)) {
    std::cerr << "vaned: unknown log level \"" << level << "\"\n";
    return 2;
  }
  // Before the machine check, which asks whether checks can switch users with what is left.
  if (auto caps = vane::daemon::limit_capabilities(); !caps) {
    std::cerr << "vaned: refusing to start: cannot limit capabilities: " << caps.error() << "\n";
    return 1;
  } else {
    spdlog::info("running as uid {} gid {} with capabilities {}", ::geteuid(), ::getegid(), *caps);
  }
  auto machine = vane::config::check_machine(*cfg);
  if (!machine.empty()) {
    for (auto& d : machine) std::cerr << d.file << ": " << d.message << "\n";
    std::cerr << "vaned: refusing to start: this machine does not match " << config_path << "\n";
    return 1;
  }
  try {
    vane::daemon::Daemon d(std::move(*cfg),
                           {.config_path = config_path, .log_level = log_level, .log_format = log_format});
    return d.run();
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return 1;
  }
}
