// The neighbour's bfd block: ranges, and the keyed SHA1 key file under the md5_key_file rules.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"

namespace vane::config {
namespace {

namespace fs = std::filesystem;

const std::string kNode =
    R"(node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }
site { server { name: "s1" address: "192.0.2.11" } }
)";

std::string with_bfd(const std::string& bfd) {
  return kNode + "neighbor { name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 bfd { " + bfd + " } }\n";
}

class BfdConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vane-bfd-config-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<std::string> errors(const std::string& text) {
    std::vector<std::string> out;
    auto r = load_string(text, dir_ / "vaned.conf");
    if (!r)
      for (auto& d : r.error()) out.push_back(d.message);
    return out;
  }
  void key(const std::string& text, fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
    std::ofstream(dir_ / "bfd.key") << text;
    fs::permissions(dir_ / "bfd.key", perms);
  }
  fs::path dir_;
};

TEST_F(BfdConfig, EmptyBlockIsValid) {
  auto r = load_string(with_bfd(""), dir_ / "vaned.conf");
  ASSERT_TRUE(r) << r.error()[0].str();
  EXPECT_TRUE(r->proto.neighbor(0).has_bfd());
  EXPECT_TRUE(r->bfd_keys.empty());
}

TEST_F(BfdConfig, Ranges) {
  EXPECT_EQ(errors(with_bfd("min_rx_ms: 9 min_tx_ms: 60001 multiplier: 0")),
            (std::vector<std::string>{"min_rx_ms 9 out of range 10..60000", "min_tx_ms 60001 out of range 10..60000",
                                      "multiplier 0 out of range 1..255"}));
  EXPECT_EQ(errors(with_bfd("key_id: 3")), std::vector<std::string>{"needs key_file"});
  EXPECT_EQ(errors(with_bfd("meticulous: true")), std::vector<std::string>{"needs key_file"});
}

TEST_F(BfdConfig, KeyFileRead) {
  key("0123456789abcdefghij\n");
  auto r = load_string(with_bfd("key_file: \"bfd.key\" key_id: 7 meticulous: true"), dir_ / "vaned.conf");
  ASSERT_TRUE(r) << r.error()[0].str();
  EXPECT_EQ(r->bfd_keys.at("tor1"), "0123456789abcdefghij");
}

TEST_F(BfdConfig, KeyFileRules) {
  const std::string path = (dir_ / "bfd.key").string();
  key("0123456789abcdefghijk");  // 21 bytes
  EXPECT_EQ(errors(with_bfd("key_file: \"bfd.key\"")),
            std::vector<std::string>{"bfd key_file \"" + path + "\" must hold a key of 1 to 20 bytes"});
  key("\n");
  EXPECT_EQ(errors(with_bfd("key_file: \"bfd.key\"")),
            std::vector<std::string>{"bfd key_file \"" + path + "\" must hold a key of 1 to 20 bytes"});
  key("k", fs::perms::owner_read | fs::perms::group_read);
  EXPECT_EQ(errors(with_bfd("key_file: \"bfd.key\"")),
            std::vector<std::string>{"bfd key_file \"" + path + "\" is readable by others (mode 0440); chmod 600 it"});
  fs::remove(dir_ / "bfd.key");
  EXPECT_EQ(errors(with_bfd("key_file: \"bfd.key\"")),
            std::vector<std::string>{"bfd key_file \"" + path + "\": No such file or directory"});
}

}  // namespace
}  // namespace vane::config
