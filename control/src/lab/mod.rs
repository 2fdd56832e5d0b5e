//! The built-in lab (DESIGN §3): `xrelayctl lab up|down|status|run`.
//!
//! Two shapes, built in network namespaces with veth pairs only (every name
//! starts with the lab's prefix, `xr` by default; documentation addresses
//! only; nothing in the default namespace is touched):
//!
//! ```text
//! two-armed:  PFX-v4 ──IPv4 link── PFX-relay ──IPv6 link── PFX-v6
//!             PFX-v4p              PFX-v4 | PFX-v6          PFX-v6p
//! one-armed:  PFX-hosts ──one link (both families)── PFX-relay
//!             PFX-armp                              PFX-arm
//! ```
//!
//! - IPv4 hosts (`PFX-v4`, or `PFX-hosts`): the 6to4 site 192.0.2.1
//!   (2002:c000:201::/48), the Teredo client 192.0.2.10 (UDP port 40000
//!   as its mapping), its Teredo server 192.0.2.20.
//! - The relay (`PFX-relay`): 203.0.113.4 (6to4 unicast), 203.0.113.5
//!   (Teredo), 192.88.99.1 (6to4 anycast, only here), 2001:db8::ff.
//! - The native host (`PFX-v6`, or `PFX-hosts`): 2001:db8::1, with routes
//!   for 2002::/16 and 2001::/32 via the relay.
//!
//! TX checksum offload is off on every veth end, so what the kernels send
//! carries full checksums and captures validate. [`up`] writes the lab's
//! relay.toml (with the MACs of the veths as built) into the lab
//! directory `/run/xrelay-lab/PFX`; [`down`] removes everything a lab of
//! that prefix can consist of (also after a crash): the processes running
//! in its namespaces (by PID), the namespaces (and with them the veths),
//! the bpffs mounted under the lab directory, the directory.
//!
//! [`run`] is the demo: lab, daemon with the real dataplane, traffic on
//! all four paths, live counters, a summary, cleanup.

mod net;
mod run;

use std::fmt::Write as _;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

pub use run::{run, PathReport, RunOptions, RunReport};

/// The default name prefix.
pub const DEFAULT_PREFIX: &str = "xr";

pub const SITE_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const SITE_V6: Ipv6Addr = Ipv6Addr::new(0x2002, 0xc000, 0x0201, 0, 0, 0, 0, 1);
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const CLIENT_PORT: u16 = 40000;
pub const SERVER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);
pub const SERVER_PORT: u16 = 3544;
pub const RELAY_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 4);
pub const RELAY_TEREDO_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
pub const RELAY_TEREDO_PORT: u16 = 3545;
pub const ANYCAST_V4: Ipv4Addr = Ipv4Addr::new(192, 88, 99, 1);
pub const NATIVE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const RELAY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xff);

/// The Teredo client's address: server 192.0.2.20, no flags, mapping
/// 192.0.2.10:40000 (port and address bit-inverted, RFC 4380 §4).
pub fn client_v6() -> Ipv6Addr {
    let s = SERVER_V4.octets();
    let c = CLIENT_V4.octets();
    Ipv6Addr::new(
        0x2001,
        0,
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        0,
        !CLIENT_PORT,
        !u16::from_be_bytes([c[0], c[1]]),
        !u16::from_be_bytes([c[2], c[3]]),
    )
}

/// A lab's names, derived from its prefix and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub prefix: String,
    pub one_armed: bool,
}

/// One namespace of the lab and its veth end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub ns: String,
    pub iface: String,
}

impl Spec {
    /// Checks the prefix: `xr` followed by up to 6 of `[a-z0-9]`, so every
    /// name fits IFNAMSIZ and `down` can only ever match lab names.
    pub fn new(prefix: &str, one_armed: bool) -> Result<Spec> {
        let ok = prefix.starts_with("xr")
            && prefix.len() <= 8
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok {
            bail!("lab name {prefix:?}: use `xr` followed by at most 6 lower-case letters or digits (e.g. xr, xrdemo)");
        }
        Ok(Spec {
            prefix: prefix.to_owned(),
            one_armed,
        })
    }

    pub fn relay_ns(&self) -> String {
        format!("{}-relay", self.prefix)
    }

    /// Every namespace a lab of this prefix can have (either shape).
    pub fn all_namespaces(&self) -> Vec<String> {
        ["v4", "relay", "v6", "hosts"]
            .iter()
            .map(|s| format!("{}-{s}", self.prefix))
            .collect()
    }

    /// The namespaces of this shape.
    pub fn namespaces(&self) -> Vec<String> {
        if self.one_armed {
            vec![self.relay_ns(), format!("{}-hosts", self.prefix)]
        } else {
            vec![
                format!("{}-v4", self.prefix),
                self.relay_ns(),
                format!("{}-v6", self.prefix),
            ]
        }
    }

    /// (relay end, host end) of each link: the IPv4 (or only) link first.
    pub fn links(&self) -> Vec<(Node, Node)> {
        let p = &self.prefix;
        let relay = self.relay_ns();
        if self.one_armed {
            vec![(
                Node {
                    ns: relay,
                    iface: format!("{p}-arm"),
                },
                Node {
                    ns: format!("{p}-hosts"),
                    iface: format!("{p}-armp"),
                },
            )]
        } else {
            vec![
                (
                    Node {
                        ns: relay.clone(),
                        iface: format!("{p}-v4"),
                    },
                    Node {
                        ns: format!("{p}-v4"),
                        iface: format!("{p}-v4p"),
                    },
                ),
                (
                    Node {
                        ns: relay,
                        iface: format!("{p}-v6"),
                    },
                    Node {
                        ns: format!("{p}-v6"),
                        iface: format!("{p}-v6p"),
                    },
                ),
            ]
        }
    }

    /// Where the IPv4 hosts (6to4 site, Teredo client and server) live.
    pub fn v4_host(&self) -> Node {
        self.links()[0].1.clone()
    }

    /// Where the native IPv6 host lives.
    pub fn v6_host(&self) -> Node {
        self.links().last().expect("a link").1.clone()
    }

    pub fn dir(&self) -> PathBuf {
        PathBuf::from(format!("/run/xrelay-lab/{}", self.prefix))
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir().join("relay.toml")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.dir().join("state")
    }
    pub fn bpffs(&self) -> PathBuf {
        self.dir().join("bpf")
    }
    pub fn socket(&self) -> PathBuf {
        self.state_dir().join("admin.sock")
    }
    pub fn instance(&self) -> String {
        format!("lab-{}", self.prefix)
    }

    /// The daemon's arguments for this lab (after `xrelayctl`).
    pub fn daemon_args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["daemon".into(), "--config".into()];
        a.push(self.config_path().display().to_string());
        a.extend(["--instance".into(), self.instance()]);
        a.extend(["--netns".into(), self.relay_ns()]);
        a.extend(["--xdp-mode".into(), "native".into()]);
        a.extend(["--state-dir".into(), self.state_dir().display().to_string()]);
        a.extend(["--bpffs".into(), self.bpffs().display().to_string()]);
        a.extend(["--metrics".into(), "off".into()]);
        a.extend(["--detach-on-exit".into(), "--bind".into(), "copy".into()]);
        a.extend(["--queues".into(), "1".into()]);
        a
    }
}

/// Why the lab cannot be built here, if it cannot.
pub fn check_privileges() -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!("the lab needs root (network namespaces, XDP, bpffs): run it with sudo");
    }
    for (tool, pkg) in [("ip", "iproute2"), ("ethtool", "ethtool")] {
        if which(tool).is_none() {
            bail!("{tool} not found: apt-get install {pkg} (or run .ci/prereqs)");
        }
    }
    Ok(())
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Runs a command; insists on success; returns stdout.
fn sh(cmd: &mut Command) -> Result<String> {
    let o = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !o.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<String> {
    sh(Command::new("ip").args(args))
}

/// `ip -n NS ARGS…`
fn ipn(ns: &str, args: &str) -> Result<String> {
    sh(Command::new("ip")
        .args(["-n", ns])
        .args(args.split_whitespace()))
}

/// A program inside namespace `ns` (`ip netns exec`).
fn in_ns(ns: &str, prog: &str, args: &[&str]) -> Result<String> {
    sh(Command::new("ip")
        .args(["netns", "exec", ns, prog])
        .args(args))
}

/// The network namespaces that exist (names from `/run/netns`).
pub fn existing_namespaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Which shape of lab `prefix` exists: None (no namespace of it at all),
/// Some(one_armed) when its relay namespace exists.
pub fn find(prefix: &str) -> Result<Option<Spec>> {
    let spec = Spec::new(prefix, false)?;
    let have = existing_namespaces();
    if !have.contains(&spec.relay_ns()) {
        return Ok(None);
    }
    let one_armed = have.contains(&format!("{prefix}-hosts"));
    Ok(Some(Spec::new(prefix, one_armed)?))
}

/// Is the lab of `spec` complete (namespaces and links as built by [`up`])?
fn complete(spec: &Spec) -> bool {
    let have = existing_namespaces();
    let others = spec
        .all_namespaces()
        .into_iter()
        .filter(|n| !spec.namespaces().contains(n))
        .any(|n| have.contains(&n));
    if others || !spec.namespaces().iter().all(|n| have.contains(n)) {
        return false;
    }
    spec.links().iter().all(|(r, h)| {
        [r, h]
            .iter()
            .all(|n| ipn(&n.ns, &format!("link show dev {}", n.iface)).is_ok())
    }) && spec.config_path().is_file()
}

/// The MAC address of `node`'s interface.
fn mac_of(node: &Node) -> Result<String> {
    let out = ipn(&node.ns, &format!("-j link show dev {}", node.iface))?;
    let v: serde_json::Value = serde_json::from_str(&out).context("ip -j link")?;
    v.get(0)
        .and_then(|l| l.get("address"))
        .and_then(|a| a.as_str())
        .map(str::to_owned)
        .with_context(|| format!("no MAC address for {} in {}", node.iface, node.ns))
}

/// The relay.toml of the lab as built.
pub fn config_text(spec: &Spec, accept_unknown_peers: bool) -> Result<String> {
    let links = spec.links();
    let mut t = format!(
        "# xrelay lab {} ({}): written by `xrelayctl lab up`; documentation addresses only.\n\
         [relay]\nnative_addr = \"{RELAY_V6}\"\nipv4_subnets = [\"203.0.113.0/24\"]\n\n\
         [interfaces]\none_armed = {}\n",
        spec.prefix,
        if spec.one_armed {
            "one-armed"
        } else {
            "two-armed"
        },
        spec.one_armed
    );
    for ((r, h), side) in links.iter().zip(["v4", "v6"]) {
        let _ = write!(
            t,
            "\n[interfaces.{side}]\nname = \"{}\"\nmac = \"{}\"\nnext_hop_mac = \"{}\"\n",
            r.iface,
            mac_of(r)?,
            mac_of(h)?
        );
    }
    let _ = write!(
        t,
        "\n[sixto4]\nenabled = true\nanycast = true\nunicast_addr = \"{RELAY_V4}\"\n\n\
         [teredo]\nenabled = true\naddr = \"{RELAY_TEREDO_V4}\"\nport = {RELAY_TEREDO_PORT}\n\
         server_port = {SERVER_PORT}\naccept_unknown_peers = {accept_unknown_peers}\n"
    );
    xrelay_engine::Config::from_toml_str(&t).context("the generated lab relay.toml is invalid")?;
    Ok(t)
}

/// What [`up`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpOutcome {
    Built,
    AlreadyUp,
    Rebuilt,
}

/// Builds the lab (idempotent: a complete lab of this shape is kept, a
/// partial one or one of the other shape is removed and built again) and
/// writes its relay.toml.
pub fn up(spec: &Spec, accept_unknown_peers: bool) -> Result<UpOutcome> {
    check_privileges()?;
    if complete(spec) {
        // Rewrite the config (cheap, and the option may have changed).
        std::fs::write(spec.config_path(), config_text(spec, accept_unknown_peers)?)
            .context("writing relay.toml")?;
        return Ok(UpOutcome::AlreadyUp);
    }
    let had_any = !down(spec)?.is_empty();
    let r = build(spec, accept_unknown_peers);
    if r.is_err() {
        let _ = down(spec);
    }
    r?;
    Ok(if had_any {
        UpOutcome::Rebuilt
    } else {
        UpOutcome::Built
    })
}

fn build(spec: &Spec, accept_unknown_peers: bool) -> Result<()> {
    std::fs::create_dir_all(spec.dir())
        .with_context(|| format!("creating {}", spec.dir().display()))?;
    for ns in spec.namespaces() {
        ip(&["netns", "add", &ns])?;
        ipn(&ns, "link set lo up")?;
        // No DAD delay, no router solicitations: addresses usable at once.
        in_ns(
            &ns,
            "sysctl",
            &[
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
                "net.ipv6.conf.all.router_solicitations=0",
                "net.ipv6.conf.default.router_solicitations=0",
            ],
        )?;
    }
    for (r, h) in spec.links() {
        ip(&[
            "link", "add", &r.iface, "netns", &r.ns, "type", "veth", "peer", "name", &h.iface,
            "netns", &h.ns,
        ])?;
        for n in [&r, &h] {
            // Full checksums in what the kernels send (captures validate).
            in_ns(&n.ns, "ethtool", &["-K", &n.iface, "tx", "off"])?;
        }
    }
    let (r4, h4) = spec.links()[0].clone();
    let (r6, h6) = spec.links().last().expect("a link").clone();
    // The relay.
    for a in [
        format!("{RELAY_V4}/24"),
        format!("{RELAY_TEREDO_V4}/24"),
        format!("{ANYCAST_V4}/32"),
    ] {
        ipn(&r4.ns, &format!("addr add {a} dev {}", r4.iface))?;
    }
    ipn(
        &r6.ns,
        &format!("addr add {RELAY_V6}/64 dev {} nodad", r6.iface),
    )?;
    // IPv4 hosts: the 6to4 site, the Teredo client, its server.
    for a in [SITE_V4, CLIENT_V4, SERVER_V4] {
        ipn(&h4.ns, &format!("addr add {a}/24 dev {}", h4.iface))?;
    }
    // The native host.
    ipn(
        &h6.ns,
        &format!("addr add {NATIVE_V6}/64 dev {} nodad", h6.iface),
    )?;
    for (r, h) in spec.links() {
        ipn(&r.ns, &format!("link set {} up", r.iface))?;
        ipn(&h.ns, &format!("link set {} up", h.iface))?;
    }
    // Routes: the relay reaches the IPv4 hosts on its link; the IPv4
    // hosts reach the relay's addresses on theirs; the native host sends
    // 6to4 and Teredo destinations to the relay.
    ipn(&r4.ns, &format!("route add 192.0.2.0/24 dev {}", r4.iface))?;
    ipn(
        &h4.ns,
        &format!("route add 203.0.113.0/24 dev {}", h4.iface),
    )?;
    ipn(
        &h4.ns,
        &format!("route add {ANYCAST_V4}/32 dev {}", h4.iface),
    )?;
    for p in ["2002::/16", "2001::/32"] {
        ipn(
            &h6.ns,
            &format!("-6 route add {p} via {RELAY_V6} dev {}", h6.iface),
        )?;
    }
    std::fs::write(spec.config_path(), config_text(spec, accept_unknown_peers)?)
        .context("writing relay.toml")?;
    Ok(())
}

/// PIDs of the processes whose network namespace is `ns`.
fn pids_in(ns: &str) -> Vec<i32> {
    ip(&["netns", "pids", ns])
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
}

/// SIGTERM to each PID, SIGKILL after `grace` to what is left.
fn terminate(pids: &[i32], grace: Duration) {
    use rustix::process::{kill_process, Pid, Signal};
    for p in pids {
        if let Some(pid) = Pid::from_raw(*p) {
            let _ = kill_process(pid, Signal::TERM);
        }
    }
    let deadline = Instant::now() + grace;
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in pids.iter().filter(|p| alive(**p)) {
        if let Some(pid) = Pid::from_raw(*p) {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
}

/// Removes everything a lab of this prefix consists of (either shape):
/// processes in its namespaces (SIGTERM, SIGKILL after 6 s), the
/// namespaces with their veths, bpffs mounts under the lab directory, the
/// directory. Returns what it removed (empty: nothing was there).
pub fn down(spec: &Spec) -> Result<Vec<String>> {
    check_privileges()?;
    let mut removed = Vec::new();
    let have = existing_namespaces();
    let ours: Vec<String> = spec
        .all_namespaces()
        .into_iter()
        .filter(|n| have.contains(n))
        .collect();
    let me = std::process::id() as i32;
    let pids: Vec<i32> = ours
        .iter()
        .flat_map(|n| pids_in(n))
        .filter(|p| *p != me)
        .collect();
    if !pids.is_empty() {
        terminate(&pids, Duration::from_secs(6));
        removed.push(format!(
            "processes {}",
            pids.iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    for ns in &ours {
        ip(&["netns", "del", ns])?;
        removed.push(format!("namespace {ns}"));
    }
    let dir = spec.dir();
    if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
        let prefix = format!("{}/", dir.display());
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            sh(Command::new("umount").arg(p))?;
            removed.push(format!("bpffs {p}"));
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        removed.push(format!("directory {}", dir.display()));
    }
    // The parent (/run/xrelay-lab) goes with the last lab; remove_dir
    // fails, harmlessly, while another lab still has its directory there.
    if let Some(parent) = dir.parent() {
        if std::fs::remove_dir(parent).is_ok() {
            removed.push(format!("directory {}", parent.display()));
        }
    }
    Ok(removed)
}

/// Prints the lab's namespaces, links, addresses and daemon.
pub fn status(prefix: &str, w: &mut dyn Write) -> Result<bool> {
    check_privileges()?;
    let Some(spec) = find(prefix)? else {
        let stray: Vec<String> = Spec::new(prefix, false)?
            .all_namespaces()
            .into_iter()
            .filter(|n| existing_namespaces().contains(n))
            .collect();
        if stray.is_empty() {
            writeln!(w, "lab {prefix}: down (no namespace of it exists)")?;
        } else {
            writeln!(
                w,
                "lab {prefix}: partial ({} without {prefix}-relay): `xrelayctl lab down` removes it",
                stray.join(", ")
            )?;
        }
        return Ok(false);
    };
    let whole = complete(&spec);
    writeln!(
        w,
        "lab {}: {} {}",
        spec.prefix,
        if spec.one_armed {
            "one-armed"
        } else {
            "two-armed"
        },
        if whole {
            "up"
        } else {
            "partial (`xrelayctl lab up` rebuilds it)"
        }
    )?;
    for ns in spec.namespaces() {
        writeln!(w, "  namespace {ns}")?;
        let links = ipn(&ns, "-br addr show").unwrap_or_else(|e| format!("{e}\n"));
        for l in links.lines().filter(|l| !l.starts_with("lo ")) {
            writeln!(
                w,
                "    {}",
                l.split_whitespace().collect::<Vec<_>>().join("  ")
            )?;
        }
        let routes = ipn(&ns, "-6 route show").unwrap_or_default();
        for l in routes.lines().filter(|l| l.contains(" via ")) {
            writeln!(w, "    route {l}")?;
        }
    }
    writeln!(w, "  config    {}", spec.config_path().display())?;
    let pids = pids_in(&spec.relay_ns());
    let daemon = match xrelay_status(&spec) {
        Some(st) => format!(
            "running (socket {}): health {}, dataplane {}{}",
            spec.socket().display(),
            if st.health.ok { "ok" } else { "NOT ok" },
            st.dataplane.state,
            st.dataplane
                .pid
                .map(|p| format!(" pid {p}"))
                .unwrap_or_default()
        ),
        None if pids.is_empty() => format!(
            "not running; start it with:\n    xrelayctl {}",
            spec.daemon_args().join(" ")
        ),
        None => format!("not answering; processes in {}: {pids:?}", spec.relay_ns()),
    };
    writeln!(w, "  daemon    {daemon}")?;
    Ok(whole)
}

fn xrelay_status(spec: &Spec) -> Option<crate::admin::Status> {
    let mut c = crate::admin::Client::connect(&spec.socket()).ok()?;
    c.call(&crate::admin::Request::Status).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_stay_in_the_prefix() -> Result<()> {
        for one in [false, true] {
            let s = Spec::new("xrabcdef", one)?;
            for (r, h) in s.links() {
                assert!(r.iface.len() <= 15 && h.iface.len() <= 15, "{r:?} {h:?}");
                assert!(r.iface.starts_with("xrabcdef-") && h.ns.starts_with("xrabcdef-"));
            }
            assert!(s
                .namespaces()
                .iter()
                .all(|n| s.all_namespaces().contains(n)));
        }
        assert!(Spec::new("lab", false).is_err());
        assert!(Spec::new("xr-a", false).is_err());
        assert!(Spec::new("xr/..", false).is_err());
        assert!(Spec::new("xrabcdefg", false).is_err());
        Ok(())
    }

    #[test]
    fn teredo_client_address() {
        // Server 192.0.2.20 = c000:0214, port ~40000 = 63bf, ~192.0.2.10 = 3fff:fdf5.
        assert_eq!(
            client_v6(),
            "2001:0:c000:214:0:63bf:3fff:fdf5"
                .parse::<Ipv6Addr>()
                .unwrap()
        );
    }
}
