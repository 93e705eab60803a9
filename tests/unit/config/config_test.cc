// Golden messages for every validation error the config loader reports, with line and column.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"

namespace vane::config {
namespace {

namespace fs = std::filesystem;

const char* kExample = VANE_SOURCE_DIR "/examples/vaned.conf";

// The README's example, loaded beside the site key it names: a key file must be mode 0600, which
// git does not keep, so the example cannot ship one.
auto load_example() {
  fs::path dir = fs::temp_directory_path() / ("vane-example-" + std::to_string(getpid()));
  fs::create_directories(dir);
  fs::copy_file(kExample, dir / "vaned.conf", fs::copy_options::overwrite_existing);
  std::ofstream(dir / "site.key") << std::string(64, 'a') << "\n";
  fs::permissions(dir / "site.key", fs::perms::owner_read | fs::perms::owner_write);
  auto r = load_file(dir / "vaned.conf");
  fs::remove_all(dir);
  return r;
}

// Minimal valid config the cases below break one piece at a time.
const std::string kBase =
    R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" } }
)";

std::vector<std::string> errors(const std::string& text, const fs::path& path = "t.conf") {
  auto r = load_string(text, path);
  std::vector<std::string> out;
  if (!r)
    for (auto& d : r.error()) out.push_back(d.str());
  return out;
}

TEST(Config, ExampleFromTheReadmeIsValid) {
  auto r = load_example();
  ASSERT_TRUE(r.has_value()) << (r ? "" : r.error()[0].str());
  EXPECT_EQ(r->proto.node().name(), "s1");
  EXPECT_EQ(r->proto.neighbor(0).hold_time_s(), 9u);
  EXPECT_EQ(r->proto.service(0).check(0).http().path(), "/healthz");
  EXPECT_EQ(r->proto.site().server_size(), 3);
}

TEST(Config, SyntaxErrorReportsLineAndColumn) {
  EXPECT_EQ(errors(kBase + "neighbor { name: \"x\" address: }\n"),
            std::vector<std::string>{"t.conf:3:31: Expected string, got: }"});
}

TEST(Config, UnknownFieldIsAnError) {
  EXPECT_EQ(
      errors(kBase + "neighbour { }\n"),
      std::vector<std::string>{"t.conf:3:11: Message type \"vane.config.Config\" has no field named \"neighbour\"."});
}

TEST(Config, MissingFileIsReported) {
  auto r = load_file("/nonexistent/vaned.conf");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error()[0].str(), "/nonexistent/vaned.conf:0:0: cannot open: No such file or directory");
}

TEST(Config, NodeMustBeInTheSiteServerList) {
  EXPECT_EQ(errors(R"(node { name: "s9" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" } }
)"),
            std::vector<std::string>{"t.conf:1:8: node \"s9\" is not in the site's server list"});
}

TEST(Config, NodeAddressesMustBeItsSiteEntrys) {
  // GUE goes to the site entry's address and is accepted only from it: the node's must agree.
  EXPECT_EQ(errors(R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.21" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" } }
)"),
            std::vector<std::string>{
                "t.conf:1:54: address \"192.0.2.21\" differs from the site server entry's \"192.0.2.11\""});
  EXPECT_EQ(
      errors(
          R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" address6: "2001:db8::11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" address6: "2001:db8::0:11" } }
)"),
      std::vector<std::string>{});
  EXPECT_EQ(
      errors(
          R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" address6: "2001:db8::11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" address6: "2001:db8::12" } }
)"),
      std::vector<std::string>{
          "t.conf:1:76: address6 \"2001:db8::11\" differs from the site server entry's \"2001:db8::12\""});
}

TEST(Config, ServerAddressesMustBeUnicastAndDistinct) {
  // The redirectors trust GUE from every server address: none may be one anybody could forge.
  EXPECT_EQ(errors(R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site {
  server { name: "s1" address: "192.0.2.11" address6: "2001:db8::11" }
  server { name: "s2" address: "0.0.0.0" }
  server { name: "s3" address: "224.0.0.5" address6: "ff02::1" }
  server { name: "s4" address: "127.0.0.1" address6: "::" }
  server { name: "s5" address: "192.0.2.15" address6: "2001:db8::11" }
  server { name: "s6" address: "255.255.255.255" address6: "2001:db8::16" }
}
)"),
            (std::vector<std::string>{
                "t.conf:4:23: address \"0.0.0.0\" is not a unicast address a server can send from",
                "t.conf:5:23: address \"224.0.0.5\" is not a unicast address a server can send from",
                "t.conf:5:44: address6 \"ff02::1\" is not a unicast address a server can send from",
                "t.conf:6:23: address \"127.0.0.1\" is not a unicast address a server can send from",
                "t.conf:6:44: address6 \"::\" is not a unicast address a server can send from",
                "t.conf:7:45: duplicate server address \"2001:db8::11\"",
                "t.conf:8:23: address \"255.255.255.255\" is not a unicast address a server can send from"}));
}

TEST(Config, InvalidAddressesArePointedAt) {
  EXPECT_EQ(errors(R"(node { name: "s1" router_id: "2001:db8::1" asn: 65011 address: "192.0.2.300" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" } }
)"),
            (std::vector<std::string>{"t.conf:1:19: router_id must be an IPv4 address",
                                      "t.conf:1:55: address \"192.0.2.300\" is not an IP address"}));
}

TEST(Config, UnnumberedNeighborsAreChecked) {
  // By interface alone, or with the router's link-local address: valid.
  EXPECT_EQ(errors(kBase + R"(neighbor { name: "a" interface: "eth0" remote_asn: 65000 }
neighbor { name: "b" interface: "eth1" address: "fe80::1" remote_asn: 65000 }
neighbor { name: "c" interface: "eth2" address: "fe80::1" remote_asn: 65000 }
)"),
            std::vector<std::string>{});
  EXPECT_EQ(
      errors(kBase + R"(neighbor { name: "a" interface: "eth0" address: "2001:db8::1" remote_asn: 65000 passive: true }
neighbor { name: "b" address: "fe80::1" remote_asn: 65000 }
neighbor { name: "c" interface: "eth0" remote_asn: 65000 local_address: "192.0.2.11" bfd {} }
neighbor { name: "d" interface: "eth3/x" remote_asn: 65000 }
)"),
      (std::vector<std::string>{
          "t.conf:3:40: address with interface must be the router's IPv6 link-local (fe80::/10) address",
          "t.conf:3:81: an unnumbered neighbor (interface) cannot be passive: vaned calls the router",
          "t.conf:4:22: a link-local address needs interface",
          "t.conf:5:58: local_address cannot be set with interface: the session uses the link-local address",
          "t.conf:5:86: bfd is not supported on an unnumbered neighbor (interface) yet",
          "t.conf:6:22: interface \"eth3/x\" is not an interface name"}));
  // Two neighbours learning their router on one link would both take the same router.
  EXPECT_EQ(errors(kBase + R"(neighbor { name: "a" interface: "eth0" remote_asn: 65000 }
neighbor { name: "b" interface: "eth0" remote_asn: 65001 }
)"),
            (std::vector<std::string>{"t.conf:4:22: a second neighbor learning its address on interface \"eth0\""}));
  EXPECT_EQ(errors(kBase + R"(neighbor { name: "a" interface: "eth0" remote_asn: 65000 multihop_ttl: 2 }
)"),
            (std::vector<std::string>{"t.conf:3:58: multihop_ttl above 1 with interface: the router is on the link"}));
}

// An unnumbered neighbour needs the raw ICMPv6 socket of router advertisements: without
// CAP_NET_RAW vaned refuses to start rather than leave the neighbour Idle for good. The check runs
// in a child that dropped CAP_NET_RAW from its effective set.
TEST(Config, AnUnnumberedNeighbourNeedsCapNetRaw) {
  auto l = load_string(kBase + R"(neighbor { name: "a" interface: "lo" remote_asn: 65000 })", "t.conf");
  ASSERT_TRUE(l);
  auto mentions_net_raw = [&] {
    for (auto& d : check_machine(*l))
      if (d.str().find("CAP_NET_RAW") != std::string::npos) return true;
    return false;
  };
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  ASSERT_EQ(::syscall(SYS_capget, &hdr, data), 0);
  if (!(data[CAP_NET_RAW / 32].effective >> (CAP_NET_RAW % 32) & 1u)) {
    EXPECT_TRUE(mentions_net_raw());
    GTEST_SKIP() << "runs without CAP_NET_RAW: only the refusal is checked";
  }
  EXPECT_FALSE(mentions_net_raw());
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    data[CAP_NET_RAW / 32].effective &= ~(1u << (CAP_NET_RAW % 32));
    if (::syscall(SYS_capset, &hdr, data) != 0) ::_exit(2);
    ::_exit(mentions_net_raw() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no CAP_NET_RAW diagnostic; 2: capset failed";
  // Without an unnumbered neighbour nothing asks for it.
  auto plain = load_string(kBase, "t.conf");
  ASSERT_TRUE(plain);
  for (auto& d : check_machine(*plain)) EXPECT_EQ(d.str().find("CAP_NET_RAW"), std::string::npos) << d.str();
}

TEST(Config, DuplicateNamesAreRefused) {
  EXPECT_EQ(errors(kBase + R"(neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 }
neighbor { name: "tor1" address: "192.0.2.2" remote_asn: 65000 }
service { name: "web" }
service { name: "web" }
)"),
            (std::vector<std::string>{"t.conf:4:12: duplicate neighbor name \"tor1\"",
                                      "t.conf:6:11: duplicate service name \"web\""}));
}

TEST(Config, DuplicateServersAreRefused) {
  EXPECT_EQ(errors(R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site {
  server { name: "s1" address: "192.0.2.11" }
  server { name: "s1" address: "192.0.2.11" }
}
)"),
            (std::vector<std::string>{"t.conf:4:12: duplicate server name \"s1\"",
                                      "t.conf:4:23: duplicate server address \"192.0.2.11\""}));
}

TEST(Config, InvalidPrefixIsRefused) {
  EXPECT_EQ(errors(kBase + R"(service { name: "web"
  announce { prefix: "203.0.113.10/24" }
  announce { prefix: "203.0.113.0/33" }
})"),
            (std::vector<std::string>{
                "t.conf:4:14: invalid prefix \"203.0.113.10/24\": host bits set after the prefix length",
                "t.conf:5:14: invalid prefix \"203.0.113.0/33\": prefix length too long for the address family"}));
}

TEST(Config, VipOutsideEveryAnnouncedPrefixIsRefused) {
  EXPECT_EQ(errors(kBase + R"(service { name: "web"
  vip { address: "203.0.113.99" port: 80 protocol: TCP }
  announce { prefix: "203.0.113.0/28" }
})"),
            std::vector<std::string>{"t.conf:4:9: VIP 203.0.113.99 is outside every prefix service \"web\" announces"});
}

TEST(Config, PortsAndTimersOutOfRangeAreRefused) {
  EXPECT_EQ(
      errors(kBase + R"(neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 2 port: 70000 }
service { name: "web"
  vip { address: "203.0.113.10" port: 65536 protocol: TCP }
  announce { prefix: "203.0.113.10/32" }
  check { name: "c" tcp { port: 0 } interval_ms: 10 }
  check { name: "d" http { port: 80 } interval_ms: 500 timeout_ms: 600 }
})"),
      (std::vector<std::string>{
          "t.conf:3:64: hold_time_s 2 must be 0 or 3..65535",
          "t.conf:3:79: port 70000 out of range 1..65535",
          "t.conf:5:33: port 65536 out of range 0..65535",
          "t.conf:7:27: port is required (1..65535)",
          "t.conf:7:37: interval_ms 10 out of range 50..3600000",
          "t.conf:8:56: timeout_ms must not exceed interval_ms",
      }));
}

TEST(Config, RiseOrFallOfZeroIsRefused) {
  EXPECT_EQ(errors(kBase + R"(service { name: "web"
  check { name: "c" tcp { port: 80 } rise: 0 fall: 0 }
})"),
            (std::vector<std::string>{"t.conf:4:38: rise must be at least 1", "t.conf:4:46: fall must be at least 1"}));
}

TEST(Config, BadCheckKindsAreRefused) {
  EXPECT_EQ(errors(kBase + R"(service { name: "web"
  check { name: "none" }
  check { name: "x" exec { } }
  check { name: "y" dns { port: 53 query_type: "BOGUS" } }
})"),
            (std::vector<std::string>{
                "t.conf:4:3: check \"none\" has no kind (tcp, http, dns, exec or agent)",
                "t.conf:5:21: command is required",
                "t.conf:6:21: query_name is required",
                "t.conf:6:36: unknown query_type \"BOGUS\"",
            }));
}

TEST(Config, ExecCheckUsersAreLookedUpAndRootNeedsAnOptIn) {
  EXPECT_EQ(errors(kBase + R"(service { name: "web"
  check { name: "a" exec { command: "true" user: "no-such-user-vane" } }
  check { name: "b" exec { command: "true" user: "root" } }
  check { name: "c" exec { command: "true" user: "root" allow_root: true } }
  check { name: "d" exec { command: "true" user: "nobody" } }
  check { name: "e" exec { command: "true" } }
})"),
            (std::vector<std::string>{
                "t.conf:4:44: user \"no-such-user-vane\" does not exist",
                "t.conf:5:44: user \"root\" is root (uid 0): checks run as root only with allow_root: true",
            }));
}

TEST(Config, BadCommunitiesAreRefused) {
  EXPECT_EQ(errors(kBase + R"(service { name: "web"
  announce { prefix: "203.0.113.0/24" community: "65536:1" large_community: "1:2" community: "no-export" prepend: 11 }
})"),
            (std::vector<std::string>{
                "t.conf:4:39: invalid community \"65536:1\" (ASN:VALUE, each 0..65535, or a well-known name)",
                "t.conf:4:60: invalid large community \"1:2\" (GLOBAL:LOCAL1:LOCAL2)",
                "t.conf:4:106: prepend 11 out of range 0..10",
            }));
}

TEST(Config, MetricsMustListenOnLoopbackOnly) {
  EXPECT_EQ(
      errors(kBase + "metrics { listen: \"192.0.2.11:9179\" }\n"),
      std::vector<std::string>{
          "t.conf:3:11: listen \"192.0.2.11:9179\" must be a loopback address: metrics are not exposed beyond the host "
          "unless allow_remote is set"});
  EXPECT_EQ(errors(kBase + "metrics { listen: \"192.0.2.11:9179\" allow_remote: true }\n"), std::vector<std::string>{});
  EXPECT_EQ(errors(kBase + "metrics { listen: \"[::]:9179\" allow_remote: true }\n"), std::vector<std::string>{});
}

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vane-config-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string conf(const std::string& key) {
    return kBase + "neighbor { name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 md5_key_file: \"" + key +
           "\" }\n";
  }
  fs::path dir_;
};

TEST_F(KeyFile, RelativeKeyFileResolvesAgainstTheConfigFolder) {
  std::ofstream(dir_ / "tor1.key") << "s3cret\n";
  fs::permissions(dir_ / "tor1.key", fs::perms::owner_read | fs::perms::owner_write);
  auto r = load_string(conf("tor1.key"), dir_ / "vaned.conf");
  ASSERT_TRUE(r) << r.error()[0].str();
  EXPECT_EQ(r->md5_keys.at("tor1"), "s3cret");
}

TEST_F(KeyFile, MissingKeyFileIsRefused) {
  auto e = errors(conf("missing.key"), dir_ / "vaned.conf");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], (dir_ / "vaned.conf").string() + ":3:64: md5_key_file \"" + (dir_ / "missing.key").string() +
                      "\": No such file or directory");
}

TEST_F(KeyFile, KeyFileReadableByOthersIsRefused) {
  std::ofstream(dir_ / "tor1.key") << "s3cret\n";
  fs::permissions(dir_ / "tor1.key", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  auto e = errors(conf("tor1.key"), dir_ / "vaned.conf");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], (dir_ / "vaned.conf").string() + ":3:64: md5_key_file \"" + (dir_ / "tor1.key").string() +
                      "\" is readable by others (mode 0444); chmod 600 it");
}

class SiteKeyFile : public KeyFile {
 protected:
  std::string site_conf(const std::string& key) {
    return R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" } key_file: ")" +
           key + "\" }\n";
  }
  fs::path write(const std::string& name, const std::string& text,
                 fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
    std::ofstream(dir_ / name) << text;
    fs::permissions(dir_ / name, perms);
    return dir_ / name;
  }
  std::string prefix() {
    return (dir_ / "vaned.conf").string() + ":2:52: key_file \"" + (dir_ / "site.key").string() + "\"";
  }
};

const std::string kKey1 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string kKey2 =
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100ffeeddccbbaa998877665544332211000011223344556677";

TEST_F(SiteKeyFile, OneOrTwoHexKeysAreRead) {
  write("site.key", "# site key\n" + kKey1 + "\n\n" + kKey2 + "\r\n");
  auto r = load_string(site_conf("site.key"), dir_ / "vaned.conf");
  ASSERT_TRUE(r) << r.error()[0].str();
  ASSERT_EQ(r->site_keys.size(), 2u);
  EXPECT_EQ(r->site_keys[0].size(), 32u);
  EXPECT_EQ(uint8_t(r->site_keys[0][1]), 0x11);
  EXPECT_EQ(r->site_keys[1].size(), 56u);
  EXPECT_EQ(uint8_t(r->site_keys[1][0]), 0xff);
  write("site.key", kKey1);
  auto one = load_string(site_conf("site.key"), dir_ / "vaned.conf");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->site_keys.size(), 1u);
  auto none = load_string(kBase, dir_ / "vaned.conf");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->site_keys.empty());
}

TEST_F(SiteKeyFile, BadKeyFilesAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", " must hold one or two keys (it holds 0)"},
      {"# only a comment\n", " must hold one or two keys (it holds 0)"},
      {kKey1 + "\n" + kKey2 + "\n" + std::string(64, 'a') + "\n", " must hold one or two keys (it holds 3)"},
      {std::string(62, 'a') + "\n", " line 1: a key must be 64 to 128 hex digits (32 to 64 bytes)"},
      {std::string(130, 'a') + "\n", " line 1: a key must be 64 to 128 hex digits (32 to 64 bytes)"},
      {std::string(65, 'a') + "\n", " line 1: a key must be 64 to 128 hex digits (32 to 64 bytes)"},
      {"\n" + std::string(63, 'a') + "g\n", " line 2: not a hex key"},
      {kKey1 + "\n" + kKey1 + "\n", " line 2: the same key twice"},
      {std::string(5000, '#'), " is larger than 4096 bytes"},
  };
  for (auto& [text, why] : cases) {
    write("site.key", text);
    auto e = errors(site_conf("site.key"), dir_ / "vaned.conf");
    ASSERT_EQ(e.size(), 1u) << text;
    EXPECT_EQ(e[0], prefix() + why) << text;
  }
}

TEST_F(SiteKeyFile, PermissionsAndTypeAreChecked) {
  write("site.key", kKey1 + "\n", fs::perms::owner_read | fs::perms::group_read);
  auto e = errors(site_conf("site.key"), dir_ / "vaned.conf");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], prefix() + " is readable by others (mode 0440); chmod 600 it");
  fs::remove(dir_ / "site.key");
  write("real.key", kKey1 + "\n");
  fs::create_symlink(dir_ / "real.key", dir_ / "site.key");
  e = errors(site_conf("site.key"), dir_ / "vaned.conf");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], prefix() + ": Too many levels of symbolic links");
  fs::remove(dir_ / "site.key");
  e = errors(site_conf("site.key"), dir_ / "vaned.conf");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], prefix() + ": No such file or directory");
}

// A key file another user owns is that user's to rewrite, mode 0600 or not: whoever owns it chooses
// the key vaned trusts (and, for the site key, what every server believes).
TEST_F(SiteKeyFile, AKeyFileOwnedByAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give the file to another user";
  write("site.key", kKey1 + "\n");
  ASSERT_EQ(::chown((dir_ / "site.key").c_str(), 65534, 65534), 0);
  auto e = errors(site_conf("site.key"), dir_ / "vaned.conf");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], prefix() + " is owned by uid 65534, neither root nor this user (uid 0); chown it");
  std::ofstream(dir_ / "tor1.key") << "s3cret\n";
  fs::permissions(dir_ / "tor1.key", fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_EQ(::chown((dir_ / "tor1.key").c_str(), 65534, 65534), 0);
  e = errors(conf("tor1.key"), dir_ / "vaned.conf");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], (dir_ / "vaned.conf").string() + ":3:64: md5_key_file \"" + (dir_ / "tor1.key").string() +
                      "\" is owned by uid 65534, neither root nor this user (uid 0); chown it");
  ASSERT_EQ(::chown((dir_ / "site.key").c_str(), 0, 0), 0);
  EXPECT_TRUE(load_string(site_conf("site.key"), dir_ / "vaned.conf"));
}

TEST(Config, NamesMustFitTheSiteReplyGrammar) {
  EXPECT_EQ(errors(R"(node { name: "s 1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s 1" address: "192.0.2.11" } server { name: "s\x1b[2J" address: "192.0.2.12" } }
service { name: "web\n" }
)"),
            (std::vector<std::string>{
                "t.conf:1:8: node name \"s 1\" must be 1 to 255 printable ASCII characters without spaces (site "
                "replies carry it as one word)",
                "t.conf:2:17: server name \"s 1\" must be 1 to 255 printable ASCII characters without spaces (site "
                "replies carry it as one word)",
                "t.conf:2:62: server name \"s\\x1b[2J\" must be 1 to 255 printable ASCII characters without spaces "
                "(site replies carry it as one word)",
                "t.conf:3:11: service name \"web\\x0a\" must be 1 to 255 printable ASCII characters without spaces "
                "(site replies carry it as one word)",
            }));
  const std::string long_name(256, 'n');
  auto e = errors(kBase + "service { name: \"" + long_name + "\" }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("t.conf:3:11: service name \"" + std::string(64, 'n') + "\"..."), std::string::npos) << e[0];
  EXPECT_TRUE(valid_site_name("web-1.example_2"));
  EXPECT_TRUE(valid_site_name(std::string(255, 'x')));
  EXPECT_FALSE(valid_site_name(""));
  EXPECT_FALSE(valid_site_name("caf\xc3\xa9"));
}

TEST(Config, EveryErrorIsReportedNotJustTheFirst) {
  auto e = errors(R"(node { name: "" asn: 0 }
)");
  EXPECT_GE(e.size(), 5u);
}

TEST(ConfigValues, CommunitiesParse) {
  EXPECT_EQ(parse_community("65000:100"), 0xFDE80064u);
  EXPECT_EQ(parse_community("graceful-shutdown"), 0xFFFF0000u);
  EXPECT_FALSE(parse_community("1:2:3"));
  EXPECT_EQ(parse_large_community("4200000000:1:2"), (std::array<uint32_t, 3>{4200000000u, 1, 2}));
  EXPECT_EQ(parse_extended_community("rt:65000:7"), 0x0002FDE800000007ull);
}

TEST(ConfigValues, PrefixRangesParse) {
  auto r = parse_prefix_range("203.0.113.0/24 le 32");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ge, 24);
  EXPECT_EQ(r->le, 32);
  std::string why;
  EXPECT_FALSE(parse_prefix_range("203.0.113.0/24 ge 20", &why));
}

TEST(ConfigDiff, ReportsAddedRemovedAndChangedSections) {
  auto a = load_example();
  ASSERT_TRUE(a);
  Config b = a->proto;
  b.mutable_neighbor(0)->set_hold_time_s(30);
  auto* n = b.add_neighbor();
  n->set_name("tor2");
  b.mutable_service()->Clear();
  EXPECT_EQ(diff(a->proto, b),
            (std::vector<std::string>{"neighbor tor1: changed", "neighbor tor2: added", "service web: removed"}));
  EXPECT_TRUE(diff(a->proto, a->proto).empty());
}

const std::string kTwo =
    R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" } server { name: "s2" address: "192.0.2.12" } }
)";

TEST(ConfigSite, SiteHealthDefaultsOnWithForwardingAndMoreThanOneServer) {
  auto off = load_string(kTwo, "t.conf");
  ASSERT_TRUE(off);
  EXPECT_FALSE(site_health(off->proto).enabled());
  auto on = load_string(kTwo + "forwarding { enabled: true }\n", "t.conf");
  ASSERT_TRUE(on);
  auto st = site_health(on->proto);
  EXPECT_EQ(st.port, kDefaultSitePort);
  EXPECT_EQ(st.interval_ms, 500u);
  EXPECT_EQ(st.timeout_ms, 400u);
  auto single = load_string(kBase + "forwarding { enabled: true }\n", "t.conf");
  ASSERT_TRUE(single);
  EXPECT_FALSE(site_health(single->proto).enabled());
  auto explicit_off = load_string(
      std::string(R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" } server { name: "s2" address: "192.0.2.12" } health { port: 0 } }
forwarding { enabled: true }
)"),
      "t.conf");
  ASSERT_TRUE(explicit_off);
  EXPECT_FALSE(site_health(explicit_off->proto).enabled());
}

TEST(ConfigSite, SiteHealthTimingIsCheckedAndTimeoutFollowsAShortInterval) {
  auto short_interval = load_string(
      std::string(R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" } health { port: 7000 interval_ms: 100 } }
)"),
      "t.conf");
  ASSERT_TRUE(short_interval);
  EXPECT_EQ(site_health(short_interval->proto).timeout_ms, 100u);
  EXPECT_EQ(errors(R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" }
  health { port: 70000 interval_ms: 20 timeout_ms: 900 rise: 0 fall: 101 } }
)"),
            (std::vector<std::string>{
                "t.conf:3:12: port 70000 out of range 0..65535", "t.conf:3:24: interval_ms 20 out of range 50..60000",
                "t.conf:3:40: timeout_ms 900 out of range 10..20", "t.conf:3:56: rise 0 out of range 1..100",
                "t.conf:3:64: fall 101 out of range 1..100"}));
}

TEST(ConfigSite, SitePortMustNotBeTheGuePort) {
  EXPECT_EQ(errors(R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" } health { port: 7000 } }
forwarding { enabled: true gue_port: 7000 }
)"),
            (std::vector<std::string>{"t.conf:2:61: port 7000 is the GUE port"}));
}

TEST(ConfigSite, MinHealthyServersAboveOneNeedsSiteHealth) {
  const std::string svc = R"(service { name: "web" min_healthy_servers: 2 })";
  EXPECT_EQ(errors(kTwo + svc + "\n"),
            (std::vector<std::string>{"t.conf:3:23: min_healthy_servers above 1 needs site health to count the "
                                      "other servers (set site.health.port)"}));
  EXPECT_TRUE(load_string(kTwo + svc + "\nforwarding { enabled: true }\n", "t.conf"));
}

TEST(ConfigSite, NodeRoleMustAgreeWithItsServerEntry) {
  EXPECT_EQ(
      errors(
          R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" role: BACKEND_ONLY }
site { server { name: "s1" address: "192.0.2.11" role: FORWARDER_ONLY } }
)"),
      (std::vector<std::string>{"t.conf:1:94: role BACKEND_ONLY differs from the site server entry's FORWARDER_ONLY"}));
  auto from_entry =
      load_string(R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" role: BACKEND_ONLY } }
)",
                  "t.conf");
  ASSERT_TRUE(from_entry);
  EXPECT_EQ(node_role(from_entry->proto), BACKEND_ONLY);
  auto from_node = load_string(
      R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" role: FORWARDER_ONLY }
site { server { name: "s1" address: "192.0.2.11" } }
)",
      "t.conf");
  ASSERT_TRUE(from_node);
  EXPECT_EQ(node_role(from_node->proto), FORWARDER_ONLY);
  auto defaulted = load_string(kBase, "t.conf");
  ASSERT_TRUE(defaulted);
  EXPECT_EQ(node_role(defaulted->proto), FORWARD_AND_SERVE);
}

TEST(ConfigSite, VipSteeringOptionsParse) {
  auto l = load_string(
      kBase + R"(service { name: "dns" vip { address: "203.0.113.53" port: 53 protocol: UDP single_hop: true }
  vip { address: "203.0.113.54" port: 443 protocol: TCP hash_without_ports: true not_steered: true }
  announce { prefix: "203.0.113.0/24" } }
)",
      "t.conf");
  ASSERT_TRUE(l) << l.error()[0].str();
  EXPECT_TRUE(l->proto.service(0).vip(0).single_hop());
  EXPECT_TRUE(l->proto.service(0).vip(1).hash_without_ports());
  EXPECT_TRUE(l->proto.service(0).vip(1).not_steered());
}

}  // namespace
}  // namespace vane::config

namespace vane::config {
namespace {

const std::string kLoadSite =
    R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
forwarding { enabled: true }
site { server { name: "s1" address: "192.0.2.11" } server { name: "s2" address: "192.0.2.12" }
)";

TEST(SiteLoadConfig, DefaultsAndValidation) {
  auto ok = load_string(kLoadSite + "load { enabled: true } }\n", "t.conf");
  ASSERT_TRUE(ok);
  const auto s = site_load(ok->proto);
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.period_ms, 10000u);
  EXPECT_EQ(s.window_ms, 5000u);
  EXPECT_EQ(s.quantum_percent, 2u);
  EXPECT_FALSE(site_load(load_string(kLoadSite + "}\n", "t.conf")->proto).enabled) << "off by default";
  auto cg = load_string(
      kLoadSite + "load { enabled: true source: CGROUP cgroup_path: \"/sys/fs/cgroup/cpu/web\" period_ms: 2000 } }\n",
      "t.conf");
  ASSERT_TRUE(cg);
  EXPECT_EQ(site_load(cg->proto).window_ms, 1000u);

  auto e = errors(kLoadSite + "load { enabled: true period_ms: 100 } }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("period_ms"), std::string::npos) << e[0];
  e = errors(kLoadSite + "load { period_ms: 1000 window_ms: 2000 } }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("window_ms"), std::string::npos) << e[0];
  e = errors(kLoadSite + "load { dead_band_percent: 2 quantum_percent: 5 } }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("dead_band_percent 2 must be at least quantum_percent (5)"), std::string::npos) << e[0];
  e = errors(kLoadSite + "load { source: CGROUP } }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("cgroup_path"), std::string::npos) << e[0];
  e = errors(kLoadSite + "load { cgroup_path: \"/x\" } }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("for source CGROUP"), std::string::npos) << e[0];
  e = errors(kLoadSite + "load { max_percent: 50 min_percent: 0 } }\n");
  EXPECT_EQ(e.size(), 2u);
  // Low load from 67% on could never be left (leaving needs the mean at 1.5 x it).
  EXPECT_TRUE(load_string(kLoadSite + "load { low_load_percent: 66 } }\n", "t.conf"));
  e = errors(kLoadSite + "load { low_load_percent: 67 } }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("low_load_percent 67 out of range 0..66"), std::string::npos) << e[0];
  // A step below one quantum would still move a whole level.
  e = errors(kLoadSite + "load { step_percent: 2 quantum_percent: 3 dead_band_percent: 5 } }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("step_percent 2 must be at least quantum_percent (3)"), std::string::npos) << e[0];
  EXPECT_TRUE(
      load_string(kLoadSite + "load { step_percent: 3 quantum_percent: 3 dead_band_percent: 5 } }\n", "t.conf"));
  // The period covers the window and the others' next query (site health interval + timeout).
  e = errors(kLoadSite + "health { interval_ms: 500 timeout_ms: 400 } load { period_ms: 1000 window_ms: 500 } }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("period_ms 1000 must be at least window_ms (500) + site health interval_ms (500) + timeout_ms "
                      "(400)"),
            std::string::npos)
      << e[0];
  EXPECT_TRUE(load_string(
      kLoadSite + "health { interval_ms: 200 timeout_ms: 150 } load { period_ms: 1000 window_ms: 500 } }\n", "t.conf"))
      << "the e2e site's settings";
  e = errors(kLoadSite + "health { port: 0 } load { enabled: true } }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("site health must be on"), std::string::npos) << e[0];
}

TEST(SiteLoadConfig, IsPartOfTheReloadDiff) {
  auto a = load_string(kLoadSite + "}\n", "t.conf");
  auto b = load_string(kLoadSite + "load { enabled: true } }\n", "t.conf");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(diff(a->proto, b->proto), std::vector<std::string>{"site load: changed"});
}

}  // namespace
}  // namespace vane::config
