/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The forwarder: a VIP packet is hashed into its table's bucket; the first hop is this server
 * (XDP_PASS) or another one (GUE encapsulation to it, second hop in the GLB hop list).
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

static __always_inline int forward_vip(struct xdp_md *ctx, struct vane_pkt *p)
{
	struct vane_flow *f = &p->flow;
	struct vane_vip_value *vip;
	struct vane_bucket *b;
	struct vane_server *s1, *s2 = 0;
	__u32 slot, hash, first, second, overhead;
	__u64 flen = vane_frame_len(ctx);
	int v6, use_ports;
	__u8 glb_flags = 0;
	struct vane_encap_args args = {};

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
	if (first == vane_cfg.self_index) {
		vane_count(slot, VANE_R_LOCAL, flen);
		return XDP_PASS;
	}
	s1 = bpf_map_lookup_elem(&vane_servers, &first);
	/* the fabric family: IPv4 when both ends have it, else IPv6 */
	if (server_has(s1, 0) && (vane_cfg.flags & VANE_CFG_F_V4))
		v6 = 0;
	else if (server_has(s1, 1) && (vane_cfg.flags & VANE_CFG_F_V6))
		v6 = 1;
	else
		goto no_table;
	if (!(vip->flags & VANE_VIP_F_SINGLE_HOP) && second != VANE_SERVER_NONE && second != first) {
		s2 = bpf_map_lookup_elem(&vane_servers, &second);
		if (!server_has(s2, v6))
			s2 = 0;
	}
	if (s2 && (s1->flags & VANE_SERVER_F_DRAINING))
		glb_flags |= VANE_GLB_F_FORWARD_SYN;
	overhead = encap_overhead(v6, s2 ? 2 : 1);
	if (p->l3_len + overhead > vane_cfg.mtu)
		return vane_send_too_big(ctx, p, vane_cfg.mtu - overhead, slot);
	args.hash = hash;
	args.first = first;
	args.second = s2 ? second : VANE_SERVER_NONE;
	args.v6 = v6;
	args.glb_flags = glb_flags;
	args.slot = slot;
	return vane_gue_encap(ctx, p, &args);
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

/* Parse; GUE for us goes to the redirector when with_redirector, the rest to the forwarder. */
static __always_inline int vane_main(struct xdp_md *ctx, int with_forwarder, int with_redirector)
{
	struct vane_pkt p = {};
	int r;

	r = vane_parse(ctx, &p);
	if (r > 0)
		return XDP_PASS; /* not IP */
	if (r < 0) {
		vane_count(VANE_STATS_GLOBAL, VANE_R_MALFORMED, vane_frame_len(ctx));
		return XDP_PASS; /* the kernel drops what is really broken */
	}
	if (with_redirector && is_gue_to_self(&p))
		return vane_redirect_gue(ctx, &p);
	if (with_forwarder)
		return vane_forward(ctx, &p);
	return XDP_PASS;
}

#endif
