#include "config/config.h"

#include <fcntl.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "common/ip.h"
#include "config/exec_user.h"

namespace vane::config {

namespace pb = google::protobuf;

std::string Diagnostic::str() const {
  std::ostringstream o;
  o << file << ':' << line << ':' << column << ": " << message;
  return o.str();
}

namespace {

struct Pos {
  int line = 0, column = 0;  // 1-based, 0 = unknown
};

// Finds where a field was written, so a semantic error can point at it. When a field was left
// out, errors point at the enclosing block.
class Where {
 public:
  Where(const pb::Message& msg, const pb::TextFormat::ParseInfoTree* tree, Pos self)
      : msg_(msg), tree_(tree), self_(self) {}

  Pos at(const char* field, int index = -1) const {
    const pb::FieldDescriptor* fd = msg_.GetDescriptor()->FindFieldByName(field);
    if (!fd || !tree_) return self_;
    if (fd->is_repeated() && index < 0) index = 0;
    auto loc = tree_->GetLocation(fd, fd->is_repeated() ? index : -1);
    if (loc.line < 0) return self_;
    return {loc.line + 1, loc.column + 1};
  }
  Pos self() const { return self_; }

  Where child(const char* field, int index = -1) const {
    const pb::FieldDescriptor* fd = msg_.GetDescriptor()->FindFieldByName(field);
    const pb::Reflection* r = msg_.GetReflection();
    const pb::Message& sub = fd->is_repeated() ? r->GetRepeatedMessage(msg_, fd, index) : r->GetMessage(msg_, fd);
    const pb::TextFormat::ParseInfoTree* t =
        tree_ ? tree_->GetTreeForNested(fd, fd->is_repeated() ? index : -1) : nullptr;
    return Where(sub, t, at(field, index));
  }

 private:
  const pb::Message& msg_;
  const pb::TextFormat::ParseInfoTree* tree_;
  Pos self_;
};

class Ctx {
 public:
  explicit Ctx(std::string file) : file_(std::move(file)) {}
  void err(Pos p, std::string msg) { out_.push_back({file_, p.line, p.column, std::move(msg)}); }
  Diagnostics take() { return std::move(out_); }
  bool ok() const { return out_.empty(); }

 private:
  std::string file_;
  Diagnostics out_;
};

class Collector : public pb::io::ErrorCollector {
 public:
  Collector(Ctx& ctx) : ctx_(ctx) {}
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    ctx_.err({line + 1, column + 1}, message);
  }
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}

 private:
  Ctx& ctx_;
};

std::string q(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

bool parse_u32(std::string_view s, uint32_t& v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    auto i = s.find(sep, start);
    out.push_back(s.substr(start, i - start));
    if (i == std::string_view::npos) return out;
    start = i + 1;
  }
}

bool is_prime(uint32_t n) {
  if (n < 2) return false;
  for (uint32_t d = 2; uint64_t(d) * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

void check_range(Ctx& c, const Where& w, const char* field, uint64_t v, uint64_t lo, uint64_t hi) {
  if (v < lo || v > hi)
    c.err(w.at(field), std::string(field) + " " + std::to_string(v) + " out of range " + std::to_string(lo) + ".." +
                           std::to_string(hi));
}

std::optional<IpAddress> need_addr(Ctx& c, const Where& w, const char* field, const std::string& v,
                                   bool required = true) {
  if (v.empty()) {
    if (required) c.err(w.at(field), std::string(field) + " is required");
    return std::nullopt;
  }
  auto a = IpAddress::parse(v);
  if (!a) c.err(w.at(field), std::string(field) + " " + q(v) + " is not an IP address");
  return a;
}

std::string fmt_mode(unsigned m) {
  char b[8];
  std::snprintf(b, sizeof b, "%04o", m);
  return b;
}

// Reads a secret file named relative to the config's folder: a regular file (not a symlink) that
// neither group nor others may read or write, owned by root or the user vaned runs as. `field`
// names it in messages. At most `max` bytes; a longer file is refused rather than cut.
std::optional<std::string> read_private(Ctx& c, Pos p, const std::filesystem::path& cfg, const char* field,
                                        const std::string& name, size_t max) {
  std::filesystem::path kp(name);
  if (kp.is_relative()) kp = cfg.parent_path() / kp;
  const std::string what = std::string(field) + " " + q(kp.string());
  int fd = ::open(kp.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    c.err(p, what + ": " + std::strerror(errno));
    return std::nullopt;
  }
  struct stat st {};
  std::optional<std::string> out;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    c.err(p, what + " is not a regular file");
  } else if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
    c.err(p, what + " is readable by others (mode " + fmt_mode(st.st_mode & 0777) + "); chmod 600 it");
  } else if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    // Its owner can rewrite it whatever the mode, and so choose the key vaned trusts.
    c.err(p, what + " is owned by uid " + std::to_string(st.st_uid) + ", neither root nor this user (uid " +
                 std::to_string(::geteuid()) + "); chown it");
  } else {
    std::string buf(max + 1, '\0');
    size_t got = 0;
    bool failed = false;
    while (got < buf.size()) {
      ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        c.err(p, what + ": " + std::strerror(errno));
        failed = true;
        break;
      }
      if (n == 0) break;
      got += size_t(n);
    }
    if (!failed && got > max)
      c.err(p, what + " is larger than " + std::to_string(max) + " bytes");
    else if (!failed)
      out = buf.substr(0, got);
  }
  ::close(fd);
  return out;
}

std::optional<std::string> read_key(Ctx& c, Pos p, const std::filesystem::path& cfg, const std::string& name) {
  auto key = read_private(c, p, cfg, "md5_key_file", name, 128);
  if (!key) return std::nullopt;
  while (!key->empty() && (key->back() == '\n' || key->back() == '\r')) key->pop_back();
  // TCP_MD5SIG_MAXKEYLEN is 80 bytes.
  if (key->empty() || key->size() > 80) {
    std::filesystem::path kp(name);
    if (kp.is_relative()) kp = cfg.parent_path() / kp;
    c.err(p, "md5_key_file " + q(kp.string()) + " must hold a key of 1 to 80 bytes");
    return std::nullopt;
  }
  return key;
}

int hex_digit(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

// site.key_file: one or two hex keys, one per line. Messages never quote the file's contents.
std::optional<std::vector<std::string>> read_site_keys(Ctx& c, Pos p, const std::filesystem::path& cfg,
                                                       const std::string& name) {
  auto text = read_private(c, p, cfg, "key_file", name, 4096);
  if (!text) return std::nullopt;
  std::filesystem::path kp(name);
  if (kp.is_relative()) kp = cfg.parent_path() / kp;
  const std::string what = "key_file " + q(kp.string());
  std::vector<std::string> keys;
  size_t lineno = 0;
  for (auto line : split(*text, '\n')) {
    ++lineno;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = what + " line " + std::to_string(lineno) + ": ";
    if (line.size() % 2 != 0 || line.size() < 2 * kSiteKeyMinBytes || line.size() > 2 * kSiteKeyMaxBytes) {
      c.err(p, where + "a key must be " + std::to_string(2 * kSiteKeyMinBytes) + " to " +
                   std::to_string(2 * kSiteKeyMaxBytes) + " hex digits (" + std::to_string(kSiteKeyMinBytes) + " to " +
                   std::to_string(kSiteKeyMaxBytes) + " bytes)");
      return std::nullopt;
    }
    std::string key;
    for (size_t i = 0; i < line.size(); i += 2) {
      const int hi = hex_digit(line[i]), lo = hex_digit(line[i + 1]);
      if (hi < 0 || lo < 0) {
        c.err(p, where + "not a hex key");
        return std::nullopt;
      }
      key.push_back(char(hi << 4 | lo));
    }
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      c.err(p, where + "the same key twice");
      return std::nullopt;
    }
    keys.push_back(std::move(key));
  }
  if (keys.empty() || keys.size() > 2) {
    c.err(p, what + " must hold one or two keys (it holds " + std::to_string(keys.size()) + ")");
    return std::nullopt;
  }
  return keys;
}

}  // namespace

std::optional<uint32_t> parse_community(std::string_view s) {
  static const std::pair<std::string_view, uint32_t> known[] = {
      {"graceful-shutdown", 0xFFFF0000}, {"accept-own", 0xFFFF0001},   {"blackhole", 0xFFFF029A},
      {"no-export", 0xFFFFFF01},         {"no-advertise", 0xFFFFFF02}, {"no-export-subconfed", 0xFFFFFF03},
      {"no-peer", 0xFFFFFF04},
  };
  for (auto& [n, v] : known)
    if (s == n) return v;
  auto parts = split(s, ':');
  uint32_t a, b;
  if (parts.size() != 2 || !parse_u32(parts[0], a) || !parse_u32(parts[1], b) || a > 0xffff || b > 0xffff)
    return std::nullopt;
  return a << 16 | b;
}

std::optional<std::array<uint32_t, 3>> parse_large_community(std::string_view s) {
  auto parts = split(s, ':');
  std::array<uint32_t, 3> v{};
  if (parts.size() != 3) return std::nullopt;
  for (int i = 0; i < 3; ++i)
    if (!parse_u32(parts[i], v[i])) return std::nullopt;
  return v;
}

std::optional<uint64_t> parse_extended_community(std::string_view s) {
  auto parts = split(s, ':');
  if (parts.size() != 3) return std::nullopt;
  uint8_t subtype;
  if (parts[0] == "rt")
    subtype = 0x02;
  else if (parts[0] == "soo")
    subtype = 0x03;
  else
    return std::nullopt;
  uint32_t asn, val;
  if (!parse_u32(parts[1], asn) || !parse_u32(parts[2], val)) return std::nullopt;
  if (asn <= 0xffff) {  // two-octet AS specific (type 0x00): 2-byte ASN, 4-byte value
    return uint64_t(0x00) << 56 | uint64_t(subtype) << 48 | uint64_t(asn) << 32 | val;
  }
  if (val > 0xffff) return std::nullopt;  // four-octet AS specific (type 0x02): 4-byte ASN, 2-byte value
  return uint64_t(0x02) << 56 | uint64_t(subtype) << 48 | uint64_t(asn) << 16 | val;
}

std::optional<PrefixRange> parse_prefix_range(std::string_view s, std::string* why) {
  std::vector<std::string_view> words;
  for (auto w : split(s, ' '))
    if (!w.empty()) words.push_back(w);
  auto fail = [&](std::string m) -> std::optional<PrefixRange> {
    if (why) *why = std::move(m);
    return std::nullopt;
  };
  if (words.empty()) return fail("empty prefix filter");
  std::string pwhy;
  auto p = Prefix::parse(words[0], &pwhy);
  if (!p) return fail(std::string(words[0]) + ": " + pwhy);
  PrefixRange r{std::string(words[0]), p->len, p->len};
  bool saw_le = false, saw_ge = false;
  for (size_t i = 1; i < words.size(); i += 2) {
    uint32_t v;
    if (i + 1 >= words.size() || !parse_u32(words[i + 1], v) || v > uint32_t(p->addr.bits()))
      return fail("expected \"le N\" or \"ge N\" with N up to " + std::to_string(p->addr.bits()));
    if (words[i] == "le" && !saw_le) {
      r.le = uint8_t(v);
      saw_le = true;
      if (!saw_ge) r.ge = p->len;
    } else if (words[i] == "ge" && !saw_ge) {
      r.ge = uint8_t(v);
      saw_ge = true;
      if (!saw_le) r.le = uint8_t(p->addr.bits());
    } else {
      return fail("unexpected " + std::string(words[i]));
    }
  }
  if (r.ge < p->len || r.le < r.ge) return fail("need prefix length <= ge <= le");
  return r;
}

namespace {

// Node, server and service names are single tokens of the site agent's reply: a name the reply
// grammar cannot carry would make every reply of that server invalid at the other servers.
void check_site_name(Ctx& c, const Where& w, const char* kind, const std::string& name) {
  if (valid_site_name(name)) return;
  std::string shown;
  for (unsigned char ch : name.substr(0, 64)) {
    if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '"')
      shown += char(ch);
    else {
      char b[5];
      std::snprintf(b, sizeof b, "\\x%02x", ch);
      shown += b;
    }
  }
  c.err(w.at("name"),
        std::string(kind) + " name " + q(shown) + (name.size() > 64 ? "..." : "") +
            " must be 1 to 255 printable ASCII characters without spaces (site replies carry it as one word)");
}

void validate_node(Ctx& c, const Config& cfg, const Where& root) {
  if (!cfg.has_node()) {
    c.err({1, 1}, "node block is required");
    return;
  }
  const Node& n = cfg.node();
  Where w = root.child("node");
  if (n.name().empty())
    c.err(w.at("name"), "name is required");
  else
    check_site_name(c, w, "node", n.name());
  if (auto a = need_addr(c, w, "router_id", n.router_id()); a && !a->is_v4())
    c.err(w.at("router_id"), "router_id must be an IPv4 address");
  else if (a && (a->v4_host_order() == 0 || a->v4_host_order() == 0xffffffff))
    // RFC 6286: a BGP Identifier of 0 is refused by every peer's OPEN check, and so by our FSM.
    c.err(w.at("router_id"), "router_id must not be 0.0.0.0 or 255.255.255.255");
  if (n.asn() == 0) c.err(w.at("asn"), "asn is required (1..4294967295)");
  if (n.asn() == 23456) c.err(w.at("asn"), "asn 23456 is AS_TRANS and cannot be a real AS");
  if (auto a = need_addr(c, w, "address", n.address()); a && !a->is_v4())
    c.err(w.at("address"), "address must be an IPv4 address (use address6 for IPv6)");
  if (auto a = need_addr(c, w, "address6", n.address6(), false); a && !a->is_v6())
    c.err(w.at("address6"), "address6 must be an IPv6 address");
  if (n.interface().empty()) c.err(w.at("interface"), "interface is required");
  if (n.interface().size() >= 16) c.err(w.at("interface"), "interface name longer than 15 characters");
  check_range(c, w, "drain_prepend", n.drain_prepend(), 0, 10);
  check_range(c, w, "drain_time_s", n.drain_time_s(), 0, 3600);
  bool listed = false;
  for (auto& s : cfg.site().server()) {
    if (s.name() != n.name()) continue;
    listed = true;
    if (n.role() != ROLE_UNSPECIFIED && s.role() != ROLE_UNSPECIFIED && role_of(s) != n.role())
      c.err(w.at("role"),
            "role " + Role_Name(n.role()) + " differs from the site server entry's " + Role_Name(s.role()));
    // The other servers send GUE to the entry's addresses and accept it only from them (the
    // redirector's trust checks); this server sends and receives it on the node's.
    auto same = [](const std::string& x, const std::string& y) {
      auto a = IpAddress::parse(x), b = IpAddress::parse(y);
      return !a || !b || *a == *b;
    };
    if (!same(n.address(), s.address()))
      c.err(w.at("address"), "address " + q(n.address()) + " differs from the site server entry's " + q(s.address()));
    if (!n.address6().empty() && !s.address6().empty() && !same(n.address6(), s.address6()))
      c.err(w.at("address6"),
            "address6 " + q(n.address6()) + " differs from the site server entry's " + q(s.address6()));
  }
  if (!n.name().empty() && !listed) c.err(w.at("name"), "node " + q(n.name()) + " is not in the site's server list");
}

void validate_bfd(Ctx& c, const Neighbor& n, const Where& w, Loaded& out) {
  const Bfd& b = n.bfd();
  if (b.has_min_rx_ms()) check_range(c, w, "min_rx_ms", b.min_rx_ms(), 10, 60000);
  if (b.has_min_tx_ms()) check_range(c, w, "min_tx_ms", b.min_tx_ms(), 10, 60000);
  if (b.has_multiplier()) check_range(c, w, "multiplier", b.multiplier(), 1, 255);
  if (b.has_key_id()) check_range(c, w, "key_id", b.key_id(), 0, 255);
  if ((b.has_key_id() || b.meticulous()) && b.key_file().empty())
    c.err(w.at(b.has_key_id() ? "key_id" : "meticulous"), "needs key_file");
  // Loaded without secrets (vanectl router-config): the key file is neither read nor required.
  if (b.key_file().empty() || !out.secrets_read) return;
  auto key = read_private(c, w.at("key_file"), out.path, "bfd key_file", b.key_file(), 128);
  if (!key) return;
  while (!key->empty() && (key->back() == '\n' || key->back() == '\r')) key->pop_back();
  // RFC 5880 6.7.4: the SHA1 key fills a 20-byte field.
  if (key->empty() || key->size() > 20) {
    std::filesystem::path kp(b.key_file());
    if (kp.is_relative()) kp = out.path.parent_path() / kp;
    c.err(w.at("key_file"), "bfd key_file " + q(kp.string()) + " must hold a key of 1 to 20 bytes");
    return;
  }
  out.bfd_keys[n.name()] = *key;
}

void validate_neighbors(Ctx& c, const Config& cfg, const Where& root, Loaded& out) {
  std::set<std::string> names, addrs, unnumbered_ifs;
  for (int i = 0; i < cfg.neighbor_size(); ++i) {
    const Neighbor& n = cfg.neighbor(i);
    Where w = root.child("neighbor", i);
    if (n.name().empty())
      c.err(w.at("name"), "name is required");
    else if (!names.insert(n.name()).second)
      c.err(w.at("name"), "duplicate neighbor name " + q(n.name()));
    const bool unnumbered = !n.interface().empty();
    auto a = need_addr(c, w, "address", n.address(), !unnumbered);
    if (a && (a->is_unspecified())) c.err(w.at("address"), "address must not be unspecified");
    // A link-local address is one per link: the same one may be another router's on another link.
    if (a && !addrs.insert(a->str() + "%" + n.interface()).second)
      c.err(w.at("address"), "duplicate neighbor address " + q(n.address()));
    if (unnumbered) {
      if (n.interface().size() >= 16 || n.interface().find('/') != std::string::npos)
        c.err(w.at("interface"), "interface " + q(n.interface()) + " is not an interface name");
      if (a && !a->is_link_local())
        c.err(w.at("address"), "address with interface must be the router's IPv6 link-local (fe80::/10) address");
      if (n.passive())
        c.err(w.at("passive"), "an unnumbered neighbor (interface) cannot be passive: vaned calls the router");
      if (!n.local_address().empty())
        c.err(w.at("local_address"),
              "local_address cannot be set with interface: the session uses the link-local address");
      if (n.has_bfd()) c.err(w.at("bfd"), "bfd is not supported on an unnumbered neighbor (interface) yet");
      if (!a && !unnumbered_ifs.insert(n.interface()).second)
        c.err(w.at("interface"), "a second neighbor learning its address on interface " + q(n.interface()));
      if (n.multihop_ttl() > 1)
        c.err(w.at("multihop_ttl"), "multihop_ttl above 1 with interface: the router is on the link");
    } else if (a && a->is_link_local()) {
      c.err(w.at("address"), "a link-local address needs interface");
    }
    if (n.remote_asn() == 0) c.err(w.at("remote_asn"), "remote_asn is required (1..4294967295)");
    if (n.has_local_asn() && n.local_asn() == 0) c.err(w.at("local_asn"), "local_asn must not be 0");
    if (n.has_hold_time_s() && n.hold_time_s() != 0 && (n.hold_time_s() < 3 || n.hold_time_s() > 65535))
      c.err(w.at("hold_time_s"), "hold_time_s " + std::to_string(n.hold_time_s()) + " must be 0 or 3..65535");
    uint32_t hold = n.has_hold_time_s() ? n.hold_time_s() : kDefaultHoldTime;
    if (n.has_keepalive_s()) {
      if (n.keepalive_s() == 0 && hold != 0)
        c.err(w.at("keepalive_s"), "keepalive_s must be at least 1");
      else if (hold != 0 && n.keepalive_s() >= hold)
        c.err(w.at("keepalive_s"), "keepalive_s must be less than hold_time_s");
    }
    if (n.has_connect_retry_s()) check_range(c, w, "connect_retry_s", n.connect_retry_s(), 1, 3600);
    if (n.has_port()) check_range(c, w, "port", n.port(), 1, 65535);
    if (auto la = need_addr(c, w, "local_address", n.local_address(), false); la && a && la->family != a->family)
      c.err(w.at("local_address"), "local_address and address are of different families");
    if (n.multihop_ttl() != 0) check_range(c, w, "multihop_ttl", n.multihop_ttl(), 1, 255);
    if (auto nh = need_addr(c, w, "next_hop", n.next_hop(), false); nh && !nh->is_v4())
      c.err(w.at("next_hop"), "next_hop must be an IPv4 address");
    if (auto nh = need_addr(c, w, "next_hop6", n.next_hop6(), false); nh && !nh->is_v6())
      c.err(w.at("next_hop6"), "next_hop6 must be an IPv6 address");
    std::set<int> fams;
    for (int j = 0; j < n.families_size(); ++j) {
      if (n.families(j) == FAMILY_UNSPECIFIED)
        c.err(w.at("families", j), "family must be IPV4_UNICAST or IPV6_UNICAST");
      else if (!fams.insert(n.families(j)).second)
        c.err(w.at("families", j), "duplicate family");
    }
    if (n.has_graceful_restart()) {
      Where g = w.child("graceful_restart");
      check_range(c, g, "restart_time_s", n.graceful_restart().restart_time_s(), 0, 4095);
      check_range(c, g, "stale_time_s", n.graceful_restart().stale_time_s(), 0, 3600);
    }
    for (int j = 0; j < n.import_prefix_size(); ++j) {
      std::string why;
      if (!parse_prefix_range(n.import_prefix(j), &why))
        c.err(w.at("import_prefix", j), "import_prefix " + q(n.import_prefix(j)) + ": " + why);
    }
    if (out.secrets_read && !n.md5_key_file().empty()) {
      if (auto k = read_key(c, w.at("md5_key_file"), out.path, n.md5_key_file())) out.md5_keys[n.name()] = *k;
    }
    if (n.has_bfd()) validate_bfd(c, n, w.child("bfd"), out);
  }
}

void validate_check(Ctx& c, const Check& k, const Where& w) {
  if (k.name().empty()) c.err(w.at("name"), "check name is required");
  auto port = [&](const Where& kw, uint32_t p, bool zero_ok) {
    if (p == 0 && !zero_ok)
      c.err(kw.at("port"), "port is required (1..65535)");
    else if (p > 65535)
      c.err(kw.at("port"), "port " + std::to_string(p) + " out of range 1..65535");
  };
  switch (k.kind_case()) {
    case Check::kTcp:
      port(w.child("tcp"), k.tcp().port(), false);
      break;
    case Check::kHttp: {
      Where kw = w.child("http");
      port(kw, k.http().port(), false);
      if (k.http().expect_status() != 0) check_range(c, kw, "expect_status", k.http().expect_status(), 100, 599);
      if (!k.http().path().empty() && k.http().path()[0] != '/') c.err(kw.at("path"), "path must start with /");
      break;
    }
    case Check::kDns: {
      Where kw = w.child("dns");
      port(kw, k.dns().port(), true);
      if (k.dns().query_name().empty()) c.err(kw.at("query_name"), "query_name is required");
      static const std::set<std::string> types{"", "A", "AAAA", "NS", "SOA", "TXT", "MX", "CNAME", "PTR", "SRV"};
      if (!types.count(k.dns().query_type()))
        c.err(kw.at("query_type"), "unknown query_type " + q(k.dns().query_type()));
      check_range(c, kw, "expect_rcode", k.dns().expect_rcode(), 0, 15);
      break;
    }
    case Check::kExec: {
      Where kw = w.child("exec");
      if (k.exec().command().empty()) c.err(kw.at("command"), "command is required");
      if (auto u = resolve_exec_user(k.exec()); !u)
        c.err(k.exec().user().empty() ? kw.self() : kw.at("user"), u.error());
      break;
    }
    case Check::kAgent:
      port(w.child("agent"), k.agent().port(), false);
      break;
    case Check::KIND_NOT_SET:
      c.err(w.self(), "check " + q(k.name()) + " has no kind (tcp, http, dns, exec or agent)");
      break;
  }
  uint32_t interval = k.has_interval_ms() ? k.interval_ms() : kDefaultCheckIntervalMs;
  if (k.has_interval_ms()) check_range(c, w, "interval_ms", k.interval_ms(), 50, 3600000);
  if (k.has_timeout_ms()) {
    if (k.timeout_ms() < 10)
      c.err(w.at("timeout_ms"),
            "timeout_ms " + std::to_string(k.timeout_ms()) + " out of range 10.." + std::to_string(interval));
    else if (k.timeout_ms() > interval)
      c.err(w.at("timeout_ms"), "timeout_ms must not exceed interval_ms");
  }
  if (k.has_rise()) {
    if (k.rise() == 0)
      c.err(w.at("rise"), "rise must be at least 1");
    else
      check_range(c, w, "rise", k.rise(), 1, 100);
  }
  if (k.has_fall()) {
    if (k.fall() == 0)
      c.err(w.at("fall"), "fall must be at least 1");
    else
      check_range(c, w, "fall", k.fall(), 1, 100);
  }
  if (k.has_jitter_pct()) check_range(c, w, "jitter_pct", k.jitter_pct(), 0, 50);
  need_addr(c, w, "address", k.address(), false);
  need_addr(c, w, "source_address", k.source_address(), false);
}

void validate_services(Ctx& c, const Config& cfg, const Where& root) {
  std::set<std::string> names;
  std::set<std::tuple<std::string, uint32_t, int>> vips;
  for (int i = 0; i < cfg.service_size(); ++i) {
    const Service& s = cfg.service(i);
    Where w = root.child("service", i);
    if (s.name().empty())
      c.err(w.at("name"), "name is required");
    else if (!names.insert(s.name()).second)
      c.err(w.at("name"), "duplicate service name " + q(s.name()));
    else
      check_site_name(c, w, "service", s.name());
    std::vector<Prefix> prefixes;
    std::set<std::string> seen_prefix;
    for (int j = 0; j < s.announce_size(); ++j) {
      const Announce& a = s.announce(j);
      Where aw = w.child("announce", j);
      std::string why;
      if (a.prefix().empty()) {
        c.err(aw.at("prefix"), "prefix is required");
      } else if (auto p = Prefix::parse(a.prefix(), &why)) {
        prefixes.push_back(*p);
        if (!seen_prefix.insert(p->str()).second)
          c.err(aw.at("prefix"), "duplicate prefix " + q(a.prefix()) + " in service");
      } else {
        c.err(aw.at("prefix"), "invalid prefix " + q(a.prefix()) + ": " + why);
      }
      for (int k = 0; k < a.community_size(); ++k)
        if (!parse_community(a.community(k)))
          c.err(aw.at("community", k),
                "invalid community " + q(a.community(k)) + " (ASN:VALUE, each 0..65535, or a well-known name)");
      for (int k = 0; k < a.large_community_size(); ++k)
        if (!parse_large_community(a.large_community(k)))
          c.err(aw.at("large_community", k),
                "invalid large community " + q(a.large_community(k)) + " (GLOBAL:LOCAL1:LOCAL2)");
      for (int k = 0; k < a.extended_community_size(); ++k)
        if (!parse_extended_community(a.extended_community(k)))
          c.err(aw.at("extended_community", k),
                "invalid extended community " + q(a.extended_community(k)) + " (rt:ASN:VALUE or soo:ASN:VALUE)");
      check_range(c, aw, "prepend", a.prepend(), 0, 10);
    }
    for (int j = 0; j < s.vip_size(); ++j) {
      const Vip& v = s.vip(j);
      Where vw = w.child("vip", j);
      auto a = need_addr(c, vw, "address", v.address());
      check_range(c, vw, "port", v.port(), 0, 65535);
      if (v.protocol() == PROTOCOL_UNSPECIFIED) c.err(vw.at("protocol"), "protocol is required (TCP or UDP)");
      if (!a) continue;
      if (!vips.insert({a->str(), v.port(), v.protocol()}).second)
        c.err(vw.at("address"), "VIP " + a->str() + " port " + std::to_string(v.port()) + " is used twice");
      bool inside = std::any_of(prefixes.begin(), prefixes.end(), [&](const Prefix& p) { return p.contains(*a); });
      if (!inside && !s.announce().empty())
        c.err(vw.at("address"), "VIP " + a->str() + " is outside every prefix service " + q(s.name()) + " announces");
    }
    std::set<std::string> checks;
    for (int j = 0; j < s.check_size(); ++j) {
      Where cw = w.child("check", j);
      validate_check(c, s.check(j), cw);
      if (!s.check(j).name().empty() && !checks.insert(s.check(j).name()).second)
        c.err(cw.at("name"), "duplicate check name " + q(s.check(j).name()) + " in service " + q(s.name()));
    }
    if (s.health_mode() == AT_LEAST && (s.min_checks_up() < 1 || int(s.min_checks_up()) > s.check_size()))
      c.err(w.at("min_checks_up"), "min_checks_up must be 1.." + std::to_string(s.check_size()) + " for AT_LEAST");
    if (s.has_drain_time_s()) check_range(c, w, "drain_time_s", s.drain_time_s(), 0, 3600);
    if (s.min_healthy_servers() > uint32_t(cfg.site().server_size()))
      c.err(w.at("min_healthy_servers"), "min_healthy_servers exceeds the number of servers in the site");
    else if (s.min_healthy_servers() > 1 && !site_health(cfg).enabled())
      c.err(w.at("min_healthy_servers"),
            "min_healthy_servers above 1 needs site health to count the other servers (set site.health.port)");
  }
}

void validate_site(Ctx& c, const Config& cfg, const Where& root, Loaded& out) {
  if (!cfg.has_site() || cfg.site().server_size() == 0) {
    c.err(cfg.has_site() ? root.at("site") : Pos{1, 1}, "site needs at least one server");
    return;
  }
  Where w = root.child("site");
  std::set<std::string> names, addrs;
  for (int i = 0; i < cfg.site().server_size(); ++i) {
    const Server& s = cfg.site().server(i);
    Where sw = w.child("server", i);
    if (s.name().empty())
      c.err(sw.at("name"), "name is required");
    else if (!names.insert(s.name()).second)
      c.err(sw.at("name"), "duplicate server name " + q(s.name()));
    else
      check_site_name(c, sw, "server", s.name());
    // The redirectors accept GUE from these addresses: one that no server can own would let in
    // anyone who forges it (XDP sees a packet before the kernel drops such a source).
    auto unicast = [&](const IpAddress& x, const char* field, const std::string& text) {
      const bool ok = !x.is_unspecified() && !x.is_loopback() &&
                      (x.is_v4() ? x.bytes[0] != 0 && x.bytes[0] < 224 : x.bytes[0] != 0xff);
      if (!ok)
        c.err(sw.at(field), std::string(field) + " " + q(text) + " is not a unicast address a server can send from");
    };
    auto a = need_addr(c, sw, "address", s.address());
    if (a && !a->is_v4())
      c.err(sw.at("address"), "address must be an IPv4 address (use address6 for IPv6)");
    else if (a)
      unicast(*a, "address", s.address());
    if (a && !addrs.insert(a->str()).second) c.err(sw.at("address"), "duplicate server address " + q(s.address()));
    if (auto a6 = need_addr(c, sw, "address6", s.address6(), false); a6 && !a6->is_v6())
      c.err(sw.at("address6"), "address6 must be an IPv6 address");
    else if (a6) {
      unicast(*a6, "address6", s.address6());
      if (!addrs.insert(a6->str()).second) c.err(sw.at("address6"), "duplicate server address " + q(s.address6()));
    }
    if (s.has_weight()) check_range(c, sw, "weight", s.weight(), 0, 1000);
  }
  if (cfg.site().has_health()) {
    const SiteHealth& h = cfg.site().health();
    Where hw = w.child("health");
    if (h.has_port()) check_range(c, hw, "port", h.port(), 0, 65535);
    if (h.has_interval_ms()) check_range(c, hw, "interval_ms", h.interval_ms(), 50, 60000);
    const uint32_t interval = h.has_interval_ms() ? h.interval_ms() : SiteHealthSettings{}.interval_ms;
    if (h.has_timeout_ms()) check_range(c, hw, "timeout_ms", h.timeout_ms(), 10, std::max<uint32_t>(10, interval));
    if (h.has_rise()) check_range(c, hw, "rise", h.rise(), 1, 100);
    if (h.has_fall()) check_range(c, hw, "fall", h.fall(), 1, 100);
    if (site_health(cfg).enabled()) {
      const uint32_t gue = cfg.forwarding().has_gue_port() ? cfg.forwarding().gue_port() : kDefaultGuePort;
      if (site_health(cfg).port == gue && cfg.forwarding().enabled())
        c.err(hw.at("port"), "port " + std::to_string(gue) + " is the GUE port");
    }
  }
  if (cfg.site().has_load()) {
    const SiteLoad& l = cfg.site().load();
    Where lw = w.child("load");
    if (l.has_period_ms()) check_range(c, lw, "period_ms", l.period_ms(), 200, 600000);
    const auto ls = site_load(cfg);
    if (l.has_window_ms()) check_range(c, lw, "window_ms", l.window_ms(), 100, std::max<uint32_t>(100, ls.period_ms));
    if (l.has_dead_band_percent()) check_range(c, lw, "dead_band_percent", l.dead_band_percent(), 1, 50);
    if (l.has_step_percent()) check_range(c, lw, "step_percent", l.step_percent(), 1, 100);
    if (l.has_min_percent()) check_range(c, lw, "min_percent", l.min_percent(), 1, 100);
    if (l.has_max_percent()) check_range(c, lw, "max_percent", l.max_percent(), 100, 1000);
    if (l.has_quantum_percent()) check_range(c, lw, "quantum_percent", l.quantum_percent(), 1, 10);
    // Leaving low load needs the site mean at 1.5 x low_load_percent: from 67 on that is above 100%,
    // so the site would stay at its configured weights for ever.
    if (l.has_low_load_percent() && l.low_load_percent() > 66)
      c.err(lw.at("low_load_percent"), "low_load_percent " + std::to_string(l.low_load_percent()) +
                                           " out of range 0..66 (leaving low load needs the site mean at 1.5 x it)");
    // A dead band narrower than one level would let a server hop between two levels for ever.
    if (ls.dead_band_percent < ls.quantum_percent)
      c.err(lw.at("dead_band_percent"), "dead_band_percent " + std::to_string(ls.dead_band_percent) +
                                            " must be at least quantum_percent (" + std::to_string(ls.quantum_percent) +
                                            ")");
    // A step smaller than one level would still move a whole level.
    if (ls.step_percent < ls.quantum_percent)
      c.err(lw.at("step_percent"), "step_percent " + std::to_string(ls.step_percent) +
                                       " must be at least quantum_percent (" + std::to_string(ls.quantum_percent) +
                                       ")");
    // A published weight reaches the others at their next query: a decision must see the effect of
    // the last one (a window of samples after the others applied it), or the loop acts on stale
    // data and can ring.
    const auto sh = site_health(cfg);
    if (sh.enabled() && ls.period_ms >= 200 && ls.period_ms <= 600000 && ls.window_ms <= ls.period_ms &&
        uint64_t(ls.period_ms) < uint64_t(ls.window_ms) + sh.interval_ms + sh.timeout_ms)
      c.err(lw.at("period_ms"), "period_ms " + std::to_string(ls.period_ms) + " must be at least window_ms (" +
                                    std::to_string(ls.window_ms) + ") + site health interval_ms (" +
                                    std::to_string(sh.interval_ms) + ") + timeout_ms (" +
                                    std::to_string(sh.timeout_ms) + ")");
    if (l.source() == SiteLoad::CGROUP) {
      if (l.cgroup_path().empty() || l.cgroup_path()[0] != '/')
        c.err(lw.at("cgroup_path"), "source CGROUP needs cgroup_path, an absolute path");
      if (!l.cgroup_cpu_path().empty() && l.cgroup_cpu_path()[0] != '/')
        c.err(lw.at("cgroup_cpu_path"), "cgroup_cpu_path must be an absolute path");
    } else if (!l.cgroup_path().empty() || !l.cgroup_cpu_path().empty()) {
      c.err(lw.at("cgroup_path"), "cgroup_path is for source CGROUP");
    }
    if (l.enabled() && !site_health(cfg).enabled())
      c.err(lw.at("enabled"), "load-driven weights travel in site health replies: site health must be on");
  }
  if (out.secrets_read && !cfg.site().key_file().empty()) {
    if (auto k = read_site_keys(c, w.at("key_file"), out.path, cfg.site().key_file())) out.site_keys = std::move(*k);
  }
  uint32_t m = cfg.site().table_size();
  if (m != 0 && (!is_prime(m) || m < uint32_t(cfg.site().server_size()) || m > 16777259))
    c.err(w.at("table_size"),
          "table_size " + std::to_string(m) + " must be a prime between the number of servers and 16777259");
}

void validate_misc(Ctx& c, const Config& cfg, const Where& root) {
  if (cfg.has_control()) {
    Where w = root.child("control");
    if (!cfg.control().socket().empty() && cfg.control().socket()[0] != '/')
      c.err(w.at("socket"), "socket must be an absolute path");
    if (cfg.control().socket().size() >= 108) c.err(w.at("socket"), "socket path longer than 107 bytes");
  }
  if (cfg.has_metrics() && !cfg.metrics().listen().empty()) {
    Where w = root.child("metrics");
    const std::string& l = cfg.metrics().listen();
    auto colon = l.rfind(':');
    uint32_t port = 0;
    std::string host = colon == std::string::npos ? "" : l.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    auto a = IpAddress::parse(host);
    if (colon == std::string::npos || !a || !parse_u32(std::string_view(l).substr(colon + 1), port) || port == 0 ||
        port > 65535)
      c.err(w.at("listen"), "listen " + q(l) + " must be ADDRESS:PORT (IPv6 in brackets)");
    else if (!a->is_loopback() && !cfg.metrics().allow_remote())
      c.err(w.at("listen"), "listen " + q(l) +
                                " must be a loopback address: metrics are not exposed beyond the host unless "
                                "allow_remote is set");
  }
  if (cfg.has_log()) {
    Where w = root.child("log");
    static const std::set<std::string> levels{"", "trace", "debug", "info", "warn", "error", "critical", "off"};
    if (!levels.count(cfg.log().level())) c.err(w.at("level"), "unknown log level " + q(cfg.log().level()));
    if (!(cfg.log().format().empty() || cfg.log().format() == "text" || cfg.log().format() == "json"))
      c.err(w.at("format"), "log format must be \"text\" or \"json\"");
  }
  if (cfg.has_forwarding()) {
    Where w = root.child("forwarding");
    const Forwarding& f = cfg.forwarding();
    if (f.has_gue_port()) check_range(c, w, "gue_port", f.gue_port(), 1, 65535);
    // The data path needs room for the largest encapsulation on top of IPv6's minimum MTU (1280).
    if (f.has_mtu()) check_range(c, w, "mtu", f.mtu(), 1368, 9216);
    if (!f.pin_path().empty() && f.pin_path().rfind("/sys/fs/bpf/", 0) != 0)
      c.err(w.at("pin_path"), "pin_path must be under /sys/fs/bpf/");
  }
  if (cfg.has_bgp()) {
    Where w = root.child("bgp");
    for (int i = 0; i < cfg.bgp().listen_size(); ++i) {
      auto a = IpAddress::parse(cfg.bgp().listen(i));
      if (!a)
        c.err(w.at("listen", i), "listen " + q(cfg.bgp().listen(i)) + " is not an IP address");
      else if (a->is_unspecified())
        c.err(w.at("listen", i), "listen must name an address, not a wildcard");
    }
    if (cfg.bgp().has_listen_port()) check_range(c, w, "listen_port", cfg.bgp().listen_port(), 0, 65535);
  }
}

}  // namespace

SiteHealthSettings site_health(const Config& cfg) {
  SiteHealthSettings out;
  const SiteHealth& h = cfg.site().health();
  if (h.has_port())
    out.port = uint16_t(h.port());
  else if (cfg.forwarding().enabled() && cfg.site().server_size() > 1)
    out.port = uint16_t(kDefaultSitePort);
  if (h.has_interval_ms()) out.interval_ms = h.interval_ms();
  out.timeout_ms = h.has_timeout_ms() ? h.timeout_ms() : std::min(out.timeout_ms, out.interval_ms);
  if (h.has_rise()) out.rise = h.rise();
  if (h.has_fall()) out.fall = h.fall();
  return out;
}

SiteLoadSettings site_load(const Config& cfg) {
  SiteLoadSettings out;
  const SiteLoad& l = cfg.site().load();
  out.enabled = l.enabled();
  out.source = l.source();
  out.cgroup_path = l.cgroup_path();
  out.cgroup_cpu_path = l.cgroup_cpu_path();
  if (l.has_period_ms()) out.period_ms = l.period_ms();
  out.window_ms = l.has_window_ms() ? l.window_ms() : std::max<uint32_t>(100, out.period_ms / 2);
  if (l.has_dead_band_percent()) out.dead_band_percent = l.dead_band_percent();
  if (l.has_step_percent()) out.step_percent = l.step_percent();
  if (l.has_min_percent()) out.min_percent = l.min_percent();
  if (l.has_max_percent()) out.max_percent = l.max_percent();
  if (l.has_quantum_percent()) out.quantum_percent = l.quantum_percent();
  if (l.has_low_load_percent()) out.low_load_percent = l.low_load_percent();
  return out;
}

bool valid_site_name(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) { return ch > ' ' && ch < 0x7f; });
}

Role role_of(const Server& s) {
  return s.role() == ROLE_UNSPECIFIED ? FORWARD_AND_SERVE : s.role();
}

Role node_role(const Config& cfg) {
  if (cfg.node().role() != ROLE_UNSPECIFIED) return cfg.node().role();
  for (auto& s : cfg.site().server())
    if (s.name() == cfg.node().name()) return role_of(s);
  return FORWARD_AND_SERVE;
}

std::expected<Loaded, Diagnostics> load_string(std::string_view text, const std::filesystem::path& path,
                                               const LoadOptions& opts) {
  Ctx c(path.string());
  Loaded out;
  out.path = path;
  out.secrets_read = opts.read_secrets;
  pb::TextFormat::Parser parser;
  Collector collector(c);
  pb::TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&collector);
  parser.WriteLocationsTo(&tree);
  if (text.size() > (16u << 20)) {
    c.err({1, 1}, "config file larger than 16 MiB");
    return std::unexpected(c.take());
  }
  if (!parser.ParseFromString(std::string(text), &out.proto)) {
    if (c.ok()) c.err({1, 1}, "could not parse the file");
    return std::unexpected(c.take());
  }
  Where root(out.proto, &tree, {1, 1});
  validate_node(c, out.proto, root);
  validate_neighbors(c, out.proto, root, out);
  validate_services(c, out.proto, root);
  validate_site(c, out.proto, root, out);
  validate_misc(c, out.proto, root);
  if (!c.ok()) {
    auto d = c.take();
    std::stable_sort(d.begin(), d.end(),
                     [](auto& a, auto& b) { return std::tie(a.line, a.column) < std::tie(b.line, b.column); });
    return std::unexpected(std::move(d));
  }
  return out;
}

std::expected<Loaded, Diagnostics> load_file(const std::filesystem::path& path, const LoadOptions& opts) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::unexpected(Diagnostics{{path.string(), 0, 0, std::string("cannot open: ") + std::strerror(errno)}});
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path, opts);
}

std::vector<std::string> diff(const Config& a, const Config& b) {
  std::vector<std::string> out;
  auto same = [](const pb::Message& x, const pb::Message& y) { return pb::util::MessageDifferencer::Equals(x, y); };
  auto named = [&](const char* kind, const auto& xs, const auto& ys) {
    std::map<std::string, const pb::Message*> mx, my;
    for (auto& x : xs) mx[x.name()] = &x;
    for (auto& y : ys) my[y.name()] = &y;
    for (auto& [n, x] : mx) {
      auto it = my.find(n);
      if (it == my.end())
        out.push_back(std::string(kind) + " " + n + ": removed");
      else if (!same(*x, *it->second))
        out.push_back(std::string(kind) + " " + n + ": changed");
    }
    for (auto& [n, y] : my)
      if (!mx.count(n)) out.push_back(std::string(kind) + " " + n + ": added");
  };
  if (!same(a.node(), b.node())) out.push_back("node: changed");
  named("neighbor", a.neighbor(), b.neighbor());
  named("service", a.service(), b.service());
  named("server", a.site().server(), b.site().server());
  if (a.site().table_size() != b.site().table_size()) out.push_back("site table_size: changed");
  if (!same(a.site().health(), b.site().health())) out.push_back("site health: changed");
  if (a.site().key_file() != b.site().key_file()) out.push_back("site key_file: changed");
  if (!same(a.site().load(), b.site().load())) out.push_back("site load: changed");
  if (!same(a.control(), b.control())) out.push_back("control: changed");
  if (!same(a.metrics(), b.metrics())) out.push_back("metrics: changed");
  if (!same(a.log(), b.log())) out.push_back("log: changed");
  if (!same(a.forwarding(), b.forwarding())) out.push_back("forwarding: changed");
  if (!same(a.bgp(), b.bgp())) out.push_back("bgp: changed");
  return out;
}

}  // namespace vane::config
