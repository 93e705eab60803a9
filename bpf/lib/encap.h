/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Writing L2 headers, sending through bpf_fib_lookup, and GUE encapsulation. */
#ifndef VANE_LIB_ENCAP_H
#define VANE_LIB_ENCAP_H

#include "lib/common.h"
#include "lib/parse.h"

/* An L2 header at `at` with the saved VLAN tag (if any) and the given MACs and ethertype. */
static __always_inline int write_l2(void *at, void *end, const struct vane_pkt *p,
				    const __u8 *dmac, const __u8 *smac, __be16 proto)
{
	struct ethhdr *eth = at;

	if ((void *)(eth + 1) > end)
		return -1;
	__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
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
	__u32 dst[4];   /* outer destination; IPv4 in dst[0] */
	__u32 v6;
	__u32 tot_len;  /* outer L3 length */
	__u32 slot;     /* counter slot */
	__u32 reason;   /* counted on success */
	__u64 bytes;
	__be16 sport;
	__u16 pad[3];
};

__noinline int vane_fib_send(struct xdp_md *ctx, struct vane_send *s)
{
	struct bpf_fib_lookup fib = {};
	struct ethhdr *eth;
	void *data, *end;
	__u32 slot, reason, v6;
	__u64 bytes;
	long rc;

	if (!s)
		return XDP_DROP;
	slot = s->slot;
	reason = s->reason;
	bytes = s->bytes;
	v6 = s->v6;

	fib.ifindex = ctx->ingress_ifindex;
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
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	vane_count(slot, reason, bytes);
	if (fib.ifindex == ctx->ingress_ifindex)
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

/*
 * Wraps the IP packet in outer IP + UDP + GUE + GLB private data (hops [s1, s2?], next_hop 1)
 * addressed to s1, then sends it. Caller checked the MTU.
 */
struct vane_encap_args {
	__u32 hash;
	__u32 first;     /* server indexes; second = VANE_SERVER_NONE for a one-hop list */
	__u32 second;
	__u32 v6;        /* outer family */
	__u32 glb_flags;
	__u32 slot;
};

__noinline int vane_gue_encap(struct xdp_md *ctx, struct vane_pkt *p, struct vane_encap_args *a)
{
	struct vane_server *s1, *s2 = 0;
	struct vane_send snd = {};
	__u32 hash, v6, slot, glb_flags, first, second;

	if (!p || !a)
		return XDP_DROP;
	hash = a->hash;
	v6 = a->v6 & 1;
	slot = a->slot;
	glb_flags = a->glb_flags & 0x0f;
	first = a->first;
	second = a->second;
	s1 = bpf_map_lookup_elem(&vane_servers, &first);
	if (!s1)
		return XDP_DROP;
	if (second != VANE_SERVER_NONE) {
		s2 = bpf_map_lookup_elem(&vane_servers, &second);
		if (!s2)
			return XDP_DROP;
	}

	__u32 nhops = s2 ? 2 : 1;
	__u32 overhead = encap_overhead(v6, nhops);
	__u32 inner_len = p->l3_len;
	__u32 l2 = p->l2_len & 0x1f;
	__u32 glb_len = VANE_GLB_HLEN + nhops * (v6 ? 16 : 4);
	__u64 flen = vane_frame_len(ctx);
	struct udphdr *uh;
	struct vane_gue_hdr *gue;
	struct vane_glb_hdr *glb;
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
	if (write_l2(data, end, p, p->dmac, p->smac, bpf_htons(v6 ? ETH_P_IPV6 : ETH_P_IP)) < 0)
		goto fail;
	l3 = data + l2;
	if (v6) {
		struct ipv6hdr *ip6 = l3;
		__u32 fl = hash & 0xfffff;

		if ((void *)(ip6 + 1) > end)
			goto fail;
		ip6->version = 6;
		ip6->priority = p->tos >> 4;
		ip6->flow_lbl[0] = ((p->tos & 0xf) << 4) | (fl >> 16);
		ip6->flow_lbl[1] = fl >> 8;
		ip6->flow_lbl[2] = fl;
		ip6->payload_len = bpf_htons(overhead - 40 + inner_len);
		ip6->nexthdr = IPPROTO_UDP;
		ip6->hop_limit = 64;
		copy_self6((__u32 *)&ip6->saddr);
		__builtin_memcpy(&ip6->daddr, s1->addr6, 16);
		__builtin_memcpy(snd.dst, s1->addr6, 16);
		uh = (void *)(ip6 + 1);
	} else {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end)
			goto fail;
		ip->version = 4;
		ip->ihl = 5;
		ip->tos = p->tos;
		ip->tot_len = bpf_htons(overhead + inner_len);
		ip->id = 0;
		ip->frag_off = bpf_htons(0x4000); /* DF: the fabric MTU is enforced here */
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->saddr = vane_cfg.self_addr4;
		ip->daddr = s1->addr4;
		ipv4_set_csum(ip);
		snd.dst[0] = s1->addr4;
		uh = (void *)(ip + 1);
	}
	gue = (void *)(uh + 1);
	glb = (void *)(gue + 1);
	if ((void *)(glb + 1) > end)
		goto fail;
	uh->source = sport;
	uh->dest = vane_cfg.gue_port;
	uh->len = bpf_htons(VANE_UDP_HLEN + VANE_GUE_HLEN + glb_len + inner_len);
	uh->check = 0; /* IPv4: optional; IPv6: zero-checksum UDP tunnel (RFC 6935) */
	gue->ver_c_hlen = glb_len / 4;
	gue->proto_ctype = p->flow.family == VANE_AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	gue->flags = 0;
	glb->version_flags = ((v6 ? VANE_GLB_VERSION_V6HOPS : VANE_GLB_VERSION_V4HOPS)
			      << VANE_GLB_VERSION_SHIFT) | glb_flags;
	glb->reserved = 0;
	glb->next_hop = 1;
	glb->hop_count = nhops;
	if (v6) {
		__u8 *h = (void *)(glb + 1);

		if ((void *)(h + 16) > end)
			goto fail;
		__builtin_memcpy(h, s1->addr6, 16);
		if (s2) {
			if ((void *)(h + 32) > end)
				goto fail;
			__builtin_memcpy(h + 16, s2->addr6, 16);
		}
	} else {
		__be32 *h = (void *)(glb + 1);

		if ((void *)(h + 1) > end)
			goto fail;
		h[0] = s1->addr4;
		if (s2) {
			if ((void *)(h + 2) > end)
				goto fail;
			h[1] = s2->addr4;
		}
	}
	snd.v6 = v6;
	snd.tot_len = overhead + inner_len;
	snd.slot = slot;
	snd.reason = VANE_R_FORWARDED;
	snd.bytes = flen;
	snd.sport = sport;
	return vane_fib_send(ctx, &snd);
fail:
	vane_count(slot, VANE_R_ERRORS, flen);
	return XDP_DROP;
}

#endif
