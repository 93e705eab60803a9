#pragma once
// Site health, the pure half: what one vaned tells the others about its services (the site agent's
// reply), and how the answers of every server turn into the weights of each service's forwarding
// table. No sockets, no timers; time is an argument (src/health/site_agent.h does the I/O).
//
// The reply is text, one record per line, and must end with "end" so that a reply cut short by a
// dying peer is never taken for a complete one:
//
//   vane-site 1 <node name>
//   load <utilisation permille|-> <published weight>       (only with site.load on; at most once)
//   service <name> up <percent>
//   service <name> drain
//   service <name> down
//   end
//
// The querier opens with one request line carrying a fresh random nonce, and with a site key
// (site.key_file) the reply ends with one more line that authenticates it for that nonce:
//
//   vane-site-query 1 <nonce: 32 hex digits>\n                       (querier -> agent)
//   auth <key id: 16 hex> <nonce: 32 hex> <HMAC-SHA-256: 64 hex>\n    (after "end", agent -> querier)
//
// MAC = HMAC-SHA-256(key, "vane-site-reply-v1" 0x00 || key id (8 bytes) || nonce (16 bytes) ||
// every reply byte before the auth line). key id = the first 8 bytes of
// SHA-256("vane-site-key-id" 0x00 || key): it names the key without revealing it.
#include <array>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "health/types.h"
#include "health/verdict.h"
#include "vane/config.pb.h"

namespace vane::health {

inline constexpr size_t kSiteMaxReply = 64 * 1024;
inline constexpr size_t kSiteMaxServices = 1024;

// The request line, newline included, is at most this long; the auth line adds at most this much
// to a reply.
inline constexpr size_t kSiteMaxRequest = 128;
inline constexpr size_t kSiteMaxAuthLine = 160;
inline constexpr size_t kSiteNonceBytes = 16;
using SiteNonce = std::array<uint8_t, kSiteNonceBytes>;

// A site key and the id that names it on the wire.
struct SiteKey {
  std::string secret;
  std::array<uint8_t, 8> id{};
};
SiteKey make_site_key(std::string secret);
std::string hex(const uint8_t* p, size_t n);
template <size_t N>
std::string hex(const std::array<uint8_t, N>& a) {
  return hex(a.data(), N);
}

// A fresh nonce from OpenSSL's CSPRNG; nullopt if it has none to give (then no query goes out).
std::optional<SiteNonce> random_site_nonce();
std::string format_site_request(const SiteNonce& nonce);
// `line` without its newline.
std::expected<SiteNonce, std::string> parse_site_request(std::string_view line);
// The authenticated reply: `body` (format_site_reply's text) and its auth line.
std::string sign_site_reply(std::string body, const SiteKey& key, const SiteNonce& nonce);

// Why a reply was refused. to_string gives the name used in metrics and vanectl.
enum class SiteRefusal : uint8_t {
  Malformed,
  TooLong,
  MissingMac,
  UnknownKey,
  Replay,
  BadMac,
  WrongServer,
  OutOfRange
};
std::string_view to_string(SiteRefusal r);
struct SiteRefused {
  SiteRefusal reason;
  std::string detail;
};

// What a server says about one of its services.
struct SiteService {
  enum class State : uint8_t { Up, Drain, Down };
  State state = State::Down;
  uint32_t percent = 100;  // Up only: share of the configured weight, 0..100
  bool operator==(const SiteService&) const = default;
};
std::string_view to_string(SiteService::State s);

// What a server running the load loop publishes (docs/load.md): its utilisation and the weight
// every server's tables use for it in place of its configured weight (times an agent's percent).
inline constexpr uint32_t kSiteMaxLoadWeight = 1000;
struct PublishedLoad {
  std::optional<uint32_t> utilisation;  // permille, 0..1000; nullopt: no signal ("-")
  uint32_t weight = 0;                  // 0..kSiteMaxLoadWeight
  bool operator==(const PublishedLoad&) const = default;
};

struct SiteReport {
  std::string node;
  std::map<std::string, SiteService> services;
  std::optional<PublishedLoad> load;  // last: aggregate initialisers of {node, services} stay valid
  bool operator==(const SiteReport&) const = default;
};

std::string format_site_reply(const SiteReport& r);
// Strict: any malformed line, a missing "end", a duplicate service or anything past the limits
// makes the whole reply invalid.
std::expected<SiteReport, std::string> parse_site_reply(std::string_view text);

// The querier's side: authenticates the reply to the nonce it sent, then parses it. With no keys
// (unauthenticated) an auth line is ignored and the rest is parsed as before. Authentication comes
// first, so no byte of an unauthenticated reply reaches the parser when keys are configured.
std::expected<SiteReport, SiteRefused> open_site_reply(std::string_view text, const SiteNonce& sent,
                                                       const std::vector<SiteKey>& keys);

// This server's own report, from the health engine's view of its services: a service is up when
// its checks say healthy and no drain applies (an agent check's percentage carries over), drain
// when drained, down otherwise (undecided included).
struct LocalService {
  std::string name;
  bool healthy = false;
  bool drained = false;
  std::optional<uint32_t> percent;
};
SiteReport local_report(std::string node, const std::vector<LocalService>& services);

// What this server knows of one other server.
struct PeerStatus {
  std::string name;
  Verdict reach = Verdict::Unknown;  // rise/fall over queries: answered with a valid reply or not
  std::optional<SiteReport> last;    // the last valid reply
  std::string error;                 // why the last query failed; empty after a valid one
  std::optional<TimePoint> last_checked, last_change;
  uint32_t answers = 0, failures = 0;  // totals
  // Replies refused (failed authentication, malformed, another server's name): the reason of the
  // last one (kept after later valid replies, so an attack shows after it stopped) and counts by
  // reason (to_string(SiteRefusal)).
  std::string refusal;
  std::map<std::string, uint64_t> refused;
  // Added after the first peer list (a reload added the server, or moved it to a new address): it
  // may not exist yet, so no table counts it before its first valid reply.
  bool joined = false;
};

// Every other server's status, fed one query result at a time.
class SiteView {
 public:
  SiteView(uint32_t rise, uint32_t fall) : rise_(rise), fall_(fall) {}

  // The peers to follow (by name; this node and forwarder-only servers are left out by the
  // caller). Peers not listed are forgotten; new ones start Unknown (`joined` when so marked);
  // kept ones keep their state.
  void set_peers(const std::vector<std::string>& names, bool new_ones_joined = false);
  void set_thresholds(uint32_t rise, uint32_t fall);

  // One query's outcome. A reply from a server that names itself differently counts as a failure
  // (a wrong address in some config). Returns true when what the tables or the counts see changed:
  // the reachability verdict or the reported services.
  // `refusal` says that a failure is a refused reply (counted by reason) rather than no reply.
  bool record(const std::string& peer, std::expected<SiteReport, std::string> reply, TimePoint now,
              std::optional<SiteRefusal> refusal = std::nullopt);

  const PeerStatus* find(const std::string& peer) const;
  std::vector<PeerStatus> peers() const;  // by name

  // The published weights each peer may announce (by name, inclusive; from this server's config:
  // the peer's configured weight times site.load's min and max). A reply whose "load" weight is
  // outside is refused as out_of_range; peers without bounds are not checked.
  void set_load_bounds(std::map<std::string, std::pair<uint32_t, uint32_t>> bounds) {
    load_bounds_ = std::move(bounds);
  }

 private:
  struct Peer {
    PeerStatus st;
    CheckVerdict verdict;
  };
  uint32_t rise_, fall_;
  std::map<std::string, Peer> peers_;
  std::map<std::string, std::pair<uint32_t, uint32_t>> load_bounds_;
};

// How a server stands for one service, as the table builder sees it.
struct ServerWeight {
  std::string name;
  uint32_t weight = 0;   // effective: 0 means no new connections
  bool healthy = false;  // known up with weight > 0: counts towards min_healthy_servers
  std::string why;       // for vanectl: "up", "down", "drain", "unreachable", "unknown", "weight 0", ...
  bool operator==(const ServerWeight&) const = default;
};

// The effective weight of every site server for `service`, in site config order:
//   - forwarder-only servers: 0;
//   - this node: configured weight x percent when its service is up, else 0;
//   (with a "load" line in a report, its published weight replaces the configured weight)
//   - another server: until its first valid reply (vaned just started), its configured weight, so
//     that a restarting vaned builds the same table as the running ones, unless a reload added it
//     (joined, or not in the view yet): then 0 until it answers; from then on what its last
//     reply says (a service it does not list is down), even before `rise` replies make it
//     reachable: a reply is first-hand; when unreachable (`fall` failed queries), 0.
// A percentage above 100 counts as 100, this node's included: no server takes more than its
// configured weight, whatever it (or whoever answers in its name) says.
// Without site health (view == nullptr) every other server stands at its configured weight.
std::vector<ServerWeight> service_weights(const config::Config& cfg, const std::string& service, const SiteReport& self,
                                          const SiteView* view);

// How many servers are healthy for the service (min_healthy_servers): those known to be up for it
// with an effective weight above 0. Draining, down, unreachable and not-yet-reached servers do not
// count.
uint32_t healthy_servers(const std::vector<ServerWeight>& weights);

}  // namespace vane::health
