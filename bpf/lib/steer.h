/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Flow hash, VIP lookup and bucket selection. */
#ifndef VANE_LIB_STEER_H
#define VANE_LIB_STEER_H

#include "lib/common.h"
#include "lib/parse.h"

static __always_inline __u32 flow_hash(const struct vane_flow *f, int use_ports)
{
	__u32 w[VANE_HASH_WORDS];
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		w[i] = bpf_ntohl(f->src[i]);
		w[4 + i] = bpf_ntohl(f->dst[i]);
	}
	w[8] = use_ports ? ((__u32)bpf_ntohs(f->sport) << 16 | bpf_ntohs(f->dport)) : 0;
	w[9] = (__u32)f->proto << 8 | f->family;
	return vane_hash_words(w, vane_cfg.hash_seed);
}

/* Exact (address, port, proto) first, then the port-0 wildcard. */
static __always_inline struct vane_vip_value *vip_lookup(const struct vane_flow *f)
{
	struct vane_vip_key key = {};
	struct vane_vip_value *v;

	__builtin_memcpy(key.addr, f->dst, 16);
	key.proto = f->proto;
	key.family = f->family;
	if (f->dport) {
		key.port = f->dport;
		v = bpf_map_lookup_elem(&vane_vips, &key);
		if (v)
			return v;
		key.port = 0;
	}
	v = bpf_map_lookup_elem(&vane_vips, &key);
	if (v && (v->flags & VANE_VIP_F_FRAG_ONLY) && f->kind != VANE_FLOW_FRAGMENT)
		return 0;
	return v;
}

/* The bucket of the table's active half for this hash, or NULL. */
static __always_inline struct vane_bucket *bucket_lookup(__u32 table_id, __u32 hash)
{
	struct vane_table_ctl *ctl = bpf_map_lookup_elem(&vane_table_ctl, &table_id);
	__u32 half, m, idx;

	if (!ctl)
		return 0;
	half = ctl->active & 1;
	m = ctl->half[half].buckets;
	if (m == 0)
		return 0;
	idx = ctl->half[half].offset + hash % m;
	return bpf_map_lookup_elem(&vane_buckets, &idx);
}

#endif
