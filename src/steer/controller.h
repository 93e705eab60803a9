#pragma once
// The controller's pure half: from the config and the health engine's per-prefix decisions, the
// set of routes the speaker should announce, with their attributes.
#include <map>
#include <string>

#include "bgp/export.h"
#include "health/decider.h"
#include "vane/config.pb.h"

namespace vane::steer {

// RFC 8326 GRACEFUL_SHUTDOWN, added to every route of a draining prefix.
inline constexpr uint32_t kGracefulShutdown = 0xFFFF0000u;

// Attributes of one configured announce, as the speaker takes them.
bgp::ExportAttrs export_attrs(const config::Announce& a);

// A prefix announced by several services takes its attributes from the first service in the
// config that lists it: every server builds the same attributes, so routers can merge the paths
// into one ECMP route.
bgp::ExportSet exports(const config::Config& cfg, const std::map<std::string, health::PrefixState>& states);

}  // namespace vane::steer
