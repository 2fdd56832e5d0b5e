//! The admin protocol between `xrelayctl` and `xrelayctl daemon`: one JSON
//! object per line over the Unix socket `STATE_DIR/admin.sock`, one
//! response line per request, any number of requests per connection.
//!
//! ```text
//! → {"cmd":"prefix-add","prefix":"2001:db8:ffff::/48"}
//! ← {"ok":true,"result":{"changed":true,"message":"prefix 2001:db8:ffff::/48 added"}}
//! → {"cmd":"prefix-add","prefix":"2001:db8::1/48"}
//! ← {"ok":false,"error":{"kind":"bad-input","message":"`2001:db8::1/48` has host bits set …"}}
//! ```
//!
//! docs/operations.md "Admin protocol" lists every request and result.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Longest request or response line accepted.
pub const MAX_LINE: usize = 1 << 20;

/// What `peers` says when no dataplane answers.
pub const PEERS_ABSENT: &str =
    "the Teredo peer table lives in the dataplane process (xrelay-dataplane), which is not running";

/// Kind of a relay address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddrKind {
    /// Protocol 41 (6to4 / 6rd) relay address, map `xr_sixto4`.
    #[serde(rename = "6to4")]
    SixToFour,
    /// Teredo address and UDP port, map `xr_teredo`.
    #[serde(rename = "teredo")]
    Teredo,
}

/// A request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    Status,
    Counters,
    PrefixList,
    PrefixAdd {
        prefix: String,
    },
    PrefixDel {
        prefix: String,
    },
    /// Withdraw a prefix of the announced set (or `all`) while the relay
    /// keeps forwarding; persists across restarts.
    PrefixDrain {
        name: String,
    },
    PrefixUndrain {
        name: String,
    },
    /// The announced set and its states (what `xrelayctl exabgp` follows).
    AnnounceStatus,
    AddressList,
    AddressAdd {
        kind: AddrKind,
        addr: String,
        /// Teredo only; default: `teredo.port` of relay.toml.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
    },
    AddressDel {
        kind: AddrKind,
        addr: String,
    },
    PeersList {
        /// Most entries to return (default 1000, at most 10000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    PeersShow {
        addr: String,
    },
    XdpStatus,
    XdpDetach,
}

/// How a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request was refused and changed nothing (exit status 2).
    BadInput,
    /// The request needs something that is not there (the dataplane, an
    /// attached program).
    Unavailable,
    /// A system call failed.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
}

/// A response line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Response {
    pub fn ok(v: impl Serialize) -> Response {
        match serde_json::to_value(v) {
            Ok(v) => Response {
                ok: true,
                result: Some(v),
                error: None,
            },
            Err(e) => Response::err(ErrorKind::Failed, format!("encoding the result: {e}")),
        }
    }
    pub fn err(kind: ErrorKind, message: impl Into<String>) -> Response {
        Response {
            ok: false,
            result: None,
            error: Some(ErrorBody {
                kind,
                message: message.into(),
            }),
        }
    }
}

// --- results ---

/// `status` and `xdp-status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub instance: String,
    pub pid: u32,
    pub version: String,
    pub started_unix: u64,
    pub uptime_s: u64,
    pub config: String,
    pub netns: Option<String>,
    pub state_dir: String,
    pub bpffs: String,
    pub admin_socket: String,
    /// The bound address, or null with `--metrics off`.
    pub metrics: Option<String>,
    pub xdp: XdpStatus,
    pub health: Health,
    pub dataplane: DataplaneStatus,
    /// The announced set (null: `announce.backend = "none"`).
    #[serde(default)]
    pub announce: Option<AnnounceStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XdpStatus {
    /// `attached` (this daemon loaded and attached), `reused` (it found the
    /// pins of a previous run), `replaced` (it swapped a new program into the
    /// pinned links), `detached`.
    pub startup: String,
    pub requested_mode: String,
    /// One program instance per interface.
    pub interfaces: Vec<IfaceStatus>,
    pub pins: Vec<PinStatus>,
    pub maps: MapCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramStatus {
    pub id: u32,
    pub pin: String,
    pub sixto4: bool,
    pub teredo: bool,
    pub native: bool,
    pub icmp4_errors: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IfaceStatus {
    pub name: String,
    /// `v4`, `v6` or `v4+v6` (one-armed).
    pub role: String,
    pub present: bool,
    pub ifindex: Option<u32>,
    pub oper_up: bool,
    pub rx_queues: Option<u32>,
    pub tx_queues: Option<u32>,
    /// What the kernel reports: `native`, `generic`, `none`, …
    pub xdp_mode: String,
    pub xdp_prog_id: Option<u32>,
    pub link_id: Option<u32>,
    pub link_pin: String,
    /// The kernel runs this instance's program on the interface.
    pub ours: bool,
    /// This instance's program for the interface (null after a detach).
    pub program: Option<ProgramStatus>,
    /// `attached`, `reused` or `replaced` (see [`XdpStatus::startup`]).
    pub startup: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinStatus {
    pub path: String,
    /// `program`, `link` or `map`.
    pub kind: String,
    pub exists: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapCounts {
    pub sixto4: usize,
    pub teredo: usize,
    pub prefixes: usize,
    pub socket_slots: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataplaneStatus {
    /// `starting` (spawned, heartbeats not yet fresh), `running` (alive,
    /// every heartbeat fresh), `stalled` (alive, a heartbeat older than 1 s),
    /// `restarting` (exited or killed; started again at once or after the
    /// crash-loop backoff), `spawn-failed`, `absent` (`--no-dataplane` and
    /// none found), `stopped`.
    pub state: String,
    pub pid: Option<u32>,
    pub message: String,
    /// Started and watched by this daemon (false: `--no-dataplane`, one
    /// started by a service manager is found through its counter file).
    #[serde(default)]
    pub supervised: bool,
    #[serde(default)]
    pub binary: Option<String>,
    /// Alive and every block's heartbeat younger than 1 s.
    #[serde(default)]
    pub healthy: bool,
    /// Restarts since the daemon started.
    #[serde(default)]
    pub restarts: u32,
    /// Milliseconds between noticing the last death or stall and the new
    /// process being spawned.
    #[serde(default)]
    pub last_restart_ms: Option<u64>,
    #[serde(default)]
    pub counters_file: String,
    #[serde(default)]
    pub peers_socket: String,
    /// The blocks of the counter file: workers, then the slow path.
    #[serde(default)]
    pub workers: Vec<WorkerStatus>,
}

/// One block of the dataplane's counter file (a worker or the slow path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The thread name: `dp-<if>-q<n>` or `dp-slow`.
    pub label: String,
    /// `worker` or `slow-path`.
    pub role: String,
    pub queue: u32,
    pub core: Option<u32>,
    /// `starting`, `running`, `stopped`.
    pub state: String,
    /// Loop iterations so far.
    pub batches: u64,
    /// Milliseconds since the last heartbeat (null: none yet).
    pub heartbeat_age_ms: Option<u64>,
}

/// The dataplane's counters, from its counter file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataplaneCounters {
    pub file: String,
    /// The writer's pid (as recorded in the file).
    pub pid: u32,
    /// The layout hash (hex) the header carries, equal to this build's.
    pub layout_hash: String,
    /// One entry per block; `per_worker` columns are in this order.
    pub workers: Vec<WorkerStatus>,
    /// Every counter, in slot order.
    pub counters: Vec<DpCounterValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpCounterValue {
    /// The full name: `drop/<reason>`, `event/<event>`, `dp/<counter>`.
    pub name: String,
    /// `drop`, `event` or `dp`.
    pub kind: String,
    /// The part after the slash (`sixto4_decap`).
    pub short: String,
    pub total: u64,
    pub per_worker: Vec<u64>,
}

/// `counters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// When the maps were read (ms since the epoch).
    pub unix_ms: u64,
    /// Possible CPUs (the length of every `per_cpu`).
    pub cpus: usize,
    /// Summed over the interfaces (per CPU and total).
    pub xdp: Vec<CounterValue>,
    /// Each interface's program instance.
    pub interfaces: Vec<IfaceCounters>,
    /// The dataplane's per-worker counters; null when its counter file
    /// is missing or does not match this build (`dataplane_message` says
    /// why).
    pub dataplane: Option<DataplaneCounters>,
    pub dataplane_message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaceCounters {
    pub name: String,
    pub xdp: Vec<CounterValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterValue {
    pub name: String,
    /// `steered`, `passed`, `detail` or `action`.
    pub group: String,
    pub description: String,
    pub total: u64,
    pub per_cpu: Vec<u64>,
}

/// `prefix-list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixList {
    pub prefixes: Vec<PrefixEntry>,
    /// relay.toml prefixes removed with `prefix del`.
    pub removed_from_config: Vec<String>,
    /// The announced set (BGP) and its states.
    #[serde(default)]
    pub announce: Option<AnnounceStatus>,
}

/// `announce-status`: the announced set (docs/bgp.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnounceStatus {
    /// `none`, `kernel` or `exabgp` (`announce.backend`).
    pub backend: String,
    /// Kernel backend: the routing table and protocol of the routes.
    pub table: Option<u32>,
    pub protocol: Option<u8>,
    pub hold_down_s: u64,
    /// No health problem at the last check (every 100 ms).
    pub healthy: bool,
    /// The first health problem, when unhealthy.
    pub problem: Option<String>,
    /// Healthy but in the hold-down: milliseconds until announcing.
    pub announce_in_ms: Option<u64>,
    /// State changes since the daemon started.
    pub changes: u64,
    pub prefixes: Vec<AnnouncedPrefix>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncedPrefix {
    /// What `prefix drain` takes: `6to4-anycast`, `6to4`, `teredo`, `6rd`,
    /// or the prefix (operator and extra prefixes).
    pub name: String,
    pub prefix: String,
    /// `6to4-anycast`, `6to4`, `teredo`, `6rd`, `operator`, `extra`.
    pub kind: String,
    pub state: crate::announce::PrefixState,
    /// When the state last changed (ms since the epoch).
    pub since_unix_ms: u64,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixEntry {
    pub prefix: String,
    /// `6to4`, `teredo`, `6rd` or `operator`: picks the steered counter.
    pub kind: String,
    /// `config` (relay.toml) or `runtime` (`prefix add`).
    pub source: String,
}

/// `address-list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressList {
    pub sixto4: Vec<AddressEntry>,
    pub teredo: Vec<AddressEntry>,
    pub removed_from_config: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressEntry {
    pub addr: String,
    /// Teredo only.
    pub port: Option<u16>,
    pub source: String,
}

/// `prefix-add`, `prefix-del`, `address-add`, `address-del`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditResult {
    pub changed: bool,
    pub message: String,
}

/// `xdp-detach` (and `xrelayctl xdp detach` without a daemon).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetachReport {
    /// Link pins removed (each detached its interface).
    pub links: Vec<String>,
    /// Every path removed.
    pub removed: Vec<String>,
    /// Files in the pin directory that are not this instance's and were left.
    pub left: Vec<String>,
}

// --- client ---

/// Why talking to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the daemon at {} ({}): is `xrelayctl daemon` running? (--socket to choose another)", .socket.display(), io_text(.source))]
    Unreachable {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{call} on {}: {}", .socket.display(), io_text(.source))]
    Io {
        call: &'static str,
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the daemon at {} answered something unexpected ({what}): is it the same xrelayctl version?", .socket.display())]
    Protocol { socket: PathBuf, what: String },
    #[error("{message}")]
    Daemon { kind: ErrorKind, message: String },
}

/// An io::Error's text without Rust's " (os error N)" suffix.
pub fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// One connection to the daemon.
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
}

impl Client {
    pub fn connect(socket: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(socket).map_err(|source| ClientError::Unreachable {
            socket: socket.to_owned(),
            source,
        })?;
        // Every request is answered at once; a silent daemon is stuck.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        Ok(Client {
            socket: socket.to_owned(),
            reader: BufReader::new(stream),
        })
    }

    /// Sends `req` and decodes the result as `T`.
    pub fn call<T: DeserializeOwned>(&mut self, req: &Request) -> Result<T, ClientError> {
        let io = |call: &'static str, socket: &Path| {
            let socket = socket.to_owned();
            move |source| ClientError::Io {
                call,
                socket,
                source,
            }
        };
        let mut line = serde_json::to_string(req).map_err(|e| ClientError::Protocol {
            socket: self.socket.clone(),
            what: e.to_string(),
        })?;
        line.push('\n');
        self.reader
            .get_mut()
            .write_all(line.as_bytes())
            .map_err(io("write", &self.socket))?;
        let mut answer = String::new();
        let n = self
            .reader
            .read_line(&mut answer)
            .map_err(io("read", &self.socket))?;
        if n == 0 {
            return Err(ClientError::Protocol {
                socket: self.socket.clone(),
                what: "connection closed without an answer".into(),
            });
        }
        let resp: Response = serde_json::from_str(&answer).map_err(|e| ClientError::Protocol {
            socket: self.socket.clone(),
            what: e.to_string(),
        })?;
        match (resp.ok, resp.result, resp.error) {
            (true, Some(v), _) => serde_json::from_value(v).map_err(|e| ClientError::Protocol {
                socket: self.socket.clone(),
                what: e.to_string(),
            }),
            (_, _, Some(e)) => Err(ClientError::Daemon {
                kind: e.kind,
                message: e.message,
            }),
            _ => Err(ClientError::Protocol {
                socket: self.socket.clone(),
                what: "neither result nor error".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = Request::PrefixAdd {
            prefix: "2001:db8::/48".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).ok().as_deref(),
            Some(r#"{"cmd":"prefix-add","prefix":"2001:db8::/48"}"#)
        );
        let a: Result<Request, _> = serde_json::from_str(
            r#"{"cmd":"address-add","kind":"teredo","addr":"192.0.2.2","port":3545}"#,
        );
        assert_eq!(
            a.ok(),
            Some(Request::AddressAdd {
                kind: AddrKind::Teredo,
                addr: "192.0.2.2".into(),
                port: Some(3545)
            })
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Request::Status).ok().as_deref(),
            Some(r#"{"cmd":"status"}"#)
        );
    }

    #[test]
    fn unreachable_names_the_socket_and_the_fix() {
        let e = Client::connect(Path::new("/nonexistent/xr/admin.sock")).map(|_| ());
        let msg = e.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert_eq!(
            msg,
            "cannot reach the daemon at /nonexistent/xr/admin.sock (No such file or directory): is `xrelayctl daemon` running? (--socket to choose another)"
        );
    }
}
