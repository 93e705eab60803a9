/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Flow hash, VIP lookup and bucket selection. */
#ifndef VANE_LIB_STEER_H
#define VANE_LIB_STEER_H

#include "lib/common.h"
#include "lib/parse.h"

/*
 * vane_hash_step with its h chain shortened for the BPF JIT (no rotate, imul is 3 cycles): the
 * halves of rotl(y, 13) share no bits, so rotl(y, 13) * 5 = ((y * 5) << 13) + (y >> 19) * 5,
 * and y * 5 = y + (y << 2). Same value (tests compare it with vane_hash_words), ~5 instead of
 * ~7 cycles of latency per word. km: the word's k after its own mixing (independent of h).
 */
static __always_inline __u32 hash_step_fast(__u32 h, __u32 km)
{
	__u32 y = h ^ km;
	__u32 y5 = y + (y << 2);
	__u32 t = y >> 19;

	return (y5 << 13) + (t + (t << 2)) + 0xe6546b64u;
}

static __always_inline __u32 hash_k(__u32 k)
{
	k *= 0xcc9e2d51u;
	k = vane_rotl32(k, 15);
	return k * 0x1b873593u;
}

/* A zero word: hash_k(0) = 0, so only h's own mixing remains. */
#define HASH_ZERO_STEP(h) hash_step_fast(h, 0)

/* vane_hash_words over the flow's ten words, one step at a time (no array on the stack). */
static __always_inline __u32 flow_hash(const struct vane_flow *f, int use_ports)
{
	__u32 h = vane_cfg.hash_seed;
	__u32 ports = use_ports ? ((__u32)bpf_ntohs(f->sport) << 16 | bpf_ntohs(f->dport)) : 0;

	h = hash_step_fast(h, hash_k(bpf_ntohl(f->src[0])));
	if (f->family == VANE_AF_INET) {
		/* IPv4: words 1-3 of each address are zero */
		h = HASH_ZERO_STEP(h);
		h = HASH_ZERO_STEP(h);
		h = HASH_ZERO_STEP(h);
		h = hash_step_fast(h, hash_k(bpf_ntohl(f->dst[0])));
		h = HASH_ZERO_STEP(h);
		h = HASH_ZERO_STEP(h);
		h = HASH_ZERO_STEP(h);
	} else {
		h = hash_step_fast(h, hash_k(bpf_ntohl(f->src[1])));
		h = hash_step_fast(h, hash_k(bpf_ntohl(f->src[2])));
		h = hash_step_fast(h, hash_k(bpf_ntohl(f->src[3])));
		h = hash_step_fast(h, hash_k(bpf_ntohl(f->dst[0])));
		h = hash_step_fast(h, hash_k(bpf_ntohl(f->dst[1])));
		h = hash_step_fast(h, hash_k(bpf_ntohl(f->dst[2])));
		h = hash_step_fast(h, hash_k(bpf_ntohl(f->dst[3])));
	}
	h = hash_step_fast(h, hash_k(ports));
	h = hash_step_fast(h, hash_k((__u32)f->proto << 8 | f->family));
	return vane_hash_final(h, VANE_HASH_WORDS * 4);
}

/* The key in the VIP index's half `base` (0 or VANE_VIP_INDEX_SLOTS), else the VIP map. */
static __always_inline struct vane_vip_value *vip_find(struct vane_vip_key *key, __u32 base)
{
	const __u32 *k = (const __u32 *)key;
	__u32 idx = base + vane_vip_slot_of(k);
	struct vane_vip_slot *s = bpf_map_lookup_elem(&vane_vip_index, &idx);
	const __u32 *sk;

	if (!s || s->state == VANE_VIP_SLOT_ASK)
		return bpf_map_lookup_elem(&vane_vips, key);
	if (s->state == VANE_VIP_SLOT_EMPTY)
		return 0;
	sk = (const __u32 *)&s->key;
	if (sk[0] == k[0] && sk[1] == k[1] && sk[2] == k[2] && sk[3] == k[3] && sk[4] == k[4])
		return &s->value;
	if (s->state == VANE_VIP_SLOT_SHARED)
		return bpf_map_lookup_elem(&vane_vips, key);
	return 0;
}

/* Exact (address, port, proto) first, then the port-0 wildcard. */
static __always_inline struct vane_vip_value *vip_lookup(const struct vane_flow *f)
{
	struct vane_vip_key key = {};
	struct vane_vip_value *v;
	struct vane_vip_index_ctl *ctl;
	__u32 zero = 0, base = 0;

	ctl = bpf_map_lookup_elem(&vane_vip_index_ctl, &zero);
	if (ctl && (ctl->active & 1))
		base = VANE_VIP_INDEX_SLOTS;
	__builtin_memcpy(key.addr, f->dst, 16);
	key.proto = f->proto;
	key.family = f->family;
	if (f->dport) {
		key.port = f->dport;
		v = vip_find(&key, base);
		if (v)
			return v;
		key.port = 0;
	}
	v = vip_find(&key, base);
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
