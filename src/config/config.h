#pragma once
// Loading and validating vaned's config file. Pure apart from reading the file and the key
// files it names: nothing here looks at the machine's interfaces (see check_machine).
#include <array>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vane/config.pb.h"

namespace vane::config {

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when the error is not tied to a place
  int column = 0;  // 1-based
  std::string message;
  std::string str() const;  // FILE:LINE:COLUMN: message
};

using Diagnostics = std::vector<Diagnostic>;

struct Loaded {
  Config proto;
  std::filesystem::path path;
  // TCP MD5 keys read from md5_key_file, by neighbour name.
  std::map<std::string, std::string> md5_keys;
  // BFD keyed SHA1 keys read from bfd.key_file, by neighbour name.
  std::map<std::string, std::string> bfd_keys;
  // Site agent keys read from site.key_file, as raw bytes: the first signs, any verifies. Empty
  // without a key file.
  std::vector<std::string> site_keys;
  // False when loaded with LoadOptions::read_secrets off: the key fields above are then empty.
  bool secrets_read = true;
};

struct LoadOptions {
  // Read and check md5_key_file and site.key_file. Off for tools that only need the file's shape
  // (vanectl router-config), so they run where the keys are not.
  bool read_secrets = true;
};

// Parses and validates the whole file; on any error returns every error found.
std::expected<Loaded, Diagnostics> load_file(const std::filesystem::path& path, const LoadOptions& opts = {});
// Same, from text; `path` names it in messages and anchors relative key-file paths.
std::expected<Loaded, Diagnostics> load_string(std::string_view text, const std::filesystem::path& path,
                                               const LoadOptions& opts = {});

// Start-time checks against this machine: the interface and the configured addresses exist.
Diagnostics check_machine(const Loaded& cfg);

// Human-readable differences between two valid configs, one line per change.
std::vector<std::string> diff(const Config& before, const Config& after);

// Value parsers shared by validation and the BGP speaker.
std::optional<uint32_t> parse_community(std::string_view s);
std::optional<std::array<uint32_t, 3>> parse_large_community(std::string_view s);
// Extended community as 8 bytes, from "rt:ASN:VALUE" or "soo:ASN:VALUE".
std::optional<uint64_t> parse_extended_community(std::string_view s);

// An import filter entry: "P", "P le N", "P ge N", "P ge N le M".
struct PrefixRange {
  std::string prefix;  // parsed again by users through vane::Prefix
  uint8_t ge = 0, le = 0;
};
std::optional<PrefixRange> parse_prefix_range(std::string_view s, std::string* why = nullptr);

// Site health settings with defaults applied (config.proto, SiteHealth).
struct SiteHealthSettings {
  uint16_t port = 0;  // 0: off
  uint32_t interval_ms = 500;
  uint32_t timeout_ms = 400;
  uint32_t rise = 2;
  uint32_t fall = 3;
  bool enabled() const { return port != 0; }
};
SiteHealthSettings site_health(const Config& cfg);

// Load-driven weights with defaults applied (config.proto, SiteLoad). The limits apply whether or
// not the loop runs here: they bound what other servers may publish.
struct SiteLoadSettings {
  bool enabled = false;
  SiteLoad::Source source = SiteLoad::PROC_STAT;
  std::string cgroup_path, cgroup_cpu_path;
  uint32_t period_ms = 10000, window_ms = 5000;
  uint32_t dead_band_percent = 5, step_percent = 25, min_percent = 25, max_percent = 400;
  uint32_t quantum_percent = 2, low_load_percent = 20;
  bool operator==(const SiteLoadSettings&) const = default;
};
SiteLoadSettings site_load(const Config& cfg);

// Whether `s` can be a node or service name: it travels as one token of the site agent's reply,
// so 1 to 255 printable ASCII characters without spaces.
bool valid_site_name(std::string_view s);

// Bounds of a site key (site.key_file), in bytes of secret.
inline constexpr size_t kSiteKeyMinBytes = 32;
inline constexpr size_t kSiteKeyMaxBytes = 64;

// A server's role with the default applied: FORWARD_AND_SERVE when unspecified.
Role role_of(const Server& s);
// This node's role: node.role when set, else its site.server entry's.
Role node_role(const Config& cfg);

// Defaults applied where the file is silent.
inline constexpr uint32_t kDefaultHoldTime = 90;
inline constexpr uint32_t kDefaultConnectRetry = 5;
// The most routes vaned holds from one neighbour when max_prefixes.limit is below it (or unset).
inline constexpr uint32_t kDefaultMaxReceivedRoutes = 100000;
inline constexpr uint32_t kDefaultCheckIntervalMs = 1000;
inline constexpr uint32_t kDefaultRise = 2;
inline constexpr uint32_t kDefaultFall = 3;
inline constexpr uint32_t kDefaultWeight = 100;
inline constexpr uint32_t kDefaultGuePort = 6080;
inline constexpr uint32_t kDefaultMtu = 1500;
inline constexpr uint32_t kDefaultSitePort = 6081;
inline constexpr const char* kDefaultSocket = "/run/vane/vaned.sock";

}  // namespace vane::config
