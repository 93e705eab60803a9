/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The redirector: GUE packets addressed to this server. Validates them (anything malformed is
 * dropped and counted, never passed), then either decapsulates and delivers the inner packet
 * (last hop, a SYN, a packet of a local socket or a valid syncookie ACK, UDP of a connected
 * socket) or sends it on to the next hop of its list.
 *
 * Well formed is not enough: XDP runs before any firewall, so the redirector is the only guard
 * of this tunnel. It accepts GUE only from a server of the site (outer source), only for a VIP
 * of the site (inner destination, the forwarder's own lookup), and sends it on only to servers
 * of the site (every hop still ahead). Anything else is dropped under its own reason.
 * VANE_BENCH_NO_GUE_TRUST compiles the three checks out, for bench/ only (their cost).
 */
#ifndef VANE_LIB_REDIRECT_H
#define VANE_LIB_REDIRECT_H

#include "lib/common.h"
#include "lib/parse.h"
#include "lib/encap.h"
#include "lib/steer.h"

/* Is this parsed outer packet GUE for us? */
static __always_inline int is_gue_to_self(const struct vane_pkt *p)
{
	const struct vane_flow *f = &p->flow;

	if (f->proto != IPPROTO_UDP || f->kind != VANE_FLOW_NORMAL || !p->l4_ok ||
	    f->dport != vane_cfg.gue_port || vane_cfg.gue_port == 0)
		return 0;
	if (f->family == VANE_AF_INET)
		return (vane_cfg.flags & VANE_CFG_F_V4) && f->dst[0] == vane_cfg.self_addr4;
	return (vane_cfg.flags & VANE_CFG_F_V6) && addr6_eq(f->dst, vane_cfg.self_addr6);
}

/* Is this key an address of a server of the site? The index first, the hash map when it says so. */
static __always_inline int site_has(struct vane_site_key *key)
{
	const __u32 *k = (const __u32 *)key;
	struct vane_vip_index_ctl *ctl;
	struct vane_site_slot *s;
	const __u32 *sk;
	__u32 zero = 0, idx;

	ctl = bpf_map_lookup_elem(&vane_site_index_ctl, &zero);
	idx = (ctl && (ctl->active & 1) ? VANE_SITE_INDEX_SLOTS : 0) + vane_site_slot_of(k);
	s = bpf_map_lookup_elem(&vane_site_index, &idx);
	if (!s || s->state == VANE_VIP_SLOT_ASK)
		return bpf_map_lookup_elem(&vane_site_addrs, key) != 0;
	if (s->state == VANE_VIP_SLOT_EMPTY)
		return 0;
	sk = (const __u32 *)&s->key;
	if (sk[0] == k[0] && sk[1] == k[1] && sk[2] == k[2] && sk[3] == k[3] && sk[4] == k[4])
		return 1;
	if (s->state == VANE_VIP_SLOT_SHARED)
		return bpf_map_lookup_elem(&vane_site_addrs, key) != 0;
	return 0;
}

/* v4: a network-order word; v6: four of them. */
static __always_inline int site_has4(__u32 a)
{
	struct vane_site_key k = {};

	__builtin_memcpy(k.addr, &a, 4);
	k.family = VANE_AF_INET;
	return site_has(&k);
}

static __always_inline int site_has6(const __u32 *a)
{
	struct vane_site_key k = {};

	__builtin_memcpy(k.addr, a, 16);
	k.family = VANE_AF_INET6;
	return site_has(&k);
}

enum { RD_DECAP_SYN, RD_DECAP_LOCAL, RD_DECAP_LAST, RD_DECAP_OTHER, RD_FORWARD };

/* A TCP SYN that opens a connection (no ACK, no RST): served wherever it lands. */
static __always_inline int vane_is_syn(const struct vane_flow *f)
{
	return f->proto == IPPROTO_TCP && f->kind == VANE_FLOW_NORMAL &&
	       (f->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) == TCP_FLAG_SYN;
}

/*
 * Does a socket of this server own the packet? TCP: a non-listening socket (established, in
 * handshake, time-wait), or a pure ACK that is a valid syncookie of the listener; UDP: a
 * connected socket (an unconnected one would claim every flow to its port). p: a TCP or UDP
 * packet that is not a fragment, offsets from the frame start (the redirector's inner packet,
 * the forwarder's own). One function for both, so the two keep deciding alike.
 */
__noinline int vane_local_socket(struct xdp_md *ctx, struct vane_pkt *p)
{
	struct vane_flow *f;
	struct bpf_sock_tuple t = {};
	__u32 tlen;
	struct bpf_sock *sk;

	if (!p)
		return 0;
	f = &p->flow;
	if (f->family == VANE_AF_INET) {
		t.ipv4.saddr = f->src[0];
		t.ipv4.daddr = f->dst[0];
		t.ipv4.sport = f->sport;
		t.ipv4.dport = f->dport;
		tlen = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, f->src, 16);
		__builtin_memcpy(t.ipv6.daddr, f->dst, 16);
		t.ipv6.sport = f->sport;
		t.ipv6.dport = f->dport;
		tlen = sizeof(t.ipv6);
	}

	if (f->proto == IPPROTO_UDP) {
		int connected = 0;

		sk = bpf_sk_lookup_udp(ctx, &t, tlen, BPF_F_CURRENT_NETNS, 0);
		if (sk) {
			connected = sk->dst_port != 0;
			bpf_sk_release(sk);
		}
		return connected;
	}
	if (f->proto != IPPROTO_TCP)
		return 0;

	sk = bpf_skc_lookup_tcp(ctx, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	if (sk->state != VANE_TCP_LISTEN) { /* established, in handshake, time-wait */
		bpf_sk_release(sk);
		return 1;
	}
	if (f->kind == VANE_FLOW_NORMAL &&
	    (f->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) == TCP_FLAG_ACK) {
		void *data = (void *)(long)ctx->data;
		void *end = (void *)(long)ctx->data_end;
		struct tcphdr *th = data + (p->l4_off & 0xfff);
		long rc = -1;

		if (f->family == VANE_AF_INET) {
			struct iphdr *ip = data + (p->l2_len & 0xff);

			if ((void *)(ip + 1) <= end && (void *)(th + 1) <= end) {
				if (th->doff == 5)
					rc = bpf_tcp_check_syncookie(sk, ip, sizeof(*ip), th, 20);
				else if (th->doff == 8 && (void *)th + 32 <= end)
					rc = bpf_tcp_check_syncookie(sk, ip, sizeof(*ip), th, 32);
			}
		} else {
			struct ipv6hdr *ip6 = data + (p->l2_len & 0xff);

			if ((void *)(ip6 + 1) <= end && (void *)(th + 1) <= end) {
				if (th->doff == 5)
					rc = bpf_tcp_check_syncookie(sk, ip6, sizeof(*ip6), th, 20);
				else if (th->doff == 8 && (void *)th + 32 <= end)
					rc = bpf_tcp_check_syncookie(sk, ip6, sizeof(*ip6), th, 32);
			}
		}
		if (rc == 0) {
			bpf_sk_release(sk);
			return 1;
		}
	}
	bpf_sk_release(sk);
	return 0;
}

/* Does the inner packet belong here? in: the parsed inner packet. */
static __always_inline int redirect_decide(struct xdp_md *ctx, struct vane_pkt *in, int last_hop,
					   int forward_syn)
{
	struct vane_flow *f = &in->flow;

	if (f->kind == VANE_FLOW_FRAGMENT || (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP))
		return last_hop ? RD_DECAP_LAST : RD_DECAP_OTHER;
	if (last_hop)
		return RD_DECAP_LAST;
	if (vane_is_syn(f))
		return forward_syn ? RD_FORWARD : RD_DECAP_SYN;
	return vane_local_socket(ctx, in) ? RD_DECAP_LOCAL : RD_FORWARD;
}

/* What validation learned about a GUE packet; offsets from the frame start. */
struct vane_gue_info {
	__u32 l3_off; /* outer IP header (= L2 length) */
	__u32 udp_off;
	__u32 glb_off;	 /* GLB private data */
	__u32 inner_off; /* inner IP header */
	__u32 v6;	 /* outer family */
	__u32 ctype;	 /* 4 or 41 */
	__u32 next_hop;
	__u32 hop_count;
	__u32 forward_syn;
	__u32 l3_len; /* outer IP length */
	__u64 flen;
};

/* Per-CPU room for the redirector's state: the BPF stack (512 bytes over all frames) is short. */
struct vane_rd_scratch {
	struct vane_pkt in;
	struct vane_gue_info g;
	struct vane_send snd;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vane_rd_scratch);
} vane_rd_scratch SEC(".maps");

/*
 * Is every hop still ahead in the list (hops[next_hop .. hop_count-1]) a server of the site, and
 * none of them this server? vane never lists a server after itself: such a hop is a loop (a
 * faulty or forged list), refused here rather than handed to the FIB as a local address.
 * Validation has checked that the list lies inside the packet; the loads check it again.
 */
__noinline int vane_hops_trusted(struct xdp_md *ctx, struct vane_gue_info *g)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *hops;
	__u32 nh, n, i;

	if (!g)
		return 0;
	nh = g->next_hop;
	n = g->hop_count;
	hops = data + (g->glb_off & 0xff) + VANE_GLB_HLEN;
#pragma unroll
	for (i = 0; i < VANE_GLB_MAX_HOPS; i++) {
		if (i < nh || i >= n)
			continue;
		if (g->v6) {
			__u32 a[4];
			__u8 *h = hops + i * 16;

			if ((void *)(h + 16) > end)
				return 0;
			__builtin_memcpy(a, h, 16);
			if (addr6_eq(a, vane_cfg.self_addr6) || !site_has6(a))
				return 0;
		} else {
			__u8 *h = hops + i * 4;
			__u32 a;

			if ((void *)(h + 4) > end)
				return 0;
			__builtin_memcpy(&a, h, 4);
			if (a == vane_cfg.self_addr4 || !site_has4(a))
				return 0;
		}
	}
	return 1;
}

/*
 * Is the inner packet for a VIP of the site? The forwarder's own lookup (exact port, then the
 * port-0 wildcard; fragments through the fragment-only entries), on the flow the forwarder
 * hashed: for an ICMP error, the connection it quotes (parse_quoted has checked that the error
 * is addressed to that connection's VIP). A disabled VIP counts: it is still the site's.
 */
__noinline int vane_inner_is_vip(struct vane_flow *f)
{
	if (!f)
		return 0;
	return vip_lookup(f) != 0;
}

/* The inner packet at off (ctype 4: IPv4, 41: IPv6), whole, with its L4 header. */
__noinline int vane_parse_inner(struct xdp_md *ctx, struct vane_pkt *in, __u32 off, __u32 v6)
{
	struct cursor c;
	int r;

	if (!in)
		return -1;
	off &= 0xff;
	c.base = (void *)(long)ctx->data;
	c.end = (void *)(long)ctx->data_end;
	c.pos = c.base + off;
	in->l2_len = off;
	in->l4_ok = 0;
	if (v6) {
		struct ipv6hdr *ip6;

		r = parse_ipv6(&c, &in->flow, &ip6, &in->l3_len, 0);
	} else {
		struct iphdr *ip;

		r = parse_ipv4(&c, &in->flow, &ip, &in->l3_len, 0);
	}
	if (r < 0)
		return -1;
	if (r == 0 && parse_l4(&c, in) < 0)
		return -1;
	return 0;
}

/* Decapsulate and deliver, or send on to hops[next_hop]. */
__noinline int vane_redirect_act(struct xdp_md *ctx, struct vane_pkt *p, struct vane_pkt *in,
				 struct vane_gue_info *g, struct vane_send *snd)
{
	const __u32 slot = VANE_STATS_GLOBAL;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 nh, v6, strip, l2;
	__u64 flen;
	int what, sent;

	if (!p || !in || !g || !snd)
		return XDP_DROP;
	nh = g->next_hop;
	v6 = g->v6;
	flen = g->flen;
	l2 = g->l3_off & 0x1f;
	what = redirect_decide(ctx, in, nh >= g->hop_count, g->forward_syn);
	if (what == RD_FORWARD) {
		__u32 hop_size = v6 ? 16 : 4;
		struct vane_glb_hdr *glb = data + (g->glb_off & 0xff);
		__u8 *hop = (void *)(glb + 1) + (nh & (VANE_GLB_MAX_HOPS - 1)) * hop_size;
		struct udphdr *uh = data + (g->udp_off & 0xff);
		void *l3 = data + l2;

		if ((void *)(glb + 1) > end || (void *)(uh + 1) > end)
			goto bad;
		__builtin_memset(snd, 0, sizeof(*snd));
		if (v6) {
			struct ipv6hdr *ip6 = l3;
			__u32 old[9], neu[9];

			if ((void *)(hop + 16) > end || (void *)(ip6 + 1) > end)
				goto bad;
			__builtin_memcpy(snd->dst, hop, 16);
			__builtin_memcpy(old, &ip6->saddr, 32);
			old[8] = *(__u32 *)glb;
			copy_self6((__u32 *)&ip6->saddr);
			__builtin_memcpy(&ip6->daddr, snd->dst, 16);
			ip6->hop_limit = 64;
			glb->next_hop = nh + 1;
			__builtin_memcpy(neu, &ip6->saddr, 32);
			neu[8] = *(__u32 *)glb;
			if (uh->check) {
				__s64 d = bpf_csum_diff(old, sizeof(old), neu, sizeof(neu),
							(__u16)~uh->check);
				__u16 c = csum_fold((__u32)d);

				uh->check = c ? c : 0xffff;
			}
		} else {
			struct iphdr *ip = l3;

			if ((void *)(hop + 4) > end || (void *)(ip + 1) > end)
				goto bad;
			snd->dst[0] = *(__u32 *)hop;
			ip->saddr = vane_cfg.self_addr4;
			ip->daddr = snd->dst[0];
			ip->ttl = 64;
			ipv4_set_csum(ip);
			glb->next_hop = nh + 1;
			uh->check = 0;
		}
		snd->v6 = v6;
		snd->tot_len = g->l3_len;
		snd->slot = slot;
		snd->reason = VANE_R_REDIRECTED;
		snd->bytes = flen;
		snd->sport = uh->source;
		snd->nh_slot = vane_nh_slot_addr(snd->dst, v6);
		sent = vane_send_cached(ctx, snd);
		if (sent != VANE_NH_MISS)
			return sent;
		return vane_fib_send(ctx, snd);
	}

	/* decapsulate: the L2 header moves up to sit right before the inner packet */
	strip = (g->inner_off - l2) & 0xff;
	if (write_l2_same(data + strip, end, p,
			  bpf_htons(g->ctype == IPPROTO_IPV6 ? ETH_P_IPV6 : ETH_P_IP)) < 0)
		goto bad;
	if (bpf_xdp_adjust_head(ctx, (int)strip)) {
		vane_count(slot, VANE_R_ERRORS, flen);
		return XDP_DROP;
	}
	vane_count(slot,
		   what == RD_DECAP_SYN	    ? VANE_R_DECAP_SYN
		   : what == RD_DECAP_LOCAL ? VANE_R_DECAP_LOCAL
		   : what == RD_DECAP_LAST  ? VANE_R_DECAP_LAST_HOP
					    : VANE_R_DECAP_OTHER,
		   flen);
	return XDP_PASS;
bad:
	vane_count(slot, VANE_R_GUE_MALFORMED, flen);
	return XDP_DROP;
}

/* p: the parsed outer packet (UDP to us, GUE port); returns the XDP verdict. */
static __always_inline int redirect_gue(struct xdp_md *ctx, struct vane_pkt *p)
{
	const __u32 slot = VANE_STATS_GLOBAL;
	int v6 = p->flow.family == VANE_AF_INET6;
	__u32 hop_size = v6 ? 16 : 4;
	__u32 ip_hlen = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct vane_rd_scratch *sc;
	struct vane_gue_info *gi;
	struct vane_gue_hdr *gue;
	struct vane_glb_hdr *glb;
	struct udphdr *uh;
	__u32 ulen, glen, l2 = p->l2_len;
	__u8 ver, flags;
	__u32 zero = 0;
	__u64 flen = vane_frame_len(ctx);

#ifndef VANE_BENCH_NO_GUE_TRUST
	/* first, before any work: nobody else may use this tunnel, well formed or not */
	if (!(v6 ? site_has6(p->flow.src) : site_has4(p->flow.src[0]))) {
		vane_count(slot, VANE_R_GUE_BAD_SOURCE, flen);
		return XDP_DROP;
	}
#endif
	sc = bpf_map_lookup_elem(&vane_rd_scratch, &zero);
	if (!sc)
		goto bad;
	__builtin_memset(&sc->in, 0, sizeof(sc->in));
	__builtin_memset(&sc->g, 0, sizeof(sc->g)); /* sc->snd: written whole when it is used */
	gi = &sc->g;
	gi->flen = flen;

	/* outer headers without IPv4 options or IPv6 extension headers */
	if ((l2 != 14 && l2 != 18) || p->l4_off != l2 + ip_hlen)
		goto bad;
	uh = data + l2 + ip_hlen;
	gue = (void *)(uh + 1);
	glb = (void *)(gue + 1);
	if ((void *)(glb + 1) > end)
		goto bad;
	ulen = bpf_ntohs(uh->len);
	if (ulen < VANE_UDP_HLEN + VANE_GUE_HLEN + VANE_GLB_HLEN || ulen > p->l3_len - ip_hlen)
		goto bad;
	if ((gue->ver_c_hlen & (VANE_GUE_VER_MASK | VANE_GUE_C_BIT)) || gue->flags)
		goto bad;
	gi->ctype = gue->proto_ctype;
	if (gi->ctype != IPPROTO_IPIP && gi->ctype != IPPROTO_IPV6)
		goto bad;
	glen = (gue->ver_c_hlen & VANE_GUE_HLEN_MASK) * 4;
	ver = glb->version_flags >> VANE_GLB_VERSION_SHIFT;
	flags = glb->version_flags & 0x0f;
	gi->next_hop = glb->next_hop;
	gi->hop_count = glb->hop_count;
	if (ver != (v6 ? VANE_GLB_VERSION_V6HOPS : VANE_GLB_VERSION_V4HOPS) ||
	    (flags & ~VANE_GLB_F_FORWARD_SYN) || glb->reserved)
		goto bad;
	if (gi->hop_count > VANE_GLB_MAX_HOPS || gi->next_hop > gi->hop_count ||
	    glen != VANE_GLB_HLEN + gi->hop_count * hop_size)
		goto bad;
	if (VANE_UDP_HLEN + VANE_GUE_HLEN + glen > ulen)
		goto bad;
	gi->l3_off = l2;
	gi->udp_off = l2 + ip_hlen;
	gi->glb_off = gi->udp_off + VANE_UDP_HLEN + VANE_GUE_HLEN;
	gi->inner_off = gi->glb_off + glen;
	gi->v6 = v6;
	gi->forward_syn = flags & VANE_GLB_F_FORWARD_SYN;
	gi->l3_len = p->l3_len;

	/* the inner packet must be whole and must be what proto/ctype says */
	if (vane_parse_inner(ctx, &sc->in, gi->inner_off, gi->ctype == IPPROTO_IPV6) < 0)
		goto bad;
	if (sc->in.l3_len > ulen - (VANE_UDP_HLEN + VANE_GUE_HLEN + glen))
		goto bad;
#ifndef VANE_BENCH_NO_GUE_TRUST
	if (!vane_inner_is_vip(&sc->in.flow)) {
		vane_count(slot, VANE_R_GUE_BAD_INNER, flen);
		return XDP_DROP;
	}
	if (!vane_hops_trusted(ctx, gi)) {
		vane_count(slot, VANE_R_GUE_BAD_HOP, flen);
		return XDP_DROP;
	}
#endif
	return vane_redirect_act(ctx, p, &sc->in, gi, &sc->snd);
bad:
	vane_count(slot, VANE_R_GUE_MALFORMED, flen);
	return XDP_DROP;
}

#endif
