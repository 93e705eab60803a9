// SPDX-License-Identifier: GPL-2.0
/*
 * The redirector alone (GUE for this server: decapsulate or send on to the next hop); every
 * other packet passes. For backend-only servers and for tests; the forwarder embeds the same code.
 */
#include "lib/common.h"
#include "lib/parse.h"
#include "lib/redirect.h"
#include "lib/forward.h"

SEC("xdp")
int vane_redirect(struct xdp_md *ctx) { return vane_main(ctx, 0, 1); }

char LICENSE[] SEC("license") = "GPL";
