/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* The BPF half of the layout check; tests/unit/xdp/abi_layout_test.cc has the C++ half. */
#ifndef VANE_LIB_ABI_CHECK_H
#define VANE_LIB_ABI_CHECK_H

#include <stddef.h>
#include "vane_abi.h"

_Static_assert(sizeof(struct vane_vip_key) == 20, "vip key");
_Static_assert(offsetof(struct vane_vip_key, port) == 16, "vip key port");
_Static_assert(offsetof(struct vane_vip_key, proto) == 18, "vip key proto");
_Static_assert(offsetof(struct vane_vip_key, family) == 19, "vip key family");
_Static_assert(sizeof(struct vane_vip_value) == 16, "vip value");
_Static_assert(sizeof(struct vane_server) == 24, "server");
_Static_assert(offsetof(struct vane_server, addr6) == 8, "server addr6");
_Static_assert(sizeof(struct vane_bucket) == 8, "bucket");
_Static_assert(sizeof(struct vane_table_ctl) == 24, "table ctl");
_Static_assert(offsetof(struct vane_table_ctl, half) == 8, "table ctl half");
_Static_assert(sizeof(struct vane_counters) == 16 * VANE_R_COUNT, "counters");
_Static_assert(sizeof(struct vane_config) == 40, "config");
_Static_assert(offsetof(struct vane_config, self_addr6) == 16, "config addr6");
_Static_assert(offsetof(struct vane_config, gue_port) == 32, "config gue port");
_Static_assert(offsetof(struct vane_config, mtu) == 34, "config mtu");
_Static_assert(sizeof(struct vane_gue_hdr) == 4, "gue");
_Static_assert(sizeof(struct vane_glb_hdr) == 4, "glb");
_Static_assert(offsetof(struct vane_glb_hdr, next_hop) == 2, "glb next hop");
_Static_assert(offsetof(struct vane_glb_hdr, hop_count) == 3, "glb hop count");
_Static_assert(VANE_R_COUNT == 17, "reasons");
_Static_assert(sizeof(struct vane_site_key) == 20, "site key");
_Static_assert(offsetof(struct vane_site_key, family) == 16, "site key family");
_Static_assert(sizeof(struct vane_site_slot) == 24, "site slot");
_Static_assert(sizeof(struct vane_vip_slot) == 40, "vip slot");
_Static_assert(offsetof(struct vane_vip_slot, state) == 20, "vip slot state");
_Static_assert(offsetof(struct vane_vip_slot, value) == 24, "vip slot value");
_Static_assert(sizeof(struct vane_vip_index_ctl) == 8, "vip index ctl");
_Static_assert(sizeof(struct vane_vip_filter) == 8192, "vip filter");

#endif
