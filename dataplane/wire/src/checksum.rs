//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! All functions here return the *folded ones' complement sum*, not yet
//! inverted, so that partial sums (pseudo-header, header, payload) can be
//! [`combine`]d in any order: ones' complement addition is commutative and
//! associative and independent of byte order and word width (RFC 1071 §2(A),
//! §2(B)). A checksum field is the inverse of the combined sum; a received
//! packet verifies when the sum over everything including the field is
//! `0xffff`.
//!
//! Pseudo-headers:
//!
//! ```text
//! IPv4 (RFC 768, RFC 793)          IPv6 (RFC 8200 §8.1)
//! +--------+--------+--------+--------+   +-----------------------------------+
//! |          source address           |   |     source address (16 octets)    |
//! +--------+--------+--------+--------+   +-----------------------------------+
//! |        destination address        |   |  destination address (16 octets)  |
//! +--------+--------+--------+--------+   +-----------------------------------+
//! |  zero  |  proto |  upper length   |   |    upper-layer length (32 bits)   |
//! +--------+--------+--------+--------+   +--------------------------+--------+
//!                                         |        zero (24 bits)    |next hdr|
//!                                         +--------------------------+--------+
//! ```

use core::net::{Ipv4Addr, Ipv6Addr};

/// Folds a wide ones' complement accumulator down to 16 bits.
///
/// Adding the high part back into the low part is the end-around carry of
/// RFC 1071 §2(C), applied until nothing is left above bit 15.
/// Each halving adds the two halves with the carry out wrapped back in; the
/// carry can always be absorbed (a sum that overflowed is at most
/// `2^n − 2`), so two halvings (an `add`/`adc` pair each) reach 16 bits,
/// and a nonzero sum never folds to zero.
#[inline]
const fn fold(sum: u64) -> u16 {
    let (s, c) = (sum as u32).overflowing_add((sum >> 32) as u32);
    let s = s + c as u32;
    let (s, c) = (s as u16).overflowing_add((s >> 16) as u16);
    s + c as u16
}

/// Splits a big-endian 64-bit word into two 32-bit halves so that up to
/// 2^32 words can be added into a `u64` without overflowing.
#[inline]
const fn halves(word: u64) -> u64 {
    (word >> 32) + (word & 0xffff_ffff)
}

/// Folded 16-bit ones' complement sum (RFC 1071) of `data`, not inverted.
///
/// An odd trailing byte is padded with a zero byte on the right, as RFC 1071
/// §4.1 does. The loop adds native-order 64-bit words with end-around carry
/// (an `add`/`adc` pair per word on x86-64) and swaps the folded result
/// once: RFC 1071 §2(B) allows any word width that is a multiple of 16 bits,
/// and a sum taken in swapped byte order is the swapped sum. Every partial
/// word keeps its 16-bit pairs in native order too (a 4-byte tail added as a
/// `u32`, a 2-byte one as a `u16`), and since 2^16 ≡ 1 (mod 0xffff) the bit
/// position a pair is added at does not matter.
#[inline]
#[must_use]
pub fn data(data: &[u8]) -> u16 {
    data_onto(0, data)
}

/// `combine(&[sum, data(bytes)])` in one pass: `bytes` added onto an
/// earlier partial sum (a pseudo-header), folded once.
#[inline]
#[must_use]
pub fn data_onto(sum: u16, data: &[u8]) -> u16 {
    let (blocks, rest) = data.as_chunks::<64>();
    // The partial sum is in network order; the loop sums in native order.
    let mut acc = u64::from(sum.to_be());
    // Small packets (a 64-byte frame's datagram) skip the block loop and
    // its accumulators altogether.
    if !blocks.is_empty() {
        acc = blocks_onto(acc, blocks);
    }
    // Under 64 bytes left: one step per set bit of the length, no loop.
    let mut rest = rest;
    if let Some((w, r)) = rest.split_first_chunk::<32>() {
        let (w, _) = w.as_chunks::<8>();
        for word in w {
            acc = add_carry(acc, u64::from_ne_bytes(*word));
        }
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<16>() {
        let (w, _) = w.as_chunks::<8>();
        for word in w {
            acc = add_carry(acc, u64::from_ne_bytes(*word));
        }
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<8>() {
        acc = add_carry(acc, u64::from_ne_bytes(*w));
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<4>() {
        acc = add_carry(acc, u64::from(u32::from_ne_bytes(*w)));
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<2>() {
        acc = add_carry(acc, u64::from(u16::from_ne_bytes(*w)));
        rest = r;
    }
    if let Some(&b) = rest.first() {
        acc = add_carry(acc, u64::from(u16::from_ne_bytes([b, 0])));
    }
    u16::from_be(fold(acc))
}

/// Whole 64-byte blocks added onto `acc`, into four accumulators so that
/// four carry chains run side by side (one chain is bound by the
/// add → adc latency, two cycles a word).
#[inline]
fn blocks_onto(acc: u64, blocks: &[[u8; 64]]) -> u64 {
    let mut acc = [acc, 0, 0, 0];
    for b in blocks {
        let (w, _) = b.as_chunks::<8>();
        for (i, word) in w.iter().enumerate() {
            acc[i % 4] = add_carry(acc[i % 4], u64::from_ne_bytes(*word));
        }
    }
    add_carry(add_carry(acc[0], acc[1]), add_carry(acc[2], acc[3]))
}

/// `a + b` with the carry out of bit 63 added back in (RFC 1071 §2(C)).
#[inline(always)]
const fn add_carry(a: u64, b: u64) -> u64 {
    let (s, c) = a.overflowing_add(b);
    s + c as u64
}

/// Ones' complement addition of partial sums, folded, not inverted.
#[inline]
#[must_use]
pub fn combine(sums: &[u16]) -> u16 {
    let mut acc: u64 = 0;
    for &s in sums {
        acc += u64::from(s);
    }
    fold(acc)
}

/// Sum of the IPv4 pseudo-header (RFC 768 / RFC 793 §3.1), not inverted.
///
/// `length` is the upper-layer length (UDP length field, or the ICMP/TCP
/// segment length).
#[inline]
#[must_use]
pub fn pseudo_header_v4(src: &Ipv4Addr, dst: &Ipv4Addr, protocol: u8, length: u32) -> u16 {
    let acc = u64::from(src.to_bits())
        + u64::from(dst.to_bits())
        + u64::from(protocol)
        + u64::from(length);
    fold(acc)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1), not inverted.
#[inline]
#[must_use]
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let acc = sum_u128(src.to_bits())
        + sum_u128(dst.to_bits())
        + u64::from(next_header)
        + u64::from(length);
    fold(acc)
}

#[inline]
const fn sum_u128(v: u128) -> u64 {
    // Deliberately taking the two 64-bit halves.
    let (hi, lo) = ((v >> 64) as u64, v as u64);
    halves(hi) + halves(lo)
}

/// Incremental update of a checksum *field* after one 16-bit word of the
/// covered data changed from `old` to `new`.
///
/// RFC 1624 eqn. 3, `HC' = ~(~HC + ~m + m')`, which unlike eqn. 2 never
/// produces `0xffff` (negative zero) where a full recomputation would give
/// `0x0000`, and vice versa (RFC 1624 §3). Used for TTL / hop-limit
/// decrements: the TTL shares its word with the protocol field.
#[inline]
#[must_use]
pub fn update(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!checksum) + u64::from(!old) + u64::from(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Textbook 16-bit-at-a-time reference for the fast implementation.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map_or(0, u32::from);
            sum += hi | lo;
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to dd f2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
        // Byte-swapped input gives the byte-swapped sum (RFC 1071 §2(B)).
        let swapped = [0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6];
        assert_eq!(data(&swapped), 0xf2dd);
        // Split across the 8-byte boundary and combined.
        assert_eq!(combine(&[data(&bytes[..4]), data(&bytes[4..])]), 0xddf2);
    }

    #[test]
    fn odd_and_short_lengths() {
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        let nine = [0xff; 9];
        assert_eq!(data(&nine), reference(&nine));
    }

    #[test]
    fn verifies_rfc791_style_header() {
        // SPEC §5.3 V6-A1 outer header; a correct header sums to 0xffff.
        let hdr = [
            0x45, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00, 0x00, 0x40, 0x29, 0x95, 0x32, 0xc0, 0x58,
            0x63, 0x01, 0xc0, 0x00, 0x02, 0x01,
        ];
        assert_eq!(data(&hdr), 0xffff);
    }

    #[test]
    fn pseudo_headers_match_byte_layout() {
        let s4 = Ipv4Addr::new(203, 0, 113, 5);
        let d4 = Ipv4Addr::new(198, 51, 100, 118);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&s4.octets());
        bytes.extend_from_slice(&d4.octets());
        bytes.extend_from_slice(&[0, 17, 0x00, 0x30]);
        assert_eq!(pseudo_header_v4(&s4, &d4, 17, 0x30), data(&bytes));

        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d6: Ipv6Addr = "2001:0:c633:6476:0:dfff:3fff:fdf5".parse().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&s6.octets());
        bytes.extend_from_slice(&d6.octets());
        bytes.extend_from_slice(&0x1_0010u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(pseudo_header_v6(&s6, &d6, 58, 0x1_0010), data(&bytes));
    }

    #[test]
    fn update_on_ttl_decrement() {
        // V6-A1 header with TTL 64 → 63: word 0x4029 becomes 0x3f29.
        let new = update(0x9532, 0x4029, 0x3f29);
        let hdr = [
            0x45, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00, 0x00, 0x3f, 0x29, 0x00, 0x00, 0xc0, 0x58,
            0x63, 0x01, 0xc0, 0x00, 0x02, 0x01,
        ];
        assert_eq!(new, !data(&hdr));
    }

    proptest! {
        #[test]
        fn fast_sum_equals_reference(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(data(&bytes), reference(&bytes));
        }

        #[test]
        fn data_onto_equals_combine(bytes in proptest::collection::vec(any::<u8>(), 0..300), sum in any::<u16>()) {
            prop_assert_eq!(data_onto(sum, &bytes), combine(&[sum, data(&bytes)]));
        }

        #[test]
        fn fold_equals_reference_fold(x in any::<u64>()) {
            // Fold by repeated halving, the textbook way.
            let mut r = x;
            while r > 0xffff {
                r = (r & 0xffff) + (r >> 16);
            }
            prop_assert_eq!(fold(x), r as u16);
        }

        #[test]
        fn sum_splits_at_even_offsets(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            cut in 0usize..100,
        ) {
            let cut = (cut * 2).min(bytes.len() & !1);
            prop_assert_eq!(
                combine(&[data(&bytes[..cut]), data(&bytes[cut..])]),
                data(&bytes)
            );
        }

        #[test]
        fn rfc1624_update_equals_recompute(
            mut words in proptest::array::uniform10(any::<u16>()),
            index in 0usize..10,
            new in any::<u16>(),
        ) {
            // Word 5 is the checksum field of an IPv4 header.
            prop_assume!(index != 5);
            let to_bytes = |w: &[u16; 10]| {
                let mut b = [0u8; 20];
                for (i, v) in w.iter().enumerate() {
                    b[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
                }
                b
            };
            words[5] = 0;
            words[5] = !data(&to_bytes(&words));
            let old = words[index];
            let updated = update(words[5], old, new);
            words[index] = new;
            words[5] = 0;
            let recomputed = !data(&to_bytes(&words));
            prop_assert_eq!(updated, recomputed);
        }
    }
}
