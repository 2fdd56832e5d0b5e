//! The explicit address acceptance tables of SPEC §1.1 and §1.2.
//!
//! These are deliberately *not* a library `is_global`: the IANA registry
//! would reject the documentation ranges the RFC examples and our vectors
//! use, and the three IPv4 lists differ from each other:
//!
//! ```text
//!                      list A (6to4)   list B (Teredo)   list C (bogons, opt.)
//! 0.0.0.0/8                  x               x
//! 10.0.0.0/8                 x               x
//! 100.64.0.0/10                                                 x
//! 127.0.0.0/8                x               x
//! 169.254.0.0/16             x               x
//! 172.16.0.0/12              x               x
//! 192.0.0.0/24                                                  x
//! 192.0.2.0/24                                                  x
//! 192.88.99.0/24                             x
//! 192.168.0.0/16             x               x
//! 198.18.0.0/15                                                 x
//! 198.51.100.0/24                                               x
//! 203.0.113.0/24                                                x
//! 224.0.0.0/4                x               x
//! 240.0.0.0/4                x       only 255.255.255.255       x
//! ```
//!
//! Directed broadcasts of attached subnets belong to lists A and B too but
//! depend on configuration, so the engine checks them. Each predicate is one
//! `match` on the first octet, cheap enough to run several times a packet.

use core::net::{Ipv4Addr, Ipv6Addr};

/// List A: IPv4 addresses 6to4 must never embed or use as outer address
/// (RFC 3964 §5.3.1, RFC 3056 §9).
#[inline]
#[must_use]
pub fn is_list_a(a: Ipv4Addr) -> bool {
    let [o0, o1, _, _] = a.octets();
    match o0 {
        0 | 10 | 127 | 224..=255 => true,
        169 => o1 == 254,
        172 => o1 & 0xf0 == 16,
        192 => o1 == 168,
        _ => false,
    }
}

/// List B: IPv4 addresses Teredo treats as not global unicast (RFC 4380
/// §5.2.4). Unlike list A it contains 192.88.99.0/24 and, of 240.0.0.0/4,
/// only the limited broadcast address (miredo `is_ipv4_global_unicast`).
#[inline]
#[must_use]
pub fn is_list_b(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, o3] = a.octets();
    match o0 {
        0 | 10 | 127 | 224..=239 => true,
        169 => o1 == 254,
        172 => o1 & 0xf0 == 16,
        192 => o1 == 168 || (o1 == 88 && o2 == 99),
        255 => o1 == 255 && o2 == 255 && o3 == 255,
        _ => false,
    }
}

/// List C: optional operator bogons (RFC 6890 "Global: False"), off by
/// default because the documentation ranges appear in the standard vectors.
#[inline]
#[must_use]
pub fn is_list_c(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    match o0 {
        100 => o1 & 0xc0 == 64,
        192 => o1 == 0 && (o2 == 0 || o2 == 2),
        198 => o1 & 0xfe == 18 || (o1 == 51 && o2 == 100),
        203 => o1 == 0 && o2 == 113,
        240..=255 => true,
        _ => false,
    }
}

/// The 6to4 IPv6 sanity list (RFC 3964 §5.3.2, checks S4-04 / S6-02): true
/// when `a` is acceptable, i.e. outside `::/16` (unspecified, loopback,
/// IPv4-compatible, IPv4-mapped), `fe80::/10`, `fec0::/10` and `ff00::/8`,
/// and, inside 2002::/16, embedding an IPv4 address outside list A.
#[inline]
#[must_use]
pub fn is_6to4_sane_v6(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    match o[0] {
        0x00 => o[1] != 0,
        // fe80::/10 and fec0::/10 together are fe80::/9.
        0xfe => o[1] & 0x80 == 0,
        0xff => false,
        0x20 if o[1] == 0x02 => !is_list_a(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        _ => true,
    }
}

/// Whether `a` is multicast (`ff00::/8`).
#[inline]
#[must_use]
pub fn is_multicast_v6(a: &Ipv6Addr) -> bool {
    a.octets()[0] == 0xff
}

/// Whether `a` is link-local unicast (`fe80::/10`).
#[inline]
#[must_use]
pub fn is_link_local_v6(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    o[0] == 0xfe && o[1] & 0xc0 == 0x80
}

/// Whether `a` is `::` or `::1`.
#[inline]
#[must_use]
pub fn is_unspecified_or_loopback_v6(a: &Ipv6Addr) -> bool {
    a.to_bits() <= 1
}

/// The IPv4 address in an ISATAP interface identifier `0000:5efe:V4` or
/// `0200:5efe:V4` (RFC 5214 §6.1, either value of the u/l bit), used to
/// spot relay addresses embedded in other tunnel formats (RFC 6324 §3.3).
#[inline]
#[must_use]
pub fn isatap_v4(a: &Ipv6Addr) -> Option<Ipv4Addr> {
    let o = a.octets();
    if (o[8] == 0x00 || o[8] == 0x02) && o[9] == 0x00 && o[10] == 0x5e && o[11] == 0xfe {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn spec_5_2_list_a_table() {
        // (dst6/src6, embedded, rejected by list A / the sanity list).
        let table = [
            ("2002:0a00:0001::", "10.0.0.1", true),
            ("2002:ac10:0001::", "172.16.0.1", true),
            ("2002:c0a8:0101::", "192.168.1.1", true),
            ("2002:7f00:0001::", "127.0.0.1", true),
            ("2002:a9fe:0101::", "169.254.1.1", true),
            ("2002:0000:0001::", "0.0.0.1", true),
            ("2002:e000:0001::", "224.0.0.1", true),
            ("2002:f000:0001::", "240.0.0.1", true),
            ("2002:ffff:ffff::", "255.255.255.255", true),
            ("2002:6440:0001::", "100.64.0.1", false),
            ("2002:c000:0201::", "192.0.2.1", false),
            // Relay address: accepted by the list, handled as local.
            ("2002:c058:6301::", "192.88.99.1", false),
            // 192.88.99.2: dropped by S6-04b in the engine, not by list A.
            ("2002:c058:6302::", "192.88.99.2", false),
        ];
        for (addr, embedded, rejected) in table {
            let a = v6(addr);
            let e = v4(embedded);
            assert_eq!(crate::sixtofour::embedded_v4(&a), Some(e), "{addr}");
            assert_eq!(is_list_a(e), rejected, "{embedded}");
            assert_eq!(is_6to4_sane_v6(&a), !rejected, "{addr}");
        }
        // 240.0.0.1 is in list A but not list B (SPEC §1.1).
        assert!(!is_list_b(v4("240.0.0.1")));
        // 2002::1 embeds 0.0.0.0 (SPEC §5.1).
        assert!(!is_6to4_sane_v6(&v6("2002::1")));
    }

    #[test]
    fn list_boundaries() {
        let cases = [
            // (address, A, B, C)
            ("0.0.0.0", true, true, false),
            ("0.255.255.255", true, true, false),
            ("1.0.0.0", false, false, false),
            ("9.255.255.255", false, false, false),
            ("10.255.255.255", true, true, false),
            ("11.0.0.0", false, false, false),
            ("100.63.255.255", false, false, false),
            ("100.64.0.0", false, false, true),
            ("100.127.255.255", false, false, true),
            ("100.128.0.0", false, false, false),
            ("126.255.255.255", false, false, false),
            ("127.255.255.255", true, true, false),
            ("128.0.0.0", false, false, false),
            ("169.253.255.255", false, false, false),
            ("169.254.0.0", true, true, false),
            ("169.255.0.0", false, false, false),
            ("172.15.255.255", false, false, false),
            ("172.16.0.0", true, true, false),
            ("172.31.255.255", true, true, false),
            ("172.32.0.0", false, false, false),
            ("192.0.0.1", false, false, true),
            ("192.0.1.1", false, false, false),
            ("192.0.2.255", false, false, true),
            ("192.0.3.0", false, false, false),
            ("192.88.98.255", false, false, false),
            ("192.88.99.0", false, true, false),
            ("192.88.99.255", false, true, false),
            ("192.88.100.0", false, false, false),
            ("192.167.255.255", false, false, false),
            ("192.168.0.0", true, true, false),
            ("192.169.0.0", false, false, false),
            ("198.17.255.255", false, false, false),
            ("198.18.0.0", false, false, true),
            ("198.19.255.255", false, false, true),
            ("198.20.0.0", false, false, false),
            ("198.51.100.7", false, false, true),
            ("198.51.101.0", false, false, false),
            ("203.0.113.5", false, false, true),
            ("203.0.114.0", false, false, false),
            ("223.255.255.255", false, false, false),
            ("224.0.0.0", true, true, false),
            ("239.255.255.255", true, true, false),
            ("240.0.0.0", true, false, true),
            ("255.255.255.254", true, false, true),
            ("255.255.255.255", true, true, true),
        ];
        for (a, la, lb, lc) in cases {
            let a4 = v4(a);
            assert_eq!(
                (is_list_a(a4), is_list_b(a4), is_list_c(a4)),
                (la, lb, lc),
                "{a}"
            );
        }
    }

    #[test]
    fn ipv6_sanity_list() {
        for bad in [
            "::",
            "::1",
            "::192.0.2.1",
            "::ffff:192.0.2.1",
            "0:ffff::",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(!is_6to4_sane_v6(&v6(bad)), "{bad}");
        }
        for good in [
            "1::",
            "2001:db8::1",
            "2001:0:c633:6476::",
            "fe7f::1",
            "fd00::1",
            "2002:c000:201::1",
        ] {
            assert!(is_6to4_sane_v6(&v6(good)), "{good}");
        }
    }

    #[test]
    fn ipv6_classes() {
        assert!(is_multicast_v6(&v6("ff02::1")));
        assert!(!is_multicast_v6(&v6("fe80::1")));
        assert!(is_link_local_v6(&v6("fe80::1")));
        assert!(is_link_local_v6(&v6("febf:ffff::1")));
        assert!(!is_link_local_v6(&v6("fec0::1")));
        assert!(!is_link_local_v6(&v6("fe7f::1")));
        assert!(is_unspecified_or_loopback_v6(&v6("::")));
        assert!(is_unspecified_or_loopback_v6(&v6("::1")));
        assert!(!is_unspecified_or_loopback_v6(&v6("::2")));
        assert!(!is_unspecified_or_loopback_v6(&v6("1::1")));
    }

    #[test]
    fn isatap() {
        let relay = Some(v4("192.88.99.1"));
        assert_eq!(isatap_v4(&v6("2001:db8::5efe:c058:6301")), relay);
        assert_eq!(isatap_v4(&v6("2001:db8::200:5efe:c058:6301")), relay);
        assert_eq!(
            isatap_v4(&v6("fe80::200:5efe:c000:201")),
            Some(v4("192.0.2.1"))
        );
        assert_eq!(isatap_v4(&v6("2001:db8::100:5efe:c058:6301")), None);
        assert_eq!(isatap_v4(&v6("2001:db8::5eff:c058:6301")), None);
        assert_eq!(isatap_v4(&v6("2001:db8::1")), None);
    }
}
