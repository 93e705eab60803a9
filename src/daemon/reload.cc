#include "daemon/reload.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <google/protobuf/util/message_differencer.h>

#include "bgp/neighbor_change.h"
#include "daemon/neighbor_config.h"
#include "steer/maglev.h"

namespace vane::daemon {

namespace {

using pb = google::protobuf::util::MessageDifferencer;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// This node's position in the sorted server list: the programs address servers by it.
std::optional<size_t> self_index(const config::Config& c) {
  std::vector<std::string> names;
  for (auto& s : c.site().server()) names.push_back(s.name());
  std::ranges::sort(names);
  auto it = std::ranges::find(names, c.node().name());
  if (it == names.end()) return std::nullopt;
  return size_t(it - names.begin());
}

std::vector<steer::MaglevServer> table_inputs(const config::Config& cfg, const std::string& service,
                                              const SiteWeights& weights) {
  std::vector<steer::MaglevServer> out;
  for (auto& s : cfg.site().server()) {
    uint32_t w = s.has_weight() ? s.weight() : config::kDefaultWeight;
    if (config::role_of(s) == config::FORWARDER_ONLY) w = 0;
    out.push_back({s.name(), w});
  }
  out = steer::maglev_sorted(out);
  if (auto ws = weights.find(service); ws != weights.end())
    for (auto& s : out)
      if (auto x = ws->second.find(s.key); x != ws->second.end()) s.weight = std::min(s.weight ? x->second : 0u, steer::kMaglevMaxWeight);
  return out;
}

// Server name of each bucket's first hop; empty when the service has no table.
std::vector<std::string> first_hops(const config::Config& cfg, const std::string& service, const SiteWeights& weights) {
  auto inputs = table_inputs(cfg, service, weights);
  auto t = steer::build_maglev_first_hops(inputs, steer::table_size_for(inputs.size(), cfg.site().table_size()));
  if (!t) return {};
  std::vector<std::string> out;
  out.reserve(t->first.size());
  for (auto i : t->first) out.push_back(i == steer::kMaglevNone ? std::string() : t->servers[i].key);
  return out;
}

bool has_table(const config::Config& cfg, const std::string& service) {
  for (auto& s : cfg.service())
    if (s.name() == service) return !s.vip().empty();
  return false;
}

}  // namespace

std::string_view to_string(NeighborPlan::Kind k) {
  switch (k) {
    case NeighborPlan::Kind::Add: return "add";
    case NeighborPlan::Kind::Remove: return "remove";
    case NeighborPlan::Kind::Reset: return "reset";
    case NeighborPlan::Kind::InPlace: return "update";
  }
  return "?";
}

std::string_view to_string(PrefixPlan::Kind k) {
  switch (k) {
    case PrefixPlan::Kind::Announce: return "announce";
    case PrefixPlan::Kind::Withdraw: return "withdraw";
    case PrefixPlan::Kind::Attributes: return "attributes";
  }
  return "?";
}

NeighborPlan classify_neighbor(const bgp::NeighborConfig& before, const bgp::NeighborConfig& after) {
  // The speaker asks the same question when it applies the change (Speaker::update_neighbor).
  const auto c = bgp::classify_neighbor_change(before, after);
  NeighborPlan p;
  p.name = after.name;
  p.fields = c.fields;
  p.kind = c.kind == bgp::NeighborChange::kReset ? NeighborPlan::Kind::Reset : NeighborPlan::Kind::InPlace;
  p.reason = c.reason;
  return p;
}

std::vector<IpAddress> listen_addresses(const config::Loaded& cfg) {
  std::set<IpAddress> out;
  for (auto& l : cfg.proto.bgp().listen())
    if (auto a = IpAddress::parse(l)) out.insert(*a);
  if (cfg.proto.bgp().listen().empty()) {
    // Only addresses that face a configured neighbour: never a wildcard.
    for (auto& n : cfg.proto.neighbor()) {
      auto nc = neighbor_config(cfg, n);
      if (nc.local_address) out.insert(*nc.local_address);
    }
  }
  return {out.begin(), out.end()};
}

uint16_t listen_port(const config::Config& cfg) {
  return uint16_t(cfg.bgp().has_listen_port() ? cfg.bgp().listen_port() : 179);
}

std::vector<std::string> program_changes(const config::Config& a, const config::Config& b) {
  std::vector<std::string> out;
  const auto& fa = a.forwarding();
  const auto& fb = b.forwarding();
  auto add = [&](bool differ, const char* name) {
    if (differ) out.emplace_back(name);
  };
  add(fa.has_gue_port() != fb.has_gue_port() || fa.gue_port() != fb.gue_port(), "forwarding.gue_port");
  add(fa.hash_seed() != fb.hash_seed(), "forwarding.hash_seed");
  add(fa.has_mtu() != fb.has_mtu() || fa.mtu() != fb.mtu(), "forwarding.mtu");
  add(fa.generic_xdp() != fb.generic_xdp(), "forwarding.generic_xdp");
  add(fa.pin_path() != fb.pin_path(), "forwarding.pin_path");
  add(a.node().interface() != b.node().interface(), "node.interface");
  // The role picks the program: a backend-only node loads the redirector alone.
  add((config::node_role(a) == config::BACKEND_ONLY) != (config::node_role(b) == config::BACKEND_ONLY), "node.role");
  // The data path's identity (this server's index among the sorted servers, its fabric addresses)
  // is read-only data of the loaded programs.
  add(a.node().name() != b.node().name(), "node.name");
  add(a.node().address() != b.node().address() || a.node().address6() != b.node().address6(), "node.address");
  add(a.node().name() == b.node().name() && self_index(a) != self_index(b), "this server's index in the site list");
  return out;
}

std::vector<ServicePlan> bucket_moves(const config::Config& before, const SiteWeights& wb, const config::Config& after,
                                      const SiteWeights& wa) {
  std::set<std::string> names;
  for (auto& s : before.service())
    if (!s.vip().empty()) names.insert(s.name());
  for (auto& s : after.service())
    if (!s.vip().empty()) names.insert(s.name());
  std::vector<ServicePlan> out;
  for (auto& svc : names) {
    const auto b = has_table(before, svc) ? first_hops(before, svc, wb) : std::vector<std::string>{};
    const auto a = has_table(after, svc) ? first_hops(after, svc, wa) : std::vector<std::string>{};
    ServicePlan p;
    p.service = svc;
    p.table_size = uint32_t(a.size());
    if (a.size() == b.size()) {
      for (size_t i = 0; i < a.size(); ++i) p.moved += a[i] != b[i];
    } else {
      p.moved = uint32_t(std::max(a.size(), b.size()));
    }
    std::map<std::string, ServerBuckets> per;
    for (auto& n : b)
      if (!n.empty()) ++per.try_emplace(n, ServerBuckets{n}).first->second.before;
    for (auto& n : a)
      if (!n.empty()) ++per.try_emplace(n, ServerBuckets{n}).first->second.after;
    for (auto& [_, s] : per)
      if (s.before != s.after) p.servers.push_back(s);
    if (p.moved == 0 && p.servers.empty()) continue;
    out.push_back(std::move(p));
  }
  return out;
}

ReloadPlan make_plan(const PlanInputs& in) {
  const config::Loaded& cur = *in.current;
  const config::Loaded& next = *in.next;
  ReloadPlan plan;
  plan.changes = config::diff(cur.proto, next.proto);
  // Key files' contents are not in the config text: a rotation changes them alone.
  if (next.site_keys != cur.site_keys && next.proto.site().key_file() == cur.proto.site().key_file())
    plan.changes.push_back("site keys: changed");
  for (auto& n : next.proto.neighbor()) {
    auto it = cur.md5_keys.find(n.name());
    auto jt = next.md5_keys.find(n.name());
    const bool differ = (it == cur.md5_keys.end()) != (jt == next.md5_keys.end()) ||
                        (it != cur.md5_keys.end() && it->second != jt->second);
    const bool text_same = std::ranges::any_of(cur.proto.neighbor(), [&](const config::Neighbor& o) {
      return o.name() == n.name() && pb::Equals(o, n);
    });
    if (differ && text_same) plan.changes.push_back("neighbor " + n.name() + ": md5 key changed");
  }

  // Sessions.
  std::map<std::string, bgp::NeighborConfig> before;
  for (auto& n : cur.proto.neighbor()) before.emplace(n.name(), neighbor_config(cur, n));
  for (auto& n : next.proto.neighbor()) {
    auto nc = neighbor_config(next, n);
    auto it = before.find(n.name());
    if (it == before.end()) {
      plan.neighbors.push_back({n.name(), NeighborPlan::Kind::Add, {}, {}});
      continue;
    }
    auto p = classify_neighbor(it->second, nc);
    before.erase(it);
    if (!p.fields.empty()) plan.neighbors.push_back(std::move(p));
  }
  for (auto& [name, _] : before) plan.neighbors.push_back({name, NeighborPlan::Kind::Remove, {}, {}});

  // Listeners: opened at start only, for now.
  const auto la = listen_addresses(cur), lb = listen_addresses(next);
  if (la != lb || listen_port(cur.proto) != listen_port(next.proto))
    plan.restart.push_back("bgp listeners (bgp.listen, bgp.listen_port, a neighbor's local side): opened at start");

  // Prefixes.
  for (auto& [p, attrs] : in.exports_next) {
    auto it = in.exports_now.find(p);
    if (it == in.exports_now.end()) plan.prefixes.push_back({p.str(), PrefixPlan::Kind::Announce});
    else if (it->second != attrs) plan.prefixes.push_back({p.str(), PrefixPlan::Kind::Attributes});
  }
  for (auto& [p, _] : in.exports_now)
    if (!in.exports_next.contains(p)) plan.prefixes.push_back({p.str(), PrefixPlan::Kind::Withdraw});
  std::ranges::sort(plan.prefixes, {}, &PrefixPlan::prefix);

  // Data path.
  const bool fw_next = next.proto.forwarding().enabled();
  if (in.forwarding_now && !fw_next) plan.programs.push_back("detached: forwarding disabled");
  else if (!in.forwarding_now && fw_next) plan.programs.push_back("loaded: forwarding enabled");
  else if (fw_next) {
    if (auto why = program_changes(cur.proto, next.proto); !why.empty()) plan.programs.push_back("reloaded: " + join(why));
  }
  if (fw_next || in.forwarding_now)
    plan.services = bucket_moves(cur.proto, in.forwarding_now ? in.weights_now : SiteWeights{}, next.proto,
                                 fw_next ? in.weights_next : SiteWeights{});
  if (in.forwarding_now && fw_next && cur.proto.forwarding().keep_on_exit() != next.proto.forwarding().keep_on_exit())
    plan.restart.push_back("forwarding.keep_on_exit: read when the programs are loaded");

  // Moving the socket from under the request that asked for this reload would drop its answer.
  if (!pb::Equals(cur.proto.control(), next.proto.control())) plan.restart.push_back("control.socket");
  return plan;
}

std::expected<void, StepFailure> run_steps(std::span<const Step> steps) {
  for (size_t i = 0; i < steps.size(); ++i) {
    auto r = steps[i].apply();
    if (r) continue;
    StepFailure f{steps[i].name, r.error(), {}};
    for (size_t j = i; j-- > 0;) {
      if (!steps[j].undo) continue;
      steps[j].undo();
      f.undone.push_back(steps[j].name);
    }
    return std::unexpected(std::move(f));
  }
  return {};
}

}  // namespace vane::daemon
