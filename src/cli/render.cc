#include "cli/render.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>

namespace vane::cli {

namespace {

std::size_t display_width(std::string_view s) {
  // Continuation bytes of UTF-8 sequences do not take a column.
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

template <typename Range>
std::string join(const Range& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string or_dash(std::string s) {
  return s.empty() ? "-" : s;
}
std::string yes_no(bool b) {
  return b ? "yes" : "no";
}
std::string up_down(bool b) {
  return b ? "up" : "down";
}

std::string notification_summary(const control::Notification& n) {
  std::string out = "NOTIFICATION " + std::string(n.sent() ? "sent" : "received") + " " + std::to_string(n.code()) +
                    "/" + std::to_string(n.subcode());
  if (!n.text().empty()) out += " (" + n.text() + ")";
  return out;
}

std::string route_state(control::RouteState s) {
  switch (s) {
    case control::ROUTE_STATE_WITHDRAWN:
      return "withdrawn";
    case control::ROUTE_STATE_ANNOUNCED:
      return "announced";
    case control::ROUTE_STATE_DRAINING:
      return "draining";
    default:
      return "unknown";
  }
}

std::string verdict(control::Verdict v) {
  switch (v) {
    case control::VERDICT_UP:
      return "up";
    case control::VERDICT_DOWN:
      return "down";
    default:
      return "unknown";
  }
}

std::string format_ms(double ms) {
  char buf[32];
  // A tenth of a millisecond matters for local probes, not for slow ones.
  std::snprintf(buf, sizeof buf, ms < 10 ? "%.1fms" : "%.0fms", ms);
  return buf;
}

using A = Table::Align;

}  // namespace

Table::Table(std::vector<std::string> headers, std::vector<Align> align) : align_(std::move(align)) {
  align_.resize(headers.size(), Align::left);
  rows_.push_back(std::move(headers));
}

void Table::add(std::vector<std::string> row) {
  row.resize(rows_.front().size());
  rows_.push_back(std::move(row));
}

std::string Table::str() const {
  const std::size_t cols = rows_.front().size();
  std::vector<std::size_t> width(cols, 0);
  for (const auto& row : rows_) {
    for (std::size_t c = 0; c < cols; ++c) width[c] = std::max(width[c], display_width(row[c]));
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t pad = width[c] - display_width(row[c]);
      const bool last = c + 1 == cols;
      if (c > 0) line += "  ";
      if (align_[c] == Align::right) line.append(pad, ' ');
      line += row[c];
      if (align_[c] == Align::left && !last) line.append(pad, ' ');
    }
    // A left-aligned empty last cell would otherwise leave the padding before it.
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

std::string format_duration(uint64_t s) {
  char buf[48];
  const uint64_t days = s / 86400;
  s %= 86400;
  if (days > 0) {
    std::snprintf(buf, sizeof buf, "%llud %02llu:%02llu:%02llu", static_cast<unsigned long long>(days),
                  static_cast<unsigned long long>(s / 3600), static_cast<unsigned long long>(s / 60 % 60),
                  static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%02llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  }
  return buf;
}

std::string ms_str(double ms) {
  char b[32];
  std::snprintf(b, sizeof b, "%g ms", ms);
  return b;
}

std::string bfd_summary(const control::BfdSession& b) {
  std::string s = b.state() + (b.multihop() ? " multihop" : "") + ", tx " + ms_str(b.tx_interval_ms()) + ", detect " +
                  ms_str(b.detection_time_ms()) + ", auth " + b.auth();
  if (b.bgp_held()) s += ", BGP held until Up";
  if (b.state() != "Up") s += ", last diag: " + b.local_diag();
  return s;
}

std::string render_bfd(const control::BfdReply& r) {
  Table t({"Neighbor", "Peer", "Mode", "State", "Remote", "Tx", "Detect", "Auth", "Rx", "Sent", "Ups", "Downs", "Diag"},
          {A::left, A::left, A::left, A::left, A::left, A::right, A::right, A::left, A::right, A::right, A::right,
           A::right, A::left});
  for (const auto& b : r.sessions()) {
    t.add({b.name(), b.peer(), b.multihop() ? "multihop" : "single-hop", b.state() + (b.bgp_held() ? "(BGP held)" : ""),
           b.remote_state(), ms_str(b.tx_interval_ms()), ms_str(b.detection_time_ms()), b.auth(),
           std::to_string(b.packets_received()), std::to_string(b.packets_sent()), std::to_string(b.up_transitions()),
           std::to_string(b.down_transitions()), b.local_diag()});
  }
  return t.str();
}

std::string render_neighbors(const control::NeighborsReply& r, bool detail) {
  if (detail) {
    std::string out;
    for (const auto& n : r.neighbors()) {
      if (!out.empty()) out += '\n';
      Table t({"Neighbor", n.name()});
      t.add({"Description", or_dash(n.description())});
      t.add({"Address", n.interface().empty() ? n.address()
                        : n.address().empty() ? "(waiting for router advertisements) %" + n.interface()
                                              : n.address() + "%" + n.interface()});
      if (n.extended_next_hop()) t.add({"Extended next hop", "IPv4 routes with IPv6 next hops (RFC 8950)"});
      t.add({"Remote AS", std::to_string(n.remote_asn())});
      t.add({"State", n.state() + (n.admin_shutdown() ? " (admin shutdown)" : "") +
                          (n.damped_s() ? " (damped " + std::to_string(n.damped_s()) + "s: its error)" : "")});
      t.add({"Uptime", n.state() == "Established" ? format_duration(n.uptime_s()) : "-"});
      t.add({"Families", or_dash(join(n.families(), " "))});
      t.add({"Prefixes sent", std::to_string(n.prefixes_sent())});
      t.add({"Prefixes received", std::to_string(n.prefixes_received())});
      t.add({"Routes discarded", std::to_string(n.prefixes_discarded())});
      t.add({"Send queue", std::to_string(n.send_queue_bytes()) + " bytes"});
      t.add({"Last error", or_dash(n.last_error())});
      if (n.has_bfd()) t.add({"BFD", bfd_summary(n.bfd())});
      t.add({"Last notification", n.has_last_notification()
                                      ? notification_summary(n.last_notification()) + ", " +
                                            format_duration(n.last_notification().age_s()) + " ago"
                                      : "-"});
      out += t.str();
    }
    return out;
  }
  Table t({"Name", "Address", "ASN", "State", "Uptime", "Sent", "Rcvd", "LastError"},
          {A::left, A::left, A::right, A::left, A::right, A::right, A::right, A::left});
  for (const auto& n : r.neighbors()) {
    std::string last = n.last_error();
    if (last.empty() && n.has_last_notification()) last = notification_summary(n.last_notification());
    std::string addr =
        n.interface().empty() ? n.address() : (n.address().empty() ? "?" : n.address()) + "%" + n.interface();
    t.add({n.name(), addr, std::to_string(n.remote_asn()),
           n.state() + (n.admin_shutdown() ? "(Admin)"
                        : n.damped_s()     ? "(Damped)"
                                           : ""),
           n.state() == "Established" ? format_duration(n.uptime_s()) : "-", std::to_string(n.prefixes_sent()),
           std::to_string(n.prefixes_received()), or_dash(last)});
  }
  return t.str();
}

std::string render_routes(const control::RoutesReply& r) {
  Table t({"Prefix", "State", "MED", "Prepend", "Communities", "Reasons"},
          {A::left, A::left, A::right, A::right, A::left, A::left});
  for (const auto& rt : r.routes()) {
    std::vector<std::string> comms(rt.communities().begin(), rt.communities().end());
    comms.insert(comms.end(), rt.large_communities().begin(), rt.large_communities().end());
    comms.insert(comms.end(), rt.extended_communities().begin(), rt.extended_communities().end());
    t.add({rt.prefix(), route_state(rt.state()), rt.has_med() ? std::to_string(rt.med()) : "-",
           std::to_string(rt.prepend()), or_dash(join(comms, " ")), or_dash(join(rt.reasons(), "; "))});
  }
  return t.str();
}

std::string render_services(const control::ServicesReply& r) {
  Table t({"Name", "Health", "Drained", "Checks", "VIPs", "Prefixes"},
          {A::left, A::left, A::left, A::right, A::left, A::left});
  for (const auto& s : r.services()) {
    t.add({s.name(), up_down(s.healthy()), yes_no(s.drained()),
           std::to_string(s.checks_up()) + "/" + std::to_string(s.checks()), or_dash(join(s.vips(), ",")),
           or_dash(join(s.prefixes(), ","))});
  }
  return t.str();
}

std::string render_health(const control::HealthReply& r) {
  Table t({"Service", "Check", "Kind", "Verdict", "Last", "Latency", "Transitions", "Weight", "Detail"},
          {A::left, A::left, A::left, A::left, A::left, A::right, A::right, A::right, A::left});
  for (const auto& c : r.checks()) {
    t.add({c.service(), c.name(), c.kind(), verdict(c.verdict()), c.last_ok() ? "ok" : "fail",
           format_ms(c.latency_ms()), std::to_string(c.transitions()), std::to_string(c.weight()),
           or_dash(c.detail())});
  }
  return t.str();
}

std::string render_site(const control::SiteReply& r) {
  std::string out =
      "Table generation " + std::to_string(r.table_generation()) + ", " + std::to_string(r.table_size()) +
      " buckets; site health " +
      (r.site_health() ? "on (port " + std::to_string(r.site_port()) + ", " + r.auth() + ")" : std::string("off")) +
      "\n";
  if (r.site_health() && !r.agent_listening())
    out +=
        "site agent NOT LISTENING: " + r.agent_error() + "; this server counts itself down and withdraws (retrying)\n";
  out += "\n";
  Table t({"Name", "Address", "Role", "Weight", "Reach", "Self"},
          {A::left, A::left, A::left, A::right, A::left, A::left});
  for (const auto& s : r.servers()) {
    std::string role = s.role() == "FORWARDER_ONLY" ? "forwarder" : s.role() == "BACKEND_ONLY" ? "backend" : "both";
    t.add({s.name(), s.address(), role, std::to_string(s.weight()), or_dash(s.reach()), s.is_self() ? "*" : ""});
  }
  out += t.str();
  Table w({"Service", "Server", "Weight", "State"}, {A::left, A::left, A::right, A::left});
  size_t rows = 0;
  for (const auto& s : r.servers())
    for (const auto& x : s.services()) {
      w.add({x.service(), s.name(), std::to_string(x.weight()), or_dash(x.state())});
      ++rows;
    }
  if (rows) out += "\n" + w.str();
  Table ld({"Server", "Utilisation", "Published", "Why"}, {A::left, A::right, A::right, A::left});
  size_t loads = 0;
  for (const auto& s : r.servers()) {
    if (!s.load()) continue;
    const auto pct = [](int32_t pm) {
      return pm < 0 ? std::string("-") : std::to_string(pm / 10) + "." + std::to_string(pm % 10) + "%";
    };
    std::string why = s.load_reason();
    if (!why.empty() && s.load_mean_permille() >= 0) why += " (site mean " + pct(s.load_mean_permille()) + ")";
    ld.add({s.name(), pct(s.utilisation_permille()), std::to_string(s.load_weight()), or_dash(why)});
    ++loads;
  }
  if (loads) out += "\nLoad-driven weights\n" + ld.str();
  std::string notes;
  for (const auto& s : r.servers())
    if (!s.error().empty()) notes += s.name() + ": " + s.error() + "\n";
  for (const auto& s : r.servers()) {
    if (s.refused().empty()) continue;
    std::string counts;
    for (const auto& c : s.refused())
      counts += (counts.empty() ? "" : ", ") + c.reason() + " " + std::to_string(c.count());
    notes += s.name() + ": refused replies: " + counts + " (last: " + s.refusal() + ")\n";
  }
  std::string agent_refused;
  for (const auto& c : r.agent_refused())
    if (c.count() > 0)
      agent_refused += (agent_refused.empty() ? "" : ", ") + c.reason() + " " + std::to_string(c.count());
  if (!agent_refused.empty()) notes += "site agent refused connections: " + agent_refused + "\n";
  for (const auto& g : r.services())
    if (g.min_healthy_servers() > 0)
      notes += "service " + g.service() + ": " + std::to_string(g.healthy_servers()) + " healthy server(s), needs " +
               std::to_string(g.min_healthy_servers()) +
               (g.gate_open() ? "\n" : ": WITHDRAWN (too few healthy servers)\n");
  if (!notes.empty()) out += "\n" + notes;
  return out;
}

std::string render_forwarding(const control::ForwardingReply& r) {
  // The data path's reasons in the order a packet meets them; anything newer follows, sorted.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kKnown{{
      {"passed", "Passed"},
      {"local", "Local"},
      {"forwarded", "Forwarded"},
      {"too_big", "TooBig"},
      {"no_table", "NoTable"},
      {"malformed", "Malformed"},
      {"errors", "Errors"},
  }};
  std::vector<std::string> keys, headers{"VIP", "Proto", "Port"};
  std::vector<Table::Align> align{A::left, A::left, A::right};
  for (const auto& [k, h] : kKnown) {
    keys.emplace_back(k);
    headers.emplace_back(h);
  }
  std::map<std::string, bool> extra;
  for (const auto& v : r.vips()) {
    for (const auto& [k, _] : v.packets()) {
      if (std::none_of(kKnown.begin(), kKnown.end(), [&](const auto& kh) { return kh.first == k; })) extra[k] = true;
    }
  }
  for (const auto& [k, _] : extra) {
    keys.push_back(k);
    headers.push_back(k);
  }
  align.resize(headers.size(), A::right);
  Table t(std::move(headers), std::move(align));
  for (const auto& v : r.vips()) {
    std::vector<std::string> row{v.vip(), v.proto(), v.port() == 0 ? "*" : std::to_string(v.port())};
    for (const auto& k : keys) {
      auto it = v.packets().find(k);
      row.push_back(it == v.packets().end() ? "-" : std::to_string(it->second));
    }
    t.add(std::move(row));
  }
  return t.str();
}

std::string render_received(const control::ReceivedReply& r) {
  std::string out = "neighbor " + r.neighbor() + ": " + std::to_string(r.total()) + " route(s) held";
  if (r.count_only()) return out + " (counted only: set keep_received_routes to keep them)\n";
  if (uint64_t(r.routes_size()) < r.total()) out += ", first " + std::to_string(r.routes_size()) + " shown";
  out += "\n";
  Table t({"Prefix", "Stale", "Attributes"}, {A::left, A::left, A::left});
  for (const auto& x : r.routes()) t.add({x.prefix(), x.stale() ? "stale" : "", or_dash(x.attributes())});
  return out + t.str();
}

std::string render_reload_plan(const control::ReloadPlan& p) {
  std::string out;
  auto section = [&](const char* title) { out += std::string(title) + ":\n"; };
  if (!p.neighbors().empty()) {
    section("sessions");
    for (const auto& n : p.neighbors()) {
      out += "  " + n.action() + " " + n.name();
      if (!n.reason().empty())
        out += " (" + n.reason() + ")";
      else if (!n.fields().empty()) {
        std::string f;
        for (const auto& x : n.fields()) f += (f.empty() ? "" : ", ") + x;
        out += " (" + f + ")";
      }
      out += "\n";
    }
  }
  if (!p.listeners().empty()) {
    section("listeners");
    for (const auto& l : p.listeners()) out += "  " + l + "\n";
  }
  if (!p.prefixes().empty()) {
    section("prefixes");
    for (const auto& x : p.prefixes()) out += "  " + x.action() + " " + x.prefix() + "\n";
  }
  if (!p.services().empty()) {
    section("tables");
    for (const auto& s : p.services()) {
      out += "  " + s.service() + ": " + std::to_string(s.buckets_moved()) + " of " + std::to_string(s.table_size()) +
             " buckets move\n";
      for (const auto& b : s.servers())
        out +=
            "    " + b.server() + " " + (b.buckets_delta() > 0 ? "+" : "") + std::to_string(b.buckets_delta()) + "\n";
    }
  }
  if (!p.programs().empty()) {
    section("programs");
    for (const auto& x : p.programs()) out += "  " + x + "\n";
  }
  if (!p.restart_required().empty()) {
    section("need a restart");
    for (const auto& x : p.restart_required()) out += "  " + x + "\n";
  }
  return out;
}

std::string render_action(const control::ActionReply& r) {
  std::string out = r.message().empty() ? "ok" : r.message();
  out += '\n';
  for (const auto& c : r.changes()) out += "  " + c + "\n";
  // The plan in full for a dry run; a real reload lists its changes (-o json has its plan too).
  if (r.has_plan() && r.plan().dry_run()) out += render_reload_plan(r.plan());
  return out;
}

std::string render_error(const control::Response& r) {
  std::string out = "error: " + (r.error().empty() ? std::string("unknown error") : r.error()) + "\n";
  for (const auto& d : r.error_details()) {
    out += "  ";
    if (!d.file().empty()) out += d.file() + ":";
    if (d.line() > 0) out += std::to_string(d.line()) + ":" + std::to_string(d.column()) + ":";
    if (!d.file().empty() || d.line() > 0) out += " ";
    out += d.message() + "\n";
  }
  return out;
}

std::string render_text(const control::Response& r, bool detail) {
  using R = control::Response;
  switch (r.payload_case()) {
    case R::kNeighbors:
      return render_neighbors(r.neighbors(), detail);
    case R::kRoutes:
      return render_routes(r.routes());
    case R::kServices:
      return render_services(r.services());
    case R::kHealth:
      return render_health(r.health());
    case R::kSite:
      return render_site(r.site());
    case R::kForwarding:
      return render_forwarding(r.forwarding());
    case R::kAction:
      return render_action(r.action());
    case R::kReceived:
      return render_received(r.received());
    case R::kBfd:
      return render_bfd(r.bfd());
    case R::PAYLOAD_NOT_SET:
      break;
  }
  return "";
}

std::string render_json(const control::Response& r) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(r, &out, opts).ok()) return "{}\n";
  out += '\n';
  return out;
}

}  // namespace vane::cli
