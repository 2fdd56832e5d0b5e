//! Root integration test of `xrelayctl lab` (the built-in lab and demo):
//! `lab run` delivers every packet of all four paths exactly once and the
//! dataplane's counters move by exactly those numbers; afterwards nothing
//! of the lab is left (namespaces, directory, daemon and dataplane
//! processes). `lab up` → `lab status` → `lab down` leaves nothing either.
//! Skips, saying why, without root, the XDP object, ip or ethtool.

#[allow(dead_code, reason = "shared lab helpers; this test uses dataplane_bin")]
mod lab;

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Command, Output};

use lab::dataplane_bin;
use xrelay_control::lab::RunReport;

const XRELAYCTL: &str = env!("CARGO_BIN_EXE_xrelayctl");

fn skip_reason() -> Option<String> {
    if std::env::var_os("XRELAY_TEST_UNPRIVILEGED").is_some() {
        return Some("XRELAY_TEST_UNPRIVILEGED is set".into());
    }
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return Some("needs root (network namespaces, XDP, bpffs)".into());
    }
    if let Err(e) = xrelay_xdp::program_bytes() {
        return Some(e.to_string());
    }
    for (tool, pkg) in [("ip", "iproute2"), ("ethtool", "ethtool")] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{tool} not found (apt-get install {pkg})"));
        }
    }
    None
}

fn ctl(args: &[&str]) -> Output {
    Command::new(XRELAYCTL)
        .args(args)
        .env_remove("XRELAY_DATAPLANE")
        .output()
        .expect("xrelayctl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Names of the lab `prefix` that exist: namespaces and the directory.
fn leftovers(prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{prefix}-")))
                .collect()
        })
        .unwrap_or_default();
    let dir = format!("/run/xrelay-lab/{prefix}");
    if Path::new(&dir).exists() {
        v.push(dir);
    }
    v
}

/// Removes the lab on drop (a failed assertion leaves nothing behind).
struct Down(&'static str);
impl Drop for Down {
    fn drop(&mut self) {
        let _ = ctl(&["lab", "down", "--name", self.0]);
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn lab_run_relays_every_packet_exactly_once() {
    if let Some(why) = skip_reason() {
        println!("skipped: {why}");
        return;
    }
    const PREFIX: &str = "xrt1";
    let _down = Down(PREFIX);
    let bin = dataplane_bin();
    let report =
        std::env::temp_dir().join(format!("xrelay-lab-report-{}.json", std::process::id()));
    let (seconds, rate) = (5u64, 300u64);
    let o = ctl(&[
        "lab",
        "run",
        "--seconds",
        &seconds.to_string(),
        "--rate",
        &rate.to_string(),
        "--name",
        PREFIX,
        "--dataplane",
        &bin.display().to_string(),
        "--report",
        &report.display().to_string(),
    ]);
    let out = text(&o);
    println!("{out}");
    assert!(o.status.success(), "lab run failed: {out}");
    let r: RunReport =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
    let _ = std::fs::remove_file(&report);
    assert_eq!(r.paths.len(), 4);
    for p in &r.paths {
        assert_eq!(p.sent, seconds * rate, "{}: sent", p.path);
        assert_eq!(p.received, p.sent, "{}: received", p.path);
        assert_eq!(p.duplicates, 0, "{}: duplicates", p.path);
        assert_eq!(p.counter_delta, p.sent, "{}: {} moved", p.path, p.counter);
        assert_eq!(r.events.get(&p.counter).copied(), Some(p.sent));
    }
    assert!(r.drops.is_empty(), "drops: {:?}", r.drops);
    assert_eq!(r.bad_checksums, 0);
    assert_eq!(r.send_errors, 0);
    assert!(r.exact() && !r.interrupted);
    assert!(
        r.teredo_trust.starts_with("handshake"),
        "{}",
        r.teredo_trust
    );
    assert!(
        out.contains("result: every packet relayed exactly once"),
        "{out}"
    );
    // Nothing is left: namespaces, directory, the daemon, the dataplane.
    assert_eq!(leftovers(PREFIX), Vec::<String>::new());
    assert!(!alive(r.daemon_pid), "daemon {} survived", r.daemon_pid);
    let dp = r.dataplane_pid.expect("dataplane pid");
    assert!(!alive(dp), "dataplane {dp} survived");
    assert!(
        r.cleanup.iter().any(|c| c.contains("namespace xrt1-relay")),
        "{:?}",
        r.cleanup
    );
}

#[test]
fn lab_up_status_down_leaves_nothing() {
    if let Some(why) = skip_reason() {
        println!("skipped: {why}");
        return;
    }
    const PREFIX: &str = "xrt2";
    let _down = Down(PREFIX);
    let o = ctl(&["lab", "up", "--name", PREFIX]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("built (two-armed)"), "{}", text(&o));
    let o = ctl(&["lab", "up", "--name", PREFIX]);
    assert!(text(&o).contains("already up"), "{}", text(&o));

    let o = ctl(&["lab", "status", "--name", PREFIX]);
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    for want in [
        "lab xrt2: two-armed up",
        "namespace xrt2-v4",
        "namespace xrt2-relay",
        "namespace xrt2-v6",
        "192.0.2.1/24",
        "192.0.2.10/24",
        "203.0.113.4/24",
        "203.0.113.5/24",
        "192.88.99.1/32",
        "2001:db8::ff/64",
        "2001:db8::1/64",
        "route 2002::/16 via 2001:db8::ff",
        "route 2001::/32 via 2001:db8::ff",
        "daemon    not running",
    ] {
        assert!(s.contains(want), "status lacks {want:?}: {s}");
    }
    let cfg = std::fs::read_to_string(format!("/run/xrelay-lab/{PREFIX}/relay.toml"))
        .expect("relay.toml");
    let cfg = xrelay_engine::Config::from_toml_str(&cfg).expect("valid relay.toml");
    assert_eq!(cfg.interfaces.v4.name, "xrt2-v4");
    assert_eq!(cfg.interfaces.v6.name, "xrt2-v6");
    // TX checksum offload is off on the veths.
    let e = Command::new("ip")
        .args(["netns", "exec", "xrt2-v6", "ethtool", "-k", "xrt2-v6p"])
        .output()
        .expect("ethtool");
    assert!(
        String::from_utf8_lossy(&e.stdout).contains("tx-checksumming: off"),
        "{}",
        String::from_utf8_lossy(&e.stdout)
    );

    // The other shape replaces it.
    let o = ctl(&["lab", "up", "--one-armed", "--name", PREFIX]);
    assert!(text(&o).contains("rebuilt (a partial"), "{}", text(&o));
    let s = text(&ctl(&["lab", "status", "--name", PREFIX]));
    assert!(
        s.contains("lab xrt2: one-armed up") && s.contains("namespace xrt2-hosts"),
        "{s}"
    );
    assert!(!s.contains("namespace xrt2-v4"), "{s}");

    let o = ctl(&["lab", "down", "--name", PREFIX]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("namespace xrt2-relay"), "{}", text(&o));
    assert_eq!(leftovers(PREFIX), Vec::<String>::new());
    let s = text(&ctl(&["lab", "status", "--name", PREFIX]));
    assert!(s.contains("lab xrt2: down"), "{s}");
    let o = ctl(&["lab", "down", "--name", PREFIX]);
    assert!(text(&o).contains("nothing to remove"), "{}", text(&o));
    // Names outside the rule are refused (exit 2).
    assert_eq!(
        ctl(&["lab", "down", "--name", "lab"]).status.code(),
        Some(2)
    );
}
