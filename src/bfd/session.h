#pragma once
// One BFD session in asynchronous mode (RFC 5880 §6), as a pure class: no socket, no timer, no
// clock. The adapter passes the time with every call, sends what take_packet() returns, and calls
// expire() when next_deadline() is reached (an early or late call is harmless: only what is due
// happens).
//
// Departures from RFC 5880, each deliberate:
//  - Demand mode and the echo function are not implemented: D is never sent, Required Min Echo RX
//    is 0, and a peer asking for demand mode is still sent periodic packets (RFC 5880 §6.6 lets a
//    system refuse demand mode this way).
//  - A packet is sent at once on every state change (besides the periodic ones), so the three-way
//    handshake and a going-down take one round trip rather than one interval.
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

#include "bfd/auth.h"
#include "bfd/packet.h"

namespace vane::bfd {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Micros = std::chrono::microseconds;

struct SessionConfig {
  Micros desired_min_tx{100'000};
  Micros required_min_rx{100'000};
  uint8_t detect_mult = 3;
  std::optional<AuthKey> key;
  bool operator==(const SessionConfig&) const = default;
};

// Why a received packet was not taken; Accepted when it was.
enum class Verdict : uint8_t {
  Accepted,
  WrongDiscriminator,  // Your Discriminator is neither ours nor 0 while Down
  AuthMismatch,        // A bit set without auth configured, or clear with it
  AuthFailed,          // wrong type, key id or hash
  BadSequence,         // replayed or out of the RFC 5880 §6.7.4 window
};
const char* verdict_name(Verdict v);

struct SessionCounters {
  uint64_t packets_sent = 0, packets_received = 0;
  uint64_t polls_sent = 0, finals_sent = 0;
  uint64_t up_transitions = 0, down_transitions = 0;
  uint64_t refused_discriminator = 0, refused_auth = 0, refused_sequence = 0;
};

class Session {
 public:
  // Below Up a session sends no faster than once a second (RFC 5880 §6.8.3).
  static constexpr Micros kSlowTx{1'000'000};

  Session(uint32_t local_discr, SessionConfig cfg, uint64_t seed, TimePoint now);

  // A decoded packet from the session's peer; `wire` is its payload (for the hash).
  Verdict receive(const Packet& p, Bytes wire, TimePoint now);
  // Handles whatever timer is due at `now`.
  void expire(TimePoint now);
  TimePoint next_deadline() const;
  // The next packet to send, if one is due, sealed with the key; clears it.
  std::optional<std::vector<uint8_t>> take_packet();
  // The packet take_packet() would seal (for tests); nullopt when none is due.
  const std::optional<Packet>& pending() const { return pending_; }

  // New timers or key; a change of the advertised intervals starts a Poll Sequence.
  void configure(const SessionConfig& cfg, TimePoint now);
  void set_admin_down(bool down, TimePoint now);

  State state() const { return state_; }
  State remote_state() const { return remote_state_; }
  Diag local_diag() const { return local_diag_; }
  Diag remote_diag() const { return remote_diag_; }
  uint32_t local_discr() const { return local_discr_; }
  uint32_t remote_discr() const { return remote_discr_; }
  bool poll_active() const { return poll_; }
  TimePoint since() const { return since_; }
  // The interval packets are sent at before jitter, and how long the peer may stay silent.
  Micros tx_interval() const;
  Micros detection_time() const;
  Micros remote_min_rx() const { return Micros(remote_min_rx_us_); }
  Micros remote_min_tx() const { return Micros(remote_min_tx_us_); }
  uint8_t remote_detect_mult() const { return remote_mult_; }
  const SessionConfig& config() const { return cfg_; }
  const SessionCounters& counters() const { return counters_; }

 private:
  Micros advertised_tx() const;
  void set_state(State s, Diag d, TimePoint now);
  void update_parameters(TimePoint now);
  void queue(TimePoint now, bool final);
  void schedule_tx(TimePoint from);
  bool check_sequence(uint32_t seq, uint8_t mult) const;

  uint32_t local_discr_;
  SessionConfig cfg_;
  std::mt19937_64 rng_;
  State state_ = State::Down;
  State remote_state_ = State::Down;
  Diag local_diag_ = Diag::None;
  Diag remote_diag_ = Diag::None;
  uint32_t remote_discr_ = 0;
  uint32_t remote_min_rx_us_ = 1;  // RFC 5880 §6.8.1: initially 1
  uint32_t remote_min_tx_us_ = 0;
  uint8_t remote_mult_ = 0;
  // What the packets advertise, and what the timers use: they differ during a Poll Sequence.
  Micros adv_tx_, adv_rx_;
  Micros use_tx_, use_rx_;
  bool poll_ = false;
  std::optional<Packet> pending_;
  TimePoint next_tx_;
  std::optional<TimePoint> detect_at_;
  std::optional<TimePoint> seq_forget_at_;  // AuthSeqKnown expires (twice the detection time)
  TimePoint since_;
  bool seq_known_ = false;
  uint32_t rcv_seq_ = 0, xmit_seq_ = 0;
  SessionCounters counters_;
};

}  // namespace vane::bfd
