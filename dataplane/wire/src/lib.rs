//! Zero-copy wire formats for the xrelay 6to4 / Teredo relay.
//!
//! Every header is a typed view `Packet<T: AsRef<[u8]>>` over a byte buffer in
//! the style of smoltcp: construct with [`ipv4::Packet::new_unchecked`] or
//! `new_checked`, and once `check_len` has succeeded no accessor panics, so
//! the engine performs exactly one length check per header on the hot path.
//! Headers that the relay builds from scratch also have a small `Repr` with
//! `parse` / `emit` / `buffer_len`.
//!
//! Beside the header views the crate holds the address codecs the relay
//! decides on: 6to4 ([`sixtofour`], RFC 3056/3068), its generalisation 6rd
//! ([`sixrd`], RFC 5969), Teredo ([`teredo`], RFC 4380/5991/6081) and the
//! explicit IPv4/IPv6 acceptance tables of SPEC §1.1/§1.2 ([`addr`]).
//!
//! The crate is `no_std`, allocation-free, dependency-free and forbids
//! `unsafe`.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

use core::fmt;

pub mod addr;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod sixrd;
pub mod sixtofour;
pub mod teredo;
pub mod udp;

#[cfg(test)]
mod tests;

/// Why a buffer could not be viewed or parsed as the requested header.
///
/// Kept tiny and `Copy` so that the engine can map it into a drop reason
/// without any allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the header or than a length field claims.
    Truncated,
    /// A field holds a value the format does not allow.
    Malformed,
    /// A checksum did not verify.
    Checksum,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Checksum => "checksum mismatch",
        })
    }
}

impl core::error::Error for Error {}

/// Result type of this crate.
pub type Result<T> = core::result::Result<T, Error>;

/// Big-endian field helpers shared by the header views.
///
/// Callers only pass offsets that `check_len` has already proved to be in
/// bounds; the helpers still never panic on their own (out-of-range reads
/// return zero and out-of-range writes are dropped) so that a view built with
/// `new_unchecked` and never checked cannot bring the process down either.
pub(crate) mod bytes {
    #[inline]
    pub(crate) fn read_u16(buf: &[u8], at: usize) -> u16 {
        match buf.get(at..at.wrapping_add(2)) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    #[inline]
    pub(crate) fn read_u32(buf: &[u8], at: usize) -> u32 {
        match buf.get(at..at.wrapping_add(4)) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    #[inline]
    pub(crate) fn read_u8(buf: &[u8], at: usize) -> u8 {
        buf.get(at).copied().unwrap_or(0)
    }

    #[inline]
    pub(crate) fn read_array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = buf.get(at..at.wrapping_add(N)) {
            out.copy_from_slice(src);
        }
        out
    }

    #[inline]
    pub(crate) fn write_u8(buf: &mut [u8], at: usize, value: u8) {
        if let Some(b) = buf.get_mut(at) {
            *b = value;
        }
    }

    #[inline]
    pub(crate) fn write_u16(buf: &mut [u8], at: usize, value: u16) {
        write_bytes(buf, at, &value.to_be_bytes());
    }

    #[inline]
    pub(crate) fn write_u32(buf: &mut [u8], at: usize, value: u32) {
        write_bytes(buf, at, &value.to_be_bytes());
    }

    #[inline]
    pub(crate) fn write_bytes(buf: &mut [u8], at: usize, value: &[u8]) {
        if let Some(dst) = buf.get_mut(at..at.wrapping_add(value.len())) {
            dst.copy_from_slice(value);
        }
    }

    /// `buf[from..to]` or an empty slice when the range does not fit.
    #[inline]
    pub(crate) fn slice(buf: &[u8], from: usize, to: usize) -> &[u8] {
        buf.get(from..to).unwrap_or(&[])
    }

    /// `buf[from..to]` or an empty slice when the range does not fit.
    #[inline]
    pub(crate) fn slice_mut(buf: &mut [u8], from: usize, to: usize) -> &mut [u8] {
        buf.get_mut(from..to).unwrap_or(&mut [])
    }
}
