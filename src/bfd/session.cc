#include "bfd/session.h"

#include <algorithm>

namespace vane::bfd {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Accepted:
      return "accepted";
    case Verdict::WrongDiscriminator:
      return "wrong discriminator";
    case Verdict::AuthMismatch:
      return "authentication mismatch";
    case Verdict::AuthFailed:
      return "authentication failed";
    case Verdict::BadSequence:
      return "bad sequence number";
  }
  return "?";
}

Session::Session(uint32_t local_discr, SessionConfig cfg, uint64_t seed, TimePoint now)
    : local_discr_(local_discr), cfg_(std::move(cfg)), rng_(seed), since_(now) {
  adv_tx_ = use_tx_ = advertised_tx();
  adv_rx_ = use_rx_ = cfg_.required_min_rx;
  // RFC 5880 §6.8.1: the transmit sequence starts at a random value.
  xmit_seq_ = uint32_t(rng_());
  next_tx_ = now;
}

Micros Session::advertised_tx() const {
  return state_ == State::Up ? cfg_.desired_min_tx : std::max(cfg_.desired_min_tx, kSlowTx);
}

Micros Session::tx_interval() const {
  return std::max(use_tx_, Micros(remote_min_rx_us_));
}

Micros Session::detection_time() const {
  return remote_mult_ * std::max(use_rx_, Micros(remote_min_tx_us_));
}

void Session::schedule_tx(TimePoint from) {
  if (remote_min_rx_us_ == 0) {
    // RFC 5880 §6.8.7: the peer asked for no periodic packets.
    next_tx_ = TimePoint::max();
    return;
  }
  // RFC 5880 §6.8.7: 75..100% of the interval, 75..90% with a multiplier of 1.
  const double hi = cfg_.detect_mult == 1 ? 0.90 : 1.0;
  std::uniform_real_distribution<double> jitter(0.75, hi);
  next_tx_ = from + std::chrono::duration_cast<Micros>(tx_interval() * jitter(rng_));
}

void Session::queue(TimePoint, bool final) {
  if (pending_ && pending_->final) final = true;
  Packet p;
  p.diag = local_diag_;
  p.state = state_;
  // RFC 5880 §6.8.7: P and F are never both set; the poll goes out with the next packet.
  p.poll = poll_ && !final;
  p.final = final;
  p.detect_mult = cfg_.detect_mult;
  p.my_discr = local_discr_;
  p.your_discr = remote_discr_;
  p.desired_min_tx_us = uint32_t(adv_tx_.count());
  p.required_min_rx_us = uint32_t(adv_rx_.count());
  p.required_min_echo_rx_us = 0;
  pending_ = p;
}

void Session::update_parameters(TimePoint now) {
  const Micros tx = advertised_tx(), rx = cfg_.required_min_rx;
  if (tx == adv_tx_ && rx == adv_rx_) return;
  // RFC 5880 §6.8.3: one Poll Sequence at a time while Up; below Up nothing depends on the peer
  // having seen the values, so they change at once.
  if (poll_ && state_ == State::Up) return;
  adv_tx_ = tx;
  adv_rx_ = rx;
  // A slower transmit rate, or a shorter detection time for the peer, waits for its Final;
  // the other directions are safe at once.
  if (state_ != State::Up || tx < use_tx_) use_tx_ = tx;
  if (state_ != State::Up || rx > use_rx_) use_rx_ = rx;
  poll_ = true;
  if (next_tx_ != TimePoint::max() && next_tx_ > now + tx_interval()) schedule_tx(now);
  queue(now, false);
}

void Session::set_state(State s, Diag d, TimePoint now) {
  if (s == state_) return;
  if (s == State::Up) counters_.up_transitions++;
  if (state_ == State::Up) counters_.down_transitions++;
  state_ = s;
  // The diagnostic says why the session last went down; it stays through Init.
  if (s != State::Init) local_diag_ = d;
  since_ = now;
  update_parameters(now);
  queue(now, false);
}

bool Session::check_sequence(uint32_t seq, uint8_t mult) const {
  if (!seq_known_) return true;
  // RFC 5880 §6.7.4: within 3 * Detect Mult of the last one, modulo 2^32; meticulous also
  // refuses a repeat.
  const uint32_t ahead = seq - rcv_seq_;
  const uint32_t lo = cfg_.key->type == AuthType::MeticulousKeyedSha1 ? 1 : 0;
  return ahead >= lo && ahead <= 3u * mult;
}

Verdict Session::receive(const Packet& p, Bytes wire, TimePoint now) {
  // RFC 5880 §6.8.6, the checks that need the session.
  if (p.your_discr != 0 ? p.your_discr != local_discr_ : (p.state != State::Down && p.state != State::AdminDown)) {
    counters_.refused_discriminator++;
    return Verdict::WrongDiscriminator;
  }
  if (p.has_auth != cfg_.key.has_value()) {
    counters_.refused_auth++;
    return Verdict::AuthMismatch;
  }
  if (cfg_.key) {
    if (!verify(wire, p, *cfg_.key)) {
      counters_.refused_auth++;
      return Verdict::AuthFailed;
    }
    if (!check_sequence(p.auth.sequence, p.detect_mult)) {
      counters_.refused_sequence++;
      return Verdict::BadSequence;
    }
    rcv_seq_ = p.auth.sequence;
    seq_known_ = true;
  }
  counters_.packets_received++;

  const bool tx_was_off = remote_min_rx_us_ == 0;
  remote_discr_ = p.my_discr;
  remote_state_ = p.state;
  remote_diag_ = p.diag;
  remote_min_rx_us_ = p.required_min_rx_us;
  remote_min_tx_us_ = p.desired_min_tx_us;
  remote_mult_ = p.detect_mult;
  if (p.final && poll_) {
    poll_ = false;
    use_tx_ = adv_tx_;
    use_rx_ = adv_rx_;
  }
  if (remote_min_rx_us_ == 0 || tx_was_off || next_tx_ > now + tx_interval()) schedule_tx(now);
  detect_at_ = now + detection_time();
  if (cfg_.key) seq_forget_at_ = now + 2 * detection_time();

  if (state_ != State::AdminDown) {
    if (p.state == State::AdminDown) {
      if (state_ != State::Down) set_state(State::Down, Diag::NeighborSignaledDown, now);
    } else if (state_ == State::Down) {
      if (p.state == State::Down)
        set_state(State::Init, local_diag_, now);
      else if (p.state == State::Init)
        set_state(State::Up, Diag::None, now);
    } else if (state_ == State::Init) {
      if (p.state == State::Init || p.state == State::Up) set_state(State::Up, Diag::None, now);
    } else if (p.state == State::Down) {
      set_state(State::Down, Diag::NeighborSignaledDown, now);
    }
  }
  // A parameter change the Final above ended may have been waiting.
  update_parameters(now);
  // RFC 5880 §6.8.6: a Poll is answered at once with a Final.
  if (p.poll) queue(now, true);
  return Verdict::Accepted;
}

void Session::expire(TimePoint now) {
  if (detect_at_ && now >= *detect_at_) {
    detect_at_.reset();
    // RFC 5880 §6.8.1: a silent peer's discriminator is forgotten.
    remote_discr_ = 0;
    remote_state_ = State::Down;
    if (state_ == State::Init || state_ == State::Up) set_state(State::Down, Diag::DetectionTimeExpired, now);
    // A peer that asked for no packets and then fell silent asks for nothing any more: back to
    // the initial value (RFC 5880 6.8.1), or two such sessions would never speak again.
    if (remote_min_rx_us_ == 0) {
      remote_min_rx_us_ = 1;
      schedule_tx(now);
    }
  }
  if (seq_forget_at_ && now >= *seq_forget_at_) {
    seq_forget_at_.reset();
    seq_known_ = false;
  }
  if (now >= next_tx_) {
    queue(now, false);
    schedule_tx(now);
  }
}

TimePoint Session::next_deadline() const {
  TimePoint t = next_tx_;
  if (detect_at_) t = std::min(t, *detect_at_);
  if (seq_forget_at_) t = std::min(t, *seq_forget_at_);
  return t;
}

std::optional<std::vector<uint8_t>> Session::take_packet() {
  if (!pending_) return std::nullopt;
  Packet p = *pending_;
  pending_.reset();
  if (cfg_.key) p.auth.sequence = ++xmit_seq_;
  counters_.packets_sent++;
  if (p.poll) counters_.polls_sent++;
  if (p.final) counters_.finals_sent++;
  return seal(p, cfg_.key ? &*cfg_.key : nullptr);
}

void Session::configure(const SessionConfig& cfg, TimePoint now) {
  const bool rekey = cfg.key != cfg_.key;
  cfg_ = cfg;
  if (rekey) seq_known_ = false;
  update_parameters(now);
}

void Session::set_admin_down(bool down, TimePoint now) {
  if (down) {
    detect_at_.reset();
    set_state(State::AdminDown, Diag::AdminDown, now);
  } else if (state_ == State::AdminDown) {
    set_state(State::Down, Diag::None, now);
  }
}

}  // namespace vane::bfd
