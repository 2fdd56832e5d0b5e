//! The admin socket: one JSON request per line, one JSON response per line
//! (`crate::admin`), and what each request does to the daemon.
//!
//! The edits (`prefix-*`, `address-*`) are in `edits.rs`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use xrelay_xdp::abi::{Counter, CounterGroup};
use xrelay_xdp::Steering;

use super::{detach_all, lock, Daemon, IfaceXdp};
use crate::admin::{
    CounterValue, Counters, DataplaneCounters, DpCounterValue, ErrorKind, Health, IfaceCounters,
    IfaceStatus, MapCounts, ProgramStatus, Request, Response, Status, XdpStatus, MAX_LINE,
    PEERS_ABSENT,
};
use crate::logline;
use crate::netlink;

/// Accepts connections until the process exits; one thread per client.
pub(super) fn serve(listener: UnixListener, d: Arc<Mutex<Daemon>>) {
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let d = d.clone();
        let _ = std::thread::Builder::new()
            .name("admin-conn".into())
            .spawn(move || client(stream, &d));
    }
}

fn client(stream: UnixStream, d: &Mutex<Daemon>) {
    // An idle client is dropped after a minute.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream.take(u64::MAX));
    loop {
        let mut line = String::new();
        reader.get_mut().set_limit(MAX_LINE as u64);
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.trim().is_empty() {
            continue;
        }
        let resp = match serde_json::from_str::<Request>(&line) {
            // The dataplane answers these; the daemon's lock is held only
            // to look up where.
            Ok(req @ (Request::PeersList { .. } | Request::PeersShow { .. })) => {
                let (sock, running) = lock(d).peers_target();
                peers(&sock, running, &req)
            }
            Ok(req) => lock(d).handle(req),
            Err(e) => Response::err(
                ErrorKind::BadInput,
                format!("not a request ({e}); see docs/operations.md \"Admin protocol\""),
            ),
        };
        let mut text =
            serde_json::to_string(&resp).unwrap_or_else(|_| r#"{"ok":false}"#.to_owned());
        text.push('\n');
        if out.write_all(text.as_bytes()).is_err() {
            return;
        }
        let g = lock(d);
        if g.stop_after_answer {
            g.stop.store(true, Ordering::Relaxed);
        }
        if g.stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// `peers-list` / `peers-show`, asked of the dataplane's peer socket.
fn peers(sock: &std::path::Path, running: bool, req: &Request) -> Response {
    use xrelay_dataplane::peersock::{self, Query, QueryError, DEFAULT_LIMIT, MAX_LIMIT};
    let q = match req {
        Request::PeersList { limit } => Query::List {
            limit: limit.map_or(DEFAULT_LIMIT, |n| (n as usize).clamp(1, MAX_LIMIT)),
        },
        Request::PeersShow { addr } => match addr.parse() {
            Ok(a) => Query::Show(a),
            Err(_) => {
                return Response::err(
                    ErrorKind::BadInput,
                    format!("`{addr}` is not an IPv6 address (a Teredo peer, 2001:0:…)"),
                )
            }
        },
        _ => return Response::err(ErrorKind::BadInput, "not a peers request"),
    };
    match peersock::query(sock, q) {
        Ok(l) => match req {
            Request::PeersShow { addr } if l.peers.is_empty() => Response::err(
                ErrorKind::BadInput,
                format!(
                    "{addr}: not in the Teredo peer table ({} entries); see `xrelayctl peers list`",
                    l.total
                ),
            ),
            _ => Response::ok(l),
        },
        Err(QueryError::Unreachable { .. }) if !running => {
            Response::err(ErrorKind::Unavailable, PEERS_ABSENT)
        }
        Err(e) => Response::err(ErrorKind::Unavailable, e.to_string()),
    }
}

pub(super) fn failed(e: impl std::fmt::Display) -> Response {
    Response::err(ErrorKind::Failed, e.to_string())
}

pub(super) fn detached() -> Response {
    Response::err(
        ErrorKind::Unavailable,
        "the XDP program was detached (`xdp detach`); restart the daemon to attach it again",
    )
}

/// A snapshot as counter values, in slot order.
fn values(snap: &xrelay_xdp::CounterSnapshot) -> Vec<CounterValue> {
    Counter::ALL
        .iter()
        .map(|c| CounterValue {
            name: c.name().into(),
            group: match c.group() {
                CounterGroup::Steered => "steered",
                CounterGroup::Passed => "passed",
                CounterGroup::Detail => "detail",
                CounterGroup::Action => "action",
            }
            .into(),
            description: c.description().into(),
            total: snap.total(*c),
            per_cpu: snap.per_cpu.iter().map(|v| v[c.index() as usize]).collect(),
        })
        .collect()
}

impl Daemon {
    pub(super) fn handle(&mut self, req: Request) -> Response {
        match req {
            Request::Status => Response::ok(self.status()),
            Request::XdpStatus => Response::ok(self.status().xdp),
            Request::Counters => match self.counters() {
                Ok(c) => Response::ok(c),
                Err(r) => r,
            },
            Request::PrefixList => self.prefix_list(),
            Request::PrefixAdd { prefix } => self.prefix_edit(&prefix, true),
            Request::PrefixDel { prefix } => self.prefix_edit(&prefix, false),
            Request::PrefixDrain { name } => self.drain(&name, true),
            Request::PrefixUndrain { name } => self.drain(&name, false),
            Request::AnnounceStatus => self.announce_answer(),
            Request::AddressList => self.address_list(),
            Request::AddressAdd { kind, addr, port } => self.address_edit(kind, &addr, port, true),
            Request::AddressDel { kind, addr } => self.address_edit(kind, &addr, None, false),
            Request::PeersList { .. } | Request::PeersShow { .. } => {
                // Normally answered by `peers` without the daemon's lock.
                let (sock, running) = self.peers_target();
                peers(&sock, running, &req)
            }
            Request::XdpDetach => self.detach(),
        }
    }

    /// The current steering set: relay.toml's plus the edits, with the
    /// constants of the loaded program.
    pub(super) fn current(&self) -> Steering {
        let mut s = self.state.edits.apply_to(&self.base);
        if let Some(settings) = self
            .xdp
            .as_ref()
            .and_then(|v| v.first())
            .and_then(|x| x.settings)
        {
            s.settings = settings;
        }
        s
    }

    /// The program instance of `iface`, when attached.
    fn xdp_of(&self, iface: &str) -> Option<&IfaceXdp> {
        self.xdp.as_ref()?.iter().find(|x| x.name == iface)
    }

    pub(super) fn health(&self) -> Health {
        let mut problems = Vec::new();
        if self.xdp.is_none() {
            problems.push("the XDP program is detached".to_owned());
        }
        for i in &self.ifaces {
            let Some(x) = self.xdp_of(&i.name) else {
                continue;
            };
            match netlink::link_by_name(&i.name) {
                Ok(Some(st)) if st.xdp_prog_id == Some(x.prog_id) => {}
                Ok(Some(st)) => problems.push(match st.xdp_prog_id {
                    None => format!("{}: runs no XDP program", i.name),
                    Some(p) => format!(
                        "{}: runs XDP program id {p}, not this instance's ({})",
                        i.name, x.prog_id
                    ),
                }),
                Ok(None) => problems.push(format!("{}: no such interface", i.name)),
                Err(e) => problems.push(e.to_string()),
            }
        }
        if self.xdp.is_some() {
            for p in self.layout.status(&self.ifaces) {
                if !p.exists {
                    problems.push(format!("pin missing: {}", p.path));
                }
            }
        }
        problems.extend(self.dataplane.problems());
        problems.extend(self.nexthop_problems());
        Health {
            ok: problems.is_empty(),
            problems,
        }
    }

    fn iface_status(&self, i: &super::Iface) -> IfaceStatus {
        let st = netlink::link_by_name(&i.name).ok().flatten();
        let x = self.xdp_of(&i.name);
        let kernel_prog = st.as_ref().and_then(|s| s.xdp_prog_id);
        IfaceStatus {
            name: i.name.clone(),
            role: i.role.into(),
            present: st.is_some(),
            ifindex: st.as_ref().map(|s| s.ifindex),
            oper_up: st.as_ref().is_some_and(|s| s.oper_up),
            rx_queues: st.as_ref().and_then(|s| s.rx_queues),
            tx_queues: st.as_ref().and_then(|s| s.tx_queues),
            xdp_mode: st.as_ref().map_or("absent", |s| s.xdp.name()).into(),
            xdp_prog_id: kernel_prog,
            link_id: x.map(|x| x.link_id),
            link_pin: self.layout.link(&i.name).display().to_string(),
            ours: x.is_some_and(|x| kernel_prog == Some(x.prog_id)),
            program: x.map(|x| {
                let s = x.settings;
                ProgramStatus {
                    id: x.prog_id,
                    pin: self.layout.program(&i.name).display().to_string(),
                    sixto4: s.is_some_and(|s| s.sixto4),
                    teredo: s.is_some_and(|s| s.teredo),
                    native: s.is_some_and(|s| s.native),
                    icmp4_errors: s.is_some_and(|s| s.icmp4_errors),
                }
            }),
            startup: x.map_or("detached", |x| x.startup.name()).into(),
        }
    }

    pub(super) fn status(&self) -> Status {
        let started_unix = self
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let uptime_s = SystemTime::now()
            .duration_since(self.started)
            .map_or(0, |d| d.as_secs());
        // The steering maps hold the same set on every interface.
        let maps = match self.xdp.as_ref().and_then(|v| v.first()) {
            Some(x) => MapCounts {
                sixto4: x.maps.sixto4_addrs().map_or(0, |v| v.len()),
                teredo: x.maps.teredo().map_or(0, |v| v.len()),
                prefixes: x.maps.prefixes().map_or(0, |v| v.len()),
                socket_slots: x.maps.socket_slots(),
            },
            None => MapCounts {
                sixto4: 0,
                teredo: 0,
                prefixes: 0,
                socket_slots: 0,
            },
        };
        Status {
            instance: self.opts.instance.clone(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").into(),
            started_unix,
            uptime_s,
            config: self.opts.config.display().to_string(),
            netns: self.opts.netns.clone(),
            state_dir: self.opts.state_dir.display().to_string(),
            bpffs: self.opts.bpffs.display().to_string(),
            admin_socket: self.socket_path.display().to_string(),
            metrics: self.metrics_addr.map(|a| a.to_string()),
            xdp: XdpStatus {
                startup: self
                    .xdp
                    .as_ref()
                    .map_or("detached", |v| super::pins::overall_startup(v).name())
                    .into(),
                requested_mode: self.opts.xdp_mode.name().into(),
                interfaces: self.ifaces.iter().map(|i| self.iface_status(i)).collect(),
                pins: self.layout.status(&self.ifaces),
                maps,
            },
            health: self.health(),
            dataplane: self.dataplane.status(),
            announce: self.announce_status(),
        }
    }

    pub(super) fn counters(&mut self) -> Result<Counters, Response> {
        let Some(xs) = &self.xdp else {
            return Err(detached());
        };
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut interfaces = Vec::new();
        for x in xs {
            let snap = x.maps.counters().map_err(failed)?;
            interfaces.push(IfaceCounters {
                name: x.name.clone(),
                xdp: values(&snap),
            });
        }
        let mut sum = xrelay_xdp::CounterSnapshot::default();
        for x in xs {
            let snap = x.maps.counters().map_err(failed)?;
            if sum.per_cpu.len() < snap.per_cpu.len() {
                sum.per_cpu.resize(snap.per_cpu.len(), [0; Counter::COUNT]);
            }
            for (cpu, v) in snap.per_cpu.iter().enumerate() {
                for (i, n) in v.iter().enumerate() {
                    sum.per_cpu[cpu][i] += n;
                }
            }
        }
        let (dataplane, dataplane_message) = self.dataplane_counters();
        Ok(Counters {
            unix_ms,
            cpus: sum.per_cpu.len(),
            xdp: values(&sum),
            interfaces,
            dataplane,
            dataplane_message,
        })
    }

    /// Where the dataplane's peer socket is, and whether a dataplane runs.
    pub(super) fn peers_target(&self) -> (std::path::PathBuf, bool) {
        (
            self.dataplane.peers_socket(),
            self.dataplane.pid().is_some(),
        )
    }

    /// The dataplane's counter file, validated (magic, version, layout
    /// hash of this build), per block; or why not.
    fn dataplane_counters(&self) -> (Option<DataplaneCounters>, String) {
        let path = self.dataplane.counters_file();
        let status = self.dataplane.status().message;
        match xrelay_dataplane::shm::read_checked(path) {
            Ok(s) => {
                let now = xrelay_dataplane::xsk::monotonic_ns();
                let counters = s
                    .names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let (kind, short) = name.split_once('/').unwrap_or(("", name));
                        let per_worker: Vec<u64> = s
                            .blocks
                            .iter()
                            .map(|b| b.counters.get(i).copied().unwrap_or(0))
                            .collect();
                        DpCounterValue {
                            name: name.clone(),
                            kind: kind.into(),
                            short: short.into(),
                            total: per_worker.iter().sum(),
                            per_worker,
                        }
                    })
                    .collect();
                (
                    Some(DataplaneCounters {
                        file: path.display().to_string(),
                        pid: s.pid,
                        layout_hash: format!("{:016x}", s.layout_hash),
                        workers: super::supervise::workers_of(&s, now),
                        counters,
                    }),
                    status,
                )
            }
            Err(xrelay_dataplane::shm::ShmError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                (
                    None,
                    format!("{status}; no counter file at {} yet", path.display()),
                )
            }
            Err(e) => (None, format!("{status}; counters not shown: {e}")),
        }
    }

    fn detach(&mut self) -> Response {
        // Drop our map handles first so nothing of the instance survives.
        self.xdp = None;
        let r = detach_all(&self.layout);
        // The daemon stops once the answer is written (`client`).
        self.stop_after_answer = true;
        match r {
            Ok(rep) => {
                logline::info(
                    "detached",
                    &[
                        ("links", &rep.links.len()),
                        ("removed", &rep.removed.len()),
                        ("then", &"stopping"),
                    ],
                );
                Response::ok(rep)
            }
            Err(e) => failed(e),
        }
    }
}
