// The daemon's answers to vanectl and its metrics page: read-only views over the speaker, the
// health engine and the data path, plus the operator actions (drain, reload, neighbour commands).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "config/config.h"
#include "control/codec.h"
#include "daemon/daemon.h"
#include "steer/controller.h"

namespace vane::daemon {

namespace {

using Clock = std::chrono::steady_clock;

std::string community_str(uint32_t c) {
  switch (c) {
    case 0xFFFF0000:
      return "graceful-shutdown";
    case 0xFFFFFF01:
      return "no-export";
    case 0xFFFFFF02:
      return "no-advertise";
    case 0xFFFFFF03:
      return "no-export-subconfed";
    default:
      return std::to_string(c >> 16) + ":" + std::to_string(c & 0xffff);
  }
}

std::string ext_str(uint64_t v) {
  uint8_t type = uint8_t(v >> 56), sub = uint8_t(v >> 48);
  std::string kind = sub == 0x02 ? "rt" : sub == 0x03 ? "soo" : "ext";
  if (type == 0x02) return kind + ":" + std::to_string((v >> 16) & 0xffffffff) + ":" + std::to_string(v & 0xffff);
  return kind + ":" + std::to_string((v >> 32) & 0xffff) + ":" + std::to_string(v & 0xffffffff);
}

void fill_plan(const ReloadPlan& p, control::ReloadPlan* out) {
  for (auto& n : p.neighbors) {
    auto* x = out->add_neighbors();
    x->set_name(n.name);
    x->set_action(std::string(to_string(n.kind)));
    for (auto& f : n.fields) x->add_fields(f);
    x->set_reason(n.reason);
  }
  for (auto& q : p.prefixes) {
    auto* x = out->add_prefixes();
    x->set_prefix(q.prefix);
    x->set_action(std::string(to_string(q.kind)));
  }
  for (auto& s : p.services) {
    auto* x = out->add_services();
    x->set_service(s.service);
    x->set_table_size(s.table_size);
    x->set_buckets_moved(s.moved);
    for (auto& [server, d] : s.delta) {
      auto* y = x->add_servers();
      y->set_server(server);
      y->set_buckets_delta(d);
    }
  }
  for (auto& x : p.programs) out->add_programs(x);
  for (auto& x : p.restart) out->add_restart_required(x);
  for (auto& x : p.listeners) out->add_listeners(x);
}

control::Response invalid_config(const config::Diagnostics& errors, const std::string& where) {
  auto r = control::error_response(control::ERROR_CODE_INVALID_CONFIG,
                                   std::to_string(errors.size()) + " error(s) in " + where + "; nothing changed");
  for (auto& d : errors) {
    auto* e = r.add_error_details();
    e->set_file(d.file);
    e->set_line(uint32_t(d.line));
    e->set_column(uint32_t(d.column));
    e->set_message(d.message);
  }
  return r;
}

control::RouteState route_state(health::PrefixState s) {
  switch (s) {
    case health::PrefixState::Announced:
      return control::ROUTE_STATE_ANNOUNCED;
    case health::PrefixState::AnnouncedDraining:
      return control::ROUTE_STATE_DRAINING;
    default:
      return control::ROUTE_STATE_WITHDRAWN;
  }
}

// Position of NAME in a repeated config field (its size when absent): control.proto promises
// neighbours and services in config order, while the speaker and the health engine keep them by name.
template <typename List>
size_t config_index(const List& configured, const std::string& name) {
  size_t i = 0;
  for (auto& c : configured) {
    if (c.name() == name) break;
    ++i;
  }
  return i;
}

uint64_t seconds_since(Clock::time_point t) {
  if (t == Clock::time_point{}) return 0;
  return uint64_t(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t).count());
}

}  // namespace

void Daemon::handle(const control::Request& req, control::Server::Reply reply) {
  control::Response r;
  switch (req.command_case()) {
    case control::Request::kShowNeighbors: {
      auto* out = r.mutable_neighbors();
      auto status = speaker_->status();
      std::stable_sort(status.begin(), status.end(), [&](auto& a, auto& b) {
        return config_index(cfg_.proto.neighbor(), a.name) < config_index(cfg_.proto.neighbor(), b.name);
      });
      for (auto& n : status) {
        if (!req.show_neighbors().name().empty() && n.name != req.show_neighbors().name()) continue;
        auto* x = out->add_neighbors();
        x->set_name(n.name);
        x->set_address(n.address_known ? n.address.str() : "");
        x->set_interface(n.interface);
        x->set_extended_next_hop(n.extended_next_hop_sent);
        x->set_remote_asn(n.remote_asn);
        x->set_state(std::string(bgp::to_string(n.state)));
        x->set_uptime_s(n.state == bgp::State::Established ? seconds_since(n.since) : 0);
        x->set_prefixes_sent(n.prefixes_sent);
        x->set_prefixes_received(n.prefixes_received);
        x->set_last_error(n.last_error);
        x->set_description(n.description);
        x->set_admin_shutdown(n.admin_down);
        x->set_prefixes_discarded(n.prefixes_discarded);
        x->set_send_queue_bytes(n.send_queue_bytes);
        if (bfd_ && bfd_->has(n.name)) bfd_->fill(n.name, x->mutable_bfd());
        if (n.damped_until)
          x->set_damped_s(uint64_t(std::max<int64_t>(
              1, std::chrono::ceil<std::chrono::seconds>(*n.damped_until - std::chrono::steady_clock::now()).count())));
        for (auto& f : n.families) x->add_families(f);
        if (n.last_notification) {
          auto* nn = x->mutable_last_notification();
          nn->set_code(n.last_notification->code);
          nn->set_subcode(n.last_notification->subcode);
          nn->set_sent(n.last_notification_sent);
          nn->set_text(n.last_error);
        }
      }
      if (!req.show_neighbors().name().empty() && out->neighbors().empty())
        r = control::error_response(control::ERROR_CODE_NOT_FOUND, "no neighbor " + req.show_neighbors().name());
      break;
    }
    case control::Request::kShowRoutes: {
      auto* out = r.mutable_routes();
      auto states = health_->prefixes();
      auto snap = health_->snapshot();
      const auto& exported = speaker_->exports();
      const std::string& want = req.show_routes().prefix();
      // Indexes built once: a config may list 100,000 prefixes, and every lookup below is per route.
      std::vector<std::pair<Prefix, const config::Announce*>> routes;  // first announce of each prefix
      std::set<Prefix> seen;
      for (auto& svc : cfg_.proto.service())
        for (auto& a : svc.announce()) {
          auto p = Prefix::parse(a.prefix());
          if (!p || (!want.empty() && want != p->str() && want != a.prefix())) continue;
          if (seen.insert(*p).second) routes.emplace_back(*p, &a);
        }
      std::map<Prefix, std::vector<const health::ServiceStatus*>> announcers;  // in snapshot order
      for (auto& st : snap.services)
        for (auto& cs : cfg_.proto.service())
          if (cs.name() == st.name)
            for (auto& ca : cs.announce())
              if (auto p = Prefix::parse(ca.prefix()); p && seen.count(*p)) announcers[*p].push_back(&st);
      std::set<std::string> suppressed;
      for (auto& ps : snap.prefixes)
        if (ps.suppressed) suppressed.insert(ps.prefix);
      for (auto& [p, a] : routes) {
        auto* x = out->add_routes();
        x->set_prefix(p.str());
        auto sit = states.find(p.str());
        x->set_state(route_state(sit != states.end() ? sit->second : health::PrefixState::Withdrawn));
        auto it = exported.find(p);
        x->set_announced(it != exported.end());
        bgp::ExportAttrs attrs = it != exported.end() ? it->second : steer::export_attrs(*a);
        for (auto c : attrs.communities) x->add_communities(community_str(c));
        for (auto& l : attrs.large)
          x->add_large_communities(std::to_string(l[0]) + ":" + std::to_string(l[1]) + ":" + std::to_string(l[2]));
        for (auto e : attrs.extended) x->add_extended_communities(ext_str(e));
        if (attrs.med) x->set_med(*attrs.med);
        x->set_prepend(attrs.prepend);
        // Why: every service announcing it, with its health and drain, and its failing checks.
        for (const auto* st : announcers[p]) {
          std::string why = "service " + st->name + (st->healthy ? " healthy" : " unhealthy");
          if (st->drained) why += ", drained";
          for (auto& c : st->checks)
            if (c.verdict != health::Verdict::Up)
              why += ", check " + c.name + " " + std::string(health::to_string(c.verdict));
          x->add_reasons(why);
        }
        if (suppressed.count(p.str())) x->add_reasons("dampened: suppressed");
        if (!ready_) x->add_reasons("start-up: waiting for every check's first verdict");
      }
      break;
    }
    case control::Request::kShowServices: {
      auto* out = r.mutable_services();
      auto snap = health_->snapshot();
      std::stable_sort(snap.services.begin(), snap.services.end(), [&](auto& a, auto& b) {
        return config_index(cfg_.proto.service(), a.name) < config_index(cfg_.proto.service(), b.name);
      });
      for (auto& s : snap.services) {
        if (!req.show_services().name().empty() && s.name != req.show_services().name()) continue;
        auto* x = out->add_services();
        x->set_name(s.name);
        x->set_healthy(s.healthy);
        x->set_drained(s.drained);
        x->set_checks(uint32_t(s.checks.size()));
        uint32_t up = 0;
        for (auto& c : s.checks) up += c.verdict == health::Verdict::Up;
        x->set_checks_up(up);
        for (auto& cs : cfg_.proto.service()) {
          if (cs.name() != s.name) continue;
          for (auto& v : cs.vip())
            x->add_vips(v.address() + ":" + std::to_string(v.port()) + "/" +
                        (v.protocol() == config::UDP ? "udp" : "tcp"));
          for (auto& a : cs.announce()) x->add_prefixes(a.prefix());
        }
      }
      if (!req.show_services().name().empty() && out->services().empty())
        r = control::error_response(control::ERROR_CODE_NOT_FOUND, "no service " + req.show_services().name());
      break;
    }
    case control::Request::kShowHealth: {
      auto* out = r.mutable_health();
      for (auto& s : health_->snapshot().services) {
        if (!req.show_health().service().empty() && s.name != req.show_health().service()) continue;
        for (auto& c : s.checks) {
          auto* x = out->add_checks();
          x->set_service(s.name);
          x->set_name(c.name);
          x->set_kind(c.kind);
          x->set_verdict(c.verdict == health::Verdict::Up     ? control::VERDICT_UP
                         : c.verdict == health::Verdict::Down ? control::VERDICT_DOWN
                                                              : control::VERDICT_UNKNOWN);
          x->set_transitions(c.transitions);
          if (c.last) {
            x->set_last_ok(c.last->ok);
            x->set_latency_ms(double(c.last->latency.count()) / 1000.0);
            x->set_detail(c.config_error.empty() ? c.last->detail : c.config_error);
            if (c.last->weight) x->set_weight(*c.last->weight);
          } else if (!c.config_error.empty()) {
            x->set_detail(c.config_error);
          }
        }
      }
      break;
    }
    case control::Request::kShowSite: {
      auto* out = r.mutable_site();
      const health::SiteView* view = site_ ? &site_->view() : nullptr;
      for (int i = 0; i < cfg_.proto.site().server_size(); ++i) {
        const auto& s = cfg_.proto.site().server(i);
        auto* x = out->add_servers();
        x->set_name(s.name());
        x->set_address(s.address());
        x->set_weight(s.has_weight() ? s.weight() : config::kDefaultWeight);
        x->set_is_self(s.name() == cfg_.proto.node().name());
        const config::Role role = x->is_self() ? config::node_role(cfg_.proto) : config::role_of(s);
        x->set_role(config::Role_Name(role));
        if (x->is_self())
          x->set_reach("self");
        else if (!view)
          x->set_reach("off");
        else if (const auto* p = view->find(s.name()); !p)
          x->set_reach("not queried");
        else {
          x->set_reach(p->reach == health::Verdict::Up     ? "reachable"
                       : p->reach == health::Verdict::Down ? "unreachable"
                                                           : "not reached yet");
          x->set_error(p->error);
          x->set_refusal(p->refusal);
          for (auto& [why, n] : p->refused) {  // std::map: sorted by reason
            auto* c = x->add_refused();
            c->set_reason(why);
            c->set_count(n);
          }
        }
        bool takes = false;
        // service_weights lists the servers in config order, so entry i is this server.
        for (auto& [svc, ws] : site_weights_) {
          if (size_t(i) >= ws.size() || ws[i].name != s.name()) continue;  // computed for another config
          const auto& w = ws[i];
          auto* y = x->add_services();
          y->set_service(svc);
          y->set_weight(w.weight);
          y->set_healthy(w.healthy);
          y->set_state(w.why);
          takes = takes || w.weight > 0;
        }
        x->set_healthy(takes);
        fill_load(*x, s);
      }
      const auto st = config::site_health(cfg_.proto);
      out->set_site_health(site_ != nullptr);
      out->set_site_port(site_ ? st.port : 0);
      if (site_) {
        out->set_auth(site_->authenticated() ? "authenticated" : "unauthenticated");
        for (auto& id : site_->key_ids()) out->add_key_ids(id);
        out->set_agent_listening(site_->listening());
        out->set_agent_error(site_->listen_error());
        out->set_agent_bad_requests(site_->bad_requests());
        for (size_t i = 0; i < health::kAgentRefusals; ++i) {
          const auto r = health::AgentRefusal(i);
          auto* c = out->add_agent_refused();
          c->set_reason(std::string(health::to_string(r)));
          c->set_count(site_->refused(r));
        }
      }
      for (auto& svc : cfg_.proto.service()) {
        auto* y = out->add_services();
        y->set_service(svc.name());
        auto it = site_weights_.find(svc.name());
        y->set_healthy_servers(it == site_weights_.end() ? 0 : health::healthy_servers(it->second));
        y->set_min_healthy_servers(min_healthy_servers(cfg_.proto, svc));
        y->set_gate_open(health_->site_gate_open(svc.name()));
      }
      if (forwarding_) {
        out->set_table_generation(forwarding_->generation());
        out->set_table_size(forwarding_->table_size());
      }
      break;
    }
    case control::Request::kShowForwarding: {
      auto* out = r.mutable_forwarding();
      if (!forwarding_) {
        r = control::error_response(control::ERROR_CODE_NOT_FOUND, "forwarding is not enabled (forwarding.enabled)");
        break;
      }
      for (auto& v : forwarding_->counters()) {
        auto* x = out->add_vips();
        x->set_vip(v.vip);
        x->set_proto(v.protocol);
        x->set_port(v.port);
        for (unsigned i = 0; i < VANE_R_COUNT; ++i)
          (*x->mutable_packets())[std::string(xdp::reason_name(i))] = v.counters.packets[i];
      }
      break;
    }
    case control::Request::kDrain:
    case control::Request::kUndrain: {
      bool drain = req.command_case() == control::Request::kDrain;
      const std::string& svc = drain ? req.drain().service() : req.undrain().service();
      if (svc.empty()) {
        drain ? health_->drain_all() : health_->undrain_all();
      } else if (!(drain ? health_->drain(svc) : health_->undrain(svc))) {
        r = control::error_response(control::ERROR_CODE_NOT_FOUND, "no service " + svc);
        break;
      }
      std::string what = svc.empty() ? "every service" : "service " + svc;
      spdlog::info("vanectl: {} {}", drain ? "drain" : "undrain", what);
      r.mutable_action()->set_message((drain ? "draining " : "undrained ") + what);
      break;
    }
    case control::Request::kReload: {
      r = reload_response(req.reload());
      break;
    }
    case control::Request::kShowBfd:
      if (bfd_)
        bfd_->show(cfg_, r.mutable_bfd());
      else
        r.mutable_bfd();
      break;
    case control::Request::kNeighborAction: {
      const auto& a = req.neighbor_action();
      bool ok = false;
      switch (a.action()) {
        case control::NeighborAction::ACTION_SHUTDOWN:
          ok = speaker_->neighbor_shutdown(a.name(), a.message());
          break;
        case control::NeighborAction::ACTION_ENABLE:
          ok = speaker_->neighbor_enable(a.name());
          break;
        case control::NeighborAction::ACTION_RESET:
          ok = speaker_->neighbor_reset(a.name(), a.message());
          break;
        default:
          break;
      }
      if (!ok) {
        r = control::error_response(control::ERROR_CODE_NOT_FOUND, "no neighbor " + a.name());
        break;
      }
      spdlog::info("vanectl: neighbor {} {}", a.name(), control::NeighborAction::Action_Name(a.action()));
      r.mutable_action()->set_message("neighbor " + a.name() + ": done");
      break;
    }
    case control::Request::kShowReceived: {
      const auto& q = req.show_received();
      auto st = speaker_->status();
      auto it = std::find_if(st.begin(), st.end(), [&](auto& n) { return n.name == q.neighbor(); });
      if (it == st.end()) {
        r = control::error_response(control::ERROR_CODE_NOT_FOUND, "no neighbor " + q.neighbor());
        break;
      }
      auto* out = r.mutable_received();
      out->set_neighbor(q.neighbor());
      out->set_total(it->prefixes_received);
      bool keep = false;
      for (auto& n : cfg_.proto.neighbor())
        if (n.name() == q.neighbor()) keep = n.keep_received_routes();
      out->set_count_only(!keep);
      size_t limit = q.limit() ? std::min<uint32_t>(q.limit(), 100000) : 1000;
      if (keep)
        for (auto& rr : speaker_->received_routes(q.neighbor(), limit)) {
          auto* x = out->add_routes();
          x->set_prefix(rr.prefix.str());
          x->set_attributes(rr.attributes);
          x->set_stale(rr.stale);
        }
      break;
    }
    default:
      r = control::error_response(control::ERROR_CODE_UNIMPLEMENTED, "not implemented by this vaned");
  }
  reply(std::move(r));
}

void Daemon::collect(metrics::Registry& reg) {
  reg.gauge("vane_up", "1 while vaned runs").set(1);
  reg.gauge("vane_start_time_seconds", "Unix time vaned started").set(double(start_time_));
  auto& up = reg.gauge("vane_bgp_session_up", "1 while the BGP session is Established");
  auto& state = reg.gauge("vane_bgp_session_state", "BGP FSM state: 0 Idle .. 5 Established");
  auto& trans = reg.counter("vane_bgp_session_transitions_total", "BGP FSM state changes");
  auto& est = reg.counter("vane_bgp_session_established_total", "Times the session reached Established");
  auto& msgs_in = reg.counter("vane_bgp_messages_received_total", "BGP messages received");
  auto& msgs_out = reg.counter("vane_bgp_messages_sent_total", "BGP messages sent");
  auto& upd_in = reg.counter("vane_bgp_updates_received_total", "BGP UPDATE messages received");
  auto& upd_out = reg.counter("vane_bgp_updates_sent_total", "BGP UPDATE messages sent");
  auto& rx = reg.gauge("vane_bgp_prefixes_received", "Prefixes currently held from the neighbor");
  auto& tx = reg.gauge("vane_bgp_prefixes_sent", "Prefixes currently announced to the neighbor");
  auto& filt = reg.counter("vane_bgp_prefixes_filtered_total", "Prefixes refused by the import filter");
  auto& disc = reg.counter("vane_bgp_prefixes_discarded_total",
                           "New prefixes not stored: the most routes kept from one neighbor were held");
  if (bfd_) bfd_->collect(reg);
  auto& queue = reg.gauge("vane_bgp_send_queue_bytes", "Bytes written for the neighbor, not yet taken by the kernel");
  for (auto& n : speaker_->status()) {
    metrics::Labels l{{"neighbor", n.name}};
    up.set(l, n.state == bgp::State::Established ? 1 : 0);
    state.set(l, double(int(n.state)));
    trans.set(l, double(n.transitions));
    est.set(l, double(n.established_count));
    msgs_in.set(l, double(n.messages_received));
    msgs_out.set(l, double(n.messages_sent));
    upd_in.set(l, double(n.updates_received));
    upd_out.set(l, double(n.updates_sent));
    rx.set(l, double(n.prefixes_received));
    tx.set(l, double(n.prefixes_sent));
    filt.set(l, double(n.prefixes_filtered));
    disc.set(l, double(n.prefixes_discarded));
    queue.set(l, double(n.send_queue_bytes));
  }
  reg.counter("vane_bgp_accept_errors_total", "Failed accepts on the BGP listeners (each pauses it 100 ms)")
      .set(double(speaker_->accept_errors()));
  reg.gauge("vane_bgp_prefixes_exported", "Prefixes this node wants announced now")
      .set(double(speaker_->exports().size()));
  if (!ra_links_.empty()) {
    auto& ra = reg.counter("vane_bgp_ra_packets_total",
                           "Router advertisements on unnumbered neighbors' interfaces: sent, send_error, received, "
                           "or the reason one was dropped");
    for (auto& [ifname, link] : ra_links_) {
      const auto& c = link->counters();
      auto put = [&](const std::string& result, uint64_t v) {
        ra.set(metrics::Labels{{"interface", ifname}, {"result", result}}, double(v));
      };
      put("sent", c.sent);
      put("send_error", c.send_errors);
      put("received", c.received);
      for (auto& [why, v] : c.dropped) put(why, v);
    }
  }

  collect_load(reg);
  if (site_) {
    auto& reach = reg.gauge("vane_site_server_reachable", "1 while the server's site agent answers (site health)");
    auto& answers = reg.counter("vane_site_queries_answered_total", "Valid replies from the server's site agent");
    auto& fails = reg.counter("vane_site_queries_failed_total", "Failed queries of the server's site agent");
    for (auto& p : site_->view().peers()) {
      metrics::Labels l{{"server", p.name}};
      reach.set(l, p.reach == health::Verdict::Up ? 1 : 0);
      answers.set(l, double(p.answers));
      fails.set(l, double(p.failures));
    }
    reg.counter("vane_site_agent_replies_total", "Replies this server's site agent wrote").set(double(site_->served()));
    auto& agent_refused = reg.counter("vane_site_agent_refused_total",
                                      "Site agent connections closed at once, unread, by reason (not_a_site_server, "
                                      "per_source_limit, too_many_clients)");
    for (size_t i = 0; i < health::kAgentRefusals; ++i) {
      const auto r = health::AgentRefusal(i);
      agent_refused.set(metrics::Labels{{"reason", std::string(health::to_string(r))}}, double(site_->refused(r)));
    }
    auto& refused =
        reg.counter("vane_site_replies_refused_total",
                    "Replies refused from the server's site agent, by reason (bad_mac, unknown_key, missing_mac, "
                    "replay, wrong_server, malformed, too_long, out_of_range)");
    for (auto& p : site_->view().peers())
      for (auto& [why, n] : p.refused) refused.set(metrics::Labels{{"server", p.name}, {"reason", why}}, double(n));
    reg.gauge("vane_site_agent_listening", "1 while this server's site agent listens; 0: it reports itself down")
        .set(site_->listening() ? 1 : 0);
    reg.gauge("vane_site_authenticated", "1 when site replies are signed and checked (site.key_file)")
        .set(site_->authenticated() ? 1 : 0);
    reg.counter("vane_site_agent_bad_requests_total",
                "Site agent connections closed without a valid request line in time")
        .set(double(site_->bad_requests()));
  }
  {
    auto& weight = reg.gauge("vane_site_weight", "Effective weight of a server in a service's forwarding table");
    auto& healthy = reg.gauge("vane_site_healthy_servers", "Servers known healthy for the service");
    for (auto& [svc, ws] : site_weights_) {
      for (auto& w : ws) weight.set(metrics::Labels{{"service", svc}, {"server", w.name}}, double(w.weight));
      healthy.set(metrics::Labels{{"service", svc}}, double(health::healthy_servers(ws)));
    }
  }

  auto snap = health_->snapshot();
  auto& healthy = reg.gauge("vane_service_healthy", "1 while the service is healthy");
  auto& drained = reg.gauge("vane_service_drained", "1 while the service is drained");
  auto& verdict = reg.gauge("vane_check_up", "Check verdict: 1 up, 0 down, -1 unknown");
  auto& ok = reg.gauge("vane_check_last_success", "1 if the check's last run succeeded");
  auto& lat = reg.gauge("vane_check_latency_seconds", "Latency of the check's last run");
  auto& ctrans = reg.counter("vane_check_transitions_total", "Verdict changes of the check");
  for (auto& s : snap.services) {
    healthy.set({{"service", s.name}}, s.healthy ? 1 : 0);
    drained.set({{"service", s.name}}, s.drained ? 1 : 0);
    for (auto& c : s.checks) {
      metrics::Labels l{{"service", s.name}, {"check", c.name}, {"kind", c.kind}};
      verdict.set(l, c.verdict == health::Verdict::Up ? 1 : c.verdict == health::Verdict::Down ? 0 : -1);
      ctrans.set(l, c.transitions);
      if (c.last) {
        ok.set(l, c.last->ok ? 1 : 0);
        lat.set(l, double(c.last->latency.count()) / 1e6);
      }
    }
  }
  auto& pstate = reg.gauge("vane_prefix_announced", "Prefix state: 0 withdrawn, 1 announced, 2 draining");
  for (auto& [p, st] : health_->prefixes())
    pstate.set({{"prefix", p}}, st == health::PrefixState::Announced           ? 1
                                : st == health::PrefixState::AnnouncedDraining ? 2
                                                                               : 0);

  if (forwarding_) {
    reg.gauge("vane_forwarding_table_generation", "Forwarding table generation (bumps on every change)")
        .set(double(forwarding_->generation()));
    reg.gauge("vane_forwarding_table_size", "Buckets per forwarding table").set(forwarding_->table_size());
    auto& pk = reg.counter("vane_forwarding_packets_total", "Packets seen by the XDP data path, by VIP and reason");
    auto& by = reg.counter("vane_forwarding_bytes_total", "Bytes seen by the XDP data path, by VIP and reason");
    for (auto& v : forwarding_->counters()) {
      for (unsigned i = 0; i < VANE_R_COUNT; ++i) {
        metrics::Labels l{{"vip", v.vip},
                          {"port", std::to_string(v.port)},
                          {"protocol", v.protocol},
                          {"reason", std::string(xdp::reason_name(i))}};
        pk.set(l, double(v.counters.packets[i]));
        by.set(l, double(v.counters.bytes[i]));
      }
    }
  }
}

control::Response Daemon::reload_response(const control::Reload& q) {
  control::Response r;
  if (q.confirm()) {
    if (!confirm_reload())
      return control::error_response(control::ERROR_CODE_CONFLICT, "no reload awaits confirmation");
    r.mutable_action()->set_message("reload confirmed");
    return r;
  }
  ReloadRequest rq;
  rq.dry_run = q.dry_run();
  rq.confirm_within = std::chrono::seconds(q.confirm_within_s());
  if (rq.dry_run && rq.confirm_within.count() > 0)
    return control::error_response(control::ERROR_CODE_BAD_REQUEST, "a dry run applies nothing to confirm");
  if (!q.config_text().empty() || !q.config_path().empty()) {
    // A real reload always reads vaned's own file: that is what the next start reads too.
    if (!rq.dry_run)
      return control::error_response(control::ERROR_CODE_BAD_REQUEST, "another config file is for --dry-run only");
    const std::string path = q.config_path().empty() ? "dry-run.conf" : q.config_path();
    auto l = config::load_string(q.config_text(), path);
    if (!l) return invalid_config(l.error(), path);
    rq.candidate = std::move(*l);
  }
  auto res = reload(std::move(rq));
  if (!res.errors.empty()) return invalid_config(res.errors, opts_.config_path.string());
  if (!res.refused.empty()) return control::error_response(control::ERROR_CODE_CONFLICT, res.refused);
  if (res.failed) {
    r = control::error_response(control::ERROR_CODE_RELOAD_FAILED,
                                "reload failed at " + res.failed->step + ": " + res.failed->error +
                                    "; everything was rolled back and the previous config stays current");
    for (auto& u : res.failed->undone) r.add_error_details()->set_message("undone: " + u);
    return r;
  }
  auto* a = r.mutable_action();
  if (q.dry_run())
    a->set_message(res.plan.empty() ? "dry run: configuration unchanged" : "dry run: nothing applied");
  else if (!res.applied)
    a->set_message("configuration unchanged");
  else if (confirm_previous_)
    a->set_message("configuration reloaded; rolls back in " + std::to_string(q.confirm_within_s()) +
                   "s unless confirmed (vanectl reload --confirm)");
  else
    a->set_message("configuration reloaded");
  for (auto& c : res.plan.changes) a->add_changes(c);
  fill_plan(res.plan, a->mutable_plan());
  a->mutable_plan()->set_dry_run(q.dry_run());
  if (res.applied && confirm_previous_) a->mutable_plan()->set_confirm_within_s(q.confirm_within_s());
  return r;
}

}  // namespace vane::daemon
