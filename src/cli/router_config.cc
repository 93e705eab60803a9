#include "cli/router_config.h"

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include "common/ip.h"

namespace vane::cli {

namespace {

// One BGP session as the router sees it: the server is its neighbour.
struct Session {
  std::string server;       // node.name
  std::string neighbor;     // the router's name in the server's config
  std::string file;         // the server's config file
  std::string peer;         // the server's address on this session: the router's neighbour address
  std::string router_addr;  // the router's own address on it (the server's neighbor.address)
  bool transport_v6 = false;
  bool unnumbered = false;  // the server's neighbour is an interface: peer is the router's port
  uint32_t server_asn = 0;
  uint32_t router_asn = 0;
  bool md5 = false;
  std::string md5_file;
  bool gr = false;
  std::optional<uint32_t> hold, keepalive;
  uint32_t multihop_ttl = 0;
  bool ttl_security = false;
  bool router_passive = false;  // the server does not listen, so the router must not connect
  uint32_t port = 0;            // the server's listen port when not 179
  bool v4 = false, v6 = false;  // families carried
  std::vector<std::string> allowed4, allowed6;
  uint32_t limit4 = 0, limit6 = 0;
  std::string tag;  // unique, safe in every router's names: letters, digits, _ and -
};

std::string safe(const std::string& s) {
  std::string o;
  for (char ch : s) o += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') ? ch : '_';
  return o.empty() ? "x" : o;
}

// Text that goes inside a quoted string of any of the four syntaxes.
std::string quoted_safe(const std::string& s) {
  std::string o;
  for (char ch : s) o += (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20) ? '_' : ch;
  return o;
}

// Names differing only in characters safe() replaces must still give distinct router names.
std::string unique_tag(std::set<std::string>& tags, const Session& s) {
  std::string tag = safe(s.server) + "_" + safe(s.neighbor);
  for (int k = 2; !tags.insert(tag).second; ++k)
    tag = safe(s.server) + "_" + safe(s.neighbor) + "_" + std::to_string(k);
  return tag;
}

std::expected<std::vector<Session>, std::string> sessions_of(const std::vector<config::Loaded>& servers,
                                                             const RouterConfigOptions& opts) {
  std::vector<Session> out;
  std::set<std::string> names, peers, tags;
  for (const auto& l : servers) {
    const auto& c = l.proto;
    const std::string file = l.path.string();
    if (!names.insert(c.node().name()).second)
      return std::unexpected(fmt::format("server {} is given twice ({})", c.node().name(), file));
    std::set<std::string> a4, a6;
    for (const auto& svc : c.service())
      for (const auto& an : svc.announce()) {
        auto p = Prefix::parse(an.prefix());
        if (!p) continue;  // the loader refused such a file already
        (p->addr.is_v4() ? a4 : a6).insert(p->str());
      }
    const bool listens = !(c.bgp().has_listen_port() && c.bgp().listen_port() == 0);
    for (const auto& n : c.neighbor()) {
      if (!opts.routers.empty()) {
        bool chosen = false;
        for (const auto& r : opts.routers) {
          auto ra = IpAddress::parse(r), na = IpAddress::parse(n.address());
          if (r == n.name() || (ra && na && *ra == *na)) chosen = true;
        }
        if (!chosen) continue;
      }
      Session s;
      s.server = c.node().name();
      s.neighbor = n.name();
      s.file = file;
      auto ra = IpAddress::parse(n.address());
      s.transport_v6 = ra && ra->is_v6();
      s.router_addr = ra ? ra->str() : n.address();
      // The session's own settings, the same for numbered and unnumbered neighbours.
      s.server_asn = n.has_local_asn() ? n.local_asn() : c.node().asn();
      s.router_asn = n.remote_asn();
      s.md5 = !n.md5_key_file().empty();
      s.md5_file = n.md5_key_file();
      s.gr = n.has_graceful_restart() && (!n.graceful_restart().has_enabled() || n.graceful_restart().enabled());
      if (n.has_hold_time_s()) s.hold = n.hold_time_s();
      if (n.has_keepalive_s()) s.keepalive = n.keepalive_s();
      s.multihop_ttl = n.multihop_ttl();
      s.ttl_security = n.ttl_security();
      if (!n.interface().empty()) {
        // The server's config names its own port, not the router's: the operator fills that in,
        // one placeholder per session (a server may have several ports to one router).
        s.unnumbered = s.transport_v6 = true;
        s.peer = "@PORT:" + safe(c.node().name()) + ":" + safe(n.name()) + "@";
        // vaned calls the router and has no listener on its link-local address.
        s.router_passive = true;
        s.v4 = s.v6 = n.families_size() == 0;
        for (int f : n.families()) {
          if (f == config::IPV4_UNICAST) s.v4 = true;
          if (f == config::IPV6_UNICAST) s.v6 = true;
        }
        if (s.v4) s.allowed4.assign(a4.begin(), a4.end());
        if (s.v6) s.allowed6.assign(a6.begin(), a6.end());
        s.limit4 =
            opts.max_prefix ? opts.max_prefix : static_cast<uint32_t>(s.allowed4.size()) + kDefaultMaxPrefixMargin;
        s.limit6 =
            opts.max_prefix ? opts.max_prefix : static_cast<uint32_t>(s.allowed6.size()) + kDefaultMaxPrefixMargin;
        s.tag = unique_tag(tags, s);
        out.push_back(std::move(s));
        continue;
      }
      std::string local = n.local_address();
      if (local.empty()) local = s.transport_v6 ? c.node().address6() : c.node().address();
      if (local.empty())
        return std::unexpected(
            fmt::format("{}: neighbor {} is IPv6 but node {} has no address6 and the neighbor no "
                        "local_address: the router cannot know the server's address",
                        file, n.name(), s.server));
      auto la = IpAddress::parse(local);
      s.peer = la ? la->str() : local;
      if (!peers.insert(s.peer + " " + s.router_addr).second)
        return std::unexpected(fmt::format("{}: the session {} - {} appears twice", file, s.peer, s.router_addr));
      s.router_passive = !listens;
      if (c.bgp().has_listen_port() && c.bgp().listen_port() != 0 && c.bgp().listen_port() != 179)
        s.port = c.bgp().listen_port();
      if (n.families_size() == 0) {
        (s.transport_v6 ? s.v6 : s.v4) = true;
      } else {
        for (int f : n.families()) {
          if (f == config::IPV4_UNICAST) s.v4 = true;
          if (f == config::IPV6_UNICAST) s.v6 = true;
        }
      }
      if (s.v4) s.allowed4.assign(a4.begin(), a4.end());
      if (s.v6) s.allowed6.assign(a6.begin(), a6.end());
      auto limit = [&](size_t allowed) {
        return opts.max_prefix ? opts.max_prefix : static_cast<uint32_t>(allowed) + kDefaultMaxPrefixMargin;
      };
      s.limit4 = limit(s.allowed4.size());
      s.limit6 = limit(s.allowed6.size());
      s.tag = unique_tag(tags, s);
      out.push_back(std::move(s));
    }
  }
  if (out.empty())
    return std::unexpected(opts.routers.empty() ? "the configs name no neighbor"
                                                : "no neighbor in the configs matches --router");
  std::set<uint32_t> asns;
  for (auto& s : out) asns.insert(s.router_asn);
  if (asns.size() > 1) {
    std::string list;
    for (auto a : asns) list += (list.empty() ? "" : ", ") + std::to_string(a);
    return std::unexpected("the sessions name more than one router AS (" + list +
                           "): one router's config at a time, choose it with --router ADDRESS|NAME");
  }
  return out;
}

uint32_t keepalive_of(const Session& s) {
  return s.keepalive ? *s.keepalive : *s.hold / 3;
}

size_t server_count(const std::vector<Session>& ss) {
  std::set<std::string> n;
  for (auto& s : ss) n.insert(s.server);
  return n.size();
}

// Enough paths for every server of the largest site named, and never fewer than 2.
uint32_t max_paths(const std::vector<config::Loaded>& servers, const std::vector<Session>& ss) {
  size_t n = server_count(ss);
  for (auto& l : servers) n = std::max<size_t>(n, l.proto.site().server_size());
  return static_cast<uint32_t>(std::clamp<size_t>(n, 2, 64));
}

void header(std::ostream& o, const char* c, const char* what, const std::vector<config::Loaded>& servers,
            const std::vector<Session>& ss) {
  o << c << " " << what << ": the router side of vane's BGP sessions, written by vanectl router-config.\n";
  o << c << " Router AS " << ss.front().router_asn << "; " << ss.size() << " session(s) with " << server_count(ss)
    << " server(s), from:\n";
  for (auto& l : servers) o << c << "   " << l.proto.node().name() << ": " << l.path.string() << "\n";
  o << c << " Import: only the prefixes each server announces (exact match); export: nothing.\n";
  bool md5 = std::any_of(ss.begin(), ss.end(), [](auto& s) { return s.md5; });
  if (md5)
    o << c << " Replace each @MD5:SERVER:NEIGHBOR@ with the key in that server's md5_key_file (named beside it).\n";
  if (std::any_of(ss.begin(), ss.end(), [](auto& s) { return s.unnumbered; }))
    o << c << " Replace each @PORT:SERVER:NEIGHBOR@ with the router's port cabled to that server's interface.\n";
}

std::string md5_comment(const Session& s) {
  return "md5_key_file " + quoted_safe(s.md5_file) + " of " + quoted_safe(s.server);
}

// ---------------------------------------------------------------------------------------- BIRD

std::string bird(const std::vector<config::Loaded>& servers, const std::vector<Session>& ss) {
  std::ostringstream o;
  header(o, "#", "BIRD 2", servers, ss);
  o << "# ECMP over the servers: the kernel protocol that exports these routes needs\n"
       "#   merge paths on limit "
    << max_paths(servers, ss)
    << ";\n"
       "# (BIRD merges only paths of equal AS-path length, ORIGIN and MED).\n\n";
  for (auto& s : ss) {
    auto filter = [&](const char* fam, const std::vector<std::string>& allowed) {
      o << "filter vane_" << s.tag << "_" << fam << " {\n";
      if (!allowed.empty()) {
        o << "  if net ~ [ ";
        for (size_t i = 0; i < allowed.size(); ++i) o << (i ? ", " : "") << allowed[i];
        o << " ] then accept;\n";
      }
      o << "  reject;\n}\n";
    };
    if (s.v4) filter("ipv4", s.allowed4);
    if (s.v6) filter("ipv6", s.allowed6);
    o << "protocol bgp vane_" << s.tag << " {\n";
    o << "  description \"vane server " << quoted_safe(s.server) << " (its neighbor " << quoted_safe(s.neighbor)
      << ")\";\n";
    o << "  local " << s.router_addr << " as " << s.router_asn << ";\n";
    o << "  neighbor " << s.peer;
    if (s.port) o << " port " << s.port;
    o << " as " << s.server_asn << ";\n";
    if (s.md5) o << "  password \"" << md5_placeholder(s.server, s.neighbor) << "\";  # " << md5_comment(s) << "\n";
    if (s.hold) {
      o << "  hold time " << *s.hold << ";";
      if (*s.hold) o << " keepalive time " << std::max<uint32_t>(1, keepalive_of(s)) << ";";
      o << "\n";
    }
    if (s.ttl_security) o << "  ttl security on;\n";
    if (s.multihop_ttl > 1 || s.ttl_security) o << "  multihop " << std::max<uint32_t>(1, s.multihop_ttl) << ";\n";
    if (s.router_passive) o << "  passive on;  # the server does not listen (bgp.listen_port 0)\n";
    if (s.gr) o << "  graceful restart on;\n";
    auto channel = [&](const char* fam, uint32_t limit) {
      o << "  " << fam << " {\n";
      o << "    import filter vane_" << s.tag << "_" << fam << ";\n";
      o << "    export none;\n";
      o << "    receive limit " << limit << " action restart;\n";
      o << "  };\n";
    };
    if (s.v4) channel("ipv4", s.limit4);
    if (s.v6) channel("ipv6", s.limit6);
    o << "}\n\n";
  }
  return o.str();
}

// ----------------------------------------------------------------------------------------- FRR

std::string frr(const std::vector<config::Loaded>& servers, const std::vector<Session>& ss) {
  std::ostringstream o;
  header(o, "!", "FRR bgpd", servers, ss);
  o << "! Per-neighbour settings only, apart from maximum-paths and multipath-relax (ECMP across\n"
       "! servers of different ASes), which are the router's own.\n";
  for (auto& s : ss) {
    auto plist = [&](const char* ip, const char* fam, const std::vector<std::string>& allowed) {
      if (allowed.empty()) return;
      int seq = 5;
      for (auto& p : allowed)
        o << ip << " prefix-list VANE-" << s.tag << "-" << fam << " seq " << seq++ << " permit " << p << "\n";
    };
    if (s.v4) plist("ip", "V4", s.allowed4);
    if (s.v6) plist("ipv6", "V6", s.allowed6);
  }
  for (auto& s : ss) {
    auto rmap = [&](const char* ip, const char* fam, const std::vector<std::string>& allowed) {
      if (allowed.empty()) return;
      o << "route-map VANE-IN-" << s.tag << "-" << fam << " permit 10\n";
      o << " match " << ip << " address prefix-list VANE-" << s.tag << "-" << fam << "\n";
      o << "route-map VANE-IN-" << s.tag << "-" << fam << " deny 20\n";
    };
    if (s.v4) rmap("ip", "V4", s.allowed4);
    if (s.v6) rmap("ipv6", "V6", s.allowed6);
  }
  o << "route-map VANE-NONE deny 10\n!\n";
  o << "router bgp " << ss.front().router_asn << "\n";
  const bool ebgp = std::any_of(ss.begin(), ss.end(), [](auto& s) { return s.server_asn != s.router_asn; });
  const bool ibgp = std::any_of(ss.begin(), ss.end(), [](auto& s) { return s.server_asn == s.router_asn; });
  if (ebgp) o << " bgp bestpath as-path multipath-relax\n";
  for (auto& s : ss) {
    const std::string n = " neighbor " + s.peer;
    if (s.unnumbered) {
      // The router's port to the server (replace the placeholder); zebra must send RAs on it
      // ("no ipv6 nd suppress-ra"): vaned learns the router's address from them.
      o << n << " interface remote-as " << s.server_asn << "\n";
      o << n << " capability extended-nexthop\n";
    } else {
      o << n << " remote-as " << s.server_asn << "\n";
    }
    o << n << " description vane server " << safe(s.server) << " (its neighbor " << safe(s.neighbor) << ")\n";
    if (!s.unnumbered) o << n << " update-source " << s.router_addr << "\n";
    if (s.md5) o << n << " password " << md5_placeholder(s.server, s.neighbor) << "\n";
    if (s.hold)
      o << n << " timers " << (*s.hold ? std::max<uint32_t>(1, keepalive_of(s)) : 0) << " " << *s.hold << "\n";
    if (s.ttl_security)
      o << n << " ttl-security hops " << std::max<uint32_t>(1, s.multihop_ttl) << "\n";
    else if (s.multihop_ttl > 1)
      o << n << " ebgp-multihop " << s.multihop_ttl << "\n";
    if (s.port) o << n << " port " << s.port << "\n";
    if (s.router_passive) o << n << " passive\n";
    if (s.gr) o << n << " graceful-restart\n";
  }
  auto af = [&](const char* name, bool v6) {
    o << " !\n address-family " << name << " unicast\n";
    for (auto& s : ss) {
      const bool on = v6 ? s.v6 : s.v4;
      const std::string n = "  neighbor " + s.peer;
      if (!on) {
        // FRR activates IPv4 unicast for every neighbour unless told otherwise.
        if (!v6) o << "  no neighbor " << s.peer << " activate\n";
        continue;
      }
      const auto& allowed = v6 ? s.allowed6 : s.allowed4;
      o << n << " activate\n";
      o << n << " route-map "
        << (allowed.empty() ? std::string("VANE-NONE") : "VANE-IN-" + s.tag + (v6 ? "-V6" : "-V4")) << " in\n";
      o << n << " route-map VANE-NONE out\n";
      o << n << " maximum-prefix " << (v6 ? s.limit6 : s.limit4) << " restart 1 force\n";
    }
    const uint32_t mp = max_paths(servers, ss);
    if (ebgp) o << "  maximum-paths " << mp << "\n";
    if (ibgp) o << "  maximum-paths ibgp " << mp << "\n";
    o << " exit-address-family\n";
  };
  af("ipv4", false);
  if (std::any_of(ss.begin(), ss.end(), [](auto& s) { return s.v6; })) af("ipv6", true);
  o << "exit\n!\n";
  return o.str();
}

// --------------------------------------------------------------------------------------- Junos

std::string junos(const std::vector<config::Loaded>& servers, const std::vector<Session>& ss) {
  std::ostringstream o;
  header(o, "#", "Junos", servers, ss);
  o << "# Load with `load merge terminal`. The router's AS (routing-options autonomous-system) must be "
    << ss.front().router_asn << ".\n";
  o << "policy-options {\n";
  for (auto& s : ss) {
    auto plist = [&](const char* fam, const std::vector<std::string>& allowed) {
      if (allowed.empty()) return;
      o << "    prefix-list vane-" << s.tag << "-" << fam << " {\n";
      for (auto& p : allowed) o << "        " << p << ";\n";
      o << "    }\n";
    };
    if (s.v4) plist("v4", s.allowed4);
    if (s.v6) plist("v6", s.allowed6);
  }
  for (auto& s : ss) {
    o << "    policy-statement vane-import-" << s.tag << " {\n";
    auto term = [&](const char* fam, const std::vector<std::string>& allowed) {
      if (allowed.empty()) return;
      o << "        term allowed-" << fam << " {\n";
      o << "            from {\n";
      o << "                prefix-list-filter vane-" << s.tag << "-" << fam << " exact;\n";
      o << "            }\n";
      o << "            then accept;\n";
      o << "        }\n";
    };
    if (s.v4) term("v4", s.allowed4);
    if (s.v6) term("v6", s.allowed6);
    o << "        then reject;\n";
    o << "    }\n";
  }
  o << "    policy-statement vane-export-none {\n        then reject;\n    }\n";
  o << "    policy-statement vane-ecmp {\n        then {\n            load-balance per-packet;\n        }\n    }\n";
  o << "}\n";
  o << "routing-options {\n    forwarding-table {\n        export vane-ecmp;\n    }\n}\n";
  o << "protocols {\n    bgp {\n";
  for (int internal = 0; internal < 2; ++internal) {
    std::vector<const Session*> g;
    for (auto& s : ss)
      if ((s.server_asn == s.router_asn) == bool(internal)) g.push_back(&s);
    if (g.empty()) continue;
    o << "        group vane-" << (internal ? "ibgp" : "ebgp") << " {\n";
    o << "            type " << (internal ? "internal" : "external") << ";\n";
    o << "            multipath" << (internal ? "" : " multiple-as") << ";\n";
    o << "            export vane-export-none;\n";
    for (auto* sp : g) {
      auto& s = *sp;
      o << "            neighbor " << s.peer << " {\n";
      o << "                description \"vane server " << quoted_safe(s.server) << " (its neighbor "
        << quoted_safe(s.neighbor) << ")\";\n";
      if (!internal) o << "                peer-as " << s.server_asn << ";\n";
      o << "                local-address " << s.router_addr << ";\n";
      if (s.md5)
        o << "                authentication-key \"" << md5_placeholder(s.server, s.neighbor) << "\"; /* "
          << md5_comment(s) << " */\n";
      if (s.hold) o << "                hold-time " << *s.hold << ";\n";
      if (s.multihop_ttl > 1 || s.ttl_security)
        o << "                multihop {\n                    ttl " << std::max<uint32_t>(1, s.multihop_ttl)
          << ";\n                }\n";
      if (s.ttl_security)
        o << "                /* the server checks GTSM (TTL 255 - hops + 1); Junos sends TTL 255 with "
             "multihop ttl 255 */\n";
      if (s.router_passive) o << "                passive;\n";
      if (s.gr) o << "                graceful-restart;\n";
      o << "                import vane-import-" << s.tag << ";\n";
      auto fam = [&](const char* name, uint32_t limit) {
        o << "                family " << name << " {\n                    unicast {\n"
          << "                        prefix-limit {\n                            maximum " << limit
          << ";\n                            teardown idle-timeout 1;\n                        }\n"
          << "                    }\n                }\n";
      };
      if (s.v4) fam("inet", s.limit4);
      if (s.v6) fam("inet6", s.limit6);
      if (s.port) o << "                /* the server listens on port " << s.port << ", not 179 */\n";
      o << "            }\n";
    }
    o << "        }\n";
  }
  o << "    }\n}\n";
  return o.str();
}

// ----------------------------------------------------------------------------------------- EOS

std::string eos(const std::vector<config::Loaded>& servers, const std::vector<Session>& ss) {
  std::ostringstream o;
  header(o, "!", "Arista EOS", servers, ss);
  for (auto& s : ss) {
    auto plist = [&](const char* ip, const char* fam, const std::vector<std::string>& allowed) {
      if (allowed.empty()) return;
      o << ip << " prefix-list VANE-" << s.tag << "-" << fam << "\n";
      int seq = 10;
      for (auto& p : allowed) o << "   seq " << seq++ << " permit " << p << "\n";
      o << "!\n";
    };
    if (s.v4) plist("ip", "V4", s.allowed4);
    if (s.v6) plist("ipv6", "V6", s.allowed6);
    auto rmap = [&](const char* ip, const char* fam, const std::vector<std::string>& allowed) {
      if (allowed.empty()) return;
      o << "route-map VANE-IN-" << s.tag << "-" << fam << " permit 10\n";
      o << "   match " << ip << " address prefix-list VANE-" << s.tag << "-" << fam << "\n!\n";
    };
    if (s.v4) rmap("ip", "V4", s.allowed4);
    if (s.v6) rmap("ipv6", "V6", s.allowed6);
  }
  o << "route-map VANE-NONE deny 10\n!\n";
  o << "router bgp " << ss.front().router_asn << "\n";
  const uint32_t mp = max_paths(servers, ss);
  o << "   maximum-paths " << mp << " ecmp " << mp << "\n";
  o << "   bgp bestpath as-path multipath-relax\n";
  for (auto& s : ss) {
    const std::string n = "   neighbor " + s.peer;
    o << n << " remote-as " << s.server_asn << "\n";
    o << n << " description vane server " << safe(s.server) << " (its neighbor " << safe(s.neighbor) << ")\n";
    if (s.md5) o << n << " password 0 " << md5_placeholder(s.server, s.neighbor) << "\n";
    if (s.hold)
      o << n << " timers " << (*s.hold ? std::max<uint32_t>(1, keepalive_of(s)) : 0) << " " << *s.hold << "\n";
    if (s.ttl_security)
      o << n << " ttl maximum-hops " << std::max<uint32_t>(1, s.multihop_ttl) << "\n";
    else if (s.multihop_ttl > 1)
      o << n << " ebgp-multihop " << s.multihop_ttl << "\n";
    if (s.router_passive) o << n << " passive\n";
    if (s.gr) o << n << " graceful-restart\n";
    o << n << " maximum-routes " << (s.v4 ? s.limit4 : 0) + (s.v6 ? s.limit6 : 0) << "\n";
    if (s.port) o << "   ! the server listens on port " << s.port << ", not 179\n";
  }
  auto af = [&](const char* name, bool v6) {
    o << "   !\n   address-family " << name << "\n";
    for (auto& s : ss) {
      const std::string n = "      neighbor " + s.peer;
      if (!(v6 ? s.v6 : s.v4)) {
        o << "      no" << n.substr(5) << " activate\n";
        continue;
      }
      const auto& allowed = v6 ? s.allowed6 : s.allowed4;
      o << n << " activate\n";
      o << n << " route-map "
        << (allowed.empty() ? std::string("VANE-NONE") : "VANE-IN-" + s.tag + (v6 ? "-V6" : "-V4")) << " in\n";
      o << n << " route-map VANE-NONE out\n";
    }
  };
  af("ipv4", false);
  if (std::any_of(ss.begin(), ss.end(), [](auto& s) { return s.v6; })) af("ipv6", true);
  o << "!\n";
  return o.str();
}

}  // namespace

std::string md5_placeholder(const std::string& server, const std::string& neighbor) {
  return "@MD5:" + safe(server) + ":" + safe(neighbor) + "@";
}

std::expected<std::string, std::string> router_config(const std::vector<config::Loaded>& servers,
                                                      const RouterConfigOptions& opts) {
  if (servers.empty()) return std::unexpected("no server config given");
  auto ss = sessions_of(servers, opts);
  if (!ss) return std::unexpected(ss.error());
  if (opts.kind != RouterKind::frr)
    for (auto& s : *ss)
      if (s.unnumbered)
        return std::unexpected(
            "neighbor " + s.neighbor + " of " + s.server +
            " is unnumbered (interface): only --for frr writes interface neighbours; docs/bgp.md has a BIRD example");
  switch (opts.kind) {
    case RouterKind::bird:
      return bird(servers, *ss);
    case RouterKind::frr:
      return frr(servers, *ss);
    case RouterKind::junos:
      return junos(servers, *ss);
    case RouterKind::eos:
      return eos(servers, *ss);
  }
  return std::unexpected("unknown router kind");
}

}  // namespace vane::cli
