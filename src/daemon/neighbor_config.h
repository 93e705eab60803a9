#pragma once
// A validated config's neighbour as the speaker takes it: the node's defaults applied, the MD5 key
// file's contents in place (so a rotated key is a change), families and limits resolved.
#include "bgp/neighbor.h"
#include "config/config.h"

namespace vane::daemon {

bgp::NeighborConfig neighbor_config(const config::Loaded& cfg, const config::Neighbor& n);

}  // namespace vane::daemon
