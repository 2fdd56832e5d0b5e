//! xrelay's XDP steering program: the C source (`src/xrelay.bpf.c`,
//! `include/`), built by `build.rs` with clang, its ABI in Rust
//! ([`abi`]), and a loader on aya 0.14 for the control daemon.
//!
//! ```text
//!  NIC rx queue q ──► xr_steer ──► XDP_REDIRECT ──► xr_xsks[q] (AF_XDP, dataplane)
//!                        │
//!                        └──────► XDP_PASS ──► kernel (ARP, ND, BGP, SSH, …)
//! ```
//!
//! The program steers IPv4 protocol 41 to a relay address (`xr_sixto4`),
//! UDP to the Teredo address and port (`xr_teredo`), IPv6 to a managed
//! prefix (`xr_prefixes`), and, when enabled, ICMPv4 errors to a relay
//! address; everything else, and anything for a queue without a socket,
//! passes. Per-CPU counters count each frame once per class and once per
//! action ([`abi::Counter`]).
//!
//! Without clang the crate still builds; [`program_bytes`] then says which
//! packages to install.

pub mod abi;
mod loader;
mod maps;
mod steering;

use std::path::PathBuf;

pub use loader::{AttachMode, Attached, LoadOptions, Settings, SteerProgram};
pub use maps::{CounterSnapshot, RelayMaps};
pub use steering::{Steering, TEREDO_PREFIX};

/// Why loading, editing or attaching failed; each names the call and object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `build.rs` could not build the object on this machine.
    #[error("the XDP program was not built: {0}; then rebuild")]
    NotBuilt(&'static str),
    #[error("loading the XDP object: {0}")]
    Load(#[source] Box<aya::EbpfError>),
    #[error("the XDP object has no {kind} `{name}`; is it the object of this crate version?")]
    Missing {
        kind: &'static str,
        name: &'static str,
    },
    #[error("{call} of program xr_steer: {source}")]
    Program {
        call: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("attaching xr_steer to {iface} in {mode} mode: {source}")]
    Attach {
        iface: String,
        mode: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("{call} of the XDP link: {source}")]
    Link {
        call: &'static str,
        #[source]
        source: aya::programs::links::LinkError,
    },
    #[error("{call} on map {map}: {source}")]
    Map {
        map: &'static str,
        call: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("pinning at {}: {source}", .path.display())]
    Pin {
        path: PathBuf,
        #[source]
        source: aya::pin::PinError,
    },
    #[error("prefix {prefix} refused: {why}")]
    BadPrefix { prefix: String, why: &'static str },
}

#[cfg(xr_bpf_object)]
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xrelay.bpf.o"));

/// The compiled object (ELF, BPF target), or why it was not built, naming
/// the packages to install.
pub fn program_bytes() -> Result<&'static [u8], Error> {
    #[cfg(xr_bpf_object)]
    {
        Ok(OBJECT)
    }
    #[cfg(not(xr_bpf_object))]
    {
        Err(Error::NotBuilt(env!("XRELAY_XDP_MISSING")))
    }
}
