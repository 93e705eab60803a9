#pragma once
// Wiring of BFD in vaned: the neighbours' bfd blocks become BFD sessions, and each session's
// state gates its BGP session (RFC 5882). Kept apart from daemon.cc so the daemon needs only a
// few calls.
#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>

#include "bfd/service.h"
#include "bgp/speaker.h"
#include "config/config.h"
#include "control/metrics.h"
#include "vane/control.pb.h"

namespace vane::daemon {

// The BFD session a neighbour asks for; nullopt without a bfd block.
std::optional<bfd::PeerConfig> bfd_peer_config(const config::Loaded& cfg, const config::Neighbor& n);

class BfdLink {
 public:
  BfdLink(boost::asio::io_context& io, bgp::Speaker& speaker);
  // Adds, changes and removes sessions to match the config; call before the speaker's
  // neighbours are added or updated, so that a held session never starts.
  void apply(const config::Loaded& cfg);
  bool has(const std::string& name) const { return service_.has_peer(name); }
  // Fills `out` when the neighbour has BFD.
  void fill(const std::string& name, control::BfdSession* out) const;
  void show(const config::Loaded& cfg, control::BfdReply* out) const;
  void collect(metrics::Registry& reg) const;

 private:
  bgp::Speaker& speaker_;
  bfd::Service service_;
  std::map<std::string, bool> hold_;  // by neighbour: hold_bgp_until_up
};

}  // namespace vane::daemon
