//! Root integration test of the `exabgp` backend (issue 6, docs/bgp.md),
//! in the two-armed lab (tag `b2`), the daemon with the real dataplane and
//! `announce.backend = "exabgp"`:
//!
//! 1. `xrelayctl exabgp` against the daemon: the exact lines ExaBGP's text
//!    API reads (`announce|withdraw route PREFIX next-hop self`), for the
//!    healthy set, a drain and an undrain; it exits when stdin closes.
//! 2. ExaBGP 4 itself in the relay namespace, running `xrelayctl exabgp`
//!    as its API process and peering with BIRD 2 in the peer namespace:
//!    the neighbour learns the three prefixes; SIGKILL of the dataplane
//!    withdraws them within 2 s (printed); they come back after the
//!    hold-down.
//!
//! Skips, saying why, without root, the XDP object, BIRD or ExaBGP.

#[allow(dead_code, reason = "shared BGP helpers; this test uses a part")]
mod bgp_kit;
#[allow(dead_code, reason = "shared lab helpers; this test uses a part")]
mod lab;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use bgp_kit::{
    default_routes, has_all, has_none, prerequisites, relay_toml, start_neighbour, ANYCAST,
    NEIGHBOUR_AS, SIXTO4, TEREDO,
};
use lab::{Lab, PEER_V4, PEER_V6, RELAY_V4, RELAY_V6, XRELAYCTL};

const HOLD_DOWN: u32 = 2;

fn exabgp_missing() -> Option<String> {
    let ok = Command::new("sh")
        .args(["-c", "command -v exabgp"])
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| "exabgp not found (apt-get install exabgp)".to_owned())
}

/// The next line within `limit`.
fn next_line(rx: &Receiver<String>, limit: Duration) -> String {
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("no line from xrelayctl exabgp within {limit:?}"))
}

fn line(verb: &str, p: &str) -> String {
    format!("{verb} route {p} next-hop self")
}

#[test]
fn exabgp_backend_lines_and_exabgp_itself() {
    let Some(bin) = prerequisites(exabgp_missing()) else {
        return;
    };
    let mut lab = Lab::new("b2");
    default_routes(&lab);
    let cfg = relay_toml(&lab.config(), "exabgp", HOLD_DOWN);
    let bin_s = bin.display().to_string();
    lab.start_daemon_with(
        &cfg,
        &["--dataplane", &bin_s, "--bind", "copy", "--queues", "1"],
    );
    let sock = lab.socket().display().to_string();

    // 1. The exact lines.
    let follower = lab.spawn(
        Command::new(XRELAYCTL)
            .args(["exabgp", "--socket", &sock, "--interval", "0.1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let fpid = follower.id();
    let mut stdin = follower.stdin.take().expect("stdin");
    let out = follower.stdout.take().expect("stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let mut first: Vec<String> = (0..3)
        .map(|_| next_line(&rx, Duration::from_secs(40)))
        .collect();
    first.sort();
    assert_eq!(
        first,
        [
            line("announce", ANYCAST),
            line("announce", TEREDO),
            line("announce", SIXTO4)
        ]
    );
    println!("[{:5.1}s] xrelayctl exabgp: {first:?}", lab.elapsed());
    // ExaBGP acknowledges with `done` on stdin: read and ignored.
    writeln!(stdin, "done").expect("write done");
    lab.ctl_ok(&["prefix", "drain", "teredo"]);
    assert_eq!(
        next_line(&rx, Duration::from_secs(2)),
        line("withdraw", TEREDO)
    );
    lab.ctl_ok(&["prefix", "undrain", "2001::/32"]);
    assert_eq!(
        next_line(&rx, Duration::from_secs(2)),
        line("announce", TEREDO)
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing more"
    );
    drop(stdin);
    let st = lab.wait_exit(fpid);
    assert!(st.success(), "xrelayctl exabgp exit: {st}");
    println!(
        "[{:5.1}s] drain/undrain lines exact; exits on stdin EOF",
        lab.elapsed()
    );

    // 2. ExaBGP itself, peering with BIRD.
    let relay_ns = lab.relay_ns.clone();
    let nb = start_neighbour(&mut lab);
    let exa_conf = format!(
        r#"process xrelay {{
    run {XRELAYCTL} exabgp --socket {sock};
    encoder text;
}}
neighbor {PEER_V4} {{
    router-id {RELAY_V4};
    local-address {RELAY_V4};
    local-as 65001;
    peer-as {NEIGHBOUR_AS};
    hold-time 3;
    family {{ ipv4 unicast; }}
    api {{ processes [ xrelay ]; }}
}}
neighbor {PEER_V6} {{
    router-id {RELAY_V4};
    local-address {RELAY_V6};
    local-as 65001;
    peer-as {NEIGHBOUR_AS};
    hold-time 3;
    family {{ ipv6 unicast; }}
    api {{ processes [ xrelay ]; }}
}}
"#
    );
    let conf = lab.write_config("exabgp.conf", &exa_conf);
    let log = std::fs::File::create(lab.path("exabgp.log")).expect("log");
    lab.spawn(
        Command::new("ip")
            .args(["netns", "exec", &relay_ns, "exabgp"])
            .arg(&conf)
            .env("exabgp_daemon_user", "root")
            .env("exabgp_daemon_drop", "false")
            .env("exabgp_daemon_daemonize", "false")
            .env("exabgp_api_cli", "false")
            .env("exabgp_log_destination", "stdout")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log),
    );
    let t = nb.wait(
        "the three prefixes from ExaBGP",
        Duration::from_secs(40),
        |r| [ANYCAST, SIXTO4, TEREDO].iter().all(|p| r.contains(*p)),
    );
    println!(
        "[{:5.1}s] ExaBGP → BIRD: neighbour has the three prefixes ({} ms)",
        lab.elapsed(),
        t.as_millis()
    );
    let all = nb
        .birdc(&["show", "route", "all", SIXTO4])
        .unwrap_or_default();
    assert!(all.contains("AS65001") && all.contains(RELAY_V6), "{all}");

    let dp = lab.status().dataplane.pid.expect("dataplane pid");
    lab::ok(Command::new("kill").args(["-KILL", &dp.to_string()]));
    let t0 = Instant::now();
    let gone = nb.wait(
        "withdrawal through ExaBGP",
        Duration::from_secs(5),
        has_none,
    );
    println!(
        "[{:5.1}s] SIGKILL of dataplane pid {dp}: withdrawn at the neighbour through ExaBGP after {} ms",
        lab.elapsed(),
        gone.as_millis()
    );
    assert!(gone <= Duration::from_secs(2), "{gone:?}");
    nb.wait("return through ExaBGP", Duration::from_secs(20), has_all);
    let back = t0.elapsed();
    println!(
        "[{:5.1}s] back after {} ms",
        lab.elapsed(),
        back.as_millis()
    );
    assert!(
        back >= Duration::from_secs(u64::from(HOLD_DOWN)),
        "{back:?}"
    );
}
