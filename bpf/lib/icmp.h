/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * ICMP "fragmentation needed" / ICMPv6 "packet too big" built in XDP and sent back to the client
 * when a VIP packet would exceed the fabric MTU once encapsulated.
 */
#ifndef VANE_LIB_ICMP_H
#define VANE_LIB_ICMP_H

#include "lib/common.h"
#include "lib/parse.h"
#include "lib/encap.h"

/*
 * Bytes of the offending packet quoted back. A too-big packet is longer than this: the loader
 * refuses an MTU below VANE_MIN_MTU, so (MTU - overhead) > 1280 > the quote. 28 + 512 stays inside
 * the 576 bytes RFC 1812 asks for; 48 + 512 inside IPv6's 1280.
 */
#define VANE_ICMP_QUOTE 512

static __always_inline __u64 sum_words(const __u32 *w, int n)
{
	__u64 s = 0;
	int i;

#pragma unroll
	for (i = 0; i < n; i++)
		s += w[i];
	return s;
}

__noinline int vane_send_too_big(struct xdp_md *ctx, struct vane_pkt *p, __u32 mtu, __u32 slot)
{
	int v6 = p->flow.family == VANE_AF_INET6;
	__u32 l2 = p->l2_len & 0x1f;
	__u32 hl = v6 ? sizeof(struct ipv6hdr) + sizeof(struct icmp6hdr)
		      : sizeof(struct iphdr) + sizeof(struct vane_icmphdr);
	__u64 flen = vane_frame_len(ctx);
	__u32 client[4], vip[4];
	void *data, *end, *l3, *quote;
	__u64 sum;
	__s64 qsum;

	if (!p)
		return XDP_DROP;
	v6 = p->flow.family == VANE_AF_INET6;
	l2 = p->l2_len & 0x1f;
	hl = v6 ? sizeof(struct ipv6hdr) + sizeof(struct icmp6hdr)
		: sizeof(struct iphdr) + sizeof(struct vane_icmphdr);
	/* Never an ICMP error about an ICMP error; IPv4 without DF would be fragmented instead. */
	if (p->flow.kind == VANE_FLOW_ICMP_ERROR || (!v6 && !p->df) || p->l3_len < VANE_ICMP_QUOTE)
		goto drop;
	__builtin_memcpy(client, p->flow.src, 16);
	__builtin_memcpy(vip, p->flow.dst, 16);
	if (bpf_xdp_adjust_tail(ctx, (int)(l2 + VANE_ICMP_QUOTE) - (int)flen))
		goto drop;
	if (bpf_xdp_adjust_head(ctx, -(int)hl))
		goto drop;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	/* back to the router it came from */
	if (write_l2(data, end, p, p->smac, p->dmac, bpf_htons(v6 ? ETH_P_IPV6 : ETH_P_IP)) < 0)
		goto drop;
	l3 = data + l2;
	quote = l3 + hl;
	if (quote + VANE_ICMP_QUOTE > end)
		goto drop;
	qsum = bpf_csum_diff(0, 0, quote, VANE_ICMP_QUOTE, 0);
	if (qsum < 0)
		goto drop;
	if (v6) {
		struct ipv6hdr *ip6 = l3;
		struct icmp6hdr *ic6 = (void *)(ip6 + 1);
		__u32 pseudo[2];

		if (mtu < 1280)
			mtu = 1280;
		__builtin_memset(ip6, 0, sizeof(*ip6));
		ip6->version = 6;
		ip6->payload_len = bpf_htons(sizeof(*ic6) + VANE_ICMP_QUOTE);
		ip6->nexthdr = IPPROTO_ICMPV6;
		ip6->hop_limit = 64;
		__builtin_memcpy(&ip6->saddr, vip, 16);
		__builtin_memcpy(&ip6->daddr, client, 16);
		ic6->icmp6_type = ICMPV6_PKT_TOOBIG;
		ic6->icmp6_code = 0;
		ic6->icmp6_cksum = 0;
		ic6->icmp6_mtu = bpf_htonl(mtu);
		pseudo[0] = bpf_htonl(sizeof(*ic6) + VANE_ICMP_QUOTE);
		pseudo[1] = bpf_htonl(IPPROTO_ICMPV6);
		sum = (__u64)(__u32)qsum + sum_words(vip, 4) + sum_words(client, 4) +
		      sum_words(pseudo, 2) + sum_words((__u32 *)ic6, 2);
		ic6->icmp6_cksum = csum_fold(sum);
	} else {
		struct iphdr *ip = l3;
		struct vane_icmphdr *ic = (void *)(ip + 1);

		if (mtu < 68)
			mtu = 68;
		ip->version = 4;
		ip->ihl = 5;
		ip->tos = 0;
		ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*ic) + VANE_ICMP_QUOTE);
		ip->id = 0;
		ip->frag_off = 0;
		ip->ttl = 64;
		ip->protocol = IPPROTO_ICMP;
		ip->saddr = vip[0];
		ip->daddr = client[0];
		ipv4_set_csum(ip);
		ic->type = ICMP_DEST_UNREACH;
		ic->code = ICMP_FRAG_NEEDED;
		ic->checksum = 0;
		ic->unused = 0;
		ic->mtu = bpf_htons(mtu);
		sum = (__u64)(__u32)qsum + sum_words((__u32 *)ic, 2);
		ic->checksum = csum_fold(sum);
	}
	vane_count(slot, VANE_R_TOO_BIG, flen);
	return XDP_TX;
drop:
	vane_count(slot, VANE_R_TOO_BIG, flen);
	return XDP_DROP;
}

#endif
