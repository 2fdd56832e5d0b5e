//! The operator commands of `xrelayctl` that talk to the daemon: `status`,
//! `counters show`, `prefix`, `address`, `peers`, `xdp`. Input is checked
//! here first (a prefix that does not parse never reaches the daemon), and
//! the daemon checks again before it touches a map.

mod render;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};

use crate::admin::{
    AddrKind, AddressList, Client, ClientError, Counters, DetachReport, EditResult, ErrorKind,
    PrefixList, Request, Status, XdpStatus,
};
use crate::daemon::{self, PinError, PinLayout};
use crate::state::{parse_addr, parse_prefix, EditError};
use xrelay_dataplane::peersock::PeerList;

/// Which daemon to talk to.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Instance name: picks the default socket /run/xrelay/NAME/admin.sock.
    #[arg(
        long,
        env = "XRELAY_INSTANCE",
        default_value = "default",
        global = true
    )]
    pub instance: String,
    /// The daemon's admin socket (default: /run/xrelay/<instance>/admin.sock).
    #[arg(long, env = "XRELAY_SOCKET", value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
}

impl Target {
    pub fn socket(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| daemon::socket_in(&daemon::default_state_dir(&self.instance)))
    }
    fn client(&self) -> Result<Client, CtlError> {
        Ok(Client::connect(&self.socket())?)
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the daemon's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CountersCommand {
    /// XDP per-CPU counters per class and action, and the dataplane's
    /// per-worker counters (drop reasons, events, its own).
    Show(CountersArgs),
}

#[derive(Debug, Args)]
pub struct CountersArgs {
    /// One column per CPU.
    #[arg(long)]
    pub per_core: bool,
    /// Refresh every --interval until Ctrl-C (or --count), with rates.
    #[arg(long)]
    pub watch: bool,
    /// Stop after N refreshes (implies --watch).
    #[arg(long, value_name = "N")]
    pub count: Option<u32>,
    /// Seconds between refreshes.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub interval: f64,
    /// One JSON object per refresh (with `rates` from the second on).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PrefixCommand {
    /// Steer IPv6 to PREFIX (an operator prefix; counted as native_oper).
    Add {
        #[arg(value_name = "PREFIX")]
        prefix: String,
    },
    /// Stop steering PREFIX (exactly this prefix).
    Del {
        #[arg(value_name = "PREFIX")]
        prefix: String,
    },
    /// The managed prefixes in the XDP map, with kind and source, and the
    /// announced set (BGP) with each prefix's state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Withdraw NAME from BGP while the relay keeps forwarding it
    /// (maintenance); NAME is a name or prefix of `prefix list`, or `all`.
    Drain {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Announce NAME again (while healthy).
    Undrain {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// Protocol 41 relay address (6to4 or 6rd).
    #[value(name = "6to4")]
    SixToFour,
    /// Teredo relay address and UDP port.
    Teredo,
}

#[derive(Debug, Subcommand)]
pub enum AddressCommand {
    /// Steer protocol 41 (or, with --kind teredo, UDP to ADDR:PORT) to the relay.
    Add {
        /// IPv4 address; for Teredo ADDR or ADDR:PORT.
        #[arg(value_name = "ADDR")]
        addr: String,
        #[arg(long, value_enum, default_value = "6to4")]
        kind: KindArg,
        /// Teredo port (default: teredo.port of relay.toml).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Stop steering to ADDR.
    Del {
        #[arg(value_name = "ADDR")]
        addr: String,
        #[arg(long, value_enum, default_value = "6to4")]
        kind: KindArg,
    },
    /// The relay addresses in the XDP maps.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// The Teredo peer table (held by the dataplane; at most --limit entries).
    List {
        #[arg(long)]
        json: bool,
        /// Most entries to show (1..=10000).
        #[arg(long, value_name = "N", default_value_t = 1000)]
        limit: u32,
    },
    /// One Teredo peer.
    Show {
        #[arg(value_name = "IPV6")]
        addr: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum XdpCommand {
    /// Program, interfaces and pins (from the pins alone when no daemon answers).
    Status {
        #[arg(long)]
        json: bool,
        /// Pin directory to inspect without a daemon.
        #[arg(long, env = "XRELAY_BPFFS", value_name = "DIR")]
        bpffs: Option<PathBuf>,
    },
    /// Detach from every interface and remove every pin of the instance
    /// (through the daemon, which then stops, or directly when none runs).
    Detach {
        /// Pin directory when no daemon answers (default /sys/fs/bpf/xrelay/<instance>).
        #[arg(long, env = "XRELAY_BPFFS", value_name = "DIR")]
        bpffs: Option<PathBuf>,
    },
}

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Pins(Box<PinError>),
    #[error("{0}")]
    Usage(String),
    #[error("writing the output: {0}")]
    Output(#[source] std::io::Error),
}

impl From<PinError> for CtlError {
    fn from(e: PinError) -> CtlError {
        CtlError::Pins(Box::new(e))
    }
}

impl CtlError {
    /// 2 for bad input (also when the daemon refused it), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Edit(_)
            | CtlError::Usage(_)
            | CtlError::Client(ClientError::Daemon {
                kind: ErrorKind::BadInput,
                ..
            }) => 2,
            _ => 1,
        }
    }

    /// Output to a closed pipe (`| head`) is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CtlError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

fn out(w: &mut dyn Write, text: &str) -> Result<(), CtlError> {
    w.write_all(text.as_bytes())
        .and_then(|()| w.flush())
        .map_err(CtlError::Output)
}

fn json_line(v: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string(v).unwrap_or_default();
    s.push('\n');
    s
}

pub fn status(t: &Target, a: &StatusArgs, w: &mut dyn Write) -> Result<(), CtlError> {
    let st: Status = t.client()?.call(&Request::Status)?;
    out(
        w,
        &if a.json {
            json_line(&st)
        } else {
            render::status(&st)
        },
    )
}

pub fn counters(t: &Target, cmd: &CountersCommand, w: &mut dyn Write) -> Result<(), CtlError> {
    let CountersCommand::Show(a) = cmd;
    if !(a.interval.is_finite() && a.interval >= 0.1) {
        return Err(CtlError::Usage(format!(
            "--interval {}: give at least 0.1 seconds",
            a.interval
        )));
    }
    if a.count == Some(0) {
        return Err(CtlError::Usage("--count 0: give at least 1".into()));
    }
    let mut client = t.client()?;
    let watch = a.watch || a.count.is_some();
    let mut prev: Option<Counters> = None;
    let mut n = 0u32;
    loop {
        let started = Instant::now();
        let c: Counters = client.call(&Request::Counters)?;
        let text = if a.json {
            json_line(&render::counters_json(&c, prev.as_ref()))
        } else {
            let mut s = render::counters_table(&c, prev.as_ref(), a.per_core);
            if watch {
                s.push('\n');
            }
            s
        };
        out(w, &text)?;
        n += 1;
        if !watch || a.count.is_some_and(|max| n >= max) {
            return Ok(());
        }
        prev = Some(c);
        let interval = Duration::from_secs_f64(a.interval);
        if let Some(rest) = interval.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

pub fn prefix(t: &Target, cmd: &PrefixCommand, w: &mut dyn Write) -> Result<(), CtlError> {
    match cmd {
        PrefixCommand::Add { prefix } | PrefixCommand::Del { prefix } => {
            let n = parse_prefix(prefix)?;
            let req = if matches!(cmd, PrefixCommand::Add { .. }) {
                Request::PrefixAdd {
                    prefix: n.to_string(),
                }
            } else {
                Request::PrefixDel {
                    prefix: n.to_string(),
                }
            };
            let r: EditResult = t.client()?.call(&req)?;
            out(w, &format!("{}\n", r.message))
        }
        PrefixCommand::Drain { name } | PrefixCommand::Undrain { name } => {
            let name = name.clone();
            let req = if matches!(cmd, PrefixCommand::Drain { .. }) {
                Request::PrefixDrain { name }
            } else {
                Request::PrefixUndrain { name }
            };
            let r: EditResult = t.client()?.call(&req)?;
            out(w, &format!("{}\n", r.message))
        }
        PrefixCommand::List { json } => {
            let l: PrefixList = t.client()?.call(&Request::PrefixList)?;
            out(
                w,
                &if *json {
                    json_line(&l)
                } else {
                    render::prefixes(&l)
                },
            )
        }
    }
}

/// `ADDR` or, for Teredo, `ADDR:PORT`.
fn split_addr(
    text: &str,
    kind: KindArg,
    port: Option<u16>,
) -> Result<(Ipv4Addr, Option<u16>), CtlError> {
    if let (KindArg::Teredo, Ok(sa)) = (kind, text.parse::<SocketAddrV4>()) {
        if port.is_some_and(|p| p != sa.port()) {
            return Err(CtlError::Usage(format!(
                "{text}: the port is given twice (ADDR:PORT and --port)"
            )));
        }
        return Ok((*sa.ip(), Some(sa.port())));
    }
    Ok((parse_addr(text)?, port))
}

fn kind_of(k: KindArg) -> AddrKind {
    match k {
        KindArg::SixToFour => AddrKind::SixToFour,
        KindArg::Teredo => AddrKind::Teredo,
    }
}

pub fn address(t: &Target, cmd: &AddressCommand, w: &mut dyn Write) -> Result<(), CtlError> {
    let req = match cmd {
        AddressCommand::Add { addr, kind, port } => {
            if matches!(kind, KindArg::SixToFour) && port.is_some() {
                return Err(CtlError::Usage(
                    "--port applies to --kind teredo only".into(),
                ));
            }
            let (a, port) = split_addr(addr, *kind, *port)?;
            Request::AddressAdd {
                kind: kind_of(*kind),
                addr: a.to_string(),
                port,
            }
        }
        AddressCommand::Del { addr, kind } => {
            let (a, _) = split_addr(addr, *kind, None)?;
            Request::AddressDel {
                kind: kind_of(*kind),
                addr: a.to_string(),
            }
        }
        AddressCommand::List { json } => {
            let l: AddressList = t.client()?.call(&Request::AddressList)?;
            return out(
                w,
                &if *json {
                    json_line(&l)
                } else {
                    render::addresses(&l)
                },
            );
        }
    };
    let r: EditResult = t.client()?.call(&req)?;
    out(w, &format!("{}\n", r.message))
}

pub fn peers(t: &Target, cmd: &PeersCommand, w: &mut dyn Write) -> Result<(), CtlError> {
    let (req, json) = match cmd {
        PeersCommand::List { json, limit } => {
            if !(1..=10_000).contains(limit) {
                return Err(CtlError::Usage(format!("--limit {limit}: use 1..=10000")));
            }
            (
                Request::PeersList {
                    limit: Some(*limit),
                },
                *json,
            )
        }
        PeersCommand::Show { addr, json } => {
            let a: std::net::Ipv6Addr = addr.parse().map_err(|_| {
                CtlError::Usage(format!(
                    "`{addr}` is not an IPv6 address (a Teredo peer, 2001:0:…)"
                ))
            })?;
            (
                Request::PeersShow {
                    addr: a.to_string(),
                },
                *json,
            )
        }
    };
    let l: PeerList = t.client()?.call(&req)?;
    let text = if json {
        json_line(&l)
    } else if matches!(cmd, PeersCommand::Show { .. }) {
        render::peer(&l)
    } else {
        render::peers(&l)
    };
    out(w, &text)
}

pub fn xdp(t: &Target, cmd: &XdpCommand, w: &mut dyn Write) -> Result<(), CtlError> {
    let layout = |dir: &Option<PathBuf>| PinLayout {
        dir: dir
            .clone()
            .unwrap_or_else(|| daemon::default_bpffs(&t.instance)),
    };
    match cmd {
        XdpCommand::Status { json, bpffs } => match t
            .client()
            .and_then(|mut c| Ok(c.call::<XdpStatus>(&Request::XdpStatus)?))
        {
            Ok(x) => out(
                w,
                &if *json {
                    json_line(&x)
                } else {
                    render::xdp(&x)
                },
            ),
            Err(CtlError::Client(ClientError::Unreachable { socket, source })) => {
                let l = layout(bpffs);
                let v = daemon::inspect_pins(&l);
                if *json {
                    out(w, &json_line(&v))
                } else {
                    let why = crate::admin::io_text(&source);
                    out(
                        w,
                        &format!(
                            "no daemon at {} ({why}); from the pins in {}:\n{}",
                            socket.display(),
                            l.dir.display(),
                            render::local_pins(&v)
                        ),
                    )
                }
            }
            Err(e) => Err(e),
        },
        XdpCommand::Detach { bpffs } => {
            let rep: DetachReport = match t.client() {
                Ok(mut c) => {
                    let r: DetachReport = c.call(&Request::XdpDetach)?;
                    out(w, "detached through the daemon, which stops now\n")?;
                    r
                }
                Err(CtlError::Client(ClientError::Unreachable { .. })) => {
                    daemon::detach_all(&layout(bpffs))?
                }
                Err(e) => return Err(e),
            };
            out(w, &render::detach(&rep, &layout(bpffs)))
        }
    }
}
