//! The few system calls of the control process that std lacks: entering a
//! network namespace and mounting bpffs (through rustix; no `unsafe`).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::mount::MountFlags;
use rustix::thread::LinkNameSpaceType;

/// `BPF_FS_MAGIC` from `linux/magic.h`.
pub const BPF_FS_MAGIC: u64 = 0xcafe_4a11;

/// The standard bpffs mount point.
pub const SYS_FS_BPF: &str = "/sys/fs/bpf";

#[derive(Debug, thiserror::Error)]
pub enum SysError {
    #[error("network namespace {name}: open {}: {source}; create it with `ip netns add {name}` or fix --netns", .path.display())]
    NetnsOpen {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("network namespace {name}: setns: {source}")]
    Setns {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{call} {}: {source}", .path.display())]
    Fs {
        call: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mount -t bpf on {}: {source}; mount it yourself (`mount -t bpf bpf {}`) or choose --bpffs", .path.display(), .path.display())]
    Mount {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Moves the calling thread into network namespace `name`
/// (`/run/netns/NAME`, as `ip netns add` makes it); the mount namespace
/// stays, so bpffs pins stay visible to everyone. Threads spawned later
/// inherit the namespace: call this before spawning any.
pub fn enter_netns(name: &str) -> Result<(), SysError> {
    let path = if name.contains('/') {
        PathBuf::from(name)
    } else {
        Path::new("/run/netns").join(name)
    };
    let f = File::open(&path).map_err(|source| SysError::NetnsOpen {
        name: name.to_owned(),
        path: path.clone(),
        source,
    })?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&f),
        Some(LinkNameSpaceType::Network),
    )
    .map_err(|e| SysError::Setns {
        name: name.to_owned(),
        source: e.into(),
    })
}

/// Is `path` on a bpffs?
pub fn is_bpffs(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type as u64 == BPF_FS_MAGIC)
}

/// Is `path` the root of a mount (its device differs from its parent's)?
pub fn is_mount_point(path: &Path) -> bool {
    let Some(parent) = path.parent() else {
        return true; // "/"
    };
    let (Ok(me), Ok(parent)) = (std::fs::metadata(path), std::fs::metadata(parent)) else {
        return false;
    };
    me.dev() != parent.dev() || me.ino() == parent.ino()
}

/// Makes `dir` exist on a bpffs. When its nearest existing ancestor is not
/// on one, bpffs is mounted on /sys/fs/bpf (for a `dir` below it) or on
/// `dir` itself. Returns the mount point when this call mounted one.
pub fn ensure_bpffs_dir(dir: &Path) -> Result<Option<PathBuf>, SysError> {
    let mut probe = dir.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    let mut mounted = None;
    if !is_bpffs(&probe) {
        let target = if dir.starts_with(SYS_FS_BPF) {
            PathBuf::from(SYS_FS_BPF)
        } else {
            dir.to_path_buf()
        };
        std::fs::create_dir_all(&target).map_err(|source| SysError::Fs {
            call: "mkdir",
            path: target.clone(),
            source,
        })?;
        rustix::mount::mount("bpf", &target, "bpf", MountFlags::empty(), None).map_err(|e| {
            SysError::Mount {
                path: target.clone(),
                source: e.into(),
            }
        })?;
        mounted = Some(target);
    }
    std::fs::create_dir_all(dir).map_err(|source| SysError::Fs {
        call: "mkdir",
        path: dir.to_owned(),
        source,
    })?;
    Ok(mounted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_is_not_bpffs_and_root_is_a_mount_point() {
        assert!(!is_bpffs(&std::env::temp_dir()));
        assert!(is_mount_point(Path::new("/")));
    }

    #[test]
    fn a_missing_netns_names_the_fix() {
        let e = enter_netns("xr-no-such-netns").map_err(|e| e.to_string());
        assert!(
            matches!(&e, Err(m) if m.contains("/run/netns/xr-no-such-netns") && m.contains("ip netns add")),
            "{e:?}"
        );
    }
}
