//! The frames the generator sends, with the flow patches and checksums
//! the generator rewrites per frame (see `xdp-programs/bench/xrb.bpf.c`).
//!
//! Addresses (benchmark and documentation ranges only):
//!
//! ```text
//!  6to4 sites       198.18.1.0 + i          = 2002:c612:0100+i::1
//!  Teredo clients   mapped 198.18.1.0 + k : 0x2000 + j, server 198.51.100.118
//!                   (up to 256 clients: 192.0.2.10 : 0x2000 + j)
//!                   = 2001:0:c633:6476:0:~port:~ip (RFC 4380 §4)
//!  native hosts     2001:db8::0100+i        (native side; sink 2001:db8::1)
//!  relay            192.88.99.1 (6to4), 203.0.113.5:3545 (Teredo)
//!  kernel refs      198.18.1.0 + i → 198.19.0.1,  2001:db8::0100+i → 2001:db8:ffff::1
//! ```
//!
//! A frame's length is the requested size clamped to what the path can
//! carry: at least its headers (6to4 decap 82, Teredo receive 90, the
//! others 64) and at most the 1514-byte frame or the relay's MTU (6to4
//! encap 1494 = IPv6 1480, Teredo 1322/1294 = IPv6 1280).

use super::bpf::{Csum, GenCfg, Patch, Stamp};
use crate::{V4_MAC, V4_PEER, V6_MAC, V6_PEER};

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Decap,
    Encap,
    TeredoRx,
    TeredoTx,
    /// 6to4 whose outer source is not the one its inner source embeds (S4-05).
    DecapSpoofed,
    /// 6to4 with a bad IPv4 header checksum.
    DecapMalformed,
    /// IPv4 UDP routed through the relay namespace (kernel reference).
    Kernel4,
    /// IPv6 UDP routed through the relay namespace (kernel reference).
    Kernel6,
}

/// The side a frame enters the relay by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    V4,
    V6,
}

impl Kind {
    pub fn side(self) -> Side {
        match self {
            Kind::Decap
            | Kind::TeredoRx
            | Kind::DecapSpoofed
            | Kind::DecapMalformed
            | Kind::Kernel4 => Side::V4,
            Kind::Encap | Kind::TeredoTx | Kind::Kernel6 => Side::V6,
        }
    }

    /// Whether the relay forwards it (the others are dropped by design).
    pub fn forwarded(self) -> bool {
        !matches!(self, Kind::DecapSpoofed | Kind::DecapMalformed)
    }

    fn len_range(self) -> (usize, usize) {
        match self {
            Kind::Decap | Kind::DecapSpoofed | Kind::DecapMalformed => (82, 1514),
            Kind::Encap => (64, 1494),
            Kind::TeredoRx => (90, 1322),
            Kind::TeredoTx => (64, 1294),
            Kind::Kernel4 | Kind::Kernel6 => (64, 1514),
        }
    }

    /// The frame length used for a requested size.
    pub fn frame_len(self, size: usize) -> usize {
        let (lo, hi) = self.len_range();
        size.clamp(lo, hi)
    }
}

/// A frame and how the generator varies it.
#[derive(Debug, Clone)]
pub struct Template {
    pub kind: Kind,
    pub frame: Vec<u8>,
    pub gen: GenCfg,
    /// Relative share among the templates of one generator.
    pub weight: u32,
}

/// Teredo mapping of client (k, j): IPv4 198.18.1.0 + k (more than 256
/// peers) or 192.0.2.10 (up to 256: the path rows, miredo's too), port
/// 0x2000 + j.
const MAP_LO: u16 = 0x0100;
const MAP_HI: u16 = 0xc612;
const MAP_FEW: [u16; 2] = [0xc000, 0x020a];

fn mapping_base(peers: u32) -> [u16; 2] {
    if peers <= 1 << FLOW_SHIFT {
        MAP_FEW
    } else {
        [MAP_HI, MAP_LO]
    }
}
const MAP_PORT: u16 = 0x2000;
const SRC_LO: u16 = 0x0100;
/// Sample one frame in 2^8.
const SAMPLE_MASK: u32 = 255;
const FLOW_SHIFT: u32 = 8;

fn csum_add(mut sum: u32, b: &[u8]) -> u32 {
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        sum += u32::from(w);
    }
    sum
}

fn fold(mut s: u32) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn eth(dst: [u8; 6], src: [u8; 6], ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0x10, 0x00, 0x40, 0x00, 64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = fold(csum_add(0, &h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// UDP over IPv4 (`zero_csum`: no checksum) or IPv6 (pseudo-header from
/// the addresses' lengths).
fn udp(src: &[u8], dst: &[u8], sport: u16, dport: u16, payload: &[u8], zero_csum: bool) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(len as usize);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    if !zero_csum {
        let mut s = csum_add(0, src);
        s = csum_add(s, dst);
        s += 17 + u32::from(len);
        let c = match fold(csum_add(s, &u)) {
            0 => 0xffff,
            c => c,
        };
        u[6..8].copy_from_slice(&c.to_be_bytes());
    }
    u
}

fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

fn v6(w: [u16; 8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    for (i, x) in w.iter().enumerate() {
        a[2 * i..2 * i + 2].copy_from_slice(&x.to_be_bytes());
    }
    a
}

fn ipv6_udp(src: [u8; 16], dst: [u8; 16], ip6_len: usize) -> Vec<u8> {
    let pay = vec![0u8; ip6_len - 48];
    ipv6(src, dst, 17, &udp(&src, &dst, 1024, 9, &pay, false))
}

fn be16(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

const RELAY_6TO4: [u8; 4] = [192, 88, 99, 1];
const RELAY_TEREDO: [u8; 4] = [203, 0, 113, 5];
const NATIVE_SINK: [u16; 8] = [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1];
const SITE: [u16; 8] = [0x2002, 0xc000, 0x0201, 0, 0, 0, 0, 1];

/// The Teredo address of client (k = 0, j = 0): server 198.51.100.118,
/// mapped 198.18.1.0:0x2000, both obfuscated.
fn teredo_client(peers: u32) -> [u8; 16] {
    let [hi, lo] = mapping_base(peers);
    v6([0x2001, 0, 0xc633, 0x6476, 0, !MAP_PORT, !hi, !lo])
}

/// The template of `kind` at `size` with `flows` flows (`peers` Teredo
/// clients for the Teredo paths).
pub fn template(kind: Kind, size: usize, flows: u32, peers: u32) -> Template {
    let len = kind.frame_len(size);
    let p = |off: usize, f: &[u8], ck: i16, cj: i16| Patch {
        off: off as u16,
        base: be16(f, off),
        ck,
        cj,
    };
    let c = |off: usize, f: &[u8], mask: u16| Csum {
        off: off as u16,
        base: be16(f, off),
        mask,
    };
    let lin = |off, f: &[u8]| p(off, f, 1 << FLOW_SHIFT, 1);
    let (frame, patches, csums, stamp, nflows) = match kind {
        Kind::Decap | Kind::DecapSpoofed | Kind::DecapMalformed => {
            let src4 = [198, 18, (SRC_LO >> 8) as u8, SRC_LO as u8];
            let inner_src = if kind == Kind::DecapSpoofed {
                SITE
            } else {
                [0x2002, 0xc612, SRC_LO, 0, 0, 0, 0, 1]
            };
            let inner = ipv6_udp(v6(inner_src), v6(NATIVE_SINK), len - 34);
            let mut f = eth(V4_MAC, V4_PEER, 0x0800, &ipv4(src4, RELAY_6TO4, 41, &inner));
            if kind == Kind::DecapMalformed {
                f[24] ^= 0x5a;
                (f, vec![], vec![], Stamp::FlowLabel(34), 1)
            } else if kind == Kind::DecapSpoofed {
                let pp = vec![lin(28, &f)];
                let cs = vec![c(24, &f, 1)];
                (f, pp, cs, Stamp::FlowLabel(34), flows)
            } else {
                let pp = vec![lin(28, &f), lin(46, &f)];
                let cs = vec![c(24, &f, 1), c(80, &f, 2)];
                (f, pp, cs, Stamp::FlowLabel(34), flows)
            }
        }
        Kind::Encap | Kind::Kernel6 => {
            let dst = if kind == Kind::Encap {
                SITE
            } else {
                [0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1]
            };
            let src = [0x2001, 0xdb8, 0, 0, 0, 0, 0, SRC_LO];
            let f = eth(
                V6_MAC,
                V6_PEER,
                0x86dd,
                &ipv6_udp(v6(src), v6(dst), len - 14),
            );
            let pp = vec![lin(36, &f)];
            let cs = vec![c(60, &f, 1)];
            (f, pp, cs, Stamp::FlowLabel(14), flows)
        }
        Kind::TeredoRx => {
            let [hi, lo] = mapping_base(peers);
            let map4 = [(hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8];
            let inner = ipv6_udp(teredo_client(peers), v6(NATIVE_SINK), len - 42);
            let u = udp(&map4, &RELAY_TEREDO, MAP_PORT, 3545, &inner, false);
            let f = eth(V4_MAC, V4_PEER, 0x0800, &ipv4(map4, RELAY_TEREDO, 17, &u));
            let pp = vec![
                p(28, &f, 1, 0),
                p(34, &f, 0, 1),
                p(60, &f, 0, -1),
                p(64, &f, -1, 0),
            ];
            // The inner checksum first: the outer one covers it (bit 8).
            let cs = vec![c(88, &f, 0b1100), c(24, &f, 1), c(40, &f, 0b1_1100_1111)];
            (f, pp, cs, Stamp::FlowLabel(42), peers)
        }
        Kind::TeredoTx => {
            let src = [0x2001, 0xdb8, 0, 0, 0, 0, 0, SRC_LO];
            let f = eth(
                V6_MAC,
                V6_PEER,
                0x86dd,
                &ipv6_udp(v6(src), teredo_client(peers), len - 14),
            );
            let (pp, n) = if peers > 1 {
                (vec![p(48, &f, 0, -1), p(52, &f, -1, 0)], peers)
            } else {
                (vec![lin(36, &f)], flows)
            };
            let mask = (1u16 << pp.len()) - 1;
            let cs = vec![c(60, &f, mask)];
            (f, pp, cs, Stamp::FlowLabel(14), n)
        }
        Kind::Kernel4 => {
            let src4 = [198, 18, (SRC_LO >> 8) as u8, SRC_LO as u8];
            let u = udp(&src4, &[198, 19, 0, 1], 1024, 9, &vec![0u8; len - 42], true);
            let f = eth(
                V4_MAC,
                V4_PEER,
                0x0800,
                &ipv4(src4, [198, 19, 0, 1], 17, &u),
            );
            let pp = vec![lin(28, &f)];
            let cs = vec![c(24, &f, 1)];
            (f, pp, cs, Stamp::Word(42), flows)
        }
    };
    debug_assert_eq!(frame.len(), len);
    let gen = GenCfg {
        nflows: nflows.max(1),
        kshift: FLOW_SHIFT,
        sample_mask: SAMPLE_MASK,
        stamp,
        patches,
        csums,
        stamp_base: [0; 2],
    }
    .with_stamp_base(&frame);
    Template {
        kind,
        frame,
        gen,
        weight: 1,
    }
}

/// The Teredo client (k, j) of [`template`]'s flows: its address and
/// mapping, as the relay records them.
pub fn teredo_peer(f: u32, peers: u32) -> ([u8; 16], [u8; 4], u16) {
    let (k, j) = (
        (f >> FLOW_SHIFT) as u16,
        (f & ((1 << FLOW_SHIFT) - 1)) as u16,
    );
    let [hi, lo] = mapping_base(peers);
    let lo = lo + k;
    let port = MAP_PORT + j;
    let a = v6([0x2001, 0, 0xc633, 0x6476, 0, !port, !hi, !lo]);
    (
        a,
        [(hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8],
        port,
    )
}

/// Checks a frame's checksums the way a receiver would (tests).
pub fn checksums_ok(f: &[u8]) -> bool {
    let ty = be16(f, 12);
    let l3 = 14;
    let udp_ok = |src: &[u8], dst: &[u8], u: &[u8]| {
        if src.len() == 4 && be16(u, 6) == 0 {
            return true;
        }
        let mut s = csum_add(0, src);
        s = csum_add(s, dst);
        s += 17 + u.len() as u32;
        fold(csum_add(s, u)) == 0
    };
    let v6_ok = |p: &[u8]| p[6] != 17 || udp_ok(&p[8..24], &p[24..40], &p[40..]);
    match ty {
        0x86dd => v6_ok(&f[l3..]),
        0x0800 => {
            let h = &f[l3..l3 + 20];
            if fold(csum_add(0, h)) != 0 {
                return false;
            }
            let pay = &f[l3 + 20..];
            match h[9] {
                41 => v6_ok(pay),
                17 => {
                    udp_ok(&h[12..16], &h[16..20], pay)
                        && (be16(pay, 2) != 3545 || v6_ok(&pay[8..]))
                }
                _ => true,
            }
        }
        _ => false,
    }
}

/// Applies the generator's rewrite for frame number `seq` in user space
/// (tests: the same arithmetic as xrb_gen).
pub fn apply(t: &Template, seq: u32, stamp: u32) -> Vec<u8> {
    let g = &t.gen;
    let mut f = t.frame.clone();
    let fl = if g.nflows > 1 { seq % g.nflows } else { 0 };
    let (k, j) = (fl >> g.kshift, fl & ((1 << g.kshift) - 1));
    let mut vals = [0u16; 8];
    for (n, p) in g.patches.iter().enumerate() {
        vals[n] = (p.base as u32)
            .wrapping_add((p.ck as i32 as u32).wrapping_mul(k))
            .wrapping_add((p.cj as i32 as u32).wrapping_mul(j)) as u16;
        f[p.off as usize..p.off as usize + 2].copy_from_slice(&vals[n].to_be_bytes());
    }
    if let Stamp::FlowLabel(o) | Stamp::Word(o) = g.stamp {
        let w = ((g.stamp_base[0] as u32) << 16 | g.stamp_base[1] as u32) & 0xfff0_0000
            | (stamp & 0xfffff);
        vals[6] = (w >> 16) as u16;
        vals[7] = w as u16;
        let o = o as usize;
        f[o..o + 4].copy_from_slice(&w.to_be_bytes());
    }
    let mut cvals = [0u16; 3];
    for (n, cs) in g.csums.iter().enumerate() {
        let mut sum = u32::from(!cs.base);
        for (m, prev) in g.csums.iter().enumerate().take(n) {
            if cs.mask & (0x100 << m) != 0 {
                sum += u32::from(!prev.base) + u32::from(cvals[m]);
            }
        }
        for (m, val) in vals.iter().enumerate() {
            if cs.mask & (1 << m) == 0
                || (m < 6 && m >= g.patches.len())
                || (m >= 6 && g.stamp == Stamp::None)
            {
                continue;
            }
            let base = if m < 6 {
                g.patches[m].base
            } else {
                g.stamp_base[m - 6]
            };
            sum += u32::from(!base) + u32::from(*val);
        }
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        cvals[n] = !(sum as u16);
        f[cs.off as usize..cs.off as usize + 2].copy_from_slice(&cvals[n].to_be_bytes());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patched_frames_keep_valid_checksums() {
        for kind in [
            Kind::Decap,
            Kind::Encap,
            Kind::TeredoRx,
            Kind::TeredoTx,
            Kind::Kernel4,
            Kind::Kernel6,
            Kind::DecapSpoofed,
        ] {
            for size in [64, 128, 512, 1280, 1500] {
                for peers in [1, 10_000, 1 << 20] {
                    let t = template(kind, size, 1024, peers);
                    assert!(checksums_ok(&t.frame), "{kind:?} {size} template");
                    for seq in [0, 1, 255, 256, 1023, 9_999, 65_537, (1 << 20) - 1] {
                        for stamp in [0, 1, 0xfffff, 0x12345] {
                            let f = apply(&t, seq, stamp);
                            assert!(
                                checksums_ok(&f),
                                "{kind:?} {size} peers {peers} seq {seq} stamp {stamp}"
                            );
                        }
                    }
                }
            }
        }
        assert!(!checksums_ok(
            &template(Kind::DecapMalformed, 64, 1, 1).frame
        ));
    }

    #[test]
    fn teredo_flows_are_the_listed_peers() {
        let t = template(Kind::TeredoRx, 64, 1, 1 << 20);
        for f in [0u32, 1, 300, (1 << 20) - 1] {
            let fr = apply(&t, f, 0);
            let (a, m4, port) = teredo_peer(f, 1 << 20);
            assert_eq!(&fr[50..66], &a);
            assert_eq!(&fr[26..30], &m4);
            assert_eq!(be16(&fr, 34), port);
        }
    }
}
