#include "daemon/forwarding.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>

namespace vane::daemon {

namespace {

// Each server keeps its slot while it stays in the site; a new one takes the lowest slot no server
// of the previous generation holds (its old tables may still name those until they switch).
std::expected<std::map<std::string, uint32_t>, std::string> assign_slots(
    const std::vector<steer::MaglevServer>& servers, const std::map<std::string, uint32_t>& prev) {
  std::map<std::string, uint32_t> out;
  std::set<uint32_t> used;
  for (auto& [name, slot] : prev) used.insert(slot);
  for (auto& s : servers)
    if (auto it = prev.find(s.key); it != prev.end()) out[s.key] = it->second;
  uint32_t next = 0;
  for (auto& s : servers) {
    if (out.count(s.key)) continue;
    while (used.count(next)) ++next;
    if (next >= VANE_MAX_SERVERS)
      return std::unexpected("no free server slot (" + std::to_string(VANE_MAX_SERVERS) + ")");
    out[s.key] = next;
    used.insert(next);
  }
  return out;
}

// The slots a previous vaned gave the servers, read back from its pinned server map: each
// configured server is found by its address. A server not found there gets a fresh slot.
std::map<std::string, uint32_t> recover_slots(const config::Config& cfg, const std::vector<xdp::Server>& pinned) {
  std::map<std::string, uint32_t> out;
  std::set<uint32_t> taken;
  for (auto& s : cfg.site().server()) {
    auto v4 = IpAddress::parse(s.address());
    auto v6 = s.address6().empty() ? std::nullopt : IpAddress::parse(s.address6());
    for (auto& p : pinned)
      if (!taken.count(p.index) && ((v4 && p.v4 == v4) || (v6 && p.v6 == v6))) {
        out[s.name()] = p.index;
        taken.insert(p.index);
        break;
      }
  }
  return out;
}

xdp::Table to_xdp(const steer::MaglevTable& t, const std::map<std::string, uint32_t>& slots) {
  xdp::Table tab;
  tab.reserve(t.entries().size());
  auto slot = [&](uint32_t i) { return slots.at(t.servers()[i].key); };
  for (auto& e : t.entries())
    tab.emplace_back(slot(e.first), e.second == steer::kMaglevNone
                                        ? VANE_SERVER_NONE
                                        : slot(e.second) | (e.moved ? VANE_BUCKET_F_MOVED : 0));
  return tab;
}

bool same_options(const xdp::Options& a, const xdp::Options& b, std::string* why) {
  std::vector<std::string> d;
  const auto &x = a.config, &y = b.config;
  if (x.self_index != y.self_index) d.push_back("this node's server index");
  if (x.self_v4 != y.self_v4 || x.self_v6 != y.self_v6) d.push_back("this node's addresses");
  if (x.gue_port != y.gue_port) d.push_back("forwarding.gue_port");
  if (x.hash_seed != y.hash_seed) d.push_back("forwarding.hash_seed");
  if (x.mtu != y.mtu) d.push_back("forwarding.mtu");
  if (x.nexthop_cache_ms != y.nexthop_cache_ms) d.push_back("next-hop cache");
  if (a.program != b.program) d.push_back("node role (program)");
  if (a.interface != b.interface) d.push_back("node.interface");
  if (why) {
    why->clear();
    for (auto& s : d) *why += (why->empty() ? "" : ", ") + s;
  }
  return d.empty();
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

struct Forwarding::Prepared {
  steer::SiteTables site;
  std::map<std::string, uint32_t> slots;      // by server name
  std::map<std::string, uint32_t> table_ids;  // by service name
  std::vector<xdp::Server> xservers;          // the new generation's server map
  std::vector<xdp::Server> xunion;            // old and new together, while the tables switch
  std::vector<std::pair<std::string, xdp::Vip>> vips;
  xdp::Options options;
  bool reload = false;
  ForwardingPlan plan;
};

namespace {

// Slots of servers gone from the config that a previous vaned's tables may still name: held
// under names no server can have, so that no new server takes them in the first generation.
std::string held_slot(uint32_t slot) {
  return "\x01held-" + std::to_string(slot);
}

xdp::Options options_for(const config::Config& cfg, uint32_t self_index, uint32_t table_size) {
  const auto& f = cfg.forwarding();
  xdp::Options o;
  o.config.self_index = self_index;
  o.config.self_v4 = IpAddress::parse(cfg.node().address());
  if (!cfg.node().address6().empty()) o.config.self_v6 = IpAddress::parse(cfg.node().address6());
  o.config.gue_port = uint16_t(f.has_gue_port() ? f.gue_port() : config::kDefaultGuePort);
  o.config.hash_seed = f.hash_seed();
  o.config.mtu = uint16_t(f.has_mtu() ? f.mtu() : config::kDefaultMtu);
  o.config.max_buckets = std::max<uint32_t>(VANE_DEFAULT_MAX_BUCKETS, table_size);
  o.config.table_slots = std::max<uint32_t>(VANE_DEFAULT_TABLE_SLOTS, uint32_t(cfg.service_size()));
  // A backend-only server takes traffic from the forwarders only (GUE): it needs the redirector
  // but must not steer what reaches it directly.
  o.program = config::node_role(cfg) == config::BACKEND_ONLY ? xdp::Program::redirector : xdp::Program::forwarder;
  o.interface = cfg.node().interface();
  o.generic = f.generic_xdp();
  o.pin_dir = f.pin_path().empty() ? "/sys/fs/bpf/vane/" + cfg.node().name() : f.pin_path();
  o.keep_on_exit = f.keep_on_exit();
  return o;
}

}  // namespace

std::expected<Forwarding::Prepared, std::string> Forwarding::prepare(const config::Loaded& loaded,
                                                                     const SiteWeights& weights) const {
  const auto& cfg = loaded.proto;
  Prepared p;
  // Table ids: a service keeps its id; a new one takes the lowest id no service of the previous
  // generation held (its VIPs may point there until they switch).
  {
    std::set<uint32_t> used;
    for (auto& [name, id] : table_ids_) used.insert(id);
    uint32_t next = 0;
    for (auto& svc : cfg.service()) {
      if (svc.vip().empty()) continue;
      if (auto it = table_ids_.find(svc.name()); it != table_ids_.end()) {
        p.table_ids[svc.name()] = it->second;
        continue;
      }
      while (used.count(next)) ++next;
      if (next >= VANE_MAX_TABLES) return std::unexpected("no free table id (" + std::to_string(VANE_MAX_TABLES) + ")");
      p.table_ids[svc.name()] = next;
      used.insert(next);
    }
  }
  p.site = steer::compute_tables(cfg, weights, tables_, p.table_ids);
  if (!std::ranges::any_of(p.site.servers, [&](auto& s) { return s.key == cfg.node().name(); }))
    return std::unexpected("node is not in the site's server list");
  auto slots = assign_slots(p.site.servers, slots_);
  if (!slots) return std::unexpected(slots.error());
  p.slots = std::move(*slots);
  p.options = options_for(cfg, p.slots.at(cfg.node().name()), p.site.table_size);

  if (loader_) {
    const xdp::Options& cur = loader_->options();
    if (p.options.generic != cur.generic)
      return std::unexpected(
          "forwarding.generic_xdp changed: needs a restart of vaned (XDP cannot switch between "
          "native and generic in place)");
    if (p.options.pin_dir != cur.pin_dir)
      return std::unexpected("forwarding.pin_path changed: needs a restart of vaned");
    // The bucket map was sized at start; the reloaded programs share it.
    if (p.site.table_size > cur.config.max_buckets)
      return std::unexpected("site.table_size " + std::to_string(p.site.table_size) + " exceeds the " +
                             std::to_string(cur.config.max_buckets) +
                             " buckets the maps were made for: needs a restart of vaned");
    if (p.site.services.size() > cur.config.table_slots)
      return std::unexpected(std::to_string(p.site.services.size()) + " services with VIPs exceed the " +
                             std::to_string(cur.config.table_slots) +
                             " table slots the maps were made for: needs a restart of vaned");
    p.options.config.max_buckets = cur.config.max_buckets;
    p.options.config.table_slots = cur.config.table_slots;
    p.reload = !same_options(p.options, cur, &p.plan.programs_reason);
    p.plan.programs_reload = p.reload;
    p.plan.identity_changed = p.options.config.self_index != cur.config.self_index ||
                              p.options.config.self_v4 != cur.config.self_v4 ||
                              p.options.config.self_v6 != cur.config.self_v6;
  } else {
    p.plan.programs_reload = true;
    p.plan.programs_reason = "forwarding starts";
    p.plan.identity_changed = true;
  }

  std::map<uint32_t, xdp::Server> merged;
  for (auto& s : xservers_) merged[s.index] = s;
  for (auto& m : p.site.servers) {
    auto it = std::find_if(cfg.site().server().begin(), cfg.site().server().end(),
                           [&](auto& s) { return s.name() == m.key; });
    xdp::Server s;
    s.index = p.slots.at(m.key);
    s.v4 = IpAddress::parse(it->address());
    if (!it->address6().empty()) s.v6 = IpAddress::parse(it->address6());
    s.draining = m.weight == 0;
    p.xservers.push_back(s);
    merged[s.index] = s;
  }
  for (auto& [i, s] : merged) p.xunion.push_back(s);

  for (auto& st : p.site.services) {
    const auto& svc =
        *std::find_if(cfg.service().begin(), cfg.service().end(), [&](auto& s) { return s.name() == st.service; });
    for (auto& v : svc.vip()) {
      xdp::Vip x;
      x.addr = *IpAddress::parse(v.address());
      x.port = uint16_t(v.port());
      x.proto = v.protocol() == config::UDP ? IPPROTO_UDP : IPPROTO_TCP;
      x.table_id = st.table_id;
      if (v.hash_without_ports()) x.flags |= VANE_VIP_F_HASH_NO_PORTS;
      if (v.single_hop()) x.flags |= VANE_VIP_F_SINGLE_HOP;
      if (v.not_steered()) x.flags |= VANE_VIP_F_DISABLED;
      p.vips.emplace_back(svc.name(), x);
    }
  }

  std::set<std::string> seen;
  for (auto& st : p.site.services) {
    seen.insert(st.service);
    auto prev = tables_.find(st.service);
    const steer::MaglevTable* before = prev == tables_.end() ? nullptr : &prev->second.table;
    const steer::MaglevTable* after = st.table ? &*st.table : nullptr;
    TableChange c;
    c.service = st.service;
    c.table_size = after ? after->size() : 0;
    c.buckets_moved = steer::buckets_moved(before, after);
    if (after)
      for (auto& [k, n] : steer::first_hop_counts(*after)) c.buckets_delta[k] += n;
    if (before)
      for (auto& [k, n] : steer::first_hop_counts(*before)) c.buckets_delta[k] -= n;
    std::erase_if(c.buckets_delta, [](auto& kv) { return kv.second == 0; });
    p.plan.tables.push_back(std::move(c));
  }
  for (auto& [name, t] : tables_) {
    if (seen.count(name)) continue;
    TableChange c;
    c.service = name;
    c.buckets_moved = t.table.size();
    for (auto& [k, n] : steer::first_hop_counts(t.table)) c.buckets_delta[k] = -n;
    p.plan.tables.push_back(std::move(c));
  }
  return p;
}

std::expected<ForwardingPlan, std::string> Forwarding::plan(const config::Loaded& next,
                                                            const SiteWeights& weights) const {
  auto p = prepare(next, weights);
  if (!p) return std::unexpected(p.error());
  return std::move(p->plan);
}

std::expected<ForwardingPlan, std::string> Forwarding::plan_start(const config::Loaded& next,
                                                                  const SiteWeights& weights) {
  Forwarding fw;
  auto p = fw.prepare(next, weights);
  if (!p) return std::unexpected(p.error());
  return std::move(p->plan);
}

std::expected<void, std::string> Forwarding::install(Prepared& p, std::unique_ptr<xdp::Loader> fresh) {
  // Any step that fails undoes the ones before it, newest first: the maps and the attached
  // program end as they were. Until the tables switch, no packet sees a change: the server map
  // only gains slots (no old table names them) and updates servers in place, and staged tables
  // sit in halves packets do not read.
  xdp::Loader& maps = fresh ? *fresh : *loader_;
  std::vector<std::function<std::string()>> undo;
  auto fail = [&](std::string why) -> std::expected<void, std::string> {
    std::string also;
    for (auto it = undo.rbegin(); it != undo.rend(); ++it)
      if (auto e = (*it)(); !e.empty()) also += "; " + e;
    if (!also.empty()) spdlog::error("forwarding: rolling back after \"{}\" failed too{}", why, also);
    return std::unexpected(why + (also.empty() ? "" : " (rollback" + also + ")"));
  };

  if (auto r = maps.set_servers(p.xunion); !r) {
    (void)maps.set_servers(xservers_);  // whatever part was written
    return std::unexpected("servers: " + r.error());
  }
  undo.push_back([&]() -> std::string {
    auto r = maps.set_servers(xservers_);
    return r ? "" : "servers: " + r.error();
  });

  // The control words of the tables this changes, as they are: putting them back undoes both the
  // staging (which describes the inactive half) and the switch.
  std::vector<uint32_t> flip, remove;
  std::vector<std::pair<uint32_t, vane_table_ctl>> ctl_before;
  for (auto& st : p.site.services) {
    if (!st.rebuilt) continue;
    auto ctl = maps.table_ctl(st.table_id);
    if (!ctl) return fail("table: " + ctl.error());
    ctl_before.emplace_back(st.table_id, *ctl);
  }
  // A service gone from the config: its table goes with the switch (its VIPs a moment later).
  for (auto& [name, id] : table_ids_) {
    if (p.table_ids.count(name)) continue;
    auto ctl = maps.table_ctl(id);
    if (!ctl) return fail("table: " + ctl.error());
    ctl_before.emplace_back(id, *ctl);
    remove.push_back(id);
  }
  undo.push_back([&]() -> std::string {
    std::string e;
    for (auto& [id, ctl] : ctl_before)
      if (auto r = maps.restore_table_ctl(id, ctl); !r) e += (e.empty() ? "tables: " : ", ") + r.error();
    return e;
  });
  for (auto& st : p.site.services) {
    if (!st.rebuilt) continue;
    if (!st.table) {
      spdlog::warn("forwarding: service {}: no table ({}); its VIPs are passed to the local stack", st.service,
                   steer::to_string(*st.error));
      remove.push_back(st.table_id);
      continue;
    }
    if (auto r = maps.stage_table(st.table_id, to_xdp(*st.table, p.slots)); !r) return fail("table: " + r.error());
    flip.push_back(st.table_id);
  }

  if (fresh && loader_->attached()) {
    if (auto r = fresh->attach_replacing(*loader_); !r) return fail("programs: " + r.error());
    undo.push_back([&]() -> std::string {
      auto r = loader_->attach_replacing(*fresh);
      return r ? "" : "programs: " + r.error();
    });
  }

  // Packets switch to the new tables here (each table in one step); the control words above bring
  // the old ones back if a later step fails.
  if (auto commit = maps.commit_tables(flip, remove); !commit) return fail("tables: " + commit.error());

  // Servers gone from the site leave the map (and the addresses the redirector trusts) only now
  // that no table names them.
  if (auto r = maps.set_servers(p.xservers); !r) return fail("servers: " + r.error());

  std::vector<xdp::Vip> vips;
  for (auto& [name, v] : p.vips) vips.push_back(v);
  auto vslots = maps.set_vips(vips);
  if (!vslots) {
    std::vector<xdp::Vip> old;
    for (auto& [name, v] : vips_) old.push_back(v);
    undo.push_back([&maps, old]() -> std::string {
      auto r = maps.set_vips(old);
      return r ? "" : "vips: " + r.error();
    });
    return fail("vips: " + vslots.error());
  }

  // Committed.
  bool changed = !flip.empty() || !remove.empty() || fresh != nullptr;
  changed = changed || vips_.size() != p.vips.size() ||
            !std::equal(vips_.begin(), vips_.end(), p.vips.begin(), [](auto& a, auto& b) {
              return a.first == b.first && a.second.addr == b.second.addr && a.second.port == b.second.port &&
                     a.second.proto == b.second.proto && a.second.table_id == b.second.table_id &&
                     a.second.flags == b.second.flags;
            });
  if (fresh) {
    loader_->disown();
    loader_ = std::move(fresh);
  }
  loader_->set_keep_on_exit(p.options.keep_on_exit);
  servers_ = p.site.servers;
  table_size_ = p.site.table_size;
  slots_ = p.slots;
  table_ids_ = p.table_ids;
  xservers_ = p.xservers;
  std::map<std::string, steer::InstalledTable> tables;
  for (auto& st : p.site.services)
    if (st.table) tables[st.service] = {std::move(*st.table), std::move(st.inputs), p.site.table_size, st.table_id};
  tables_ = std::move(tables);
  vips_ = std::move(p.vips);
  vip_slots_ = std::move(*vslots);
  if (changed || generation_ == 0) ++generation_;
  return {};
}

std::expected<std::unique_ptr<Forwarding>, std::string> Forwarding::start(const config::Loaded& loaded,
                                                                          const SiteWeights& weights) {
  const auto& cfg = loaded.proto;
  auto fw = std::unique_ptr<Forwarding>(new Forwarding());
  // A previous vaned's server slots (its tables name them): kept for the servers still here.
  const std::string pin_dir = options_for(cfg, 0, 0).pin_dir;
  if (auto pinned = xdp::Loader::read_pinned_servers(pin_dir); pinned && !pinned->empty()) {
    fw->slots_ = recover_slots(cfg, *pinned);
    std::set<uint32_t> named;
    for (auto& [k, v] : fw->slots_) named.insert(v);
    for (auto& s : *pinned)
      if (!named.count(s.index)) fw->slots_[held_slot(s.index)] = s.index;
    fw->xservers_ = *pinned;
  }
  auto p = fw->prepare(loaded, weights);
  if (!p) return std::unexpected(p.error());
  const xdp::Options& o = p->options;
  auto l = xdp::Loader::open(o);
  if (!l) return std::unexpected("load: " + l.error());
  fw->loader_ = std::move(*l);
  for (auto& m : fw->loader_->replaced_pinned_maps())
    spdlog::warn("forwarding: pinned map {} in {} had another version's layout: replaced, its counters start from zero",
                 m, o.pin_dir);
  if (fw->loader_->reused_pinned_maps()) {
    spdlog::info("forwarding: took over the pinned maps in {}", o.pin_dir);
    // Each service's table id is the one its VIPs point at in the map.
    if (auto vips = fw->loader_->installed_vips()) {
      std::set<uint32_t> taken;
      for (auto& svc : cfg.service())
        for (auto& v : svc.vip()) {
          auto a = IpAddress::parse(v.address());
          const uint8_t proto = v.protocol() == config::UDP ? IPPROTO_UDP : IPPROTO_TCP;
          auto it = std::find_if(vips->begin(), vips->end(), [&](const xdp::Vip& x) {
            return a && x.addr == *a && x.port == uint16_t(v.port()) && x.proto == proto;
          });
          if (it == vips->end() || fw->table_ids_.count(svc.name()) || taken.count(it->table_id)) continue;
          fw->table_ids_[svc.name()] = it->table_id;
          taken.insert(it->table_id);
        }
    }
    fw->adopt_installed_tables(cfg);
    // The adopted tables are the previous generation the first build starts from.
    auto again = fw->prepare(loaded, weights);
    if (!again) return std::unexpected(again.error());
    p = std::move(again);
  } else {
    fw->xservers_.clear();
  }
  if (auto r = fw->install(*p, nullptr); !r) return std::unexpected(r.error());
  fw->keep_on_exit_ = o.keep_on_exit;
  fw->sysctls_ = std::make_unique<Sysctls>("/proc/sys", sysctl_state_path(cfg));
  if (auto r = fw->sysctls_->load(); !r) return std::unexpected("sysctl record: " + r.error());
  if (!fw->sysctls_->originals().empty())
    spdlog::info("forwarding: {} sysctl(s) changed by an earlier vaned keep their recorded originals",
                 fw->sysctls_->originals().size());
  for (auto& e : enable_forwarding_sysctls(*fw->sysctls_, o.interface)) spdlog::warn("forwarding: {}", e);
  if (auto r = fw->loader_->attach(); !r) return std::unexpected("attach to " + o.interface + ": " + r.error());
  spdlog::info("forwarding: XDP {} {} on {}: {} server(s), {} VIP(s), M={}, this node's slot {}",
               o.program == xdp::Program::redirector ? "redirector" : "forwarder", o.generic ? "generic" : "native",
               o.interface, fw->servers_.size(), fw->vips_.size(), fw->table_size_, o.config.self_index);
  return fw;
}

void Forwarding::adopt_installed_tables(const config::Config& cfg) {
  // The tables the previous vaned installed become the previous generation, so the first build's
  // second hops are the hops established connections were using, not ones computed afresh. Their
  // entries are slots, read back to servers through the slots recovered from the pinned server
  // map; a table naming a slot no configured server holds is not adopted.
  auto servers = steer::site_servers(cfg);
  std::map<uint32_t, uint32_t> index_of_slot;
  for (uint32_t i = 0; i < servers.size(); ++i)
    if (auto it = slots_.find(servers[i].key); it != slots_.end()) index_of_slot[it->second] = i;
  auto to_index = [&](uint32_t slot) -> std::optional<uint32_t> {
    auto it = index_of_slot.find(slot);
    return it == index_of_slot.end() ? std::nullopt : std::optional(it->second);
  };
  const uint32_t size = steer::table_size_for(servers.size(), cfg.site().table_size());
  for (int i = 0; i < cfg.service_size(); ++i) {
    const auto& svc = cfg.service(i);
    if (svc.vip().empty()) continue;
    auto id = table_ids_.find(svc.name());
    if (id == table_ids_.end()) continue;
    auto t = loader_->read_table(id->second);
    if (!t || t->size() != size) continue;
    std::vector<steer::MaglevEntry> entries;
    entries.reserve(t->size());
    bool ok = true;
    for (auto& [a, b] : *t) {
      auto first = to_index(a);
      if (!first) {
        ok = false;
        break;
      }
      if (b == VANE_SERVER_NONE) {
        entries.push_back({*first, steer::kMaglevNone, false});
        continue;
      }
      auto second = to_index(b & VANE_BUCKET_HOP_MASK);
      entries.push_back({*first, second ? *second : steer::kMaglevNone, second && (b & VANE_BUCKET_F_MOVED) != 0});
    }
    if (!ok) continue;
    if (auto m = steer::MaglevTable::from_entries(servers, std::move(entries))) {
      tables_[svc.name()] = {std::move(*m), {}, size, id->second};
      spdlog::info("forwarding: service {}: the installed table seeds the second hops", svc.name());
    }
  }
}

std::expected<void, std::string> Forwarding::apply(const config::Loaded& loaded, const SiteWeights& weights) {
  auto p = prepare(loaded, weights);
  if (!p) return std::unexpected(p.error());
  std::unique_ptr<xdp::Loader> fresh;
  if (p->reload) {
    spdlog::info("forwarding: loading new programs ({})", p->plan.programs_reason);
    auto l = xdp::Loader::open(p->options, loader_.get());
    if (!l) return std::unexpected("programs: " + l.error());
    fresh = std::move(*l);
  }
  return install(*p, std::move(fresh));
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
