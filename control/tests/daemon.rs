//! The control daemon in a netns lab (root; each test prints why it skips
//! elsewhere, and `XRELAY_TEST_UNPRIVILEGED=1` forces the skip).
//!
//! - `daemon_lifecycle`: native attach on two veths, pins visible to bpftool,
//!   ARP / ND / TCP through the attached interfaces, exact per-class counts,
//!   `prefix add`/`del` without re-attaching, SIGKILL leaves the program
//!   attached and a new daemon reuses it, `xdp detach` leaves nothing.
//! - `counters_json_metrics_and_maps_agree`: `counters show --json`,
//!   `/metrics` and the per-CPU map read directly agree; `--watch`;
//!   `xdp detach` without a daemon.
//! - `bad_input_changes_nothing`: invalid config, unknown interface, bad
//!   prefixes and addresses, a missing socket: one line, non-zero exit, the
//!   running daemon's state unchanged; `--detach-on-exit`.
//!
//! Run with `-- --nocapture` for the timing lines.

#[allow(dead_code, reason = "shared lab helpers; this test uses a part")]
mod lab;

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use lab::frames::{self as f, times};
use lab::{assert_exact, Lab, PYTHON, RELAY_V4, RELAY_V6, TEREDO_V4};
use xrelay_control::admin::{Counters, PrefixList, Status};
use xrelay_control::daemon::parse_exposition;
use xrelay_xdp::abi::{self, Counter, CounterGroup};
use xrelay_xdp::RelayMaps;

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("IPv4")
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("IPv6")
}

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Non-zero exit and exactly one stderr line `xrelayctl: …` holding `needles`.
fn assert_one_line_error(o: &std::process::Output, code: i32, needles: &[&str]) {
    let err = stderr_of(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("xrelayctl: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

/// (interface, program id, link id) per interface.
type Attachments = Vec<(String, u32, u32)>;

fn attachments(st: &Status) -> Attachments {
    st.xdp
        .interfaces
        .iter()
        .map(|i| {
            let p = i.program.as_ref().expect("program").id;
            (i.name.clone(), p, i.link_id.expect("link id"))
        })
        .collect()
}

/// bpftool sees the pinned programs, links and maps, and the kernel runs
/// each interface's program in driver (native) mode.
fn check_bpftool(lab: &Lab, att: &Attachments) {
    for (iface, prog_id, link_id) in att {
        let dir = lab.bpffs().join(iface);
        let prog = lab.bpftool(
            None,
            &[
                "prog",
                "show",
                "pinned",
                &dir.join("xr_steer").display().to_string(),
            ],
        );
        assert_eq!(
            (&prog["id"], &prog["type"], &prog["name"]),
            (&(*prog_id).into(), &"xdp".into(), &"xr_steer".into()),
            "{prog}"
        );
        let l = lab.bpftool(
            None,
            &[
                "link",
                "show",
                "pinned",
                &dir.join("link").display().to_string(),
            ],
        );
        assert_eq!(
            (&l["id"], &l["prog_id"], &l["type"]),
            (&(*link_id).into(), &(*prog_id).into(), &"xdp".into()),
            "{l}"
        );
        let net = lab.bpftool(Some(&lab.relay_ns), &["net", "show", "dev", iface]);
        let xdp = &net[0]["xdp"][0];
        assert_eq!(
            (&xdp["devname"], &xdp["mode"], &xdp["id"]),
            (&iface.as_str().into(), &"driver".into(), &(*prog_id).into()),
            "{net}"
        );
        let link = lab.ns(&lab.relay_ns, &format!("ip -d link show dev {iface}"));
        assert!(link.contains(&format!("prog/xdp id {prog_id}")), "{link}");
        for m in abi::MAPS {
            let j = lab.bpftool(
                None,
                &[
                    "map",
                    "show",
                    "pinned",
                    &dir.join(m.name).display().to_string(),
                ],
            );
            assert_eq!(j["name"], m.name, "{j}");
        }
    }
}

/// Frames of every class of a 6to4 + Teredo relay, with exact deltas.
fn check_classes(lab: &Lab) {
    let mut v4_frames = times(f::proto41(v4(RELAY_V4)), 3);
    v4_frames.extend(times(f::proto41(v4("192.88.99.1")), 2));
    v4_frames.extend(times(f::udp4(v4(TEREDO_V4), 3545), 4));
    v4_frames.extend(times(f::icmp4_unreachable(v4(RELAY_V4)), 1));
    v4_frames.extend(times(f::udp4(v4(TEREDO_V4), 9999), 2));
    v4_frames.extend(times(f::tcp4(v4(RELAY_V4), 179), 3));
    let want = [
        ("proto41", 5),
        ("teredo", 4),
        ("icmp4_err", 1),
        ("no_xsk", 10),
        ("pass_v4_port", 2),
        ("pass_v4", 3),
    ];
    let d = lab.send_and_count(&lab.p4, &v4_frames, &want);
    assert_exact(&d, &want, "IPv4 classes");

    let mut v6_frames = times(f::ipv6(v6("2002:cb00:7104::1")), 2);
    v6_frames.extend(times(
        f::ipv6(v6("2001:0:4136:e378:8000:63bf:3fff:fdd2")),
        3,
    ));
    v6_frames.extend(times(f::ipv6(v6(RELAY_V6)), 1));
    v6_frames.extend(times(f::ipv6(v6("2001:db8:ffff::1")), 2));
    let want = [
        ("native_6to4", 2),
        ("native_teredo", 3),
        ("no_xsk", 5),
        ("pass_v6", 3),
    ];
    let d = lab.send_and_count(&lab.p6, &v6_frames, &want);
    assert_exact(&d, &want, "IPv6 classes");
}

/// `prefix add` steers, `prefix del` stops, neither re-attaches.
fn check_prefix_edits(lab: &Lab, att: &Attachments) {
    let out = lab.ctl_ok(&["prefix", "add", "2001:db8:ffff::/48"]);
    assert_eq!(out.trim(), "prefix 2001:db8:ffff::/48 added");
    let l: PrefixList =
        serde_json::from_str(&lab.ctl_ok(&["prefix", "list", "--json"])).expect("json");
    assert!(
        l.prefixes.iter().any(|p| p.prefix == "2001:db8:ffff::/48"
            && p.kind == "operator"
            && p.source == "runtime"),
        "{l:?}"
    );
    let frames = times(f::ipv6(v6("2001:db8:ffff::1")), 4);
    let want = [("native_oper", 4), ("no_xsk", 4)];
    assert_exact(
        &lab.send_and_count(&lab.p6, &frames, &want),
        &want,
        "after prefix add",
    );

    let out = lab.ctl_ok(&["prefix", "del", "2001:db8:ffff::/48"]);
    assert_eq!(out.trim(), "prefix 2001:db8:ffff::/48 removed");
    let frames = times(f::ipv6(v6("2001:db8:ffff::1")), 3);
    let want = [("pass_v6", 3)];
    assert_exact(
        &lab.send_and_count(&lab.p6, &frames, &want),
        &want,
        "after prefix del",
    );

    // Same programs, same links: nothing was re-attached.
    assert_eq!(&attachments(&lab.status()), att);
    check_bpftool(lab, att);
}

/// ARP, ND (global and link-local) and a TCP connection through the
/// attached interfaces; the program saw them and passed them.
fn check_connectivity(lab: &mut Lab) {
    let before = lab.counters();
    let peer = lab.peer_ns.clone();
    lab.echo(RELAY_V4);
    let neigh = lab.ns(&peer, &format!("ip neigh show {RELAY_V4} dev {}", lab.p4));
    assert!(neigh.contains("02:00:00:00:03:01"), "ARP: {neigh}");
    lab.echo(RELAY_V6);
    let neigh = lab.ns(
        &peer,
        &format!("ip -6 neigh show {RELAY_V6} dev {}", lab.p6),
    );
    assert!(neigh.contains("02:00:00:00:03:11"), "ND: {neigh}");
    let ll = lab.ns(
        &lab.relay_ns,
        &format!("ip -6 -o addr show dev {} scope link", lab.r6),
    );
    let ll = ll
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .expect("link-local")
        .split('/')
        .next()
        .expect("addr")
        .to_owned();
    lab.echo(&format!("{ll}%{}", lab.p6));

    let listener = format!(
        "import socket\ns=socket.create_server(('{RELAY_V4}',8179))\ns.settimeout(10)\nprint('ready',flush=True)\n\
         c,_=s.accept()\nc.sendall(b'xrelay-ok\\n')\nc.close()"
    );
    let relay = lab.relay_ns.clone();
    let child = lab.spawn(
        Command::new("ip")
            .args([
                "netns", "exec", &relay, "timeout", "20", PYTHON, "-c", &listener,
            ])
            .stdout(Stdio::piped()),
    );
    assert_eq!(lab::read_line_within(child, 10).trim(), "ready");
    let got = lab.ns(
        &peer,
        &format!(
            "timeout 10 {PYTHON} -c \"import socket; s=socket.create_connection(('{RELAY_V4}',8179),timeout=5); print(s.recv(64).decode().strip())\""
        ),
    );
    assert_eq!(got.trim(), "xrelay-ok");

    let d = lab::delta(&lab.counters(), &before);
    for class in [
        "proto41",
        "teredo",
        "icmp4_err",
        "native_6to4",
        "native_teredo",
        "native_oper",
        "xdp_redirect",
    ] {
        assert_eq!(d[class], 0, "{class}: {d:?}");
    }
    // ARP request and NS to the solicited-node group; echo and TCP.
    assert!(
        d["pass_l2_mcast"] >= 2 && d["pass_v4"] >= 2 && d["pass_v6"] >= 2,
        "{d:?}"
    );
}

/// The per-CPU counters of one interface's program, read from its pins.
fn direct_iface(lab: &Lab, iface: &str) -> xrelay_xdp::CounterSnapshot {
    RelayMaps::from_pin_dir(&lab.bpffs().join(iface))
        .expect("pinned maps")
        .counters()
        .expect("counters")
}

/// Totals over both interfaces, read from the pins.
fn direct_total(lab: &Lab, c: Counter) -> u64 {
    [&lab.r4, &lab.r6]
        .iter()
        .map(|i| direct_iface(lab, i).total(c))
        .sum()
}

#[test]
fn daemon_lifecycle() {
    let Some(mut lab) = lab::lab("3a") else {
        return;
    };
    let pid = lab.start_daemon(&[]);
    println!("[{:5.1}s] daemon up", lab.elapsed());
    assert!(
        xrelay_control::sys::is_bpffs(&lab.bpffs()),
        "the daemon mounts bpffs"
    );
    let st = lab.status();
    assert_eq!(st.xdp.startup, "attached");
    assert!(lab::xdp_healthy(&st), "{:?}", st.health);
    // --no-dataplane (lab default) and none running: absent, and said so.
    assert_eq!(st.dataplane.state, "absent");
    assert!(!st.dataplane.supervised && !st.dataplane.healthy);
    assert!(
        st.dataplane.message.contains("--no-dataplane"),
        "{}",
        st.dataplane.message
    );
    for i in &st.xdp.interfaces {
        assert!(
            i.ours && i.xdp_mode == "native" && i.rx_queues.is_some(),
            "{i:?}"
        );
    }
    let att = attachments(&st);
    assert_eq!(att.len(), 2);
    assert_ne!(att[0].1, att[1].1, "one program instance per interface");
    check_bpftool(&lab, &att);
    let human = lab.ctl_ok(&["status"]);
    assert!(
        human.contains("dataplane: absent: --no-dataplane"),
        "{human}"
    );
    println!(
        "[{:5.1}s] attached natively, pins seen by bpftool",
        lab.elapsed()
    );

    check_classes(&lab);
    println!("[{:5.1}s] every class counted exactly", lab.elapsed());
    check_prefix_edits(&lab, &att);
    println!(
        "[{:5.1}s] prefix add/del steer and unsteer without re-attaching",
        lab.elapsed()
    );
    check_connectivity(&mut lab);
    println!(
        "[{:5.1}s] ARP, ND, TCP work through the attached interfaces",
        lab.elapsed()
    );

    // SIGKILL: the program stays attached and keeps counting.
    lab.ctl_ok(&["prefix", "add", "2001:db8:eeee::/48"]);
    let before = lab.counters();
    lab.kill9(pid);
    for (iface, prog_id, _) in &att {
        let l = lab.ns(&lab.relay_ns, &format!("ip link show dev {iface}"));
        assert!(
            l.contains(&format!("prog/xdp id {prog_id}")),
            "still attached after SIGKILL: {l}"
        );
    }
    for c in &before.xdp {
        let counter = *Counter::ALL
            .iter()
            .find(|x| x.name() == c.name)
            .expect("counter");
        if c.name != "pass_l2_mcast" && c.name != "xdp_pass" {
            assert_eq!(
                direct_total(&lab, counter),
                c.total,
                "{} readable after SIGKILL",
                c.name
            );
        }
    }
    let proto41 = direct_total(&lab, Counter::Proto41);
    lab.send(&lab.p4, &times(f::proto41(v4(RELAY_V4)), 2));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while direct_total(&lab, Counter::Proto41) < proto41 + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no counting without the daemon"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "[{:5.1}s] SIGKILL: still attached, still steering",
        lab.elapsed()
    );

    let pid2 = lab.start_daemon(&[]);
    let st = lab.status();
    assert_eq!(st.xdp.startup, "reused", "{:?}", st.xdp);
    assert_eq!(attachments(&st), att, "not re-attached");
    check_bpftool(&lab, &att);
    let log = lab.daemon_log(2);
    assert!(
        log.contains("event=reused") && !log.contains("event=attached"),
        "{log}"
    );
    let after = lab.counters();
    let total = |c: &Counters, n: &str| c.xdp.iter().find(|x| x.name == n).map_or(0, |x| x.total);
    assert_eq!(total(&after, "proto41"), total(&before, "proto41") + 2);
    let l: PrefixList =
        serde_json::from_str(&lab.ctl_ok(&["prefix", "list", "--json"])).expect("json");
    assert!(
        l.prefixes
            .iter()
            .any(|p| p.prefix == "2001:db8:eeee::/48" && p.source == "runtime"),
        "{l:?}"
    );
    let want = [("native_oper", 1), ("no_xsk", 1)];
    assert_exact(
        &lab.send_and_count(&lab.p6, &[f::ipv6(v6("2001:db8:eeee::1"))], &want),
        &want,
        "persisted prefix",
    );
    println!(
        "[{:5.1}s] new daemon reused the pins; edits persisted",
        lab.elapsed()
    );

    // Detach through the daemon: nothing left, the daemon stops.
    let out = lab.ctl_ok(&["xdp", "detach"]);
    assert!(out.contains("detached"), "{out}");
    assert!(lab.wait_exit(pid2).success());
    for (iface, prog_id, _) in &att {
        let l = lab.ns(&lab.relay_ns, &format!("ip link show dev {iface}"));
        assert!(!l.contains("xdp"), "{l}");
        let net = lab.bpftool(Some(&lab.relay_ns), &["net", "show", "dev", iface]);
        assert_eq!(net[0]["xdp"], serde_json::json!([]), "{net}");
        let gone = Command::new("bpftool")
            .args(["prog", "show", "id", &prog_id.to_string()])
            .output()
            .expect("bpftool");
        assert!(!gone.status.success(), "program {prog_id} still loaded");
    }
    assert_eq!(lab.pins_left(), Vec::<String>::new());
    assert_one_line_error(&lab.ctl(&["status"]), 1, &["cannot reach the daemon"]);
    println!("[{:5.1}s] xdp detach left nothing behind", lab.elapsed());
}

fn metrics(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("metrics connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let mut r = String::new();
    s.read_to_string(&mut r).expect("response");
    let (head, body) = r.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_owned()
}

fn family(g: CounterGroup) -> (&'static str, &'static str) {
    match g {
        CounterGroup::Steered | CounterGroup::Passed => ("xrelay_xdp_frames_total", "class"),
        CounterGroup::Action => ("xrelay_xdp_actions_total", "action"),
        CounterGroup::Detail => ("xrelay_xdp_steered_details_total", "detail"),
    }
}

#[test]
fn counters_json_metrics_and_maps_agree() {
    let Some(mut lab) = lab::lab("3b") else {
        return;
    };
    let pid = lab.start_daemon(&[]);
    let addr = lab.status().metrics.expect("metrics address");
    let mut frames = times(f::proto41(v4(RELAY_V4)), 3);
    frames.extend(times(f::udp4(v4(TEREDO_V4), 3545), 2));
    frames.extend(times(f::tcp4(v4(RELAY_V4), 22), 1));
    lab.send_and_count(
        &lab.p4,
        &frames,
        &[("proto41", 3), ("teredo", 2), ("pass_v4", 1)],
    );

    // Three views read between two direct reads that agree (no frame in between).
    let ifaces = [lab.r4.clone(), lab.r6.clone()];
    let read_all = |lab: &Lab| {
        ifaces
            .iter()
            .map(|i| direct_iface(lab, i))
            .collect::<Vec<_>>()
    };
    let mut agreed = false;
    for _ in 0..20 {
        let a = read_all(&lab);
        let json = lab.counters();
        let text = metrics(&addr);
        let b = read_all(&lab);
        if a != b {
            continue;
        }
        let m = parse_exposition(&text);
        let get = |k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert_eq!(json.cpus, a[0].per_cpu.len());
        assert_eq!(get("xrelay_xdp_cpus"), Some(json.cpus as u64));
        for c in Counter::ALL {
            let idx = c.index() as usize;
            let mut sum_cpu = vec![0u64; json.cpus];
            for (iface, snap) in ifaces.iter().zip(&a) {
                let per_cpu: Vec<u64> = snap.per_cpu.iter().map(|v| v[idx]).collect();
                for (s, v) in sum_cpu.iter_mut().zip(&per_cpu) {
                    *s += v;
                }
                let ji = json
                    .interfaces
                    .iter()
                    .find(|x| x.name == *iface)
                    .expect("interface in JSON");
                let j = ji
                    .xdp
                    .iter()
                    .find(|x| x.name == c.name())
                    .expect("counter in JSON");
                assert_eq!(
                    (j.total, &j.per_cpu),
                    (snap.total(*c), &per_cpu),
                    "{iface} {}: JSON vs map",
                    c.name()
                );
                let (fam, label) = family(c.group());
                let group = match c.group() {
                    CounterGroup::Steered => ",group=\"steered\"",
                    CounterGroup::Passed => ",group=\"passed\"",
                    _ => "",
                };
                let labels = format!("interface=\"{iface}\",{label}=\"{}\"{group}", c.name());
                for (cpu, v) in per_cpu.iter().enumerate() {
                    let k = format!("{fam}{{{labels},cpu=\"{cpu}\"}}");
                    assert_eq!(get(&k), Some(*v), "{k}: metrics vs map");
                }
                let k = format!("{fam}{{{labels},cpu=\"all\"}}");
                assert_eq!(get(&k), Some(snap.total(*c)), "{k}: metrics vs map");
            }
            let j = json
                .xdp
                .iter()
                .find(|x| x.name == c.name())
                .expect("counter in JSON");
            assert_eq!(j.per_cpu, sum_cpu, "{}: JSON sum over interfaces", c.name());
            assert_eq!(
                j.total,
                sum_cpu.iter().sum::<u64>(),
                "{}: JSON total",
                c.name()
            );
        }
        agreed = true;
        break;
    }
    assert!(agreed, "the counters never held still for a comparison");
    println!(
        "[{:5.1}s] JSON, /metrics and the per-CPU map agree",
        lab.elapsed()
    );

    let watch = lab.ctl_ok(&[
        "counters",
        "show",
        "--json",
        "--watch",
        "--count",
        "2",
        "--interval",
        "0.3",
    ]);
    let lines: Vec<serde_json::Value> = watch
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].get("rates").is_none() && lines[1]["rates"]["proto41"].is_number(),
        "{watch}"
    );
    let table = lab.ctl_ok(&["counters", "show", "--per-core"]);
    assert!(
        table.contains("cpu0") && table.contains("proto41") && table.contains("dataplane: absent"),
        "{table}"
    );

    // A restart with other load-time constants (Teredo off) swaps new
    // programs into the same links.
    let before = attachments(&lab.status());
    assert!(lab.term(pid).success());
    let no_teredo = lab
        .config()
        .replace("[teredo]\nenabled = true", "[teredo]\nenabled = false");
    let pid = lab.start_daemon_with(&no_teredo, &[]);
    let st = lab.status();
    assert_eq!(st.xdp.startup, "replaced", "{:?}", st.xdp);
    let after = attachments(&st);
    for ((i, p0, l0), (j, p1, l1)) in before.iter().zip(&after) {
        assert!(i == j && l0 == l1 && p0 != p1, "{before:?} -> {after:?}");
        assert!(st
            .xdp
            .interfaces
            .iter()
            .all(|x| x.ours && x.program.as_ref().is_some_and(|p| !p.teredo)));
    }
    check_bpftool(&lab, &after);
    let want = [("pass_v4", 2)];
    let d = lab.send_and_count(&lab.p4, &times(f::udp4(v4(TEREDO_V4), 3545), 2), &want);
    assert_exact(&d, &want, "Teredo off");
    println!(
        "[{:5.1}s] new constants swapped into the pinned links",
        lab.elapsed()
    );

    // Without a daemon, `xdp detach` works from the pins.
    lab.kill9(pid);
    let out = lab.ctl_ok(&[
        "xdp",
        "status",
        "--bpffs",
        &lab.bpffs().display().to_string(),
    ]);
    assert!(
        out.contains("no daemon at")
            && out.contains(&format!("{} ", lab.r4))
            && out.contains("maps 5/5"),
        "{out}"
    );
    let out = lab.ctl_ok(&[
        "xdp",
        "detach",
        "--bpffs",
        &lab.bpffs().display().to_string(),
    ]);
    assert!(
        out.contains(&format!(
            "detached  {}",
            lab.bpffs().join(&lab.r4).join("link").display()
        )),
        "{out}"
    );
    assert_eq!(lab.pins_left(), Vec::<String>::new());
    for iface in [lab.r4.clone(), lab.r6.clone()] {
        let l = lab.ns(&lab.relay_ns, &format!("ip link show dev {iface}"));
        assert!(!l.contains("xdp"), "{l}");
    }
    println!(
        "[{:5.1}s] watch, per-core, detach without a daemon",
        lab.elapsed()
    );
}

#[test]
fn bad_input_changes_nothing() {
    let Some(mut lab) = lab::lab("3c") else {
        return;
    };
    let pid = lab.start_daemon(&["--detach-on-exit"]);
    lab.ctl_ok(&["prefix", "add", "2001:db8:ffff::/48"]);
    lab.ctl_ok(&["address", "add", "203.0.113.77"]);
    let snapshot = |lab: &Lab| {
        (
            lab.ctl_ok(&["prefix", "list", "--json"]),
            lab.ctl_ok(&["address", "list", "--json"]),
            std::fs::read_to_string(lab.state_dir().join("state.json")).expect("state.json"),
        )
    };
    let before = snapshot(&lab);

    // Invalid configuration: refused before anything is touched.
    let bad = lab.write_config("bad.toml", "[sixto4]\nenabled = true\n");
    let mut args = lab.daemon_args(&bad);
    args[4] = "t3c-other".into();
    let o = Command::new(lab::XRELAYCTL)
        .args(&args)
        .output()
        .expect("run");
    assert_one_line_error(&o, 2, &["bad.toml", "sixto4.unicast_addr"]);
    assert_one_line_error(
        &Command::new(lab::XRELAYCTL)
            .args(["config", "check"])
            .arg(&bad)
            .output()
            .expect("run"),
        2,
        &["sixto4.unicast_addr"],
    );

    // Unknown interface: refused before a state directory or pin exists.
    let cfg = lab
        .config()
        .replace(&format!("name = \"{}\"", lab.r6), "name = \"xr3cnone\"");
    let cfg = lab.write_config("unknown-if.toml", &cfg);
    let (sd, bp) = (lab.path("state2"), lab.path("bpf2"));
    let o = Command::new(lab::XRELAYCTL)
        .args(["daemon", "--config"])
        .arg(&cfg)
        .args([
            "--instance",
            "t3c-unknown",
            "--netns",
            &lab.relay_ns,
            "--metrics",
            "off",
            "--state-dir",
        ])
        .arg(&sd)
        .arg("--bpffs")
        .arg(&bp)
        .output()
        .expect("run");
    assert_one_line_error(
        &o,
        2,
        &[
            "unknown interface xr3cnone",
            "interfaces.v6.name",
            &lab.relay_ns,
        ],
    );
    assert!(
        !sd.exists() && !bp.exists(),
        "a refused start created {} or {}",
        sd.display(),
        bp.display()
    );

    // A second daemon for the same instance is refused.
    let o = Command::new(lab::XRELAYCTL)
        .args(lab.daemon_args(&lab.path("relay.toml")))
        .output()
        .expect("run");
    assert_one_line_error(&o, 1, &["already served by a running daemon"]);

    // Prefixes and addresses that do not parse or are refused.
    assert_one_line_error(
        &lab.ctl(&["prefix", "add", "2001:db8::zz/48"]),
        2,
        &["`2001:db8::zz/48` is not a prefix"],
    );
    assert_one_line_error(
        &lab.ctl(&["prefix", "add", "2001:db8::1/48"]),
        2,
        &["did you mean 2001:db8::/48?"],
    );
    assert_one_line_error(&lab.ctl(&["prefix", "add", "ff02::/16"]), 2, &["multicast"]);
    assert_one_line_error(
        &lab.ctl(&["prefix", "add", "fe80::/10"]),
        2,
        &["link-local"],
    );
    assert_one_line_error(
        &lab.ctl(&["prefix", "del", "2001:db8:9999::/48"]),
        2,
        &["not in the steering set", "prefix list"],
    );
    assert_one_line_error(&lab.ctl(&["address", "add", "127.0.0.1"]), 2, &["loopback"]);
    assert_one_line_error(
        &lab.ctl(&["address", "add", "203.0.113.300"]),
        2,
        &["not an IPv4 address"],
    );
    assert_one_line_error(
        &lab.ctl(&["address", "add", "--kind", "teredo", "203.0.113.9:0"]),
        2,
        &["port 0"],
    );
    assert_one_line_error(
        &lab.ctl(&["address", "del", "198.51.100.1"]),
        2,
        &["not in the steering set"],
    );
    assert_one_line_error(
        &lab.ctl(&["peers", "list"]),
        1,
        &["lives in the dataplane", "not running"],
    );

    // A socket that is not there.
    let o = Command::new(lab::XRELAYCTL)
        .args(["prefix", "list", "--socket"])
        .arg(lab.path("nope.sock"))
        .output()
        .expect("run");
    assert_one_line_error(
        &o,
        1,
        &[
            "cannot reach the daemon at",
            "nope.sock",
            "is `xrelayctl daemon` running?",
        ],
    );

    assert_eq!(snapshot(&lab), before, "the running daemon's state changed");
    assert!(lab::xdp_healthy(&lab.status()));
    println!(
        "[{:5.1}s] every bad input refused in one line, state unchanged",
        lab.elapsed()
    );

    // --detach-on-exit: SIGTERM removes everything.
    assert!(lab.term(pid).success());
    assert_eq!(lab.pins_left(), Vec::<String>::new());
    for iface in [lab.r4.clone(), lab.r6.clone()] {
        let l = lab.ns(&lab.relay_ns, &format!("ip link show dev {iface}"));
        assert!(!l.contains("xdp"), "{l}");
    }
    assert!(!lab.socket().exists());
    println!(
        "[{:5.1}s] SIGTERM with --detach-on-exit left nothing",
        lab.elapsed()
    );
}
