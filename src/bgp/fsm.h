#pragma once
// The RFC 4271 §8 BGP finite state machine for one connection to one neighbour, as a pure class.
//
// It owns no socket, no timer and no clock. The session adapter turns what happens (a TCP connect
// completing, a decoded message, a timer firing, an operator command) into an Event, calls
// Fsm::handle(), and carries out the returned Actions in order: sending a NOTIFICATION always comes
// before dropping the connection it goes on. Timers are named by kind; the adapter arms one real timer
// per kind and reports its expiry with expiry_event(kind). An expiry for a timer the FSM has not
// started, or has stopped since, is stale (the cancel raced the expiry) and is ignored.
//
// Connection collisions (RFC 4271 §6.8) involve two connections, hence two Fsm instances; the adapter
// feeds the OPEN to the new connection's FSM first (so it is validated), then, if another connection to
// the same neighbour is in OpenConfirm or Established, asks resolve_collision() which one loses and
// feeds the loser Event::OpenCollisionDump.
//
// Departures from RFC 4271, each for an operator-visible reason:
//  - DelayOpen is not supported; events 12 and 20 never start anything.
//  - Automatic restart is built in: after a fall to Idle that the operator did not ask for, the FSM
//    arms IdleHold with an exponential backoff and restarts itself when it expires (the RFC leaves
//    damping to the implementation). The same backoff paces the ConnectRetry timer.
//    Damping belongs to the side that calls: the peer's own call during IdleHold
//    (AutomaticStart_with_PassiveTcpEstablishment) is taken at once, unless the fall was the
//    peer's fault (we sent it a NOTIFICATION for a malformed message, an FSM error or too many
//    prefixes): then it waits for IdleHold like our own calls (damped()).
//  - A passive neighbour never starts ConnectRetry and never connects, even from Active.
//  - Every fall to Idle stops every timer (the RFC leaves ConnectRetry running after a failure in
//    Active, where it can only fire uselessly).
//  - A NOTIFICATION received in OpenSent is not answered with an FSM-error NOTIFICATION: the peer
//    has already closed its side, as the RFC itself assumes in OpenConfirm and Established.
//  - A bad message header in Established is answered with the codec's Message Header Error (RFC 4271
//    §6.1), not the FSM error the §8.2.2 table lists: it tells the peer's operator what was wrong.
//  - With a negotiated hold time of 0 the OpenSent hold timer keeps running through OpenConfirm, so a
//    peer that never sends its KEEPALIVE cannot leave the session half-open forever.
//  - The ConnectRetryCounter counts failures since the operator last started or stopped the session,
//    not since the last automatic restart, so it says how long a neighbour has been failing.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "bgp/wire/notification.h"

namespace vane::bgp {

enum class State : uint8_t { Idle, Connect, Active, OpenSent, OpenConfirm, Established };

// RFC 4271 §8.1: the RFC's event numbers and names, and what the event carries as payload.
enum class Event : uint8_t {
  ManualStart = 1,
  ManualStop = 2,  // payload AdminStop
  AutomaticStart = 3,
  ManualStart_with_PassiveTcpEstablishment = 4,
  AutomaticStart_with_PassiveTcpEstablishment = 5,
  AutomaticStart_with_DampPeerOscillations = 6,
  AutomaticStart_with_DampPeerOscillations_and_PassiveTcpEstablishment = 7,
  AutomaticStop = 8,  // payload NotificationInfo: the Cease to send (e.g. 6/1); 6/0 without
  ConnectRetryTimer_Expires = 9,
  HoldTimer_Expires = 10,
  KeepaliveTimer_Expires = 11,
  DelayOpenTimer_Expires = 12,  // DelayOpen is unsupported: ignored
  IdleHoldTimer_Expires = 13,
  TcpConnection_Valid = 14,
  Tcp_CR_Invalid = 15,
  Tcp_CR_Acked = 16,            // our connect() completed
  TcpConnectionConfirmed = 17,  // we accepted theirs
  TcpConnectionFails = 18,
  BGPOpen = 19,                              // payload PeerOpen
  BGPOpen_with_DelayOpenTimer_running = 20,  // cannot happen without DelayOpen; an unexpected OPEN
  BGPHeaderErr = 21,                         // payload NotificationInfo: the codec's verdict, to send
  BGPOpenMsgErr = 22,                        // payload NotificationInfo: the codec's verdict, to send
  OpenCollisionDump = 23,
  NotifMsgVerErr = 24,  // payload NotificationInfo: the one received
  NotifMsg = 25,        // payload NotificationInfo: the one received
  KeepAliveMsg = 26,
  UpdateMsg = 27,
  UpdateMsgErr = 28,  // payload NotificationInfo: the codec's verdict, to send
  // vane's own, outside the RFC's numbering: the session has been Established long enough for its
  // past failures to be forgotten (the restart backoff starts again from the bottom).
  BackoffResetTimer_Expires = 100,
};

enum class Timer : uint8_t { ConnectRetry, Hold, Keepalive, IdleHold, BackoffReset };
inline constexpr std::size_t kTimerCount = 5;

// The peer's OPEN as the codec decoded it; the FSM needs nothing else from it.
struct PeerOpen {
  uint8_t version = 4;
  uint32_t asn = 0;  // 4-byte, resolved from the capability when the peer sent one
  uint16_t hold_time = 0;
  uint32_t bgp_id = 0;
  bool four_byte_as_cap = false;
};

// A NOTIFICATION: one to send (payload of the *Err events and AutomaticStop), or one received
// (payload of NotifMsg / NotifMsgVerErr).
struct NotificationInfo {
  uint8_t code = 0;
  uint8_t subcode = 0;
  std::vector<uint8_t> data;
  bool operator==(const NotificationInfo&) const = default;
};

// Payload of ManualStop: shutdown (Cease 6/2, stays down) or reset (Cease 6/4, comes back up), with
// an optional RFC 8203/9003 shutdown communication for the peer's operator.
struct AdminStop {
  enum class Kind : uint8_t { Shutdown, Reset };
  Kind kind = Kind::Shutdown;
  std::string communication;
};

using Payload = std::variant<std::monostate, PeerOpen, NotificationInfo, AdminStop>;

struct FsmConfig {
  uint32_t local_asn = 0;
  uint32_t remote_asn = 0;
  uint32_t local_bgp_id = 0;
  std::chrono::seconds hold_time{90};             // proposed: 0, or 3..65535
  std::optional<std::chrono::seconds> keepalive;  // default a third of the negotiated hold time
  std::chrono::seconds connect_retry{5};          // ConnectRetry, and the first restart delay
  bool passive = false;                           // wait for the peer to connect, never connect
  bool allow_automatic_start = true;              // restart by itself after a failure
  std::chrono::seconds max_backoff{60};           // restart delay doubles up to this
  std::chrono::seconds backoff_reset_after{300};  // Established this long forgets past failures
  std::chrono::seconds open_hold_time{240};       // RFC 4271's "large value" in OpenSent
};

// Throws std::invalid_argument naming the bad field; the config layer should have refused it.
void check_config(const FsmConfig& config);

// ---- Actions, carried out by the adapter in the order returned ----
struct Connect {  // initiate the TCP connection
  bool operator==(const Connect&) const = default;
};
struct DropConnection {
  bool operator==(const DropConnection&) const = default;
};
struct SendOpen {  // built by the adapter from the neighbour's config
  bool operator==(const SendOpen&) const = default;
};
struct SendKeepalive {
  bool operator==(const SendKeepalive&) const = default;
};
struct SendNotification {
  uint8_t code = 0;
  uint8_t subcode = 0;
  std::vector<uint8_t> data;
  bool operator==(const SendNotification&) const = default;
};
struct StartTimer {  // (re)arm: an already running timer of this kind starts over
  Timer timer;
  std::chrono::seconds duration;
  bool operator==(const StartTimer&) const = default;
};
struct StopTimer {
  Timer timer;
  bool operator==(const StopTimer&) const = default;
};
struct SessionEstablished {  // start exchanging routes
  uint32_t peer_asn = 0;
  uint32_t peer_bgp_id = 0;
  std::chrono::seconds hold_time{0};  // negotiated; 0 = no keepalives, no hold timer
  std::chrono::seconds keepalive{0};
  bool four_byte_as = false;
  bool operator==(const SessionEstablished&) const = default;
};
enum class DownReason : uint8_t {
  AdminShutdown,  // ManualStop
  AdminReset,     // ManualStop with AdminStop::Kind::Reset
  AutomaticStop,  // e.g. too many prefixes
  HoldTimerExpired,
  ConnectionLost,  // TcpConnectionFails
  NotificationReceived,
  MessageError,  // we found a malformed message and said so
  FsmError,      // a message that has no place in the current state
  CollisionResolved,
};
struct SessionDown {  // withdraw everything learned on this session
  DownReason reason;
  std::optional<NotificationInfo> notification;  // the one sent or received, if any
  bool operator==(const SessionDown&) const = default;
};
struct ProcessUpdate {  // the UPDATE behind Event::UpdateMsg may be applied
  bool operator==(const ProcessUpdate&) const = default;
};
struct ReleaseResources {  // the connection's buffers and state; every fall to Idle
  bool operator==(const ReleaseResources&) const = default;
};

using Action = std::variant<Connect, DropConnection, SendOpen, SendKeepalive, SendNotification, StartTimer, StopTimer,
                            SessionEstablished, SessionDown, ProcessUpdate, ReleaseResources>;
using Actions = std::vector<Action>;

struct FsmCounters {
  struct Error {
    uint8_t code = 0;
    uint8_t subcode = 0;
    bool sent = false;  // false: the peer sent it
    bool operator==(const Error&) const = default;
  };
  uint64_t transitions = 0;  // state changes, not events
  uint64_t established = 0;  // times the session reached Established
  uint32_t connect_retry_counter = 0;
  uint64_t notifications_sent = 0;
  uint64_t notifications_received = 0;
  std::optional<Error> last_error;
  std::chrono::steady_clock::time_point last_state_change{};  // from the clock given to set_clock
};

// Negotiated timers (RFC 4271 §4.2, §10): hold = min(ours, theirs); 0 turns off both timers.
struct NegotiatedTimers {
  std::chrono::seconds hold_time{0};
  std::chrono::seconds keepalive{0};
  bool operator==(const NegotiatedTimers&) const = default;
};
NegotiatedTimers negotiate_timers(std::chrono::seconds local_hold, uint16_t peer_hold,
                                  std::optional<std::chrono::seconds> keepalive);

// RFC 4271 §6.2 checks of a decoded OPEN; the NOTIFICATION to send, or nullopt when acceptable.
std::optional<NotificationInfo> check_open(const FsmConfig& config, const PeerOpen& open);

// RFC 8203/9003 shutdown communication (the codec's one encoder). The text is expected to be valid
// UTF-8 already (the control API checks it). Decoding a received one is the codec's job
// (wire::shutdown_communication), which also checks the UTF-8.
using wire::encode_shutdown_communication;

// RFC 4271 §6.8 with RFC 6286 §2.3 for equal identifiers.
enum class Initiator : uint8_t { Local, Remote };  // who opened the TCP connection
enum class CollisionResult : uint8_t {
  NoCollision,   // the existing connection has not seen the peer's OPEN: let both run
  KeepExisting,  // dump the new connection
  KeepNew,       // dump the existing connection
};
CollisionResult resolve_collision(uint32_t local_id, uint32_t remote_id, State existing_state,
                                  Initiator existing_initiator, uint32_t local_asn, uint32_t remote_asn,
                                  bool collision_detect_established = false);

Event expiry_event(Timer timer);
std::string_view to_string(State state);
std::string_view to_string(Event event);
std::string_view to_string(Timer timer);
std::string_view to_string(DownReason reason);
std::string to_string(const Action& action);
std::string to_string(const Actions& actions);

class Fsm {
 public:
  explicit Fsm(FsmConfig config);  // throws std::invalid_argument, see check_config

  Actions handle(Event event, const Payload& payload = {});
  // We sent an UPDATE: RFC 4271 restarts the keepalive timer then, to save a KEEPALIVE.
  Actions update_sent();

  State state() const { return state_; }
  const FsmConfig& config() const { return config_; }
  const FsmCounters& counters() const { return counters_; }
  // From the peer's accepted OPEN; set in OpenConfirm and Established.
  const std::optional<PeerOpen>& peer_open() const { return peer_open_; }
  const std::optional<NegotiatedTimers>& negotiated() const { return negotiated_; }
  // What the next restart (or connect retry) will wait.
  std::chrono::seconds next_backoff() const { return backoff_; }
  bool timer_running(Timer timer) const { return running_[static_cast<std::size_t>(timer)]; }
  // Shut down by the operator (ManualStop), so no automatic restart.
  bool admin_down() const { return admin_down_; }
  // The operator's stop is lifted while something else (BFD) still keeps the session Idle.
  void clear_admin_down() { admin_down_ = false; }
  // In IdleHold after a fall that was the peer's fault: its connections are refused until then.
  bool damped() const { return damped_ && timer_running(Timer::IdleHold); }
  // A new ConnectRetry (and first restart delay) for the next waits; what runs is left alone.
  void set_connect_retry(std::chrono::seconds connect_retry);

  void set_clock(std::function<std::chrono::steady_clock::time_point()> now) { now_ = std::move(now); }
  // Called on every state change, after the FSM's own bookkeeping; for logging.
  void set_transition_hook(std::function<void(State from, State to, Event cause)> hook) { hook_ = std::move(hook); }

 private:
  struct Down;  // how a fall to Idle goes; defined in fsm.cc

  Actions in_idle(Event event, const Payload& payload);
  Actions in_connect(Event event, const Payload& payload);
  Actions in_active(Event event, const Payload& payload);
  Actions in_open_sent(Event event, const Payload& payload);
  Actions in_open_confirm(Event event, const Payload& payload);
  Actions in_established(Event event, const Payload& payload);

  void start(Actions& out, bool passive, Event cause);
  void to_open_sent(Actions& out, Event cause);
  void on_open(Actions& out, const Payload& payload, Event cause);
  void to_established(Actions& out, Event cause);
  void fall(Actions& out, const Down& down, Event cause);
  void admin_stop(Actions& out, const Payload& payload, Event cause);
  void fsm_error(Actions& out, uint8_t subcode, Event cause);
  void notify_and_fall(Actions& out, NotificationInfo n, DownReason reason, Event cause);

  void start_timer(Actions& out, Timer timer, std::chrono::seconds duration);
  void stop_timer(Actions& out, Timer timer);
  void restart_hold(Actions& out);
  void advance_backoff();
  void reset_backoff() { backoff_ = config_.connect_retry; }
  void set_state(State to, Event cause);

  FsmConfig config_;
  State state_ = State::Idle;
  FsmCounters counters_;
  std::optional<PeerOpen> peer_open_;
  std::optional<NegotiatedTimers> negotiated_;
  std::chrono::seconds backoff_;
  std::array<bool, kTimerCount> running_{};
  bool admin_down_ = false;
  bool damped_ = false;  // the last fall was the peer's fault
  std::function<std::chrono::steady_clock::time_point()> now_;
  std::function<void(State, State, Event)> hook_;
};

}  // namespace vane::bgp
