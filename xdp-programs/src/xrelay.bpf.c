/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * xr_steer: the XDP steering program of xrelay.
 *
 * It sends to the AF_XDP socket of the receiving queue only what the relay
 * owns, by the same tests the engine classifies with
 * (dataplane/engine/src/fastpath/mod.rs, docs/decisions.md):
 *
 *   IPv4 protocol 41 to an address in xr_sixto4                   (S4-01)
 *   IPv4 UDP to an address in xr_teredo and its port              (T4-01)
 *   IPv4 fragments of both, when not first fragments of another port (C-03)
 *   IPv6 whose destination is in xr_prefixes (managed prefixes)
 *   ICMPv4 errors to a relay address, when xr_cfg_icmp4_err is set (E-xx)
 *
 * Everything else is XDP_PASS: group-addressed frames (C-01: ARP requests,
 * ND, MLD), ARP, BGP, SSH, the relay's own management traffic, and frames
 * whose headers are cut short. A steered frame for a queue without a socket
 * passes as well (bpf_redirect_map's flags give the action on a miss).
 */
#include "common.h"
#include "config.h"
#include "counters.h"
#include "maps.h"
#include "parse.h"

#define XR_ICMP_DEST_UNREACH 3
#define XR_ICMP_TIME_EXCEEDED 11
#define XR_ICMP_PARAMETERPROB 12

/* Steered classes are the first enum members (counters.h). */
xr_inline int xr_is_steered(enum xr_counter cls)
{
	return cls <= XR_CNT_NATIVE_OPER;
}

xr_inline enum xr_counter xr_classify_udp(struct xr_ipv4 *v4, void *end,
					  struct xr_v4_key *key)
{
	struct xr_teredo_val *tv;
	__be16 *dport;

	if (!xr_cfg_teredo)
		return XR_CNT_PASS_V4;
	tv = bpf_map_lookup_elem(&xr_teredo, key);
	if (!tv)
		return XR_CNT_PASS_V4;
	/* A non-first fragment shows no port: the dataplane reassembles. */
	if (v4->frag & XR_IP_OFFSET)
		return XR_CNT_TEREDO;
	/* Unfragmented or a first fragment: the port decides. */
	dport = v4->l4 + 2;
	if ((void *)(dport + 1) > end)
		return XR_CNT_PASS_MALFORMED;
	return *dport == tv->port ? XR_CNT_TEREDO : XR_CNT_PASS_V4_PORT;
}

xr_inline enum xr_counter xr_classify_icmp(struct xr_ipv4 *v4, void *end,
					   struct xr_v4_key *key)
{
	__u8 *type;

	if (!xr_cfg_icmp4_err || v4->frag)
		return XR_CNT_PASS_V4;
	if (!bpf_map_lookup_elem(&xr_sixto4, key) &&
	    !bpf_map_lookup_elem(&xr_teredo, key))
		return XR_CNT_PASS_V4;
	type = v4->l4;
	if ((void *)(type + 1) > end)
		return XR_CNT_PASS_MALFORMED;
	switch (*type) {
	case XR_ICMP_DEST_UNREACH:
	case XR_ICMP_TIME_EXCEEDED:
	case XR_ICMP_PARAMETERPROB:
		return XR_CNT_ICMP4_ERR;
	}
	return XR_CNT_PASS_V4;
}

xr_inline enum xr_counter xr_classify_ipv4(void *l3, void *end, __u8 *frag)
{
	struct xr_ipv4 v4;
	struct xr_v4_key key;

	if (xr_parse_ipv4(l3, end, &v4) < 0)
		return XR_CNT_PASS_MALFORMED;
	key.addr = v4.daddr;
	*frag = v4.frag != 0;
	switch (v4.proto) {
	case IPPROTO_IPV6:
		if (xr_cfg_sixto4 && bpf_map_lookup_elem(&xr_sixto4, &key))
			return XR_CNT_PROTO41;
		return XR_CNT_PASS_V4;
	case IPPROTO_UDP:
		return xr_classify_udp(&v4, end, &key);
	case IPPROTO_ICMP:
		return xr_classify_icmp(&v4, end, &key);
	}
	return XR_CNT_PASS_V4;
}

xr_inline enum xr_counter xr_classify_ipv6(void *l3, void *end)
{
	struct ipv6hdr *ip6 = xr_parse_ipv6(l3, end);
	struct xr_prefix_key key;
	struct xr_prefix_val *pv;

	if (!ip6)
		return XR_CNT_PASS_MALFORMED;
	if (!xr_cfg_native)
		return XR_CNT_PASS_V6;
	/* Multicast is never managed (C-12), whatever the map holds. */
	if (ip6->daddr.in6_u.u6_addr8[0] == 0xff)
		return XR_CNT_PASS_V6;
	key.prefixlen = 128;
	__builtin_memcpy(key.addr, &ip6->daddr, sizeof(key.addr));
	pv = bpf_map_lookup_elem(&xr_prefixes, &key);
	if (!pv)
		return XR_CNT_PASS_V6;
	switch (pv->kind) {
	case XR_PFX_SIXTO4:
		return XR_CNT_NATIVE_6TO4;
	case XR_PFX_TEREDO:
		return XR_CNT_NATIVE_TEREDO;
	case XR_PFX_SIXRD:
		return XR_CNT_NATIVE_6RD;
	}
	return XR_CNT_NATIVE_OPER;
}

xr_inline int xr_pass(enum xr_counter cls)
{
	xr_count(cls);
	xr_count(XR_CNT_XDP_PASS);
	return XDP_PASS;
}

SEC("xdp")
int xr_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	enum xr_counter cls;
	struct xr_l2 l2;
	__u8 frag = 0;
	long act;

	if (xr_parse_l2(data, end, &l2) < 0)
		return xr_pass(XR_CNT_PASS_MALFORMED);
	if (l2.mcast)
		return xr_pass(XR_CNT_PASS_L2_MCAST);
	switch (l2.proto) {
	case ETH_P_IP:
		cls = xr_classify_ipv4(l2.l3, end, &frag);
		break;
	case ETH_P_IPV6:
		cls = xr_classify_ipv6(l2.l3, end);
		break;
	default:
		cls = XR_CNT_PASS_NOT_IP;
	}
	if (!xr_is_steered(cls))
		return xr_pass(cls);

	xr_count(cls);
	if (frag)
		xr_count(XR_CNT_FRAG);
	if (l2.vlan)
		xr_count(XR_CNT_VLAN);
	act = bpf_redirect_map(&xr_xsks, ctx->rx_queue_index, XDP_PASS);
	if (act == XDP_REDIRECT) {
		xr_count(XR_CNT_XDP_REDIRECT);
		return XDP_REDIRECT;
	}
	xr_count(XR_CNT_NO_XSK);
	xr_count(XR_CNT_XDP_PASS);
	return XDP_PASS;
}

/* No GPL-only helper is used, so the project's own licence will do. */
char xr_license[] SEC("license") = "Apache-2.0 OR MIT";
