//! The XDP objects of one instance and their pins under the bpffs
//! directory (`--bpffs`, default `/sys/fs/bpf/xrelay/<instance>`), one
//! program instance per interface:
//!
//! ```text
//! DIR/<ifname>/xr_steer                          the program
//! DIR/<ifname>/link                              its bpf_link on <ifname>
//! DIR/<ifname>/xr_sixto4 xr_teredo xr_prefixes   steering maps (same contents on every interface)
//! DIR/<ifname>/xr_xsks xr_counters               socket slots and counters of this interface
//! ```
//!
//! One instance per interface because `xr_xsks` is indexed by receive
//! queue: two interfaces sharing it would fight over slot 0. The
//! dataplane (issue 4) looks for `DIR/<ifname>/` first.
//!
//! A pinned link keeps the program attached and its maps alive when no
//! process holds them, which is what lets the control daemon restart (or
//! die) without disturbing forwarding. [`bring_up`] therefore reuses
//! whatever is pinned and valid and only loads or attaches what is missing;
//! when relay.toml needs other load-time constants than the pinned program
//! has, it swaps a new program into the existing link atomically
//! (`BPF_LINK_UPDATE`), so the interface never runs without one.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::xdp::XdpLink;
use aya::programs::{ProgramError, ProgramInfo, Xdp, XdpMode};
use aya_obj::programs::XdpAttachType;
use xrelay_xdp::abi;
use xrelay_xdp::{AttachMode, LoadOptions, RelayMaps, Settings, SteerProgram};

use super::teardown::{detach_iface, unpin_link};
use crate::admin::PinStatus;
use crate::logline;
use crate::netlink::{self, NetlinkError};
use crate::state::ProgramRecord;

/// Setting up or tearing down the XDP objects failed.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error(transparent)]
    Xdp(Box<xrelay_xdp::Error>),
    #[error("{call} {}: {source}", .path.display())]
    Program {
        call: &'static str,
        path: PathBuf,
        #[source]
        source: ProgramError,
    },
    #[error("{call} {}: {source}", .path.display())]
    Link {
        call: &'static str,
        path: PathBuf,
        #[source]
        source: aya::programs::links::LinkError,
    },
    #[error("{call} of the XDP link on {iface}: {source}")]
    LinkUpdate {
        call: &'static str,
        iface: String,
        #[source]
        source: ProgramError,
    },
    #[error("{call} {}: {source}", .path.display())]
    Fs {
        call: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown interface {iface}: no such network interface{}; fix {key} in relay.toml or create the interface (`ip link`)", netns_text(.netns))]
    UnknownInterface {
        iface: String,
        key: &'static str,
        netns: Option<String>,
    },
    #[error("{iface} already runs XDP program id {prog_id}, which is not this instance's: remove it (`ip link set dev {iface} xdp off`) or `xrelayctl xdp detach` the instance that owns it")]
    Busy { iface: String, prog_id: u32 },
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

impl From<xrelay_xdp::Error> for PinError {
    fn from(e: xrelay_xdp::Error) -> PinError {
        PinError::Xdp(Box::new(e))
    }
}

fn netns_text(n: &Option<String>) -> String {
    n.as_ref()
        .map(|n| format!(" in network namespace {n}"))
        .unwrap_or_default()
}

/// Where the pins of an instance live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinLayout {
    pub dir: PathBuf,
}

impl PinLayout {
    pub fn iface_dir(&self, iface: &str) -> PathBuf {
        self.dir.join(iface)
    }
    pub fn program(&self, iface: &str) -> PathBuf {
        self.iface_dir(iface).join(abi::PROGRAM)
    }
    pub fn link(&self, iface: &str) -> PathBuf {
        self.iface_dir(iface).join("link")
    }
    pub fn maps(&self, iface: &str) -> Vec<PathBuf> {
        abi::MAPS
            .iter()
            .map(|m| self.iface_dir(iface).join(m.name))
            .collect()
    }
    /// Interfaces with a pin directory.
    pub fn pinned_ifaces(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<String> = rd
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
    /// Every pin this instance makes for `ifaces`, and whether it exists.
    pub fn status(&self, ifaces: &[Iface]) -> Vec<PinStatus> {
        let mut v = Vec::new();
        for i in ifaces {
            v.push(pin_status(self.program(&i.name), "program"));
            v.push(pin_status(self.link(&i.name), "link"));
            v.extend(self.maps(&i.name).into_iter().map(|p| pin_status(p, "map")));
        }
        v
    }
}

pub(super) fn pin_status(p: PathBuf, kind: &str) -> PinStatus {
    PinStatus {
        exists: p.exists(),
        path: p.display().to_string(),
        kind: kind.into(),
    }
}

/// A configured interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    /// `v4`, `v6` or `v4+v6`.
    pub role: &'static str,
    /// The relay.toml key naming it.
    pub key: &'static str,
}

/// How the program came to be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    Attached,
    Reused,
    Replaced,
}

impl Startup {
    pub const fn name(self) -> &'static str {
        match self {
            Startup::Attached => "attached",
            Startup::Reused => "reused",
            Startup::Replaced => "replaced",
        }
    }
}

/// How the set came up: `attached` if any interface was attached now,
/// else `replaced` if any program was swapped, else `reused`.
pub fn overall_startup(v: &[IfaceXdp]) -> Startup {
    if v.iter().any(|x| x.startup == Startup::Attached) {
        Startup::Attached
    } else if v.iter().any(|x| x.startup == Startup::Replaced) {
        Startup::Replaced
    } else {
        Startup::Reused
    }
}

/// The XDP program on one interface.
#[derive(Debug)]
pub struct IfaceXdp {
    pub name: String,
    pub prog_id: u32,
    /// The load-time constants, when known (a pinned program of unknown
    /// origin has none).
    pub settings: Option<Settings>,
    pub startup: Startup,
    pub link_id: u32,
    pub maps: RelayMaps,
}

/// The program to attach with: loaded by us, or opened from its pin.
enum Handle {
    None,
    Loaded(Box<SteerProgram>),
    Pinned(Box<Xdp>),
}

impl Handle {
    fn xdp(&mut self, pin: &Path) -> Result<&mut Xdp, PinError> {
        if let Handle::None = self {
            let x = Xdp::from_pin(pin, XdpAttachType::Interface).map_err(|source| {
                PinError::Program {
                    call: "open pinned program",
                    path: pin.to_owned(),
                    source,
                }
            })?;
            *self = Handle::Pinned(Box::new(x));
        }
        match self {
            Handle::Loaded(p) => Ok(p.program()?),
            Handle::Pinned(x) => Ok(x),
            Handle::None => Err(PinError::from(xrelay_xdp::Error::Missing {
                kind: "program",
                name: abi::PROGRAM,
            })),
        }
    }
}

pub(super) fn program_id(path: &Path) -> Result<u32, PinError> {
    ProgramInfo::from_pin(path)
        .map(|i| i.id())
        .map_err(|source| PinError::Program {
            call: "BPF_OBJ_GET",
            path: path.to_owned(),
            source,
        })
}

fn load(dir: &Path, settings: Settings) -> Result<SteerProgram, PinError> {
    Ok(SteerProgram::load(&LoadOptions {
        settings,
        pin_dir: Some(dir.to_owned()),
        xsk_slots: None,
    })?)
}

/// Makes a program instance run on every interface of `ifaces`, reusing
/// what is pinned (see the module docs), and opens its maps; detaches and
/// removes the pins of interfaces no longer configured. `records` is what
/// the previous run wrote to state.json about the programs it loaded.
pub fn bring_up(
    layout: &PinLayout,
    ifaces: &[Iface],
    mode: AttachMode,
    want: Settings,
    records: &BTreeMap<String, ProgramRecord>,
) -> Result<Vec<IfaceXdp>, PinError> {
    let mut v = Vec::new();
    for iface in ifaces {
        let dir = layout.iface_dir(&iface.name);
        fs::create_dir_all(&dir).map_err(|source| PinError::Fs {
            call: "mkdir",
            path: dir.clone(),
            source,
        })?;
        v.push(bring_up_one(
            layout,
            iface,
            mode,
            want,
            records.get(&iface.name).copied(),
        )?);
    }
    for name in layout.pinned_ifaces() {
        if !ifaces.iter().any(|i| i.name == name) {
            detach_iface(layout, &name)?;
            logline::info(
                "detached",
                &[("iface", &name), ("why", &"no longer in relay.toml")],
            );
        }
    }
    Ok(v)
}

fn bring_up_one(
    layout: &PinLayout,
    iface: &Iface,
    mode: AttachMode,
    want: Settings,
    record: Option<ProgramRecord>,
) -> Result<IfaceXdp, PinError> {
    let name = iface.name.as_str();
    let dir = layout.iface_dir(name);
    let prog_pin = layout.program(name);
    let mut handle = Handle::None;
    let (prog_id, settings, mut startup);
    if prog_pin.exists() {
        let id = program_id(&prog_pin)?;
        let known = record.filter(|r| r.prog_id == id).map(|r| r.settings());
        match known {
            Some(s) if s != want => {
                let mut p = load(&dir, want)?;
                prog_id = p.program()?.info().map(|i| i.id()).unwrap_or(0);
                fs::remove_file(&prog_pin).map_err(|source| PinError::Fs {
                    call: "unlink",
                    path: prog_pin.clone(),
                    source,
                })?;
                p.pin_program(&prog_pin)?;
                logline::info(
                    "program-reloaded",
                    &[
                        ("iface", &name),
                        ("old_prog_id", &id),
                        ("prog_id", &prog_id),
                        ("why", &"relay.toml needs other load-time constants"),
                    ],
                );
                handle = Handle::Loaded(Box::new(p));
                settings = Some(want);
                startup = Startup::Replaced;
            }
            Some(s) => {
                prog_id = id;
                settings = Some(s);
                startup = Startup::Reused;
            }
            None => {
                logline::warn(
                    "program-constants-unknown",
                    &[
                        ("iface", &name),
                        ("prog_id", &id),
                        ("hint", &"state.json has no record of this program; keeping it. `xrelayctl xdp detach` and restart to load afresh"),
                    ],
                );
                prog_id = id;
                settings = None;
                startup = Startup::Reused;
            }
        }
    } else {
        let mut p = load(&dir, want)?;
        prog_id = p.program()?.info().map(|i| i.id()).unwrap_or(0);
        p.pin_program(&prog_pin)?;
        handle = Handle::Loaded(Box::new(p));
        settings = Some(want);
        startup = Startup::Attached;
    }
    let link_id = attach_one(layout, iface, mode, prog_id, &mut handle, &mut startup)?;
    let maps = match handle {
        Handle::Loaded(mut p) => p.maps()?,
        _ => RelayMaps::from_pin_dir(&dir)?,
    };
    Ok(IfaceXdp {
        name: name.to_owned(),
        prog_id,
        settings,
        startup,
        link_id,
        maps,
    })
}

/// Ensures `iface` runs program `prog_id` through its pinned link;
/// returns the link id.
fn attach_one(
    layout: &PinLayout,
    iface: &Iface,
    mode: AttachMode,
    prog_id: u32,
    handle: &mut Handle,
    startup: &mut Startup,
) -> Result<u32, PinError> {
    let name = iface.name.as_str();
    let prog_pin = layout.program(name);
    let st = netlink::link_by_name(name)?.ok_or_else(|| PinError::UnknownInterface {
        iface: name.to_owned(),
        key: iface.key,
        netns: None,
    })?;
    let link_pin = layout.link(name);
    if link_pin.exists() {
        let fd = open_link(&link_pin)?;
        let info = fd.info().map_err(|source| PinError::Link {
            call: "BPF_OBJ_GET_INFO_BY_FD",
            path: link_pin.clone(),
            source,
        })?;
        if st.xdp_prog_id == Some(info.program_id()) {
            if info.program_id() == prog_id {
                if mode == AttachMode::Native && st.xdp != netlink::XdpAttach::Native {
                    logline::warn(
                        "mode-differs",
                        &[
                            ("iface", &name),
                            ("requested", &"native"),
                            ("kernel", &st.xdp),
                            ("hint", &"detach and restart to attach again"),
                        ],
                    );
                }
                logline::info(
                    "reused",
                    &[
                        ("iface", &name),
                        ("mode", &st.xdp),
                        ("prog_id", &prog_id),
                        ("link_id", &info.id()),
                        ("pin", &link_pin.display()),
                    ],
                );
                return Ok(info.id());
            }
            // The link runs an older program: swap ours in atomically.
            let xdp = handle.xdp(&prog_pin)?;
            let link = XdpLink::try_from(fd).map_err(|source| PinError::Link {
                call: "XDP link from pin",
                path: link_pin.clone(),
                source,
            })?;
            let upd = |call: &'static str| {
                let iface = name.to_owned();
                move |source| PinError::LinkUpdate {
                    call,
                    iface,
                    source,
                }
            };
            let id = xdp.attach_to_link(link).map_err(upd("BPF_LINK_UPDATE"))?;
            // The pin keeps the link; our handle on it can go.
            drop(xdp.take_link(id).map_err(upd("take_link"))?);
            logline::info(
                "replaced",
                &[
                    ("iface", &name),
                    ("old_prog_id", &info.program_id()),
                    ("prog_id", &prog_id),
                    ("link_id", &info.id()),
                ],
            );
            *startup = Startup::Replaced;
            return Ok(info.id());
        }
        logline::warn(
            "stale-link-pin",
            &[
                ("iface", &name),
                ("pin", &link_pin.display()),
                (
                    "why",
                    &"the interface does not run the link's program (re-created?); attaching again",
                ),
            ],
        );
        drop(fd);
        unpin_link(&link_pin)?;
    }
    if let Some(other) = st.xdp_prog_id {
        return Err(PinError::Busy {
            iface: name.to_owned(),
            prog_id: other,
        });
    }
    let xdp = handle.xdp(&prog_pin)?;
    let (id, used) = attach(xdp, name, mode)?;
    let link = xdp.take_link(id).map_err(|source| PinError::LinkUpdate {
        call: "take_link",
        iface: name.to_owned(),
        source,
    })?;
    let fd = FdLink::try_from(link).map_err(|source| PinError::Link {
        call: "link fd",
        path: link_pin.clone(),
        source,
    })?;
    let pinned = fd.pin(&link_pin).map_err(|source| {
        PinError::from(xrelay_xdp::Error::Pin {
            path: link_pin.clone(),
            source,
        })
    })?;
    let fd = FdLink::from(pinned);
    let link_id = fd.info().map(|i| i.id()).unwrap_or(0);
    logline::info(
        "attached",
        &[
            ("iface", &name),
            ("mode", &used.name()),
            ("prog_id", &prog_id),
            ("link_id", &link_id),
            ("pin", &link_pin.display()),
        ],
    );
    if *startup == Startup::Reused {
        // The link was missing: say so in `status`.
        *startup = Startup::Attached;
    }
    Ok(link_id)
}

/// Attaches in `mode`; `Auto` tries native first and logs the fallback.
fn attach(
    xdp: &mut Xdp,
    iface: &str,
    mode: AttachMode,
) -> Result<(aya::programs::xdp::XdpLinkId, AttachMode), PinError> {
    let try_mode = |xdp: &mut Xdp, m: AttachMode, xm: XdpMode| {
        xdp.attach(iface, xm).map_err(|source| {
            PinError::from(xrelay_xdp::Error::Attach {
                iface: iface.to_owned(),
                mode: m.name(),
                source,
            })
        })
    };
    match mode {
        AttachMode::Native => Ok((try_mode(xdp, mode, XdpMode::Driver)?, mode)),
        AttachMode::Generic => Ok((try_mode(xdp, mode, XdpMode::Skb)?, mode)),
        AttachMode::Auto => match try_mode(xdp, AttachMode::Native, XdpMode::Driver) {
            Ok(id) => Ok((id, AttachMode::Native)),
            Err(native) => {
                logline::warn(
                    "native-attach-failed",
                    &[
                        ("iface", &iface),
                        ("error", &native),
                        ("fallback", &"generic"),
                    ],
                );
                Ok((
                    try_mode(xdp, AttachMode::Generic, XdpMode::Skb)?,
                    AttachMode::Generic,
                ))
            }
        },
    }
}

pub(super) fn open_link(path: &Path) -> Result<FdLink, PinError> {
    PinnedLink::from_pin(path)
        .map(FdLink::from)
        .map_err(|source| PinError::Link {
            call: "BPF_OBJ_GET",
            path: path.to_owned(),
            source,
        })
}
