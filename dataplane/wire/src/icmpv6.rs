//! ICMPv6 messages (RFC 4443) as the relay sends and answers them.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  MTU (type 2) / pointer (type 4) / unused (1, 3) /            |
//! |  Identifier | Sequence Number (echo)                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  invoking packet (errors) / data (echo) ...                   |
//! ```
//!
//! The view covers exactly one message: the caller slices the IPv6 payload
//! (not the buffer tail) so that the checksum, which covers the whole
//! message (RFC 4443 §2.3), is computed over the right bytes.

use core::net::Ipv6Addr;

use crate::bytes::{read_u16, read_u32, read_u8, slice, slice_mut, write_u16, write_u32, write_u8};
use crate::checksum;
use crate::{Error, Result};

/// ICMPv6 message types (RFC 4443 §2.1, RFC 4861 §4).
pub mod msg_type {
    /// Destination Unreachable.
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet Too Big.
    pub const PKT_TOO_BIG: u8 = 2;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter Problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Router Solicitation.
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router Advertisement.
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbor Solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor Advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Redirect.
    pub const REDIRECT: u8 = 137;
}

/// Whether `msg_type` is an error message: types 0–127 (RFC 4443 §2.1).
/// No error is ever sent about an error (RFC 4443 §2.4(e), check C-14).
#[inline]
#[must_use]
pub const fn is_error(msg_type: u8) -> bool {
    msg_type < 128
}

mod field {
    use core::ops::Range;

    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: Range<usize> = 2..4;
    pub(super) const MTU: Range<usize> = 4..8;
    pub(super) const ECHO_IDENT: Range<usize> = 4..6;
    pub(super) const ECHO_SEQNO: Range<usize> = 6..8;
}

/// Length of the ICMPv6 header (type, code, checksum and the 4-byte body
/// start that every message the relay handles has).
pub const HEADER_LEN: usize = field::MTU.end;

const NEXT_HEADER_ICMPV6: u8 = 58;

/// A read/write view of an ICMPv6 message.
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

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::CODE)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// MTU of a Packet Too Big message (also the pointer of a Parameter
    /// Problem), bytes 4..8.
    #[inline]
    pub fn mtu(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::MTU.start)
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

    /// Everything after the 8-byte header: the invoking packet of an error,
    /// the data of an echo.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        slice(buf, HEADER_LEN, buf.len())
    }

    #[inline]
    fn sum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
        let buf = self.buffer.as_ref();
        // A message is bounded by the IPv6 payload length, far below 2^32.
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, NEXT_HEADER_ICMPV6, len),
            checksum::data(buf),
        ])
    }

    /// Verifies the checksum over the whole buffer with the IPv6
    /// pseudo-header (RFC 4443 §2.3).
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        self.sum(src, dst) == 0xffff
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

    /// Sets the MTU (Packet Too Big) or pointer (Parameter Problem).
    #[inline]
    pub fn set_mtu(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::MTU.start, value);
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

    /// Zeroes bytes 4..8, the "unused" field of Destination Unreachable and
    /// Time Exceeded, which the sender must initialise to zero (RFC 4443
    /// §3.1, §3.3).
    #[inline]
    pub fn clear_reserved(&mut self) {
        self.set_mtu(0);
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
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let sum = self.sum(src, dst);
        self.set_checksum(!sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// SPEC §5.3 V6-A1 ICMPv6 part: Echo Request id 0x1234 seq 1 "abcd".
    const ECHO: [u8; 12] = [
        0x80, 0x00, 0x98, 0xfe, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64,
    ];

    #[test]
    fn reads_v6_a1_echo() {
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), msg_type::ECHO_REQUEST);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0x98fe);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.payload(), b"abcd");
        let (s, d) = (addr("2001:db8::1"), addr("2002:c000:201::1"));
        assert!(p.verify_checksum(&s, &d));
        assert!(!p.verify_checksum(&d, &d));
        assert!(!is_error(p.msg_type()));
    }

    #[test]
    fn builds_v6_a2_reply() {
        // SPEC §5.3 V6-A2: Echo Reply 2002:c000:201::1 → 2001:db8::1, 0x97fe.
        let mut buf = ECHO;
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(msg_type::ECHO_REPLY);
        p.fill_checksum(&addr("2002:c000:201::1"), &addr("2001:db8::1"));
        assert_eq!(p.checksum(), 0x97fe);
    }

    #[test]
    fn builds_v6_a3_reply() {
        // SPEC §5.3 V6-A3: Echo Reply 2002:c058:6301:: → 2002:c000:201::1,
        // id 1 seq 1 "probe", checksum 0x1480.
        let mut buf = [0u8; 13];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(msg_type::ECHO_REPLY);
        p.set_msg_code(0);
        p.set_echo_ident(1);
        p.set_echo_seq_no(1);
        p.payload_mut().copy_from_slice(b"probe");
        p.fill_checksum(&addr("2002:c058:6301::"), &addr("2002:c000:201::1"));
        assert_eq!(p.checksum(), 0x1480);
    }

    #[test]
    fn packet_too_big_fields() {
        let mut buf = [0xaau8; 16];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(msg_type::PKT_TOO_BIG);
        p.set_msg_code(0);
        p.set_mtu(1480);
        let (s, d) = (addr("2001:db8::ff"), addr("2001:db8::1"));
        p.fill_checksum(&s, &d);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(&buf[4..8], &[0x00, 0x00, 0x05, 0xc8]);
        assert_eq!(p.mtu(), 1480);
        assert!(p.verify_checksum(&s, &d));
        assert!(is_error(p.msg_type()));

        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.clear_reserved();
        assert_eq!(p.mtu(), 0);
    }

    #[test]
    fn check_len() {
        assert_eq!(
            Packet::new_checked(&ECHO[..7]).unwrap_err(),
            Error::Truncated
        );
        assert!(Packet::new_checked(&ECHO[..8])
            .unwrap()
            .payload()
            .is_empty());
        assert!(is_error(msg_type::DST_UNREACHABLE) && is_error(msg_type::PARAM_PROBLEM));
        assert!(!is_error(msg_type::REDIRECT) && !is_error(msg_type::ROUTER_ADVERT));
        assert!(is_error(127) && !is_error(128));
    }
}
