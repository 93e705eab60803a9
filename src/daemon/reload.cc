#include "daemon/reload.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <google/protobuf/util/message_differencer.h>

#include "bgp/neighbor_change.h"
#include "daemon/neighbor_config.h"

namespace vane::daemon {

namespace {

using pb = google::protobuf::util::MessageDifferencer;

}  // namespace

std::string_view to_string(NeighborPlan::Kind k) {
  switch (k) {
    case NeighborPlan::Kind::Add:
      return "add";
    case NeighborPlan::Kind::Remove:
      return "remove";
    case NeighborPlan::Kind::Reset:
      return "reset";
    case NeighborPlan::Kind::InPlace:
      return "update";
  }
  return "?";
}

std::string_view to_string(PrefixPlan::Kind k) {
  switch (k) {
    case PrefixPlan::Kind::Announce:
      return "announce";
    case PrefixPlan::Kind::Withdraw:
      return "withdraw";
    case PrefixPlan::Kind::Attributes:
      return "attributes";
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

ReloadPlan make_plan(const PlanInputs& in) {
  const config::Loaded& cur = *in.current;
  const config::Loaded& next = *in.next;
  ReloadPlan plan;
  plan.changes = config::diff(cur.proto, next.proto);
  // Key files' contents are not in the config text: a rotation changes them alone.
  if (next.site_keys != cur.site_keys && next.proto.site().key_file() == cur.proto.site().key_file())
    plan.changes.push_back("site keys: changed");
  auto key_differs = [&](const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b,
                         const std::string& name) {
    auto it = a.find(name);
    auto jt = b.find(name);
    return (it == a.end()) != (jt == b.end()) || (it != a.end() && it->second != jt->second);
  };
  for (auto& n : next.proto.neighbor()) {
    const bool text_same = std::ranges::any_of(
        cur.proto.neighbor(), [&](const config::Neighbor& o) { return o.name() == n.name() && pb::Equals(o, n); });
    if (!text_same) continue;
    if (key_differs(cur.md5_keys, next.md5_keys, n.name()))
      plan.changes.push_back("neighbor " + n.name() + ": md5 key changed");
    // The BFD service takes a new key in place (BfdLink::apply): no BGP session is reset for it.
    if (key_differs(cur.bfd_keys, next.bfd_keys, n.name()))
      plan.changes.push_back("neighbor " + n.name() + ": bfd key changed");
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

  // Listeners.
  const auto la = listen_addresses(cur), lb = listen_addresses(next);
  const uint16_t pa = listen_port(cur.proto), pb_ = listen_port(next.proto);
  for (auto& a : la)
    if (pa != pb_ || !std::ranges::binary_search(lb, a))
      plan.listeners.push_back("close " + a.str() + " port " + std::to_string(pa));
  for (auto& b : lb)
    if (pa != pb_ || !std::ranges::binary_search(la, b))
      plan.listeners.push_back("open " + b.str() + " port " + std::to_string(pb_));

  // Prefixes.
  for (auto& [p, attrs] : in.exports_next) {
    auto it = in.exports_now.find(p);
    if (it == in.exports_now.end())
      plan.prefixes.push_back({p.str(), PrefixPlan::Kind::Announce});
    else if (it->second != attrs)
      plan.prefixes.push_back({p.str(), PrefixPlan::Kind::Attributes});
  }
  for (auto& [p, _] : in.exports_now)
    if (!in.exports_next.contains(p)) plan.prefixes.push_back({p.str(), PrefixPlan::Kind::Withdraw});
  std::ranges::sort(plan.prefixes, {}, &PrefixPlan::prefix);

  // Data path.
  const bool fw_next = next.proto.forwarding().enabled();
  if (in.forwarding_now && !fw_next) plan.programs.push_back("detached: forwarding disabled");
  if (fw_next && in.forwarding) {
    if (!*in.forwarding) {
      // Named here so the dry run says what the real reload will refuse.
      plan.restart.push_back("data path: " + in.forwarding->error());
    } else {
      const ForwardingPlan& f = **in.forwarding;
      if (!in.forwarding_now)
        plan.programs.push_back("loaded: forwarding enabled");
      else if (f.programs_reload)
        plan.programs.push_back("reloaded: " + f.programs_reason);
      for (auto& t : f.tables) {
        ServicePlan s{t.service, t.table_size, t.buckets_moved, {}};
        for (auto& [server, d] : t.buckets_delta)
          if (d != 0) s.delta.emplace(server, d);
        if (s.moved == 0 && s.delta.empty()) continue;
        plan.services.push_back(std::move(s));
      }
    }
  }

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
