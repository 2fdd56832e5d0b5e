/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Header parsing: just enough to classify, every read bounds-checked
 * against data_end (the verifier insists, and truncated frames must pass).
 *
 *   [Ethernet 14][802.1Q 4]?[IPv4 20..60 | IPv6 40][UDP/ICMP first 4 bytes]
 *
 * Only the first 802.1Q tag is looked through, as the engine does; QinQ
 * (0x88a8) and a second tag are "not IP".
 */
#ifndef XR_PARSE_H
#define XR_PARSE_H

#include "common.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#define XR_IP_MF_OFFSET 0x3fff	/* More Fragments and the offset */
#define XR_IP_OFFSET 0x1fff

struct xr_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* The link layer of a frame. */
struct xr_l2 {
	void *l3;	/* start of the network header */
	__u16 proto;	/* EtherType after the tag, host order */
	__u8 vlan;	/* one 802.1Q tag was skipped */
	__u8 mcast;	/* group destination address (C-01) */
};

/* The IPv4 facts classification needs. */
struct xr_ipv4 {
	void *l4;	/* after the options */
	__be32 daddr;
	__u16 frag;	/* More Fragments and offset, host order */
	__u8 proto;
};

/* Returns 0, or -1 when the Ethernet header or the tag is cut short. */
xr_inline int xr_parse_l2(void *data, void *end, struct xr_l2 *l2)
{
	struct ethhdr *eth = data;
	struct xr_vlan_hdr *vh;

	if ((void *)(eth + 1) > end)
		return -1;
	l2->mcast = eth->h_dest[0] & 1;
	l2->proto = bpf_ntohs(eth->h_proto);
	l2->l3 = eth + 1;
	l2->vlan = 0;
	if (l2->proto == ETH_P_8021Q) {
		vh = l2->l3;
		if ((void *)(vh + 1) > end)
			return -1;
		l2->proto = bpf_ntohs(vh->encap_proto);
		l2->l3 = vh + 1;
		l2->vlan = 1;
	}
	return 0;
}

/*
 * Returns 0, or -1 when the header is not a complete IPv4 header (short,
 * version not 4, IHL < 5, options beyond the frame). The kernel drops
 * those too; the engine would count them as C-02.
 */
xr_inline int xr_parse_ipv4(void *l3, void *end, struct xr_ipv4 *v4)
{
	struct iphdr *ip = l3;
	__u32 hlen;

	if ((void *)(ip + 1) > end)
		return -1;
	if (ip->version != 4 || ip->ihl < 5)
		return -1;
	hlen = ip->ihl * 4;
	if (l3 + hlen > end)
		return -1;
	v4->l4 = l3 + hlen;
	v4->daddr = ip->daddr;
	v4->frag = bpf_ntohs(ip->frag_off) & XR_IP_MF_OFFSET;
	v4->proto = ip->protocol;
	return 0;
}

/* Returns the IPv6 header, or NULL when cut short or not version 6. */
xr_inline struct ipv6hdr *xr_parse_ipv6(void *l3, void *end)
{
	struct ipv6hdr *ip6 = l3;

	if ((void *)(ip6 + 1) > end || ip6->version != 6)
		return NULL;
	return ip6;
}

#endif /* XR_PARSE_H */
