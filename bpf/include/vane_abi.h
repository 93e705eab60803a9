/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * vane_abi.h: the one definition of everything the BPF programs and the C++ loader share:
 * map keys and values, the GUE/GLB wire layout, counter reasons, limits, and the flow hash.
 *
 * Compiled as C by clang -target bpf and as C++ by g++; only fixed-width <linux/types.h> types,
 * no bitfields, no flexible arrays. Multi-byte fields marked __be are in network byte order,
 * everything else in host order. tests/unit/xdp/abi_layout_test.cc pins sizes and offsets, and the
 * BPF side has the same _Static_asserts (bpf/lib/abi_check.h), so both compilers agree.
 */
#ifndef VANE_ABI_H
#define VANE_ABI_H

#include <linux/types.h>

/* ---- limits ------------------------------------------------------------------------------ */

#define VANE_MAX_VIPS 4096		/* entries in the VIP map; also counter slots per VIP */
#define VANE_MAX_SERVERS 4096		/* server index range */
#define VANE_MAX_TABLES 256		/* table ids 0..VANE_MAX_TABLES-1 */
#define VANE_STATS_GLOBAL VANE_MAX_VIPS /* counter slot for traffic not tied to one VIP */
#define VANE_STATS_SLOTS (VANE_MAX_VIPS + 1)
#define VANE_SERVER_NONE 0xffffffffu /* a bucket hop that names no server */

/* Default forwarding table capacity: tables x 2 halves x buckets per half (loader may change). */
#define VANE_DEFAULT_TABLE_SLOTS 8     /* tables that can exist at once */
#define VANE_DEFAULT_MAX_BUCKETS 65537 /* largest M per table */

/* ---- VIPs --------------------------------------------------------------------------------- */

#define VANE_AF_INET 4
#define VANE_AF_INET6 6

/* Key of the VIP hash map. Port 0 is the wildcard entry, tried when the exact port misses. */
struct vane_vip_key {
	__u8 addr[16]; /* IPv4 in the first 4 bytes, rest zero */
	__be16 port;   /* 0 = any port */
	__u8 proto;    /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family;   /* VANE_AF_INET / VANE_AF_INET6 */
};

/* VIP flags */
#define VANE_VIP_F_HASH_NO_PORTS (1u << 0) /* hash on (src, dst, proto) only */
#define VANE_VIP_F_SINGLE_HOP (1u << 1)	   /* no second hop: stateless service, first hop serves */
#define VANE_VIP_F_DISABLED (1u << 2)	   /* known but not steered: XDP_PASS */
/* The port-0 entry the loader adds so that fragments (no ports) find the address's table;
 * ignored for whole packets. */
#define VANE_VIP_F_FRAG_ONLY (1u << 3)

struct vane_vip_value {
	__u32 table_id;	   /* index into vane_table_ctl / the bucket regions */
	__u32 flags;	   /* VANE_VIP_F_* */
	__u32 stats_index; /* counter slot, < VANE_MAX_VIPS */
	__u32 reserved;
};

/*
 * The VIP address filter: one bit per hash of a VIP address (any port, protocol or family), so
 * that traffic to other addresses leaves after one load instead of the VIP map's two lookups.
 * A set bit only means "maybe a VIP" (the VIP map decides); a clear bit means "not a VIP". The
 * loader sets the bits of new addresses before their VIP entries and clears stale ones after
 * the entries are gone, so a live VIP's bit is never clear.
 */
#define VANE_VIP_FILTER_SHIFT 16 /* 2^16 bits, 8 KiB */
#define VANE_VIP_FILTER_WORDS ((1u << VANE_VIP_FILTER_SHIFT) / 64)

struct vane_vip_filter {
	__u64 bits[VANE_VIP_FILTER_WORDS];
};

/* Bit index of an IPv4 address (the network-order word as loaded from the packet). */
static inline __u32 vane_vip_filter_bit4(__u32 addr)
{
	return (addr * 0x9e3779b1u) >> (32 - VANE_VIP_FILTER_SHIFT);
}

/* Bit index of an IPv6 address (four network-order words as loaded from the packet). */
static inline __u32 vane_vip_filter_bit6(const __u32 *a)
{
	return ((a[0] * 0x9e3779b1u) ^ (a[1] * 0x85ebca77u) ^ (a[2] * 0xc2b2ae3du) ^
		(a[3] * 0x27d4eb2fu)) >>
	       (32 - VANE_VIP_FILTER_SHIFT);
}

/*
 * The VIP index: the VIP map's entries again, in a direct-mapped array the programs read without
 * a hash-table lookup. Slot vane_vip_slot_of(key) of the active half holds one key that maps
 * there, and says whether other keys map there too (then a miss asks the VIP map, the authority).
 * A zeroed slot (VANE_VIP_SLOT_ASK) asks the VIP map for everything, so an index the loader has
 * not filled costs speed, never correctness. The loader fills the inactive half, then flips
 * vane_vip_index_ctl.active, after the VIP map has the new entries and before stale ones go.
 */
#define VANE_VIP_INDEX_SHIFT 13 /* slots per half: 8192 */
#define VANE_VIP_INDEX_SLOTS (1u << VANE_VIP_INDEX_SHIFT)

enum vane_vip_slot_state {
	VANE_VIP_SLOT_ASK = 0,	  /* not filled: ask the VIP map */
	VANE_VIP_SLOT_EMPTY = 1,  /* no key maps here */
	VANE_VIP_SLOT_ONE = 2,	  /* key is the only one that maps here */
	VANE_VIP_SLOT_SHARED = 3, /* key and others map here: ask the VIP map for the others */
};

struct vane_vip_slot {
	struct vane_vip_key key;
	__u32 state; /* enum vane_vip_slot_state */
	struct vane_vip_value value;
};

struct vane_vip_index_ctl {
	__u32 active;	  /* 0 or 1: the half packets use */
	__u32 generation; /* bumped on every switch */
};

/* Slot of a VIP key, from its five words as they lie in memory (addr[0..3], port|proto|family). */
static inline __u32 vane_vip_slot_of(const __u32 *w)
{
	return ((w[0] * 0x9e3779b1u) ^ (w[1] * 0x85ebca77u) ^ (w[2] * 0xc2b2ae3du) ^
		(w[3] * 0x27d4eb2fu) ^ (w[4] * 0x165667b1u)) >>
	       (32 - VANE_VIP_INDEX_SHIFT);
}

/* ---- servers ------------------------------------------------------------------------------- */

#define VANE_SERVER_F_V4 (1u << 0)	 /* addr4 is valid */
#define VANE_SERVER_F_V6 (1u << 1)	 /* addr6 is valid */
#define VANE_SERVER_F_DRAINING (1u << 2) /* set forward_syn: new flows go on to the second hop */

/* Value of the server array map, indexed by server index. */
struct vane_server {
	__be32 addr4;
	__u32 flags; /* VANE_SERVER_F_*; 0 = slot unused */
	__u8 addr6[16];
};

/*
 * The site's server addresses, for the redirector's trust checks: GUE is accepted only from a
 * server of the site, and sent on only to one. Key of the hash map vane_site_addrs (value: the
 * server index, __u32). The loader adds the entries of a new server list before it writes the
 * server array and removes stale ones after, so a server in the array is always in this map.
 */
struct vane_site_key {
	__u8 addr[16]; /* IPv4 in the first 4 bytes, rest zero */
	__u32 family;  /* VANE_AF_INET / VANE_AF_INET6 */
};

#define VANE_SITE_ADDRS (2 * VANE_MAX_SERVERS) /* an IPv4 and an IPv6 address per server */

/*
 * The site index: vane_site_addrs again, direct-mapped, so that a packet's checks cost array
 * loads instead of hash-table lookups (same scheme as the VIP index: two halves, a slot holds one
 * key and says whether others map there too, then the hash map decides; a zeroed slot asks the
 * hash map). The loader fills the inactive half after the hash map has the new addresses, flips
 * vane_site_index_ctl (a struct vane_vip_index_ctl), and only then removes stale hash entries.
 */
#define VANE_SITE_INDEX_SHIFT 13
#define VANE_SITE_INDEX_SLOTS (1u << VANE_SITE_INDEX_SHIFT)

struct vane_site_slot {
	struct vane_site_key key;
	__u32 state; /* enum vane_vip_slot_state */
};

/* Slot of a site key, from its five words as they lie in memory (addr[0..3], family). */
static inline __u32 vane_site_slot_of(const __u32 *w)
{
	return ((w[0] * 0x9e3779b1u) ^ (w[1] * 0x85ebca77u) ^ (w[2] * 0xc2b2ae3du) ^
		(w[3] * 0x27d4eb2fu) ^ (w[4] * 0x165667b1u)) >>
	       (32 - VANE_SITE_INDEX_SHIFT);
}

/* ---- forwarding tables -------------------------------------------------------------------- */

/*
 * One bucket: the first and second hop as server indexes (VANE_SERVER_NONE for none).
 * All buckets live in one array map; each table has two halves, and each half is a region
 * [offset, offset + buckets) of that array. vane_table_ctl[table_id].active selects the half
 * packets use; the loader fills the other half, then flips the word, so a packet sees one
 * whole table or the other, never a mix.
 */
struct vane_bucket {
	__u32 first;
	__u32 second; /* server index | VANE_BUCKET_F_MOVED, or VANE_SERVER_NONE */
};

/*
 * In a bucket's second hop (never in VANE_SERVER_NONE): the second hop is the server that was
 * the bucket's first hop in the previous table, so it may own connections of this bucket. Only
 * then does a first hop that finds no local socket for a non-SYN packet send it on; in a steady
 * bucket it skips the socket lookup.
 */
#define VANE_BUCKET_F_MOVED 0x40000000u
#define VANE_BUCKET_HOP_MASK 0x0000ffffu

struct vane_table_half {
	__u32 offset;  /* first bucket in the bucket array */
	__u32 buckets; /* M; 0 = half empty */
};

struct vane_table_ctl {
	__u32 active;	  /* 0 or 1: the half in use */
	__u32 generation; /* bumped on every switch; for observability */
	struct vane_table_half half[2];
};

/* ---- counters ------------------------------------------------------------------------------ */

enum vane_reason {
	VANE_R_PASSED = 0, /* not for a VIP (or VIP disabled): XDP_PASS untouched */
	VANE_R_LOCAL,	   /* first hop is this server: XDP_PASS */
	VANE_R_FORWARDED,  /* GUE-encapsulated to the first hop */
	VANE_R_TOO_BIG,	   /* over the MTU after encapsulation: ICMP sent back or dropped */
	VANE_R_NO_TABLE,   /* VIP without a usable table/bucket/server: XDP_PASS */
	VANE_R_MALFORMED,  /* truncated or invalid headers */
	VANE_R_ERRORS,	   /* helper failures (adjust_head, fib lookup) */
	/* redirector */
	VANE_R_DECAP_SYN,      /* inner SYN: delivered here */
	VANE_R_DECAP_LOCAL,    /* inner packet belongs to a local socket / syncookie */
	VANE_R_DECAP_LAST_HOP, /* no hops left: delivered here */
	VANE_R_DECAP_OTHER,    /* fragments and protocols without sockets: delivered here */
	VANE_R_REDIRECTED,     /* sent on to the next hop */
	VANE_R_GUE_MALFORMED,  /* GUE to us that fails validation: dropped */
	VANE_R_FIB_PASS,       /* no neighbour for the next hop: left to the kernel */
	/* redirector trust checks (appended: the values above keep their meaning) */
	VANE_R_GUE_BAD_SOURCE, /* GUE whose outer source is no server of the site: dropped */
	VANE_R_GUE_BAD_INNER,  /* inner destination is no VIP of the site: dropped */
	VANE_R_GUE_BAD_HOP,    /* a hop still ahead in the list is no server of the site: dropped */
	VANE_R_COUNT
};

struct vane_counters {
	__u64 packets[VANE_R_COUNT];
	__u64 bytes[VANE_R_COUNT];
};

/* ---- configuration (a const volatile global, set before load) ----------------------------- */

#define VANE_CFG_F_V4 (1u << 0) /* self_addr4 valid */
#define VANE_CFG_F_V6 (1u << 1) /* self_addr6 valid */

struct vane_config {
	__u32 self_index;  /* this server's index in the server map */
	__u32 flags;	   /* VANE_CFG_F_* */
	__be32 self_addr4; /* outer source / GUE destination, IPv4 fabric */
	__u32 hash_seed;   /* same on every server of the site */
	__u8 self_addr6[16];
	__be16 gue_port;   /* UDP destination port of GUE */
	__u16 mtu;	   /* largest L3 packet the fabric carries (after encapsulation) */
	__u32 nexthop_ttl; /* reuse a next hop from bpf_fib_lookup this many jiffies, per CPU;
			    * 0 = never (the loader converts from ms with the tick length) */
};

/* ---- GUE + GLB private data (wire format, network order) ---------------------------------- */

/*
 * GUE version 0 header (draft-ietf-intarea-gue):
 *   byte 0: ver(2) C(1) hlen(5)  - hlen counts 32-bit words of optional data after these 4 bytes
 *   byte 1: proto/ctype          - 4 (IPv4 inside) or 41 (IPv6 inside)
 *   bytes 2-3: flags             - 0 (no optional fields)
 */
struct vane_gue_hdr {
	__u8 ver_c_hlen;
	__u8 proto_ctype;
	__be16 flags;
};

#define VANE_GUE_VER_MASK 0xc0
#define VANE_GUE_C_BIT 0x20
#define VANE_GUE_HLEN_MASK 0x1f

/*
 * GLB private data, right after the GUE header. GLB documents it as
 *   u16 private data type (0) | u8 next hop index | u8 hop count | hops (4 bytes each)
 * and the kernel's cls_redirect selftest reads the first byte as version(4 high bits),
 * forward_syn (0x08), last_hop_gre (0x04). vane uses the same four bytes:
 *   version 0: IPv4 hops, 4 bytes each (what GLB sends, private type 0)
 *   version 1: IPv6 hops, 16 bytes each (vane's IPv6 fabric)
 * hops[next_hop] is the next server to try; next_hop == hop_count means this is the last hop.
 * vane's forwarder sends hops = [first, second], next_hop = 1 (hops[0] is the outer destination).
 */
struct vane_glb_hdr {
	__u8 version_flags; /* version << 4 | flags */
	__u8 reserved;
	__u8 next_hop;
	__u8 hop_count;
};

#define VANE_GLB_VERSION_V4HOPS 0
#define VANE_GLB_VERSION_V6HOPS 1
#define VANE_GLB_VERSION_SHIFT 4
#define VANE_GLB_F_FORWARD_SYN 0x08  /* send SYNs on to the next hop too (draining server) */
#define VANE_GLB_F_LAST_HOP_GRE 0x04 /* cls_redirect's; vane never sets it, rejects it */
#define VANE_GLB_MAX_HOPS 4	     /* accepted on receive; vane sends at most 2 */

/* Headers vane puts in front of the inner IP packet, per outer family, for 2 hops. */
#define VANE_UDP_HLEN 8
#define VANE_GUE_HLEN 4
#define VANE_GLB_HLEN 4
#define VANE_ENCAP4_OVERHEAD (20 + VANE_UDP_HLEN + VANE_GUE_HLEN + VANE_GLB_HLEN + 2 * 4) /* 44 */
#define VANE_ENCAP6_OVERHEAD                                                                       \
	(40 + VANE_UDP_HLEN + VANE_GUE_HLEN + VANE_GLB_HLEN + 2 * 16) /* 88                        \
								       */

/* Smallest fabric MTU the loader accepts: IPv6's 1280 plus the largest overhead. */
#define VANE_MIN_MTU (1280 + VANE_ENCAP6_OVERHEAD)

/* UDP source ports vane uses for GUE: [VANE_GUE_SPORT_MIN, VANE_GUE_SPORT_MIN + 16384) */
#define VANE_GUE_SPORT_MIN 49152

/* ---- the flow hash (same result on both sides; used by tests and tools) ------------------ */

/*
 * Flow hash: MurmurHash3 (x86_32) mixing over 10 words in host order:
 *   src[0..3], dst[0..3] (addresses as big-endian 32-bit words, IPv4 in word 0),
 *   ports (sport << 16 | dport, 0 for fragments/no-port VIPs), proto << 8 | family.
 * Every server of a site uses the same seed, so every forwarder maps a flow to the same bucket.
 */
static inline __u32 vane_rotl32(__u32 x, int r) { return (x << r) | (x >> (32 - r)); }

static inline __u32 vane_hash_step(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51u;
	k = vane_rotl32(k, 15);
	k *= 0x1b873593u;
	h ^= k;
	h = vane_rotl32(h, 13);
	return h * 5 + 0xe6546b64u;
}

static inline __u32 vane_hash_final(__u32 h, __u32 len_bytes)
{
	h ^= len_bytes;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

#define VANE_HASH_WORDS 10

static inline __u32 vane_hash_words(const __u32 *w, __u32 seed)
{
	__u32 h = seed;
	int i;

	for (i = 0; i < VANE_HASH_WORDS; i++)
		h = vane_hash_step(h, w[i]);
	return vane_hash_final(h, VANE_HASH_WORDS * 4);
}

#endif /* VANE_ABI_H */
