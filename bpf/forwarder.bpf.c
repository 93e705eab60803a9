// SPDX-License-Identifier: GPL-2.0
/*
 * vane's XDP entry on the uplink: GUE packets for this server go through the redirector, VIP
 * packets through the forwarder, everything else passes untouched. One program, because an
 * interface holds one XDP program.
 */
#include "lib/common.h"
#include "lib/parse.h"
#include "lib/redirect.h"
#include "lib/forward.h"

SEC("xdp")
int vane_xdp(struct xdp_md *ctx) { return vane_main(ctx, 1, 1); }

char LICENSE[] SEC("license") = "GPL";
