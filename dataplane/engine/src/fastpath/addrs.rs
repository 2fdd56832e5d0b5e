//! The relay's own addresses in the form the per-packet tests want.
//!
//! [`Relay`] keeps its IPv4 address sets as short arrays scanned in order.
//! Per packet the fast path mostly asks about addresses that are *not* in
//! them (an outer source, an address embedded in a 6to4 or Teredo address),
//! so each [`V4Set`] here also carries a 64-bit filter with one bit per
//! member at a multiplicative hash: a miss costs a multiply, a shift and a
//! test, and only a filter hit scans the array.
//!
//! The predicates below are [`Relay::bogon_6to4`], [`Relay::bogon_teredo`]
//! and [`Relay::embeds_relay_v4`] restated over host-order integers, inlined
//! into the checks; the differential tests at the end hold them equal to
//! the originals, which stay the reference (slow path, configuration).
//!
//! [`Relay`]: crate::relay::Relay
//! [`Relay::bogon_6to4`]: crate::relay::Relay::bogon_6to4
//! [`Relay::bogon_teredo`]: crate::relay::Relay::bogon_teredo
//! [`Relay::embeds_relay_v4`]: crate::relay::Relay::embeds_relay_v4

use std::net::{Ipv4Addr, Ipv6Addr};

use xrelay_wire::addr;

use super::Engine;
use crate::relay::{AddrSet, Relay, MAX_ADDRS};

/// A copy of an [`AddrSet`] with a membership filter in front.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct V4Set {
    filter: u64,
    len: usize,
    addrs: [u32; MAX_ADDRS],
}

/// The filter index of `a`: the top six bits of a Fibonacci hash.
#[inline(always)]
pub(crate) fn filter_index(a: u32) -> u32 {
    a.wrapping_mul(0x9e37_79b1) >> 26
}

/// The filter bit of `a`.
#[inline(always)]
pub(crate) fn filter_bit(a: u32) -> u64 {
    1 << filter_index(a)
}

impl V4Set {
    pub(crate) fn new(set: &AddrSet) -> V4Set {
        let mut s = V4Set::default();
        for a in set.iter() {
            if let Some(slot) = s.addrs.get_mut(s.len) {
                *slot = a.to_bits();
                s.len += 1;
                s.filter |= filter_bit(a.to_bits());
            }
        }
        s
    }

    /// The membership filter (one bit per member at [`filter_index`]).
    pub(crate) fn filter(&self) -> u64 {
        self.filter
    }

    /// The members, host order.
    pub(crate) fn members(&self) -> &[u32] {
        self.addrs.get(..self.len).unwrap_or(&[])
    }

    /// Whether the host-order address `a` is a member.
    #[inline(always)]
    pub(crate) fn contains(&self, a: u32) -> bool {
        self.filter & filter_bit(a) != 0 && self.scan(a)
    }

    #[inline(always)]
    fn scan(&self, a: u32) -> bool {
        self.addrs.iter().zip(0..self.len).any(|(x, _)| *x == a)
    }
}

/// List A ([`addr::is_list_a`]) by first octet: listed when the second
/// octet `& mask == value`; (0, 0) lists the whole /8, (0, 1) none of it.
const LIST_A: [[u8; 2]; 256] = {
    let mut t = [[0u8, 1]; 256];
    let mut o = 224;
    while o < 256 {
        t[o] = [0, 0];
        o += 1;
    }
    t[0] = [0, 0];
    t[10] = [0, 0];
    t[127] = [0, 0];
    t[169] = [0xff, 254];
    t[172] = [0xf0, 16];
    t[192] = [0xff, 168];
    t
};

/// List B ([`addr::is_list_b`]) by first octet over the low 24 bits, as
/// [`LIST_A`]; 192.88.99.0/24, the one second rule for an octet, is apart.
const LIST_B: [[u32; 2]; 256] = {
    let mut t = [[0u32, 1]; 256];
    let mut o = 224;
    while o < 240 {
        t[o] = [0, 0];
        o += 1;
    }
    t[0] = [0, 0];
    t[10] = [0, 0];
    t[127] = [0, 0];
    t[169] = [0xff_0000, 254 << 16];
    t[172] = [0xf0_0000, 16 << 16];
    t[192] = [0xff_0000, 168 << 16];
    t[255] = [0xff_ffff, 0xff_ffff];
    t
};

/// [`addr::is_list_a`] of the host-order address `a`: one table load.
#[inline(always)]
pub(crate) fn list_a(a: u32) -> bool {
    let [mask, value] = LIST_A[(a >> 24) as usize];
    (a >> 16) as u8 & mask == value
}

/// [`addr::is_list_b`] of the host-order address `a`.
#[inline(always)]
pub(crate) fn list_b(a: u32) -> bool {
    let [mask, value] = LIST_B[(a >> 24) as usize];
    a & mask == value || a >> 8 == 0x00c0_5863
}

/// The sets the fast path tests, compiled once per engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RelaySets {
    /// Every IPv4 address of the relay ([`Relay::relay_v4`]).
    pub relay_v4: V4Set,
    /// Directed broadcasts of attached subnets.
    pub broadcasts: V4Set,
    /// Addresses that accept protocol 41.
    pub sixto4_v4: V4Set,
    /// Whether any of `sixto4_v4` fails [`Relay::bogon_6to4`]: when none
    /// does, S4-02 need not test the destination of a decapsulated packet,
    /// which classification already found in `sixto4_v4`.
    pub sixto4_v4_bogon: bool,
}

impl RelaySets {
    pub(crate) fn new(r: &Relay) -> RelaySets {
        RelaySets {
            relay_v4: V4Set::new(&r.relay_v4),
            broadcasts: V4Set::new(&r.broadcasts),
            sixto4_v4: V4Set::new(&r.sixto4_v4),
            sixto4_v4_bogon: r.sixto4_v4.iter().any(|a| r.bogon_6to4(a)),
        }
    }
}

impl Engine {
    /// [`Relay::bogon_6to4`] of the host-order address `a`.
    #[inline(always)]
    pub(crate) fn bogon_6to4(&self, a: u32) -> bool {
        if self.relay.sixrd {
            let o = (a >> 24) as u8;
            return o == 0 || o == 127 || o >= 224 || self.sets.broadcasts.contains(a);
        }
        list_a(a)
            || self.sets.broadcasts.contains(a)
            || (self.relay.extended_bogons && addr::is_list_c(Ipv4Addr::from_bits(a)))
    }

    /// [`Relay::bogon_teredo`] of the host-order address `a`.
    #[inline(always)]
    pub(crate) fn bogon_teredo(&self, a: u32) -> bool {
        list_b(a)
            || self.sets.broadcasts.contains(a)
            || (self.relay.extended_bogons && addr::is_list_c(Ipv4Addr::from_bits(a)))
    }

    /// [`Relay::embeds_relay_v4`] of the address with bits `b`: a relay IPv4
    /// address in the 6to4 prefix (2002:V4::/48), an ISATAP identifier
    /// (`0000:5efe:V4` or `0200:5efe:V4`) or a Teredo client field (`~V4`).
    #[inline(always)]
    pub(crate) fn embeds_relay_v4(&self, b: u128) -> bool {
        let set = &self.sets.relay_v4;
        ((b >> 112) as u16 == 0x2002 && set.contains((b >> 80) as u32))
            || ((b >> 32) as u32 & 0xfdff_ffff == 0x0000_5efe && set.contains(b as u32))
            || ((b >> 96) as u32 == 0x2001_0000 && set.contains(!(b as u32)))
    }

    /// `relay.domain.contains` of the address with bits `b` (6to4 is the
    /// domain 2002::/16 unless 6rd is configured).
    #[inline(always)]
    pub(crate) fn in_domain(&self, b: u128) -> bool {
        if !self.relay.sixrd {
            return (b >> 112) as u16 == 0x2002;
        }
        self.relay.domain.contains(&Ipv6Addr::from_bits(b))
    }

    /// `relay.domain.embedded_v4` of the address with bits `b`, host order.
    #[inline(always)]
    pub(crate) fn embedded_v4(&self, b: u128) -> Option<u32> {
        if !self.relay.sixrd {
            return ((b >> 112) as u16 == 0x2002).then_some((b >> 80) as u32);
        }
        self.relay
            .domain
            .embedded_v4(&Ipv6Addr::from_bits(b))
            .map(Ipv4Addr::to_bits)
    }

    /// Whether the host-order address `a` is one of the relay's.
    #[inline(always)]
    pub(crate) fn is_relay_v4(&self, a: u32) -> bool {
        self.sets.relay_v4.contains(a)
    }
}

/// [`addr::is_6to4_sane_v6`] of the address with bits `b`.
#[inline(always)]
pub(crate) fn sane_6to4(b: u128) -> bool {
    let top = (b >> 112) as u16;
    if top == 0x2002 {
        return !list_a((b >> 80) as u32);
    }
    // Out: ::/16, and fe80::/10, fec0::/10 and ff00::/8, which together
    // are everything from fe80:: up.
    top != 0 && top < 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn engines() -> Vec<Engine> {
        let base = r#"
[relay]
native_addr = "2001:db8::ff"
ipv4_subnets = ["203.0.113.0/24", "198.51.100.0/25"]
[teredo]
enabled = true
addr = "203.0.113.5"
port = 3545
"#;
        let sixto4 = "[sixto4]\nenabled = true\nanycast = true\nunicast_addr = \"203.0.113.4\"\nextra_addrs = [\"198.51.100.7\"]\n";
        let sixrd = "[sixto4]\nenabled = true\nunicast_addr = \"100.64.0.1\"\nmode = \"6rd\"\n[sixto4.sixrd]\nprefix = \"2001:db8:f00::/40\"\nipv4_mask_len = 12\nbr_addr = \"100.64.0.1\"\n";
        let mut out = Vec::new();
        for (tunnel, extended) in [
            (sixto4, false),
            (sixto4, true),
            (sixrd, false),
            (sixrd, true),
        ] {
            let toml = format!("{base}{tunnel}[bogons]\nextended = {extended}\n");
            let cfg = Config::from_toml_str(&toml);
            assert!(cfg.is_ok(), "{:?}\n{toml}", cfg.err());
            let Some(engine) = cfg.ok().and_then(|c| Engine::new(&c, 0, 1, 1).ok()) else {
                continue;
            };
            out.push(engine);
        }
        assert_eq!(out.len(), 4);
        assert_eq!(out.iter().filter(|e| e.relay.sixrd).count(), 2);
        out
    }

    /// Addresses around every boundary of lists A, B and C, the relay's
    /// own and broadcast addresses, and a pseudo-random spread.
    fn v4_samples(e: &Engine) -> Vec<u32> {
        let mut v: Vec<u32> = Vec::new();
        for o0 in 0..=255u32 {
            for o1 in [
                0u32, 1, 15, 16, 31, 32, 51, 63, 64, 88, 127, 128, 168, 191, 254, 255,
            ] {
                for low in [0u32, 0x0001, 0x0201, 0x6301, 0x6401, 0x7105, 0xffff] {
                    v.push(o0 << 24 | o1 << 16 | low);
                }
            }
        }
        for set in [&e.relay.relay_v4, &e.relay.broadcasts, &e.relay.sixto4_v4] {
            for a in set.iter() {
                let a = a.to_bits();
                v.extend([a, a ^ 1, a.wrapping_add(0x100), !a]);
            }
        }
        let mut x = 0x2545_f491u32;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            v.push(x);
        }
        v
    }

    #[test]
    fn lists_equal_wire_tables() {
        for hi in 0..=0xffffu32 {
            for lo in [
                0u32, 0x0001, 0x62ff, 0x6300, 0x6301, 0x63ff, 0x6400, 0xfffe, 0xffff,
            ] {
                let a = hi << 16 | lo;
                let ip = Ipv4Addr::from_bits(a);
                assert_eq!(list_a(a), addr::is_list_a(ip), "{ip}");
                assert_eq!(list_b(a), addr::is_list_b(ip), "{ip}");
            }
        }
    }

    #[test]
    fn sets_equal_relay_sets() {
        for e in engines() {
            let r = &e.relay;
            for a in v4_samples(&e) {
                let ip = Ipv4Addr::from_bits(a);
                assert_eq!(e.sets.relay_v4.contains(a), r.relay_v4.contains(ip), "{ip}");
                assert_eq!(
                    e.sets.broadcasts.contains(a),
                    r.broadcasts.contains(ip),
                    "{ip}"
                );
                assert_eq!(
                    e.sets.sixto4_v4.contains(a),
                    r.sixto4_v4.contains(ip),
                    "{ip}"
                );
            }
        }
    }

    #[test]
    fn bogons_equal_relay() {
        for e in engines() {
            for a in v4_samples(&e) {
                let ip = Ipv4Addr::from_bits(a);
                assert_eq!(
                    e.bogon_6to4(a),
                    e.relay.bogon_6to4(ip),
                    "6to4 {ip} sixrd={}",
                    e.relay.sixrd
                );
                assert_eq!(e.bogon_teredo(a), e.relay.bogon_teredo(ip), "teredo {ip}");
            }
        }
    }

    /// IPv6 addresses around the prefixes the bit-level tests look at.
    fn v6_samples(e: &Engine) -> Vec<u128> {
        let mut out: Vec<u128> = Vec::new();
        let tops: [u128; 16] = [
            0,
            1,
            0x00ff,
            0x0100,
            0x2001,
            0x2002,
            0x2003,
            0x2001_0db8,
            0x2001_0000,
            0xfe80,
            0xfebf,
            0xfec0,
            0xfeff,
            0xff02,
            0xffff,
            0x3fff,
        ];
        for t in tops {
            let shift = if t > 0xffff { 96 } else { 112 };
            for v4 in v4_samples(e).into_iter().step_by(97) {
                let v = u128::from(v4);
                out.push(t << shift | v << 80 | 1);
                out.push(t << shift | v << 64 | 0xffff_0000_0000 | v);
                out.push(t << shift | v);
            }
        }
        out.extend([0, 1, 2, 0xffff << 32 | 0x0102_0304, 0xffff_ffff << 96]);
        out
    }

    #[test]
    fn domain_and_sanity_equal_wire() {
        for e in engines() {
            for b in v6_samples(&e) {
                let a = Ipv6Addr::from_bits(b);
                assert_eq!(e.in_domain(b), e.relay.domain.contains(&a), "{a}");
                assert_eq!(
                    e.embedded_v4(b),
                    e.relay.domain.embedded_v4(&a).map(Ipv4Addr::to_bits),
                    "{a}"
                );
                assert_eq!(sane_6to4(b), addr::is_6to4_sane_v6(&a), "{a}");
            }
        }
    }

    #[test]
    fn bad_source_equals_wire_predicates() {
        for e in engines() {
            for b in v6_samples(&e) {
                let a = Ipv6Addr::from_bits(b);
                let want = addr::is_multicast_v6(&a)
                    || addr::is_link_local_v6(&a)
                    || addr::is_unspecified_or_loopback_v6(&a)
                    || (b >> 32) == 0xffff
                    || (b >> 32) == 0;
                assert_eq!(super::super::bad_source_v6(b), want, "{a}");
            }
        }
    }

    #[test]
    fn embeds_relay_v4_equals_relay() {
        for e in engines() {
            let mut addrs: Vec<u128> = Vec::new();
            for v4 in v4_samples(&e).into_iter().step_by(7) {
                let v = u128::from(v4);
                addrs.push(0x2002u128 << 112 | v << 80 | 1);
                addrs.push(0x2002u128 << 112 | v << 80 | 0x5efe << 32 | v);
                addrs.push(0x2001_0db8u128 << 96 | 0x5efe << 32 | v);
                addrs.push(0x2001_0db8u128 << 96 | 0x0200_5efe << 32 | v);
                addrs.push(0x2001_0db8u128 << 96 | 0x0100_5efe << 32 | v);
                addrs.push(0x2001_0db8u128 << 96 | 0x0000_5eff << 32 | v);
                addrs.push(0x2001_0000u128 << 96 | v << 64 | u128::from(!v4));
                addrs.push(0x2001_0001u128 << 96 | u128::from(!v4));
                addrs.push(0x2003u128 << 112 | v << 80);
            }
            for b in addrs {
                let a = Ipv6Addr::from_bits(b);
                assert_eq!(e.embeds_relay_v4(b), e.relay.embeds_relay_v4(&a), "{a}");
            }
        }
    }
}
