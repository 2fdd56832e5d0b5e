//! Loads the program for `BPF_PROG_TEST_RUN` (aya's `TestRun`), with an
//! AF_XDP socket in slot 0 of `xr_xsks`, and measures counter deltas.
//!
//! A test run without a context runs as receive queue 0 of `lo`; with one
//! (`ingress_ifindex`, `rx_queue_index`) the kernel checks that the device
//! has that queue. In this (non-live) mode the kernel reports the program's
//! return value and performs no redirect, so `XDP_REDIRECT` here means
//! "bpf_redirect_map found a socket in the slot".

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use aya::programs::{TestRun, TestRunOptions};
use xrelay_xdp::abi::Counter;
use xrelay_xdp::{CounterSnapshot, LoadOptions, RelayMaps, Settings, SteerProgram};

pub const XDP_PASS: u32 = 2;
pub const XDP_REDIRECT: u32 = 4;

pub fn action_name(a: u32) -> &'static str {
    match a {
        XDP_PASS => "XDP_PASS",
        XDP_REDIRECT => "XDP_REDIRECT",
        _ => "other",
    }
}

/// Why these tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return Some("BPF_PROG_TEST_RUN tests need root (CAP_BPF and CAP_NET_ADMIN)".into());
    }
    if let Err(e) = xrelay_xdp::program_bytes() {
        return Some(e.to_string());
    }
    None
}

/// An AF_XDP socket, unbound: enough for an `xr_xsks` entry.
pub fn xsk_socket() -> OwnedFd {
    // SAFETY: socket(2) with constant arguments has no memory-safety
    // preconditions; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    assert!(
        fd >= 0,
        "socket(AF_XDP): {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `fd` was just returned by socket(2): open, and owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[derive(Debug)]
pub struct Harness {
    pub prog: SteerProgram,
    pub maps: RelayMaps,
    pub xsk: OwnedFd,
}

/// `struct xdp_md` as BPF_PROG_TEST_RUN takes it for the context.
fn xdp_md(len: usize, ifindex: u32, queue: u32) -> [u8; 24] {
    let fields = [0, len as u32, 0, ifindex, queue, 0];
    let mut b = [0u8; 24];
    for (i, v) in fields.iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    }
    b
}

impl Harness {
    /// Loads with `settings`; `None` (after printing why) when the tests
    /// cannot run here.
    pub fn new(settings: Settings) -> Option<Harness> {
        if let Some(why) = skip_reason() {
            println!("skipped: {why}");
            return None;
        }
        let opts = LoadOptions {
            settings,
            ..LoadOptions::default()
        };
        let mut prog = SteerProgram::load(&opts).unwrap_or_else(|e| panic!("load: {e:?}"));
        let mut maps = prog.maps().expect("maps");
        let xsk = xsk_socket();
        maps.set_socket(0, &xsk).expect("socket in slot 0");
        Some(Harness { prog, maps, xsk })
    }

    /// Runs `frame` on queue 0 of lo; returns the action and the counter
    /// delta, and checks the program left the frame unchanged.
    pub fn run(&mut self, frame: &[u8]) -> (u32, CounterSnapshot) {
        self.run_ctx(frame, None)
    }

    /// As [`Harness::run`], received on `queue` of interface `ifindex`.
    pub fn run_on(&mut self, frame: &[u8], ifindex: u32, queue: u32) -> (u32, CounterSnapshot) {
        self.run_ctx(frame, Some(xdp_md(frame.len(), ifindex, queue)))
    }

    fn run_ctx(&mut self, frame: &[u8], ctx: Option<[u8; 24]>) -> (u32, CounterSnapshot) {
        let before = self.maps.counters().expect("counters");
        let mut out = vec![0u8; frame.len() + 256];
        let r = self
            .prog
            .program()
            .expect("program")
            .test_run(TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut out),
                ctx_in: ctx.as_ref().map(|c| &c[..]),
                ..TestRunOptions::new()
            })
            .unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN: {e:?}"));
        assert_eq!(
            &out[..r.data_size_out as usize],
            frame,
            "the program must not touch the frame"
        );
        let after = self.maps.counters().expect("counters");
        (r.return_value, after.delta(&before))
    }

    /// The raw test-run result, for frames the kernel may refuse.
    pub fn try_run(&mut self, frame: &[u8]) -> Result<u32, aya::programs::ProgramError> {
        self.prog
            .program()
            .expect("program")
            .test_run(TestRunOptions {
                data_in: Some(frame),
                ..TestRunOptions::new()
            })
            .map(|r| r.return_value)
    }
}

/// The non-zero totals of a delta, as `name+n` words.
pub fn describe(d: &CounterSnapshot) -> String {
    d.totals()
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .map(|(c, v)| format!("{}+{v}", c.name()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts the delta is exactly `want` (each +1) and nothing else.
pub fn assert_delta(d: &CounterSnapshot, want: &[Counter], ctx: &str) {
    for c in Counter::ALL {
        let n = want.iter().filter(|w| *w == c).count() as u64;
        assert_eq!(
            d.total(*c),
            n,
            "{ctx}: counter {} (delta: {})",
            c.name(),
            describe(d)
        );
    }
}

/// A network device that exists for the life of the guard (root netns,
/// `xr` names only, no addresses).
#[derive(Debug)]
pub struct Link {
    pub names: Vec<String>,
}

impl Link {
    pub fn new(args: &[&str], names: &[&str]) -> Result<Link, String> {
        let link = Link {
            names: names.iter().map(|s| s.to_string()).collect(),
        };
        for n in names {
            let _ = Command::new("ip").args(["link", "del", n]).output();
        }
        let o = Command::new("ip")
            .args(["link", "add"])
            .args(args)
            .output()
            .map_err(|e| format!("ip: {e}"))?;
        if !o.status.success() {
            return Err(String::from_utf8_lossy(&o.stderr).trim().to_owned());
        }
        Ok(link)
    }

    pub fn ifindex(&self, name: &str) -> u32 {
        std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ifindex for {name}"))
    }

    pub fn up(&self, name: &str) {
        let o = Command::new("ip")
            .args(["link", "set", name, "up"])
            .output()
            .expect("ip");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(n) = self.names.first() {
            let _ = Command::new("ip").args(["link", "del", n]).output();
        }
    }
}

/// A bpffs mounted on a fresh directory for the life of the guard.
#[derive(Debug)]
pub struct Bpffs {
    pub path: std::path::PathBuf,
}

impl Bpffs {
    /// `None` (after printing why) when bpffs cannot be mounted here.
    pub fn mount() -> Option<Bpffs> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("xr-bpffs-{}-{n}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&path) {
            println!("skipped: cannot create {}: {e}", path.display());
            return None;
        }
        let o = Command::new("mount")
            .args(["-t", "bpf", "xr-bpffs"])
            .arg(&path)
            .output();
        match o {
            Ok(o) if o.status.success() => Some(Bpffs { path }),
            Ok(o) => {
                println!(
                    "skipped: mount -t bpf: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                let _ = std::fs::remove_dir(&path);
                None
            }
            Err(e) => {
                println!("skipped: mount: {e}");
                let _ = std::fs::remove_dir(&path);
                None
            }
        }
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).output();
        let _ = std::fs::remove_dir(&self.path);
    }
}
