#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <linux/capability.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "common/caps.h"
#include "common/ip.h"
#include "config/config.h"
#include "config/exec_user.h"

namespace vane::config {

Diagnostics check_machine(const Loaded& cfg) {
  Diagnostics out;
  auto add = [&](std::string m) { out.push_back({cfg.path.string(), 0, 0, std::move(m)}); };
  const Node& n = cfg.proto.node();
  if (if_nametoindex(n.interface().c_str()) == 0)
    add("interface \"" + n.interface() + "\" does not exist on this machine");

  std::set<IpAddress> local;
  ifaddrs* ifa = nullptr;
  if (getifaddrs(&ifa) == 0) {
    for (ifaddrs* i = ifa; i; i = i->ifa_next) {
      if (!i->ifa_addr) continue;
      IpAddress a;
      if (i->ifa_addr->sa_family == AF_INET) {
        auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
        a.family = IpAddress::Family::v4;
        std::memcpy(a.bytes.data(), &sin->sin_addr, 4);
      } else if (i->ifa_addr->sa_family == AF_INET6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
        a.family = IpAddress::Family::v6;
        std::memcpy(a.bytes.data(), &sin6->sin6_addr, 16);
      } else {
        continue;
      }
      local.insert(a);
    }
    freeifaddrs(ifa);
  }
  auto need = [&](const std::string& what, const std::string& s) {
    if (s.empty()) return;
    auto a = IpAddress::parse(s);
    if (a && !local.count(*a)) add(what + " " + s + " is not assigned to any interface of this machine");
  };
  need("node address", n.address());
  need("node address6", n.address6());
  for (auto& nb : cfg.proto.neighbor()) {
    need("neighbor " + nb.name() + " local_address", nb.local_address());
    if (!nb.interface().empty() && if_nametoindex(nb.interface().c_str()) == 0)
      add("neighbor " + nb.name() + " interface \"" + nb.interface() + "\" does not exist on this machine");
  }
  for (auto& l : cfg.proto.bgp().listen()) need("bgp listen address", l);
  // Without the raw ICMPv6 socket an unnumbered neighbour would stay Idle for good: refuse to start.
  if (!have_capability(CAP_NET_RAW))
    for (auto& nb : cfg.proto.neighbor())
      if (!nb.interface().empty()) {
        add("neighbor " + nb.name() + " is unnumbered (interface \"" + nb.interface() +
            "\") but vaned lacks CAP_NET_RAW, which its router advertisements (raw ICMPv6 socket) need");
        break;
      }
  // An exec check as another user needs setgroups/setgid/setuid in the child: refuse to start
  // rather than have every such check fail.
  // CAP_KILL: a timed-out check's process group belongs to the other user.
  const bool can_switch = have_capability(CAP_SETUID) && have_capability(CAP_SETGID) && have_capability(CAP_KILL);
  for (auto& svc : cfg.proto.service())
    for (auto& k : svc.check()) {
      if (k.kind_case() != Check::kExec) continue;
      auto u = resolve_exec_user(k.exec());
      if (!u)
        add("service " + svc.name() + " check " + k.name() + ": " + u.error());
      else if ((u->uid != ::geteuid() || u->gid != ::getegid()) && !can_switch)
        add("service " + svc.name() + " check " + k.name() + " runs as user " + u->name + " (uid " +
            std::to_string(u->uid) + ") but vaned (uid " + std::to_string(::geteuid()) +
            ") cannot switch users: it needs CAP_SETUID, CAP_SETGID and CAP_KILL, or the check's user must be vaned's "
            "own");
    }
  return out;
}

}  // namespace vane::config
