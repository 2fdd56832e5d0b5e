//! 6to4 addresses and constants (RFC 3056, RFC 3068).
//!
//! ```text
//! | 16 bits  |   32 bits   | 16 bits |        64 bits          |
//! +----------+-------------+---------+-------------------------+
//! |  0x2002  |   V4ADDR    | SLA ID  |     Interface ID        |
//! +----------+-------------+---------+-------------------------+
//! ```
//!
//! The IPv6 packet follows the IPv4 header directly, protocol 41 (RFC 3056
//! §3). Whether an embedded V4ADDR is acceptable is decided by
//! [`crate::addr::is_list_a`], not here. 6to4 is also the 6rd domain
//! [`crate::sixrd::Domain::SIXTOFOUR`].

use core::net::{Ipv4Addr, Ipv6Addr};

/// IPv4 protocol number of IPv6-in-IPv4 (RFC 3056 §3).
pub const PROTOCOL: u8 = 41;

/// The 6to4 relay anycast address (RFC 3068 §2.3).
pub const ANYCAST_V4: Ipv4Addr = Ipv4Addr::new(192, 88, 99, 1);

/// The 6to4 relay anycast prefix 192.88.99.0/24 (RFC 3068 §2.3).
pub const ANYCAST_PREFIX_V4: (Ipv4Addr, u8) = (Ipv4Addr::new(192, 88, 99, 0), 24);

/// The relay's IPv6 anycast address `2002:c058:6301::` (RFC 3068 §2.5).
pub const ANYCAST_V6: Ipv6Addr = Ipv6Addr::new(0x2002, 0xc058, 0x6301, 0, 0, 0, 0, 0);

/// Bytes added by encapsulation: one option-less IPv4 header.
pub const OVERHEAD: usize = 20;

/// Whether `a` is in 2002::/16.
#[inline]
#[must_use]
pub fn is_6to4(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    o[0] == 0x20 && o[1] == 0x02
}

/// The V4ADDR of a 6to4 address (bits 16..47), `None` outside 2002::/16.
#[inline]
#[must_use]
pub fn embedded_v4(a: &Ipv6Addr) -> Option<Ipv4Addr> {
    let o = a.octets();
    if o[0] == 0x20 && o[1] == 0x02 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

/// The 6to4 site prefix `2002:V4ADDR::/48` of `v4` (SLA and interface ID
/// zero), which for the relay's own IPv4 address is its 6to4 address.
#[inline]
#[must_use]
pub fn prefix_for(v4: Ipv4Addr) -> Ipv6Addr {
    let v = v4.octets();
    let mut o = [0u8; 16];
    o[0] = 0x20;
    o[1] = 0x02;
    o[2..6].copy_from_slice(&v);
    Ipv6Addr::from(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn spec_5_1_derivations() {
        let table: [(Ipv4Addr, &str); 9] = [
            (Ipv4Addr::new(192, 0, 2, 1), "2002:c000:0201::"),
            (Ipv4Addr::new(192, 1, 2, 3), "2002:c001:0203::"),
            (Ipv4Addr::new(9, 254, 253, 252), "2002:09fe:fdfc::"),
            (Ipv4Addr::new(192, 0, 2, 170), "2002:c000:02aa::"),
            (Ipv4Addr::new(192, 0, 2, 187), "2002:c000:02bb::"),
            (Ipv4Addr::new(9, 0, 0, 1), "2002:0900:0001::"),
            (Ipv4Addr::new(192, 88, 99, 1), "2002:c058:6301::"),
            (Ipv4Addr::new(198, 51, 100, 7), "2002:c633:6407::"),
            (Ipv4Addr::new(203, 0, 113, 254), "2002:cb00:71fe::"),
        ];
        for (v4, prefix) in table {
            let p = v6(prefix);
            assert_eq!(prefix_for(v4), p, "{v4}");
            assert!(is_6to4(&p));
            assert_eq!(embedded_v4(&p), Some(v4));
        }
        assert_eq!(prefix_for(ANYCAST_V4), ANYCAST_V6);
        assert_eq!(
            embedded_v4(&v6("2002:900:1::1")),
            Some(Ipv4Addr::new(9, 0, 0, 1))
        );
    }

    #[test]
    fn spec_5_1_decodings() {
        assert_eq!(
            embedded_v4(&v6("2002:c000:201::1")),
            Some(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(
            embedded_v4(&v6("2002:9fe:fdfc:1::5")),
            Some(Ipv4Addr::new(9, 254, 253, 252))
        );
        for not in [
            "2001:db8::1",
            "2001:2::1",
            "2003::1",
            "::2002:c000:201",
            "2102::",
        ] {
            assert!(!is_6to4(&v6(not)), "{not}");
            assert_eq!(embedded_v4(&v6(not)), None);
        }
        // 2002::1 decodes to 0.0.0.0, which list A rejects (SPEC §5.1).
        assert_eq!(embedded_v4(&v6("2002::1")), Some(Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn constants() {
        assert_eq!(PROTOCOL, 41);
        assert_eq!(ANYCAST_V4, Ipv4Addr::new(192, 88, 99, 1));
        assert_eq!(ANYCAST_PREFIX_V4, (Ipv4Addr::new(192, 88, 99, 0), 24));
        assert_eq!(ANYCAST_V6, v6("2002:c058:6301::"));
        assert_eq!(OVERHEAD, crate::ipv4::HEADER_LEN);
    }
}
