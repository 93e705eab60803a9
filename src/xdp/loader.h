#pragma once
// The XDP data plane from user space: loads the forwarder (or the standalone redirector) from the
// embedded skeleton with its config set before load, fills the maps (VIPs, servers, forwarding
// tables with a double-buffer switch), attaches it, pins its maps so a restarted daemon takes
// them over, and reads the per-CPU counters. Plain structs in, std::expected<_, std::string> out;
// nothing here knows the daemon.
#include <array>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "common/ip.h"
#include "vane_abi.h"

namespace vane::xdp {

template <class T>
using Result = std::expected<T, std::string>;

// The tunables the programs see as a const volatile global (fixed for the program's life).
struct Config {
  uint32_t self_index = 0;           // this server's index in the server list
  std::optional<IpAddress> self_v4;  // GUE source/destination on an IPv4 fabric
  std::optional<IpAddress> self_v6;  // ... on an IPv6 fabric
  uint16_t gue_port = 6080;          // host order
  uint32_t hash_seed = 0;            // the same on every server of the site
  uint16_t mtu = 1500;               // fabric MTU, >= VANE_MIN_MTU
  // How long each CPU reuses what bpf_fib_lookup said about a server's next hop (MACs, egress
  // interface, route MTU) before asking again; failures are never reused. 0 = ask per packet.
  uint32_t nexthop_cache_ms = 1000;
  uint32_t table_slots = VANE_DEFAULT_TABLE_SLOTS;  // tables that can exist at once
  uint32_t max_buckets = VANE_DEFAULT_MAX_BUCKETS;  // largest table size M
};

enum class Program { forwarder, redirector };

struct Options {
  Config config;
  Program program = Program::forwarder;
  std::string interface;      // attach() target; may stay empty for load-only use (tests, bench)
  bool generic = false;       // generic (skb) XDP instead of native
  std::string pin_dir;        // bpffs folder for this instance's maps; empty = no pinning
  bool keep_on_exit = false;  // destructor leaves the program attached and the maps pinned
};

struct Vip {
  IpAddress addr;
  uint16_t port = 0;  // host order; 0 = every port
  uint8_t proto = 6;  // IPPROTO_TCP / IPPROTO_UDP
  uint32_t table_id = 0;
  uint32_t flags = 0;  // VANE_VIP_F_*
};

struct Server {
  uint32_t index = 0;
  std::optional<IpAddress> v4;
  std::optional<IpAddress> v6;
  bool draining = false;  // packets to it carry forward_syn
};

// Buckets: (first hop, second hop) server indexes; VANE_SERVER_NONE for none. The second hop may
// carry VANE_BUCKET_F_MOVED (it was the bucket's previous first hop).
using Table = std::vector<std::pair<uint32_t, uint32_t>>;

struct Counters {
  std::array<uint64_t, VANE_R_COUNT> packets{};
  std::array<uint64_t, VANE_R_COUNT> bytes{};
};

std::string_view reason_name(unsigned reason);

class Loader {
 public:
  // Opens the skeleton, sets the config, reuses maps pinned under pin_dir (or pins new ones),
  // loads. Does not attach. With `share`, the new programs use share's maps (a reload: the new
  // programs are loaded and verified while share's still run); its pin_dir must be share's.
  // pin_dir must be on a mounted bpffs: vaned does not mount one itself.
  static Result<std::unique_ptr<Loader>> open(const Options& options, const Loader* share = nullptr);
  // The server map pinned under pin_dir (a previous vaned's), its filled slots only; empty if none.
  static Result<std::vector<Server>> read_pinned_servers(const std::string& pin_dir);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Replaces the whole server list (slots not named are cleared), and with it the site's
  // address set the redirector trusts (vane_site_addrs: GUE only from these, hops only to them).
  Result<void> set_servers(std::span<const Server> servers);
  // Replaces the whole VIP set; returns each VIP's counter slot. A VIP keeps its slot (and its
  // counters) for as long as it stays in the set, whatever its position, also across a restart
  // that takes over pinned maps; a new VIP gets the lowest free slot, cleared. Adds port-0
  // "fragment only" entries so fragments (which carry no ports) of a port-specific VIP find its
  // table.
  Result<std::vector<uint32_t>> set_vips(std::span<const Vip> vips);
  // Writes the table into the inactive half, then flips the control word: packets see the old
  // table or the new one, never a mix.
  Result<void> set_table(uint32_t table_id, const Table& table);
  Result<void> remove_table(uint32_t table_id);
  // A table switch in two steps, so that several tables switch together or not at all:
  // stage_table writes the inactive half and describes it (packets still see the active one);
  // commit_tables flips the staged tables and clears the removed ones; revert_tables undoes a
  // commit (the old halves were not written, so each table is exactly what it was).
  Result<void> stage_table(uint32_t table_id, const Table& table);
  struct Commit {
    // Tables switched or cleared, with their control words before.
    std::vector<std::pair<uint32_t, vane_table_ctl>> changed;
  };
  Result<Commit> commit_tables(std::span<const uint32_t> flip, std::span<const uint32_t> remove);
  Result<void> revert_tables(const Commit& commit);
  // A table's control word as it is, and put back (a rollback of staged or committed tables).
  Result<vane_table_ctl> table_ctl(uint32_t table_id) const;
  Result<void> restore_table_ctl(uint32_t table_id, const vane_table_ctl& ctl);
  // The VIPs in the map (a previous vaned's, after a takeover), fragment-only entries left out.
  Result<std::vector<Vip>> installed_vips() const;
  // Active half of a table as the data plane sees it.
  Result<Table> read_table(uint32_t table_id) const;

  // Native XDP (generic if Options::generic); atomically replaces a program already there
  // (a previous instance that kept it on exit).
  Result<void> attach();
  // Takes over from `old`'s attached program: on the same interface and mode, one atomic
  // replace that fails if old's program is no longer the one attached (never detach, then
  // attach); on another interface, attach here first, then detach old's.
  Result<void> attach_replacing(Loader& old);
  // Detaches our program (only if it is still the one attached).
  Result<void> detach();
  // Another Loader took over the program's place and the maps: this one's destructor leaves both.
  void disown();
  void set_keep_on_exit(bool keep) { options_.keep_on_exit = keep; }
  bool attached() const { return attached_; }
  // Detach and unpin, regardless of keep_on_exit (the destructor calls it unless keep_on_exit).
  void shutdown();

  Result<Counters> counters(uint32_t slot) const;  // summed over CPUs; VANE_STATS_GLOBAL too
  Result<void> clear_counters();

  int prog_fd() const;
  int map_fd(std::string_view name) const;  // "vane_vips", "vane_servers", ...; -1 if unknown
  bool reused_pinned_maps() const { return reused_; }
  // Pinned maps of an incompatible layout (a previous version's) that open() replaced by new,
  // empty ones: only counters ever are (their counts are lost); see kReplaceableMaps.
  const std::vector<std::string>& replaced_pinned_maps() const { return replaced_; }
  const Options& options() const { return options_; }

  // Test hook (unit and bpf tests): the call of `step` after `after` successful ones fails, once.
  // Steps: "load", "set_servers", "stage_table", "commit_tables", "set_vips", "attach".
  static void inject_fault(std::string step, unsigned after = 0);
  static void clear_faults();

 private:
  Loader() = default;
  struct Skel;
  std::unique_ptr<Skel> skel_;
  Options options_;
  int ifindex_ = 0;
  bool attached_ = false;
  bool reused_ = false;
  std::vector<std::string> replaced_;
  // Counter slot of each VIP in the map: (address, port in network order, protocol, family).
  using VipIdent = std::tuple<std::array<uint8_t, 16>, uint16_t, uint8_t, uint8_t>;
  std::map<VipIdent, uint32_t> vip_slots_;
  void adopt_vip_slots();
};

}  // namespace vane::xdp
