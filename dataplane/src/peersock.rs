//! The peer socket: a Unix stream socket next to the counter file
//! (`<shm>.peers.sock`) through which the control daemon reads the Teredo
//! peer table (`xrelayctl peers list|show`).
//!
//! One request line, one JSON answer line, then the connection closes:
//!
//! ```text
//!  → list 100              ← {"total":2,"capacity":65536,"truncated":false,"peers":[{…},{…}]}
//!  → show 2001:0:…         ← {"total":2,"capacity":65536,"truncated":false,"peers":[{…}]}   (empty: unknown)
//!  → anything else         ← {"error":"…"}
//! ```
//!
//! The answering thread takes the table's read lock only while it copies
//! at most `limit` (≤ [`MAX_LIMIT`]) entries into plain values; encoding
//! and writing happen after it is released. Connections are served one at
//! a time with short timeouts, so a stuck client cannot hold anything.
//! Both sides (this thread and the control daemon's client) use the types
//! below: the dataplane crate is the one place that defines the format.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::Ipv6Addr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use xrelay_engine::{Now, PeerTable};

use crate::xsk::monotonic_ns;

/// Most entries one answer carries.
pub const MAX_LIMIT: usize = 10_000;
/// Entries `list` returns without a limit.
pub const DEFAULT_LIMIT: usize = 1_000;
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The peer socket of the dataplane writing counter file `shm`.
pub fn socket_for(shm: &Path) -> PathBuf {
    let mut s = shm.as_os_str().to_owned();
    s.push(".peers.sock");
    PathBuf::from(s)
}

/// One peer, as `peers list|show` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The Teredo IPv6 address.
    pub addr: String,
    /// The IPv4 address and UDP port on record (`a.b.c.d:port`): verified
    /// when `trusted`, else taken from the address.
    pub mapping: String,
    pub trusted: bool,
    /// Seconds since a packet from the peer was last received (null: never).
    pub last_rx_age_s: Option<u32>,
    /// Seconds since the fast or slow path last looked the peer up.
    pub last_lookup_age_s: Option<u32>,
    /// IPv6 packets queued while the mapping is verified.
    pub queued_packets: u32,
    pub queued_bytes: u32,
    /// Bubbles sent in the current window without a direct answer.
    pub bubbles: u8,
    /// The bubble budget ran out without an answer.
    pub failed: bool,
}

/// An answer of the peer socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerList {
    /// Live entries in the table.
    pub total: usize,
    pub capacity: usize,
    /// More entries exist than `peers` carries.
    pub truncated: bool,
    pub peers: Vec<PeerInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ErrorAnswer {
    error: String,
}

/// A request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    List { limit: usize },
    Show(Ipv6Addr),
}

impl Query {
    fn line(&self) -> String {
        match self {
            Query::List { limit } => format!("list {limit}\n"),
            Query::Show(a) => format!("show {a}\n"),
        }
    }

    fn parse(line: &str) -> Result<Query, String> {
        let mut w = line.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some("list"), n, None) => {
                let limit = match n {
                    None => DEFAULT_LIMIT,
                    Some(n) => n
                        .parse::<usize>()
                        .map_err(|_| format!("list {n}: not a number"))?,
                };
                Ok(Query::List {
                    limit: limit.clamp(1, MAX_LIMIT),
                })
            }
            (Some("show"), Some(a), None) => a
                .parse()
                .map(Query::Show)
                .map_err(|_| format!("show {a}: not an IPv6 address")),
            _ => Err(format!(
                "`{}`: requests are `list [N]` and `show IPV6`",
                line.trim()
            )),
        }
    }
}

fn age(now_s: u32, then: u32) -> Option<u32> {
    (then != 0).then(|| now_s.wrapping_sub(then))
}

/// Answers `q` from `table` (read lock held by the caller).
pub fn answer(table: &PeerTable, q: Query, now: Now) -> PeerList {
    let now_s = now.secs();
    let info = |p: &xrelay_engine::peers::Peer| {
        let (a, port) = p.mapping();
        PeerInfo {
            addr: p.addr().to_string(),
            mapping: format!("{a}:{port}"),
            trusted: p.is_trusted(),
            last_rx_age_s: age(now_s, p.last_rx()),
            last_lookup_age_s: age(now_s, p.last_lookup()),
            queued_packets: p.queue.len() as u32,
            queued_bytes: p.queue_bytes,
            bubbles: p.bubbles,
            failed: p.failed,
        }
    };
    let total = table.len();
    let peers: Vec<PeerInfo> = match q {
        Query::List { limit } => table.iter().take(limit).map(|(_, p)| info(p)).collect(),
        Query::Show(a) => table
            .iter()
            .filter(|(_, p)| p.addr() == a)
            .take(1)
            .map(|(_, p)| info(p))
            .collect(),
    };
    PeerList {
        total,
        capacity: table.capacity(),
        truncated: matches!(q, Query::List { .. }) && peers.len() < total,
        peers,
    }
}

/// Binds the socket (replacing a stale one) and answers on a thread named
/// `dp-peers` until `stop` is set. The socket file is removed then.
pub fn serve(
    path: &Path,
    peers: Arc<RwLock<PeerTable>>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let path = path.to_owned();
    std::thread::Builder::new()
        .name("dp-peers".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => client(s, &peers),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            let _ = std::fs::remove_file(&path);
        })
}

fn client(stream: UnixStream, peers: &RwLock<PeerTable>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut line = String::new();
    if BufReader::new(stream.take(256))
        .read_line(&mut line)
        .is_err()
    {
        return;
    }
    let text = match Query::parse(&line) {
        Ok(q) => {
            let list = {
                let t = peers.read().unwrap_or_else(|e| e.into_inner());
                answer(&t, q, Now(monotonic_ns()))
            };
            serde_json::to_string(&list)
        }
        Err(error) => serde_json::to_string(&ErrorAnswer { error }),
    };
    if let Ok(mut t) = text {
        t.push('\n');
        let _ = out.write_all(t.as_bytes());
    }
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("cannot reach the dataplane's peer socket {}: {source}", .path.display())]
    Unreachable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("peer socket {}: {what}", .path.display())]
    Protocol { path: PathBuf, what: String },
}

/// Asks the dataplane serving `path`.
pub fn query(path: &Path, q: Query) -> Result<PeerList, QueryError> {
    let unreachable = |source| QueryError::Unreachable {
        path: path.to_owned(),
        source,
    };
    let protocol = |what: String| QueryError::Protocol {
        path: path.to_owned(),
        what,
    };
    let mut s = UnixStream::connect(path).map_err(unreachable)?;
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    s.write_all(q.line().as_bytes()).map_err(unreachable)?;
    let mut line = String::new();
    // Bounded: MAX_LIMIT entries of a few hundred bytes each.
    BufReader::new(s.take(16 << 20))
        .read_line(&mut line)
        .map_err(|e| protocol(e.to_string()))?;
    if let Ok(e) = serde_json::from_str::<ErrorAnswer>(&line) {
        return Err(protocol(e.error));
    }
    serde_json::from_str(&line).map_err(|e| protocol(format!("bad answer ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn requests_parse_and_are_bounded() {
        assert_eq!(
            Query::parse("list\n"),
            Ok(Query::List {
                limit: DEFAULT_LIMIT
            })
        );
        assert_eq!(
            Query::parse("list 999999999"),
            Ok(Query::List { limit: MAX_LIMIT })
        );
        assert_eq!(Query::parse("list 0"), Ok(Query::List { limit: 1 }));
        assert!(Query::parse("list x").is_err());
        assert!(Query::parse("show nope").is_err());
        assert!(Query::parse("drop table").is_err());
        let a: Ipv6Addr = "2001:0:cb00:7101::1".parse().expect("addr");
        assert_eq!(Query::parse(&Query::Show(a).line()), Ok(Query::Show(a)));
        assert_eq!(
            socket_for(Path::new("/run/x/counters.shm")),
            Path::new("/run/x/counters.shm.peers.sock")
        );
    }

    #[test]
    fn served_over_a_socket() {
        let mut t = PeerTable::new(16, 300, 7);
        let a: Ipv6Addr = "2001:0:cb00:7101:0:f227:36ff:fffa".parse().expect("addr");
        let b: Ipv6Addr = "2001:0:cb00:7101:0:f227:36ff:fffb".parse().expect("addr");
        for x in [a, b] {
            let _ = t.insert(&x, (Ipv4Addr::new(203, 0, 113, 9), 3544), 5);
        }
        let path = std::env::temp_dir().join(format!("xr-peersock-{}", std::process::id()));
        let stop = Arc::new(AtomicBool::new(false));
        let h = serve(&path, Arc::new(RwLock::new(t)), Arc::clone(&stop)).expect("serve");
        let l = query(&path, Query::List { limit: 1 }).expect("list");
        assert_eq!((l.total, l.capacity, l.truncated), (2, 16, true));
        assert_eq!(l.peers.len(), 1);
        let s = query(&path, Query::Show(b)).expect("show");
        assert_eq!(s.peers.len(), 1);
        assert_eq!(s.peers[0].addr, b.to_string());
        assert!(!s.peers[0].trusted);
        let none = query(&path, Query::Show("2001:db8::1".parse().expect("a"))).expect("show");
        assert!(none.peers.is_empty());
        stop.store(true, Ordering::Relaxed);
        h.join().expect("join");
        assert!(!path.exists());
        assert!(matches!(
            query(&path, Query::List { limit: 1 }),
            Err(QueryError::Unreachable { .. })
        ));
    }
}
