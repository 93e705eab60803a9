#include "daemon/sysctl.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/caps.h"

namespace vane::daemon {

namespace {

// Keys are paths under the sysctl root made by vaned itself; refusing anything else keeps a
// tampered state file from making vaned write outside net/.
bool valid_key(const std::string& k) {
  if (!k.starts_with("net/") || k.find("..") != std::string::npos || k.find("//") != std::string::npos) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
           c == '-' || c == '.' || c == '@';
  });
}

bool valid_value(const std::string& v) {
  return !v.empty() && v.size() <= 64 &&
         std::all_of(v.begin(), v.end(), [](char c) { return (c >= '0' && c <= '9') || c == '-'; });
}

// Writes under net/ are checked against CAP_NET_ADMIN in the owning network namespace.
std::string why(int err) {
  return std::strerror(err) + missing_capability_hint(err, {CAP_NET_ADMIN});
}

}  // namespace

Sysctls::Sysctls(std::filesystem::path root, std::filesystem::path state)
    : root_(std::move(root)), state_(std::move(state)) {}

std::expected<void, std::string> Sysctls::load() {
  if (state_.empty()) return {};
  std::ifstream in(state_);
  if (!in) {
    if (errno == ENOENT) return {};
    return std::unexpected(state_.string() + ": " + std::strerror(errno));
  }
  std::vector<std::pair<std::string, std::string>> got;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string key, value, extra;
    if (!(ls >> key >> value) || (ls >> extra) || !valid_key(key) || !valid_value(value))
      return std::unexpected(state_.string() + ":" + std::to_string(n) +
                             ": not a \"key value\" line of a sysctl under net/");
    if (std::any_of(got.begin(), got.end(), [&](auto& o) { return o.first == key; }))
      return std::unexpected(state_.string() + ":" + std::to_string(n) + ": " + key + " listed twice");
    got.emplace_back(std::move(key), std::move(value));
  }
  if (got.size() > 4096) return std::unexpected(state_.string() + ": too many entries");
  // Keys this vaned recorded before reading the file keep the file's (older, truer) original.
  for (auto& [k, v] : originals_)
    if (std::none_of(got.begin(), got.end(), [&](auto& o) { return o.first == k; })) got.emplace_back(k, v);
  originals_ = std::move(got);
  return {};
}

std::expected<std::string, std::string> Sysctls::get(const std::string& key) const {
  std::ifstream in(root_ / key);
  std::string v;
  if (!in || !std::getline(in, v)) return std::unexpected("read " + key + ": " + std::strerror(errno));
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ' || v.back() == '\t')) v.pop_back();
  return v;
}

std::expected<void, std::string> Sysctls::save() const {
  if (state_.empty()) return {};
  if (originals_.empty()) {
    std::error_code ec;
    std::filesystem::remove(state_, ec);
    if (ec) return std::unexpected("remove " + state_.string() + ": " + ec.message());
    return {};
  }
  std::string text;
  for (auto& [k, v] : originals_) text += k + " " + v + "\n";
  const std::string tmp = state_.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return std::unexpected("write " + tmp + ": " + std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), state_.c_str()) != 0) {
    const int e = ok ? errno : err;
    ::unlink(tmp.c_str());
    return std::unexpected("write " + state_.string() + ": " + std::strerror(e));
  }
  return {};
}

std::expected<void, std::string> Sysctls::set(const std::string& key, const std::string& value) {
  if (!valid_key(key) || !valid_value(value)) return std::unexpected("refusing sysctl " + key + " = " + value);
  const bool recorded = std::any_of(originals_.begin(), originals_.end(), [&](auto& o) { return o.first == key; });
  if (!recorded) {
    auto now = get(key);
    if (!now) return std::unexpected(now.error());
    if (*now == value) return {};
    if (!valid_value(*now)) return std::unexpected(key + " holds " + *now + ", not a number vaned can restore");
    originals_.emplace_back(key, *now);
    // Saved before the write: a crash in between leaves a record of a value not yet changed, which
    // restores to itself; the other order could lose the original.
    if (auto r = save(); !r) {
      originals_.pop_back();
      return std::unexpected(r.error());
    }
  }
  std::ofstream out(root_ / key);
  if (out) out << value << "\n";
  out.flush();
  if (!out) {
    const std::string msg = "set " + key + " = " + value + ": " + why(errno);
    // Not changed, so nothing to restore.
    if (!recorded) {
      originals_.pop_back();
      (void)save();
    }
    return std::unexpected(msg);
  }
  return {};
}

std::vector<std::string> Sysctls::restore() {
  std::vector<std::string> errors;
  std::vector<std::pair<std::string, std::string>> left;
  for (auto it = originals_.rbegin(); it != originals_.rend(); ++it) {
    const auto path = root_ / it->first;
    std::ofstream out(path);
    if (out) out << it->second << "\n";
    out.flush();
    if (out) continue;
    const int err = errno;
    // ENOENT: the interface is gone, and its settings with it.
    if (err == ENOENT) continue;
    errors.push_back("restore " + it->first + " = " + it->second + ": " + why(err));
    left.insert(left.begin(), *it);
  }
  originals_ = std::move(left);
  if (auto r = save(); !r) errors.push_back(r.error());
  return errors;
}

std::vector<std::string> enable_forwarding_sysctls(Sysctls& s, const std::string& ifname) {
  std::vector<std::string> errors;
  auto set = [&](const std::string& key, const std::string& v) {
    if (auto r = s.set(key, v); !r) errors.push_back(r.error());
  };
  const std::string v6 = "net/ipv6/conf/" + ifname + "/";
  // accept_ra 1 means "only while not forwarding": turned up before forwarding, so no RA is missed.
  if (auto ra = s.get(v6 + "accept_ra"); ra && *ra == "1") set(v6 + "accept_ra", "2");
  set("net/ipv4/conf/" + ifname + "/forwarding", "1");
  set(v6 + "forwarding", "1");
  set("net/ipv4/conf/" + ifname + "/accept_local", "1");
  return errors;
}

}  // namespace vane::daemon
