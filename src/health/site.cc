#include "health/site.h"

#include <algorithm>
#include <charconv>

#include "config/config.h"

namespace vane::health {

namespace {

constexpr std::string_view kMagic = "vane-site";
constexpr uint32_t kMaxPercent = 1000;  // an agent check may ask for up to 10x (HAProxy allows 256%)
constexpr uint32_t kMaxWeight = 1000;   // steer::kMaglevMaxWeight; health does not link steer

// Names travel as single tokens: printable ASCII without spaces, bounded.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
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

uint32_t configured_weight(const config::Server& s) { return s.has_weight() ? s.weight() : config::kDefaultWeight; }

uint32_t scaled(uint32_t weight, uint32_t percent) {
  if (weight == 0 || percent == 0) return 0;
  // A server asked to take a sliver keeps at least one share rather than vanishing by rounding.
  return std::clamp<uint32_t>(uint32_t(uint64_t(weight) * percent / 100), 1, kMaxWeight);
}

ServerWeight from_report(const std::string& name, uint32_t weight, const SiteReport& r, const std::string& service) {
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
      w.why = weight == 0 ? "up, weight 0" : it->second.percent == 100 ? "up" : "up " + std::to_string(it->second.percent) + "%";
      break;
    case SiteService::State::Drain:
      w.why = "drain";
      break;
    case SiteService::State::Down:
      w.why = "down";
      break;
  }
  return w;
}

}  // namespace

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
  for (auto& [name, s] : r.services) {
    out += "service " + name + " " + std::string(to_string(s.state));
    if (s.state == SiteService::State::Up) out += " " + std::to_string(s.percent);
    out += "\n";
  }
  out += "end\n";
  return out;
}

std::expected<SiteReport, std::string> parse_site_reply(std::string_view text) {
  if (text.size() > kSiteMaxReply) return std::unexpected("reply longer than " + std::to_string(kSiteMaxReply) + " bytes");
  SiteReport r;
  bool header = false, end = false;
  size_t lineno = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return std::unexpected("reply cut short (no newline after line " + std::to_string(lineno + 1) + ")");
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++lineno;
    const std::string where = "line " + std::to_string(lineno) + ": ";
    if (end) return std::unexpected(where + "data after \"end\"");
    auto t = tokens(line);
    if (!header) {
      if (t.size() != 3 || t[0] != kMagic) return std::unexpected(where + "not a vane site agent reply");
      if (t[1] != "1") return std::unexpected(where + "unsupported version " + std::string(t[1]));
      if (!valid_name(t[2])) return std::unexpected(where + "bad node name");
      r.node = std::string(t[2]);
      header = true;
      continue;
    }
    if (t.size() == 1 && t[0] == "end") {
      end = true;
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
    if (!r.services.emplace(std::string(t[1]), s).second) return std::unexpected(where + "duplicate service " + std::string(t[1]));
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
    if (s.drained) x.state = SiteService::State::Drain;
    else if (s.healthy) {
      x.state = SiteService::State::Up;
      x.percent = std::min(s.percent.value_or(100), kMaxPercent);
    }
    r.services[s.name] = x;
  }
  return r;
}

void SiteView::set_peers(const std::vector<std::string>& names) {
  std::map<std::string, Peer> next;
  for (auto& n : names) {
    auto it = peers_.find(n);
    if (it != peers_.end()) next.emplace(n, std::move(it->second));
    else {
      Peer p{PeerStatus{}, CheckVerdict(rise_, fall_)};
      p.st.name = n;
      next.emplace(n, std::move(p));
    }
  }
  peers_ = std::move(next);
}

void SiteView::set_thresholds(uint32_t rise, uint32_t fall) {
  rise_ = rise, fall_ = fall;
  for (auto& [_, p] : peers_) p.verdict.set_thresholds(rise, fall);
}

bool SiteView::record(const std::string& peer, std::expected<SiteReport, std::string> reply, TimePoint now) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return false;
  Peer& p = it->second;
  if (reply && reply->node != peer) reply = std::unexpected("the server at this address calls itself " + reply->node);
  Result r;
  r.ok = reply.has_value();
  if (!r.ok) r.detail = reply.error();
  const bool verdict_changed = p.verdict.record(r, now);
  bool report_changed = false;
  p.st.last_checked = now;
  if (reply) {
    ++p.st.answers;
    p.st.error.clear();
    report_changed = !p.st.last || *p.st.last != *reply;
    p.st.last = std::move(*reply);
  } else {
    ++p.st.failures;
    p.st.error = reply.error();
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
    if (!p || (p->reach == Verdict::Unknown && !p->last)) {
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
