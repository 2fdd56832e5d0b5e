//! ICMPv4 messages (RFC 792) the relay receives about its tunnels.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  unused                       |  Next-Hop MTU (3/4, RFC 1191) |
//! |  Identifier                   |  Sequence Number (echo)       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  quoted IPv4 header + at least 8 octets (errors) / data ...   |
//! ```
//!
//! SPEC §2.5.3 / checks E-01..E-04: the relay reads the quoted proto-41 or
//! UDP packet from [`Packet::payload`]. The checksum covers the whole
//! message and has no pseudo-header.

use crate::bytes::{read_u16, read_u8, slice, slice_mut, write_u16, write_u8};
use crate::checksum;
use crate::{Error, Result};

/// ICMPv4 message types (RFC 792).
pub mod msg_type {
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination Unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter Problem.
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Destination Unreachable codes the relay distinguishes (RFC 4213 §3.4).
pub mod unreach_code {
    /// Fragmentation needed and DF set (RFC 1191): carries the next-hop MTU.
    pub const FRAG_NEEDED: u8 = 4;
    /// Source route failed: never translated into ICMPv6 (E-02).
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
}

mod field {
    use core::ops::Range;

    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: Range<usize> = 2..4;
    pub(super) const REST: Range<usize> = 4..8;
    pub(super) const ECHO_IDENT: Range<usize> = 4..6;
    pub(super) const ECHO_SEQNO: Range<usize> = 6..8;
    pub(super) const NEXT_HOP_MTU: Range<usize> = 6..8;
}

/// Length of the ICMPv4 header.
pub const HEADER_LEN: usize = field::REST.end;

/// A read/write view of an ICMPv4 message.
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

    /// Checks that the 8-byte header is present.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
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

    /// Message type (see [`msg_type`]).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::TYPE)
    }

    /// Message code (see [`unreach_code`]).
    #[inline]
    pub fn msg_code(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::CODE)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Next-hop MTU of a Fragmentation Needed message (RFC 1191 §4); zero
    /// from routers that predate RFC 1191.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU.start)
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// Everything after the 8-byte header: the quoted datagram of an error.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        slice(buf, HEADER_LEN, buf.len())
    }

    /// Verifies the checksum over the whole buffer (RFC 792).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: u8) {
        write_u8(self.buffer.as_mut(), field::TYPE, value);
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, value: u8) {
        write_u8(self.buffer.as_mut(), field::CODE, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the next-hop MTU (bytes 6..8).
    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU.start, value);
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, value);
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQNO.start, value);
    }

    /// Zeroes bytes 4..8 (the unused field of most error messages).
    #[inline]
    pub fn clear_reserved(&mut self) {
        let buf = self.buffer.as_mut();
        write_u16(buf, field::REST.start, 0);
        write_u16(buf, field::REST.start + 2, 0);
    }

    /// Mutable access to everything after the 8-byte header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let buf = self.buffer.as_mut();
        let end = buf.len();
        slice_mut(buf, HEADER_LEN, end)
    }

    /// Computes and writes the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(!sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fragmentation Needed, next-hop MTU 1400, quoting the first 28 bytes
    /// of SPEC §5.3 V6-A1's IPv4 output.
    fn frag_needed() -> [u8; 36] {
        let mut b = [0u8; 36];
        b[..8].copy_from_slice(&[3, 4, 0, 0, 0, 0, 0x05, 0x78]);
        b[8..].copy_from_slice(&[
            0x45, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00, 0x00, 0x40, 0x29, 0x95, 0x32, 0xc0, 0x58,
            0x63, 0x01, 0xc0, 0x00, 0x02, 0x01, 0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x3a, 0x40,
        ]);
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        b
    }

    #[test]
    fn reads_frag_needed() {
        let buf = frag_needed();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.msg_type(), msg_type::DST_UNREACHABLE);
        assert_eq!(p.msg_code(), unreach_code::FRAG_NEEDED);
        assert_eq!(p.next_hop_mtu(), 1400);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 28);
        assert_eq!(p.payload()[9], 41);
        let mut bad = buf;
        bad[20] ^= 0x10;
        assert!(!Packet::new_unchecked(&bad[..]).verify_checksum());
    }

    #[test]
    fn echo_fields_and_known_checksum() {
        // Echo Request id 1 seq 1, no data: sum of 0800 0000 0001 0001 is
        // 0x0802, so the checksum is 0xf7fd.
        let mut buf = [0u8; 8];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(msg_type::ECHO_REQUEST);
        p.set_msg_code(0);
        p.set_echo_ident(1);
        p.set_echo_seq_no(1);
        p.fill_checksum();
        assert_eq!(buf, [8, 0, 0xf7, 0xfd, 0, 1, 0, 1]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (1, 1));
        assert!(p.payload().is_empty());
    }

    #[test]
    fn setters_and_len() {
        assert_eq!(
            Packet::new_checked(&[0u8; 7][..]).unwrap_err(),
            Error::Truncated
        );
        let mut buf = frag_needed();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_next_hop_mtu(1280);
        p.payload_mut()[0] = 0x46;
        p.set_checksum(0xabcd);
        assert_eq!(
            (p.next_hop_mtu(), p.checksum(), p.payload()[0]),
            (1280, 0xabcd, 0x46)
        );
        p.clear_reserved();
        assert_eq!(&buf[4..8], &[0, 0, 0, 0]);
        let p = Packet::new_unchecked(buf);
        assert_eq!(p.into_inner()[0], 3);
    }
}
