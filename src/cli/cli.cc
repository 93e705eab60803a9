#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "cli/render.h"
#include "cli/router_config.h"

#ifndef VANE_VERSION
#define VANE_VERSION "unknown"
#endif

namespace vane::cli {

namespace {

constexpr const char* kDefaultSocket = "/run/vane/vaned.sock";

int run_router_config(const std::string& kind, const std::vector<std::string>& files, RouterConfigOptions opts,
                      std::ostream& out, std::ostream& err) {
  opts.kind = kind == "frr"     ? RouterKind::frr
              : kind == "junos" ? RouterKind::junos
              : kind == "eos"   ? RouterKind::eos
                                : RouterKind::bird;
  std::vector<config::Loaded> servers;
  bool bad = false;
  for (const auto& f : files) {
    // Key files are not read: the output never holds a key, and this runs where the keys are not.
    auto l = config::load_file(f, config::LoadOptions{.read_secrets = false});
    if (!l) {
      for (const auto& d : l.error()) err << d.str() << "\n";
      bad = true;
      continue;
    }
    servers.push_back(std::move(*l));
  }
  if (bad) return kExitDaemonError;
  auto text = router_config(servers, opts);
  if (!text) {
    err << "vanectl: router-config: " << text.error() << "\n";
    return kExitDaemonError;
  }
  out << *text;
  return kExitOk;
}

}  // namespace

int exit_code(const CallResult& result) {
  if (!result) {
    return result.error().kind == control::ClientError::Kind::unreachable ? kExitUnreachable : kExitDaemonError;
  }
  return result->error().empty() ? kExitOk : kExitDaemonError;
}

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err, Transport transport) {
  CLI::App app{"vanectl: query and steer a running vaned", "vanectl"};
  // Global options may follow the command (`vanectl show routes -o json`).
  app.fallthrough();
  app.require_subcommand(1);

  std::string socket = kDefaultSocket;
  std::string output = "text";
  double timeout_s = 30;
  app.add_option("-s,--socket", socket, "control socket of vaned")->envname("VANE_SOCKET")->capture_default_str();
  app.add_option("-o,--output", output, "output format")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  app.add_option("-t,--timeout", timeout_s, "seconds to wait for the daemon's answer")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();

  control::Request req;
  bool detail = false;

  auto* show = app.add_subcommand("show", "show the daemon's state");
  show->require_subcommand(1);
  std::string neighbor_filter, route_filter, service_filter, health_filter;
  show->add_subcommand("neighbors", "BGP sessions")
      ->callback([&] {
        req.mutable_show_neighbors()->set_name(neighbor_filter);
        detail = !neighbor_filter.empty();
      })
      ->add_option("name", neighbor_filter, "only this neighbor, in detail");
  show->add_subcommand("routes", "announced prefixes, their attributes and why")
      ->callback([&] { req.mutable_show_routes()->set_prefix(route_filter); })
      ->add_option("prefix", route_filter, "only this prefix");
  show->add_subcommand("services", "services, health and drain state")
      ->callback([&] { req.mutable_show_services()->set_name(service_filter); })
      ->add_option("service", service_filter, "only this service");
  show->add_subcommand("health", "health checks: last result, latency, verdict")
      ->callback([&] { req.mutable_show_health()->set_service(health_filter); })
      ->add_option("service", health_filter, "only this service's checks");
  show->add_subcommand("site", "servers of the site and the forwarding table")->callback([&] {
    req.mutable_show_site();
  });
  show->add_subcommand("forwarding", "data-path counters per VIP and reason")->callback([&] {
    req.mutable_show_forwarding();
  });
  show->add_subcommand("bfd", "BFD sessions: state, timers, counters")->callback([&] { req.mutable_show_bfd(); });
  std::string received_neighbor;
  uint32_t received_limit = 0;
  auto* received = show->add_subcommand("received", "routes a neighbor sent us (Adj-RIB-In)");
  received->add_option("neighbor", received_neighbor, "neighbor name")->required();
  received->add_option("-n,--limit", received_limit, "show at most N routes (default 1000)");
  received->callback([&] {
    req.mutable_show_received()->set_neighbor(received_neighbor);
    req.mutable_show_received()->set_limit(received_limit);
  });

  std::string drain_service, undrain_service;
  app.add_subcommand("drain", "withdraw a service (default: all) gracefully")
      ->callback([&] { req.mutable_drain()->set_service(drain_service); })
      ->add_option("service", drain_service, "service name; omitted: every service");
  app.add_subcommand("undrain", "undo a drain")
      ->callback([&] { req.mutable_undrain()->set_service(undrain_service); })
      ->add_option("service", undrain_service, "service name; omitted: every service");
  bool reload_dry_run = false, reload_confirm = false;
  uint32_t reload_confirm_within = 0;
  std::string reload_file;
  auto* reload = app.add_subcommand("reload", "re-read and apply the config file (as a transaction)");
  auto* dry = reload->add_flag("--dry-run", reload_dry_run, "print what the reload would change; apply nothing");
  reload->add_option("file", reload_file, "with --dry-run: plan against this file instead of vaned's own")
      ->check(CLI::ExistingFile);
  auto* within = reload
                     ->add_option("--confirm-within", reload_confirm_within,
                                  "apply, then roll back after SECONDS unless `vanectl reload --confirm` comes")
                     ->check(CLI::Range(1u, 86400u));
  auto* confirm = reload->add_flag("--confirm", reload_confirm, "keep the reload that awaits confirmation");
  confirm->excludes(within);
  confirm->excludes(dry);
  within->excludes(dry);
  reload->callback([&] {
    auto* r = req.mutable_reload();
    r->set_dry_run(reload_dry_run);
    r->set_confirm(reload_confirm);
    r->set_confirm_within_s(reload_confirm_within);
    if (reload_file.empty()) return;
    if (!reload_dry_run) throw CLI::ValidationError("file", "a file other than vaned's own is for --dry-run only");
    std::ifstream in(reload_file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) throw CLI::ValidationError("file", "cannot read " + reload_file);
    r->set_config_text(text.str());
    std::error_code ec;
    auto abs = std::filesystem::absolute(reload_file, ec);
    r->set_config_path(ec ? reload_file : abs.string());
  });

  std::string nb_name, nb_action, nb_message;
  auto* nb = app.add_subcommand("neighbor", "shut down, enable or reset a BGP session");
  nb->add_option("name", nb_name, "neighbor name")->required();
  nb->add_option("action", nb_action, "shutdown, enable or reset")
      ->required()
      ->check(CLI::IsMember({"shutdown", "enable", "reset"}));
  nb->add_option("-m,--message", nb_message, "shutdown communication sent to the router (RFC 8203)")
      ->check([](const std::string& s) { return s.size() > 255 ? std::string("at most 255 bytes") : std::string(); });
  nb->callback([&] {
    auto* a = req.mutable_neighbor_action();
    a->set_name(nb_name);
    a->set_message(nb_message);
    a->set_action(nb_action == "shutdown" ? control::NeighborAction::ACTION_SHUTDOWN
                  : nb_action == "enable" ? control::NeighborAction::ACTION_ENABLE
                                          : control::NeighborAction::ACTION_RESET);
  });

  // router-config reads config files and never talks to a daemon.
  bool want_router_config = false;
  std::string rc_kind;
  std::vector<std::string> rc_files{"/etc/vane/vaned.conf"};
  RouterConfigOptions rc_opts;
  auto* rcc =
      app.add_subcommand("router-config", "print the router's side of the BGP sessions, from servers' config files");
  rcc->add_option("--for", rc_kind, "the router's software")
      ->required()
      ->check(CLI::IsMember({"bird", "frr", "junos", "eos"}));
  rcc->add_option("-c,--config", rc_files, "a server's config file; one per server (repeat the option or list them)")
      ->capture_default_str();
  rcc->add_option("--router", rc_opts.routers, "only sessions to this router (a neighbor address or name); repeatable");
  rcc->add_option("--max-prefix", rc_opts.max_prefix,
                  "routes a server may send per session and family (default: its prefixes + 10)")
      ->check(CLI::Range(1u, 4294967295u));
  rcc->callback([&] { want_router_config = true; });

  bool want_version = false;
  app.add_subcommand("version", "print vanectl's version")->callback([&] { want_version = true; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e, out, err);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  if (want_version) {
    out << "vanectl " << VANE_VERSION << " (control protocol " << control::kProtocolMajor << "."
        << control::kProtocolMinor << ")\n";
    return kExitOk;
  }

  if (want_router_config) return run_router_config(rc_kind, rc_files, rc_opts, out, err);

  control::ClientOptions opts;
  opts.socket_path = socket;
  opts.timeout = std::chrono::milliseconds(static_cast<long long>(std::llround(timeout_s * 1000)));
  const CallResult result = transport ? transport(opts, req) : control::call(opts, req);
  const int rc = exit_code(result);
  if (!result) {
    err << "vanectl: " << result.error().message << "\n";
    return rc;
  }
  if (output == "json") {
    out << render_json(*result);
    if (!result->error().empty()) err << render_error(*result);
  } else if (!result->error().empty()) {
    err << render_error(*result);
  } else {
    out << render_text(*result, detail);
  }
  return rc;
}

}  // namespace vane::cli
