#pragma once
// The sysctls vaned changes, each with the value it had before vaned first touched it. The originals
// are kept in a file (under the runtime directory) so that a vaned killed without cleanup and started
// again restores the machine's values, not the ones its predecessor set.
#include <expected>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace vane::daemon {

class Sysctls {
 public:
  // root: the sysctl tree ("/proc/sys"; tests pass a directory of their own). state: where the
  // originals are kept; empty keeps them in memory only.
  Sysctls(std::filesystem::path root, std::filesystem::path state);

  // Reads the originals an earlier vaned kept. A missing file is no error; a malformed one is (and
  // is left alone, so nothing is restored from a guess).
  std::expected<void, std::string> load();

  // Current value of KEY ("net/ipv4/conf/eth0/forwarding"), without the trailing newline.
  std::expected<std::string, std::string> get(const std::string& key) const;

  // Sets KEY to VALUE. Its value before is recorded (and the record saved) first, unless it is
  // recorded already or already equals VALUE.
  std::expected<void, std::string> set(const std::string& key, const std::string& value);

  // Writes every original back, last changed first, and forgets those restored (a key whose
  // interface has gone is forgotten too). Returns one message per key it could not restore; those
  // stay recorded for a later vaned.
  std::vector<std::string> restore();

  // Recorded changes, in the order they were made: key and original value.
  const std::vector<std::pair<std::string, std::string>>& originals() const { return originals_; }

 private:
  std::expected<void, std::string> save() const;

  std::filesystem::path root_, state_;
  std::vector<std::pair<std::string, std::string>> originals_;
};

// What the XDP data path needs on its interface: IPv4 and IPv6 forwarding and IPv4 accept_local
// (see forwarding.cc). Where IPv6 forwarding gets turned on while accept_ra is 1 (accept RAs
// only when not forwarding), accept_ra goes to 2 first, so router advertisements, and a default
// route learned from them, keep working. Returns one message per sysctl it could not set.
std::vector<std::string> enable_forwarding_sysctls(Sysctls& s, const std::string& ifname);

}  // namespace vane::daemon
