//! UDP header (RFC 768), the Teredo transport.
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |   Source Port   |    Dest Port    |
//! +--------+--------+--------+--------+
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! |          payload ...              |
//! ```
//!
//! Invariant after [`Packet::check_len`]: `8 <= len() <= buffer length`;
//! [`Packet::payload`] is `8..len()`, so bytes after the datagram (IPv4
//! padding) never reach the Teredo parser. Checksums cover `len()` bytes.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::bytes::{read_u16, slice, slice_mut, write_u16};
use crate::checksum;
use crate::{Error, Result};

mod field {
    use core::ops::Range;

    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const LENGTH: Range<usize> = 4..6;
    pub(super) const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

const PROTOCOL_UDP: u8 = 17;

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks `8 <= length field <= buffer length` (check T4-02).
    ///
    /// [`Error::Truncated`] when the buffer is shorter than the header or the
    /// length field, [`Error::Malformed`] when the length field is below 8.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let buf_len = self.buffer.as_ref().len();
        let len = usize::from(self.len());
        if buf_len < HEADER_LEN {
            Err(Error::Truncated)
        } else if len < HEADER_LEN {
            Err(Error::Malformed)
        } else if buf_len < len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Length field: header plus payload.
    #[inline]
    #[expect(
        clippy::len_without_is_empty,
        reason = "a protocol field, not a container"
    )]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Payload, `8..len()`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        slice(self.buffer.as_ref(), HEADER_LEN, usize::from(self.len()))
    }

    #[inline]
    fn datagram(&self) -> &[u8] {
        slice(self.buffer.as_ref(), 0, usize::from(self.len()))
    }

    #[inline]
    fn sum_v4(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> u16 {
        let len = self.len();
        checksum::combine(&[
            checksum::pseudo_header_v4(src, dst, PROTOCOL_UDP, u32::from(len)),
            checksum::data(self.datagram()),
        ])
    }

    #[inline]
    fn sum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
        let len = self.len();
        checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, PROTOCOL_UDP, u32::from(len)),
            checksum::data(self.datagram()),
        ])
    }

    /// Verifies the checksum over IPv4; a zero field means "no checksum"
    /// (RFC 768) and passes.
    #[inline]
    pub fn verify_checksum_v4(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> bool {
        self.checksum() == 0 || self.sum_v4(src, dst) == 0xffff
    }

    /// Verifies the checksum over IPv6, where it is mandatory (RFC 8200
    /// §8.1): a zero field fails.
    #[inline]
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        self.checksum() != 0 && self.sum_v6(src, dst) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, port);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, port);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, checksum);
    }

    /// Mutable payload, `8..len()`.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        slice_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }

    /// Computes and writes the checksum over IPv4 (length field, ports and
    /// payload must already be in place). A computed zero is sent as
    /// `0xffff`, since zero means "no checksum" (RFC 768).
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: &Ipv4Addr, dst: &Ipv4Addr) {
        self.set_checksum(0);
        let sum = self.sum_v4(src, dst);
        self.set_checksum(nonzero(!sum));
    }

    /// Computes and writes the checksum over IPv6 (zero sent as `0xffff`,
    /// RFC 8200 §8.1).
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let sum = self.sum_v6(src, dst);
        self.set_checksum(nonzero(!sum));
    }
}

#[inline]
const fn nonzero(checksum: u16) -> u16 {
    if checksum == 0 {
        0xffff
    } else {
        checksum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
    const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 118);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    /// SPEC §5.7 step 1: indirect bubble UDP datagram (checksum 0xfb0b).
    const STEP1_UDP: [u8; 48] = [
        0x0d, 0xd9, 0x0d, 0xd8, 0x00, 0x30, 0xfb, 0x0b, 0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3b,
        0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xfe, 0x20, 0x01, 0x00, 0x00, 0xc6, 0x33, 0x64, 0x76, 0x00, 0x00, 0xdf, 0xff, 0x3f,
        0xff, 0xfd, 0xf5,
    ];

    /// SPEC §5.7 step 2: the client's direct reply bubble (checksum 0x5183).
    const STEP2_UDP: [u8; 48] = [
        0x20, 0x00, 0x0d, 0xd9, 0x00, 0x30, 0x51, 0x83, 0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3b,
        0x00, 0x20, 0x01, 0x00, 0x00, 0xc6, 0x33, 0x64, 0x76, 0x00, 0x00, 0xdf, 0xff, 0x3f, 0xff,
        0xfd, 0xf5, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xfe,
    ];

    fn refill(bytes: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let mut buf = [0u8; 128];
        buf[..bytes.len()].copy_from_slice(bytes);
        let mut p = Packet::new_unchecked(&mut buf[..bytes.len()]);
        p.set_checksum(0x1234);
        p.fill_checksum_v4(&src, &dst);
        let p = Packet::new_checked(&buf[..bytes.len()]).unwrap();
        assert!(p.verify_checksum_v4(&src, &dst));
        p.checksum()
    }

    #[test]
    fn reads_step1_bubble() {
        let p = Packet::new_checked(&STEP1_UDP[..]).unwrap();
        assert_eq!(p.src_port(), 3545);
        assert_eq!(p.dst_port(), 3544);
        assert_eq!(p.len(), 48);
        assert_eq!(p.checksum(), 0xfb0b);
        assert_eq!(p.payload(), &STEP1_UDP[8..]);
        assert!(p.verify_checksum_v4(&RELAY, &SERVER));
        assert!(!p.verify_checksum_v4(&RELAY, &CLIENT));
    }

    #[test]
    fn spec_5_7_checksums() {
        assert_eq!(refill(&STEP1_UDP, RELAY, SERVER), 0xfb0b);
        assert_eq!(refill(&STEP2_UDP, CLIENT, RELAY), 0x5183);

        // Step 2 queued reply to the client (UDP checksum 0x397f) and step 3
        // data from the client (0x397e): UDP header ‖ IPv6 packet.
        let ipv6_reply: [u8; 56] = [
            0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x3a, 0x3f, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x00, 0x00,
            0xc6, 0x33, 0x64, 0x76, 0x00, 0x00, 0xdf, 0xff, 0x3f, 0xff, 0xfd, 0xf5, 0x81, 0x00,
            0x39, 0xb6, 0x42, 0x42, 0x00, 0x07, 0x74, 0x65, 0x72, 0x65, 0x64, 0x6f, 0x21, 0x21,
        ];
        let mut dgram = [0u8; 64];
        dgram[..8].copy_from_slice(&[0x0d, 0xd9, 0x20, 0x00, 0x00, 0x40, 0x00, 0x00]);
        dgram[8..].copy_from_slice(&ipv6_reply);
        assert_eq!(refill(&dgram, RELAY, CLIENT), 0x397f);

        let ipv6_data: [u8; 56] = [
            0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x3a, 0x40, 0x20, 0x01, 0x00, 0x00, 0xc6, 0x33,
            0x64, 0x76, 0x00, 0x00, 0xdf, 0xff, 0x3f, 0xff, 0xfd, 0xf5, 0x20, 0x01, 0x0d, 0xb8,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00,
            0x3a, 0xb5, 0x42, 0x42, 0x00, 0x08, 0x74, 0x65, 0x72, 0x65, 0x64, 0x6f, 0x21, 0x21,
        ];
        dgram[..8].copy_from_slice(&[0x20, 0x00, 0x0d, 0xd9, 0x00, 0x40, 0x00, 0x00]);
        dgram[8..].copy_from_slice(&ipv6_data);
        assert_eq!(refill(&dgram, CLIENT, RELAY), 0x397e);

        // Step 3b: the same plus the RFC 6081 trailer, UDP length 0x46 → 0x9ad0.
        let mut long = [0u8; 70];
        long[..64].copy_from_slice(&dgram);
        long[64..].copy_from_slice(&[0x01, 0x04, 0xde, 0xad, 0xbe, 0xef]);
        long[4..6].copy_from_slice(&0x46u16.to_be_bytes());
        assert_eq!(refill(&long, CLIENT, RELAY), 0x9ad0);
    }

    #[test]
    fn zero_checksum_rules() {
        let mut buf = STEP1_UDP;
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_checksum(0);
        assert!(p.verify_checksum_v4(&RELAY, &SERVER));
        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d6: Ipv6Addr = "2001:db8::2".parse().unwrap();
        assert!(!p.verify_checksum_v6(&s6, &d6));
        p.fill_checksum_v6(&s6, &d6);
        assert!(p.verify_checksum_v6(&s6, &d6));
        assert!(!p.verify_checksum_v6(&d6, &d6));
    }

    #[test]
    fn zero_sum_is_sent_as_ffff() {
        // Choose a payload word that makes the complemented sum zero.
        let src = Ipv4Addr::new(0, 0, 0, 0);
        let dst = Ipv4Addr::new(0, 0, 0, 0);
        let mut buf = [0u8; 10];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_len(10);
        let partial = checksum::combine(&[
            checksum::pseudo_header_v4(&src, &dst, 17, 10),
            checksum::data(&[0, 0, 0, 0, 0, 10, 0, 0]),
        ]);
        p.payload_mut().copy_from_slice(&(!partial).to_be_bytes());
        p.fill_checksum_v4(&src, &dst);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum_v4(&src, &dst));
    }

    #[test]
    fn check_len_cases() {
        assert_eq!(
            Packet::new_checked(&STEP1_UDP[..7]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Packet::new_checked(&STEP1_UDP[..47]).unwrap_err(),
            Error::Truncated
        );
        let mut bad = STEP1_UDP;
        bad[5] = 7;
        assert_eq!(Packet::new_checked(&bad[..]).unwrap_err(), Error::Malformed);
        bad[5] = 8;
        assert!(Packet::new_checked(&bad[..]).unwrap().payload().is_empty());
    }

    #[test]
    fn setters_round_trip() {
        let mut buf = [0u8; 12];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(3545);
        p.set_dst_port(8192);
        p.set_len(12);
        p.payload_mut().copy_from_slice(b"abcd");
        p.fill_checksum_v4(&RELAY, &CLIENT);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (3545, 8192, 12));
        assert_eq!(p.payload(), b"abcd");
        assert!(p.verify_checksum_v4(&RELAY, &CLIENT));
    }
}
