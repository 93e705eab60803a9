// Every neighbour that config validation accepts must give the session FSM settings its own checks
// accept: the FSM throws on the rest, and a throw there stops vaned (at start or on a reload).
#include <gtest/gtest.h>

#include <string>

#include "bgp/fsm.h"
#include "bgp/neighbor.h"
#include "config/config.h"
#include "daemon/neighbor_config.h"

namespace vane::daemon {
namespace {

std::string conf(const std::string& node_extra, const std::string& neighbor_extra) {
  return R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" )" +
         node_extra + R"( }
neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 )" +
         neighbor_extra + R"( }
site { server { name: "s1" address: "192.0.2.11" } }
)";
}

// Loads the text; when it validates, checks the FSM accepts what the daemon makes of it.
// Returns whether it validated.
bool validates_and_fsm_accepts(const std::string& text) {
  auto l = config::load_string(text, "t.conf");
  if (!l) return false;
  for (const auto& n : l->proto.neighbor()) {
    auto c = neighbor_config(*l, n);
    EXPECT_NO_THROW(bgp::check_config(bgp::fsm_config(c))) << text;
  }
  return true;
}

TEST(NeighborConfig, TimerBoundariesThatValidateAreAcceptedByTheFsm) {
  for (const char* extra :
       {"", "hold_time_s: 0", "hold_time_s: 0 keepalive_s: 0", "hold_time_s: 0 keepalive_s: 5", "hold_time_s: 3",
        "hold_time_s: 3 keepalive_s: 1", "hold_time_s: 65535", "hold_time_s: 65535 keepalive_s: 65534",
        "connect_retry_s: 1", "connect_retry_s: 3600", "passive: true", "local_asn: 65000"}) {
    SCOPED_TRACE(extra);
    EXPECT_TRUE(validates_and_fsm_accepts(conf("", extra)));
  }
}

TEST(NeighborConfig, HoldZeroWithKeepaliveZeroSendsNoKeepalive) {
  auto l = config::load_string(conf("", "hold_time_s: 0 keepalive_s: 0"), "t.conf");
  ASSERT_TRUE(l);
  auto c = neighbor_config(*l, l->proto.neighbor(0));
  EXPECT_EQ(c.hold_time, std::chrono::seconds{0});
  EXPECT_FALSE(c.keepalive);
}

TEST(NeighborConfig, RouterIdsTheFsmWouldRefuseAreRefusedByValidation) {
  for (const char* id : {"0.0.0.0", "255.255.255.255"}) {
    std::string text = conf("", "");
    text.replace(text.find("192.0.2.11"), 10, id);
    auto l = config::load_string(text, "t.conf");
    ASSERT_FALSE(l) << id;
    EXPECT_NE(l.error()[0].str().find("router_id"), std::string::npos) << l.error()[0].str();
  }
}

}  // namespace
}  // namespace vane::daemon
