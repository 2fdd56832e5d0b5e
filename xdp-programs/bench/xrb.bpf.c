/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Programs of the packet-rate benchmark (`xrelay-bench compare`, bench/).
 * Built by bench/build.rs; never attached by the relay itself.
 *
 *   xrb_gen    the load generator: run with BPF_PROG_RUN and
 *              BPF_F_TEST_XDP_LIVE_FRAMES on the sending veth end, it
 *              rewrites each frame's flow fields and returns XDP_TX (the
 *              frame leaves by that interface toward the relay)
 *   xrb_sink   on the receiving veth end: counts, reads the timestamp of
 *              sampled frames, drops
 *   xrb_redir  reference point: XDP_REDIRECT to another interface, unchanged
 *   xrb_pass   reference points through the kernel: XDP_PASS (a veth only
 *              accepts XDP_TX/redirected frames when its peer runs XDP)
 *
 * Flows (generator). Frame i of a run is flow f = i mod nflows, split as
 * k = f >> kshift, j = f & ((1 << kshift) - 1). Each patch p writes the
 * 16-bit big-endian word base + ck*k + cj*j at its offset. Live frames
 * are recycled with whatever the last run wrote, so every patched word is
 * written every time, and each checksum is recomputed from the template
 * (RFC 1624: HC' = ~(~HC + sum(~m + m'))) over the patches its mask names
 * -- never read back from the frame. A checksum inside what a later one
 * covers (Teredo: the inner UDP checksum inside the outer UDP payload) is
 * listed first and named in the later one's mask (bit 8 + its index).
 *
 * Latency. Every 2^n-th frame carries a 20-bit timestamp, bpf_ktime_get_ns
 * in 64 ns units (wraps after 67 ms), never 0; others carry 0. ts_mode 1
 * puts it in the IPv6 flow label of the header at ts_off (no checksum
 * covers it, and the relay never rewrites it); ts_mode 2 in the low 20
 * bits of the 32-bit word at ts_off (IPv4 reference frames: the first
 * word of a UDP payload whose checksum is 0). The timestamp's two 16-bit
 * words are patch slots 6 and 7, so checksums can cover them. The sink
 * finds the IPv6 header (native, in protocol 41, in Teredo UDP) or the
 * IPv4 UDP payload to port XRB_TS_PORT and stores now - ts.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define XRB_PATCHES 8
#define XRB_CSUMS 3
#define XRB_SAMPLES 65536
#define XRB_TS_PORT 9		/* discard */
#define XRB_TEREDO_PORT 3545

struct xrb_patch {
	__u16 off;
	__u16 base;
	__s16 ck;
	__s16 cj;
};

struct xrb_csum {
	__u16 off;
	__u16 base;		/* the template's checksum */
	__u16 mask;		/* patch slots it covers (bits 0-7), earlier
				 * checksums it covers (bit 8 + n) */
	__u16 pad;
};

struct xrb_gcfg {
	__u32 nflows;
	__u32 kshift;
	__u32 sample_mask;
	__u16 ts_mode;
	__u16 ts_off;
	__u16 npatch;		/* linear patches in slots 0..5 */
	__u16 ncsum;
	struct xrb_patch patch[XRB_PATCHES];	/* 6, 7: timestamp words */
	struct xrb_csum csum[XRB_CSUMS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xrb_gcfg);
} xrb_gcfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xrb_gseq SEC(".maps");

/* Sink: [0] frames, [1] bytes, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} xrb_count SEC(".maps");

/* Sink: samples taken (may exceed XRB_SAMPLES; the rest are not stored). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xrb_nlat SEC(".maps");

/* Sink: one-way latencies in 64 ns units. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XRB_SAMPLES);
	__type(key, __u32);
	__type(value, __u32);
} xrb_lat SEC(".maps");

volatile const __u32 xrb_redir_ifindex = 0;

static __always_inline __u16 xrb_be16(const __u8 *p)
{
	return ((__u16)p[0] << 8) | p[1];
}

static __always_inline void xrb_put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static __always_inline __u32 xrb_stamp(void)
{
	__u32 t = (bpf_ktime_get_ns() >> 6) & 0xfffff;
	return t ? t : 1;
}

SEC("xdp")
int xrb_gen(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u16 vals[XRB_PATCHES], cvals[XRB_CSUMS] = {};
	struct xrb_gcfg *c;
	__u32 zero = 0, *seqp, seq, f, k, j, ts = 0;
	int n;

	c = bpf_map_lookup_elem(&xrb_gcfg, &zero);
	seqp = bpf_map_lookup_elem(&xrb_gseq, &zero);
	if (!c || !seqp)
		return XDP_ABORTED;
	seq = *seqp;
	*seqp = seq + 1;
	f = c->nflows > 1 ? seq % c->nflows : 0;
	k = f >> (c->kshift & 31);
	j = f & ((1u << (c->kshift & 31)) - 1);

	for (n = 0; n < 6; n++) {
		struct xrb_patch *p = &c->patch[n];
		__u32 off = p->off & 0xfff;

		vals[n] = 0;
		if (n >= c->npatch)
			continue;
		vals[n] = p->base + p->ck * k + p->cj * j;
		if (data + off + 2 > end)
			return XDP_ABORTED;
		xrb_put16(data + off, vals[n]);
	}
	vals[6] = vals[7] = 0;
	if (c->ts_mode) {
		__u32 off = c->ts_off & 0xfff;
		__u32 w;

		if (data + off + 4 > end)
			return XDP_ABORTED;
		if ((seq & c->sample_mask) == 0)
			ts = xrb_stamp();
		w = ((__u32)c->patch[6].base << 16) | c->patch[7].base;
		w = (w & 0xfff00000) | ts;
		vals[6] = w >> 16;
		vals[7] = w & 0xffff;
		xrb_put16(data + off, vals[6]);
		xrb_put16(data + off + 2, vals[7]);
	}
	for (n = 0; n < XRB_CSUMS; n++) {
		struct xrb_csum *cs = &c->csum[n];
		__u32 off = cs->off & 0xfff, sum;
		int m;

		if (n >= c->ncsum)
			break;
		sum = (__u16)~cs->base;
		for (m = 0; m < XRB_PATCHES; m++) {
			if (!(cs->mask & (1u << m)))
				continue;
			if (m < 6 && m >= c->npatch)
				continue;
			if (m >= 6 && !c->ts_mode)
				continue;
			sum += (__u16)~c->patch[m].base;
			sum += vals[m];
		}
		for (m = 0; m < n; m++) {
			if (!(cs->mask & (0x100u << m)))
				continue;
			sum += (__u16)~c->csum[m].base;
			sum += cvals[m];
		}
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		if (data + off + 2 > end)
			return XDP_ABORTED;
		cvals[n] = (__u16)~sum;
		xrb_put16(data + off, cvals[n]);
	}
	return XDP_TX;
}

/* Offset of the IPv6 header carrying a timestamp, or of the IPv4 UDP
 * payload word (*v4 set); -1 when the frame has neither. */
static __always_inline int xrb_ts_at(__u8 *data, __u8 *end, int *v4)
{
	__u16 proto;

	if (data + 14 + 20 + 8 > end)
		return data + 14 + 40 <= end && xrb_be16(data + 12) == 0x86dd ? 14 : -1;
	proto = xrb_be16(data + 12);
	if (proto == 0x86dd)
		return 14;
	if (proto != 0x0800 || data[14] != 0x45)
		return -1;
	if (data[23] == 41)
		return 34;
	if (data[23] != 17)
		return -1;
	if (xrb_be16(data + 34) == XRB_TEREDO_PORT || xrb_be16(data + 36) == XRB_TEREDO_PORT)
		return 42;
	if (xrb_be16(data + 36) == XRB_TS_PORT) {
		*v4 = 1;
		return 42;
	}
	return -1;
}

SEC("xdp")
int xrb_sink(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u32 key = 0, *nlat, idx, ts, now;
	__u64 *v;
	int at, v4 = 0; /* the frame kinds differ only in where the stamp is */

	v = bpf_map_lookup_elem(&xrb_count, &key);
	if (v)
		*v += 1;
	key = 1;
	v = bpf_map_lookup_elem(&xrb_count, &key);
	if (v)
		*v += end - data;

	at = xrb_ts_at(data, end, &v4);
	if (at < 0 || at > 64)
		return XDP_DROP;
	if (data + at + 4 > end)
		return XDP_DROP;
	ts = (((__u32)data[at + 1] & 0x0f) << 16) | ((__u32)data[at + 2] << 8) | data[at + 3];
	if (ts == 0)
		return XDP_DROP;
	now = xrb_stamp();
	key = 0;
	nlat = bpf_map_lookup_elem(&xrb_nlat, &key);
	if (!nlat)
		return XDP_DROP;
	idx = __sync_fetch_and_add(nlat, 1);
	if (idx < XRB_SAMPLES) {
		__u32 *slot = bpf_map_lookup_elem(&xrb_lat, &idx);

		if (slot)
			*slot = (now - ts) & 0xfffff;
	}
	return XDP_DROP;
}

SEC("xdp")
int xrb_redir(struct xdp_md *ctx)
{
	return bpf_redirect(xrb_redir_ifindex, 0);
}

SEC("xdp")
int xrb_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";
