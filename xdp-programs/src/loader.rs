//! Loading and attaching the steering program with aya 0.14.
//!
//! Start-up order for the daemon: [`SteerProgram::load`] (constants set,
//! maps created or reused from a pin directory) → [`SteerProgram::maps`]
//! and [`RelayMaps::apply`](crate::RelayMaps::apply) (addresses and
//! prefixes) → the dataplane fills `xr_xsks` → [`SteerProgram::attach`].
//! Shutdown detaches first.

use std::path::{Path, PathBuf};

use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{ProgramError, Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};

use crate::abi::{self, ConstInfo};
use crate::{Error, RelayMaps};

/// The load-time constants (`volatile const` in `include/config.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Steer IPv4 protocol 41 to the addresses in `xr_sixto4`.
    pub sixto4: bool,
    /// Steer IPv4 UDP to the address and port in `xr_teredo`.
    pub teredo: bool,
    /// Steer IPv6 to the prefixes in `xr_prefixes`.
    pub native: bool,
    /// Steer ICMPv4 errors (types 3, 11, 12) to a relay address.
    pub icmp4_errors: bool,
}

impl Default for Settings {
    /// The values compiled into the object.
    fn default() -> Self {
        Settings {
            sixto4: abi::CFG_SIXTO4.default != 0,
            teredo: abi::CFG_TEREDO.default != 0,
            native: abi::CFG_NATIVE.default != 0,
            icmp4_errors: abi::CFG_ICMP4_ERR.default != 0,
        }
    }
}

impl Settings {
    /// Each constant with the value to load.
    pub fn values(&self) -> [(ConstInfo, u8); 4] {
        [
            (abi::CFG_SIXTO4, u8::from(self.sixto4)),
            (abi::CFG_TEREDO, u8::from(self.teredo)),
            (abi::CFG_NATIVE, u8::from(self.native)),
            (abi::CFG_ICMP4_ERR, u8::from(self.icmp4_errors)),
        ]
    }
}

/// How to load the object.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub settings: Settings,
    /// Pin every map as `DIR/<map name>`, reusing maps already pinned there
    /// (their contents survive a restart of the control process). The
    /// directory must exist on a bpffs.
    pub pin_dir: Option<PathBuf>,
    /// Slots of `xr_xsks` (one per receive queue; default 256).
    pub xsk_slots: Option<u32>,
}

/// XDP attach mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachMode {
    /// In the driver; fails where the driver has no XDP support.
    Native,
    /// In the kernel's generic path (slower; any interface).
    Generic,
    /// Native, falling back to generic.
    Auto,
}

impl AttachMode {
    pub const fn name(self) -> &'static str {
        match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
            AttachMode::Auto => "auto",
        }
    }
}

/// Where an attach ended up.
#[derive(Debug)]
pub struct Attached {
    /// Native or generic (never `Auto`).
    pub mode: AttachMode,
    /// The native attempt's error when `Auto` fell back to generic; the
    /// daemon logs it as a warning.
    pub fallback_from: Option<Error>,
    /// aya's handle, for [`SteerProgram::detach`].
    pub link: aya::programs::xdp::XdpLinkId,
}

/// The loaded steering program and whatever maps are still inside it.
#[derive(Debug)]
pub struct SteerProgram {
    ebpf: Ebpf,
}

impl SteerProgram {
    /// Loads the object built by `build.rs` (see [`crate::program_bytes`]).
    pub fn load(opts: &LoadOptions) -> Result<SteerProgram, Error> {
        SteerProgram::load_bytes(crate::program_bytes()?, opts)
    }

    /// Loads an object: constants set, maps created (or reused from
    /// `opts.pin_dir`), program verified and loaded, not attached.
    pub fn load_bytes(object: &[u8], opts: &LoadOptions) -> Result<SteerProgram, Error> {
        let values = opts.settings.values();
        let pins: Vec<(&'static str, PathBuf)> = match &opts.pin_dir {
            Some(dir) => abi::MAPS
                .iter()
                .map(|m| (m.name, dir.join(m.name)))
                .collect(),
            None => Vec::new(),
        };
        let mut loader = EbpfLoader::new();
        for (c, v) in &values {
            loader.override_global(c.name, v, true);
        }
        for (name, path) in &pins {
            loader.map_pin_path(name, path.as_path());
        }
        if let Some(n) = opts.xsk_slots {
            loader.map_max_entries(abi::MAP_XSKS, n);
        }
        let mut ebpf = loader.load(object).map_err(|e| Error::Load(Box::new(e)))?;
        let prog = program_mut(&mut ebpf)?;
        prog.load().map_err(|source| Error::Program {
            call: "load (verifier)",
            source,
        })?;
        Ok(SteerProgram { ebpf })
    }

    /// Takes the maps out of the object for editing and counters. Works
    /// once; later calls return [`Error::Missing`].
    pub fn maps(&mut self) -> Result<RelayMaps, Error> {
        RelayMaps::from_ebpf(&mut self.ebpf)
    }

    /// The aya program, for what this crate does not wrap (test runs,
    /// link handling).
    pub fn program(&mut self) -> Result<&mut Xdp, Error> {
        program_mut(&mut self.ebpf)
    }

    /// Pins the program at `path` (the maps are pinned by
    /// [`LoadOptions::pin_dir`]).
    pub fn pin_program(&mut self, path: &Path) -> Result<(), Error> {
        self.program()?.pin(path).map_err(|source| Error::Pin {
            path: path.to_owned(),
            source,
        })
    }

    /// Attaches to `iface`. `Auto` tries native first and reports the
    /// fallback in [`Attached::fallback_from`].
    pub fn attach(&mut self, iface: &str, mode: AttachMode) -> Result<Attached, Error> {
        let prog = self.program()?;
        let try_mode = |prog: &mut Xdp, m: AttachMode, xm: XdpMode| {
            prog.attach(iface, xm).map_err(|source| Error::Attach {
                iface: iface.to_owned(),
                mode: m.name(),
                source,
            })
        };
        match mode {
            AttachMode::Native => Ok(Attached {
                mode,
                fallback_from: None,
                link: try_mode(prog, mode, XdpMode::Driver)?,
            }),
            AttachMode::Generic => Ok(Attached {
                mode,
                fallback_from: None,
                link: try_mode(prog, mode, XdpMode::Skb)?,
            }),
            AttachMode::Auto => match try_mode(prog, AttachMode::Native, XdpMode::Driver) {
                Ok(link) => Ok(Attached {
                    mode: AttachMode::Native,
                    fallback_from: None,
                    link,
                }),
                // No interface: generic mode would fail the same way.
                Err(
                    e @ Error::Attach {
                        source: ProgramError::UnknownInterface { .. },
                        ..
                    },
                ) => Err(e),
                Err(native) => Ok(Attached {
                    mode: AttachMode::Generic,
                    link: try_mode(prog, AttachMode::Generic, XdpMode::Skb)?,
                    fallback_from: Some(native),
                }),
            },
        }
    }

    /// Pins an attachment at `path` (on a bpffs) so that it outlives this
    /// process: the program stays attached, with its maps, until the file is
    /// removed. A restarted daemon finds it with `PinnedLink::from_pin`;
    /// `PinnedLink::unpin` (or removing the file) detaches. Only bpf_link
    /// attachments can be pinned; the netlink path aya falls back to on
    /// kernels before 5.9 cannot.
    pub fn pin_link(&mut self, attached: Attached, path: &Path) -> Result<PinnedLink, Error> {
        let link = self
            .program()?
            .take_link(attached.link)
            .map_err(|source| Error::Program {
                call: "take_link",
                source,
            })?;
        let fd = FdLink::try_from(link).map_err(|source| Error::Link {
            call: "link fd",
            source,
        })?;
        fd.pin(path).map_err(|source| Error::Pin {
            path: path.to_owned(),
            source,
        })
    }

    /// Detaches one attachment.
    pub fn detach(&mut self, attached: Attached) -> Result<(), Error> {
        self.program()?
            .detach(attached.link)
            .map_err(|source| Error::Program {
                call: "detach",
                source,
            })
    }
}

fn program_mut(ebpf: &mut Ebpf) -> Result<&mut Xdp, Error> {
    let prog = ebpf.program_mut(abi::PROGRAM).ok_or(Error::Missing {
        kind: "program",
        name: abi::PROGRAM,
    })?;
    prog.try_into().map_err(|source| Error::Program {
        call: "program type",
        source,
    })
}
