/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Includes, maps, the config global, counters and checksum helpers shared by vane's programs. */
#ifndef VANE_LIB_COMMON_H
#define VANE_LIB_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "vane_abi.h"
#include "lib/abi_check.h"

#define VANE_SYS_AF_INET 2
#define VANE_SYS_AF_INET6 10
#define VANE_TCP_LISTEN 10

/* ICMPv4 (linux/icmp.h drags in libc's socket headers, which a BPF build lacks) */
struct vane_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 unused;
	__be16 mtu; /* next-hop MTU for "fragmentation needed" */
};

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_FRAG_NEEDED 4

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* Set by the loader before load; read-only to the verifier, so dead branches disappear. */
const volatile struct vane_config vane_cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VANE_MAX_VIPS);
	__type(key, struct vane_vip_key);
	__type(value, struct vane_vip_value);
} vane_vips SEC(".maps");

/* Two halves of VANE_VIP_INDEX_SLOTS slots; see vane_abi.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * VANE_VIP_INDEX_SLOTS);
	__type(key, __u32);
	__type(value, struct vane_vip_slot);
} vane_vip_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vane_vip_index_ctl);
} vane_vip_index_ctl SEC(".maps");

/* One entry (key 0): the VIP address filter, see vane_abi.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vane_vip_filter);
} vane_vip_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VANE_MAX_SERVERS);
	__type(key, __u32);
	__type(value, struct vane_server);
} vane_servers SEC(".maps");

/*
 * The site's server addresses -> server index; see vane_abi.h. Room for two full lists: a reload
 * adds the new addresses before it removes the stale ones, so a site that renumbers holds both.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * VANE_SITE_ADDRS);
	__type(key, struct vane_site_key);
	__type(value, __u32);
} vane_site_addrs SEC(".maps");

/* Two halves of VANE_SITE_INDEX_SLOTS slots; see vane_abi.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * VANE_SITE_INDEX_SLOTS);
	__type(key, __u32);
	__type(value, struct vane_site_slot);
} vane_site_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vane_vip_index_ctl);
} vane_site_index_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VANE_MAX_TABLES);
	__type(key, __u32);
	__type(value, struct vane_table_ctl);
} vane_table_ctl SEC(".maps");

/* Resized by the loader (table slots x 2 halves x max buckets) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VANE_DEFAULT_TABLE_SLOTS * 2 * VANE_DEFAULT_MAX_BUCKETS);
	__type(key, __u32);
	__type(value, struct vane_bucket);
} vane_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VANE_STATS_SLOTS);
	__type(key, __u32);
	__type(value, struct vane_counters);
} vane_stats SEC(".maps");

static __always_inline void vane_count(__u32 slot, __u32 reason, __u64 bytes)
{
	struct vane_counters *c = bpf_map_lookup_elem(&vane_stats, &slot);

	if (c && reason < VANE_R_COUNT) {
		c->packets[reason] += 1;
		c->bytes[reason] += bytes;
	}
}

static __always_inline __u64 vane_frame_len(struct xdp_md *ctx)
{
	return ctx->data_end - ctx->data;
}

/* ---- checksums ---- */

static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Header checksum of a 20-byte IPv4 header (options are never written by vane). */
static __always_inline void ipv4_set_csum(struct iphdr *ip)
{
	__u16 *w = (__u16 *)ip;
	__u64 sum = 0;
	int i;

	ip->check = 0;
#pragma unroll
	for (i = 0; i < 10; i++)
		sum += w[i];
	ip->check = csum_fold(sum);
}

static __always_inline int addr6_eq(const __u32 *a, const volatile __u8 *b)
{
	const volatile __u32 *bw = (const volatile __u32 *)b;

	return a[0] == bw[0] && a[1] == bw[1] && a[2] == bw[2] && a[3] == bw[3];
}

#endif
