#include "steer/tables.h"

#include <algorithm>

#include "config/config.h"

namespace vane::steer {

std::vector<MaglevServer> site_servers(const config::Config& cfg) {
  std::vector<MaglevServer> out;
  for (auto& s : cfg.site().server()) {
    uint32_t w = s.has_weight() ? s.weight() : config::kDefaultWeight;
    if (s.role() == config::FORWARDER_ONLY) w = 0;  // never a first hop
    out.push_back({s.name(), w});
  }
  return maglev_sorted(out);
}

SiteTables compute_tables(const config::Config& cfg, const SiteWeights& weights,
                          const std::map<std::string, InstalledTable>& installed,
                          const std::map<std::string, uint32_t>& table_ids) {
  SiteTables out;
  out.servers = site_servers(cfg);
  out.table_size = table_size_for(out.servers.size(), cfg.site().table_size());
  for (int i = 0; i < cfg.service_size(); ++i) {
    const auto& svc = cfg.service(i);
    if (svc.vip().empty()) continue;
    ServiceTable st;
    st.service = svc.name();
    auto id = table_ids.find(svc.name());
    st.table_id = id == table_ids.end() ? uint32_t(i) : id->second;
    st.inputs = out.servers;
    if (auto w = weights.find(svc.name()); w != weights.end())
      for (auto& s : st.inputs)
        if (auto x = w->second.find(s.key); x != w->second.end())
          s.weight = std::min(s.weight ? x->second : 0u, kMaglevMaxWeight);
    auto prev = installed.find(svc.name());
    if (prev != installed.end() && prev->second.inputs == st.inputs && prev->second.table_size == out.table_size &&
        prev->second.table_id == st.table_id) {
      st.table = prev->second.table;
    } else {
      // The previous table is passed even when the server list or weights changed: build_maglev
      // maps its hops to the new list by name, so a bucket's second hop stays its previous first hop
      // (a server set to weight 0 keeps its established connections).
      auto t = build_maglev(st.inputs, out.table_size, prev == installed.end() ? nullptr : &prev->second.table);
      if (t)
        st.table = std::move(*t);
      else
        st.error = t.error();
      st.rebuilt = true;
    }
    out.services.push_back(std::move(st));
  }
  return out;
}

std::map<std::string, int64_t> first_hop_counts(const MaglevTable& t) {
  std::vector<int64_t> n(t.servers().size());
  for (auto& e : t.entries())
    if (e.first < n.size()) ++n[e.first];
  std::map<std::string, int64_t> out;
  for (size_t i = 0; i < n.size(); ++i)
    if (n[i]) out[t.servers()[i].key] = n[i];
  return out;
}

uint32_t buckets_moved(const MaglevTable* before, const MaglevTable* after) {
  if (!before && !after) return 0;
  if (!before || !after || before->size() != after->size())
    return std::max(before ? before->size() : 0, after ? after->size() : 0);
  uint32_t moved = 0;
  for (uint32_t b = 0; b < after->size(); ++b)
    if (before->servers()[(*before)[b].first].key != after->servers()[(*after)[b].first].key) ++moved;
  return moved;
}

}  // namespace vane::steer
