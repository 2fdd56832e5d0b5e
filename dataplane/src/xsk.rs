//! The AF_XDP I/O layer: UMEM, socket, the four rings, wake-ups. It wraps
//! the `xdp` crate 0.8 (DESIGN §2) behind [`Rings`], so the ring loop
//! (`worker`) and the per-batch function (`batch`) never name it, and the
//! crate can be swapped; tests drive the same loop with an in-memory
//! [`Rings`].
//!
//! Chunk layout (aligned mode, frame size 2048 or 4096). The kernel
//! writes a received frame at `chunk + headroom + XDP_PACKET_HEADROOM`
//! (`xp_init_xskb_addr`/`xp_alloc`: its 256 reserved bytes sit right in
//! front of the data, after ours); the `xdp` crate's `Packet` sees the same
//! bytes as `data = chunk + 256`, `head = headroom`:
//!
//! ```text
//!  chunk  [ 256 + headroom bytes .......................... | frame (len) ........ | tail ]
//!         ^ chunk             ^ Packet data (chunk + 256)     ^ chunk + 256 + headroom
//!                             [ Frame buf: frame_size - 256 bytes; Frame head = headroom ]
//! ```
//!
//! The engine's `Frame` is built over the `Packet` data area with
//! `head = headroom`, so encapsulation may grow the frame by at most
//! `headroom` bytes: the UMEM headroom must hold the 28-byte Teredo
//! encapsulation plus a 4-byte VLAN tag ([`MIN_HEADROOM`]; [`map_umem`]
//! refuses less, with which the engine would drop with `no_headroom`). (Once a frame is on the
//! RX ring the whole chunk is ours, and a TX descriptor may start anywhere
//! in it; we just never need the first 256 bytes.) The XDP program must
//! not move the frame start (`bpf_xdp_adjust_head`): the crate assumes
//! `head = headroom` for every received frame.

//! What the `xdp` crate does not do, done here (DESIGN §2):
//! - need_wakeup: the crate binds with `XDP_USE_NEED_WAKEUP` (wakable rings)
//!   but does not expose the rings' flags word; we map the fill and TX ring
//!   pages a second time, read-only, before bind, and read the flag.
//! - our own TX kick: in copy mode the kernel transmits only inside
//!   `sendto` (at most its TX budget per call), a full burst can return
//!   EAGAIN after queueing part, and the crate does not kick when a send
//!   adds nothing; so the loop kicks whenever frames are in flight.
//! - the crate's producer `reserve` is all-or-nothing: TX and fill requests
//!   are sized from our own counts of frames handed to the kernel.
//! - bind retry on `EBUSY` (a queue re-bound right after a restart), and
//!   `auto` = zero-copy, then copy with a log line.
//! - busy-poll socket options on the raw fd.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use memmap2::{Mmap, MmapOptions};

use crate::rings::{Burst, Kick, Packet, Rings, Slab, Umem, XskStats};

/// The kernel's reserved headroom at the start of every chunk.
pub const XDP_PACKET_HEADROOM: usize = xdp::libc::xdp::XDP_PACKET_HEADROOM as usize;
/// Smallest UMEM headroom: Teredo encapsulation (20 + 8) and an 802.1Q tag.
pub const MIN_HEADROOM: usize = 28 + 4;

/// `XDP_MAX_TX_SKB_BUDGET` (Linux 6.16+): frames one copy-mode `sendto` may send.
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// How to bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy, falling back to copy with a log line.
    Auto,
    Copy,
    ZeroCopy,
}

/// Failures of the I/O layer; each names the call and the interface.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("interface {iface}: not found")]
    NoInterface { iface: String },
    #[error("{call} (interface {iface}, queue {queue}): {source}")]
    Sys {
        call: &'static str,
        iface: String,
        queue: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("{call} (interface {iface}, queue {queue}): {detail}")]
    Xdp {
        call: &'static str,
        iface: String,
        queue: u32,
        detail: String,
    },
    #[error("UMEM: {0}")]
    Umem(String),
}

/// A free frame of `umem` (head at the UMEM headroom, empty).
///
/// The crate's allocation is `unsafe` because a `Packet` is a raw pointer
/// into the UMEM's mapping: it must not be used after the UMEM is dropped.
/// In this crate every packet lives next to its UMEM (in a
/// `batch::Side`'s bursts, or in the rings of the same side) and is
/// returned to it (TX ring or free list) within an iteration, so this
/// wrapper is the one place that makes the promise.
#[inline]
pub fn alloc_frame(umem: &mut Umem) -> Option<Packet> {
    // SAFETY: see above: the packet never outlives `umem`.
    unsafe { umem.alloc() }
}

/// Socket settings.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    pub iface: String,
    pub queue: u32,
    /// Entries of each of the four rings (power of two).
    pub ring_size: u32,
    pub bind: BindMode,
    /// `Some(budget)`: prefer busy polling with this budget.
    pub busy_poll: Option<u32>,
    /// Frames per copy-mode `sendto` (0: kernel default, 32).
    pub tx_budget: u32,
}

/// A ring's flags word, read through our own read-only mapping.
/// `None` on kernels without a flags word (before 5.4): always wake.
struct RingFlags {
    map: Option<Mmap>,
    off: usize,
}

impl RingFlags {
    #[inline]
    fn need_wakeup(&self) -> bool {
        let Some(map) = &self.map else { return true };
        if self.off + 4 > map.len() || !self.off.is_multiple_of(4) {
            return true;
        }
        // SAFETY: in bounds and 4-aligned (checked; the mapping is
        // page-aligned); the kernel updates this word concurrently, so it is
        // read atomically. The mapping lives as long as `self`.
        let w = unsafe { &*map.as_ptr().add(self.off).cast::<AtomicU32>() };
        w.load(Ordering::Acquire) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

/// A bound AF_XDP socket and its rings (the real [`Rings`]).
pub struct XskRings {
    // Rings before the socket: their mappings go before the fd closes.
    fill: xdp::WakableFillRing,
    rx: xdp::RxRing,
    comp: xdp::CompletionRing,
    tx: xdp::WakableTxRing,
    fill_flags: RingFlags,
    tx_flags: RingFlags,
    socket: xdp::socket::XdpSocket,
    iface: String,
    queue: u32,
    zerocopy: bool,
    busy_poll: bool,
    ring_size: usize,
    /// Frames given to TX and not yet reclaimed.
    in_flight: usize,
    /// Frames given to the fill ring and not yet received.
    rx_outstanding: usize,
    /// `XDP_MAX_TX_SKB_BUDGET` when the kernel took it.
    tx_budget: Option<u32>,
}

impl std::fmt::Debug for XskRings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskRings")
            .field("iface", &self.iface)
            .field("queue", &self.queue)
            .field("zerocopy", &self.zerocopy)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

fn sys<'a>(
    call: &'static str,
    cfg: &'a SocketConfig,
) -> impl FnOnce(std::io::Error) -> IoError + 'a {
    move |source| IoError::Sys {
        call,
        iface: cfg.iface.clone(),
        queue: cfg.queue,
        source,
    }
}

fn xdp_err(call: &'static str, cfg: &SocketConfig, e: impl std::fmt::Debug) -> IoError {
    IoError::Xdp {
        call,
        iface: cfg.iface.clone(),
        queue: cfg.queue,
        detail: format!("{e:?}"),
    }
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: `fd` is an open socket owned by the caller; the option value
    // is a live `c_int` whose size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn map_flags(fd: RawFd, pgoff: u64, flags_off: Option<u64>) -> std::io::Result<RingFlags> {
    let Some(flags_off) = flags_off else {
        return Ok(RingFlags { map: None, off: 0 });
    };
    let len = flags_off as usize + 4;
    // SAFETY: a read-only shared mapping of a ring the socket already
    // created (XDP_*_RING set); the kernel keeps the ring alive while any
    // mapping exists. We only read the flags word, atomically.
    let map = unsafe { MmapOptions::new().offset(pgoff).len(len).map(fd) }?;
    Ok(RingFlags {
        map: Some(map),
        off: flags_off as usize,
    })
}

impl XskRings {
    /// Creates a socket on `cfg.iface` queue `cfg.queue` over `umem`: rings,
    /// need-wakeup flag mappings, options, bind (zero-copy/copy per
    /// `cfg.bind`, retrying `EBUSY`). `log` receives the fallback line.
    pub fn open(
        umem: &Umem,
        cfg: &SocketConfig,
        log: &mut dyn FnMut(String),
    ) -> Result<XskRings, IoError> {
        let name = CString::new(cfg.iface.clone()).map_err(|_| IoError::NoInterface {
            iface: cfg.iface.clone(),
        })?;
        let nic = xdp::nic::NicIndex::lookup_by_name(&name)
            .map_err(sys("if_nametoindex", cfg))?
            .ok_or_else(|| IoError::NoInterface {
                iface: cfg.iface.clone(),
            })?;
        let modes: &[BindMode] = match cfg.bind {
            BindMode::Auto => &[BindMode::ZeroCopy, BindMode::Copy],
            m @ (BindMode::Copy | BindMode::ZeroCopy) => match m {
                BindMode::Copy => &[BindMode::Copy],
                _ => &[BindMode::ZeroCopy],
            },
        };
        let mut last = None;
        for (i, mode) in modes.iter().enumerate() {
            match Self::open_mode(umem, cfg, nic, *mode) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    if i + 1 < modes.len() {
                        log(format!(
                            "{} queue {}: zero-copy bind failed ({e}); falling back to copy mode",
                            cfg.iface, cfg.queue
                        ));
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| xdp_err("bind", cfg, "no bind mode")))
    }

    fn open_mode(
        umem: &Umem,
        cfg: &SocketConfig,
        nic: xdp::nic::NicIndex,
        mode: BindMode,
    ) -> Result<XskRings, IoError> {
        const EBUSY_RETRIES: u32 = 20;
        let ring_cfg = xdp::RingConfigBuilder {
            rx_count: cfg.ring_size,
            tx_count: cfg.ring_size,
            fill_count: cfg.ring_size,
            completion_count: cfg.ring_size,
        }
        .build()
        .map_err(|e| xdp_err("ring config", cfg, e))?;
        let mut attempt = 0;
        loop {
            let mut b = xdp::socket::XdpSocketBuilder::new()
                .map_err(|e| xdp_err("socket(AF_XDP)", cfg, e))?;
            let (rings, mut flags) = b
                .build_wakable_rings(umem, ring_cfg)
                .map_err(|e| xdp_err("UMEM/ring setup", cfg, e))?;
            let fd = b.as_raw_fd();
            // SAFETY: `fd` is the builder's socket, open for this scope.
            let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
            let off = rustix::net::sockopt::xdp_mmap_offsets(bfd)
                .map_err(|e| sys("getsockopt(XDP_MMAP_OFFSETS)", cfg)(e.into()))?;
            // The ring pages can only be mapped before bind (XSK_READY).
            let fill_flags = map_flags(fd, libc::XDP_UMEM_PGOFF_FILL_RING, off.fr.flags)
                .map_err(sys("mmap(fill ring flags)", cfg))?;
            let tx_flags = map_flags(fd, libc::XDP_PGOFF_TX_RING as u64, off.tx.flags)
                .map_err(sys("mmap(tx ring flags)", cfg))?;
            if let Some(budget) = cfg.busy_poll {
                setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PREFER_BUSY_POLL, 1)
                    .map_err(sys("setsockopt(SO_PREFER_BUSY_POLL)", cfg))?;
                setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_BUSY_POLL, 20)
                    .map_err(sys("setsockopt(SO_BUSY_POLL)", cfg))?;
                setsockopt_int(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_BUSY_POLL_BUDGET,
                    budget as libc::c_int,
                )
                .map_err(sys("setsockopt(SO_BUSY_POLL_BUDGET)", cfg))?;
            }
            // Older kernels lack the option (ENOPROTOOPT): keep their 32.
            let tx_budget = (cfg.tx_budget > 0
                && setsockopt_int(
                    fd,
                    libc::SOL_XDP,
                    XDP_MAX_TX_SKB_BUDGET,
                    cfg.tx_budget as libc::c_int,
                )
                .is_ok())
            .then_some(cfg.tx_budget);
            match mode {
                BindMode::ZeroCopy => flags.force_zerocopy(),
                _ => flags.force_copy(),
            }
            match b.bind(nic, cfg.queue, flags) {
                Ok(socket) => {
                    // SAFETY: `socket` owns this fd for the rest of this scope.
                    let sfd = unsafe { BorrowedFd::borrow_raw(socket.raw_fd()) };
                    let zerocopy = rustix::net::sockopt::xdp_options(sfd)
                        .map(|o| {
                            o.contains(rustix::net::xdp::XdpOptionsFlags::XDP_OPTIONS_ZEROCOPY)
                        })
                        .unwrap_or(false);
                    let (Some(rx), Some(tx)) = (rings.rx_ring, rings.tx_ring) else {
                        return Err(xdp_err("ring setup", cfg, "rx or tx ring missing"));
                    };
                    let n = cfg.ring_size as usize;
                    return Ok(XskRings {
                        fill: rings.fill_ring,
                        rx,
                        comp: rings.completion_ring,
                        tx,
                        fill_flags,
                        tx_flags,
                        socket,
                        iface: cfg.iface.clone(),
                        queue: cfg.queue,
                        zerocopy,
                        busy_poll: cfg.busy_poll.is_some(),
                        ring_size: n,
                        in_flight: 0,
                        rx_outstanding: 0,
                        tx_budget,
                    });
                }
                Err(xdp::socket::SocketError::Bind(e))
                    if e.raw_os_error() == Some(libc::EBUSY) && attempt < EBUSY_RETRIES =>
                {
                    // DESIGN §2: re-binding a queue right after a restart
                    // can fail once with EBUSY while the old socket is torn down.
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(xdp::socket::SocketError::Bind(e)) => {
                    return Err(sys(
                        if mode == BindMode::ZeroCopy {
                            "bind(XDP_ZEROCOPY)"
                        } else {
                            "bind(XDP_COPY)"
                        },
                        cfg,
                    )(e))
                }
                Err(e) => return Err(xdp_err("bind", cfg, e)),
            }
        }
    }

    pub fn zerocopy(&self) -> bool {
        self.zerocopy
    }
    /// The copy-mode TX budget per `sendto`, when the kernel accepted ours.
    pub fn tx_budget(&self) -> Option<u32> {
        self.tx_budget
    }
    /// The rings' need_wakeup flags now: (fill, TX).
    pub fn wakeup_flags(&self) -> (bool, bool) {
        (self.fill_flags.need_wakeup(), self.tx_flags.need_wakeup())
    }
    pub fn raw_fd(&self) -> RawFd {
        self.socket.raw_fd()
    }
    /// The socket, for the XSKMAP.
    pub fn socket(&self) -> &xdp::socket::XdpSocket {
        &self.socket
    }

    fn wake(&self, tx: bool) -> Kick {
        let fd = self.socket.raw_fd();
        // SAFETY: `fd` is our bound socket; a zero-length send/recv with
        // null buffers is the AF_XDP wake-up and touches no user memory.
        let r = unsafe {
            if tx {
                libc::sendto(
                    fd,
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            } else {
                libc::recvfrom(
                    fd,
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            }
        };
        if r >= 0 {
            return Kick::Sent;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::EINTR) => Kick::Busy,
            _ => Kick::Failed,
        }
    }
}

impl Rings for XskRings {
    #[inline]
    fn reclaim(&mut self, umem: &mut Umem, max: usize) -> usize {
        let n = self.comp.dequeue(umem, max);
        self.in_flight = self.in_flight.saturating_sub(n);
        n
    }

    #[inline]
    fn refill(&mut self, umem: &mut Umem, max: usize) -> usize {
        // The crate reserves all or nothing. Frames given to the kernel and
        // not yet received bound the fill ring's occupancy from above, so
        // `ring - rx_outstanding` entries are surely free. The bound is
        // loose when frames wait in the RX ring (or, in zero-copy mode, in
        // the NIC's ring): then probe with smaller requests.
        let want = max.min(umem.allocatable()).min(self.ring_size);
        let sure = want.min(self.ring_size.saturating_sub(self.rx_outstanding));
        let mut total = 0;
        for i in 0..4 {
            let left = want - total;
            let n = match i {
                0 => sure,
                1 => left.min(256),
                2 => left.min(64),
                _ => left.min(8),
            };
            if n == 0 {
                continue;
            }
            // SAFETY: the UMEM outlives the socket: both are owned by the
            // worker's side, rings dropped first.
            match unsafe { self.fill.enqueue(umem, n, false) } {
                Ok(k) => total += k,
                Err(_) => break,
            }
            if total == want {
                break;
            }
        }
        self.rx_outstanding += total;
        total
    }

    #[inline]
    fn receive(&mut self, umem: &Umem, into: &mut Burst) -> usize {
        // SAFETY: the packets are returned to this UMEM (TX ring or free
        // list) within the batch, before the UMEM can be dropped.
        let n = unsafe { self.rx.recv(umem, into) };
        self.rx_outstanding = self.rx_outstanding.saturating_sub(n);
        n
    }

    #[inline]
    fn tx_room(&self) -> usize {
        // Our in-flight count bounds the TX ring's occupancy from above, so
        // this never exceeds its free entries and the crate's
        // all-or-nothing reserve succeeds.
        self.ring_size.saturating_sub(self.in_flight)
    }

    #[inline]
    fn transmit(&mut self, from: &mut Burst) -> usize {
        if from.is_empty() || from.len() > self.tx_room() {
            return 0;
        }
        // SAFETY: the frames belong to the UMEM this socket is registered
        // with, which outlives it (the worker's side drops rings first).
        let sent = unsafe { self.tx.send(from, false) }.unwrap_or(0);
        self.in_flight += sent;
        sent
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }

    #[inline]
    fn kick_tx(&mut self) -> Kick {
        if self.in_flight == 0 {
            return Kick::NotNeeded;
        }
        // Copy mode transmits only inside sendto, whatever the flag says.
        if self.zerocopy && !self.tx_flags.need_wakeup() {
            return Kick::NotNeeded;
        }
        self.wake(true)
    }

    #[inline]
    fn kick_rx(&mut self) -> Kick {
        if self.busy_poll || self.fill_flags.need_wakeup() {
            self.wake(false)
        } else {
            Kick::NotNeeded
        }
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.socket.raw_fd())
    }

    fn stats(&self) -> Option<XskStats> {
        // SAFETY: the socket owns this fd for the duration of the call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.socket.raw_fd()) };
        let s = rustix::net::sockopt::xdp_statistics(fd).ok()?;
        Some(XskStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full.unwrap_or(0),
            fill_ring_empty: s.rx_fill_ring_empty_descs.unwrap_or(0),
            tx_ring_empty: s.tx_ring_empty_descs.unwrap_or(0),
        })
    }
}

/// Sleeps until one of `fds` is readable or `timeout` passes.
pub fn wait_readable(fds: &[RawFd], timeout: Duration) {
    let mut pfds: [libc::pollfd; 4] = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let n = fds.len().min(pfds.len());
    for (p, fd) in pfds.iter_mut().zip(fds.iter()) {
        p.fd = *fd;
        p.events = libc::POLLIN;
    }
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfds` is a live array of `n` initialised pollfd entries.
    let _ = unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, ms) };
}

/// Starts loading the cache line at `addr` (a hint: never faults, never
/// waits; a no-op off x86_64).
#[inline(always)]
pub fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is part of SSE, which every x86_64 CPU has; a
    // prefetch of any address, mapped or not, has no architectural effect.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Asks the kernel to back `[addr, addr + len)` with transparent huge
/// pages (`MADV_HUGEPAGE`), over the 2 MiB-aligned part of the range;
/// returns the bytes advised (0: the range holds no aligned 2 MiB). With
/// THP in `madvise` mode (the Debian default) large tables otherwise get
/// 4 KiB pages. Failure only costs TLB misses.
pub fn advise_hugepages(addr: usize, len: usize) -> std::io::Result<usize> {
    const HUGE: usize = 2 << 20;
    let start = addr.div_ceil(HUGE) * HUGE;
    let end = (addr + len) / HUGE * HUGE;
    if end <= start {
        return Ok(0);
    }
    // SAFETY: the range lies inside one live allocation of the caller
    // (`addr`, `len` describe it) and is page-aligned; MADV_HUGEPAGE only
    // changes how the kernel backs it, never its contents or mapping.
    let r = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    if r == 0 {
        Ok(end - start)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Nanoseconds of CLOCK_MONOTONIC (the heartbeat and the engine's `Now`).
#[inline]
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_moves_forward() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
    }
}
