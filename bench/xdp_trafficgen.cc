// A traffic generator for bench/xdp-throughput.sh: frames made by BPF_PROG_RUN with
// BPF_F_TEST_XDP_LIVE_FRAMES, which the kernel really transmits (Debian's xdp-trafficgen 1.3.1,
// built on the same kernel feature, does not load on kernel 6.18). Also attaches the bench's
// other XDP programs (a reflector, a drop sink, a pass floor) to an interface. Needs root.
//
//   xdp_trafficgen send IFNAME SECONDS FRAME_FILE [PORT_OFFSET]
//       sends the frame in FRAME_FILE (raw bytes from the Ethernet header, <= 256) out of IFNAME
//       as fast as this core can, for SECONDS; PORT_OFFSET > 0 varies the 16-bit source port
//       at that byte offset (16,384 flows). Prints "sent N frames in S s: R Mpps".
//   xdp_trafficgen attach IFNAME reflect|drop|pass    native XDP; stays attached after exit
//   xdp_trafficgen detach IFNAME
#include <net/if.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>

#include "trafficgen.skel.h"

namespace {

constexpr size_t kMaxFrame = 256;  // TMPL_WORDS * 8 in the BPF program

int usage() {
  std::fprintf(stderr,
               "usage: xdp_trafficgen send IFNAME SECONDS FRAME_FILE [PORT_OFFSET]\n"
               "       xdp_trafficgen attach IFNAME reflect|drop|pass\n"
               "       xdp_trafficgen detach IFNAME\n");
  return 2;
}

int ifindex_of(const char* name) {
  const unsigned idx = if_nametoindex(name);
  if (idx == 0) std::fprintf(stderr, "xdp_trafficgen: no interface %s\n", name);
  return static_cast<int>(idx);
}

int send(const char* ifname, double seconds, const char* file, uint32_t port_off) {
  const int ifindex = ifindex_of(ifname);
  if (ifindex == 0) return 1;
  std::ifstream in(file, std::ios::binary);
  std::vector<uint8_t> frame;
  if (in) frame.assign(std::istreambuf_iterator<char>(in), {});
  if (!in || frame.size() < 14 || frame.size() > kMaxFrame) {
    std::fprintf(stderr, "xdp_trafficgen: %s: a frame of 14..%zu bytes expected\n", file, kMaxFrame);
    return 1;
  }
  // Whole words: the program copies the template in 8-byte steps (the trailer bytes are padding).
  frame.resize((frame.size() + 7) / 8 * 8);
  if (port_off != 0 && port_off + 2 > frame.size()) {
    std::fprintf(stderr, "xdp_trafficgen: port offset %u past the frame\n", port_off);
    return 1;
  }
  trafficgen* skel = trafficgen__open();
  if (skel == nullptr) return std::perror("xdp_trafficgen: open"), 1;
  std::memcpy(const_cast<__u64*>(skel->rodata->tmpl), frame.data(), frame.size());
  skel->rodata->tmpl_words = static_cast<uint32_t>(frame.size() / 8);
  skel->rodata->port_off = port_off;
  if (int err = trafficgen__load(skel); err != 0) {
    std::fprintf(stderr, "xdp_trafficgen: load: %s\n", std::strerror(-err));
    trafficgen__destroy(skel);
    return 1;
  }
  xdp_md ctx{};
  ctx.data_end = static_cast<uint32_t>(frame.size());
  ctx.ingress_ifindex = static_cast<uint32_t>(ifindex);
  // Each call sends `repeat` frames in batches of 64; a call of ~10-50 ms keeps the clock checks
  // off the hot path and the stop time within a few percent.
  constexpr uint32_t kRepeat = 1 << 18;
  uint64_t sent = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<uint32_t>(frame.size()),
                .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = kRepeat, .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
                .batch_size = 64);
    if (int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.gen), &opts); err != 0) {
      std::fprintf(stderr, "xdp_trafficgen: BPF_PROG_RUN (live frames): %s\n", std::strerror(-err));
      trafficgen__destroy(skel);
      return 1;
    }
    sent += kRepeat;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::printf("sent %llu frames in %.3f s: %.3f Mpps\n", static_cast<unsigned long long>(sent), elapsed,
              static_cast<double>(sent) / elapsed / 1e6);
  trafficgen__destroy(skel);
  return 0;
}

int attach(const char* ifname, std::string_view which) {
  const int ifindex = ifindex_of(ifname);
  if (ifindex == 0) return 1;
  trafficgen* skel = trafficgen__open_and_load();
  if (skel == nullptr) return std::perror("xdp_trafficgen: load"), 1;
  bpf_program* prog = which == "reflect" ? skel->progs.reflect
                      : which == "drop"  ? skel->progs.drop
                      : which == "pass"  ? skel->progs.pass
                                         : nullptr;
  int rc = 0;
  if (prog == nullptr) {
    rc = usage();
  } else if (int err = bpf_xdp_attach(ifindex, bpf_program__fd(prog), XDP_FLAGS_DRV_MODE, nullptr); err != 0) {
    std::fprintf(stderr, "xdp_trafficgen: attach %s to %s: %s\n", std::string(which).c_str(), ifname,
                 std::strerror(-err));
    rc = 1;
  }
  // The attachment holds its own reference to the program: it stays after the skeleton goes.
  trafficgen__destroy(skel);
  return rc;
}

int detach(const char* ifname) {
  const int ifindex = ifindex_of(ifname);
  if (ifindex == 0) return 1;
  if (int err = bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr); err != 0) {
    std::fprintf(stderr, "xdp_trafficgen: detach %s: %s\n", ifname, std::strerror(-err));
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string_view cmd = argv[1];
  if (cmd == "send" && (argc == 5 || argc == 6)) {
    const double seconds = std::atof(argv[3]);
    const long off = argc == 6 ? std::atol(argv[5]) : 0;
    if (!(seconds > 0 && seconds <= 600) || off < 0 || off >= static_cast<long>(kMaxFrame)) return usage();
    return send(argv[2], seconds, argv[4], static_cast<uint32_t>(off));
  }
  if (cmd == "attach" && argc == 4) return attach(argv[2], argv[3]);
  if (cmd == "detach" && argc == 3) return detach(argv[2]);
  return usage();
}
