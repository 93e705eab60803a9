/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Writing L2 headers, sending through bpf_fib_lookup, and GUE encapsulation. */
#ifndef VANE_LIB_ENCAP_H
#define VANE_LIB_ENCAP_H

#include "lib/common.h"
#include "lib/parse.h"

/* The EtherType after the MACs, behind the frame's own VLAN tag when it had one. */
static __always_inline int write_l2_proto(struct ethhdr *eth, void *end, const struct vane_pkt *p,
					  __be16 proto)
{
	if (p->vlan) {
		struct vane_vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > end)
			return -1;
		eth->h_proto = p->vlan_tpid;
		vh->tci = p->vlan_tci;
		vh->proto = proto;
	} else {
		eth->h_proto = proto;
	}
	return 0;
}

/* An L2 header at `at` with the saved VLAN tag (if any) and the given MACs and ethertype. */
static __always_inline int write_l2(void *at, void *end, const struct vane_pkt *p, const __u8 *dmac,
				    const __u8 *smac, __be16 proto)
{
	struct ethhdr *eth = at;

	if ((void *)(eth + 1) > end)
		return -1;
	__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	return write_l2_proto(eth, end, p, proto);
}

/* write_l2 with the frame's own MACs (p->dmac, p->smac), word-wise. */
static __always_inline int write_l2_same(void *at, void *end, const struct vane_pkt *p,
					 __be16 proto)
{
	struct ethhdr *eth = at;
	__u32 *w = at;

	if ((void *)(eth + 1) > end)
		return -1;
	w[0] = p->macs[0];
	w[1] = p->macs[1];
	w[2] = p->macs[2];
	return write_l2_proto(eth, end, p, proto);
}

static __always_inline void copy_self6(__u32 *dst)
{
	const volatile __u32 *w = (const volatile __u32 *)vane_cfg.self_addr6;

	dst[0] = w[0];
	dst[1] = w[1];
	dst[2] = w[2];
	dst[3] = w[3];
}

/*
 * Sends the frame (an outer packet from this server to dst, already written) to its next hop:
 * MACs from bpf_fib_lookup, XDP_TX on the ingress interface or a redirect to another one. With
 * no neighbour entry yet the frame goes up the stack, which resolves it and forwards it.
 */
struct vane_send {
	__u32 dst[4]; /* outer destination; IPv4 in dst[0] */
	__u32 v6;
	__u32 tot_len; /* outer L3 length */
	__u32 slot;    /* counter slot */
	__u32 reason;  /* counted on success */
	__u64 bytes;
	__be16 sport;
	__u16 pad;
	__u32 nh_slot; /* next-hop cache entry for dst (vane_nh_slot_*) */
};

/*
 * The next-hop cache: what a successful bpf_fib_lookup said about an outer destination (MACs,
 * egress interface, route MTU), reused on this CPU for vane_cfg.nexthop_ttl jiffies, so a packet
 * costs one array lookup instead of a FIB and neighbour lookup (bpf_jiffies64 is one load once
 * JITed; a clock read would cost as much as the rest of the hit). An entry counts only for the
 * destination and ingress interface it was made for; failures (no neighbour, too big, no route)
 * are never kept, so the next packet asks again. Entries are per destination, not per flow: with
 * an L4 multipath hash policy, one CPU's flows to one server share a path until the entry ages.
 * The forwarder's entries are indexed by server, the redirector's (hops named by address) by a
 * hash of the address, after them.
 */
#define VANE_NH_SERVER_SLOTS 2048
#define VANE_NH_ADDR_SLOTS 512

struct vane_nexthop {
	__u32 dst[4];
	__u64 stamp; /* bpf_jiffies64() of the lookup; 0 = empty */
	__u32 ifindex_in;
	__u32 ifindex_out;
	union {
		struct {
			__u8 dmac[ETH_ALEN];
			__u8 smac[ETH_ALEN];
		};
		__u32 macs[3];
	};
	__u16 mtu; /* route MTU; a longer outer packet is "too big" as fib would say */
	__u16 v6;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VANE_NH_SERVER_SLOTS + VANE_NH_ADDR_SLOTS);
	__type(key, __u32);
	__type(value, struct vane_nexthop);
} vane_nh_cache SEC(".maps");

static __always_inline __u32 vane_nh_slot_server(__u32 index)
{
	return index & (VANE_NH_SERVER_SLOTS - 1);
}

static __always_inline __u32 vane_nh_slot_addr(const __u32 *dst, __u32 v6)
{
	__u32 h = v6 ? vane_vip_filter_bit6(dst) : vane_vip_filter_bit4(dst[0]);

	return VANE_NH_SERVER_SLOTS + (h & (VANE_NH_ADDR_SLOTS - 1));
}

static __always_inline int nh_matches(const struct vane_nexthop *nh, const struct vane_send *s,
				      __u32 v6, __u32 ifindex, __u64 now, __u64 ttl)
{
	if (!nh->stamp || now - nh->stamp >= ttl || nh->ifindex_in != ifindex || nh->v6 != v6 ||
	    nh->dst[0] != s->dst[0])
		return 0;
	return !v6 ||
	       (nh->dst[1] == s->dst[1] && nh->dst[2] == s->dst[2] && nh->dst[3] == s->dst[3]);
}

/* Sends the frame to the cached next hop nh, which matched s. */
static __always_inline int nh_hit_send(struct xdp_md *ctx, const struct vane_nexthop *nh,
				       const struct vane_send *s, __u32 ifindex)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 *w = data;

	if (s->tot_len > nh->mtu) {
		vane_count(s->slot, VANE_R_TOO_BIG, s->bytes);
		return XDP_DROP;
	}
	if (data + sizeof(struct ethhdr) > end)
		return XDP_DROP;
	w[0] = nh->macs[0];
	w[1] = nh->macs[1];
	w[2] = nh->macs[2];
	vane_count(s->slot, s->reason, s->bytes);
	if (nh->ifindex_out == ifindex)
		return XDP_TX;
	return bpf_redirect(nh->ifindex_out, 0);
}

#define VANE_NH_MISS (-1)

/*
 * The cache-hit half of vane_fib_send, inlined where the programs send (a hit is what
 * nearly every packet takes; the call and the lookup's stack frame cost as much as the hit).
 * VANE_NH_MISS: nothing done, call vane_fib_send.
 */
static __always_inline int vane_send_cached(struct xdp_md *ctx, const struct vane_send *s)
{
	__u32 nh_slot = s->nh_slot, v6 = s->v6 & 1, ifindex;
	__u64 ttl = vane_cfg.nexthop_ttl;
	struct vane_nexthop *nh;

	if (!ttl)
		return VANE_NH_MISS;
	nh = bpf_map_lookup_elem(&vane_nh_cache, &nh_slot);
	if (!nh)
		return VANE_NH_MISS;
	ifindex = ctx->ingress_ifindex;
	if (!nh_matches(nh, s, v6, ifindex, bpf_jiffies64(), ttl))
		return VANE_NH_MISS;
	return nh_hit_send(ctx, nh, s, ifindex);
}

__noinline int vane_fib_send(struct xdp_md *ctx, struct vane_send *s)
{
	struct bpf_fib_lookup fib = {};
	struct vane_nexthop *nh;
	struct ethhdr *eth;
	void *data, *end;
	__u32 slot, reason, v6, nh_slot, ifindex;
	__u64 bytes, now = 0, ttl;
	long rc;

	if (!s)
		return XDP_DROP;
	slot = s->slot;
	reason = s->reason;
	bytes = s->bytes;
	v6 = s->v6 & 1;
	nh_slot = s->nh_slot;
	ifindex = ctx->ingress_ifindex;

	ttl = vane_cfg.nexthop_ttl;
	nh = ttl ? bpf_map_lookup_elem(&vane_nh_cache, &nh_slot) : 0;
	if (nh) {
		now = bpf_jiffies64();
		if (nh_matches(nh, s, v6, ifindex, now, ttl))
			return nh_hit_send(ctx, nh, s, ifindex);
	}

	fib.ifindex = ifindex;
	fib.l4_protocol = IPPROTO_UDP;
	fib.sport = s->sport;
	fib.dport = vane_cfg.gue_port;
	fib.tot_len = s->tot_len;
	if (v6) {
		fib.family = VANE_SYS_AF_INET6;
		copy_self6(fib.ipv6_src);
		__builtin_memcpy(fib.ipv6_dst, s->dst, 16);
	} else {
		fib.family = VANE_SYS_AF_INET;
		fib.ipv4_src = vane_cfg.self_addr4;
		fib.ipv4_dst = s->dst[0];
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		vane_count(slot, VANE_R_FIB_PASS, bytes);
		return XDP_PASS;
	}
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		vane_count(slot, VANE_R_TOO_BIG, bytes);
		return XDP_DROP;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		vane_count(slot, VANE_R_ERRORS, bytes);
		return XDP_DROP;
	}
	if (nh) {
		__builtin_memcpy(nh->dst, s->dst, 16);
		nh->stamp = now ? now : 1;
		nh->ifindex_in = ifindex;
		nh->ifindex_out = fib.ifindex;
		__builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
		__builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);
		/* on success the kernel returns the route's MTU where tot_len was (0: not told) */
		nh->mtu = fib.mtu_result ? fib.mtu_result : 0xffff;
		nh->v6 = v6;
	}
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	vane_count(slot, reason, bytes);
	if (fib.ifindex == ifindex)
		return XDP_TX;
	return bpf_redirect(fib.ifindex, 0);
}

static __always_inline __be16 gue_sport(__u32 hash)
{
	return bpf_htons(VANE_GUE_SPORT_MIN + ((hash ^ (hash >> 16)) & 0x3fff));
}

/* Outer header bytes for this many hops. */
static __always_inline __u32 encap_overhead(int v6, __u32 nhops)
{
	return v6 ? 40 + VANE_UDP_HLEN + VANE_GUE_HLEN + VANE_GLB_HLEN + nhops * 16
		  : 20 + VANE_UDP_HLEN + VANE_GUE_HLEN + VANE_GLB_HLEN + nhops * 4;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the word-wise header writes below assume a little-endian target"
#endif

/* The 32-bit word whose first two bytes in memory are lo and next two hi (each as stored). */
static __always_inline __u32 vane_le_word(__u16 lo, __u16 hi)
{
	return (__u32)lo | (__u32)hi << 16;
}

/* The GUE header: hlen (in words) of the GLB data, the inner protocol, no flags. */
static __always_inline __u32 vane_gue_glb_word0(__u32 glb_len, __u8 inner_family)
{
	__u32 ctype = inner_family == VANE_AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IPIP;

	return vane_le_word((glb_len / 4) | ctype << 8, 0);
}

/* The GLB header: version and flags, reserved 0, next_hop 1, hop_count. */
static __always_inline __u32 vane_glb_word(__u32 version, __u32 flags, __u32 nhops)
{
	return vane_le_word((version << VANE_GLB_VERSION_SHIFT) | flags, 1 | nhops << 8);
}

/*
 * Wraps the IP packet in outer IP + UDP + GUE + GLB private data (hops [s1, s2?], next_hop 1)
 * addressed to s1 and fills snd for vane_fib_send. Caller checked the MTU. Returns 0 when the
 * frame is ready to send, else the verdict (errors are counted here).
 */
struct vane_encap_args {
	__u32 hash;
	__u32 first; /* server indexes; second = VANE_SERVER_NONE for a one-hop list */
	__u32 second;
	__u32 v6; /* outer family */
	__u32 glb_flags;
	__u32 slot;
};

static __always_inline int gue_encap(struct xdp_md *ctx, struct vane_pkt *p,
				     const struct vane_encap_args *a, const struct vane_server *s1,
				     const struct vane_server *s2, struct vane_send *snd)
{
	__u32 hash = a->hash, v6 = a->v6 & 1, slot = a->slot, glb_flags = a->glb_flags & 0x0f;
	__u32 first = a->first;

	__u32 nhops = s2 ? 2 : 1;
	__u32 overhead = encap_overhead(v6, nhops);
	__u32 inner_len = p->l3_len;
	__u32 l2 = p->l2_len & 0x1f;
	__u32 glb_len = VANE_GLB_HLEN + nhops * (v6 ? 16 : 4);
	__u64 flen = vane_frame_len(ctx);
	void *data, *end, *l3;
	__be16 sport = gue_sport(hash);

	if (flen > l2 + inner_len) { /* Ethernet padding stays out of the tunnel */
		if (bpf_xdp_adjust_tail(ctx, -(int)(flen - l2 - inner_len)))
			goto fail;
	}
	if (bpf_xdp_adjust_head(ctx, -(int)overhead))
		goto fail;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (write_l2_same(data, end, p, bpf_htons(v6 ? ETH_P_IPV6 : ETH_P_IP)) < 0)
		goto fail;
	l3 = data + l2;
	/*
	 * The outer headers are written as whole 32-bit words built in registers: the headroom
	 * they land in is cold, and byte and bit-field stores there cost a read-modify-write each,
	 * and the IPv4 checksum is summed from the same registers instead of being read back over
	 * stores of other sizes (a store-forwarding stall per word). One bounds check per shape.
	 */
	if (v6) {
		__u32 *w = l3;

		if (s2) {
			if (l3 + VANE_ENCAP6_OVERHEAD > end)
				goto fail;
		} else if (l3 + VANE_ENCAP6_OVERHEAD - 16 > end) {
			goto fail;
		}
		w[0] = bpf_htonl(6u << 28 | (__u32)p->tos << 20 | (hash & 0xfffff));
		w[1] = vane_le_word(bpf_htons(overhead - 40 + inner_len), IPPROTO_UDP | 64 << 8);
		copy_self6(w + 2);
		__builtin_memcpy(w + 6, s1->addr6, 16);
		__builtin_memcpy(snd->dst, s1->addr6, 16);
		w = l3 + 40;
		w[0] = vane_le_word(sport, vane_cfg.gue_port);
		/* UDP checksum 0: a zero-checksum UDP tunnel (RFC 6935) */
		w[1] = bpf_htons(VANE_UDP_HLEN + VANE_GUE_HLEN + glb_len + inner_len);
		w[2] = vane_gue_glb_word0(glb_len, p->flow.family);
		w[3] = vane_glb_word(VANE_GLB_VERSION_V6HOPS, glb_flags, nhops);
		__builtin_memcpy(w + 4, s1->addr6, 16);
		if (s2)
			__builtin_memcpy(w + 8, s2->addr6, 16);
	} else {
		__u32 *w = l3;
		__u32 w0, w2, a1 = s1->addr4, self = vane_cfg.self_addr4;
		__u64 sum;

		if (s2) {
			if (l3 + VANE_ENCAP4_OVERHEAD > end)
				goto fail;
		} else if (l3 + VANE_ENCAP4_OVERHEAD - 4 > end) {
			goto fail;
		}
		/* version 4, IHL 5, TOS, total length; id 0, DF; TTL 64, UDP, checksum */
		w0 = vane_le_word(0x45 | (__u16)p->tos << 8, bpf_htons(overhead + inner_len));
		w2 = 64 | IPPROTO_UDP << 8;
		sum = (__u64)w0 + vane_le_word(0, bpf_htons(0x4000)) + w2 + a1 + self;
		w[0] = w0;
		w[1] = vane_le_word(0, bpf_htons(0x4000)); /* DF: the fabric MTU is enforced here */
		w[2] = w2 | (__u32)csum_fold(sum) << 16;
		w[3] = self;
		w[4] = a1;
		snd->dst[0] = a1;
		w = l3 + 20;
		w[0] = vane_le_word(sport, vane_cfg.gue_port);
		/* UDP checksum 0: optional over IPv4 */
		w[1] = bpf_htons(VANE_UDP_HLEN + VANE_GUE_HLEN + glb_len + inner_len);
		w[2] = vane_gue_glb_word0(glb_len, p->flow.family);
		w[3] = vane_glb_word(VANE_GLB_VERSION_V4HOPS, glb_flags, nhops);
		w[4] = a1;
		if (s2)
			w[5] = s2->addr4;
	}
	snd->v6 = v6;
	snd->tot_len = overhead + inner_len;
	snd->slot = slot;
	snd->reason = VANE_R_FORWARDED;
	snd->bytes = flen;
	snd->sport = sport;
	snd->nh_slot = vane_nh_slot_server(first);
	return 0;
fail:
	vane_count(slot, VANE_R_ERRORS, flen);
	return XDP_DROP;
}

#endif
