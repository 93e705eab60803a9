#pragma once
// The site every BPF fixture runs in, made once per test process inside its own namespace:
//   veth0 02:00:00:00:00:01  192.0.2.1/24 2001:db8::1/64   this server (index 0), GUE port 6080
//   veth2 02:00:00:00:00:21  192.0.2.129/25                 a second uplink
//   neighbours (permanent): server 1 192.0.2.2 / 2001:db8::2 (02:..:02), server 2 192.0.2.3 /
//   2001:db8::3 (02:..:03), server 3 2001:db8::4 only (02:..:04), server 4 192.0.2.5 draining,
//   server 5 192.0.2.6 (no neighbour entry), server 6 192.0.2.130 (behind veth2, 02:..:82)
//   lo: VIPs 203.0.113.10, 203.0.113.11, 2001:db8:100::10, 2001:db8:100::11; client
//   198.51.100.7, 2001:db8:200::7 (for sockets)
#include <memory>
#include <string>

#include "harness.h"
#include "xdp/loader.h"

namespace vane::test {

constexpr uint16_t kGuePort = 6080;
constexpr uint32_t kSeed = 0x5eed1234;
constexpr uint16_t kMtu = 1500;
inline const Mac kSelfMac{2, 0, 0, 0, 0, 1};
inline const Mac kRouterMac{2, 0, 0, 0, 0, 0xfe};
inline Mac server_mac(uint8_t last) {
  return Mac{2, 0, 0, 0, 0, last};
}

// Tables: every bucket the same pair, so a case's result does not depend on the hash.
// kTLocal (0, 1), kTLocal6 (0, 3: an IPv6-only second hop), kTSelfOnly (0, none).
enum : uint32_t {
  kT12 = 0,
  kTLocal = 1,
  kTEmpty = 2,
  kTV6Only = 3,
  kTDrain = 4,
  kTNoNeigh = 5,
  kTOther = 6,
  kTLocal6 = 7,
  kTSelfOnly = 8,
  kTLocalSteady = 9
};

struct World {
  Netns ns;
  int veth0 = 0, veth2 = 0;
  std::unique_ptr<xdp::Loader> fwd, rdr;
  std::string error;  // set when the world could not be built (a failure, not a skip)
};

// nullptr with *skip set when BPF is unavailable here; World::error set on a real failure.
World* world(std::string* skip);
xdp::Config world_config();

}  // namespace vane::test
