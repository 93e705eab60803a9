#include "xdp/loader.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "common/caps.h"
#include "vane_abi.h"

#include "forwarder.skel.h"
#include "redirector.skel.h"

namespace vane::xdp {
namespace {

std::string errtext(const std::string& what, int err) {
  if (err < 0) err = -err;
  return what + ": " + std::strerror(err);
}

constexpr const char* kMapNames[] = {"vane_vips",       "vane_servers",    "vane_table_ctl",     "vane_buckets",
                                     "vane_stats",      "vane_vip_filter", "vane_vip_index",     "vane_vip_index_ctl",
                                     "vane_site_addrs", "vane_site_index", "vane_site_index_ctl"};

// Pinned maps whose contents a restart may lose when their layout changed between versions:
// only counters. Any other mismatch still fails the load (its state is the data path itself).
constexpr const char* kReplaceableMaps[] = {"vane_stats"};

// Would bpf_object__load reuse the map pinned at fd for m? The same test libbpf makes.
bool pin_compatible(int fd, const bpf_map* m) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return false;
  return info.type == bpf_map__type(m) && info.key_size == bpf_map__key_size(m) &&
         info.value_size == bpf_map__value_size(m) && info.max_entries == bpf_map__max_entries(m) &&
         info.map_flags == bpf_map__map_flags(m);
}

// The filter bit of a VIP key's address (see vane_abi.h).
uint32_t filter_bit(const vane_vip_key& k) {
  __u32 w[4];
  std::memcpy(w, k.addr, 16);
  return k.family == VANE_AF_INET ? vane_vip_filter_bit4(w[0]) : vane_vip_filter_bit6(w);
}

void filter_set(vane_vip_filter& f, uint32_t bit) {
  f.bits[bit / 64] |= uint64_t(1) << (bit % 64);
}

uint32_t slot_of(const vane_vip_key& k) {
  __u32 w[5];
  static_assert(sizeof(w) == sizeof(k));
  std::memcpy(w, &k, sizeof(w));
  return vane_vip_slot_of(w);
}

// Writes n values at consecutive keys from `first`: one batch call, else one call per entry.
template <class V>
int write_array(int fd, uint32_t first, const V* vals, uint32_t n) {
  std::vector<__u32> keys(n);
  for (uint32_t i = 0; i < n; ++i) keys[i] = first + i;
  __u32 count = n;
  if (bpf_map_update_batch(fd, keys.data(), vals, &count, nullptr) == 0) return 0;
  for (uint32_t i = 0; i < n; ++i)
    if (int err = bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY)) return err;
  return 0;
}

// ms -> jiffies, rounded up: the coarse clocks tick once a jiffy, so their resolution is the
// kernel's tick length (1 s / CONFIG_HZ). 0 stays 0 (no cache).
uint32_t ttl_jiffies(uint32_t ms) {
  if (ms == 0) return 0;
  timespec res{};
  uint64_t tick_ns = 4'000'000;  // HZ=250 if the clock will not say
  if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0)
    tick_ns = uint64_t(res.tv_nsec);
  uint64_t j = (uint64_t(ms) * 1'000'000 + tick_ns - 1) / tick_ns;
  return uint32_t(std::min<uint64_t>(j, UINT32_MAX));
}

// The test hook's armed fault: the step, and how many of its calls still succeed first.
struct Fault {
  std::string step;
  unsigned after = 0;
};
std::optional<Fault>& armed_fault() {
  static std::optional<Fault> f;
  return f;
}

bool fault_at(std::string_view step) {
  auto& f = armed_fault();
  if (!f || f->step != step) return false;
  if (f->after > 0) {
    --f->after;
    return false;
  }
  f.reset();
  return true;
}

std::string injected(std::string_view step) {
  return "injected fault at " + std::string(step);
}

// Pins on anything but a bpffs fail with a bare ENOENT or EPERM deep in libbpf; say what is missing.
Result<void> check_bpffs(const std::string& pin_dir) {
  std::filesystem::path p(pin_dir);
  std::error_code ec;
  while (!p.empty() && !std::filesystem::exists(p, ec) && p != p.root_path()) p = p.parent_path();
  struct statfs st {};
  if (p.empty() || ::statfs(p.c_str(), &st) != 0)
    return std::unexpected(errtext("pin dir " + pin_dir + ": statfs " + p.string(), errno));
  if (st.f_type == BPF_FS_MAGIC) return {};
  return std::unexpected("pin dir " + pin_dir + ": " + p.string() +
                         " is not on a bpffs (nothing mounted one on /sys/fs/bpf, as in a fresh container or under "
                         "`ip netns exec`); mount one first: mount -t bpf bpf /sys/fs/bpf");
}

}  // namespace

void Loader::inject_fault(std::string step, unsigned after) {
  armed_fault() = Fault{std::move(step), after};
}
void Loader::clear_faults() {
  armed_fault().reset();
}

std::string_view reason_name(unsigned reason) {
  static constexpr const char* names[VANE_R_COUNT] = {
      "passed",        "local",     "forwarded",      "too_big",        "no_table",    "malformed",
      "errors",        "decap_syn", "decap_local",    "decap_last_hop", "decap_other", "redirected",
      "gue_malformed", "fib_pass",  "gue_bad_source", "gue_bad_inner",  "gue_bad_hop"};
  return reason < VANE_R_COUNT ? names[reason] : "unknown";
}

// Either skeleton, seen through the generic libbpf object.
struct Loader::Skel {
  forwarder* fwd = nullptr;
  redirector* rdr = nullptr;
  bpf_object* obj = nullptr;
  bpf_program* prog = nullptr;
  vane_config* cfg = nullptr;
  ~Skel() {
    if (fwd) forwarder__destroy(fwd);
    if (rdr) redirector__destroy(rdr);
  }
  bpf_map* map(std::string_view name) const { return bpf_object__find_map_by_name(obj, std::string(name).c_str()); }
};

Result<std::unique_ptr<Loader>> Loader::open(const Options& options, const Loader* share) {
  const Config& c = options.config;
  if (!c.self_v4 && !c.self_v6) return std::unexpected("config: no address of this server (v4 or v6)");
  if (c.self_v4 && !c.self_v4->is_v4()) return std::unexpected("config: self_v4 is not an IPv4 address");
  if (c.self_v6 && !c.self_v6->is_v6()) return std::unexpected("config: self_v6 is not an IPv6 address");
  if (c.self_index >= VANE_MAX_SERVERS) return std::unexpected("config: self_index out of range");
  if (c.gue_port == 0) return std::unexpected("config: gue_port must not be 0");
  if (c.mtu < VANE_MIN_MTU)
    return std::unexpected("config: mtu " + std::to_string(c.mtu) + " below " + std::to_string(VANE_MIN_MTU));
  if (c.table_slots == 0 || c.table_slots > VANE_MAX_TABLES || c.max_buckets == 0 ||
      uint64_t(c.table_slots) * 2 * c.max_buckets > (1u << 27))
    return std::unexpected("config: table_slots x 2 x max_buckets out of range");

  std::unique_ptr<Loader> self(new Loader());
  self->options_ = options;
  self->skel_ = std::make_unique<Skel>();
  Skel& s = *self->skel_;
  if (options.program == Program::forwarder) {
    s.fwd = forwarder__open();
    if (!s.fwd) return std::unexpected(errtext("open forwarder skeleton", errno));
    s.obj = s.fwd->obj;
    s.prog = s.fwd->progs.vane_xdp;
    s.cfg = &s.fwd->rodata->vane_cfg;
  } else {
    s.rdr = redirector__open();
    if (!s.rdr) return std::unexpected(errtext("open redirector skeleton", errno));
    s.obj = s.rdr->obj;
    s.prog = s.rdr->progs.vane_redirect;
    s.cfg = &s.rdr->rodata->vane_cfg;
  }

  vane_config cfg{};
  cfg.self_index = c.self_index;
  if (c.self_v4) {
    cfg.flags |= VANE_CFG_F_V4;
    std::memcpy(&cfg.self_addr4, c.self_v4->bytes.data(), 4);
  }
  if (c.self_v6) {
    cfg.flags |= VANE_CFG_F_V6;
    std::memcpy(cfg.self_addr6, c.self_v6->bytes.data(), 16);
  }
  cfg.hash_seed = c.hash_seed;
  cfg.gue_port = htons(c.gue_port);
  cfg.mtu = c.mtu;
  cfg.nexthop_ttl = ttl_jiffies(c.nexthop_cache_ms);
  *s.cfg = cfg;

  if (int err = bpf_map__set_max_entries(s.map("vane_buckets"), c.table_slots * 2 * c.max_buckets))
    return std::unexpected(errtext("size bucket map", err));

  if (share) {
    if (share->options_.pin_dir != options.pin_dir) return std::unexpected("a reload cannot move the pinned maps");
    // The new programs are built around the running ones' maps: the bucket map keeps its size.
    for (const char* name : kMapNames)
      if (int err = bpf_map__reuse_fd(s.map(name), share->map_fd(name)))
        return std::unexpected(errtext(std::string("reuse map ") + name, err));
    self->options_.config.table_slots = share->options_.config.table_slots;
    self->options_.config.max_buckets = share->options_.config.max_buckets;
    self->reused_ = true;
    self->vip_slots_ = share->vip_slots_;
    if (fault_at("load")) return std::unexpected(injected("load"));
    if (int err = bpf_object__load(s.obj))
      return std::unexpected(errtext("load BPF programs", err) +
                             missing_capability_hint(err, {CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON}));
    // The pins stay the running maps'; unpinning at shutdown goes by path.
    for (const char* name : kMapNames)
      if (!options.pin_dir.empty()) (void)bpf_map__set_pin_path(s.map(name), (options.pin_dir + "/" + name).c_str());
    return self;
  }
  if (!options.pin_dir.empty()) {
    if (auto r = check_bpffs(options.pin_dir); !r) return std::unexpected(r.error());
    std::error_code ec;
    std::filesystem::create_directories(options.pin_dir, ec);
    if (ec)
      return std::unexpected(
          "pin dir " + options.pin_dir + ": " + ec.message() +
          (ec == std::errc::permission_denied ? " (the folder must be writable by vaned's user)" : ""));
    bool any = false;
    for (const char* name : kReplaceableMaps) {
      // A previous version's counters (another number of reasons, so another value size) would
      // make the whole load fail: that map is replaced, its counts lost. The old program keeps
      // counting into the old map until attach() replaces it.
      std::string path = options.pin_dir + "/" + name;
      int fd = bpf_obj_get(path.c_str());
      if (fd < 0) continue;
      const bool ok = pin_compatible(fd, s.map(name));
      ::close(fd);
      if (!ok) self->replaced_.emplace_back(name);
    }
    for (const char* name : kMapNames) {
      std::string path = options.pin_dir + "/" + name;
      struct stat st;
      if (::stat(path.c_str(), &st) == 0) any = true;
      if (int err = bpf_map__set_pin_path(s.map(name), path.c_str()))
        return std::unexpected(errtext("pin path " + path, err));
    }
    self->reused_ = any;
  }
  // The maps being replaced are only set aside (held by an fd, unpinned) until the load succeeds:
  // a start that fails pins them back, so the folder is as it was and the data path that keeps
  // running keeps its counters readable. (bpffs has no rename.)
  std::vector<std::pair<std::string, int>> aside;
  auto put_back = [&] {
    for (auto& [path, fd] : aside) {
      (void)::unlink(path.c_str());  // what a failed load may have left
      (void)bpf_obj_pin(fd, path.c_str());
      ::close(fd);
    }
  };
  for (const std::string& name : self->replaced_) {
    std::string path = options.pin_dir + "/" + name;
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0 || ::unlink(path.c_str()) != 0) {
      const int err = errno;
      if (fd >= 0) ::close(fd);
      put_back();
      return std::unexpected(errtext("replace incompatible pinned map " + path, err));
    }
    aside.emplace_back(path, fd);
  }
  int load_err = fault_at("load") ? -EINVAL : bpf_object__load(s.obj);
  if (int err = load_err) {
    put_back();
    // Map and program creation need CAP_BPF, an XDP program CAP_NET_ADMIN as well (EPERM); the
    // verifier refuses the forwarder's packet-pointer arithmetic without CAP_PERFMON (EACCES).
    std::string why =
        errtext("load BPF programs", err) + missing_capability_hint(err, {CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON});
    if (self->reused_) why += " (maps pinned under " + options.pin_dir + " may be from an incompatible version)";
    return std::unexpected(why);
  }
  for (auto& [path, fd] : aside) ::close(fd);
  if (self->reused_) self->adopt_vip_slots();
  return self;
}

Result<std::vector<Vip>> Loader::installed_vips() const {
  std::vector<Vip> out;
  int fd = map_fd("vane_vips");
  vane_vip_key key{}, next{};
  vane_vip_value val{};
  const void* prev = nullptr;
  for (uint32_t n = 0; n < 2 * VANE_MAX_VIPS && bpf_map_get_next_key(fd, prev, &next) == 0; ++n) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, &val) != 0) return std::unexpected(errtext("read VIP map", errno));
    if (val.flags & VANE_VIP_F_FRAG_ONLY) continue;
    Vip v;
    v.addr.family = key.family == VANE_AF_INET ? IpAddress::Family::v4 : IpAddress::Family::v6;
    std::memcpy(v.addr.bytes.data(), key.addr, v.addr.is_v4() ? 4 : 16);
    v.port = ntohs(key.port);
    v.proto = key.proto;
    v.table_id = val.table_id;
    v.flags = val.flags;
    out.push_back(v);
  }
  return out;
}

void Loader::adopt_vip_slots() {
  // The running data path's VIPs keep counting where they counted: their slots come from the map.
  int fd = map_fd("vane_vips");
  vane_vip_key key{}, next{};
  vane_vip_value val{};
  const void* prev = nullptr;
  for (uint32_t n = 0; n < 2 * VANE_MAX_VIPS && bpf_map_get_next_key(fd, prev, &next) == 0; ++n) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, &val) != 0 || (val.flags & VANE_VIP_F_FRAG_ONLY) ||
        val.stats_index >= VANE_MAX_VIPS)
      continue;
    std::array<uint8_t, 16> addr{};
    std::memcpy(addr.data(), key.addr, 16);
    vip_slots_[std::make_tuple(addr, key.port, key.proto, key.family)] = val.stats_index;
  }
}

Loader::~Loader() {
  if (!options_.keep_on_exit) shutdown();
}

void Loader::shutdown() {
  if (attached_) (void)detach();
  if (skel_ && !options_.pin_dir.empty()) {
    for (const char* name : kMapNames) (void)bpf_map__unpin(skel_->map(name), nullptr);
    ::rmdir(options_.pin_dir.c_str());
  }
}

int Loader::prog_fd() const {
  return bpf_program__fd(skel_->prog);
}

int Loader::map_fd(std::string_view name) const {
  bpf_map* m = skel_->map(name);
  return m ? bpf_map__fd(m) : -1;
}

namespace {

vane_site_key site_key(const IpAddress& a) {
  vane_site_key k{};
  if (a.is_v4()) {
    std::memcpy(k.addr, a.bytes.data(), 4);
    k.family = VANE_AF_INET;
  } else {
    std::memcpy(k.addr, a.bytes.data(), 16);
    k.family = VANE_AF_INET6;
  }
  return k;
}

struct SiteKeyLess {
  bool operator()(const vane_site_key& a, const vane_site_key& b) const { return std::memcmp(&a, &b, sizeof a) < 0; }
};

}  // namespace

Result<void> Loader::set_servers(std::span<const Server> servers) {
  if (fault_at("set_servers")) return std::unexpected(injected("set_servers"));
  int fd = map_fd("vane_servers");
  std::vector<vane_server> all(VANE_MAX_SERVERS);
  std::map<vane_site_key, __u32, SiteKeyLess> site;
  for (const Server& sv : servers) {
    if (sv.index >= VANE_MAX_SERVERS)
      return std::unexpected("server index " + std::to_string(sv.index) + " out of range");
    vane_server& e = all[sv.index];
    e = {};
    if (sv.v4) {
      if (!sv.v4->is_v4()) return std::unexpected("server " + std::to_string(sv.index) + ": v4 address is IPv6");
      std::memcpy(&e.addr4, sv.v4->bytes.data(), 4);
      e.flags |= VANE_SERVER_F_V4;
      site[site_key(*sv.v4)] = sv.index;
    }
    if (sv.v6) {
      if (!sv.v6->is_v6()) return std::unexpected("server " + std::to_string(sv.index) + ": v6 address is IPv4");
      std::memcpy(e.addr6, sv.v6->bytes.data(), 16);
      e.flags |= VANE_SERVER_F_V6;
      site[site_key(*sv.v6)] = sv.index;
    }
    if (!sv.v4 && !sv.v6) return std::unexpected("server " + std::to_string(sv.index) + " has no address");
    if (sv.draining) e.flags |= VANE_SERVER_F_DRAINING;
  }
  // The site's addresses (the redirector accepts GUE from them and sends it on only to them)
  // gain the new servers before the server array names them, and lose stale ones after it no
  // longer does: every address the forwarder encapsulates to is one the redirector trusts.
  int sfd = map_fd("vane_site_addrs");
  for (const auto& [k, idx] : site)
    if (int err = bpf_map_update_elem(sfd, &k, &idx, BPF_ANY))
      return std::unexpected(errtext("update site address map", err));
  // The index's inactive half gets the new set (the hash map has all of it now), then packets
  // switch to it.
  {
    std::vector<vane_site_slot> slots(VANE_SITE_INDEX_SLOTS);
    for (auto& sl : slots) sl.state = VANE_VIP_SLOT_EMPTY;
    for (const auto& [k, idx] : site) {
      __u32 w[5];
      static_assert(sizeof(w) == sizeof(k));
      std::memcpy(w, &k, sizeof(w));
      vane_site_slot& sl = slots[vane_site_slot_of(w)];
      if (sl.state == VANE_VIP_SLOT_EMPTY) {
        sl.key = k;
        sl.state = VANE_VIP_SLOT_ONE;
      } else {
        sl.state = VANE_VIP_SLOT_SHARED;
      }
    }
    const __u32 zero = 0;
    int cfd = map_fd("vane_site_index_ctl");
    vane_vip_index_ctl ctl{};
    if (int err = bpf_map_lookup_elem(cfd, &zero, &ctl))
      return std::unexpected(errtext("read site index control", err));
    const uint32_t inactive = (ctl.active & 1) ^ 1;
    if (int err = write_array(map_fd("vane_site_index"), inactive * VANE_SITE_INDEX_SLOTS, slots.data(),
                              VANE_SITE_INDEX_SLOTS))
      return std::unexpected(errtext("write site index", err));
    ctl.active = inactive;
    ctl.generation += 1;
    if (int err = bpf_map_update_elem(cfd, &zero, &ctl, BPF_ANY))
      return std::unexpected(errtext("switch site index", err));
  }
  std::vector<__u32> keys(VANE_MAX_SERVERS);
  for (__u32 i = 0; i < VANE_MAX_SERVERS; ++i) keys[i] = i;
  __u32 count = VANE_MAX_SERVERS;
  if (bpf_map_update_batch(fd, keys.data(), all.data(), &count, nullptr) != 0)
    for (__u32 i = 0; i < VANE_MAX_SERVERS; ++i)
      if (int err = bpf_map_update_elem(fd, &i, &all[i], BPF_ANY))
        return std::unexpected(errtext("update server map", err));
  std::vector<vane_site_key> stale;
  vane_site_key cur{}, next{};
  const void* prev = nullptr;
  for (uint32_t n = 0; n < 4 * VANE_SITE_ADDRS && bpf_map_get_next_key(sfd, prev, &next) == 0; ++n) {
    if (!site.count(next)) stale.push_back(next);
    cur = next;
    prev = &cur;
  }
  for (const auto& k : stale)
    if (int err = bpf_map_delete_elem(sfd, &k); err && err != -ENOENT)
      return std::unexpected(errtext("remove stale site address", err));
  return {};
}

Result<std::vector<uint32_t>> Loader::set_vips(std::span<const Vip> vips) {
  if (fault_at("set_vips")) return std::unexpected(injected("set_vips"));
  if (vips.size() > VANE_MAX_VIPS / 2) return std::unexpected("too many VIPs");
  std::map<VipIdent, vane_vip_value> want;
  auto key_of = [](const Vip& v) {
    return VipIdent(v.addr.bytes, uint16_t(htons(v.port)), v.proto,
                    uint8_t(v.addr.is_v4() ? VANE_AF_INET : VANE_AF_INET6));
  };
  // Counter slots: kept VIPs keep theirs; new ones take the lowest free ones.
  std::map<VipIdent, uint32_t> slots;
  std::vector<bool> used(VANE_MAX_VIPS);
  for (const Vip& v : vips)
    if (auto it = vip_slots_.find(key_of(v)); it != vip_slots_.end() && !used[it->second]) {
      slots.emplace(it->first, it->second);
      used[it->second] = true;
    }
  std::vector<uint32_t> fresh;
  uint32_t next_free = 0;
  for (const Vip& v : vips) {
    if (slots.count(key_of(v))) continue;
    while (next_free < VANE_MAX_VIPS && used[next_free]) ++next_free;
    if (next_free == VANE_MAX_VIPS) return std::unexpected("no free counter slot");
    used[next_free] = true;
    slots.emplace(key_of(v), next_free);
    fresh.push_back(next_free);
  }
  std::vector<uint32_t> out;
  for (size_t i = 0; i < vips.size(); ++i) {
    const Vip& v = vips[i];
    if (v.table_id >= VANE_MAX_TABLES) return std::unexpected("VIP " + v.addr.str() + ": table id out of range");
    if (v.proto != 6 && v.proto != 17) return std::unexpected("VIP " + v.addr.str() + ": protocol must be TCP or UDP");
    vane_vip_value val{};
    val.table_id = v.table_id;
    val.flags = v.flags & ~VANE_VIP_F_FRAG_ONLY;
    val.stats_index = slots.at(key_of(v));
    if (!want.emplace(key_of(v), val).second)
      return std::unexpected("duplicate VIP " + v.addr.str() + " port " + std::to_string(v.port));
    out.push_back(val.stats_index);
  }
  // A slot given to a new VIP starts from zero, not from a removed VIP's counts.
  {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return std::unexpected(errtext("count CPUs", ncpu));
    std::vector<vane_counters> zero(static_cast<size_t>(ncpu));
    for (uint32_t slot : fresh)
      if (int err = bpf_map_update_elem(map_fd("vane_stats"), &slot, zero.data(), BPF_ANY))
        return std::unexpected(errtext("clear counters", err));
  }
  // Fragments carry no ports: give each (address, protocol) a port-0 entry if it has none.
  for (size_t i = 0; i < vips.size(); ++i) {
    auto k = key_of(vips[i]);
    std::get<1>(k) = 0;
    if (want.count(k)) continue;
    vane_vip_value val = want.at(key_of(vips[i]));
    val.flags |= VANE_VIP_F_FRAG_ONLY;
    want.emplace(k, val);
  }
  int fd = map_fd("vane_vips");
  auto to_key = [](const auto& k) {
    vane_vip_key key{};
    std::memcpy(key.addr, std::get<0>(k).data(), 16);
    key.port = std::get<1>(k);
    key.proto = std::get<2>(k);
    key.family = std::get<3>(k);
    return key;
  };
  // The address filter first gains the bits of every wanted address (a bit of a live VIP is
  // never clear, however the packets interleave with these updates) ...
  int ffd = map_fd("vane_vip_filter");
  const __u32 zero = 0;
  auto filter = std::make_unique<vane_vip_filter>();
  if (int err = bpf_map_lookup_elem(ffd, &zero, filter.get())) return std::unexpected(errtext("read VIP filter", err));
  auto final_filter = std::make_unique<vane_vip_filter>();
  for (const auto& entry : want) {
    uint32_t bit = filter_bit(to_key(entry.first));
    filter_set(*filter, bit);
    filter_set(*final_filter, bit);
  }
  if (int err = bpf_map_update_elem(ffd, &zero, filter.get(), BPF_ANY))
    return std::unexpected(errtext("update VIP filter", err));
  for (const auto& [k, val] : want) {
    vane_vip_key key = to_key(k);
    if (int err = bpf_map_update_elem(fd, &key, &val, BPF_ANY)) return std::unexpected(errtext("update VIP map", err));
  }
  // The VIP index: the inactive half gets the wanted set (the VIP map has all of it now), then
  // packets switch to it; entries the old half still names go from the VIP map only after that.
  {
    std::vector<vane_vip_slot> slots(VANE_VIP_INDEX_SLOTS);
    for (auto& sl : slots) sl.state = VANE_VIP_SLOT_EMPTY;
    for (const auto& [k, val] : want) {
      vane_vip_key key = to_key(k);
      vane_vip_slot& sl = slots[slot_of(key)];
      if (sl.state == VANE_VIP_SLOT_EMPTY) {
        sl.key = key;
        sl.value = val;
        sl.state = VANE_VIP_SLOT_ONE;
      } else {
        sl.state = VANE_VIP_SLOT_SHARED;
      }
    }
    int cfd = map_fd("vane_vip_index_ctl");
    vane_vip_index_ctl ctl{};
    if (int err = bpf_map_lookup_elem(cfd, &zero, &ctl)) return std::unexpected(errtext("read VIP index control", err));
    const uint32_t inactive = (ctl.active & 1) ^ 1;
    if (int err =
            write_array(map_fd("vane_vip_index"), inactive * VANE_VIP_INDEX_SLOTS, slots.data(), VANE_VIP_INDEX_SLOTS))
      return std::unexpected(errtext("write VIP index", err));
    ctl.active = inactive;
    ctl.generation += 1;
    if (int err = bpf_map_update_elem(cfd, &zero, &ctl, BPF_ANY))
      return std::unexpected(errtext("switch VIP index", err));
  }
  // Remove what is no longer wanted.
  std::vector<vane_vip_key> stale;
  vane_vip_key cur{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    auto k = std::make_tuple(std::array<uint8_t, 16>{}, next.port, next.proto, next.family);
    std::memcpy(std::get<0>(k).data(), next.addr, 16);
    if (!want.count(k)) stale.push_back(next);
    cur = next;
    prev = &cur;
  }
  bool all_gone = true;
  for (const auto& key : stale)
    if (bpf_map_delete_elem(fd, &key) != 0) all_gone = false;
  vip_slots_ = std::move(slots);
  // ... and loses the bits of addresses gone from the VIP map only after their entries are.
  if (!all_gone) return out;
  if (int err = bpf_map_update_elem(ffd, &zero, final_filter.get(), BPF_ANY))
    return std::unexpected(errtext("update VIP filter", err));
  return out;
}

static_assert(VANE_MAX_SERVERS - 1 <= VANE_BUCKET_HOP_MASK, "server indexes must fit the bucket's hop bits");
static_assert((VANE_BUCKET_F_MOVED & VANE_BUCKET_HOP_MASK) == 0);

Result<void> Loader::set_table(uint32_t table_id, const Table& table) {
  if (auto r = stage_table(table_id, table); !r) return r;
  const uint32_t id[] = {table_id};
  if (auto r = commit_tables(id, {}); !r) return std::unexpected(r.error());
  return {};
}

Result<void> Loader::stage_table(uint32_t table_id, const Table& table) {
  if (fault_at("stage_table")) return std::unexpected(injected("stage_table"));
  const Config& c = options_.config;
  if (table_id >= VANE_MAX_TABLES) return std::unexpected("table id " + std::to_string(table_id) + " out of range");
  if (table.empty() || table.size() > c.max_buckets)
    return std::unexpected("table " + std::to_string(table_id) + ": size " + std::to_string(table.size()) +
                           " not in [1, " + std::to_string(c.max_buckets) + "]");
  for (const auto& [a, b] : table) {
    const uint32_t hop = b == VANE_SERVER_NONE ? b : b & ~VANE_BUCKET_F_MOVED;
    if ((a >= VANE_MAX_SERVERS && a != VANE_SERVER_NONE) || (hop >= VANE_MAX_SERVERS && hop != VANE_SERVER_NONE))
      return std::unexpected("table " + std::to_string(table_id) + ": server index out of range");
  }

  int ctl_fd = map_fd("vane_table_ctl");
  const uint32_t region = 2 * c.max_buckets;
  vane_table_ctl ctl{};
  if (int err = bpf_map_lookup_elem(ctl_fd, &table_id, &ctl))
    return std::unexpected(errtext("read table control", err));
  // The table's slot: where its halves already are, else one no other table uses.
  uint32_t slot = UINT32_MAX;
  for (const auto& h : ctl.half)
    if (h.buckets) slot = h.offset / region;
  if (slot == UINT32_MAX) {
    std::set<uint32_t> used;
    for (uint32_t t = 0; t < VANE_MAX_TABLES; ++t) {
      vane_table_ctl o{};
      if (t == table_id || bpf_map_lookup_elem(ctl_fd, &t, &o)) continue;
      for (const auto& h : o.half)
        if (h.buckets) used.insert(h.offset / region);
    }
    for (uint32_t s = 0; s < c.table_slots; ++s)
      if (!used.count(s)) {
        slot = s;
        break;
      }
    if (slot == UINT32_MAX)
      return std::unexpected("no free table slot (table_slots=" + std::to_string(c.table_slots) + ")");
  }
  const uint32_t inactive = (ctl.active & 1) ^ 1;
  const uint32_t offset = slot * region + inactive * c.max_buckets;

  std::vector<__u32> keys(table.size());
  std::vector<vane_bucket> vals(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    keys[i] = offset + uint32_t(i);
    vals[i] = {table[i].first, table[i].second};
  }
  int bfd = map_fd("vane_buckets");
  __u32 count = uint32_t(table.size());
  if (bpf_map_update_batch(bfd, keys.data(), vals.data(), &count, nullptr) != 0) {
    for (size_t i = 0; i < table.size(); ++i)
      if (int err = bpf_map_update_elem(bfd, &keys[i], &vals[i], BPF_ANY))
        return std::unexpected(errtext("write buckets", err));
  }
  // Describe the filled half; packets read only the active one, whose bytes are unchanged.
  ctl.half[inactive] = {offset, uint32_t(table.size())};
  if (int err = bpf_map_update_elem(ctl_fd, &table_id, &ctl, BPF_ANY))
    return std::unexpected(errtext("write table control", err));
  return {};
}

Result<Loader::Commit> Loader::commit_tables(std::span<const uint32_t> flip, std::span<const uint32_t> remove) {
  const int ctl_fd = map_fd("vane_table_ctl");
  Commit done;
  auto fail = [&](std::string why) -> Result<Commit> {
    (void)revert_tables(done);
    return std::unexpected(std::move(why));
  };
  auto change = [&](uint32_t id, bool clear) -> Result<void> {
    if (id >= VANE_MAX_TABLES) return std::unexpected("table id out of range");
    vane_table_ctl before{};
    if (int err = bpf_map_lookup_elem(ctl_fd, &id, &before)) return std::unexpected(errtext("read table control", err));
    if (fault_at("commit_tables")) return std::unexpected(injected("commit_tables"));
    // A flip changes only which half is active (the staged one is described already).
    vane_table_ctl after{};
    if (!clear) {
      after = before;
      after.active = (before.active & 1) ^ 1;
      after.generation += 1;
    }
    if (int err = bpf_map_update_elem(ctl_fd, &id, &after, BPF_ANY))
      return std::unexpected(errtext(clear ? "clear table control" : "switch table", err));
    done.changed.emplace_back(id, before);
    return {};
  };
  for (uint32_t id : remove)
    if (auto r = change(id, true); !r) return fail(r.error());
  for (uint32_t id : flip)
    if (auto r = change(id, false); !r) return fail(r.error());
  return done;
}

Result<vane_table_ctl> Loader::table_ctl(uint32_t table_id) const {
  vane_table_ctl ctl{};
  if (table_id >= VANE_MAX_TABLES) return std::unexpected("table id out of range");
  if (int err = bpf_map_lookup_elem(map_fd("vane_table_ctl"), &table_id, &ctl))
    return std::unexpected(errtext("read table control", err));
  return ctl;
}

Result<void> Loader::restore_table_ctl(uint32_t table_id, const vane_table_ctl& ctl) {
  if (table_id >= VANE_MAX_TABLES) return std::unexpected("table id out of range");
  if (int err = bpf_map_update_elem(map_fd("vane_table_ctl"), &table_id, &ctl, BPF_ANY))
    return std::unexpected(errtext("restore table control", err));
  return {};
}

Result<void> Loader::revert_tables(const Commit& commit) {
  // The old halves were not written: their control words as they were bring each table back.
  const int ctl_fd = map_fd("vane_table_ctl");
  std::string errors;
  for (auto it = commit.changed.rbegin(); it != commit.changed.rend(); ++it)
    if (int err = bpf_map_update_elem(ctl_fd, &it->first, &it->second, BPF_ANY))
      errors += errtext(" restore table " + std::to_string(it->first), err);
  if (!errors.empty()) return std::unexpected("revert:" + errors);
  return {};
}

Result<void> Loader::remove_table(uint32_t table_id) {
  if (table_id >= VANE_MAX_TABLES) return std::unexpected("table id out of range");
  vane_table_ctl ctl{};
  if (int err = bpf_map_update_elem(map_fd("vane_table_ctl"), &table_id, &ctl, BPF_ANY))
    return std::unexpected(errtext("clear table control", err));
  return {};
}

Result<Table> Loader::read_table(uint32_t table_id) const {
  vane_table_ctl ctl{};
  if (int err = bpf_map_lookup_elem(map_fd("vane_table_ctl"), &table_id, &ctl))
    return std::unexpected(errtext("read table control", err));
  const auto& h = ctl.half[ctl.active & 1];
  Table t;
  t.reserve(h.buckets);
  int bfd = map_fd("vane_buckets");
  for (uint32_t i = 0; i < h.buckets; ++i) {
    uint32_t k = h.offset + i;
    vane_bucket b{};
    if (int err = bpf_map_lookup_elem(bfd, &k, &b)) return std::unexpected(errtext("read bucket", err));
    t.emplace_back(b.first, b.second);
  }
  return t;
}

Result<void> Loader::attach() {
  if (options_.interface.empty()) return std::unexpected("no interface to attach to");
  ifindex_ = int(if_nametoindex(options_.interface.c_str()));
  if (ifindex_ == 0) return std::unexpected(errtext("interface " + options_.interface, errno));
  __u32 flags = options_.generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
  if (int err = bpf_xdp_attach(ifindex_, prog_fd(), flags, nullptr))
    return std::unexpected(
        errtext(std::string("attach XDP (") + (options_.generic ? "generic" : "native") + ") to " + options_.interface,
                err) +
        missing_capability_hint(err, {CAP_NET_ADMIN}));
  attached_ = true;
  return {};
}

Result<void> Loader::attach_replacing(Loader& old) {
  if (fault_at("attach")) return std::unexpected(injected("attach"));
  if (options_.interface.empty()) return std::unexpected("no interface to attach to");
  if (!old.attached_ || old.options_.interface != options_.interface) {
    if (auto r = attach(); !r) return r;
    if (old.attached_) (void)old.detach();
    return {};
  }
  if (old.options_.generic != options_.generic)
    return std::unexpected("cannot switch between native and generic XDP in place");
  ifindex_ = old.ifindex_;
  __u32 flags = (options_.generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE) | XDP_FLAGS_REPLACE;
  bpf_xdp_attach_opts opts{};
  opts.sz = sizeof(opts);
  opts.old_prog_fd = old.prog_fd();
  if (int err = bpf_xdp_attach(ifindex_, prog_fd(), flags, &opts))
    return std::unexpected(errtext("replace the XDP program on " + options_.interface, err) +
                           (err == -EEXIST ? " (another program than vane's is attached there)" : ""));
  attached_ = true;
  old.attached_ = false;
  return {};
}

void Loader::disown() {
  attached_ = false;
  options_.keep_on_exit = true;
}

Result<std::vector<Server>> Loader::read_pinned_servers(const std::string& pin_dir) {
  std::vector<Server> out;
  if (pin_dir.empty()) return out;
  const std::string path = pin_dir + "/vane_servers";
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    if (errno == ENOENT) return out;
    return std::unexpected(errtext("open pinned " + path, errno));
  }
  for (__u32 i = 0; i < VANE_MAX_SERVERS; ++i) {
    vane_server e{};
    if (bpf_map_lookup_elem(fd, &i, &e) != 0) break;
    if (!(e.flags & (VANE_SERVER_F_V4 | VANE_SERVER_F_V6))) continue;
    Server sv;
    sv.index = i;
    if (e.flags & VANE_SERVER_F_V4) {
      IpAddress a;
      a.family = IpAddress::Family::v4;
      std::memcpy(a.bytes.data(), &e.addr4, 4);
      sv.v4 = a;
    }
    if (e.flags & VANE_SERVER_F_V6) {
      IpAddress a;
      a.family = IpAddress::Family::v6;
      std::memcpy(a.bytes.data(), e.addr6, 16);
      sv.v6 = a;
    }
    sv.draining = (e.flags & VANE_SERVER_F_DRAINING) != 0;
    out.push_back(sv);
  }
  ::close(fd);
  return out;
}

Result<void> Loader::detach() {
  if (!attached_) return {};
  attached_ = false;
  __u32 flags = (options_.generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE) | XDP_FLAGS_REPLACE;
  bpf_xdp_attach_opts opts{};
  opts.sz = sizeof(opts);
  opts.old_prog_fd = prog_fd();
  if (int err = bpf_xdp_detach(ifindex_, flags, &opts))
    return std::unexpected(errtext("detach XDP from " + options_.interface, err));
  return {};
}

Result<Counters> Loader::counters(uint32_t slot) const {
  if (slot >= VANE_STATS_SLOTS) return std::unexpected("counter slot out of range");
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return std::unexpected(errtext("count CPUs", ncpu));
  std::vector<vane_counters> per(static_cast<size_t>(ncpu));
  if (int err = bpf_map_lookup_elem(map_fd("vane_stats"), &slot, per.data()))
    return std::unexpected(errtext("read counters", err));
  Counters out;
  for (const auto& v : per)
    for (unsigned r = 0; r < VANE_R_COUNT; ++r) {
      out.packets[r] += v.packets[r];
      out.bytes[r] += v.bytes[r];
    }
  return out;
}

Result<void> Loader::clear_counters() {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return std::unexpected(errtext("count CPUs", ncpu));
  std::vector<vane_counters> zero(static_cast<size_t>(ncpu));
  int fd = map_fd("vane_stats");
  for (uint32_t slot = 0; slot < VANE_STATS_SLOTS; ++slot)
    if (int err = bpf_map_update_elem(fd, &slot, zero.data(), BPF_ANY))
      return std::unexpected(errtext("clear counters", err));
  return {};
}

}  // namespace vane::xdp
