#include "bgp/fsm.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace vane::bgp {
namespace {

using std::chrono::seconds;

// NOTIFICATION codes (RFC 4271 §4.5) and the subcodes this file sends.
constexpr uint8_t kHeaderError = 1;
constexpr uint8_t kOpenError = 2;
constexpr uint8_t kUpdateError = 3;
constexpr uint8_t kHoldTimerExpired = 4;
constexpr uint8_t kFsmError = 5;
constexpr uint8_t kCease = 6;
constexpr uint8_t kCeaseBfdDown = 10;

constexpr uint8_t kUnsupportedVersion = 1;
constexpr uint8_t kBadPeerAs = 2;
constexpr uint8_t kBadBgpId = 3;
constexpr uint8_t kUnacceptableHoldTime = 6;

// RFC 6608: which state an unexpected message arrived in; 0 when the event was not a message.
constexpr uint8_t kFsmUnspecified = 0;
constexpr uint8_t kFsmInOpenSent = 1;
constexpr uint8_t kFsmInOpenConfirm = 2;
constexpr uint8_t kFsmInEstablished = 3;

// RFC 4486 Cease subcodes.
constexpr uint8_t kAdminShutdown = 2;
constexpr uint8_t kAdminReset = 4;
constexpr uint8_t kCollisionResolution = 7;

constexpr uint8_t kBgpVersion = 4;

std::optional<Timer> timer_of(Event event) {
  switch (event) {
    case Event::ConnectRetryTimer_Expires:
      return Timer::ConnectRetry;
    case Event::HoldTimer_Expires:
      return Timer::Hold;
    case Event::KeepaliveTimer_Expires:
      return Timer::Keepalive;
    case Event::IdleHoldTimer_Expires:
      return Timer::IdleHold;
    case Event::BackoffResetTimer_Expires:
      return Timer::BackoffReset;
    default:
      return std::nullopt;
  }
}

bool is_start(Event event) {
  switch (event) {
    case Event::ManualStart:
    case Event::AutomaticStart:
    case Event::ManualStart_with_PassiveTcpEstablishment:
    case Event::AutomaticStart_with_PassiveTcpEstablishment:
    case Event::AutomaticStart_with_DampPeerOscillations:
    case Event::AutomaticStart_with_DampPeerOscillations_and_PassiveTcpEstablishment:
      return true;
    default:
      return false;
  }
}

bool is_passive_start(Event event) {
  return event == Event::ManualStart_with_PassiveTcpEstablishment ||
         event == Event::AutomaticStart_with_PassiveTcpEstablishment ||
         event == Event::AutomaticStart_with_DampPeerOscillations_and_PassiveTcpEstablishment;
}

// What an event in the wrong place says about why the session fell, for SessionDown.
DownReason reason_for(Event event) {
  switch (event) {
    case Event::AutomaticStop:
      return DownReason::AutomaticStop;
    case Event::HoldTimer_Expires:
      return DownReason::HoldTimerExpired;
    case Event::TcpConnectionFails:
      return DownReason::ConnectionLost;
    case Event::BGPHeaderErr:
    case Event::BGPOpenMsgErr:
    case Event::UpdateMsgErr:
      return DownReason::MessageError;
    case Event::OpenCollisionDump:
      return DownReason::CollisionResolved;
    case Event::NotifMsgVerErr:
    case Event::NotifMsg:
      return DownReason::NotificationReceived;
    default:
      return DownReason::FsmError;
  }
}

NotificationInfo notification_or(const Payload& payload, uint8_t code, uint8_t subcode) {
  if (const auto* n = std::get_if<NotificationInfo>(&payload)) return *n;
  return NotificationInfo{code, subcode, {}};
}

// The peer's NOTIFICATION, when the event is one; other events' payloads are ours to send.
std::optional<NotificationInfo> received(Event event, const Payload& payload) {
  if (event != Event::NotifMsg && event != Event::NotifMsgVerErr) return std::nullopt;
  if (const auto* n = std::get_if<NotificationInfo>(&payload)) return *n;
  return std::nullopt;
}

AdminStop admin_stop_of(const Payload& payload) {
  if (const auto* s = std::get_if<AdminStop>(&payload)) return *s;
  return AdminStop{};
}

std::string dotted(uint32_t id) {
  return std::to_string(id >> 24) + "." + std::to_string((id >> 16) & 0xff) + "." + std::to_string((id >> 8) & 0xff) +
         "." + std::to_string(id & 0xff);
}

}  // namespace

// How one fall to Idle goes.
struct Fsm::Down {
  enum class Then : uint8_t { Restart, StayDown, RestartFresh };
  DownReason reason = DownReason::FsmError;
  std::optional<NotificationInfo> sent;
  std::optional<NotificationInfo> received;
  bool count_failure = true;
  Then then = Then::Restart;
};

void check_config(const FsmConfig& c) {
  auto fail = [](const char* why) { throw std::invalid_argument(std::string("bgp fsm config: ") + why); };
  if (c.local_asn == 0) fail("local_asn must not be 0");
  if (c.remote_asn == 0) fail("remote_asn must not be 0");
  if (c.local_bgp_id == 0 || c.local_bgp_id == 0xffffffff) fail("local_bgp_id must not be 0 or 255.255.255.255");
  if (c.hold_time != seconds{0} && (c.hold_time < seconds{3} || c.hold_time > seconds{65535}))
    fail("hold_time must be 0 or 3..65535 seconds");
  if (c.keepalive && (*c.keepalive < seconds{1} || *c.keepalive > seconds{65535}))
    fail("keepalive must be 1..65535 seconds");
  if (c.connect_retry < seconds{1}) fail("connect_retry must be at least 1 second");
  if (c.max_backoff < c.connect_retry) fail("max_backoff must not be below connect_retry");
  if (c.backoff_reset_after < seconds{0}) fail("backoff_reset_after must not be negative");
  if (c.open_hold_time < seconds{1}) fail("open_hold_time must be at least 1 second");
}

NegotiatedTimers negotiate_timers(seconds local_hold, uint16_t peer_hold, std::optional<seconds> keepalive) {
  const seconds hold = std::min(local_hold, seconds{peer_hold});
  if (hold <= seconds{0}) return {};
  // A third of the hold time lets two KEEPALIVEs go missing before the peer gives up; a longer
  // configured interval would let one late packet drop the session.
  seconds ka = hold / 3;
  if (keepalive) ka = std::min(*keepalive, ka);
  return {hold, std::max(ka, seconds{1})};
}

std::optional<NotificationInfo> check_open(const FsmConfig& config, const PeerOpen& open) {
  if (open.version != kBgpVersion) return NotificationInfo{kOpenError, kUnsupportedVersion, {0, kBgpVersion}};
  if (open.asn == 0 || open.asn != config.remote_asn) return NotificationInfo{kOpenError, kBadPeerAs, {}};
  if (open.hold_time == 1 || open.hold_time == 2) return NotificationInfo{kOpenError, kUnacceptableHoldTime, {}};
  // RFC 6286 allows an eBGP peer our own identifier (the AS tells the two apart); iBGP does not.
  const bool ibgp = config.remote_asn == config.local_asn;
  if (open.bgp_id == 0 || open.bgp_id == 0xffffffff || (ibgp && open.bgp_id == config.local_bgp_id))
    return NotificationInfo{kOpenError, kBadBgpId, {}};
  return std::nullopt;
}

CollisionResult resolve_collision(uint32_t local_id, uint32_t remote_id, State existing_state,
                                  Initiator existing_initiator, uint32_t local_asn, uint32_t remote_asn,
                                  bool collision_detect_established) {
  switch (existing_state) {
    case State::Idle:
    case State::Connect:
    case State::Active:
    case State::OpenSent:
      return CollisionResult::NoCollision;
    case State::Established:
      if (!collision_detect_established) return CollisionResult::KeepExisting;
      break;
    case State::OpenConfirm:
      break;
  }
  // The connection opened by the speaker with the higher identifier survives.
  Initiator winner;
  if (local_id != remote_id) {
    winner = local_id > remote_id ? Initiator::Local : Initiator::Remote;
  } else if (local_asn != remote_asn) {
    winner = local_asn > remote_asn ? Initiator::Local : Initiator::Remote;
  } else {
    return CollisionResult::KeepExisting;  // an iBGP peer with our identifier is refused at OPEN
  }
  return existing_initiator == winner ? CollisionResult::KeepExisting : CollisionResult::KeepNew;
}

Event expiry_event(Timer timer) {
  switch (timer) {
    case Timer::ConnectRetry:
      return Event::ConnectRetryTimer_Expires;
    case Timer::Hold:
      return Event::HoldTimer_Expires;
    case Timer::Keepalive:
      return Event::KeepaliveTimer_Expires;
    case Timer::IdleHold:
      return Event::IdleHoldTimer_Expires;
    case Timer::BackoffReset:
      return Event::BackoffResetTimer_Expires;
  }
  return Event::ConnectRetryTimer_Expires;
}

std::string_view to_string(State state) {
  switch (state) {
    case State::Idle:
      return "Idle";
    case State::Connect:
      return "Connect";
    case State::Active:
      return "Active";
    case State::OpenSent:
      return "OpenSent";
    case State::OpenConfirm:
      return "OpenConfirm";
    case State::Established:
      return "Established";
  }
  return "?";
}

std::string_view to_string(Event event) {
  switch (event) {
    case Event::ManualStart:
      return "ManualStart";
    case Event::ManualStop:
      return "ManualStop";
    case Event::AutomaticStart:
      return "AutomaticStart";
    case Event::ManualStart_with_PassiveTcpEstablishment:
      return "ManualStart_with_PassiveTcpEstablishment";
    case Event::AutomaticStart_with_PassiveTcpEstablishment:
      return "AutomaticStart_with_PassiveTcpEstablishment";
    case Event::AutomaticStart_with_DampPeerOscillations:
      return "AutomaticStart_with_DampPeerOscillations";
    case Event::AutomaticStart_with_DampPeerOscillations_and_PassiveTcpEstablishment:
      return "AutomaticStart_with_DampPeerOscillations_and_PassiveTcpEstablishment";
    case Event::AutomaticStop:
      return "AutomaticStop";
    case Event::ConnectRetryTimer_Expires:
      return "ConnectRetryTimer_Expires";
    case Event::HoldTimer_Expires:
      return "HoldTimer_Expires";
    case Event::KeepaliveTimer_Expires:
      return "KeepaliveTimer_Expires";
    case Event::DelayOpenTimer_Expires:
      return "DelayOpenTimer_Expires";
    case Event::IdleHoldTimer_Expires:
      return "IdleHoldTimer_Expires";
    case Event::TcpConnection_Valid:
      return "TcpConnection_Valid";
    case Event::Tcp_CR_Invalid:
      return "Tcp_CR_Invalid";
    case Event::Tcp_CR_Acked:
      return "Tcp_CR_Acked";
    case Event::TcpConnectionConfirmed:
      return "TcpConnectionConfirmed";
    case Event::TcpConnectionFails:
      return "TcpConnectionFails";
    case Event::BGPOpen:
      return "BGPOpen";
    case Event::BGPOpen_with_DelayOpenTimer_running:
      return "BGPOpen_with_DelayOpenTimer_running";
    case Event::BGPHeaderErr:
      return "BGPHeaderErr";
    case Event::BGPOpenMsgErr:
      return "BGPOpenMsgErr";
    case Event::OpenCollisionDump:
      return "OpenCollisionDump";
    case Event::NotifMsgVerErr:
      return "NotifMsgVerErr";
    case Event::NotifMsg:
      return "NotifMsg";
    case Event::KeepAliveMsg:
      return "KeepAliveMsg";
    case Event::UpdateMsg:
      return "UpdateMsg";
    case Event::UpdateMsgErr:
      return "UpdateMsgErr";
    case Event::BackoffResetTimer_Expires:
      return "BackoffResetTimer_Expires";
  }
  return "?";
}

std::string_view to_string(Timer timer) {
  switch (timer) {
    case Timer::ConnectRetry:
      return "ConnectRetry";
    case Timer::Hold:
      return "Hold";
    case Timer::Keepalive:
      return "Keepalive";
    case Timer::IdleHold:
      return "IdleHold";
    case Timer::BackoffReset:
      return "BackoffReset";
  }
  return "?";
}

std::string_view to_string(DownReason reason) {
  switch (reason) {
    case DownReason::AdminShutdown:
      return "administrative shutdown";
    case DownReason::AdminReset:
      return "administrative reset";
    case DownReason::AutomaticStop:
      return "automatic stop";
    case DownReason::HoldTimerExpired:
      return "hold timer expired";
    case DownReason::ConnectionLost:
      return "connection lost";
    case DownReason::NotificationReceived:
      return "notification received";
    case DownReason::MessageError:
      return "malformed message";
    case DownReason::FsmError:
      return "unexpected message";
    case DownReason::CollisionResolved:
      return "connection collision";
  }
  return "?";
}

std::string to_string(const Action& action) {
  struct Describe {
    std::string operator()(const Connect&) const { return "Connect"; }
    std::string operator()(const DropConnection&) const { return "DropConnection"; }
    std::string operator()(const SendOpen&) const { return "SendOpen"; }
    std::string operator()(const SendKeepalive&) const { return "SendKeepalive"; }
    std::string operator()(const SendNotification& n) const {
      std::string s = "SendNotification(" + std::to_string(n.code) + "/" + std::to_string(n.subcode);
      if (!n.data.empty()) {
        static constexpr char kHex[] = "0123456789abcdef";
        s += ", data ";
        for (uint8_t b : n.data) {
          s += kHex[b >> 4];
          s += kHex[b & 0xf];
        }
      }
      return s + ")";
    }
    std::string operator()(const StartTimer& t) const {
      return "StartTimer(" + std::string(to_string(t.timer)) + ", " + std::to_string(t.duration.count()) + "s)";
    }
    std::string operator()(const StopTimer& t) const { return "StopTimer(" + std::string(to_string(t.timer)) + ")"; }
    std::string operator()(const SessionEstablished& e) const {
      return "SessionEstablished(AS" + std::to_string(e.peer_asn) + ", id " + dotted(e.peer_bgp_id) + ", hold " +
             std::to_string(e.hold_time.count()) + "s, keepalive " + std::to_string(e.keepalive.count()) + "s)";
    }
    std::string operator()(const SessionDown& d) const {
      std::string s = "SessionDown(" + std::string(to_string(d.reason));
      if (d.notification)
        s += ", " + std::to_string(d.notification->code) + "/" + std::to_string(d.notification->subcode);
      return s + ")";
    }
    std::string operator()(const ProcessUpdate&) const { return "ProcessUpdate"; }
    std::string operator()(const ReleaseResources&) const { return "ReleaseResources"; }
  };
  return std::visit(Describe{}, action);
}

std::string to_string(const Actions& actions) {
  std::string s = "[";
  for (std::size_t i = 0; i < actions.size(); ++i) {
    if (i) s += ", ";
    s += to_string(actions[i]);
  }
  return s + "]";
}

// ---- Fsm ----

Fsm::Fsm(FsmConfig config) : config_(std::move(config)) {
  check_config(config_);
  backoff_ = config_.connect_retry;
}

Actions Fsm::handle(Event event, const Payload& payload) {
  if (event == Event::DelayOpenTimer_Expires) return {};  // never started: DelayOpen is unsupported
  if (auto timer = timer_of(event)) {
    auto& running = running_[static_cast<std::size_t>(*timer)];
    if (!running) return {};
    running = false;
  }
  switch (state_) {
    case State::Idle:
      return in_idle(event, payload);
    case State::Connect:
      return in_connect(event, payload);
    case State::Active:
      return in_active(event, payload);
    case State::OpenSent:
      return in_open_sent(event, payload);
    case State::OpenConfirm:
      return in_open_confirm(event, payload);
    case State::Established:
      return in_established(event, payload);
  }
  return {};
}

Actions Fsm::update_sent() {
  Actions out;
  if (state_ == State::Established && negotiated_ && negotiated_->keepalive > seconds{0})
    start_timer(out, Timer::Keepalive, negotiated_->keepalive);
  return out;
}

Actions Fsm::in_idle(Event event, const Payload& payload) {
  Actions out;
  switch (event) {
    case Event::ManualStart:
    case Event::ManualStart_with_PassiveTcpEstablishment:
      // The operator's start is immediate and forgets earlier failures.
      admin_down_ = false;
      counters_.connect_retry_counter = 0;
      reset_backoff();
      stop_timer(out, Timer::IdleHold);
      start(out, is_passive_start(event), event);
      break;
    case Event::AutomaticStart_with_PassiveTcpEstablishment:
      // The peer calls during IdleHold after a fall it did not cause (it closed the session or
      // restarted, the connection broke): take the call; the backoff paces only our own calls.
      if (config_.allow_automatic_start && !admin_down_ && timer_running(Timer::IdleHold) && !damped_) {
        stop_timer(out, Timer::IdleHold);
        start(out, true, event);
        break;
      }
      [[fallthrough]];
    case Event::AutomaticStart:
    case Event::AutomaticStart_with_DampPeerOscillations:
    case Event::AutomaticStart_with_DampPeerOscillations_and_PassiveTcpEstablishment:
      // While IdleHold runs the restart is already scheduled; starting now would defeat the damping.
      if (config_.allow_automatic_start && !admin_down_ && !timer_running(Timer::IdleHold))
        start(out, is_passive_start(event), event);
      break;
    case Event::IdleHoldTimer_Expires:
      if (config_.allow_automatic_start && !admin_down_) start(out, false, event);
      break;
    case Event::ManualStop: {
      const AdminStop stop = admin_stop_of(payload);
      stop_timer(out, Timer::IdleHold);
      counters_.connect_retry_counter = 0;
      reset_backoff();
      if (stop.kind == AdminStop::Kind::Shutdown)
        admin_down_ = true;
      else if (!admin_down_ && config_.allow_automatic_start)
        start_timer(out, Timer::IdleHold, backoff_);
      break;
    }
    default:
      // RFC 4271: everything else leaves Idle alone. The adapter refuses connections while Idle.
      break;
  }
  return out;
}

Actions Fsm::in_connect(Event event, const Payload& payload) {
  Actions out;
  if (is_start(event)) return out;
  switch (event) {
    case Event::ManualStop:
      admin_stop(out, payload, event);
      break;
    case Event::ConnectRetryTimer_Expires:
      // The attempt timed out: a peer that never answers is retried less and less often.
      advance_backoff();
      out.emplace_back(DropConnection{});
      start_timer(out, Timer::ConnectRetry, backoff_);
      out.emplace_back(Connect{});
      break;
    case Event::TcpConnection_Valid:
    case Event::Tcp_CR_Invalid:
      break;
    case Event::Tcp_CR_Acked:
    case Event::TcpConnectionConfirmed:
      to_open_sent(out, event);
      break;
    case Event::TcpConnectionFails:
      fall(out, Down{.reason = DownReason::ConnectionLost, .count_failure = false}, event);
      break;
    default:
      fall(out, Down{.reason = reason_for(event), .received = received(event, payload)}, event);
      break;
  }
  return out;
}

Actions Fsm::in_active(Event event, const Payload& payload) {
  Actions out;
  if (is_start(event)) return out;
  switch (event) {
    case Event::ManualStop:
      admin_stop(out, payload, event);
      break;
    case Event::ConnectRetryTimer_Expires:
      if (config_.passive) break;
      start_timer(out, Timer::ConnectRetry, backoff_);
      out.emplace_back(Connect{});
      set_state(State::Connect, event);
      break;
    case Event::TcpConnection_Valid:
    case Event::Tcp_CR_Invalid:
      break;
    case Event::Tcp_CR_Acked:
    case Event::TcpConnectionConfirmed:
      to_open_sent(out, event);
      break;
    default:
      fall(out, Down{.reason = reason_for(event), .received = received(event, payload)}, event);
      break;
  }
  return out;
}

Actions Fsm::in_open_sent(Event event, const Payload& payload) {
  Actions out;
  if (is_start(event)) return out;
  switch (event) {
    case Event::ManualStop:
      admin_stop(out, payload, event);
      break;
    case Event::AutomaticStop:
      notify_and_fall(out, notification_or(payload, kCease, 0), DownReason::AutomaticStop, event);
      break;
    case Event::HoldTimer_Expires:
      notify_and_fall(out, {kHoldTimerExpired, 0, {}}, DownReason::HoldTimerExpired, event);
      break;
    case Event::TcpConnection_Valid:
    case Event::Tcp_CR_Invalid:
    case Event::Tcp_CR_Acked:
    case Event::TcpConnectionConfirmed:
      break;  // a second connection: the adapter tracks it for collision detection
    case Event::TcpConnectionFails:
      // Our OPEN went nowhere; wait for the peer to call, and call again ourselves unless passive.
      // A router that keeps cutting us off here is failing too, so the redial backs off.
      stop_timer(out, Timer::Hold);
      out.emplace_back(DropConnection{});
      if (!config_.passive) {
        start_timer(out, Timer::ConnectRetry, backoff_);
        advance_backoff();
      }
      set_state(State::Active, event);
      break;
    case Event::BGPOpen:
      on_open(out, payload, event);
      break;
    case Event::BGPHeaderErr:
      notify_and_fall(out, notification_or(payload, kHeaderError, 0), DownReason::MessageError, event);
      break;
    case Event::BGPOpenMsgErr:
      notify_and_fall(out, notification_or(payload, kOpenError, 0), DownReason::MessageError, event);
      break;
    case Event::OpenCollisionDump:
      notify_and_fall(out, {kCease, kCollisionResolution, {}}, DownReason::CollisionResolved, event);
      break;
    case Event::NotifMsgVerErr:
      fall(
          out,
          Down{
              .reason = DownReason::NotificationReceived, .received = received(event, payload), .count_failure = false},
          event);
      break;
    case Event::NotifMsg:
      fall(out, Down{.reason = DownReason::NotificationReceived, .received = received(event, payload)}, event);
      break;
    case Event::BGPOpen_with_DelayOpenTimer_running:
    case Event::KeepAliveMsg:
    case Event::UpdateMsg:
    case Event::UpdateMsgErr:
      fsm_error(out, kFsmInOpenSent, event);
      break;
    default:
      fsm_error(out, kFsmUnspecified, event);
      break;
  }
  return out;
}

Actions Fsm::in_open_confirm(Event event, const Payload& payload) {
  Actions out;
  if (is_start(event)) return out;
  switch (event) {
    case Event::ManualStop:
      admin_stop(out, payload, event);
      break;
    case Event::AutomaticStop:
      notify_and_fall(out, notification_or(payload, kCease, 0), DownReason::AutomaticStop, event);
      break;
    case Event::HoldTimer_Expires:
      notify_and_fall(out, {kHoldTimerExpired, 0, {}}, DownReason::HoldTimerExpired, event);
      break;
    case Event::KeepaliveTimer_Expires:
      out.emplace_back(SendKeepalive{});
      start_timer(out, Timer::Keepalive, negotiated_->keepalive);
      break;
    case Event::TcpConnection_Valid:
    case Event::Tcp_CR_Invalid:
    case Event::Tcp_CR_Acked:
    case Event::TcpConnectionConfirmed:
      break;
    case Event::TcpConnectionFails:
      fall(out, Down{.reason = DownReason::ConnectionLost}, event);
      break;
    case Event::BGPHeaderErr:
      notify_and_fall(out, notification_or(payload, kHeaderError, 0), DownReason::MessageError, event);
      break;
    case Event::BGPOpenMsgErr:
      notify_and_fall(out, notification_or(payload, kOpenError, 0), DownReason::MessageError, event);
      break;
    case Event::OpenCollisionDump:
      notify_and_fall(out, {kCease, kCollisionResolution, {}}, DownReason::CollisionResolved, event);
      break;
    case Event::NotifMsgVerErr:
      fall(
          out,
          Down{
              .reason = DownReason::NotificationReceived, .received = received(event, payload), .count_failure = false},
          event);
      break;
    case Event::NotifMsg:
      fall(out, Down{.reason = DownReason::NotificationReceived, .received = received(event, payload)}, event);
      break;
    case Event::KeepAliveMsg:
      to_established(out, event);
      break;
    case Event::BGPOpen:  // a second OPEN on this connection; collisions come as OpenCollisionDump
    case Event::BGPOpen_with_DelayOpenTimer_running:
    case Event::UpdateMsg:
    case Event::UpdateMsgErr:
      fsm_error(out, kFsmInOpenConfirm, event);
      break;
    default:
      fsm_error(out, kFsmUnspecified, event);
      break;
  }
  return out;
}

Actions Fsm::in_established(Event event, const Payload& payload) {
  Actions out;
  if (is_start(event)) return out;
  switch (event) {
    case Event::ManualStop:
      admin_stop(out, payload, event);
      break;
    case Event::AutomaticStop:
      notify_and_fall(out, notification_or(payload, kCease, 0), DownReason::AutomaticStop, event);
      break;
    case Event::HoldTimer_Expires:
      notify_and_fall(out, {kHoldTimerExpired, 0, {}}, DownReason::HoldTimerExpired, event);
      break;
    case Event::KeepaliveTimer_Expires:
      out.emplace_back(SendKeepalive{});
      start_timer(out, Timer::Keepalive, negotiated_->keepalive);
      break;
    case Event::BackoffResetTimer_Expires:
      reset_backoff();
      break;
    case Event::TcpConnection_Valid:
    case Event::Tcp_CR_Invalid:
    case Event::Tcp_CR_Acked:
    case Event::TcpConnectionConfirmed:
      break;
    case Event::TcpConnectionFails:
      fall(out, Down{.reason = DownReason::ConnectionLost}, event);
      break;
    case Event::BGPHeaderErr:
      notify_and_fall(out, notification_or(payload, kHeaderError, 0), DownReason::MessageError, event);
      break;
    case Event::OpenCollisionDump:
      notify_and_fall(out, {kCease, kCollisionResolution, {}}, DownReason::CollisionResolved, event);
      break;
    case Event::NotifMsgVerErr:
    case Event::NotifMsg:
      fall(out, Down{.reason = DownReason::NotificationReceived, .received = received(event, payload)}, event);
      break;
    case Event::KeepAliveMsg:
      restart_hold(out);
      break;
    case Event::UpdateMsg:
      out.emplace_back(ProcessUpdate{});
      restart_hold(out);
      break;
    case Event::UpdateMsgErr:
      notify_and_fall(out, notification_or(payload, kUpdateError, 0), DownReason::MessageError, event);
      break;
    case Event::BGPOpen:
    case Event::BGPOpen_with_DelayOpenTimer_running:
    case Event::BGPOpenMsgErr:  // an OPEN, broken or not, has no place here
      fsm_error(out, kFsmInEstablished, event);
      break;
    default:
      fsm_error(out, kFsmUnspecified, event);
      break;
  }
  return out;
}

void Fsm::start(Actions& out, bool passive, Event cause) {
  if (config_.passive) {
    set_state(State::Active, cause);
    return;
  }
  start_timer(out, Timer::ConnectRetry, backoff_);
  if (passive) {
    // Listen first; ConnectRetry's expiry makes us call.
    set_state(State::Active, cause);
    return;
  }
  out.emplace_back(Connect{});
  set_state(State::Connect, cause);
}

void Fsm::to_open_sent(Actions& out, Event cause) {
  stop_timer(out, Timer::ConnectRetry);
  out.emplace_back(SendOpen{});
  start_timer(out, Timer::Hold, config_.open_hold_time);
  set_state(State::OpenSent, cause);
}

void Fsm::on_open(Actions& out, const Payload& payload, Event cause) {
  const auto* open = std::get_if<PeerOpen>(&payload);
  if (!open) {
    notify_and_fall(out, {kOpenError, 0, {}}, DownReason::MessageError, cause);
    return;
  }
  if (auto error = check_open(config_, *open)) {
    notify_and_fall(out, std::move(*error), DownReason::MessageError, cause);
    return;
  }
  peer_open_ = *open;
  negotiated_ = negotiate_timers(config_.hold_time, open->hold_time, config_.keepalive);
  stop_timer(out, Timer::ConnectRetry);
  out.emplace_back(SendKeepalive{});
  if (negotiated_->hold_time > seconds{0}) {
    start_timer(out, Timer::Keepalive, negotiated_->keepalive);
    start_timer(out, Timer::Hold, negotiated_->hold_time);
  }
  set_state(State::OpenConfirm, cause);
}

void Fsm::to_established(Actions& out, Event cause) {
  if (negotiated_->hold_time > seconds{0})
    start_timer(out, Timer::Hold, negotiated_->hold_time);
  else
    stop_timer(out, Timer::Hold);  // the OpenSent guard, kept through OpenConfirm
  if (config_.backoff_reset_after > seconds{0})
    start_timer(out, Timer::BackoffReset, config_.backoff_reset_after);
  else
    reset_backoff();
  out.emplace_back(SessionEstablished{peer_open_->asn, peer_open_->bgp_id, negotiated_->hold_time,
                                      negotiated_->keepalive, peer_open_->four_byte_as_cap});
  ++counters_.established;
  set_state(State::Established, cause);
}

void Fsm::fall(Actions& out, const Down& down, Event cause) {
  if (down.sent) {
    out.emplace_back(SendNotification{down.sent->code, down.sent->subcode, down.sent->data});
    ++counters_.notifications_sent;
    counters_.last_error = FsmCounters::Error{down.sent->code, down.sent->subcode, true};
  }
  if (down.received) {
    ++counters_.notifications_received;
    counters_.last_error = FsmCounters::Error{down.received->code, down.received->subcode, false};
  }
  for (Timer t : {Timer::ConnectRetry, Timer::Hold, Timer::Keepalive, Timer::IdleHold, Timer::BackoffReset})
    stop_timer(out, t);
  if (state_ == State::Established) out.emplace_back(SessionDown{down.reason, down.sent ? down.sent : down.received});
  out.emplace_back(ReleaseResources{});
  out.emplace_back(DropConnection{});
  if (down.count_failure) ++counters_.connect_retry_counter;
  // BFD down (Cease, subcode 10, RFC 9384) is an AutomaticStop too, but it says the path failed,
  // not that the peer misbehaved: its reconnection is taken at once like any other.
  const bool bfd_down = down.sent && down.sent->code == kCease && down.sent->subcode == kCeaseBfdDown;
  damped_ = down.reason == DownReason::MessageError || down.reason == DownReason::FsmError ||
            (down.reason == DownReason::AutomaticStop && !bfd_down);
  peer_open_.reset();
  negotiated_.reset();
  set_state(State::Idle, cause);

  switch (down.then) {
    case Down::Then::StayDown:
      admin_down_ = true;
      counters_.connect_retry_counter = 0;
      reset_backoff();
      break;
    case Down::Then::RestartFresh:
      counters_.connect_retry_counter = 0;
      reset_backoff();
      if (config_.allow_automatic_start && !admin_down_) start_timer(out, Timer::IdleHold, backoff_);
      break;
    case Down::Then::Restart:
      if (config_.allow_automatic_start && !admin_down_) {
        start_timer(out, Timer::IdleHold, backoff_);
        advance_backoff();
      }
      break;
  }
}

void Fsm::admin_stop(Actions& out, const Payload& payload, Event cause) {
  const AdminStop stop = admin_stop_of(payload);
  const bool reset = stop.kind == AdminStop::Kind::Reset;
  Down down{.reason = reset ? DownReason::AdminReset : DownReason::AdminShutdown,
            .count_failure = false,
            .then = reset ? Down::Then::RestartFresh : Down::Then::StayDown};
  // Before our OPEN has gone out there is no session to tell the peer about.
  if (state_ == State::OpenSent || state_ == State::OpenConfirm || state_ == State::Established)
    down.sent = NotificationInfo{kCease, reset ? kAdminReset : kAdminShutdown,
                                 encode_shutdown_communication(stop.communication)};
  fall(out, down, cause);
}

void Fsm::fsm_error(Actions& out, uint8_t subcode, Event cause) {
  notify_and_fall(out, {kFsmError, subcode, {}}, DownReason::FsmError, cause);
}

void Fsm::notify_and_fall(Actions& out, NotificationInfo n, DownReason reason, Event cause) {
  fall(out, Down{.reason = reason, .sent = std::move(n)}, cause);
}

void Fsm::start_timer(Actions& out, Timer timer, seconds duration) {
  running_[static_cast<std::size_t>(timer)] = true;
  out.emplace_back(StartTimer{timer, duration});
}

void Fsm::stop_timer(Actions& out, Timer timer) {
  auto& running = running_[static_cast<std::size_t>(timer)];
  if (!running) return;
  running = false;
  out.emplace_back(StopTimer{timer});
}

void Fsm::restart_hold(Actions& out) {
  if (negotiated_ && negotiated_->hold_time > seconds{0}) start_timer(out, Timer::Hold, negotiated_->hold_time);
}

void Fsm::set_connect_retry(seconds connect_retry) {
  if (connect_retry <= seconds{0}) return;
  config_.connect_retry = connect_retry;
  config_.max_backoff = std::max(config_.max_backoff, connect_retry);
}

void Fsm::advance_backoff() {
  backoff_ = std::min(backoff_ * 2, config_.max_backoff);
}

void Fsm::set_state(State to, Event cause) {
  if (to == state_) return;
  const State from = state_;
  state_ = to;
  ++counters_.transitions;
  if (now_) counters_.last_state_change = now_();
  if (hook_) hook_(from, to, cause);
}

}  // namespace vane::bgp
