// The BFD state machine driven by a fake clock: two sessions wired back to back through a link
// the test can cut in either direction.
#include <gtest/gtest.h>

#include <cstring>

#include "bfd/session.h"

namespace vane::bfd {
namespace {

using namespace std::chrono_literals;
using V = std::vector<uint8_t>;

struct Pair {
  TimePoint now{};
  Session a, b;
  bool a_to_b = true, b_to_a = true;
  std::vector<Packet> seen_by_b, seen_by_a;
  Verdict last_a = Verdict::Accepted, last_b = Verdict::Accepted;

  Pair(SessionConfig ca = {}, SessionConfig cb = {}) : a(1, ca, 11, TimePoint{}), b(2, cb, 22, TimePoint{}) {}

  void flush() {
    // Deliveries can cause answers (Finals, state changes): bounded, to catch a ping-pong.
    for (int i = 0; i < 10; i++) {
      bool any = false;
      if (auto w = a.take_packet()) {
        any = true;
        auto p = decode(*w);
        ASSERT_TRUE(p);
        if (a_to_b) {
          seen_by_b.push_back(*p);
          last_b = b.receive(*p, *w, now);
        }
      }
      if (auto w = b.take_packet()) {
        any = true;
        auto p = decode(*w);
        ASSERT_TRUE(p);
        if (b_to_a) {
          seen_by_a.push_back(*p);
          last_a = a.receive(*p, *w, now);
        }
      }
      if (!any) return;
    }
    FAIL() << "packets still flowing after 10 rounds";
  }

  // Advances the clock from deadline to deadline until `until`.
  void run_until(TimePoint until) {
    flush();
    for (int i = 0; i < 100000; i++) {
      TimePoint next = std::min(a.next_deadline(), b.next_deadline());
      if (next > until) break;
      now = std::max(now, next);
      a.expire(now);
      b.expire(now);
      flush();
    }
    now = until;
  }
  void run_for(Micros d) { run_until(now + d); }
};

TEST(BfdSession, ComesUpThenSpeedsUpWithPollFinal) {
  Pair t;
  EXPECT_EQ(t.a.state(), State::Down);
  // While Down, no faster than once a second, whatever is configured.
  EXPECT_GE(t.a.tx_interval(), 1s);
  t.run_for(10ms);
  EXPECT_EQ(t.a.state(), State::Up);
  EXPECT_EQ(t.b.state(), State::Up);
  // B's poll goes out with its next packet, at the 100 ms it may use at once (faster is safe).
  t.run_for(200ms);
  EXPECT_EQ(t.a.remote_discr(), 2u);
  EXPECT_EQ(t.b.remote_discr(), 1u);
  // Up: both polled for the configured 100 ms and the peer's Final ended the poll.
  EXPECT_FALSE(t.a.poll_active());
  EXPECT_FALSE(t.b.poll_active());
  EXPECT_EQ(t.a.tx_interval(), 100ms);
  EXPECT_EQ(t.a.detection_time(), 300ms);
  bool saw_poll = false, saw_final = false;
  for (auto& p : t.seen_by_b) {
    EXPECT_FALSE(p.poll && p.final);
    saw_poll |= p.poll;
    saw_final |= p.final;
  }
  EXPECT_TRUE(saw_poll);
  EXPECT_TRUE(saw_final);
  // Stays up, sending at 75..100% of 100 ms.
  size_t before = t.seen_by_b.size();
  t.run_for(10s);
  EXPECT_EQ(t.a.state(), State::Up);
  size_t sent = t.seen_by_b.size() - before;
  EXPECT_GE(sent, 100u);
  EXPECT_LE(sent, 134u);
}

TEST(BfdSession, SilentPeerDetectedInDetectionTime) {
  Pair t;
  t.run_for(1s);
  ASSERT_EQ(t.a.state(), State::Up);
  t.b_to_a = false;
  TimePoint cut = t.now;
  // The last packet came at most one interval (100 ms) before the cut.
  t.run_for(199ms);
  EXPECT_EQ(t.a.state(), State::Up);
  t.run_for(101ms);
  EXPECT_EQ(t.a.state(), State::Down);
  EXPECT_EQ(t.a.local_diag(), Diag::DetectionTimeExpired);
  EXPECT_LE(t.a.since() - cut, 300ms);
  EXPECT_EQ(t.a.remote_discr(), 0u);
  EXPECT_EQ(t.a.counters().down_transitions, 1u);
  // B hears A's Down and follows with diag 3 (then, hearing A's next Down, goes to Init).
  t.run_for(10ms);
  EXPECT_NE(t.b.state(), State::Up);
  EXPECT_EQ(t.b.counters().down_transitions, 1u);
  EXPECT_EQ(t.b.local_diag(), Diag::NeighborSignaledDown);
  // Back to the slow rate below Up.
  EXPECT_GE(t.a.tx_interval(), 1s);
  // The link heals: up again.
  t.b_to_a = true;
  t.run_for(3s);
  EXPECT_EQ(t.a.state(), State::Up);
  EXPECT_EQ(t.b.state(), State::Up);
  EXPECT_EQ(t.a.counters().up_transitions, 2u);
}

TEST(BfdSession, SlowerTxWaitsForFinal) {
  Pair t;
  t.run_for(1s);
  ASSERT_EQ(t.a.tx_interval(), 100ms);
  t.a_to_b = false;  // no Final can come back
  SessionConfig c = t.a.config();
  c.desired_min_tx = 300ms;
  c.required_min_rx = 50ms;
  t.a.configure(c, t.now);
  EXPECT_TRUE(t.a.poll_active());
  auto p = t.a.pending();
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->poll);
  EXPECT_EQ(p->desired_min_tx_us, 300000u);
  EXPECT_EQ(p->required_min_rx_us, 50000u);
  // RFC 5880 §6.8.3: old tx interval and old detection time until the Final.
  EXPECT_EQ(t.a.tx_interval(), 100ms);
  EXPECT_EQ(t.a.detection_time(), 300ms);
  t.run_for(50ms);
  EXPECT_TRUE(t.a.poll_active());
  t.a_to_b = true;
  t.run_for(200ms);
  EXPECT_FALSE(t.a.poll_active());
  EXPECT_EQ(t.a.tx_interval(), 300ms);
  // B answered the poll: it now sends at least every 50 ms... no: at max(its 100 ms, 50 ms).
  EXPECT_EQ(t.b.tx_interval(), 100ms);
  EXPECT_EQ(t.a.detection_time(), 300ms);  // 3 x max(50, B's 100)
  EXPECT_EQ(t.b.detection_time(), 900ms);  // 3 x A's 300
  EXPECT_EQ(t.a.state(), State::Up);
}

TEST(BfdSession, AdminDown) {
  Pair t;
  t.run_for(1s);
  t.b.set_admin_down(true, t.now);
  t.flush();
  EXPECT_EQ(t.b.state(), State::AdminDown);
  EXPECT_EQ(t.a.state(), State::Down);
  EXPECT_EQ(t.a.local_diag(), Diag::NeighborSignaledDown);
  // A does not come up against an AdminDown peer.
  t.run_for(5s);
  EXPECT_EQ(t.a.state(), State::Down);
  EXPECT_EQ(t.b.state(), State::AdminDown);
  t.b.set_admin_down(false, t.now);
  t.run_for(3s);
  EXPECT_EQ(t.a.state(), State::Up);
  EXPECT_EQ(t.b.state(), State::Up);
}

TEST(BfdSession, DiscriminatorChecks) {
  TimePoint now{};
  Session s(5, {}, 1, now);
  Packet p;
  p.my_discr = 9;
  p.your_discr = 6;  // not ours
  p.state = State::Down;
  auto w = encode(p);
  EXPECT_EQ(s.receive(p, w, now), Verdict::WrongDiscriminator);
  // Your Discriminator 0 is allowed only with State Down or AdminDown.
  p.your_discr = 0;
  p.state = State::Up;
  w = encode(p);
  EXPECT_EQ(s.receive(p, w, now), Verdict::WrongDiscriminator);
  p.state = State::Init;
  w = encode(p);
  EXPECT_EQ(s.receive(p, w, now), Verdict::WrongDiscriminator);
  EXPECT_EQ(s.state(), State::Down);
  EXPECT_EQ(s.counters().refused_discriminator, 3u);
  p.state = State::Down;
  w = encode(p);
  EXPECT_EQ(s.receive(p, w, now), Verdict::Accepted);
  EXPECT_EQ(s.state(), State::Init);
}

TEST(BfdSession, PeerAskingForNoPacketsGetsNoneUntilItFallsSilent) {
  TimePoint now{};
  Session s(5, {}, 1, now);
  s.expire(now);
  EXPECT_TRUE(s.take_packet());
  Packet p;
  p.my_discr = 9;
  p.required_min_rx_us = 0;
  auto w = encode(p);
  ASSERT_EQ(s.receive(p, w, now), Verdict::Accepted);
  ASSERT_EQ(s.state(), State::Init);
  (void)s.take_packet();  // the state change's packet
  for (int i = 1; i <= 5; i++) {
    // The peer stays Down (so Init stays Init) and keeps asking for nothing.
    ASSERT_EQ(s.receive(p, w, now + i * 1s - 1ms), Verdict::Accepted);
    s.expire(now + i * 1s);
    EXPECT_FALSE(s.pending()) << i;
  }
  // Then silent past any detection time: the request for no packets lapses with the peer, or two
  // such sessions would never speak again.
  bool sent = false;
  for (int i = 6; i <= 25 && !sent; i++) {
    s.expire(now + i * 1s);
    sent = s.take_packet().has_value();
  }
  EXPECT_TRUE(sent) << "no packet after the peer's detection time expired";
}

SessionConfig keyed(AuthType type, const char* secret) {
  SessionConfig c;
  c.key = AuthKey{type, 3, V(secret, secret + std::strlen(secret))};
  return c;
}

TEST(BfdSession, KeyedSha1) {
  Pair t(keyed(AuthType::KeyedSha1, "s3cret"), keyed(AuthType::KeyedSha1, "s3cret"));
  t.run_for(2s);
  EXPECT_EQ(t.a.state(), State::Up);
  EXPECT_EQ(t.b.state(), State::Up);
  ASSERT_FALSE(t.seen_by_b.empty());
  EXPECT_TRUE(t.seen_by_b.back().has_auth);
  EXPECT_EQ(t.seen_by_b.back().auth.type, AuthType::KeyedSha1);
  EXPECT_EQ(t.a.counters().refused_auth, 0u);
}

TEST(BfdSession, WrongKeyOrNoAuthNeverComesUp) {
  Pair t(keyed(AuthType::KeyedSha1, "s3cret"), keyed(AuthType::KeyedSha1, "other"));
  t.run_for(5s);
  EXPECT_EQ(t.a.state(), State::Down);
  EXPECT_EQ(t.last_a, Verdict::AuthFailed);
  EXPECT_GT(t.a.counters().refused_auth, 0u);

  Pair u(keyed(AuthType::KeyedSha1, "s3cret"), SessionConfig{});
  u.run_for(5s);
  EXPECT_EQ(u.a.state(), State::Down);
  EXPECT_EQ(u.b.state(), State::Down);
  EXPECT_EQ(u.last_a, Verdict::AuthMismatch);
  EXPECT_EQ(u.last_b, Verdict::AuthMismatch);

  Pair m(keyed(AuthType::KeyedSha1, "s3cret"), keyed(AuthType::MeticulousKeyedSha1, "s3cret"));
  m.run_for(5s);
  EXPECT_EQ(m.a.state(), State::Down);
  EXPECT_EQ(m.last_a, Verdict::AuthFailed);
}

TEST(BfdSession, SequenceWindow) {
  for (auto type : {AuthType::KeyedSha1, AuthType::MeticulousKeyedSha1}) {
    SCOPED_TRACE(int(type));
    auto cfg = keyed(type, "k");
    TimePoint now{};
    Session s(5, cfg, 1, now);
    Packet p;
    p.my_discr = 9;
    p.detect_mult = 3;
    auto send = [&](uint32_t seq) {
      p.auth.sequence = seq;
      auto w = seal(p, &*cfg.key);
      auto d = decode(w);
      return s.receive(*d, w, now);
    };
    EXPECT_EQ(send(0xfffffffe), Verdict::Accepted);
    // A repeat: keyed accepts it, meticulous does not.
    EXPECT_EQ(send(0xfffffffe), type == AuthType::KeyedSha1 ? Verdict::Accepted : Verdict::BadSequence);
    // Wraps around 2^32; 3 x Detect Mult ahead at most.
    EXPECT_EQ(send(7), Verdict::Accepted);
    EXPECT_EQ(send(17), Verdict::BadSequence);
    EXPECT_EQ(send(16), Verdict::Accepted);
    // Going back is a replay.
    EXPECT_EQ(send(10), Verdict::BadSequence);
    // After twice the detection time of silence, any sequence is taken again.
    now += 2 * s.detection_time() + 1ms;
    s.expire(now);
    EXPECT_EQ(send(1000), Verdict::Accepted);
  }
}

TEST(BfdSession, SendsMeticulousSequenceIncreasing) {
  auto cfg = keyed(AuthType::MeticulousKeyedSha1, "k");
  TimePoint now{};
  Session s(5, cfg, 1, now);
  std::optional<uint32_t> last;
  for (int i = 0; i < 5; i++) {
    s.expire(now + i * 2s);
    auto w = s.take_packet();
    ASSERT_TRUE(w);
    auto p = decode(*w);
    ASSERT_TRUE(p);
    EXPECT_TRUE(verify(*w, *p, *cfg.key));
    if (last) {
      EXPECT_EQ(p->auth.sequence, *last + 1);
    }
    last = p->auth.sequence;
  }
}

}  // namespace
}  // namespace vane::bfd
