#pragma once
// Pure prefix decisions: which prefixes this node should announce, and how, given the services'
// health, drains and the flap-control policy. No sockets, no timers: time is an argument, and the
// caller asks next_wakeup() when it must call evaluate() again even if no input changes.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "health/types.h"
#include "vane/config.pb.h"

namespace vane::health {

enum class PrefixState : uint8_t {
  Withdrawn,
  Announced,
  // Still announced, with GRACEFUL_SHUTDOWN (RFC 8326), until the drain time ends.
  AnnouncedDraining,
};
std::string_view to_string(PrefixState s);

// Hold-down and RFC 2439-style dampening for one prefix.
struct FlapPolicy {
  std::chrono::milliseconds hold_down{0};
  uint32_t penalty = 0;  // added per withdraw; 0 disables dampening
  uint32_t suppress = 3000;
  uint32_t reuse = 750;
  std::chrono::milliseconds half_life{15000};

  // Applies the schema's defaults to unset (zero) fields.
  static FlapPolicy from_config(const config::Dampening& d);
  bool dampening() const { return penalty > 0 && reuse > 0 && half_life.count() > 0; }
  // The penalty never grows past reuse * 2^4, so a prefix is never suppressed for longer than four
  // half-lives after its last withdraw (the usual "max suppress time" of router implementations).
  double ceiling() const { return static_cast<double>(reuse) * 16.0; }

  auto operator<=>(const FlapPolicy&) const = default;
};

// One service's say about a prefix it announces.
struct Announcer {
  bool healthy = false;
  // Set while the service is drained (by an operator, the whole node, or its agent), from when.
  std::optional<TimePoint> drain_since;
  // How long a drained service keeps its announcements, with GRACEFUL_SHUTDOWN.
  std::chrono::milliseconds drain_time{0};
};

// The state machine of one prefix.
//
// Desired state from the announcers: Announced while any healthy announcer is not drained;
// otherwise AnnouncedDraining while the prefix is announced and some healthy drained announcer is
// inside its drain time (draining never brings a withdrawn prefix back); otherwise Withdrawn.
//
// Withdraws always happen at once. Announcing again after a withdraw waits until hold_down has
// passed since that withdraw and, with dampening on, until the prefix is not suppressed: each
// withdraw adds `penalty` (decaying exponentially with `half_life`); when the sum passes `suppress`
// the prefix stays withdrawn until it has decayed to `reuse`. A withdraw caused by a drain adds no
// penalty: an operator taking traffic away is not a flap.
class PrefixGate {
 public:
  explicit PrefixGate(FlapPolicy policy = {});
  void set_policy(const FlapPolicy& p);
  const FlapPolicy& policy() const { return policy_; }

  // Moves to the state the announcers call for at `now`, as far as flap control allows.
  PrefixState update(std::span<const Announcer> announcers, TimePoint now);

  PrefixState state() const { return state_; }
  TimePoint since() const { return since_; }
  // When update() must run again even if nothing else changes (a drain ending, a hold-down or
  // suppression ending while the prefix is wanted); nullopt: not needed.
  std::optional<TimePoint> next_wakeup() const { return wakeup_; }
  double penalty(TimePoint now) const;
  // Dampened: not to be announced again before reuse time.
  bool suppressed(TimePoint now) const { return suppressed_ && now < reuse_at_; }
  // Earliest time a re-announce may happen (hold-down and suppression); nullopt: no restriction.
  std::optional<TimePoint> blocked_until(TimePoint now) const;
  uint64_t announces() const { return announces_; }
  uint64_t withdraws() const { return withdraws_; }
  // Nothing left to remember: withdrawn, no hold-down running, no penalty worth keeping.
  bool idle(TimePoint now) const;

 private:
  void withdraw(TimePoint now, bool flap);

  FlapPolicy policy_;
  PrefixState state_ = PrefixState::Withdrawn;
  TimePoint since_{};
  std::optional<TimePoint> wakeup_;
  std::optional<TimePoint> last_withdraw_;
  double penalty_ = 0;  // as of penalty_at_
  TimePoint penalty_at_{};
  bool suppressed_ = false;
  TimePoint reuse_at_{};  // fixed when suppression starts: the penalty cannot grow while withdrawn
  uint64_t announces_ = 0, withdraws_ = 0;
};

struct PrefixChange {
  std::string prefix;
  PrefixState from = PrefixState::Withdrawn;
  PrefixState to = PrefixState::Withdrawn;
};

struct PrefixStatus {
  std::string prefix;
  PrefixState state = PrefixState::Withdrawn;
  TimePoint since{};
  double penalty = 0;
  bool suppressed = false;
  std::optional<TimePoint> blocked_until;
  uint64_t announces = 0, withdraws = 0;
  std::vector<std::string> services;  // announcing it, by name
};

// Every prefix of every service, driven by per-service inputs.
//
// A prefix announced by several services uses the longest hold-down among them and the dampening
// of the first of them (by name) that enables dampening.
class Decider {
 public:
  struct ServiceSpec {
    std::vector<std::string> prefixes;
    FlapPolicy policy;
    std::chrono::milliseconds drain_time{0};
  };

  // Adds a service or updates one (its health and drains stay).
  void set_service(const std::string& name, ServiceSpec spec);
  void remove_service(const std::string& name);
  bool has_service(const std::string& name) const { return services_.contains(name); }

  void set_healthy(const std::string& name, bool healthy);
  // Drain sources; a service is drained while any is on. `now` starts the drain time.
  void set_drained(const std::string& name, bool drained, TimePoint now);
  void set_agent_drain(const std::string& name, bool drained, TimePoint now);
  void set_node_drained(bool drained, TimePoint now);

  bool node_drained() const { return node_drain_.has_value(); }
  bool drained(const std::string& name) const;
  bool admin_drained(const std::string& name) const;
  std::optional<TimePoint> drain_since(const std::string& name) const;

  // Brings every prefix up to date; returns the prefixes whose state changed. Only the prefixes
  // whose inputs changed since the last call, whose wake-up time has come, or that no service
  // announces any more are looked at: the others would come out as they are.
  std::vector<PrefixChange> evaluate(TimePoint now);
  // Earliest time evaluate() must run again with no other input change; nullopt: not needed.
  std::optional<TimePoint> next_wakeup() const;
  // Prefix evaluations since construction: the work evaluate() did (for tests of its cost).
  uint64_t evaluations() const { return evaluations_; }

  PrefixState state(const std::string& prefix) const;
  std::map<std::string, PrefixState> states() const;
  std::vector<PrefixStatus> status(TimePoint now) const;

 private:
  struct Service {
    ServiceSpec spec;
    bool healthy = false;
    std::optional<TimePoint> admin_drain, agent_drain;
  };
  std::optional<TimePoint> effective_drain(const Service& s) const;
  void touch(const Service& s);
  void touch_all();
  // Re-files the gate's wake-up time after an update.
  void file_wakeup(const std::string& prefix, std::optional<TimePoint> before, std::optional<TimePoint> after);

  std::map<std::string, Service> services_;
  std::map<std::string, PrefixGate> prefixes_;
  // Who announces each prefix, by service name (the order that fixes whose dampening wins).
  std::map<std::string, std::vector<std::string>> announcers_;
  // Prefixes whose inputs changed since the last evaluate().
  std::set<std::string> dirty_;
  // Every gate's pending wake-up, earliest first.
  std::set<std::pair<TimePoint, std::string>> wakeups_;
  // Gates no service announces any more, kept until they have nothing left to remember.
  std::set<std::string> orphans_;
  std::optional<TimePoint> node_drain_;
  uint64_t evaluations_ = 0;
};

}  // namespace vane::health
