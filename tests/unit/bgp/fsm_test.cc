#include "bgp/fsm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

// gtest prints a variant through its alternatives; give them readable text.
namespace vane::bgp {
template <typename T>
requires(!std::same_as<T, Action> && std::constructible_from<Action, T> && std::same_as<T, std::decay_t<T>> &&
         std::is_class_v<T>) std::ostream&
operator<<(std::ostream& os, const T& action) {
  return os << to_string(Action{action});
}
}  // namespace vane::bgp

namespace vane::bgp {
namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;
using ::testing::ElementsAre;

constexpr uint32_t kOurAs = 65001;
constexpr uint32_t kRouterAs = 65000;
constexpr uint32_t kOurId = 0xc000020a;     // 192.0.2.10
constexpr uint32_t kRouterId = 0xc0000201;  // 192.0.2.1

FsmConfig ebgp() {
  FsmConfig c;
  c.local_asn = kOurAs;
  c.remote_asn = kRouterAs;
  c.local_bgp_id = kOurId;
  c.hold_time = 90s;
  c.connect_retry = 5s;
  c.max_backoff = 60s;
  c.backoff_reset_after = 300s;
  return c;
}

FsmConfig passive() {
  FsmConfig c = ebgp();
  c.passive = true;
  return c;
}

PeerOpen router_open(uint16_t hold = 90) {
  return PeerOpen{.version = 4, .asn = kRouterAs, .hold_time = hold, .bgp_id = kRouterId, .four_byte_as_cap = true};
}

// Walks a fresh FSM to `target` the ordinary way. Active is reached by a passive-first start, so
// an active neighbour's ConnectRetry is running there.
Fsm in_state(State target, FsmConfig config = ebgp(), PeerOpen open = router_open()) {
  Fsm f(std::move(config));
  if (target == State::Idle) return f;
  if (target == State::Active) {
    f.handle(Event::ManualStart_with_PassiveTcpEstablishment);
    return f;
  }
  f.handle(Event::ManualStart);
  if (target == State::Connect) return f;
  f.handle(f.state() == State::Active ? Event::TcpConnectionConfirmed : Event::Tcp_CR_Acked);
  if (target == State::OpenSent) return f;
  f.handle(Event::BGPOpen, open);
  if (target == State::OpenConfirm) return f;
  f.handle(Event::KeepAliveMsg);
  return f;
}

template <typename T>
std::vector<T> all_of_kind(const Actions& actions) {
  std::vector<T> out;
  for (const auto& a : actions)
    if (const auto* t = std::get_if<T>(&a)) out.push_back(*t);
  return out;
}

template <typename T>
bool has(const Actions& actions) {
  return !all_of_kind<T>(actions).empty();
}

std::optional<SendNotification> notification_in(const Actions& actions) {
  auto n = all_of_kind<SendNotification>(actions);
  if (n.empty()) return std::nullopt;
  return n.front();
}

std::optional<seconds> started(const Actions& actions, Timer timer) {
  for (const auto& s : all_of_kind<StartTimer>(actions))
    if (s.timer == timer) return s.duration;
  return std::nullopt;
}

std::size_t index_of_first(const Actions& actions, std::size_t variant_index) {
  for (std::size_t i = 0; i < actions.size(); ++i)
    if (actions[i].index() == variant_index) return i;
  return actions.size();
}

// ---------------------------------------------------------------------------------------------
// The whole RFC 4271 §8.2.2 table: every state against every event, the state it lands in and the
// NOTIFICATION it sends. Timer expiries for timers that state does not run are stale and ignored.

struct Row {
  State from;
  Event event;
  State to;
  std::optional<std::pair<uint8_t, uint8_t>> notification;
};

void PrintTo(const Row& row, std::ostream* os) {
  *os << to_string(row.from) << " + " << to_string(row.event) << " -> " << to_string(row.to);
  if (row.notification) *os << " sending " << int(row.notification->first) << "/" << int(row.notification->second);
}

Payload payload_for(Event e) {
  switch (e) {
    case Event::ManualStop:
      return AdminStop{};
    case Event::BGPOpen:
    case Event::BGPOpen_with_DelayOpenTimer_running:
      return router_open();
    case Event::BGPHeaderErr:
      return NotificationInfo{1, 1, {}};
    case Event::BGPOpenMsgErr:
      return NotificationInfo{2, 4, {}};
    case Event::NotifMsgVerErr:
      return NotificationInfo{2, 1, {0, 4}};
    case Event::NotifMsg:
      return NotificationInfo{6, 2, {}};
    case Event::UpdateMsgErr:
      return NotificationInfo{3, 1, {}};
    default:
      return {};
  }
}

std::vector<Row> table() {
  using E = Event;
  using S = State;
  std::vector<Row> rows;
  auto n = [](uint8_t c, uint8_t s) { return std::optional<std::pair<uint8_t, uint8_t>>{{c, s}}; };
  const std::optional<std::pair<uint8_t, uint8_t>> none;
  for (int i = 1; i <= 28; ++i) {
    const auto e = static_cast<E>(i);
    const bool start = i == 1 || (i >= 3 && i <= 7);
    const bool passive_start = i == 4 || i == 5 || i == 7;

    // Idle: only the starts move it.
    rows.push_back({S::Idle, e, start ? (passive_start ? S::Active : S::Connect) : S::Idle, none});

    // Connect: ConnectRetry runs; no OPEN has gone out, so nothing is ever told to the peer.
    S c = S::Idle;
    if (start || e == E::ConnectRetryTimer_Expires || e == E::HoldTimer_Expires || e == E::KeepaliveTimer_Expires ||
        e == E::DelayOpenTimer_Expires || e == E::IdleHoldTimer_Expires || e == E::TcpConnection_Valid ||
        e == E::Tcp_CR_Invalid)
      c = S::Connect;
    if (e == E::Tcp_CR_Acked || e == E::TcpConnectionConfirmed) c = S::OpenSent;
    rows.push_back({S::Connect, e, c, none});

    // Active: as Connect, but ConnectRetry's expiry makes the call.
    S a = c == S::Connect ? S::Active : c;
    if (e == E::ConnectRetryTimer_Expires) a = S::Connect;
    rows.push_back({S::Active, e, a, none});
  }

  struct Out {
    S to;
    std::optional<std::pair<uint8_t, uint8_t>> n;
  };
  auto add = [&](S from, std::vector<std::pair<E, Out>> special, Out otherwise_stale) {
    for (int i = 1; i <= 28; ++i) {
      const auto e = static_cast<E>(i);
      auto it = std::find_if(special.begin(), special.end(), [&](const auto& p) { return p.first == e; });
      const bool start = i == 1 || (i >= 3 && i <= 7);
      if (it != special.end())
        rows.push_back({from, e, it->second.to, it->second.n});
      else if (start)
        rows.push_back({from, e, from, none});
      else
        rows.push_back({from, e, otherwise_stale.to, otherwise_stale.n});
    }
  };
  // Events not listed: the starts are ignored, and the others are the stale timers or DelayOpen.
  add(S::OpenSent,
      {{E::ManualStop, {S::Idle, n(6, 2)}},
       {E::AutomaticStop, {S::Idle, n(6, 0)}},
       {E::HoldTimer_Expires, {S::Idle, n(4, 0)}},
       {E::TcpConnection_Valid, {S::OpenSent, none}},
       {E::Tcp_CR_Invalid, {S::OpenSent, none}},
       {E::Tcp_CR_Acked, {S::OpenSent, none}},
       {E::TcpConnectionConfirmed, {S::OpenSent, none}},
       {E::TcpConnectionFails, {S::Active, none}},
       {E::BGPOpen, {S::OpenConfirm, none}},
       {E::BGPOpen_with_DelayOpenTimer_running, {S::Idle, n(5, 1)}},
       {E::BGPHeaderErr, {S::Idle, n(1, 1)}},
       {E::BGPOpenMsgErr, {S::Idle, n(2, 4)}},
       {E::OpenCollisionDump, {S::Idle, n(6, 7)}},
       {E::NotifMsgVerErr, {S::Idle, none}},
       {E::NotifMsg, {S::Idle, none}},
       {E::KeepAliveMsg, {S::Idle, n(5, 1)}},
       {E::UpdateMsg, {S::Idle, n(5, 1)}},
       {E::UpdateMsgErr, {S::Idle, n(5, 1)}}},
      {S::OpenSent, none});
  add(S::OpenConfirm,
      {{E::ManualStop, {S::Idle, n(6, 2)}},
       {E::AutomaticStop, {S::Idle, n(6, 0)}},
       {E::HoldTimer_Expires, {S::Idle, n(4, 0)}},
       {E::KeepaliveTimer_Expires, {S::OpenConfirm, none}},
       {E::TcpConnection_Valid, {S::OpenConfirm, none}},
       {E::Tcp_CR_Invalid, {S::OpenConfirm, none}},
       {E::Tcp_CR_Acked, {S::OpenConfirm, none}},
       {E::TcpConnectionConfirmed, {S::OpenConfirm, none}},
       {E::TcpConnectionFails, {S::Idle, none}},
       {E::BGPOpen, {S::Idle, n(5, 2)}},
       {E::BGPOpen_with_DelayOpenTimer_running, {S::Idle, n(5, 2)}},
       {E::BGPHeaderErr, {S::Idle, n(1, 1)}},
       {E::BGPOpenMsgErr, {S::Idle, n(2, 4)}},
       {E::OpenCollisionDump, {S::Idle, n(6, 7)}},
       {E::NotifMsgVerErr, {S::Idle, none}},
       {E::NotifMsg, {S::Idle, none}},
       {E::KeepAliveMsg, {S::Established, none}},
       {E::UpdateMsg, {S::Idle, n(5, 2)}},
       {E::UpdateMsgErr, {S::Idle, n(5, 2)}}},
      {S::OpenConfirm, none});
  add(S::Established,
      {{E::ManualStop, {S::Idle, n(6, 2)}},
       {E::AutomaticStop, {S::Idle, n(6, 0)}},
       {E::HoldTimer_Expires, {S::Idle, n(4, 0)}},
       {E::KeepaliveTimer_Expires, {S::Established, none}},
       {E::TcpConnection_Valid, {S::Established, none}},
       {E::Tcp_CR_Invalid, {S::Established, none}},
       {E::Tcp_CR_Acked, {S::Established, none}},
       {E::TcpConnectionConfirmed, {S::Established, none}},
       {E::TcpConnectionFails, {S::Idle, none}},
       {E::BGPOpen, {S::Idle, n(5, 3)}},
       {E::BGPOpen_with_DelayOpenTimer_running, {S::Idle, n(5, 3)}},
       {E::BGPHeaderErr, {S::Idle, n(1, 1)}},
       {E::BGPOpenMsgErr, {S::Idle, n(5, 3)}},
       {E::OpenCollisionDump, {S::Idle, n(6, 7)}},
       {E::NotifMsgVerErr, {S::Idle, none}},
       {E::NotifMsg, {S::Idle, none}},
       {E::KeepAliveMsg, {S::Established, none}},
       {E::UpdateMsg, {S::Established, none}},
       {E::UpdateMsgErr, {S::Idle, n(3, 1)}}},
      {S::Established, none});
  return rows;
}

class EveryStateAndEvent : public ::testing::TestWithParam<Row> {};

TEST_P(EveryStateAndEvent, LandsInTheRfcStateAndSaysTheRfcNotification) {
  const Row& row = GetParam();
  Fsm f = in_state(row.from);
  ASSERT_EQ(f.state(), row.from);
  const Actions out = f.handle(row.event, payload_for(row.event));
  SCOPED_TRACE(to_string(out));
  EXPECT_EQ(f.state(), row.to);
  const auto sent = notification_in(out);
  if (row.notification) {
    ASSERT_TRUE(sent.has_value());
    EXPECT_EQ(sent->code, row.notification->first);
    EXPECT_EQ(sent->subcode, row.notification->second);
  } else {
    EXPECT_FALSE(sent.has_value());
  }
  // Routes are withdrawn exactly when an Established session ends.
  EXPECT_EQ(has<SessionDown>(out), row.from == State::Established && row.to == State::Idle);
  EXPECT_EQ(has<ReleaseResources>(out), row.from != State::Idle && row.to == State::Idle);
  // The NOTIFICATION leaves before the connection closes under it.
  if (sent) {
    EXPECT_LT(index_of_first(out, 4), index_of_first(out, 1));
  }
  // A session that fails on its own comes back by itself.
  if (row.from != State::Idle && row.to == State::Idle && row.event != Event::ManualStop) {
    EXPECT_TRUE(started(out, Timer::IdleHold).has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc4271, EveryStateAndEvent, ::testing::ValuesIn(table()),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           return std::string(to_string(info.param.from)) + "_on_" +
                                  std::string(to_string(info.param.event));
                         });

// ---------------------------------------------------------------------------------------------
// Starting

TEST(FsmStart, StartingAnActiveNeighbourConnectsAndArmsConnectRetry) {
  Fsm f(ebgp());
  EXPECT_EQ(f.handle(Event::ManualStart), (Actions{StartTimer{Timer::ConnectRetry, 5s}, Connect{}}));
  EXPECT_EQ(f.state(), State::Connect);
}

TEST(FsmStart, StartingAPassiveNeighbourOnlyListens) {
  Fsm f(passive());
  EXPECT_EQ(f.handle(Event::ManualStart), Actions{});
  EXPECT_EQ(f.state(), State::Active);
}

TEST(FsmStart, PassiveFirstStartListensThenCallsWhenConnectRetryExpires) {
  Fsm f(ebgp());
  EXPECT_EQ(f.handle(Event::ManualStart_with_PassiveTcpEstablishment), (Actions{StartTimer{Timer::ConnectRetry, 5s}}));
  EXPECT_EQ(f.state(), State::Active);
  EXPECT_EQ(f.handle(Event::ConnectRetryTimer_Expires), (Actions{StartTimer{Timer::ConnectRetry, 5s}, Connect{}}));
  EXPECT_EQ(f.state(), State::Connect);
}

TEST(FsmStart, AutomaticStartIsRefusedWhenAutomaticRestartIsOff) {
  FsmConfig c = ebgp();
  c.allow_automatic_start = false;
  Fsm f(c);
  EXPECT_EQ(f.handle(Event::AutomaticStart), Actions{});
  EXPECT_EQ(f.state(), State::Idle);
  f.handle(Event::ManualStart);
  EXPECT_EQ(f.state(), State::Connect);
}

TEST(FsmStart, OperatorShutdownKeepsAutomaticStartAway) {
  Fsm f(ebgp());
  EXPECT_EQ(f.handle(Event::ManualStop), Actions{});
  EXPECT_TRUE(f.admin_down());
  EXPECT_EQ(f.handle(Event::AutomaticStart), Actions{});
  EXPECT_EQ(f.state(), State::Idle);
  f.handle(Event::ManualStart);
  EXPECT_FALSE(f.admin_down());
  EXPECT_EQ(f.state(), State::Connect);
}

TEST(FsmStart, AutomaticStartWaitsForTheRestartDelay) {
  Fsm f = in_state(State::Connect);
  f.handle(Event::TcpConnectionFails);
  ASSERT_TRUE(f.timer_running(Timer::IdleHold));
  EXPECT_EQ(f.handle(Event::AutomaticStart), Actions{});
  EXPECT_EQ(f.state(), State::Idle);
  f.handle(Event::IdleHoldTimer_Expires);
  EXPECT_EQ(f.state(), State::Connect);
}

TEST(FsmStart, OperatorStartDuringRestartDelayConnectsAtOnce) {
  Fsm f = in_state(State::Connect);
  f.handle(Event::TcpConnectionFails);
  EXPECT_EQ(f.handle(Event::ManualStart),
            (Actions{StopTimer{Timer::IdleHold}, StartTimer{Timer::ConnectRetry, 5s}, Connect{}}));
}

// Damping belongs to the side that calls: the peer's call after a fall it did not cause is taken.
TEST(FsmDamping, ThePeersCallAfterItClosedTheSessionIsTakenAtOnce) {
  Fsm f = in_state(State::Established, passive());
  f.handle(Event::TcpConnectionFails);
  ASSERT_TRUE(f.timer_running(Timer::IdleHold));
  EXPECT_FALSE(f.damped());
  EXPECT_EQ(f.handle(Event::AutomaticStart_with_PassiveTcpEstablishment), (Actions{StopTimer{Timer::IdleHold}}));
  EXPECT_EQ(f.state(), State::Active);
  // Twice in a row: still at once, whatever the backoff has grown to.
  f.handle(Event::TcpConnectionConfirmed);
  f.handle(Event::BGPOpen, router_open());
  f.handle(Event::KeepAliveMsg);
  ASSERT_EQ(f.state(), State::Established);
  f.handle(Event::NotifMsg, NotificationInfo{6, 4, {}});
  EXPECT_FALSE(f.damped());
  f.handle(Event::AutomaticStart_with_PassiveTcpEstablishment);
  EXPECT_EQ(f.state(), State::Active);
}

TEST(FsmDamping, ThePeersCallAfterItsMalformedMessageWaitsForIdleHold) {
  Fsm f = in_state(State::Established, passive());
  f.handle(Event::UpdateMsgErr, NotificationInfo{3, 1, {}});
  ASSERT_TRUE(f.timer_running(Timer::IdleHold));
  EXPECT_TRUE(f.damped());
  EXPECT_EQ(f.handle(Event::AutomaticStart_with_PassiveTcpEstablishment), Actions{});
  EXPECT_EQ(f.state(), State::Idle);
  f.handle(Event::IdleHoldTimer_Expires);
  EXPECT_FALSE(f.damped());
  EXPECT_EQ(f.state(), State::Active);
}

TEST(FsmDamping, TooManyPrefixesAndFsmErrorsDampToo) {
  Fsm a = in_state(State::Established, passive());
  a.handle(Event::AutomaticStop, NotificationInfo{6, 1, {}});
  EXPECT_TRUE(a.damped());
  Fsm b = in_state(State::OpenConfirm, passive());
  b.handle(Event::UpdateMsg);  // no UPDATE before the KEEPALIVE: FSM error
  EXPECT_TRUE(b.damped());
  // Our own calls are paced by the backoff whatever the cause.
  Fsm c = in_state(State::Connect);
  c.handle(Event::TcpConnectionFails);
  EXPECT_FALSE(c.damped());
  EXPECT_EQ(c.handle(Event::AutomaticStart), Actions{});
}

TEST(FsmStart, ANewConnectRetryAppliesToTheNextWait) {
  Fsm f = in_state(State::Connect);
  f.set_connect_retry(20s);
  f.handle(Event::TcpConnectionFails);
  f.handle(Event::ManualStop, AdminStop{.kind = AdminStop::Kind::Reset});
  EXPECT_EQ(f.next_backoff(), 20s);
  f.set_connect_retry(0s);  // refused: kept
  EXPECT_EQ(f.next_backoff(), 20s);
}

// ---------------------------------------------------------------------------------------------
// Connect and Active

TEST(FsmConnect, CompletedOutboundConnectionSendsOpenWithFourMinuteHold) {
  Fsm f = in_state(State::Connect);
  EXPECT_EQ(f.handle(Event::Tcp_CR_Acked),
            (Actions{StopTimer{Timer::ConnectRetry}, SendOpen{}, StartTimer{Timer::Hold, 240s}}));
  EXPECT_EQ(f.state(), State::OpenSent);
}

TEST(FsmConnect, RoutersIncomingConnectionWhileDiallingSendsOpen) {
  Fsm f = in_state(State::Connect);
  EXPECT_EQ(f.handle(Event::TcpConnectionConfirmed),
            (Actions{StopTimer{Timer::ConnectRetry}, SendOpen{}, StartTimer{Timer::Hold, 240s}}));
}

TEST(FsmConnect, UnansweredConnectIsRetriedWithGrowingGaps) {
  Fsm f = in_state(State::Connect);
  EXPECT_EQ(f.handle(Event::ConnectRetryTimer_Expires),
            (Actions{DropConnection{}, StartTimer{Timer::ConnectRetry, 10s}, Connect{}}));
  std::vector<seconds> gaps;
  for (int i = 0; i < 4; ++i) gaps.push_back(*started(f.handle(Event::ConnectRetryTimer_Expires), Timer::ConnectRetry));
  EXPECT_THAT(gaps, ElementsAre(20s, 40s, 60s, 60s));
  EXPECT_EQ(f.state(), State::Connect);
}

TEST(FsmConnect, RefusedConnectionGoesIdleAndRetriesAfterTheRestartDelay) {
  Fsm f = in_state(State::Connect);
  EXPECT_EQ(f.handle(Event::TcpConnectionFails), (Actions{StopTimer{Timer::ConnectRetry}, ReleaseResources{},
                                                          DropConnection{}, StartTimer{Timer::IdleHold, 5s}}));
  EXPECT_EQ(f.state(), State::Idle);
  EXPECT_EQ(f.counters().connect_retry_counter, 0u);  // RFC 4271 does not count a refused connect
  EXPECT_EQ(f.handle(Event::IdleHoldTimer_Expires), (Actions{StartTimer{Timer::ConnectRetry, 10s}, Connect{}}));
  EXPECT_EQ(f.state(), State::Connect);
}

TEST(FsmConnect, OperatorStopWhileDiallingStaysDownSilently) {
  Fsm f = in_state(State::Connect);
  EXPECT_EQ(f.handle(Event::ManualStop, AdminStop{.communication = "maintenance"}),
            (Actions{StopTimer{Timer::ConnectRetry}, ReleaseResources{}, DropConnection{}}));
  EXPECT_EQ(f.state(), State::Idle);
  EXPECT_TRUE(f.admin_down());
}

TEST(FsmConnect, MessagesBeforeOurOpenEndTheAttemptAndCountAsAFailure) {
  for (Event e :
       {Event::AutomaticStop, Event::BGPOpen, Event::BGPHeaderErr, Event::BGPOpenMsgErr, Event::OpenCollisionDump,
        Event::NotifMsgVerErr, Event::NotifMsg, Event::KeepAliveMsg, Event::UpdateMsg, Event::UpdateMsgErr}) {
    SCOPED_TRACE(to_string(e));
    for (State s : {State::Connect, State::Active}) {
      Fsm f = in_state(s);
      const Actions out = f.handle(e, payload_for(e));
      EXPECT_EQ(out, (Actions{StopTimer{Timer::ConnectRetry}, ReleaseResources{}, DropConnection{},
                              StartTimer{Timer::IdleHold, 5s}}));
      EXPECT_EQ(f.counters().connect_retry_counter, 1u);
    }
  }
}

TEST(FsmActive, ConnectionFailureWhileListeningCountsAndRestarts) {
  Fsm f = in_state(State::Active);
  EXPECT_EQ(f.handle(Event::TcpConnectionFails), (Actions{StopTimer{Timer::ConnectRetry}, ReleaseResources{},
                                                          DropConnection{}, StartTimer{Timer::IdleHold, 5s}}));
  EXPECT_EQ(f.counters().connect_retry_counter, 1u);
}

TEST(FsmActive, OperatorStopWhileListeningStaysDown) {
  Fsm f = in_state(State::Active, passive());
  EXPECT_EQ(f.handle(Event::ManualStop), (Actions{ReleaseResources{}, DropConnection{}}));
  EXPECT_EQ(f.state(), State::Idle);
  EXPECT_FALSE(f.timer_running(Timer::IdleHold));
}

TEST(FsmActive, PassiveNeighbourAcceptsTheRoutersConnectionAndSendsOpen) {
  Fsm f = in_state(State::Active, passive());
  EXPECT_EQ(f.handle(Event::TcpConnectionConfirmed), (Actions{SendOpen{}, StartTimer{Timer::Hold, 240s}}));
  EXPECT_EQ(f.state(), State::OpenSent);
}

TEST(FsmActive, PassiveNeighbourNeverDialsOutWhateverHappens) {
  Fsm f(passive());
  Actions all;
  auto feed = [&](Event e, Payload p = {}) {
    auto out = f.handle(e, p);
    all.insert(all.end(), out.begin(), out.end());
  };
  feed(Event::ManualStart);
  feed(Event::ConnectRetryTimer_Expires);
  feed(Event::TcpConnectionConfirmed);
  feed(Event::TcpConnectionFails);  // OpenSent -> Active
  EXPECT_EQ(f.state(), State::Active);
  feed(Event::ConnectRetryTimer_Expires);
  feed(Event::TcpConnectionConfirmed);
  feed(Event::BGPOpen, router_open());
  feed(Event::KeepAliveMsg);
  EXPECT_EQ(f.state(), State::Established);
  feed(Event::HoldTimer_Expires);
  feed(Event::IdleHoldTimer_Expires);
  EXPECT_EQ(f.state(), State::Active);
  feed(Event::TcpConnectionFails);
  feed(Event::AutomaticStart);
  feed(Event::IdleHoldTimer_Expires);
  feed(Event::ManualStop, AdminStop{.kind = AdminStop::Kind::Reset});
  feed(Event::IdleHoldTimer_Expires);
  EXPECT_EQ(f.state(), State::Active);
  EXPECT_FALSE(has<Connect>(all)) << to_string(all);
  for (const auto& s : all_of_kind<StartTimer>(all)) EXPECT_NE(s.timer, Timer::ConnectRetry);
}

// ---------------------------------------------------------------------------------------------
// OpenSent

TEST(FsmOpenSent, AcceptableOpenIsAnsweredWithKeepaliveAndNegotiatedTimers) {
  Fsm f = in_state(State::OpenSent);
  EXPECT_EQ(f.handle(Event::BGPOpen, router_open()),
            (Actions{SendKeepalive{}, StartTimer{Timer::Keepalive, 30s}, StartTimer{Timer::Hold, 90s}}));
  EXPECT_EQ(f.state(), State::OpenConfirm);
  ASSERT_TRUE(f.peer_open().has_value());
  EXPECT_EQ(f.peer_open()->bgp_id, kRouterId);
  EXPECT_EQ(f.negotiated(), (NegotiatedTimers{90s, 30s}));
}

TEST(FsmOpenSent, SilentRouterAfterOurOpenGetsHoldTimerExpired) {
  Fsm f = in_state(State::OpenSent);
  EXPECT_EQ(f.handle(Event::HoldTimer_Expires), (Actions{SendNotification{4, 0, {}}, ReleaseResources{},
                                                         DropConnection{}, StartTimer{Timer::IdleHold, 5s}}));
  EXPECT_EQ(f.state(), State::Idle);
  EXPECT_EQ(f.counters().connect_retry_counter, 1u);
}

TEST(FsmOpenSent, LostConnectionAfterOurOpenGoesBackToListeningAndRedialling) {
  Fsm f = in_state(State::OpenSent);
  EXPECT_EQ(f.handle(Event::TcpConnectionFails),
            (Actions{StopTimer{Timer::Hold}, DropConnection{}, StartTimer{Timer::ConnectRetry, 5s}}));
  EXPECT_EQ(f.state(), State::Active);
}

TEST(FsmOpenSent, RouterCuttingUsOffAfterEveryOpenIsRedialledLessAndLessOften) {
  Fsm f = in_state(State::OpenSent);
  std::vector<seconds> gaps;
  for (int i = 0; i < 5; ++i) {
    gaps.push_back(*started(f.handle(Event::TcpConnectionFails), Timer::ConnectRetry));
    f.handle(Event::ConnectRetryTimer_Expires);
    f.handle(Event::Tcp_CR_Acked);
    ASSERT_EQ(f.state(), State::OpenSent);
  }
  EXPECT_THAT(gaps, ElementsAre(5s, 10s, 20s, 40s, 60s));
}

TEST(FsmOpenSent, PassiveNeighbourLosingTheConnectionOnlyListensAgain) {
  Fsm f = in_state(State::OpenSent, passive());
  EXPECT_EQ(f.handle(Event::TcpConnectionFails), (Actions{StopTimer{Timer::Hold}, DropConnection{}}));
  EXPECT_EQ(f.state(), State::Active);
}

TEST(FsmOpenSent, KeepaliveOrUpdateBeforeTheOpenIsUnexpectedInOpenSent) {
  for (Event e : {Event::KeepAliveMsg, Event::UpdateMsg, Event::UpdateMsgErr}) {
    Fsm f = in_state(State::OpenSent);
    EXPECT_EQ(f.handle(e, payload_for(e)),
              (Actions{SendNotification{5, 1, {}}, StopTimer{Timer::Hold}, ReleaseResources{}, DropConnection{},
                       StartTimer{Timer::IdleHold, 5s}}))
        << to_string(e);
    EXPECT_EQ(f.counters().last_error, (FsmCounters::Error{5, 1, true}));
  }
}

TEST(FsmOpenSent, BadHeaderIsReportedWithTheCodecsNotification) {
  Fsm f = in_state(State::OpenSent);
  const Actions out = f.handle(Event::BGPHeaderErr, NotificationInfo{1, 2, {0x00, 0x11}});
  EXPECT_EQ(notification_in(out), (SendNotification{1, 2, {0x00, 0x11}}));
}

TEST(FsmOpenSent, RoutersNotificationIsNotAnsweredAndIsRemembered) {
  Fsm f = in_state(State::OpenSent);
  const Actions out = f.handle(Event::NotifMsg, NotificationInfo{6, 5, {}});
  EXPECT_EQ(out,
            (Actions{StopTimer{Timer::Hold}, ReleaseResources{}, DropConnection{}, StartTimer{Timer::IdleHold, 5s}}));
  EXPECT_EQ(f.counters().last_error, (FsmCounters::Error{6, 5, false}));
  EXPECT_EQ(f.counters().notifications_received, 1u);
  EXPECT_EQ(f.counters().connect_retry_counter, 1u);
}

TEST(FsmOpenSent, VersionNotificationFromTheRouterIsNotCountedAsAFailure) {
  Fsm f = in_state(State::OpenSent);
  f.handle(Event::NotifMsgVerErr, NotificationInfo{2, 1, {0, 4}});
  EXPECT_EQ(f.state(), State::Idle);
  EXPECT_EQ(f.counters().connect_retry_counter, 0u);
}

TEST(FsmOpenSent, LosingACollisionSendsCeaseCollisionResolution) {
  Fsm f = in_state(State::OpenSent);
  EXPECT_EQ(notification_in(f.handle(Event::OpenCollisionDump)), (SendNotification{6, 7, {}}));
}

TEST(FsmOpenSent, AutomaticStopSendsTheGivenCease) {
  Fsm f = in_state(State::OpenSent);
  EXPECT_EQ(notification_in(f.handle(Event::AutomaticStop, NotificationInfo{6, 1, {}})), (SendNotification{6, 1, {}}));
}

// ---------------------------------------------------------------------------------------------
// OPEN validation (RFC 4271 §6.2)

std::optional<SendNotification> refusal_of(PeerOpen open, FsmConfig config = ebgp()) {
  Fsm f = in_state(State::OpenSent, config);
  const Actions out = f.handle(Event::BGPOpen, open);
  if (f.state() == State::OpenConfirm) return std::nullopt;
  EXPECT_EQ(f.state(), State::Idle);
  return notification_in(out);
}

TEST(FsmOpenCheck, OpenWithAnotherVersionIsRefusedNamingVersion4) {
  PeerOpen o = router_open();
  o.version = 3;
  EXPECT_EQ(refusal_of(o), (SendNotification{2, 1, {0x00, 0x04}}));
  o.version = 5;
  EXPECT_EQ(refusal_of(o), (SendNotification{2, 1, {0x00, 0x04}}));
}

TEST(FsmOpenCheck, OpenFromAnUnexpectedAsIsRefusedAsBadPeerAs) {
  PeerOpen o = router_open();
  o.asn = 65099;
  EXPECT_EQ(refusal_of(o), (SendNotification{2, 2, {}}));
  o.asn = 0;
  EXPECT_EQ(refusal_of(o), (SendNotification{2, 2, {}}));
}

TEST(FsmOpenCheck, FourByteAsOfTheRouterIsAccepted) {
  FsmConfig c = ebgp();
  c.remote_asn = 4200000001u;
  PeerOpen o = router_open();
  o.asn = 4200000001u;
  EXPECT_EQ(refusal_of(o, c), std::nullopt);
}

TEST(FsmOpenCheck, HoldTimeOfOneOrTwoSecondsIsRefused) {
  for (uint16_t hold : {1, 2}) EXPECT_EQ(refusal_of(router_open(hold)), (SendNotification{2, 6, {}})) << hold;
  for (uint16_t hold : {0, 3, 65535}) EXPECT_EQ(refusal_of(router_open(hold)), std::nullopt) << hold;
}

TEST(FsmOpenCheck, IdentifierZeroOrAllOnesIsRefused) {
  for (uint32_t id : {0u, 0xffffffffu}) {
    PeerOpen o = router_open();
    o.bgp_id = id;
    EXPECT_EQ(refusal_of(o), (SendNotification{2, 3, {}})) << id;
  }
}

TEST(FsmOpenCheck, InternalPeerWithOurIdentifierIsRefused) {
  FsmConfig c = ebgp();
  c.remote_asn = kOurAs;
  PeerOpen o = router_open();
  o.asn = kOurAs;
  o.bgp_id = kOurId;
  EXPECT_EQ(refusal_of(o, c), (SendNotification{2, 3, {}}));
}

TEST(FsmOpenCheck, ExternalPeerMayShareOurIdentifier) {
  PeerOpen o = router_open();
  o.bgp_id = kOurId;
  EXPECT_EQ(refusal_of(o), std::nullopt);
}

TEST(FsmOpenCheck, VersionIsCheckedBeforeEverythingElse) {
  PeerOpen o{.version = 3, .asn = 1, .hold_time = 1, .bgp_id = 0, .four_byte_as_cap = false};
  EXPECT_EQ(check_open(ebgp(), o), (NotificationInfo{2, 1, {0, 4}}));
  o.version = 4;
  EXPECT_EQ(check_open(ebgp(), o), (NotificationInfo{2, 2, {}}));
  o.asn = kRouterAs;
  EXPECT_EQ(check_open(ebgp(), o), (NotificationInfo{2, 6, {}}));
}

TEST(FsmOpenCheck, RefusedOpenCountsAsAFailureAndIsRemembered) {
  PeerOpen o = router_open();
  o.asn = 65099;
  Fsm f = in_state(State::OpenSent);
  f.handle(Event::BGPOpen, o);
  EXPECT_EQ(f.counters().last_error, (FsmCounters::Error{2, 2, true}));
  EXPECT_EQ(f.counters().notifications_sent, 1u);
  EXPECT_EQ(f.counters().connect_retry_counter, 1u);
}

// ---------------------------------------------------------------------------------------------
// Hold time negotiation

TEST(FsmHoldTime, TheShorterHoldTimeWinsAndKeepaliveIsAThird) {
  EXPECT_EQ(negotiate_timers(90s, 180, std::nullopt), (NegotiatedTimers{90s, 30s}));
  EXPECT_EQ(negotiate_timers(90s, 30, std::nullopt), (NegotiatedTimers{30s, 10s}));
  EXPECT_EQ(negotiate_timers(3s, 90, std::nullopt), (NegotiatedTimers{3s, 1s}));
  EXPECT_EQ(negotiate_timers(90s, 4, std::nullopt), (NegotiatedTimers{4s, 1s}));
}

TEST(FsmHoldTime, ZeroOnEitherSideTurnsOffKeepalivesAndHoldTimer) {
  EXPECT_EQ(negotiate_timers(90s, 0, std::nullopt), (NegotiatedTimers{0s, 0s}));
  EXPECT_EQ(negotiate_timers(0s, 90, std::nullopt), (NegotiatedTimers{0s, 0s}));
  EXPECT_EQ(negotiate_timers(0s, 90, 10s), (NegotiatedTimers{0s, 0s}));
}

TEST(FsmHoldTime, ConfiguredKeepaliveIsUsedButNeverMoreThanAThirdOfHold) {
  EXPECT_EQ(negotiate_timers(90s, 90, 10s), (NegotiatedTimers{90s, 10s}));
  EXPECT_EQ(negotiate_timers(90s, 90, 60s), (NegotiatedTimers{90s, 30s}));
  EXPECT_EQ(negotiate_timers(90s, 9, 5s), (NegotiatedTimers{9s, 3s}));
}

TEST(FsmHoldTime, RoutersShorterHoldTimeArmsTheTimers) {
  Fsm f = in_state(State::OpenSent);
  EXPECT_EQ(f.handle(Event::BGPOpen, router_open(9)),
            (Actions{SendKeepalive{}, StartTimer{Timer::Keepalive, 3s}, StartTimer{Timer::Hold, 9s}}));
  EXPECT_EQ(f.handle(Event::KeepAliveMsg), (Actions{StartTimer{Timer::Hold, 9s}, StartTimer{Timer::BackoffReset, 300s},
                                                    SessionEstablished{kRouterAs, kRouterId, 9s, 3s, true}}));
}

TEST(FsmHoldTime, ConfiguredKeepaliveShowsInTheSession) {
  FsmConfig c = ebgp();
  c.keepalive = 10s;
  Fsm f = in_state(State::Established, c);
  EXPECT_EQ(f.negotiated(), (NegotiatedTimers{90s, 10s}));
  EXPECT_EQ(f.handle(Event::KeepaliveTimer_Expires), (Actions{SendKeepalive{}, StartTimer{Timer::Keepalive, 10s}}));
}

TEST(FsmHoldTime, RouterAskingForZeroGetsNoKeepalivesAndNoHoldTimer) {
  Fsm f = in_state(State::OpenSent);
  EXPECT_EQ(f.handle(Event::BGPOpen, router_open(0)), (Actions{SendKeepalive{}}));
  // The four-minute OpenSent guard still covers a router that never confirms.
  EXPECT_TRUE(f.timer_running(Timer::Hold));
  EXPECT_EQ(f.handle(Event::KeepAliveMsg), (Actions{StopTimer{Timer::Hold}, StartTimer{Timer::BackoffReset, 300s},
                                                    SessionEstablished{kRouterAs, kRouterId, 0s, 0s, true}}));
  EXPECT_EQ(f.handle(Event::KeepAliveMsg), Actions{});
  EXPECT_EQ(f.handle(Event::UpdateMsg), Actions{ProcessUpdate{}});
  EXPECT_EQ(f.update_sent(), Actions{});
  EXPECT_EQ(f.handle(Event::HoldTimer_Expires), Actions{});  // stale: not running
  EXPECT_EQ(f.state(), State::Established);
}

TEST(FsmHoldTime, ProposingZeroOurselvesAlsoTurnsTimersOff) {
  FsmConfig c = ebgp();
  c.hold_time = 0s;
  Fsm f = in_state(State::OpenConfirm, c);
  EXPECT_EQ(f.negotiated(), (NegotiatedTimers{0s, 0s}));
  EXPECT_FALSE(f.timer_running(Timer::Keepalive));
}

TEST(FsmHoldTime, SilentRouterInOpenConfirmWithZeroHoldStillTimesOut) {
  Fsm f = in_state(State::OpenConfirm, ebgp(), router_open(0));
  EXPECT_EQ(notification_in(f.handle(Event::HoldTimer_Expires)), (SendNotification{4, 0, {}}));
}

// ---------------------------------------------------------------------------------------------
// OpenConfirm

TEST(FsmOpenConfirm, RoutersKeepaliveEstablishesTheSession) {
  Fsm f = in_state(State::OpenConfirm);
  EXPECT_EQ(f.handle(Event::KeepAliveMsg), (Actions{StartTimer{Timer::Hold, 90s}, StartTimer{Timer::BackoffReset, 300s},
                                                    SessionEstablished{kRouterAs, kRouterId, 90s, 30s, true}}));
  EXPECT_EQ(f.state(), State::Established);
  EXPECT_EQ(f.counters().established, 1u);
}

TEST(FsmOpenConfirm, KeepaliveTimerSendsKeepaliveAndRearms) {
  Fsm f = in_state(State::OpenConfirm);
  EXPECT_EQ(f.handle(Event::KeepaliveTimer_Expires), (Actions{SendKeepalive{}, StartTimer{Timer::Keepalive, 30s}}));
  EXPECT_EQ(f.state(), State::OpenConfirm);
}

TEST(FsmOpenConfirm, HoldTimerExpiryStopsKeepalivesAndSendsHoldTimerExpired) {
  Fsm f = in_state(State::OpenConfirm);
  EXPECT_EQ(f.handle(Event::HoldTimer_Expires),
            (Actions{SendNotification{4, 0, {}}, StopTimer{Timer::Keepalive}, ReleaseResources{}, DropConnection{},
                     StartTimer{Timer::IdleHold, 5s}}));
}

TEST(FsmOpenConfirm, SecondOpenOrEarlyUpdateIsUnexpectedInOpenConfirm) {
  for (Event e : {Event::BGPOpen, Event::UpdateMsg, Event::UpdateMsgErr}) {
    Fsm f = in_state(State::OpenConfirm);
    EXPECT_EQ(notification_in(f.handle(e, payload_for(e))), (SendNotification{5, 2, {}})) << to_string(e);
  }
}

TEST(FsmOpenConfirm, LostConnectionOrRoutersNotificationGoesIdleQuietly) {
  for (Event e : {Event::TcpConnectionFails, Event::NotifMsg}) {
    Fsm f = in_state(State::OpenConfirm);
    EXPECT_EQ(f.handle(e, payload_for(e)),
              (Actions{StopTimer{Timer::Hold}, StopTimer{Timer::Keepalive}, ReleaseResources{}, DropConnection{},
                       StartTimer{Timer::IdleHold, 5s}}))
        << to_string(e);
    EXPECT_EQ(f.counters().connect_retry_counter, 1u);
  }
}

TEST(FsmOpenConfirm, OperatorShutdownSendsAdministrativeShutdown) {
  Fsm f = in_state(State::OpenConfirm);
  EXPECT_EQ(f.handle(Event::ManualStop), (Actions{SendNotification{6, 2, {}}, StopTimer{Timer::Hold},
                                                  StopTimer{Timer::Keepalive}, ReleaseResources{}, DropConnection{}}));
  EXPECT_TRUE(f.admin_down());
}

TEST(FsmOpenConfirm, MalformedOpenIsReportedWithTheCodecsNotification) {
  Fsm f = in_state(State::OpenConfirm);
  EXPECT_EQ(notification_in(f.handle(Event::BGPOpenMsgErr, NotificationInfo{2, 4, {}})), (SendNotification{2, 4, {}}));
}

// ---------------------------------------------------------------------------------------------
// Established

TEST(FsmEstablished, RoutersKeepaliveRestartsTheHoldTimer) {
  Fsm f = in_state(State::Established);
  EXPECT_EQ(f.handle(Event::KeepAliveMsg), (Actions{StartTimer{Timer::Hold, 90s}}));
}

TEST(FsmEstablished, UpdateIsProcessedAndRestartsTheHoldTimer) {
  Fsm f = in_state(State::Established);
  EXPECT_EQ(f.handle(Event::UpdateMsg), (Actions{ProcessUpdate{}, StartTimer{Timer::Hold, 90s}}));
}

TEST(FsmEstablished, KeepaliveTimerSendsKeepaliveAndRearms) {
  Fsm f = in_state(State::Established);
  EXPECT_EQ(f.handle(Event::KeepaliveTimer_Expires), (Actions{SendKeepalive{}, StartTimer{Timer::Keepalive, 30s}}));
}

TEST(FsmEstablished, SendingAnUpdatePostponesTheNextKeepalive) {
  Fsm f = in_state(State::Established);
  EXPECT_EQ(f.update_sent(), (Actions{StartTimer{Timer::Keepalive, 30s}}));
  Fsm g = in_state(State::OpenConfirm);
  EXPECT_EQ(g.update_sent(), Actions{});
}

TEST(FsmEstablished, HoldTimerExpiryWithdrawsRoutesAndSendsHoldTimerExpired) {
  Fsm f = in_state(State::Established);
  EXPECT_EQ(f.handle(Event::HoldTimer_Expires),
            (Actions{SendNotification{4, 0, {}}, StopTimer{Timer::Keepalive}, StopTimer{Timer::BackoffReset},
                     SessionDown{DownReason::HoldTimerExpired, NotificationInfo{4, 0, {}}}, ReleaseResources{},
                     DropConnection{}, StartTimer{Timer::IdleHold, 5s}}));
  EXPECT_EQ(f.state(), State::Idle);
  EXPECT_FALSE(f.peer_open().has_value());
}

TEST(FsmEstablished, MalformedUpdateSendsTheCodecsUpdateError) {
  Fsm f = in_state(State::Established);
  const Actions out = f.handle(Event::UpdateMsgErr, NotificationInfo{3, 11, {}});
  EXPECT_EQ(notification_in(out), (SendNotification{3, 11, {}}));
  EXPECT_EQ(all_of_kind<SessionDown>(out),
            (std::vector<SessionDown>{{DownReason::MessageError, NotificationInfo{3, 11, {}}}}));
}

TEST(FsmEstablished, OpenOnAnEstablishedSessionIsUnexpectedInEstablished) {
  for (Event e : {Event::BGPOpen, Event::BGPOpenMsgErr}) {
    Fsm f = in_state(State::Established);
    const Actions out = f.handle(e, payload_for(e));
    EXPECT_EQ(notification_in(out), (SendNotification{5, 3, {}})) << to_string(e);
    EXPECT_EQ(all_of_kind<SessionDown>(out).at(0).reason, DownReason::FsmError);
  }
}

TEST(FsmEstablished, BadHeaderIsReportedWithTheCodecsNotification) {
  Fsm f = in_state(State::Established);
  EXPECT_EQ(notification_in(f.handle(Event::BGPHeaderErr, NotificationInfo{1, 3, {5}})), (SendNotification{1, 3, {5}}));
}

TEST(FsmEstablished, RoutersShutdownNotificationEndsTheSessionWithoutReply) {
  Fsm f = in_state(State::Established);
  const NotificationInfo shutdown{6, 2, encode_shutdown_communication("router maintenance")};
  EXPECT_EQ(f.handle(Event::NotifMsg, shutdown),
            (Actions{StopTimer{Timer::Hold}, StopTimer{Timer::Keepalive}, StopTimer{Timer::BackoffReset},
                     SessionDown{DownReason::NotificationReceived, shutdown}, ReleaseResources{}, DropConnection{},
                     StartTimer{Timer::IdleHold, 5s}}));
  EXPECT_EQ(f.counters().last_error, (FsmCounters::Error{6, 2, false}));
  EXPECT_EQ(f.counters().connect_retry_counter, 1u);
}

TEST(FsmEstablished, LostConnectionWithdrawsRoutes) {
  Fsm f = in_state(State::Established);
  const Actions out = f.handle(Event::TcpConnectionFails);
  EXPECT_EQ(all_of_kind<SessionDown>(out), (std::vector<SessionDown>{{DownReason::ConnectionLost, std::nullopt}}));
  EXPECT_FALSE(notification_in(out).has_value());
}

TEST(FsmEstablished, LosingACollisionWhileEstablishedSendsCollisionResolution) {
  Fsm f = in_state(State::Established);
  const Actions out = f.handle(Event::OpenCollisionDump);
  EXPECT_EQ(notification_in(out), (SendNotification{6, 7, {}}));
  EXPECT_EQ(all_of_kind<SessionDown>(out).at(0).reason, DownReason::CollisionResolved);
}

TEST(FsmEstablished, TooManyPrefixesStopsWithTheGivenCease) {
  Fsm f = in_state(State::Established);
  const Actions out = f.handle(Event::AutomaticStop, NotificationInfo{6, 1, {}});
  EXPECT_EQ(notification_in(out), (SendNotification{6, 1, {}}));
  EXPECT_EQ(all_of_kind<SessionDown>(out).at(0).reason, DownReason::AutomaticStop);
  EXPECT_TRUE(started(out, Timer::IdleHold).has_value());
}

TEST(FsmEstablished, OperatorShutdownSendsTheShutdownCommunicationAndStaysDown) {
  Fsm f = in_state(State::Established);
  const Actions out = f.handle(Event::ManualStop, AdminStop{.communication = "maintenance"});
  const std::vector<uint8_t> data = {11, 'm', 'a', 'i', 'n', 't', 'e', 'n', 'a', 'n', 'c', 'e'};
  EXPECT_EQ(out, (Actions{SendNotification{6, 2, data}, StopTimer{Timer::Hold}, StopTimer{Timer::Keepalive},
                          StopTimer{Timer::BackoffReset},
                          SessionDown{DownReason::AdminShutdown, NotificationInfo{6, 2, data}}, ReleaseResources{},
                          DropConnection{}}));
  EXPECT_TRUE(f.admin_down());
  EXPECT_EQ(f.handle(Event::AutomaticStart), Actions{});
  EXPECT_EQ(f.handle(Event::IdleHoldTimer_Expires), Actions{});
  EXPECT_EQ(f.state(), State::Idle);
  f.handle(Event::ManualStart);
  EXPECT_EQ(f.state(), State::Connect);
}

TEST(FsmEstablished, OperatorResetSendsAdministrativeResetAndComesBack) {
  Fsm f = in_state(State::Established);
  const Actions out =
      f.handle(Event::ManualStop, AdminStop{.kind = AdminStop::Kind::Reset, .communication = "new key"});
  EXPECT_EQ(notification_in(out), (SendNotification{6, 4, {7, 'n', 'e', 'w', ' ', 'k', 'e', 'y'}}));
  EXPECT_EQ(all_of_kind<SessionDown>(out).at(0).reason, DownReason::AdminReset);
  EXPECT_EQ(started(out, Timer::IdleHold), 5s);
  EXPECT_FALSE(f.admin_down());
  f.handle(Event::IdleHoldTimer_Expires);
  EXPECT_EQ(f.state(), State::Connect);
}

TEST(FsmEstablished, OperatorShutdownWithoutMessageSendsNoData) {
  Fsm f = in_state(State::Established);
  EXPECT_EQ(notification_in(f.handle(Event::ManualStop)), (SendNotification{6, 2, {}}));
}

TEST(FsmEstablished, StaleTimerExpiriesAreIgnored) {
  Fsm f = in_state(State::Established);
  for (Event e : {Event::ConnectRetryTimer_Expires, Event::IdleHoldTimer_Expires, Event::DelayOpenTimer_Expires})
    EXPECT_EQ(f.handle(e), Actions{}) << to_string(e);
  // A timer the FSM stopped may still have fired in the adapter's queue.
  f.handle(Event::TcpConnectionFails);
  f.handle(Event::ManualStart);
  EXPECT_EQ(f.handle(Event::HoldTimer_Expires), Actions{});
  EXPECT_EQ(f.handle(Event::KeepaliveTimer_Expires), Actions{});
  EXPECT_EQ(f.state(), State::Connect);
}

TEST(FsmIdle, OperatorResetWhileIdleRestartsSoonWithFreshBackoff) {
  Fsm f = in_state(State::Connect);
  for (int i = 0; i < 3; ++i) {
    f.handle(Event::TcpConnectionFails);
    f.handle(Event::IdleHoldTimer_Expires);
  }
  f.handle(Event::TcpConnectionFails);
  EXPECT_EQ(f.handle(Event::ManualStop, AdminStop{.kind = AdminStop::Kind::Reset}),
            (Actions{StopTimer{Timer::IdleHold}, StartTimer{Timer::IdleHold, 5s}}));
}

// ---------------------------------------------------------------------------------------------
// Restart backoff

std::vector<seconds> restart_delays(Fsm& f, int failures) {
  std::vector<seconds> delays;
  for (int i = 0; i < failures; ++i) {
    const auto out = f.handle(Event::TcpConnectionFails);
    delays.push_back(started(out, Timer::IdleHold).value_or(-1s));
    f.handle(Event::IdleHoldTimer_Expires);
  }
  return delays;
}

TEST(FsmBackoff, RestartDelayDoublesOnRepeatedFailuresUpToSixtySeconds) {
  Fsm f = in_state(State::Connect);
  EXPECT_THAT(restart_delays(f, 7), ElementsAre(5s, 10s, 20s, 40s, 60s, 60s, 60s));
}

TEST(FsmBackoff, ConfiguredMaximumCapsTheRestartDelay) {
  FsmConfig c = ebgp();
  c.max_backoff = 30s;
  Fsm f = in_state(State::Connect, c);
  EXPECT_THAT(restart_delays(f, 5), ElementsAre(5s, 10s, 20s, 30s, 30s));
}

TEST(FsmBackoff, SessionStableLongEnoughForgetsPastFailures) {
  Fsm f = in_state(State::Connect);
  restart_delays(f, 3);
  EXPECT_EQ(f.next_backoff(), 40s);
  f.handle(Event::Tcp_CR_Acked);
  f.handle(Event::BGPOpen, router_open());
  f.handle(Event::KeepAliveMsg);
  EXPECT_EQ(f.next_backoff(), 40s);
  EXPECT_EQ(f.handle(Event::BackoffResetTimer_Expires), Actions{});
  EXPECT_EQ(f.next_backoff(), 5s);
  EXPECT_EQ(started(f.handle(Event::HoldTimer_Expires), Timer::IdleHold), 5s);
}

TEST(FsmBackoff, SessionFlappingBeforeItIsStableKeepsBackingOff) {
  Fsm f = in_state(State::Connect);
  restart_delays(f, 2);
  f.handle(Event::Tcp_CR_Acked);
  f.handle(Event::BGPOpen, router_open());
  f.handle(Event::KeepAliveMsg);
  const Actions out = f.handle(Event::HoldTimer_Expires);
  EXPECT_THAT(all_of_kind<StopTimer>(out), ::testing::Contains(StopTimer{Timer::BackoffReset}));
  EXPECT_EQ(started(out, Timer::IdleHold), 20s);
}

TEST(FsmBackoff, ZeroStabilityTimeForgetsFailuresOnEstablishment) {
  FsmConfig c = ebgp();
  c.backoff_reset_after = 0s;
  Fsm f = in_state(State::Connect, c);
  restart_delays(f, 3);
  f.handle(Event::Tcp_CR_Acked);
  f.handle(Event::BGPOpen, router_open());
  const Actions out = f.handle(Event::KeepAliveMsg);
  EXPECT_FALSE(started(out, Timer::BackoffReset).has_value());
  EXPECT_EQ(f.next_backoff(), 5s);
}

TEST(FsmBackoff, OperatorStartForgetsPastFailures) {
  Fsm f = in_state(State::Connect);
  restart_delays(f, 4);
  f.handle(Event::ManualStop);
  EXPECT_EQ(f.next_backoff(), 5s);
  EXPECT_EQ(f.counters().connect_retry_counter, 0u);
  EXPECT_EQ(f.handle(Event::ManualStart), (Actions{StartTimer{Timer::ConnectRetry, 5s}, Connect{}}));
}

TEST(FsmBackoff, NoRestartIsScheduledWhenAutomaticRestartIsOff) {
  FsmConfig c = ebgp();
  c.allow_automatic_start = false;
  Fsm f = in_state(State::Established, c);
  const Actions out = f.handle(Event::HoldTimer_Expires);
  EXPECT_FALSE(started(out, Timer::IdleHold).has_value());
  EXPECT_EQ(f.state(), State::Idle);
}

TEST(FsmBackoff, FailuresAreCountedAcrossAutomaticRestarts) {
  Fsm f = in_state(State::OpenSent);
  f.handle(Event::HoldTimer_Expires);
  f.handle(Event::IdleHoldTimer_Expires);
  f.handle(Event::Tcp_CR_Acked);
  f.handle(Event::HoldTimer_Expires);
  EXPECT_EQ(f.counters().connect_retry_counter, 2u);
}

// ---------------------------------------------------------------------------------------------
// Shutdown communication (RFC 8203, RFC 9003)

TEST(FsmShutdownCommunication, MessageIsLengthThenText) {
  EXPECT_EQ(encode_shutdown_communication("maintenance"),
            (std::vector<uint8_t>{11, 'm', 'a', 'i', 'n', 't', 'e', 'n', 'a', 'n', 'c', 'e'}));
  EXPECT_EQ(encode_shutdown_communication(""), std::vector<uint8_t>{});
}

TEST(FsmShutdownCommunication, NonAsciiTextIsCarriedAsUtf8) {
  const auto data = encode_shutdown_communication("Wartung \xc3\xa4");  // "Wartung ä"
  EXPECT_EQ(data.size(), 11u);
  EXPECT_EQ(data[0], 10);
  EXPECT_EQ(std::string(data.begin() + 1, data.end()), "Wartung \xc3\xa4");
}

TEST(FsmShutdownCommunication, MessageIsCutAt255Bytes) {
  const auto exact = encode_shutdown_communication(std::string(255, 'x'));
  EXPECT_EQ(exact.size(), 256u);
  EXPECT_EQ(exact[0], 255);
  const auto longer = encode_shutdown_communication(std::string(400, 'x'));
  EXPECT_EQ(longer.size(), 256u);
  EXPECT_EQ(longer[0], 255);
}

TEST(FsmShutdownCommunication, CutNeverSplitsACharacter) {
  // A two-byte character straddling byte 255 is left out whole.
  auto data = encode_shutdown_communication(std::string(254, 'x') + "\xc3\xa4");
  EXPECT_EQ(data[0], 254);
  EXPECT_EQ(data.size(), 255u);
  // A two-byte character ending exactly at byte 255 stays.
  data = encode_shutdown_communication(std::string(253, 'x') + "\xc3\xa4" + "tail");
  EXPECT_EQ(data[0], 255);
  EXPECT_EQ(data.back(), 0xa4);
  // Three- and four-byte characters cut after one or two of their bytes.
  data = encode_shutdown_communication(std::string(253, 'x') + "\xe2\x82\xac");  // euro sign
  EXPECT_EQ(data[0], 253);
  data = encode_shutdown_communication(std::string(254, 'x') + "\xe2\x82\xac");
  EXPECT_EQ(data[0], 254);
  data = encode_shutdown_communication(std::string(252, 'x') + "\xf0\x9f\x9a\xa7");  // construction sign
  EXPECT_EQ(data[0], 252);
  data = encode_shutdown_communication(std::string(251, 'x') + "\xf0\x9f\x9a\xa7" + "y");
  EXPECT_EQ(data[0], 255);
  EXPECT_EQ(data.back(), 0xa7);
}

TEST(FsmShutdownCommunication, LongOperatorMessageReachesTheNotificationCut) {
  Fsm f = in_state(State::Established);
  std::string text;
  while (text.size() < 300) text += "\xc3\xa4";
  const auto sent = notification_in(f.handle(Event::ManualStop, AdminStop{.communication = text}));
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->data.size(), 255u);  // 254 bytes of text: 127 whole characters
  EXPECT_EQ(sent->data[0], 254);
}

// ---------------------------------------------------------------------------------------------
// Connection collisions (RFC 4271 §6.8)

TEST(FsmCollision, HigherLocalIdentifierKeepsTheConnectionWeOpened) {
  EXPECT_EQ(resolve_collision(kOurId, kRouterId, State::OpenConfirm, Initiator::Local, kOurAs, kRouterAs),
            CollisionResult::KeepExisting);
  EXPECT_EQ(resolve_collision(kOurId, kRouterId, State::OpenConfirm, Initiator::Remote, kOurAs, kRouterAs),
            CollisionResult::KeepNew);
}

TEST(FsmCollision, HigherRouterIdentifierKeepsTheConnectionTheRouterOpened) {
  EXPECT_EQ(resolve_collision(kRouterId, kOurId, State::OpenConfirm, Initiator::Local, kOurAs, kRouterAs),
            CollisionResult::KeepNew);
  EXPECT_EQ(resolve_collision(kRouterId, kOurId, State::OpenConfirm, Initiator::Remote, kOurAs, kRouterAs),
            CollisionResult::KeepExisting);
}

TEST(FsmCollision, EqualIdentifiersAreDecidedByTheLargerAs) {
  EXPECT_EQ(resolve_collision(kOurId, kOurId, State::OpenConfirm, Initiator::Local, 65001, 65000),
            CollisionResult::KeepExisting);
  EXPECT_EQ(resolve_collision(kOurId, kOurId, State::OpenConfirm, Initiator::Local, 65000, 65001),
            CollisionResult::KeepNew);
}

TEST(FsmCollision, NoCollisionUntilTheExistingConnectionHasSeenAnOpen) {
  for (State s : {State::Idle, State::Connect, State::Active, State::OpenSent})
    EXPECT_EQ(resolve_collision(kRouterId, kOurId, s, Initiator::Local, kOurAs, kRouterAs),
              CollisionResult::NoCollision)
        << to_string(s);
}

TEST(FsmCollision, EstablishedSessionIsKeptUnlessConfiguredOtherwise) {
  EXPECT_EQ(resolve_collision(kRouterId, kOurId, State::Established, Initiator::Local, kOurAs, kRouterAs),
            CollisionResult::KeepExisting);
  EXPECT_EQ(resolve_collision(kRouterId, kOurId, State::Established, Initiator::Local, kOurAs, kRouterAs, true),
            CollisionResult::KeepNew);
}

TEST(FsmCollision, LoserOfACollisionEndsWithCeaseAndTheWinnerCarriesOn) {
  Fsm ours = in_state(State::OpenConfirm);  // the connection we dialled
  Fsm theirs = in_state(State::OpenSent, passive());
  theirs.handle(Event::BGPOpen, router_open());
  ASSERT_EQ(theirs.state(), State::OpenConfirm);
  // Our identifier 192.0.2.10 beats the router's 192.0.2.1, so the connection we opened wins.
  ASSERT_EQ(resolve_collision(kOurId, kRouterId, ours.state(), Initiator::Local, kOurAs, kRouterAs),
            CollisionResult::KeepExisting);
  EXPECT_EQ(notification_in(theirs.handle(Event::OpenCollisionDump)), (SendNotification{6, 7, {}}));
  EXPECT_EQ(theirs.state(), State::Idle);
  ours.handle(Event::KeepAliveMsg);
  EXPECT_EQ(ours.state(), State::Established);
}

// ---------------------------------------------------------------------------------------------
// Counters, hooks, config

TEST(FsmCounters, TransitionsEstablishmentsAndStateChangeTimeAreRecorded) {
  Fsm f(ebgp());
  auto now = std::chrono::steady_clock::time_point{} + 1000s;
  f.set_clock([&] { return now; });
  std::vector<std::tuple<State, State, Event>> seen;
  f.set_transition_hook([&](State from, State to, Event cause) { seen.emplace_back(from, to, cause); });
  f.handle(Event::ManualStart);
  f.handle(Event::Tcp_CR_Acked);
  f.handle(Event::BGPOpen, router_open());
  now += 5s;
  f.handle(Event::KeepAliveMsg);
  f.handle(Event::KeepAliveMsg);  // no change of state, no transition
  EXPECT_EQ(f.counters().transitions, 4u);
  EXPECT_EQ(f.counters().established, 1u);
  EXPECT_EQ(f.counters().last_state_change, std::chrono::steady_clock::time_point{} + 1005s);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen.back(), std::make_tuple(State::OpenConfirm, State::Established, Event::KeepAliveMsg));
  now += 60s;
  f.handle(Event::HoldTimer_Expires);
  EXPECT_EQ(f.counters().last_state_change, std::chrono::steady_clock::time_point{} + 1065s);
  EXPECT_EQ(f.counters().last_error, (FsmCounters::Error{4, 0, true}));
  EXPECT_EQ(f.counters().notifications_sent, 1u);
}

TEST(FsmConfigCheck, ImpossibleSettingsAreRefused) {
  auto bad = [](auto change) {
    FsmConfig c = ebgp();
    change(c);
    EXPECT_THROW(Fsm{c}, std::invalid_argument);
  };
  bad([](FsmConfig& c) { c.hold_time = 1s; });
  bad([](FsmConfig& c) { c.hold_time = 2s; });
  bad([](FsmConfig& c) { c.hold_time = 65536s; });
  bad([](FsmConfig& c) { c.local_asn = 0; });
  bad([](FsmConfig& c) { c.remote_asn = 0; });
  bad([](FsmConfig& c) { c.local_bgp_id = 0; });
  bad([](FsmConfig& c) { c.keepalive = 0s; });
  bad([](FsmConfig& c) { c.connect_retry = 0s; });
  bad([](FsmConfig& c) { c.max_backoff = 4s; });
  EXPECT_NO_THROW(Fsm{ebgp()});
  FsmConfig zero = ebgp();
  zero.hold_time = 0s;
  EXPECT_NO_THROW(Fsm{zero});
}

TEST(FsmNames, ActionsReadWellInLogs) {
  EXPECT_EQ(to_string(Actions{SendNotification{2, 1, {0, 4}}, StartTimer{Timer::Hold, 240s},
                              SessionDown{DownReason::HoldTimerExpired, NotificationInfo{4, 0, {}}}}),
            "[SendNotification(2/1, data 0004), StartTimer(Hold, 240s), SessionDown(hold timer expired, 4/0)]");
  EXPECT_EQ(to_string(Action{SessionEstablished{kRouterAs, kRouterId, 90s, 30s, true}}),
            "SessionEstablished(AS65000, id 192.0.2.1, hold 90s, keepalive 30s)");
  EXPECT_EQ(to_string(Event::UpdateMsgErr), "UpdateMsgErr");
  EXPECT_EQ(expiry_event(Timer::IdleHold), Event::IdleHoldTimer_Expires);
}

}  // namespace
}  // namespace vane::bgp
