//! Next hops from the kernel: the netlink FIB sync (`dp-fib` thread) and
//! the table the workers read once per batch.
//!
//! ```text
//!  kernel ──RTM_*LINK/ROUTE/NEIGH (dump, then RTNLGRP_LINK, NEIGH, IPV4_ROUTE, IPV6_ROUTE)──► dp-fib
//!     FibState (routes of the main table, neighbours, links) ──build──► NextHops (immutable)
//!     NextHopCell: Mutex<Arc<NextHops>> + generation ──(once per batch: one atomic load;
//!                                                      on a new generation, try_lock + Arc clone)──► workers
//! ```
//!
//! A worker never waits: when the generation moved and the cell happens
//! to be locked (the sync is swapping it), it keeps its table one more
//! batch. A change is visible to the workers at their next batch after
//! the sync read the message (microseconds to milliseconds).

pub mod nl;
pub mod table;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

pub use table::{FibState, Hop, NextHops};

/// Where the sync publishes the table.
#[derive(Debug, Default)]
pub struct NextHopCell {
    generation: AtomicU64,
    table: Mutex<Arc<NextHops>>,
}

impl NextHopCell {
    pub fn new() -> Arc<NextHopCell> {
        Arc::new(NextHopCell::default())
    }
    /// Replaces the table (sync thread).
    pub fn publish(&self, t: NextHops) {
        let t = Arc::new(t);
        let mut g = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::replace(&mut *g, t);
        self.generation.fetch_add(1, Ordering::Release);
        drop(g);
        drop(old);
    }
    /// The table as last published.
    pub fn current(&self) -> Arc<NextHops> {
        Arc::clone(&self.table.lock().unwrap_or_else(|e| e.into_inner()))
    }
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
    /// A reader for one worker.
    pub fn reader(self: &Arc<Self>) -> NextHopReader {
        let cur = Arc::clone(&self.table.lock().unwrap_or_else(|e| e.into_inner()));
        NextHopReader {
            cell: Some(Arc::clone(self)),
            seen: self.generation(),
            cur,
        }
    }
}

/// A worker's view: the table it uses for the current batch.
#[derive(Debug)]
pub struct NextHopReader {
    /// `None`: `--next-hops static` (the table stays empty: every lookup
    /// is `Hop::Static`).
    cell: Option<Arc<NextHopCell>>,
    seen: u64,
    cur: Arc<NextHops>,
}

impl Default for NextHopReader {
    fn default() -> Self {
        NextHopReader::fixed()
    }
}

impl NextHopReader {
    /// A reader that never changes (static next hops).
    pub fn fixed() -> NextHopReader {
        NextHopReader {
            cell: None,
            seen: 0,
            cur: Arc::new(NextHops::default()),
        }
    }
    /// Picks up a newer table if there is one (once per batch); true when
    /// it did. Never blocks.
    #[inline]
    pub fn refresh(&mut self) -> bool {
        let Some(cell) = &self.cell else {
            return false;
        };
        let g = cell.generation.load(Ordering::Acquire);
        if g == self.seen {
            return false;
        }
        match cell.table.try_lock() {
            Ok(t) => {
                self.cur = Arc::clone(&t);
                self.seen = g;
                true
            }
            Err(_) => false,
        }
    }
    #[inline]
    pub fn table(&self) -> &NextHops {
        &self.cur
    }
}

/// The `dp-fib` thread: one NETLINK_ROUTE socket subscribed to the link,
/// neighbour and both route groups.
#[derive(Debug)]
pub struct FibSync {
    sock: OwnedFd,
    state: FibState,
    cell: Arc<NextHopCell>,
    seq: u32,
    buf: Vec<u8>,
    msgs: Vec<nl::Msg>,
    /// Full resynchronisations after lost messages (ENOBUFS, overrun).
    pub resyncs: u64,
    /// For `NTF_USE` requests (no groups, non-blocking; only errors come
    /// back, and they are drained unread).
    req: OwnedFd,
    last_refresh: std::time::Instant,
    /// `NTF_USE` requests sent for STALE neighbours the workers used.
    pub refreshes: u64,
    /// Neighbours marked used in tables replaced since the last refresh.
    used_v4: Vec<u32>,
    used_v6: Vec<u128>,
}

/// How often the sync asks the kernel to re-validate the STALE neighbours
/// the workers sent frames to (the kernel's own DELAY/PROBE timers do the
/// rest: a changed or vanished neighbour is known within about 10 s of the
/// request, as for the kernel's own traffic).
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

const RECV_BUF: usize = 1 << 16;
/// How long a dump may take before the sync gives up on it.
const DUMP_TIMEOUT: Duration = Duration::from_secs(5);

fn errno_io(e: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}

impl FibSync {
    /// Opens the socket (subscribed before the dump, so no change is
    /// missed between the two).
    pub fn open(v4_if: &str, v6_if: &str, cell: Arc<NextHopCell>) -> std::io::Result<FibSync> {
        let sock = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(errno_io)?;
        let groups =
            nl::RTMGRP_LINK | nl::RTMGRP_NEIGH | nl::RTMGRP_IPV4_ROUTE | nl::RTMGRP_IPV6_ROUTE;
        rustix::net::bind(&sock, &SocketAddrNetlink::new(0, groups)).map_err(errno_io)?;
        // A big receive buffer: a burst of changes (a link flap flushing
        // routes and neighbours) should not overflow it; if it does, the
        // sync resynchronises.
        if rustix::net::sockopt::set_socket_recv_buffer_size_force(&sock, 4 << 20).is_err() {
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&sock, 4 << 20);
        }
        rustix::net::sockopt::set_socket_timeout(
            &sock,
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_millis(100)),
        )
        .map_err(errno_io)?;
        let req = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(errno_io)?;
        Ok(FibSync {
            req,
            last_refresh: std::time::Instant::now(),
            refreshes: 0,
            used_v4: Vec::new(),
            used_v6: Vec::new(),
            sock,
            state: FibState::new(v4_if, v6_if),
            cell,
            seq: 0,
            buf: vec![0; RECV_BUF],
            msgs: Vec::with_capacity(256),
            resyncs: 0,
        })
    }

    /// Receives one datagram and applies it; `Ok(None)` on timeout, else
    /// whether the state changed and the `Done`/`Error` sequence numbers seen.
    fn recv_apply(
        &mut self,
        flags: RecvFlags,
        changed: &mut bool,
    ) -> Result<Option<Vec<(u32, i32)>>, Errno> {
        let n = match rustix::net::recv(&self.sock, &mut self.buf[..], flags) {
            Ok((n, _)) => n,
            Err(Errno::AGAIN | Errno::INTR) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.msgs.clear();
        nl::parse(&self.buf[..n], &mut self.msgs);
        let mut ends = Vec::new();
        for m in &self.msgs {
            match m {
                nl::Msg::Done { seq } => ends.push((*seq, 0)),
                nl::Msg::Error { seq, errno } => ends.push((*seq, *errno)),
                nl::Msg::Overrun => return Err(Errno::NOBUFS),
                m => *changed |= self.state.apply(m),
            }
        }
        Ok(Some(ends))
    }

    /// Dumps links, routes and neighbours of both families into a fresh
    /// state and publishes the table.
    pub fn resync(&mut self) -> std::io::Result<()> {
        self.state.clear();
        for (ty, fam) in [
            (nl::RTM_GETLINK, nl::AF_UNSPEC),
            (nl::RTM_GETROUTE, nl::AF_INET),
            (nl::RTM_GETROUTE, nl::AF_INET6),
            (nl::RTM_GETNEIGH, nl::AF_INET),
            (nl::RTM_GETNEIGH, nl::AF_INET6),
        ] {
            self.seq = self.seq.wrapping_add(1);
            let seq = self.seq;
            let req = nl::dump_request(ty, fam, seq);
            rustix::net::sendto(
                &self.sock,
                &req,
                SendFlags::empty(),
                &SocketAddrNetlink::new(0, 0),
            )
            .map_err(errno_io)?;
            let deadline = std::time::Instant::now() + DUMP_TIMEOUT;
            let mut changed = false;
            'dump: loop {
                if std::time::Instant::now() > deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "netlink dump did not finish",
                    ));
                }
                if let Some(ends) = self
                    .recv_apply(RecvFlags::empty(), &mut changed)
                    .map_err(errno_io)?
                {
                    for (s, errno) in ends {
                        if s == seq {
                            if errno != 0 {
                                return Err(std::io::Error::from_raw_os_error(errno));
                            }
                            break 'dump;
                        }
                    }
                }
            }
        }
        self.publish();
        Ok(())
    }

    /// Moves the used marks of the current table into the sync's lists
    /// (before the table is replaced, so that no use is forgotten).
    fn collect_used(&mut self) {
        let t = self.cell.current();
        self.used_v4.extend(t.v4.take_used());
        self.used_v6.extend(t.v6.take_used());
        self.used_v4.sort_unstable();
        self.used_v4.dedup();
        self.used_v6.sort_unstable();
        self.used_v6.dedup();
    }

    /// Publishes the table for the current state, keeping the old one's
    /// used marks.
    fn publish(&mut self) {
        self.collect_used();
        self.cell.publish(self.state.build());
    }

    /// Asks the kernel to re-validate the STALE neighbours used since the
    /// last call (`NTF_USE`); returns how many requests went out.
    pub fn refresh_used(&mut self) -> usize {
        self.collect_used();
        let stale = self.state.stale_among(&self.used_v4, &self.used_v6);
        self.used_v4.clear();
        self.used_v6.clear();
        let mut sent = 0;
        for (family, ifx, a) in stale {
            self.seq = self.seq.wrapping_add(1);
            let m = nl::neigh_use(family, ifx, a, self.seq);
            if rustix::net::sendto(
                &self.req,
                &m,
                SendFlags::DONTWAIT,
                &SocketAddrNetlink::new(0, 0),
            )
            .is_ok()
            {
                sent += 1;
            }
        }
        // Errors (an entry deleted meanwhile: ENOENT) need no action.
        let mut junk = [0u8; 512];
        while rustix::net::recv(&self.req, &mut junk[..], RecvFlags::DONTWAIT).is_ok() {}
        self.refreshes += sent as u64;
        sent
    }

    /// The current table, as last published.
    pub fn summary(&self) -> String {
        let t = self.state.build();
        format!(
            "IPv4 {} route(s) {} neighbour(s), IPv6 {} route(s) {} neighbour(s)",
            t.v4.routes(),
            t.v4.neighbours(),
            t.v6.routes(),
            t.v6.neighbours()
        )
    }

    /// Follows changes until `stop`, publishing after each drained burst;
    /// lost messages (ENOBUFS) trigger a full resynchronisation.
    pub fn run(mut self, stop: &AtomicBool, log: &dyn Fn(String)) {
        while !stop.load(Ordering::Relaxed) {
            let mut changed = false;
            // Wait (at most 100 ms) for a datagram, drain what else is
            // queued (bounded), then publish once.
            let mut r = self.recv_apply(RecvFlags::empty(), &mut changed);
            let mut more = 0;
            while matches!(r, Ok(Some(_))) && more < 64 {
                more += 1;
                r = self.recv_apply(RecvFlags::DONTWAIT, &mut changed);
            }
            match r {
                Err(e) => {
                    self.resyncs += 1;
                    log(format!("netlink: {e}; resynchronising"));
                    let mut tries = 0;
                    while let Err(e) = self.resync() {
                        tries += 1;
                        if stop.load(Ordering::Relaxed) || tries > 50 {
                            log(format!(
                                "netlink resync failed: {e}; keeping the last table"
                            ));
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    continue;
                }
                Ok(_) if changed => self.publish(),
                Ok(_) => {}
            }
            if self.last_refresh.elapsed() >= REFRESH_EVERY {
                self.last_refresh = std::time::Instant::now();
                self.refresh_used();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_pick_up_new_tables_without_blocking() {
        let cell = NextHopCell::new();
        let mut r = cell.reader();
        assert!(!r.refresh());
        assert_eq!(r.table().v6(1), Hop::Static);
        let mut st = FibState::new("a", "b");
        for m in [
            nl::build::link(false, 2, "b"),
            nl::build::route(false, nl::AF_INET6, (0, 0), 2, Some(9), 1),
            nl::build::neigh(false, nl::AF_INET6, 2, 9, nl::NUD_REACHABLE, Some([2; 6])),
        ] {
            let mut out = Vec::new();
            nl::parse(&m, &mut out);
            for x in &out {
                st.apply(x);
            }
        }
        cell.publish(st.build());
        {
            // Locked by a publisher: the reader keeps its table, no wait.
            let _g = cell.table.lock().expect("lock");
            assert!(!r.refresh());
            assert_eq!(r.table().v6(1), Hop::Static);
        }
        assert!(r.refresh());
        assert_eq!(r.table().v6(1), Hop::Mac([2; 6]));
        assert!(!r.refresh(), "once per generation");
        let mut f = NextHopReader::fixed();
        assert!(!f.refresh());
        assert_eq!(f.table().v4(1), Hop::Static);
    }
}
