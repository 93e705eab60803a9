#include "daemon/forwarding.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

namespace vane::daemon {

namespace {

std::vector<steer::MaglevServer> site_servers(const config::Config& cfg) {
  std::vector<steer::MaglevServer> out;
  for (auto& s : cfg.site().server()) {
    uint32_t w = s.has_weight() ? s.weight() : config::kDefaultWeight;
    if (s.role() == config::FORWARDER_ONLY) w = 0;  // never a first hop
    out.push_back({s.name(), w});
  }
  return steer::maglev_sorted(out);
}

// bpf_fib_lookup only resolves next hops when the interface forwards. When the next hop has no
// neighbour entry yet, the forwarder passes the encapsulated packet (outer source: this server)
// up the stack, which resolves the neighbour and forwards it; IPv4 drops such a packet as a
// martian (local source address) unless accept_local is set, and then no neighbour entry for
// the other servers ever appears. What is changed is recorded (sysctl.h) and put back when
// forwarding stops.
std::filesystem::path sysctl_state_path(const config::Config& cfg) {
  // Beside the control socket: in the runtime directory, vaned's own and per instance.
  std::string sock = cfg.control().socket().empty() ? config::kDefaultSocket : cfg.control().socket();
  return sock + ".sysctl";
}

}  // namespace

Forwarding::~Forwarding() {
  // The program goes first: it must not run on an interface that no longer forwards. With
  // keep_on_exit it stays attached and still needs the settings; the record stays for the next vaned.
  loader_.reset();
  if (!keep_on_exit_) restore_sysctls();
}

void Forwarding::stop() {
  if (loader_) loader_->shutdown();
  loader_.reset();
  restore_sysctls();
}

void Forwarding::restore_sysctls() {
  if (!sysctls_) return;
  for (auto& [k, v] : sysctls_->originals()) spdlog::info("forwarding: restoring {} = {}", k, v);
  for (auto& e : sysctls_->restore()) spdlog::warn("forwarding: {}", e);
  sysctls_.reset();
}

std::expected<std::unique_ptr<Forwarding>, std::string> Forwarding::start(const config::Loaded& loaded,
                                                                          const SiteWeights& weights) {
  const auto& cfg = loaded.proto;
  const auto& f = cfg.forwarding();
  auto fw = std::unique_ptr<Forwarding>(new Forwarding());
  fw->servers_ = site_servers(cfg);
  auto self = std::find_if(fw->servers_.begin(), fw->servers_.end(),
                           [&](auto& s) { return s.key == cfg.node().name(); });
  if (self == fw->servers_.end()) return std::unexpected("node is not in the site's server list");
  fw->table_size_ = steer::table_size_for(fw->servers_.size(), cfg.site().table_size());

  xdp::Options o;
  o.config.self_index = uint32_t(self - fw->servers_.begin());
  o.config.self_v4 = IpAddress::parse(cfg.node().address());
  if (!cfg.node().address6().empty()) o.config.self_v6 = IpAddress::parse(cfg.node().address6());
  o.config.gue_port = uint16_t(f.has_gue_port() ? f.gue_port() : config::kDefaultGuePort);
  o.config.hash_seed = f.hash_seed();
  o.config.mtu = uint16_t(f.has_mtu() ? f.mtu() : config::kDefaultMtu);
  o.config.max_buckets = std::max<uint32_t>(VANE_DEFAULT_MAX_BUCKETS, fw->table_size_);
  o.config.table_slots = std::max<uint32_t>(VANE_DEFAULT_TABLE_SLOTS, uint32_t(cfg.service_size()));
  // A backend-only server takes traffic from the forwarders only (GUE): it needs the redirector
  // but must not steer what reaches it directly.
  o.program = config::node_role(cfg) == config::BACKEND_ONLY ? xdp::Program::redirector : xdp::Program::forwarder;
  o.interface = cfg.node().interface();
  o.generic = f.generic_xdp();
  o.pin_dir = f.pin_path().empty() ? "/sys/fs/bpf/vane/" + cfg.node().name() : f.pin_path();
  o.keep_on_exit = f.keep_on_exit();
  auto l = xdp::Loader::open(o);
  if (!l) return std::unexpected("load: " + l.error());
  fw->loader_ = std::move(*l);
  for (auto& m : fw->loader_->replaced_pinned_maps())
    spdlog::warn("forwarding: pinned map {} in {} had another version's layout: replaced, its counters start from zero",
                 m, o.pin_dir);
  if (fw->loader_->reused_pinned_maps()) {
    spdlog::info("forwarding: took over the pinned maps in {}", o.pin_dir);
    fw->adopt_installed_tables(cfg);
  }
  if (auto r = fw->apply(loaded, weights); !r) return std::unexpected(r.error());
  fw->keep_on_exit_ = o.keep_on_exit;
  fw->sysctls_ = std::make_unique<Sysctls>("/proc/sys", sysctl_state_path(cfg));
  if (auto r = fw->sysctls_->load(); !r) return std::unexpected("sysctl record: " + r.error());
  if (!fw->sysctls_->originals().empty())
    spdlog::info("forwarding: {} sysctl(s) changed by an earlier vaned keep their recorded originals",
                 fw->sysctls_->originals().size());
  for (auto& e : enable_forwarding_sysctls(*fw->sysctls_, o.interface)) spdlog::warn("forwarding: {}", e);
  if (auto r = fw->loader_->attach(); !r) return std::unexpected("attach to " + o.interface + ": " + r.error());
  spdlog::info("forwarding: XDP {} {} on {}: {} server(s), {} VIP(s), M={}",
               o.program == xdp::Program::redirector ? "redirector" : "forwarder", o.generic ? "generic" : "native",
               o.interface, fw->servers_.size(), fw->vips_.size(), fw->table_size_);
  return fw;
}

void Forwarding::adopt_installed_tables(const config::Config& cfg) {
  // The tables the previous vaned installed become the previous generation, so the first build's
  // second hops are the hops established connections were using, not ones computed afresh. The
  // entries are server indices: they are read against this config's server list, which must be the
  // one they were built from (same servers, hence the same sorted order).
  for (int i = 0; i < cfg.service_size(); ++i) {
    const auto& svc = cfg.service(i);
    if (svc.vip().empty()) continue;
    auto t = loader_->read_table(uint32_t(i));
    if (!t || t->size() != table_size_) continue;
    std::vector<steer::MaglevEntry> entries;
    entries.reserve(t->size());
    for (auto& [a, b] : *t) {
      if (b == VANE_SERVER_NONE) entries.push_back({a, steer::kMaglevNone, false});
      else entries.push_back({a, b & VANE_BUCKET_HOP_MASK, (b & VANE_BUCKET_F_MOVED) != 0});
    }
    if (auto m = steer::MaglevTable::from_entries(servers_, std::move(entries))) {
      tables_.emplace(svc.name(), std::move(*m));
      spdlog::info("forwarding: service {}: the installed table seeds the second hops", svc.name());
    }
  }
}

std::expected<void, std::string> Forwarding::apply(const config::Loaded& loaded, const SiteWeights& weights) {
  const auto& cfg = loaded.proto;
  // tables_ keeps the previous generation even when the site list or weights change: each
  // MaglevTable carries its own sorted server list and build_maglev maps the old indices to the
  // new ones by name, so a bucket's second hop stays its previous first hop (a server set to
  // weight 0 keeps its established connections).
  servers_ = site_servers(cfg);
  table_size_ = steer::table_size_for(servers_.size(), cfg.site().table_size());

  std::vector<xdp::Server> xs;
  for (uint32_t i = 0; i < servers_.size(); ++i) {
    auto it = std::find_if(cfg.site().server().begin(), cfg.site().server().end(),
                           [&](auto& s) { return s.name() == servers_[i].key; });
    xdp::Server s;
    s.index = i;
    s.v4 = IpAddress::parse(it->address());
    if (!it->address6().empty()) s.v6 = IpAddress::parse(it->address6());
    s.draining = servers_[i].weight == 0;
    xs.push_back(s);
  }
  if (auto r = loader_->set_servers(xs); !r) return std::unexpected("servers: " + r.error());

  std::vector<xdp::Vip> vips;
  std::vector<std::pair<std::string, xdp::Vip>> named;
  std::map<std::string, steer::MaglevTable> next;
  std::map<std::string, std::pair<std::vector<steer::MaglevServer>, uint32_t>> built;
  bool changed = vips_.size() != size_t(std::count_if(cfg.service().begin(), cfg.service().end(),
                                                      [](auto& s) { return !s.vip().empty(); }));
  for (int i = 0; i < cfg.service_size(); ++i) {
    const auto& svc = cfg.service(i);
    if (svc.vip().empty()) continue;
    auto inputs = servers_;
    if (auto w = weights.find(svc.name()); w != weights.end())
      for (auto& s : inputs)
        if (auto x = w->second.find(s.key); x != w->second.end()) s.weight = std::min(s.weight ? x->second : 0u, steer::kMaglevMaxWeight);
    auto prev = tables_.find(svc.name());
    auto was = built_from_.find(svc.name());
    const bool same_slot = std::any_of(vips_.begin(), vips_.end(), [&](auto& v) { return v.first == svc.name() && v.second.table_id == uint32_t(i); });
    if (prev != tables_.end() && was != built_from_.end() && was->second == std::pair(inputs, table_size_) && same_slot) {
      // Same inputs, same slot: the table in the map is already right.
      next.emplace(svc.name(), std::move(prev->second));
      built.emplace(svc.name(), std::move(was->second));
    } else if (auto t = steer::build_maglev(inputs, table_size_, prev == tables_.end() ? nullptr : &prev->second); !t) {
      changed = changed || prev != tables_.end() || generation_ == 0;
      spdlog::warn("forwarding: service {}: no table ({}); its VIPs are passed to the local stack",
                   svc.name(), steer::to_string(t.error()));
      if (auto r = loader_->remove_table(uint32_t(i)); !r) spdlog::debug("remove table: {}", r.error());
    } else {
      xdp::Table tab;
      tab.reserve(t->entries().size());
      for (auto& e : t->entries())
        tab.emplace_back(e.first, e.second == steer::kMaglevNone ? VANE_SERVER_NONE
                                                                 : e.second | (e.moved ? VANE_BUCKET_F_MOVED : 0));
      if (auto r = loader_->set_table(uint32_t(i), tab); !r) return std::unexpected("table: " + r.error());
      next.emplace(svc.name(), std::move(*t));
      built.emplace(svc.name(), std::pair(std::move(inputs), table_size_));
      changed = true;
    }
    for (auto& v : svc.vip()) {
      xdp::Vip x;
      x.addr = *IpAddress::parse(v.address());
      x.port = uint16_t(v.port());
      x.proto = v.protocol() == config::UDP ? IPPROTO_UDP : IPPROTO_TCP;
      x.table_id = uint32_t(i);
      if (v.hash_without_ports()) x.flags |= VANE_VIP_F_HASH_NO_PORTS;
      if (v.single_hop()) x.flags |= VANE_VIP_F_SINGLE_HOP;
      if (v.not_steered()) x.flags |= VANE_VIP_F_DISABLED;
      vips.push_back(x);
      named.emplace_back(svc.name(), x);
    }
  }
  auto slots = loader_->set_vips(vips);
  if (!slots) return std::unexpected("vips: " + slots.error());

  tables_ = std::move(next);
  built_from_ = std::move(built);
  vips_ = std::move(named);
  vip_slots_ = std::move(*slots);
  if (changed || generation_ == 0) ++generation_;
  return {};
}

std::vector<VipCounters> Forwarding::counters() const {
  std::vector<VipCounters> out;
  for (uint32_t i = 0; i < vips_.size(); ++i) {
    VipCounters c;
    c.service = vips_[i].first;
    c.vip = vips_[i].second.addr.str();
    c.port = vips_[i].second.port;
    c.protocol = vips_[i].second.proto == IPPROTO_UDP ? "udp" : "tcp";
    if (auto r = loader_->counters(vip_slots_[i])) c.counters = *r;
    out.push_back(std::move(c));
  }
  VipCounters g;
  g.service = "";
  g.vip = "all";
  if (auto r = loader_->counters(VANE_STATS_GLOBAL)) g.counters = *r;
  out.push_back(std::move(g));
  return out;
}

}  // namespace vane::daemon
