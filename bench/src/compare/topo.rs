//! The benchmark's lab: three network namespaces and two veth pairs, all
//! named after a prefix (default `xrz`, so it never meets the test suites'
//! `xr-*` labs), and an RAII guard that removes all of it — namespaces,
//! processes it started, the bpffs mount, the directory — on drop, on
//! error and after Ctrl-C.
//!
//! ```text
//!  PFX-v4                      PFX-relay                        PFX-v6
//!  PFX-h4 ═══════════════ PFX-r4  [relay under test]  PFX-r6 ═══════════════ PFX-h6
//!  02:00:00:00:04:02      02:00:00:00:04:01   02:00:00:00:06:01      02:00:00:00:06:02
//!  generator + sink       192.88.99.1/32 203.0.113.4,5/24             generator + sink
//!                         192.0.2.254/24 2001:db8:4::ff/64  2001:db8::ff/64 198.51.100.254/24
//! ```
//!
//! The hosts have no addresses: the generator writes whole frames and the
//! sink drops everything. Every next hop in the relay namespace is a
//! permanent neighbour, so no ARP/ND is ever needed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

pub const MAC_H4: &str = "02:00:00:00:04:02";
pub const MAC_R4: &str = "02:00:00:00:04:01";
pub const MAC_R6: &str = "02:00:00:00:06:01";
pub const MAC_H6: &str = "02:00:00:00:06:02";

/// Runs a command, failing with its stderr.
pub fn sh(args: &[&str]) -> Result<String> {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {}", args[0]))?;
    if !o.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Runs a command in namespace `ns`.
pub fn in_ns(ns: &str, args: &[&str]) -> Result<String> {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    sh(&v)
}

/// Runs `f` on a thread that entered namespace `ns`.
pub fn with_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(ns)?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Moves the calling thread into namespace `ns`.
pub fn enter_netns(ns: &str) -> Result<()> {
    let path = format!("/var/run/netns/{ns}");
    let fd = std::fs::File::open(&path).with_context(|| path.clone())?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&fd),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .with_context(|| format!("setns {ns}"))?;
    Ok(())
}

/// The lab and what runs in it.
#[derive(Debug)]
pub struct Lab {
    pub name: String,
    pub dir: PathBuf,
    pub bpffs: PathBuf,
    bpffs_mounted: bool,
    children: Vec<(String, Child)>,
    built: bool,
}

impl Lab {
    pub fn ns_v4(&self) -> String {
        format!("{}-v4", self.name)
    }
    pub fn ns_relay(&self) -> String {
        format!("{}-relay", self.name)
    }
    pub fn ns_v6(&self) -> String {
        format!("{}-v6", self.name)
    }
    pub fn h4(&self) -> String {
        format!("{}-h4", self.name)
    }
    pub fn r4(&self) -> String {
        format!("{}-r4", self.name)
    }
    pub fn r6(&self) -> String {
        format!("{}-r6", self.name)
    }
    pub fn h6(&self) -> String {
        format!("{}-h6", self.name)
    }

    /// Builds the lab, removing a previous one of the same name first.
    pub fn up(name: &str) -> Result<Lab> {
        if !name.starts_with("xr")
            || name.len() > 8
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            bail!("lab name {name:?}: `xr` and at most 6 more of [a-z0-9]");
        }
        let dir = PathBuf::from("/run/xrelay-bench").join(name);
        let mut lab = Lab {
            name: name.to_owned(),
            bpffs: dir.join("bpffs"),
            dir,
            bpffs_mounted: false,
            children: Vec::new(),
            built: true,
        };
        lab.remove_leftovers();
        std::fs::create_dir_all(&lab.bpffs).context("lab directory")?;
        sh(&[
            "mount",
            "-t",
            "bpf",
            &format!("{name}-bpffs"),
            path_str(&lab.bpffs)?,
        ])?;
        lab.bpffs_mounted = true;
        let (v4, relay, v6) = (lab.ns_v4(), lab.ns_relay(), lab.ns_v6());
        for ns in [&v4, &relay, &v6] {
            sh(&["ip", "netns", "add", ns])?;
            in_ns(ns, &["ip", "link", "set", "lo", "up"])?;
        }
        let (h4, r4, r6, h6) = (lab.h4(), lab.r4(), lab.r6(), lab.h6());
        sh(&[
            "ip", "-n", &v4, "link", "add", &h4, "address", MAC_H4, "type", "veth", "peer", "name",
            &r4, "address", MAC_R4, "netns", &relay,
        ])?;
        sh(&[
            "ip", "-n", &v6, "link", "add", &h6, "address", MAC_H6, "type", "veth", "peer", "name",
            &r6, "address", MAC_R6, "netns", &relay,
        ])?;
        for (ns, dev) in [(&v4, &h4), (&relay, &r4), (&relay, &r6), (&v6, &h6)] {
            in_ns(
                ns,
                &[
                    "sysctl",
                    "-qw",
                    &format!(
                        "net.ipv6.conf.{dev}.disable_ipv6={}",
                        u8::from(ns != &relay)
                    ),
                ],
            )?;
            in_ns(ns, &["ip", "link", "set", dev, "up"])?;
        }
        let r = |args: &[&str]| in_ns(&relay, args);
        for a in [
            "203.0.113.4/24",
            "203.0.113.5/24",
            "192.88.99.1/32",
            "192.0.2.254/24",
        ] {
            r(&["ip", "addr", "add", a, "dev", &r4])?;
        }
        r(&[
            "ip",
            "addr",
            "add",
            "2001:db8:4::ff/64",
            "dev",
            &r4,
            "nodad",
        ])?;
        r(&["ip", "addr", "add", "2001:db8::ff/64", "dev", &r6, "nodad"])?;
        r(&["ip", "addr", "add", "198.51.100.254/24", "dev", &r6])?;
        // Next hops, all permanent: the 6to4 site and the Teredo clients'
        // mappings behind 192.0.2.1, the native sink, the kernel references'
        // destinations.
        for (a, mac, dev) in [
            ("192.0.2.1", MAC_H4, &r4),
            ("192.0.2.10", MAC_H4, &r4),
            ("2001:db8:4::1", MAC_H4, &r4),
            ("2001:db8::1", MAC_H6, &r6),
            ("198.51.100.1", MAC_H6, &r6),
        ] {
            r(&[
                "ip",
                "neigh",
                "replace",
                a,
                "lladdr",
                mac,
                "nud",
                "permanent",
                "dev",
                dev,
            ])?;
        }
        r(&[
            "ip",
            "route",
            "add",
            "198.18.0.0/15",
            "via",
            "192.0.2.1",
            "dev",
            &r4,
        ])?;
        r(&[
            "ip",
            "route",
            "add",
            "198.19.0.0/16",
            "via",
            "198.51.100.1",
            "dev",
            &r6,
        ])?;
        r(&[
            "ip",
            "-6",
            "route",
            "add",
            "2001:db8:ffff::/48",
            "via",
            "2001:db8:4::1",
            "dev",
            &r4,
        ])?;
        for k in ["all", "default", r4.as_str(), r6.as_str()] {
            r(&["sysctl", "-qw", &format!("net.ipv4.conf.{k}.rp_filter=0")])?;
        }
        Ok(lab)
    }

    /// Kernel IP forwarding in the relay namespace (the kernel and miredo
    /// reference points), with the receiving work on `core` (RPS).
    pub fn kernel_forwarding(&self, on: bool, core: Option<usize>) -> Result<()> {
        let relay = self.ns_relay();
        let v = u8::from(on);
        in_ns(
            &relay,
            &["sysctl", "-qw", &format!("net.ipv4.ip_forward={v}")],
        )?;
        in_ns(
            &relay,
            &[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.all.forwarding={v}"),
            ],
        )?;
        let mask = match (on, core) {
            (true, Some(c)) => format!("{:x}", 1u64 << c),
            _ => "0".to_owned(),
        };
        for dev in [self.r4(), self.r6()] {
            let f = format!("/sys/class/net/{dev}/queues/rx-0/rps_cpus");
            in_ns(&relay, &["sh", "-c", &format!("echo {mask} > {f}")])?;
        }
        Ok(())
    }

    /// Starts a process (its output to `log`) and keeps it for the guard.
    pub fn spawn(&mut self, label: &str, args: &[&str], log: &str) -> Result<u32> {
        let out = std::fs::File::create(self.dir.join(log)).context("log file")?;
        let err = out.try_clone()?;
        let child = Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", args.join(" ")))?;
        let pid = child.id();
        self.children.push((label.to_owned(), child));
        Ok(pid)
    }

    /// Whether the child `pid` still runs.
    pub fn alive(&mut self, pid: u32) -> bool {
        self.children
            .iter_mut()
            .find(|(_, c)| c.id() == pid)
            .is_some_and(|(_, c)| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops child `pid`: SIGTERM, SIGKILL after `grace`.
    pub fn stop(&mut self, pid: u32, grace: Duration) {
        if let Some(i) = self.children.iter().position(|(_, c)| c.id() == pid) {
            let (_, mut c) = self.children.swap_remove(i);
            stop_child(&mut c, grace);
        }
    }

    fn remove_leftovers(&mut self) {
        for ns in [self.ns_v4(), self.ns_relay(), self.ns_v6()] {
            if let Ok(pids) = sh(&["ip", "netns", "pids", &ns]) {
                for pid in pids.split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).output();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
        let _ = Command::new("umount").arg(&self.bpffs).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// What of a lab named `name` exists (for the no-leftovers check).
    pub fn leftovers(name: &str) -> Vec<String> {
        let mut v = Vec::new();
        let list = sh(&["ip", "netns", "list"]).unwrap_or_default();
        for l in list.lines() {
            let n = l.split_whitespace().next().unwrap_or("");
            if n.strip_prefix(name).is_some_and(|r| r.starts_with('-')) {
                v.push(format!("namespace {n}"));
            }
        }
        let dir = PathBuf::from("/run/xrelay-bench").join(name);
        if dir.exists() {
            v.push(format!("directory {}", dir.display()));
        }
        v
    }
}

fn path_str(p: &std::path::Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

fn stop_child(c: &mut Child, grace: Duration) {
    let pid = c.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).output();
    let t = Instant::now();
    while t.elapsed() < grace {
        if !matches!(c.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.built {
            return;
        }
        for (_, c) in &mut self.children {
            stop_child(c, Duration::from_secs(5));
        }
        self.children.clear();
        for ns in [self.ns_v4(), self.ns_relay(), self.ns_v6()] {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
        if self.bpffs_mounted {
            let _ = Command::new("umount").arg(&self.bpffs).output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
