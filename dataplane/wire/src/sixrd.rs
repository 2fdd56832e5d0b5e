//! 6rd address mapping (RFC 5969 §4, §7.1.1), the configurable-prefix
//! generalisation of 6to4.
//!
//! ```text
//! |     n bits     |    o bits    |  m bits   |    128-n-o-m bits      |
//! +----------------+--------------+-----------+------------------------+
//! |  6rd prefix    | IPv4 address | subnet ID |     interface ID       |
//! +----------------+--------------+-----------+------------------------+
//! |<--- 6rd delegated prefix ---->|
//!
//! n = 6rdPrefixLen, o = 32 - IPv4MaskLen (the common high-order IPv4 bits
//! are stripped and restored from the domain configuration).
//! ```
//!
//! 6to4 is the domain 2002::/16 with IPv4MaskLen 0 (RFC 5969 §1). The
//! shifts and masks are computed once in [`Domain::new`], so a lookup is a
//! mask compare, one shift and an OR on `u128`/`u32`.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::{Error, Result};

/// The four parameters shared by every CE and BR of a 6rd domain (RFC 5969
/// §7; the BR address is the engine's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    /// 6rdPrefix with every bit past `prefix_len` cleared.
    prefix: u128,
    /// Mask of the top `prefix_len` bits.
    prefix_mask: u128,
    /// Common high-order IPv4 bits (low `v4_bits` cleared).
    common_v4: u32,
    /// Mask of the low `v4_bits` IPv4 bits that travel in the IPv6 address.
    v4_mask: u32,
    /// Bit position of the lowest embedded IPv4 bit: `128 - n - o`.
    shift: u32,
    prefix_len: u8,
    ipv4_mask_len: u8,
}

/// `value` with the top `len` bits kept (`len` at most 128).
const fn high_mask_u128(len: u8) -> u128 {
    match u128::MAX.checked_shl(128 - len as u32) {
        Some(mask) => mask,
        None => 0,
    }
}

/// Mask of the low `bits` bits of a `u32` (`bits` at most 32).
const fn low_mask_u32(bits: u8) -> u32 {
    match u32::MAX.checked_shr(32 - bits as u32) {
        Some(mask) => mask,
        None => 0,
    }
}

impl Domain {
    /// 6to4 seen as a 6rd domain: 2002::/16, IPv4MaskLen 0 (RFC 5969 §1).
    pub const SIXTOFOUR: Domain = Domain::build(0x2002 << 112, 16, 0, 0);

    /// Builds a domain from validated parameters.
    const fn build(prefix: u128, prefix_len: u8, ipv4_mask_len: u8, common_v4: u32) -> Domain {
        let v4_bits = 32 - ipv4_mask_len;
        let prefix_mask = high_mask_u128(prefix_len);
        let v4_mask = low_mask_u32(v4_bits);
        Domain {
            prefix: prefix & prefix_mask,
            prefix_mask,
            common_v4: common_v4 & !v4_mask,
            v4_mask,
            shift: 128 - prefix_len as u32 - v4_bits as u32,
            prefix_len,
            ipv4_mask_len,
        }
    }

    /// Creates a domain.
    ///
    /// Bits of `prefix` past `prefix_len` and the low `32 - ipv4_mask_len`
    /// bits of `common_v4` are ignored. [`Error::Malformed`] when
    /// `ipv4_mask_len > 32`, `prefix_len > 128` or
    /// `(32 - ipv4_mask_len) + prefix_len > 128` (RFC 5969 §7.1.1).
    pub fn new(
        prefix: Ipv6Addr,
        prefix_len: u8,
        ipv4_mask_len: u8,
        common_v4: Ipv4Addr,
    ) -> Result<Domain> {
        if ipv4_mask_len > 32
            || prefix_len > 128
            || u32::from(32 - ipv4_mask_len) + u32::from(prefix_len) > 128
        {
            return Err(Error::Malformed);
        }
        Ok(Domain::build(
            prefix.to_bits(),
            prefix_len,
            ipv4_mask_len,
            common_v4.to_bits(),
        ))
    }

    /// The 6rd prefix (host bits zero).
    #[inline]
    pub fn prefix(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.prefix)
    }

    /// 6rdPrefixLen.
    #[inline]
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// IPv4MaskLen: how many high-order IPv4 bits are common to the domain.
    #[inline]
    pub fn ipv4_mask_len(&self) -> u8 {
        self.ipv4_mask_len
    }

    /// The common high-order IPv4 bits (low bits zero).
    #[inline]
    pub fn common_v4(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.common_v4)
    }

    /// Whether `a` lies inside the 6rd prefix.
    #[inline]
    pub fn contains(&self, a: &Ipv6Addr) -> bool {
        a.to_bits() & self.prefix_mask == self.prefix
    }

    /// The IPv4 address embedded in `a` with the common bits prepended
    /// (BR → CE mapping, RFC 5969 §7.1.1), `None` outside the prefix.
    #[inline]
    pub fn embedded_v4(&self, a: &Ipv6Addr) -> Option<Ipv4Addr> {
        let bits = a.to_bits();
        if bits & self.prefix_mask != self.prefix {
            return None;
        }
        // Truncation keeps the 32 bits at and above `shift`; `v4_mask` then
        // keeps only the embedded ones.
        let low = (bits.checked_shr(self.shift).unwrap_or(0) as u32) & self.v4_mask;
        Some(Ipv4Addr::from_bits(self.common_v4 | low))
    }

    /// The delegated prefix of a CE with IPv4 address `v4` and its length
    /// `prefix_len + 32 - ipv4_mask_len` (RFC 5969 §4).
    #[inline]
    pub fn delegated_prefix(&self, v4: Ipv4Addr) -> (Ipv6Addr, u8) {
        let low = u128::from(v4.to_bits() & self.v4_mask);
        let addr = self.prefix | low.checked_shl(self.shift).unwrap_or(0);
        (
            Ipv6Addr::from_bits(addr),
            self.prefix_len + (32 - self.ipv4_mask_len),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn rfc5969_domain() -> Domain {
        Domain::new(v6("2001:db8::"), 32, 8, Ipv4Addr::new(10, 0, 0, 0)).unwrap()
    }

    #[test]
    fn rfc5969_example() {
        // SPEC §5.6 / RFC 5969 §7.1.1.
        let d = rfc5969_domain();
        let ce = Ipv4Addr::new(10, 100, 100, 1);
        assert_eq!(d.delegated_prefix(ce), (v6("2001:db8:6464:100::"), 56));
        assert_eq!(d.embedded_v4(&v6("2001:db8:6464:100::1")), Some(ce));
        let br = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(d.delegated_prefix(br), (v6("2001:db8:0:100::"), 56));
        assert_eq!(d.embedded_v4(&v6("2001:db8:0:1ff:1:2:3:4")), Some(br));
        assert_eq!(d.prefix(), v6("2001:db8::"));
        assert_eq!((d.prefix_len(), d.ipv4_mask_len()), (32, 8));
        assert_eq!(d.common_v4(), Ipv4Addr::new(10, 0, 0, 0));
        assert!(d.contains(&v6("2001:db8:ffff::")));
        assert!(!d.contains(&v6("2001:db9::")));
        assert_eq!(d.embedded_v4(&v6("2001:db9::1")), None);
    }

    #[test]
    fn spec_example_mask_12() {
        // SPEC §5.6: 2001:db8:f00::/40, IPv4MaskLen 12, CE 100.64.1.2.
        let d = Domain::new(v6("2001:db8:f00::"), 40, 12, Ipv4Addr::new(100, 64, 0, 0)).unwrap();
        let ce = Ipv4Addr::new(100, 64, 1, 2);
        assert_eq!(d.delegated_prefix(ce), (v6("2001:db8:f00:1020::"), 60));
        assert_eq!(d.embedded_v4(&v6("2001:db8:f00:1020::1")), Some(ce));
        assert_eq!(d.embedded_v4(&v6("2001:db8:f00:102f:ffff::")), Some(ce));
    }

    #[test]
    fn sixtofour_as_6rd() {
        let d = Domain::SIXTOFOUR;
        let v4 = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(d.delegated_prefix(v4), (v6("2002:c000:201::"), 48));
        assert_eq!(d.embedded_v4(&v6("2002:c000:201::1")), Some(v4));
        assert_eq!(d.embedded_v4(&v6("2001:db8::1")), None);
        assert_eq!(
            d,
            Domain::new(v6("2002::"), 16, 0, Ipv4Addr::UNSPECIFIED).unwrap()
        );
        assert_eq!(
            (d.prefix(), d.prefix_len(), d.ipv4_mask_len()),
            (v6("2002::"), 16, 0)
        );
    }

    #[test]
    fn ignores_low_bits_of_parameters() {
        let a = Domain::new(v6("2001:db8:ffff::1"), 32, 8, Ipv4Addr::new(10, 1, 2, 3)).unwrap();
        assert_eq!(a, rfc5969_domain());
    }

    #[test]
    fn rejects_bad_parameters() {
        let p = v6("2001:db8::");
        let z = Ipv4Addr::UNSPECIFIED;
        assert_eq!(Domain::new(p, 32, 33, z), Err(Error::Malformed));
        assert_eq!(Domain::new(p, 129, 32, z), Err(Error::Malformed));
        assert_eq!(Domain::new(p, 97, 0, z), Err(Error::Malformed));
        assert!(Domain::new(p, 96, 0, z).is_ok());
        assert!(Domain::new(p, 128, 32, z).is_ok());
    }

    #[test]
    fn edge_domains() {
        // Prefix length 0, whole IPv4 address in the top 32 bits.
        let d = Domain::new(Ipv6Addr::UNSPECIFIED, 0, 0, Ipv4Addr::UNSPECIFIED).unwrap();
        let v4 = Ipv4Addr::new(198, 51, 100, 7);
        assert_eq!(d.delegated_prefix(v4), (v6("c633:6407::"), 32));
        assert_eq!(d.embedded_v4(&v6("c633:6407::1")), Some(v4));
        // Prefix length 0 and mask 32: nothing embedded, shift 128.
        let d = Domain::new(Ipv6Addr::UNSPECIFIED, 0, 32, v4).unwrap();
        assert_eq!(
            d.delegated_prefix(Ipv4Addr::new(1, 2, 3, 4)),
            (Ipv6Addr::UNSPECIFIED, 0)
        );
        assert_eq!(d.embedded_v4(&v6("ffff::")), Some(v4));
        // IPv4 bits ending exactly at bit 128.
        let d = Domain::new(v6("2001:db8::"), 96, 0, Ipv4Addr::UNSPECIFIED).unwrap();
        assert_eq!(d.delegated_prefix(v4), (v6("2001:db8::c633:6407"), 128));
        assert_eq!(d.embedded_v4(&v6("2001:db8::c633:6407")), Some(v4));
    }
}
