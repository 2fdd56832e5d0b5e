/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The maps user space edits while traffic flows, and their key and value
 * layouts. Every struct here has a repr(C) mirror in xrelay_xdp::abi; a test
 * (tests/abi.rs) parses this file and compares names, order, offsets and
 * sizes, and the build script has clang compute them for the BPF target.
 *
 * Addresses and ports are in network byte order, as on the wire.
 */
#ifndef XR_MAPS_H
#define XR_MAPS_H

#include "common.h"

#define XR_SIXTO4_MAX 64
#define XR_TEREDO_MAX 16
#define XR_PREFIX_MAX 1024
/* One slot per receive queue; the loader may resize it (map_max_entries). */
#define XR_XSK_MAX 256

/* Key of xr_sixto4 and xr_teredo: a relay IPv4 address. */
struct xr_v4_key {
	__be32 addr;
};

/* Value of xr_sixto4. No flags are defined yet: write 0. */
struct xr_v4_val {
	__u32 flags;
};

/*
 * Value of xr_teredo: the Teredo service port of that address. Keyed by
 * address alone because a non-first fragment carries no port (C-03).
 */
struct xr_teredo_val {
	__be16 port;
	__u16 pad;
};

/* Key of xr_prefixes (BPF_MAP_TYPE_LPM_TRIE): prefix length in bits. */
struct xr_prefix_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Which relay function a managed prefix belongs to; picks the counter. */
enum xr_prefix_kind {
	XR_PFX_SIXTO4 = 0,	/* 2002::/16 */
	XR_PFX_TEREDO = 1,	/* 2001::/32 */
	XR_PFX_SIXRD = 2,	/* the 6rd domain prefix */
	XR_PFX_OPERATOR = 3,	/* relay.managed_prefixes, `prefix add` */
	XR_PFX_KIND_MAX
};

struct xr_prefix_val {
	__u32 kind;	/* enum xr_prefix_kind */
};

/* IPv4 addresses that accept protocol 41: 6to4 unicast, 192.88.99.1, 6rd BR. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XR_SIXTO4_MAX);
	__type(key, struct xr_v4_key);
	__type(value, struct xr_v4_val);
} xr_sixto4 SEC(".maps");

/* Teredo relay addresses and their UDP port. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XR_TEREDO_MAX);
	__type(key, struct xr_v4_key);
	__type(value, struct xr_teredo_val);
} xr_teredo SEC(".maps");

/* Managed IPv6 prefixes (LPM tries must not be preallocated). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XR_PREFIX_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xr_prefix_key);
	__type(value, struct xr_prefix_val);
} xr_prefixes SEC(".maps");

/* AF_XDP socket per receive queue, filled by the dataplane. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XR_XSK_MAX);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} xr_xsks SEC(".maps");

#endif /* XR_MAPS_H */
