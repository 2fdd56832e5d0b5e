/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Per-CPU counters, one array slot per enum xr_counter (mirrored by
 * xrelay_xdp::abi::Counter; order and names are checked by tests/abi.rs).
 *
 * Every frame is counted in exactly one class (steered or passed) and
 * exactly one action, so per CPU:
 *   sum(steered classes) + sum(passed classes) == XDP_REDIRECT + XDP_PASS
 *   sum(steered classes) == XDP_REDIRECT + NO_XSK
 * The detail counters (FRAG, VLAN, NO_XSK) are subsets of the steered
 * classes. Only the CPU that owns a slot writes it, so no atomics.
 */
#ifndef XR_COUNTERS_H
#define XR_COUNTERS_H

#include "common.h"

enum xr_counter {
	/* Steered classes. */
	XR_CNT_PROTO41 = 0,	/* IPv4 protocol 41 to a 6to4/6rd relay address (S4-01) */
	XR_CNT_TEREDO,		/* IPv4 UDP to a Teredo address and port (T4-01) */
	XR_CNT_ICMP4_ERR,	/* ICMPv4 error to a relay address (xr_cfg_icmp4_err) */
	XR_CNT_NATIVE_6TO4,	/* IPv6 to 2002::/16 */
	XR_CNT_NATIVE_TEREDO,	/* IPv6 to 2001::/32 */
	XR_CNT_NATIVE_6RD,	/* IPv6 to the 6rd prefix */
	XR_CNT_NATIVE_OPER,	/* IPv6 to an operator managed prefix */
	/* Passed classes. */
	XR_CNT_PASS_MALFORMED,	/* truncated header, IHL < 5, wrong IP version */
	XR_CNT_PASS_L2_MCAST,	/* group destination MAC (C-01): ARP requests, ND */
	XR_CNT_PASS_NOT_IP,	/* ARP replies, LLDP, QinQ: neither IPv4 nor IPv6 */
	XR_CNT_PASS_V4,		/* IPv4 not for a relay service: BGP, SSH, echo */
	XR_CNT_PASS_V4_PORT,	/* UDP to a Teredo address, another port */
	XR_CNT_PASS_V6,		/* IPv6 outside the managed prefixes, or multicast */
	/* Details of steered frames. */
	XR_CNT_FRAG,		/* IPv4 fragments steered for reassembly (C-03) */
	XR_CNT_VLAN,		/* steered frames with an 802.1Q tag */
	XR_CNT_NO_XSK,		/* steered class but no socket on the rx queue: passed */
	/* Actions. */
	XR_CNT_XDP_REDIRECT,
	XR_CNT_XDP_PASS,
	XR_CNT_MAX
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XR_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xr_counters SEC(".maps");

xr_inline void xr_count(enum xr_counter c)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&xr_counters, &key);

	if (v)
		*v += 1;
}

#endif /* XR_COUNTERS_H */
