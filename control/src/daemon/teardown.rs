//! Taking an instance down (`xrelayctl xdp detach`, `--detach-on-exit`) and
//! reading its pins without a daemon (`xrelayctl xdp status`).

use std::fs;
use std::path::Path;

use aya::programs::links::PinnedLink;

use super::pins::{open_link, pin_status, program_id, PinError, PinLayout};
use crate::admin::{DetachReport, PinStatus};
use crate::sys;

/// Files the kernel puts at the root of every bpffs mount (BPF preload).
pub const PRELOADED: [&str; 2] = ["maps.debug", "progs.debug"];

/// Removes a link pin; once no fd refers to the link either, the kernel
/// detaches the program from the interface.
pub(super) fn unpin_link(path: &Path) -> Result<(), PinError> {
    match PinnedLink::from_pin(path) {
        Ok(l) => {
            let fd = l.unpin().map_err(|source| PinError::Fs {
                call: "unlink",
                path: path.to_owned(),
                source,
            })?;
            drop(fd);
            Ok(())
        }
        // Not a link (or unreadable): remove the file all the same.
        Err(_) => remove_if_there(path).map(|_| ()),
    }
}

fn remove_if_there(path: &Path) -> Result<bool, PinError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(PinError::Fs {
            call: "unlink",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Detaches `iface` (removing its link pin) and removes its program and
/// map pins and its directory; returns the paths removed.
pub(super) fn detach_iface(layout: &PinLayout, iface: &str) -> Result<Vec<String>, PinError> {
    let mut removed = Vec::new();
    let link = layout.link(iface);
    if link.exists() {
        unpin_link(&link)?;
        removed.push(link.display().to_string());
    }
    let mut rest = vec![layout.program(iface)];
    rest.extend(layout.maps(iface));
    for p in rest {
        if remove_if_there(&p)? {
            removed.push(p.display().to_string());
        }
    }
    let dir = layout.iface_dir(iface);
    if fs::remove_dir(&dir).is_ok() {
        removed.push(dir.display().to_string());
    }
    Ok(removed)
}

/// Detaches and removes every pin of the instance: per interface the link
/// first (which detaches it), then the program and the maps; then the
/// directory when it is empty and not a mount point. Works without a
/// daemon; a daemon that still runs keeps its map handles until it exits.
pub fn detach_all(layout: &PinLayout) -> Result<DetachReport, PinError> {
    let mut r = DetachReport::default();
    for iface in layout.pinned_ifaces() {
        let link = layout.link(&iface);
        if link.exists() {
            r.links.push(link.display().to_string());
        }
        r.removed.extend(detach_iface(layout, &iface)?);
    }
    if let Ok(rd) = fs::read_dir(&layout.dir) {
        r.left = rd
            .filter_map(Result::ok)
            // The root of a fresh bpffs holds the kernel's preloaded
            // iterators; they are not ours and not pins.
            .filter(|e| !PRELOADED.contains(&e.file_name().to_string_lossy().as_ref()))
            .map(|e| e.path().display().to_string())
            .collect();
        r.left.sort();
    }
    if r.left.is_empty()
        && layout.dir.exists()
        && !sys::is_mount_point(&layout.dir)
        && fs::remove_dir(&layout.dir).is_ok()
    {
        r.removed.push(layout.dir.display().to_string());
    }
    Ok(r)
}

/// What the pins of an instance say, read without a daemon.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocalPins {
    pub dir: String,
    pub on_bpffs: bool,
    pub interfaces: Vec<LocalIface>,
}

/// The pins of one interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocalIface {
    pub iface: String,
    /// Program id of `DIR/<iface>/xr_steer`.
    pub program: Option<u32>,
    pub link: String,
    pub link_id: Option<u32>,
    /// The program the link runs.
    pub link_prog_id: Option<u32>,
    pub maps: Vec<PinStatus>,
}

/// Reads the pins of `layout` (bpffs must be mounted to see any).
pub fn inspect_pins(layout: &PinLayout) -> LocalPins {
    let interfaces = layout
        .pinned_ifaces()
        .into_iter()
        .map(|iface| {
            let link = layout.link(&iface);
            let info = open_link(&link).ok().and_then(|l| l.info().ok());
            LocalIface {
                program: program_id(&layout.program(&iface)).ok(),
                link: link.display().to_string(),
                link_id: info.as_ref().map(|i| i.id()),
                link_prog_id: info.as_ref().map(|i| i.program_id()),
                maps: layout
                    .maps(&iface)
                    .into_iter()
                    .map(|p| pin_status(p, "map"))
                    .collect(),
                iface,
            }
        })
        .collect();
    LocalPins {
        dir: layout.dir.display().to_string(),
        on_bpffs: sys::is_bpffs(&layout.dir),
        interfaces,
    }
}
