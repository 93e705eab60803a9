#include "harness.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "xdp_pass.skel.h"

namespace vane::test {

std::string private_bpffs() {
  if (unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  // Nothing mounted from here on may propagate back to the machine's namespace.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return std::string("make / private: ") + std::strerror(errno);
  if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0)
    return std::string("mount bpffs on /sys/fs/bpf: ") + std::strerror(errno);
  return "";
}

std::string bpf_unavailable_reason() {
  static const std::string why = [] {
    if (geteuid() != 0) return std::string("needs root (BPF, network namespaces)");
    if (!std::getenv("VANE_BPF_DEBUG")) libbpf_set_print([](libbpf_print_level, const char*, va_list) { return 0; });
    xdp_pass* s = xdp_pass__open_and_load();
    if (!s) return std::string("cannot load a trivial XDP program: ") + std::strerror(errno);
    xdp_pass__destroy(s);
    if (sh("ip netns list >/dev/null 2>&1") != 0) return std::string("no 'ip netns'");
    return std::string();
  }();
  return why;
}

int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

Netns::Netns() {
  static std::atomic<int> n{0};
  name_ = "vane-xdp-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  ok_ = sh("ip netns add " + name_) == 0 && ip("link set lo up") == 0;
}

Netns::~Netns() {
  leave();
  if (ok_) sh("ip netns del " + name_);
}

int Netns::ip(const std::string& args) const {
  return sh("ip -n " + name_ + " " + args);
}

bool Netns::enter() {
  if (inside_) return true;
  home_fd_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int fd = ::open(("/var/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
  if (home_fd_ < 0 || fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    if (fd >= 0) ::close(fd);
    return false;
  }
  ::close(fd);
  inside_ = true;
  return true;
}

void Netns::leave() {
  if (!inside_) return;
  (void)setns(home_fd_, CLONE_NEWNET);
  ::close(home_fd_);
  home_fd_ = -1;
  inside_ = false;
}

std::expected<RunResult, std::string> run_xdp(int prog_fd, const Bytes& in, int ifindex, uint32_t repeat,
                                              uint32_t* duration_ns) {
  RunResult r;
  r.out.resize(4096);
  xdp_md md{};
  md.ingress_ifindex = uint32_t(ifindex);
  md.data_end = uint32_t(in.size());  // no metadata: the frame is [data, data_end)
  bpf_test_run_opts o{};
  o.sz = sizeof(o);
  o.data_in = in.data();
  o.data_size_in = uint32_t(in.size());
  o.data_out = r.out.data();
  o.data_size_out = uint32_t(r.out.size());
  if (ifindex) {
    o.ctx_in = &md;
    o.ctx_size_in = sizeof(md);
  }
  o.repeat = repeat;
  if (int err = bpf_prog_test_run_opts(prog_fd, &o))
    return std::unexpected(std::string("BPF_PROG_TEST_RUN: ") + std::strerror(-err));
  r.verdict = int(o.retval);
  r.out.resize(o.data_size_out);
  if (duration_ns) *duration_ns = o.duration;
  return r;
}

}  // namespace vane::test
