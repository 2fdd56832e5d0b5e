//! A frame inside a buffer that has headroom in front of it.
//!
//! ```text
//!  buf: [ headroom .......... | frame bytes (len) ........ | tailroom ]
//!        0                    head                  head+len      buf.len()
//! ```
//! Encapsulation moves `head` back, decapsulation moves it forward; the bytes
//! of the IPv6 packet never move.

use crate::verdict::Port;

/// Headroom callers leave in front of each frame: enough for the 28-byte
/// Teredo encapsulation, a VLAN tag and a decapsulated frame's growth.
pub const HEADROOM: usize = 256;

/// One frame of a batch.
#[derive(Debug)]
pub struct Frame<'a> {
    buf: &'a mut [u8],
    head: usize,
    len: usize,
    /// Side the frame arrived on.
    pub rx_port: Port,
    /// Side to transmit on, set by the engine with `Verdict::Tx`.
    pub tx_port: Port,
}

impl<'a> Frame<'a> {
    /// `head` and `len` are clamped to the buffer, so a bad descriptor can
    /// never make an accessor panic.
    pub fn new(buf: &'a mut [u8], head: usize, len: usize, rx_port: Port) -> Frame<'a> {
        let head = head.min(buf.len());
        let len = len.min(buf.len() - head);
        Frame {
            buf,
            head,
            len,
            rx_port,
            tx_port: rx_port,
        }
    }
    #[inline]
    pub fn data(&self) -> &[u8] {
        // Two comparisons and no overflowing `head + len`.
        self.buf
            .get(self.head..)
            .and_then(|b| b.get(..self.len))
            .unwrap_or(&[])
    }
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (h, l) = (self.head, self.len);
        self.buf.get_mut(h..h + l).unwrap_or(&mut [])
    }
    #[inline]
    pub fn head(&self) -> usize {
        self.head
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The whole underlying buffer (headroom included).
    #[inline]
    pub fn buf_mut(&mut self) -> &mut [u8] {
        self.buf
    }
    #[inline]
    pub fn buf(&self) -> &[u8] {
        self.buf
    }
    /// Sets the frame bounds the fast lanes computed from bounds they
    /// checked (the new frame lies in the headroom or the old frame). No
    /// test here: every accessor re-checks against the buffer, so wrong
    /// bounds could only yield an empty frame, never a panic.
    #[inline(always)]
    pub(crate) fn set_bounds_checked_by_caller(&mut self, head: usize, len: usize) {
        debug_assert!(head + len <= self.buf.len());
        self.head = head;
        self.len = len;
    }
    /// Sets the frame bounds; returns false (and changes nothing) when they
    /// do not fit the buffer.
    #[inline]
    pub fn set_bounds(&mut self, head: usize, len: usize) -> bool {
        if head
            .checked_add(len)
            .is_some_and(|end| end <= self.buf.len())
        {
            self.head = head;
            self.len = len;
            true
        } else {
            false
        }
    }
}
