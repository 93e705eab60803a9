#include "health/site.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>

#include "common/sanitize.h"
#include "config/config.h"

namespace vane::health {

namespace {

constexpr std::string_view kMagic = "vane-site";
constexpr uint32_t kMaxPercent = 1000;  // an agent check may ask for up to 10x (HAProxy allows 256%)
constexpr uint32_t kMaxWeight = 1000;   // steer::kMaglevMaxWeight; health does not link steer

constexpr std::string_view kQueryMagic = "vane-site-query";
// Domain separation: a MAC made for a site reply is never valid for anything else keyed alike.
constexpr std::string_view kMacLabel{"vane-site-reply-v1\0", 19};
constexpr std::string_view kKeyIdLabel{"vane-site-key-id\0", 17};
constexpr size_t kMacBytes = 32;

// Names travel as single tokens; vaned --check holds configured names to the same rule.
bool valid_name(std::string_view s) {
  return config::valid_site_name(s);
}

template <size_t N>
bool unhex(std::string_view s, std::array<uint8_t, N>& out) {
  if (s.size() != 2 * N) return false;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // the wire form is lower case only: one spelling per value
  };
  for (size_t i = 0; i < N; ++i) {
    const int hi = digit(s[2 * i]), lo = digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = uint8_t(hi << 4 | lo);
  }
  return true;
}

std::array<uint8_t, kMacBytes> reply_mac(const SiteKey& key, const SiteNonce& nonce, std::string_view body) {
  std::string msg;
  msg.reserve(kMacLabel.size() + key.id.size() + nonce.size() + body.size());
  msg.append(kMacLabel);
  msg.append(reinterpret_cast<const char*>(key.id.data()), key.id.size());
  msg.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  msg.append(body);
  std::array<uint8_t, kMacBytes> out{};
  unsigned len = 0;
  if (!HMAC(EVP_sha256(), key.secret.data(), int(key.secret.size()), reinterpret_cast<const uint8_t*>(msg.data()),
            msg.size(), out.data(), &len) ||
      len != kMacBytes)
    out.fill(0);  // never matches a real MAC by chance; the caller's comparison then refuses
  return out;
}

std::vector<std::string_view> tokens(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size() && out.size() < 8) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t j = line.find(' ', i);
    if (j == std::string_view::npos) j = line.size();
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<uint32_t> number(std::string_view s) {
  uint32_t v = 0;
  if (s.empty() || s.size() > 9) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

uint32_t configured_weight(const config::Server& s) {
  return s.has_weight() ? s.weight() : config::kDefaultWeight;
}

uint32_t scaled(uint32_t weight, uint32_t percent) {
  percent = std::min(percent, 100u);
  if (weight == 0 || percent == 0) return 0;
  // A server asked to take a sliver keeps at least one share rather than vanishing by rounding.
  return std::clamp<uint32_t>(uint32_t(uint64_t(weight) * percent / 100), 1, kMaxWeight);
}

ServerWeight from_report(const std::string& name, uint32_t weight, const SiteReport& r, const std::string& service) {
  // The load loop's published weight stands in for the configured one (range-checked on receipt).
  if (r.load) weight = std::min(r.load->weight, kSiteMaxLoadWeight);
  ServerWeight w{name, 0, false, "down"};
  auto it = r.services.find(service);
  if (it == r.services.end()) {
    w.why = "not serving";
    return w;
  }
  switch (it->second.state) {
    case SiteService::State::Up:
      w.weight = scaled(weight, it->second.percent);
      w.healthy = w.weight > 0;
      w.why = weight == 0                 ? "up, weight 0"
              : it->second.percent == 100 ? "up"
              : it->second.percent > 100  ? "up " + std::to_string(it->second.percent) + "% (counted as 100%)"
                                          : "up " + std::to_string(it->second.percent) + "%";
      break;
    case SiteService::State::Drain:
      w.why = "drain";
      break;
    case SiteService::State::Down:
      w.why = "down";
      break;
  }
  if (r.load && w.weight > 0) w.why += ", load weight " + std::to_string(weight);
  return w;
}

}  // namespace

std::string hex(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

SiteKey make_site_key(std::string secret) {
  SiteKey k;
  std::string msg(kKeyIdLabel);
  msg += secret;
  std::array<uint8_t, SHA256_DIGEST_LENGTH> d{};
  SHA256(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), d.data());
  OPENSSL_cleanse(msg.data(), msg.size());
  std::copy_n(d.begin(), k.id.size(), k.id.begin());
  k.secret = std::move(secret);
  return k;
}

std::optional<SiteNonce> random_site_nonce() {
  SiteNonce n{};
  if (RAND_bytes(n.data(), int(n.size())) != 1) return std::nullopt;
  return n;
}

std::string format_site_request(const SiteNonce& nonce) {
  return std::string(kQueryMagic) + " 1 " + hex(nonce) + "\n";
}

std::expected<SiteNonce, std::string> parse_site_request(std::string_view line) {
  if (line.size() + 1 > kSiteMaxRequest)
    return std::unexpected("request longer than " + std::to_string(kSiteMaxRequest) + " bytes");
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto t = tokens(line);
  if (t.size() != 3 || t[0] != kQueryMagic) return std::unexpected("not a site query");
  if (t[1] != "1") return std::unexpected("unsupported query version");
  SiteNonce n{};
  if (!unhex(t[2], n)) return std::unexpected("bad nonce");
  return n;
}

std::string sign_site_reply(std::string body, const SiteKey& key, const SiteNonce& nonce) {
  const auto mac = reply_mac(key, nonce, body);
  body += "auth " + hex(key.id) + " " + hex(nonce) + " " + hex(mac) + "\n";
  return body;
}

std::string_view to_string(SiteRefusal r) {
  switch (r) {
    case SiteRefusal::Malformed:
      return "malformed";
    case SiteRefusal::TooLong:
      return "too_long";
    case SiteRefusal::MissingMac:
      return "missing_mac";
    case SiteRefusal::UnknownKey:
      return "unknown_key";
    case SiteRefusal::Replay:
      return "replay";
    case SiteRefusal::BadMac:
      return "bad_mac";
    case SiteRefusal::WrongServer:
      return "wrong_server";
    case SiteRefusal::OutOfRange:
      return "out_of_range";
  }
  return "?";
}

std::expected<SiteReport, SiteRefused> open_site_reply(std::string_view text, const SiteNonce& sent,
                                                       const std::vector<SiteKey>& keys) {
  using R = SiteRefusal;
  auto refuse = [](R r, std::string d) { return std::unexpected(SiteRefused{r, std::move(d)}); };
  if (text.size() > kSiteMaxReply + kSiteMaxAuthLine)
    return refuse(R::TooLong, "reply longer than " + std::to_string(kSiteMaxReply + kSiteMaxAuthLine) + " bytes");
  // The auth line, if any, is the last line.
  std::string_view body = text, auth;
  if (text.size() >= 2 && text.back() == '\n') {
    const size_t prev = text.find_last_of('\n', text.size() - 2);
    const size_t start = prev == std::string_view::npos ? 0 : prev + 1;
    if (text.substr(start).starts_with("auth ")) {
      body = text.substr(0, start);
      auth = text.substr(start, text.size() - start - 1);
    }
  }
  if (!keys.empty()) {
    if (auth.empty()) return refuse(R::MissingMac, "reply not authenticated (this server has a site key)");
    auto t = tokens(auth);
    std::array<uint8_t, 8> id{};
    SiteNonce nonce{};
    std::array<uint8_t, kMacBytes> mac{};
    if (t.size() != 4 || !unhex(t[1], id) || !unhex(t[2], nonce) || !unhex(t[3], mac))
      return refuse(R::BadMac, "malformed auth line");
    const SiteKey* key = nullptr;
    for (auto& k : keys)
      if (k.id == id) key = &k;
    if (!key) return refuse(R::UnknownKey, "signed with unknown key id " + hex(id));
    // The MAC is checked over the nonce the line names, and only then that nonce against ours: a
    // "replay" is always a key holder's genuine reply to another query, never an attacker's pick
    // of a reason. Both compare in constant time; the MAC covers the nonce, so together they bind
    // the reply to this query.
    const auto want = reply_mac(*key, nonce, body);
    if (CRYPTO_memcmp(want.data(), mac.data(), mac.size()) != 0)
      return refuse(R::BadMac, "MAC does not match (key id " + hex(id) + ")");
    if (CRYPTO_memcmp(nonce.data(), sent.data(), nonce.size()) != 0)
      return refuse(R::Replay, "reply made for another query (nonce " + hex(nonce) + ", sent " + hex(sent) + ")");
  }
  if (body.size() > kSiteMaxReply)
    return refuse(R::TooLong, "reply longer than " + std::to_string(kSiteMaxReply) + " bytes");
  auto r = parse_site_reply(body);
  if (!r) return refuse(R::Malformed, r.error());
  return std::move(*r);
}

std::string_view to_string(SiteService::State s) {
  switch (s) {
    case SiteService::State::Up:
      return "up";
    case SiteService::State::Drain:
      return "drain";
    case SiteService::State::Down:
      return "down";
  }
  return "?";
}

std::string format_site_reply(const SiteReport& r) {
  std::string out;
  out += kMagic;
  out += " 1 " + r.node + "\n";
  if (r.load)
    out += "load " + (r.load->utilisation ? std::to_string(*r.load->utilisation) : std::string("-")) + " " +
           std::to_string(r.load->weight) + "\n";
  for (auto& [name, s] : r.services) {
    out += "service " + name + " " + std::string(to_string(s.state));
    if (s.state == SiteService::State::Up) out += " " + std::to_string(s.percent);
    out += "\n";
  }
  out += "end\n";
  return out;
}

std::expected<SiteReport, std::string> parse_site_reply(std::string_view text) {
  if (text.size() > kSiteMaxReply)
    return std::unexpected("reply longer than " + std::to_string(kSiteMaxReply) + " bytes");
  SiteReport r;
  bool header = false, end = false;
  size_t lineno = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos)
      return std::unexpected("reply cut short (no newline after line " + std::to_string(lineno + 1) + ")");
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++lineno;
    const std::string where = "line " + std::to_string(lineno) + ": ";
    if (end) return std::unexpected(where + "data after \"end\"");
    auto t = tokens(line);
    if (!header) {
      if (t.size() != 3 || t[0] != kMagic) return std::unexpected(where + "not a vane site agent reply");
      if (t[1] != "1") return std::unexpected(where + "unsupported version " + std::string(t[1].substr(0, 16)));
      if (!valid_name(t[2])) return std::unexpected(where + "bad node name");
      r.node = std::string(t[2]);
      header = true;
      continue;
    }
    if (t.size() == 1 && t[0] == "end") {
      end = true;
      continue;
    }
    if (!t.empty() && t[0] == "load") {
      if (t.size() != 3) return std::unexpected(where + "expected \"load <utilisation|-> <weight>\"");
      if (r.load) return std::unexpected(where + "duplicate load line");
      PublishedLoad l;
      if (t[1] != "-") {
        auto u = number(t[1]);
        if (!u || *u > 1000) return std::unexpected(where + "bad utilisation (permille, 0..1000)");
        l.utilisation = *u;
      }
      auto w = number(t[2]);
      if (!w || *w > kSiteMaxLoadWeight)
        return std::unexpected(where + "bad load weight (0.." + std::to_string(kSiteMaxLoadWeight) + ")");
      l.weight = *w;
      r.load = l;
      continue;
    }
    if (t.size() < 3 || t[0] != "service") return std::unexpected(where + "expected \"service\" or \"end\"");
    if (!valid_name(t[1])) return std::unexpected(where + "bad service name");
    SiteService s;
    if (t[2] == "up" && t.size() == 4) {
      auto p = number(t[3]);
      if (!p || *p > kMaxPercent) return std::unexpected(where + "bad percentage");
      s.state = SiteService::State::Up;
      s.percent = *p;
    } else if (t[2] == "drain" && t.size() == 3) {
      s.state = SiteService::State::Drain;
    } else if (t[2] == "down" && t.size() == 3) {
      s.state = SiteService::State::Down;
    } else {
      return std::unexpected(where + "bad service state");
    }
    if (r.services.size() >= kSiteMaxServices) return std::unexpected(where + "too many services");
    if (!r.services.emplace(std::string(t[1]), s).second)
      return std::unexpected(where + "duplicate service " + std::string(t[1]));
  }
  if (!header) return std::unexpected("empty reply");
  if (!end) return std::unexpected("reply cut short (no \"end\")");
  return r;
}

SiteReport local_report(std::string node, const std::vector<LocalService>& services) {
  SiteReport r;
  r.node = std::move(node);
  for (auto& s : services) {
    SiteService x;
    if (s.drained)
      x.state = SiteService::State::Drain;
    else if (s.healthy) {
      x.state = SiteService::State::Up;
      x.percent = std::min(s.percent.value_or(100), kMaxPercent);
    }
    r.services[s.name] = x;
  }
  return r;
}

void SiteView::set_peers(const std::vector<std::string>& names, bool new_ones_joined) {
  std::map<std::string, Peer> next;
  for (auto& n : names) {
    auto it = peers_.find(n);
    if (it != peers_.end())
      next.emplace(n, std::move(it->second));
    else {
      Peer p{PeerStatus{}, CheckVerdict(rise_, fall_)};
      p.st.name = n;
      p.st.joined = new_ones_joined;
      next.emplace(n, std::move(p));
    }
  }
  peers_ = std::move(next);
}

void SiteView::set_thresholds(uint32_t rise, uint32_t fall) {
  rise_ = rise, fall_ = fall;
  for (auto& [_, p] : peers_) p.verdict.set_thresholds(rise, fall);
}

bool SiteView::record(const std::string& peer, std::expected<SiteReport, std::string> reply, TimePoint now,
                      std::optional<SiteRefusal> refusal) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return false;
  Peer& p = it->second;
  if (reply && reply->node != peer) {
    reply = std::unexpected("the server at this address calls itself " + reply->node);
    refusal = SiteRefusal::WrongServer;
  }
  if (reply && reply->load) {
    auto b = load_bounds_.find(peer);
    if (b != load_bounds_.end() && (reply->load->weight < b->second.first || reply->load->weight > b->second.second)) {
      reply = std::unexpected("published load weight " + std::to_string(reply->load->weight) + " outside " +
                              std::to_string(b->second.first) + ".." + std::to_string(b->second.second));
      refusal = SiteRefusal::OutOfRange;
    }
  }
  if (reply) refusal.reset();
  if (refusal) {
    p.st.refusal = std::string(to_string(*refusal));
    ++p.st.refused[p.st.refusal];
  }
  Result r;
  r.ok = reply.has_value();
  if (!r.ok) r.detail = reply.error();
  const bool verdict_changed = p.verdict.record(r, now);
  bool report_changed = false;
  p.st.last_checked = now;
  if (reply) {
    ++p.st.answers;
    p.st.error.clear();
    // Utilisation alone moves every period and feeds only the load loop, which reads the view when
    // it decides: it is not a change the tables need to see.
    auto weight_of = [](const SiteReport& x) { return x.load ? std::optional(x.load->weight) : std::nullopt; };
    report_changed = !p.st.last || p.st.last->services != reply->services || weight_of(*p.st.last) != weight_of(*reply);
    p.st.last = std::move(*reply);
  } else {
    ++p.st.failures;
    // Error texts quote what the peer sent: only printable ASCII reaches logs and vanectl.
    p.st.error = printable(reply.error(), 512);
  }
  p.st.reach = p.verdict.verdict();
  if (verdict_changed) p.st.last_change = now;
  // While the peer is unreachable its old report is not used, so a changed one does not matter.
  return verdict_changed || (report_changed && p.st.reach != Verdict::Down);
}

const PeerStatus* SiteView::find(const std::string& peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : &it->second.st;
}

std::vector<PeerStatus> SiteView::peers() const {
  std::vector<PeerStatus> out;
  for (auto& [_, p] : peers_) out.push_back(p.st);
  return out;
}

std::vector<ServerWeight> service_weights(const config::Config& cfg, const std::string& service, const SiteReport& self,
                                          const SiteView* view) {
  std::vector<ServerWeight> out;
  for (auto& s : cfg.site().server()) {
    const uint32_t weight = configured_weight(s);
    const bool is_self = s.name() == cfg.node().name();
    const config::Role role = is_self ? config::node_role(cfg) : config::role_of(s);
    if (role == config::FORWARDER_ONLY) {
      out.push_back({s.name(), 0, false, "forwarder only"});
      continue;
    }
    if (is_self) {
      out.push_back(from_report(s.name(), weight, self, service));
      continue;
    }
    if (!view) {
      out.push_back({s.name(), weight, false, "configured (no site health)"});
      continue;
    }
    const PeerStatus* p = view->find(s.name());
    if (!p || (p->joined && p->reach == Verdict::Unknown && !p->last)) {
      // Not in the view: a reload is adding it (the plan is computed before the agent learns of it).
      out.push_back({s.name(), 0, false, "added, not answered yet"});
    } else if (p->reach == Verdict::Unknown && !p->last) {
      out.push_back({s.name(), weight, false, "not reached yet"});
    } else if (p->reach == Verdict::Down || !p->last) {
      out.push_back({s.name(), 0, false, "unreachable"});
    } else {
      out.push_back(from_report(s.name(), weight, *p->last, service));
    }
  }
  return out;
}

uint32_t healthy_servers(const std::vector<ServerWeight>& weights) {
  return uint32_t(std::count_if(weights.begin(), weights.end(), [](auto& w) { return w.healthy; }));
}

}  // namespace vane::health
