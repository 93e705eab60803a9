/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The forwarder: a VIP packet is hashed into its table's bucket; the first hop is this server
 * (XDP_PASS, unless the packet belongs to the second hop's connection) or another one (GUE
 * encapsulation to it, second hop in the GLB hop list).
 */
#ifndef VANE_LIB_FORWARD_H
#define VANE_LIB_FORWARD_H

#include "lib/common.h"
#include "lib/parse.h"
#include "lib/steer.h"
#include "lib/encap.h"
#include "lib/icmp.h"
#include "lib/redirect.h"

static __always_inline int server_has(const struct vane_server *s, int v6)
{
	return s && (s->flags & (v6 ? VANE_SERVER_F_V6 : VANE_SERVER_F_V4));
}

/* The fabric family towards s: 0 (IPv4) when both ends have it, else 1 (IPv6), -1: none. */
static __always_inline int fabric_family(const struct vane_server *s)
{
	if (server_has(s, 0) && (vane_cfg.flags & VANE_CFG_F_V4))
		return 0;
	if (server_has(s, 1) && (vane_cfg.flags & VANE_CFG_F_V6))
		return 1;
	return -1;
}

static __always_inline int forward_vip(struct xdp_md *ctx, struct vane_pkt *p)
{
	struct vane_flow *f = &p->flow;
	struct vane_vip_value *vip;
	struct vane_bucket *b;
	struct vane_server *s1, *s2 = 0;
	__u32 slot, hash, first, second, moved, overhead;
	__u64 flen = vane_frame_len(ctx);
	int v6, use_ports;
	__u8 glb_flags = 0;
	struct vane_encap_args args = {};
	struct vane_send snd = {};
	int r;

	vip = vip_lookup(f);
	if (!vip) {
		vane_count(VANE_STATS_GLOBAL, VANE_R_PASSED, flen);
		return XDP_PASS;
	}
	slot = vip->stats_index;
	if (vip->flags & VANE_VIP_F_DISABLED) {
		vane_count(slot, VANE_R_PASSED, flen);
		return XDP_PASS;
	}
	use_ports = f->kind != VANE_FLOW_FRAGMENT && !(vip->flags & VANE_VIP_F_HASH_NO_PORTS);
	hash = flow_hash(f, use_ports);
	b = bucket_lookup(vip->table_id, hash);
	if (!b || b->first == VANE_SERVER_NONE)
		goto no_table;
	first = b->first;
	second = b->second;
	moved = 0;
	if (second != VANE_SERVER_NONE) {
		moved = second & VANE_BUCKET_F_MOVED;
		second &= VANE_BUCKET_HOP_MASK;
	}
	if (first == vane_cfg.self_index) {
		/*
		 * After a table change the router may hand a packet of a connection that the second
		 * hop (the bucket's previous first hop) owns straight to us: unless a socket here
		 * owns it, it goes there as the redirector would send it, with the second hop as
		 * the last one. Only buckets that moved can have such connections: a steady
		 * bucket's packets skip the lookup. An ICMP error about such a connection (its flow
		 * is the quoted packet's, reversed) goes the same way, so path MTU discovery
		 * reaches the server that owns it. The lookup is kept off SYNs (new connections are
		 * ours), fragments, and UDP: a UDP service's unconnected socket never claims a
		 * flow, so every datagram would take the extra hop.
		 */
		if (!moved || f->proto != IPPROTO_TCP ||
		    (f->kind != VANE_FLOW_NORMAL && f->kind != VANE_FLOW_ICMP_ERROR) ||
		    (f->kind == VANE_FLOW_NORMAL && vane_is_syn(f)) ||
		    (vip->flags & VANE_VIP_F_SINGLE_HOP) || second == VANE_SERVER_NONE ||
		    second == first)
			goto local;
		s1 = bpf_map_lookup_elem(&vane_servers, &second);
		v6 = fabric_family(s1);
		if (v6 < 0 || vane_local_socket(ctx, p))
			goto local;
		first = second; /* a one-hop list: s2 stays 0 */
		goto encap;
	}
	s1 = bpf_map_lookup_elem(&vane_servers, &first);
	v6 = fabric_family(s1);
	if (v6 < 0)
		goto no_table;
	if (!(vip->flags & VANE_VIP_F_SINGLE_HOP) && second != VANE_SERVER_NONE &&
	    second != first) {
		s2 = bpf_map_lookup_elem(&vane_servers, &second);
		if (!server_has(s2, v6))
			s2 = 0;
	}
	if (s2 && (s1->flags & VANE_SERVER_F_DRAINING))
		glb_flags |= VANE_GLB_F_FORWARD_SYN;
encap:
	overhead = encap_overhead(v6, s2 ? 2 : 1);
	if (p->l3_len + overhead > vane_cfg.mtu)
		return vane_send_too_big(ctx, p, vane_cfg.mtu - overhead, slot);
	args.hash = hash;
	args.first = first;
	args.second = s2 ? second : VANE_SERVER_NONE;
	args.v6 = v6;
	args.glb_flags = glb_flags;
	args.slot = slot;
	r = gue_encap(ctx, p, &args, s1, s2, &snd);
	if (r)
		return r;
	r = vane_send_cached(ctx, &snd);
	if (r != VANE_NH_MISS)
		return r;
	return vane_fib_send(ctx, &snd);
local:
	vane_count(slot, VANE_R_LOCAL, flen);
	return XDP_PASS;
no_table:
	vane_count(slot, VANE_R_NO_TABLE, flen);
	return XDP_PASS;
}

/*
 * The pieces are BPF-to-BPF global functions: the verifier checks each once on its own instead
 * of once per path through the parser, which keeps the combined program far below its limits.
 */
__noinline int vane_parse(struct xdp_md *ctx, struct vane_pkt *p)
{
	struct cursor c;

	if (!p)
		return -1;
	c.pos = (void *)(long)ctx->data;
	c.end = (void *)(long)ctx->data_end;
	c.base = c.pos;
	return parse_packet(&c, p);
}

__noinline int vane_forward(struct xdp_md *ctx, struct vane_pkt *p)
{
	if (!p)
		return XDP_PASS;
	return forward_vip(ctx, p);
}

__noinline int vane_redirect_gue(struct xdp_md *ctx, struct vane_pkt *p)
{
	if (!p)
		return XDP_DROP;
	return redirect_gue(ctx, p);
}

/* Is the bit of this address set in the VIP filter? (clear: certainly not a VIP) */
static __always_inline int vip_filter_test(__u32 bit)
{
	__u32 zero = 0;
	struct vane_vip_filter *vf = bpf_map_lookup_elem(&vane_vip_filter, &zero);

	bit &= (1u << VANE_VIP_FILTER_SHIFT) - 1;
	return vf && (vf->bits[bit >> 6] & (1ull << (bit & 63)));
}

/* Parse; GUE for us goes to the redirector when with_redirector, the rest to the forwarder. */
static __always_inline int vane_full(struct xdp_md *ctx, struct vane_pkt *p, int with_forwarder,
				     int with_redirector)
{
	int r;

	__builtin_memset(p, 0, sizeof(*p));
	r = vane_parse(ctx, p);
	if (r > 0)
		return XDP_PASS; /* not IP */
	if (r < 0) {
		vane_count(VANE_STATS_GLOBAL, VANE_R_MALFORMED, vane_frame_len(ctx));
		return XDP_PASS; /* the kernel drops what is really broken */
	}
	if (with_redirector && is_gue_to_self(p))
		return vane_redirect_gue(ctx, p);
	if (with_forwarder)
		return vane_forward(ctx, p);
	return XDP_PASS;
}

/*
 * The L4 header of a whole (unfragmented) TCP or UDP packet at l4, as parse_l4 would record it.
 * 0 when it is complete; -1 sends the packet the long way (vane_full), which judges it.
 */
static __always_inline int fill_l4(struct vane_pkt *p, void *data, void *l4, void *end, __u8 proto)
{
	struct vane_flow *f = &p->flow;

	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		__u32 thl;

		if ((void *)(th + 1) > end)
			return -1;
		thl = th->doff * 4;
		if (thl < sizeof(*th) || l4 + thl > end)
			return -1;
		f->tcp_flags = ((__u8 *)th)[13];
		f->sport = th->source;
		f->dport = th->dest;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end)
			return -1;
		f->sport = uh->source;
		f->dport = uh->dest;
	} else {
		return -1;
	}
	f->proto = proto;
	f->kind = VANE_FLOW_NORMAL;
	p->l4_off = l4 - data;
	p->l4_ok = 1;
	return 0;
}

/* The Ethernet part of vane_pkt, as parse_eth records it. */
static __always_inline void fill_l2(struct vane_pkt *p, struct ethhdr *eth, void *l3)
{
	macs_from_frame(p, eth);
	p->l2_len = l3 - (void *)eth;
	if (p->l2_len != sizeof(*eth)) {
		struct vane_vlan_hdr *vh = (void *)(eth + 1);

		p->vlan = 1;
		p->vlan_tpid = eth->h_proto;
		p->vlan_tci = vh->tci;
	}
}

#define VANE_SLOW (-1) /* vane_*_fast: not a plain packet, take the long way */

/*
 * A frame whose Ethernet and IP headers vane_main has checked (l3_off: offset of the IP header;
 * v6: its family). When it is plain TCP or UDP (no fragment, no IPv6 extension header, whole L4
 * header), p (zeroed by the caller) is filled as vane_parse would fill it and 0 is returned;
 * otherwise -1, and the caller takes the long way.
 */
static __always_inline int fill_plain(struct xdp_md *ctx, struct vane_pkt *p, __u32 l3_off,
				      __u32 v6)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3;

	l3_off &= 0x1f;
	l3 = data + l3_off;
	/* Ethernet + a VLAN tag + a minimal IPv4 header (what plain TCP/UDP has at least) */
	if (data + sizeof(*eth) + sizeof(struct vane_vlan_hdr) + sizeof(struct iphdr) > end)
		return -1;
	if (!v6) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end || (ip->frag_off & bpf_htons(0x3fff)))
			return -1;
		if (fill_l4(p, data, l3 + ((ip->ihl * 4) & 0x3c), end, ip->protocol) < 0)
			return -1;
		p->flow.family = VANE_AF_INET;
		p->flow.src[0] = ip->saddr;
		p->flow.dst[0] = ip->daddr;
		p->l3_len = bpf_ntohs(ip->tot_len);
		p->tos = ip->tos;
		p->df = (ip->frag_off & bpf_htons(0x4000)) != 0;
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end)
			return -1;
		if (fill_l4(p, data, ip6 + 1, end, ip6->nexthdr) < 0)
			return -1;
		p->flow.family = VANE_AF_INET6;
		__builtin_memcpy(p->flow.src, &ip6->saddr, 16);
		__builtin_memcpy(p->flow.dst, &ip6->daddr, 16);
		p->l3_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		p->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
		p->df = 1;
	}
	fill_l2(p, eth, l3);
	return 0;
}

/* A plain packet to a possible VIP address: forwarded at once. VANE_SLOW: packet untouched. */
__noinline int vane_vip_fast(struct xdp_md *ctx, struct vane_pkt *p, __u32 l3_off, __u32 v6)
{
	if (!p || fill_plain(ctx, p, l3_off, v6) < 0)
		return VANE_SLOW;
	return forward_vip(ctx, p);
}

/* A plain packet to this server's address: GUE to the redirector. VANE_SLOW: packet untouched. */
__noinline int vane_gue_fast(struct xdp_md *ctx, struct vane_pkt *p, __u32 l3_off, __u32 v6)
{
	if (!p || fill_plain(ctx, p, l3_off, v6) < 0 || !is_gue_to_self(p))
		return VANE_SLOW;
	return redirect_gue(ctx, p);
}

/*
 * The entry. Ethernet and the fixed IP header are checked here (a malformed one is counted as
 * before); then a packet that can be neither GUE for this server (its destination is not this
 * server's address) nor VIP traffic (its destination's bit in the VIP filter is clear) leaves
 * at once, counted as passed, without the L4 parse, the VIP map or the hash. A possible VIP
 * packet goes to vane_vip_fast, a packet to this server to vane_gue_fast; what they refuse takes
 * the long way (vane_full), which parses the whole packet again and decides as it always did.
 */
static __always_inline int vane_main(struct xdp_md *ctx, int with_forwarder, int with_redirector)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct vane_pkt p;
	void *l3;
	__be16 proto;
	__u32 v6, to_self = 1;
	int r;

	if ((void *)(eth + 1) > end)
		goto malformed;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vane_vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > end)
			goto malformed;
		proto = vh->proto;
		l3 = vh + 1;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		__u32 hl, tot;

		if ((void *)(ip + 1) > end)
			goto malformed;
		if (ip->version != 4 || ip->ihl < 5)
			goto malformed;
		hl = ip->ihl * 4;
		tot = bpf_ntohs(ip->tot_len);
		if (tot < hl || l3 + tot > end) /* also covers the options */
			goto malformed;
		if (with_redirector && ip->daddr == vane_cfg.self_addr4 &&
		    ip->protocol == IPPROTO_UDP && (vane_cfg.flags & VANE_CFG_F_V4)) {
			v6 = 0;
			goto gue;
		}
		if (!with_forwarder || !vip_filter_test(vane_vip_filter_bit4(ip->daddr)))
			goto pass;
		v6 = 0;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		const __u32 *dst = (const __u32 *)&ip6->daddr;
		__u32 plen;

		if ((void *)(ip6 + 1) > end)
			goto malformed;
		if (ip6->version != 6)
			goto malformed;
		plen = bpf_ntohs(ip6->payload_len);
		if (plen == 0 || (void *)(ip6 + 1) + plen > end)
			goto malformed;
		/* any next header: GUE behind extension headers is for the redirector to refuse */
		if (with_redirector && (vane_cfg.flags & VANE_CFG_F_V6) &&
		    addr6_eq(dst, vane_cfg.self_addr6)) {
			v6 = 1;
			goto gue;
		}
		if (!with_forwarder || !vip_filter_test(vane_vip_filter_bit6(dst)))
			goto pass;
		v6 = 1;
	} else {
		return XDP_PASS; /* not IP */
	}
	to_self = 0;
gue:
	__builtin_memset(&p, 0, sizeof(p));
	if (to_self)
		r = vane_gue_fast(ctx, &p, l3 - data, v6);
	else
		r = vane_vip_fast(ctx, &p, l3 - data, v6);
	if (r != VANE_SLOW)
		return r;
	return vane_full(ctx, &p, with_forwarder, with_redirector);
pass:
	if (with_forwarder)
		vane_count(VANE_STATS_GLOBAL, VANE_R_PASSED, vane_frame_len(ctx));
	return XDP_PASS;
malformed:
	vane_count(VANE_STATS_GLOBAL, VANE_R_MALFORMED, vane_frame_len(ctx));
	return XDP_PASS;
}

#endif
