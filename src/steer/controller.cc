#include "steer/controller.h"

#include <algorithm>

#include "config/config.h"

namespace vane::steer {

namespace {
template <class T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}
}  // namespace

bgp::ExportAttrs export_attrs(const config::Announce& a) {
  bgp::ExportAttrs e;
  for (auto& c : a.community())
    if (auto v = config::parse_community(c)) e.communities.push_back(*v);
  for (auto& c : a.large_community())
    if (auto v = config::parse_large_community(c)) e.large.push_back(*v);
  for (auto& c : a.extended_community())
    if (auto v = config::parse_extended_community(c)) e.extended.push_back(*v);
  if (a.has_med()) e.med = a.med();
  e.prepend = a.prepend();
  sort_unique(e.communities);
  sort_unique(e.large);
  sort_unique(e.extended);
  return e;
}

bgp::ExportSet exports(const config::Config& cfg, const std::map<std::string, health::PrefixState>& states) {
  bgp::ExportSet out;
  for (auto& svc : cfg.service()) {
    for (auto& a : svc.announce()) {
      auto p = Prefix::parse(a.prefix());
      if (!p || out.count(*p)) continue;
      auto it = states.find(a.prefix());
      if (it == states.end()) it = states.find(p->str());
      if (it == states.end() || it->second == health::PrefixState::Withdrawn) continue;
      bgp::ExportAttrs e = export_attrs(a);
      if (it->second == health::PrefixState::AnnouncedDraining) {
        e.communities.push_back(kGracefulShutdown);
        sort_unique(e.communities);
        e.prepend += cfg.node().drain_prepend();
      }
      out.emplace(*p, std::move(e));
    }
  }
  return out;
}

}  // namespace vane::steer
