// SPDX-License-Identifier: GPL-2.0
/*
 * bench/xdp-throughput.sh's XDP programs (not vane's data path):
 *  gen      run by BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: rewrites the frame from the
 *           template (the page of a live frame is recycled after the far side has rewritten it,
 *           e.g. encapsulated it in place) and varies the L4 source port, then XDP_TX: the
 *           kernel turns that into a redirect out of the test run's ingress interface.
 *  reflect  the baseline on the receiving side: swaps the MACs and sends the frame back (XDP_TX).
 *  drop     the far end of the pair: XDP_TX'd frames are only delivered to a veth end that runs
 *           an XDP program, and dropping them costs the least.
 *  pass     the floor of the "pass" cases: every frame to the kernel.
 */
/* linux/ first: the libbpf headers use its types (a block of its own, so sorting keeps it first). */
#include <linux/bpf.h>
#include <linux/if_ether.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define TMPL_WORDS 32 /* frames up to 256 bytes */

const volatile __u64 tmpl[TMPL_WORDS];
const volatile __u32 tmpl_words;
/* Offset of the 16-bit source port to vary; 0: leave the frame as it is. */
const volatile __u32 port_off;

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} seq SEC(".maps");

SEC("xdp")
int gen(struct xdp_md* ctx) {
  void* data = (void*)(long)ctx->data;
  void* end = (void*)(long)ctx->data_end;
  __u64* w = data;

  for (__u32 i = 0; i < TMPL_WORDS; i++) {
    if (i >= tmpl_words || (void*)(w + i + 1) > end) break;
    w[i] = tmpl[i];
  }
  if (port_off) {
    __u32 k = 0;
    __u64* n = bpf_map_lookup_elem(&seq, &k);
    __u16* p = data + port_off;

    if (!n || (void*)(p + 1) > end) return XDP_ABORTED;
    /* 16,384 flows: enough to cover every bucket owner of a small site. */
    *p = bpf_htons(1024 + (*n & 0x3fff));
    ++*n;
  }
  return XDP_TX;
}

SEC("xdp")
int reflect(struct xdp_md* ctx) {
  void* data = (void*)(long)ctx->data;
  void* end = (void*)(long)ctx->data_end;
  struct ethhdr* eth = data;
  unsigned char mac[ETH_ALEN];

  if ((void*)(eth + 1) > end) return XDP_DROP;
  __builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
  __builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
  __builtin_memcpy(eth->h_source, mac, ETH_ALEN);
  return XDP_TX;
}

SEC("xdp")
int drop(struct xdp_md* ctx) {
  return XDP_DROP;
}

SEC("xdp")
int pass(struct xdp_md* ctx) {
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
