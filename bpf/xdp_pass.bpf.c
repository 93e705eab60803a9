// SPDX-License-Identifier: GPL-2.0
/*
 * The smallest XDP program: lets every frame through. vane uses it as the floor in the
 * forwarder benchmarks and on the far end of test veths, where XDP_TX/redirected frames are
 * dropped unless that end runs an XDP program of its own.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }

char LICENSE[] SEC("license") = "GPL";
