/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Header parsing with a cursor.
 *
 * Contract: a parse_* function takes a cursor at the start of its header, checks that the whole
 * header lies inside the packet, fills what it learned into the flow, advances the cursor past
 * the header and returns 0; on a truncated or invalid header it returns -1 (the cursor is then
 * unspecified). Nothing here writes to the packet.
 */
#ifndef VANE_LIB_PARSE_H
#define VANE_LIB_PARSE_H

#include "lib/common.h"

#define VANE_MAX_EXTHDRS 6 /* hop-by-hop, routing, fragment, 2 x dest-options, and one spare */

struct cursor {
	void *pos;
	void *end;
	void *base; /* start of the frame; offsets in vane_pkt are from here */
};

/* Offset of a packet pointer from the frame start (pointer difference; needs CAP_PERFMON). */
#define CUR_OFF(c, ptr) ((__u32)((void *)(ptr) - (c)->base))

struct vane_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct vane_frag6_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

enum vane_flow_kind {
	VANE_FLOW_NORMAL = 0, /* ports known */
	VANE_FLOW_FRAGMENT,   /* an IP fragment: hashed on (src, dst, proto) */
	VANE_FLOW_ICMP_ERROR, /* ICMP error: flow is the quoted packet's, reversed */
	VANE_FLOW_NO_PORTS,   /* a protocol without ports (ICMP echo, GRE, ...) */
};

/* The flow a packet belongs to, seen from the client: src = client, dst = VIP. */
struct vane_flow {
	__u32 src[4]; /* network order words; IPv4 in src[0] */
	__u32 dst[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family; /* VANE_AF_INET / VANE_AF_INET6 */
	__u8 tcp_flags;
	__u8 kind; /* enum vane_flow_kind */
};

/* What the entry programs know about a frame after parsing it. */
struct vane_pkt {
	struct vane_flow flow;
	__u32 l2_len; /* 14 or 18; the IP header starts here */
	__u32 l4_off; /* outer L4 header (valid when l4_ok) */
	__u32 l3_len; /* the IP packet's own length (frame may carry padding) */
	__be16 vlan_tpid;
	__be16 vlan_tci;
	union {
		struct {
			__u8 dmac[ETH_ALEN]; /* as received */
			__u8 smac[ETH_ALEN];
		};
		__u32 macs[3]; /* both, as three words: copied word-wise, not byte by byte */
	};
	__u8 vlan;  /* one 802.1Q/802.1ad tag present */
	__u8 tos;   /* IPv4 TOS / IPv6 traffic class */
	__u8 df;    /* IPv4 don't-fragment (always 1 for IPv6) */
	__u8 l4_ok; /* L4 header present and complete */
};

/* Both MACs of the frame at eth into p (packet loads need no alignment on this target). */
static __always_inline void macs_from_frame(struct vane_pkt *p, const void *eth)
{
	const __u32 *w = eth;

	p->macs[0] = w[0];
	p->macs[1] = w[1];
	p->macs[2] = w[2];
}

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

static __always_inline int parse_eth(struct cursor *c, struct vane_pkt *p, __be16 *proto)
{
	struct ethhdr *eth = c->pos;
	struct vane_vlan_hdr *vh;

	if ((void *)(eth + 1) > c->end)
		return -1;
	c->pos = eth + 1;
	*proto = eth->h_proto;
	macs_from_frame(p, eth);
	p->l2_len = sizeof(*eth);
	p->vlan = 0;
	if (*proto == bpf_htons(ETH_P_8021Q) || *proto == bpf_htons(ETH_P_8021AD)) {
		vh = c->pos;
		if ((void *)(vh + 1) > c->end)
			return -1;
		c->pos = vh + 1;
		p->vlan = 1;
		p->vlan_tpid = *proto;
		p->vlan_tci = vh->tci;
		*proto = vh->proto;
		p->l2_len += sizeof(*vh);
	}
	return 0;
}

/* IPv4 header with options. quoted: a header inside an ICMP error (its length is not checked). */
static __always_inline int parse_ipv4(struct cursor *c, struct vane_flow *f, struct iphdr **out,
				      __u32 *l3_len, int quoted)
{
	struct iphdr *ip = c->pos;
	__u32 hl, tot;
	__u16 frag;

	if ((void *)(ip + 1) > c->end)
		return -1;
	if (ip->version != 4 || ip->ihl < 5)
		return -1;
	hl = (ip->ihl * 4) & 0x3c;
	if (c->pos + hl > c->end)
		return -1;
	tot = bpf_ntohs(ip->tot_len);
	if (!quoted && (tot < hl || c->pos + tot > c->end))
		return -1;
	*l3_len = tot;
	*out = ip;
	c->pos += hl;

	f->family = VANE_AF_INET;
	f->proto = ip->protocol;
	f->src[0] = ip->saddr;
	f->dst[0] = ip->daddr;
	f->src[1] = f->src[2] = f->src[3] = 0;
	f->dst[1] = f->dst[2] = f->dst[3] = 0;
	f->sport = f->dport = 0;
	f->tcp_flags = 0;
	frag = bpf_ntohs(ip->frag_off);
	f->kind = (frag & 0x3fff) ? VANE_FLOW_FRAGMENT : VANE_FLOW_NORMAL;
	/* a non-first fragment carries no L4 header */
	return (frag & 0x1fff) ? 1 : 0;
}

/*
 * IPv6 header and the extension headers vane skips (hop-by-hop, routing, destination options,
 * fragment). Returns 1 when the L4 header is absent (non-first fragment), 0 when the cursor is at
 * the upper-layer header (f->proto), -1 on a malformed packet.
 */
static __always_inline int parse_ipv6(struct cursor *c, struct vane_flow *f, struct ipv6hdr **out,
				      __u32 *l3_len, int quoted)
{
	struct ipv6hdr *ip6 = c->pos;
	__u32 plen;
	__u8 nh;
	int i, no_l4 = 0;

	if ((void *)(ip6 + 1) > c->end)
		return -1;
	if (ip6->version != 6)
		return -1;
	plen = bpf_ntohs(ip6->payload_len);
	if (!quoted && (plen == 0 || (void *)(ip6 + 1) + plen > c->end))
		return -1;
	*l3_len = plen + sizeof(*ip6);
	*out = ip6;
	c->pos = ip6 + 1;

	f->family = VANE_AF_INET6;
	__builtin_memcpy(f->src, &ip6->saddr, 16);
	__builtin_memcpy(f->dst, &ip6->daddr, 16);
	f->sport = f->dport = 0;
	f->tcp_flags = 0;
	f->kind = VANE_FLOW_NORMAL;
	nh = ip6->nexthdr;

#pragma unroll
	for (i = 0; i < VANE_MAX_EXTHDRS; i++) {
		if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS) {
			struct ipv6_opt_hdr *oh = c->pos;
			__u32 len;

			if ((void *)(oh + 1) > c->end)
				return -1;
			len = ((__u32)oh->hdrlen + 1) * 8;
			if (c->pos + len > c->end)
				return -1;
			nh = oh->nexthdr;
			c->pos += len;
		} else if (nh == IPPROTO_FRAGMENT) {
			struct vane_frag6_hdr *fh = c->pos;
			__u16 off;

			if ((void *)(fh + 1) > c->end)
				return -1;
			off = bpf_ntohs(fh->frag_off);
			if (off & 0xfff9) /* offset or more-fragments: a real fragment */
				f->kind = VANE_FLOW_FRAGMENT;
			if (off & 0xfff8)
				no_l4 = 1;
			nh = fh->nexthdr;
			c->pos = fh + 1;
		} else {
			f->proto = nh;
			return no_l4;
		}
	}
	return -1; /* too many extension headers */
}

static __always_inline int icmp4_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED;
}

static __always_inline int icmp6_is_error(__u8 type)
{
	return type == ICMPV6_DEST_UNREACH || type == ICMPV6_PKT_TOOBIG ||
	       type == ICMPV6_TIME_EXCEED;
}

static __always_inline void flow_reverse(struct vane_flow *f)
{
	__u32 t;
	__be16 p;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		t = f->src[i];
		f->src[i] = f->dst[i];
		f->dst[i] = t;
	}
	p = f->sport;
	f->sport = f->dport;
	f->dport = p;
}

/*
 * The packet quoted in an ICMP error (the one the VIP sent to the client). Fills f with that
 * packet's flow reversed, so it names the connection the way the client's packets do.
 */
static __always_inline int parse_quoted(struct cursor *c, struct vane_flow *f, __u8 family)
{
	__u32 to[4] = {f->dst[0], f->dst[1], f->dst[2], f->dst[3]}; /* the error's destination */
	__u32 qlen;
	__be16 *ports;
	int r;

	if (family == VANE_AF_INET) {
		struct iphdr *qip;

		r = parse_ipv4(c, f, &qip, &qlen, 1);
	} else {
		struct ipv6hdr *qip6;

		r = parse_ipv6(c, f, &qip6, &qlen, 1);
	}
	if (r < 0)
		return -1;
	if (r == 0 && f->kind == VANE_FLOW_NORMAL &&
	    (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP)) {
		ports = c->pos;
		if ((void *)(ports + 2) > c->end)
			return -1;
		f->sport = ports[0];
		f->dport = ports[1];
	}
	flow_reverse(f);
	/*
	 * An ICMP error goes to the source of the packet it quotes (RFC 792, RFC 4443). One that
	 * does not would be steered by one address's table and delivered to another: refused, so
	 * that the forwarder never sends such a packet and the redirector never accepts one.
	 */
	if (f->dst[0] != to[0] || f->dst[1] != to[1] || f->dst[2] != to[2] || f->dst[3] != to[3])
		return -1;
	f->kind = VANE_FLOW_ICMP_ERROR;
	return 0;
}

/* The L4 header of the outer packet: TCP, UDP, ICMP/ICMPv6 (errors parse the quoted packet). */
static __always_inline int parse_l4(struct cursor *c, struct vane_pkt *p)
{
	struct vane_flow *f = &p->flow;

	p->l4_off = CUR_OFF(c, c->pos);
	if (f->proto == IPPROTO_TCP) {
		struct tcphdr *th = c->pos;
		__u32 thl;

		if ((void *)(th + 1) > c->end)
			return -1;
		thl = (th->doff * 4) & 0x3c;
		if (thl < sizeof(*th) || c->pos + thl > c->end)
			return -1;
		f->tcp_flags = ((__u8 *)th)[13];
		if (f->kind == VANE_FLOW_NORMAL) {
			f->sport = th->source;
			f->dport = th->dest;
		}
		c->pos += thl;
		p->l4_ok = 1;
		return 0;
	}
	if (f->proto == IPPROTO_UDP) {
		struct udphdr *uh = c->pos;

		if ((void *)(uh + 1) > c->end)
			return -1;
		if (f->kind == VANE_FLOW_NORMAL) {
			f->sport = uh->source;
			f->dport = uh->dest;
		}
		c->pos = uh + 1;
		p->l4_ok = 1;
		return 0;
	}
	if (f->kind != VANE_FLOW_NORMAL)
		return 0;
	if (f->proto == IPPROTO_ICMP && f->family == VANE_AF_INET) {
		struct vane_icmphdr *ih = c->pos;

		if ((void *)(ih + 1) > c->end)
			return -1;
		c->pos = ih + 1;
		p->l4_ok = 1;
		if (icmp4_is_error(ih->type))
			return parse_quoted(c, f, VANE_AF_INET);
	} else if (f->proto == IPPROTO_ICMPV6 && f->family == VANE_AF_INET6) {
		struct icmp6hdr *ih6 = c->pos;

		if ((void *)(ih6 + 1) > c->end)
			return -1;
		c->pos = ih6 + 1;
		p->l4_ok = 1;
		if (icmp6_is_error(ih6->icmp6_type))
			return parse_quoted(c, f, VANE_AF_INET6);
	}
	f->kind = VANE_FLOW_NO_PORTS;
	return 0;
}

/* Ethernet (+1 VLAN tag), IPv4/IPv6, L4. 1 = not IP (leave it alone), -1 = malformed. */
static __always_inline int parse_packet(struct cursor *c, struct vane_pkt *p)
{
	__be16 proto;
	int r;

	p->l4_off = 0;
	p->l4_ok = 0;
	if (parse_eth(c, p, &proto) < 0)
		return -1;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip;

		r = parse_ipv4(c, &p->flow, &ip, &p->l3_len, 0);
		if (r < 0)
			return -1;
		p->tos = ip->tos;
		p->df = (ip->frag_off & bpf_htons(0x4000)) != 0;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6;

		r = parse_ipv6(c, &p->flow, &ip6, &p->l3_len, 0);
		if (r < 0)
			return -1;
		p->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
		p->df = 1;
	} else {
		return 1;
	}
	if (r == 1) /* non-first fragment */
		return 0;
	return parse_l4(c, p);
}

#endif
