#pragma once
// BPF test plumbing: a network namespace this process enters (so fib and socket lookups see a
// known world), BPF_PROG_TEST_RUN, and the skip rules (not root, or no BPF at all).
#include <cstdint>
#include <expected>
#include <string>

#include "packet.h"

namespace vane::test {

// Empty when BPF programs can be loaded here, else why not (for GTEST_SKIP).
std::string bpf_unavailable_reason();

// Gives this process a mount namespace of its own with a fresh bpffs on /sys/fs/bpf, so that the
// tests that pin maps neither need the machine to have mounted one nor leave pins on it. Call
// before any thread starts. Empty on success, else why not.
std::string private_bpffs();

// Runs a shell command; returns its exit status (0 = fine).
int sh(const std::string& cmd);

// A namespace named vane-xdp-<pid>-<n>; enter() moves this thread into it, leave() back.
class Netns {
 public:
  Netns();
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  // `ip -n NAME ARGS`
  int ip(const std::string& args) const;
  bool enter();
  void leave();

 private:
  std::string name_;
  int home_fd_ = -1;
  bool ok_ = false;
  bool inside_ = false;
};

struct RunResult {
  int verdict = -1;
  Bytes out;
};

// BPF_PROG_TEST_RUN of an XDP program once, as if received on ifindex (0: loopback).
std::expected<RunResult, std::string> run_xdp(int prog_fd, const Bytes& in, int ifindex, uint32_t repeat = 1,
                                              uint32_t* duration_ns = nullptr);

}  // namespace vane::test
