#include "daemon/bfd_link.h"

#include "daemon/neighbor_config.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace vane::daemon {

namespace {

double ms(bfd::Micros us) {
  return double(us.count()) / 1000.0;
}

const char* auth_name(const std::optional<bfd::AuthKey>& k) {
  if (!k) return "none";
  return k->type == bfd::AuthType::MeticulousKeyedSha1 ? "meticulous-keyed-sha1" : "keyed-sha1";
}

}  // namespace

std::optional<bfd::PeerConfig> bfd_peer_config(const config::Loaded& cfg, const config::Neighbor& n) {
  if (!n.has_bfd()) return std::nullopt;
  const auto& b = n.bfd();
  auto nc = neighbor_config(cfg, n);
  bfd::PeerConfig p;
  p.name = n.name();
  p.peer = nc.address;
  p.local = nc.local_address;
  p.hops = n.multihop_ttl() > 1 ? int(n.multihop_ttl()) : 1;
  p.session.desired_min_tx = std::chrono::milliseconds(b.has_min_tx_ms() ? b.min_tx_ms() : 300);
  p.session.required_min_rx = std::chrono::milliseconds(b.has_min_rx_ms() ? b.min_rx_ms() : 300);
  p.session.detect_mult = uint8_t(b.has_multiplier() ? b.multiplier() : 3);
  if (auto it = cfg.bfd_keys.find(n.name()); it != cfg.bfd_keys.end()) {
    bfd::AuthKey k;
    k.type = b.meticulous() ? bfd::AuthType::MeticulousKeyedSha1 : bfd::AuthType::KeyedSha1;
    k.key_id = uint8_t(b.has_key_id() ? b.key_id() : 1);
    k.secret.assign(it->second.begin(), it->second.end());
    p.session.key = std::move(k);
  }
  return p;
}

BfdLink::BfdLink(boost::asio::io_context& io, bgp::Speaker& speaker) : speaker_(speaker), service_(io) {
  service_.on_state_change([this](const std::string& name, bfd::State from, bfd::State to, bfd::Diag) {
    auto it = hold_.find(name);
    const bool hold = it != hold_.end() && it->second;
    if (to == bfd::State::Up) {
      speaker_.set_bfd_state(name, true, hold);
    } else if (from == bfd::State::Up && to == bfd::State::Down) {
      // RFC 5882 §3.2: a peer's AdminDown says BFD is being turned off there, not that the path
      // failed; the BGP session stays (only a held one waits).
      const bool peer_admin_down = std::ranges::any_of(service_.status(), [&](const auto& s) {
        return s.config.name == name && s.remote_state == bfd::State::AdminDown;
      });
      speaker_.set_bfd_state(name, false, hold, /*close=*/!peer_admin_down);
    }
  });
}

void BfdLink::apply(const config::Loaded& cfg) {
  std::set<std::string> keep;
  for (auto& n : cfg.proto.neighbor()) {
    auto p = bfd_peer_config(cfg, n);
    if (!p) continue;
    keep.insert(n.name());
    const bool hold = !n.bfd().has_hold_bgp_until_up() || n.bfd().hold_bgp_until_up();
    const bool is_new = !service_.has_peer(n.name());
    hold_[n.name()] = hold;
    for (auto& e : service_.set_peer(*p)) spdlog::error("{}", e);
    auto st = service_.state(n.name());
    const bool up = st && *st == bfd::State::Up;
    // A new session starts Down: a held BGP session waits for it; one not held goes on.
    if (is_new || !up) speaker_.set_bfd_state(n.name(), up || !hold, hold, /*close=*/!is_new);
  }
  for (auto it = hold_.begin(); it != hold_.end();) {
    if (keep.count(it->first)) {
      ++it;
      continue;
    }
    service_.remove_peer(it->first);
    // BFD removed: nothing holds the BGP session any more.
    speaker_.set_bfd_state(it->first, true, false);
    it = hold_.erase(it);
  }
}

void BfdLink::fill(const std::string& name, control::BfdSession* x) const {
  for (auto& s : service_.status()) {
    if (s.config.name != name) continue;
    x->set_name(s.config.name);
    x->set_peer(s.config.peer.str());
    if (s.config.local) x->set_local(s.config.local->str());
    x->set_multihop(s.config.multihop());
    x->set_state(bfd::state_name(s.state));
    x->set_remote_state(bfd::state_name(s.remote_state));
    x->set_local_diag(bfd::diag_name(s.local_diag));
    x->set_remote_diag(bfd::diag_name(s.remote_diag));
    x->set_local_discriminator(s.local_discr);
    x->set_remote_discriminator(s.remote_discr);
    x->set_min_tx_ms(uint32_t(s.config.session.desired_min_tx.count() / 1000));
    x->set_min_rx_ms(uint32_t(s.config.session.required_min_rx.count() / 1000));
    x->set_multiplier(s.config.session.detect_mult);
    x->set_tx_interval_ms(ms(s.tx_interval));
    x->set_detection_time_ms(ms(s.detection_time));
    x->set_remote_min_rx_ms(ms(s.remote_min_rx));
    x->set_remote_min_tx_ms(ms(s.remote_min_tx));
    x->set_remote_multiplier(s.remote_mult);
    x->set_auth(auth_name(s.config.session.key));
    x->set_state_age_s(uint64_t(std::chrono::duration_cast<std::chrono::seconds>(bfd::Clock::now() - s.since).count()));
    x->set_packets_sent(s.counters.packets_sent);
    x->set_packets_received(s.counters.packets_received);
    x->set_up_transitions(s.counters.up_transitions);
    x->set_down_transitions(s.counters.down_transitions);
    x->set_refused_discriminator(s.counters.refused_discriminator);
    x->set_refused_auth(s.counters.refused_auth);
    x->set_refused_sequence(s.counters.refused_sequence);
    auto h = hold_.find(name);
    x->set_bgp_held(h != hold_.end() && h->second && s.state != bfd::State::Up);
    x->set_last_error(s.last_error);
  }
}

void BfdLink::show(const config::Loaded& cfg, control::BfdReply* out) const {
  for (auto& n : cfg.proto.neighbor())
    if (service_.has_peer(n.name())) fill(n.name(), out->add_sessions());
}

void BfdLink::collect(metrics::Registry& reg) const {
  auto& up = reg.gauge("vane_bfd_session_up", "1 while the BFD session is Up");
  auto& state = reg.gauge("vane_bfd_session_state", "BFD state: 0 AdminDown, 1 Down, 2 Init, 3 Up");
  auto& det =
      reg.gauge("vane_bfd_detection_time_seconds", "How long the peer may stay silent before the session goes down");
  auto& tx = reg.counter("vane_bfd_packets_sent_total", "BFD control packets sent");
  auto& rx = reg.counter("vane_bfd_packets_received_total", "BFD control packets taken by the session");
  auto& ups = reg.counter("vane_bfd_session_up_total", "Times the BFD session went Up");
  auto& downs = reg.counter("vane_bfd_session_down_total", "Times the BFD session went down from Up");
  auto& refused =
      reg.counter("vane_bfd_packets_refused_total", "BFD packets from the peer refused by the session, by reason");
  auto& dropped =
      reg.counter("vane_bfd_packets_dropped_total", "BFD packets dropped before any session saw them, by reason");
  for (auto& s : service_.status()) {
    metrics::Labels l{{"neighbor", s.config.name}};
    up.set(l, s.state == bfd::State::Up ? 1 : 0);
    state.set(l, double(int(s.state)));
    det.set(l, double(s.detection_time.count()) / 1e6);
    tx.set(l, double(s.counters.packets_sent));
    rx.set(l, double(s.counters.packets_received));
    ups.set(l, double(s.counters.up_transitions));
    downs.set(l, double(s.counters.down_transitions));
    refused.set({{"neighbor", s.config.name}, {"reason", "discriminator"}}, double(s.counters.refused_discriminator));
    refused.set({{"neighbor", s.config.name}, {"reason", "auth"}}, double(s.counters.refused_auth));
    refused.set({{"neighbor", s.config.name}, {"reason", "sequence"}}, double(s.counters.refused_sequence));
  }
  const auto& c = service_.counters();
  dropped.set({{"reason", "unknown_source"}}, double(c.unknown_source));
  dropped.set({{"reason", "ttl"}}, double(c.bad_ttl));
  dropped.set({{"reason", "malformed"}}, double(c.malformed));
  dropped.set({{"reason", "receive_error"}}, double(c.receive_errors));
}

}  // namespace vane::daemon
