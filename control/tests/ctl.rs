//! The operator commands and the daemon's argument checks that need no
//! root, no daemon and no network namespace: one-line errors, exit
//! statuses, and input checked before anything is contacted or created.

use std::path::PathBuf;
use std::process::{Command, Output};

const XRELAYCTL: &str = env!("CARGO_BIN_EXE_xrelayctl");

fn xrelayctl(args: &[&str]) -> Output {
    Command::new(XRELAYCTL)
        .args(args)
        .env_remove("XRELAY_SOCKET")
        .env_remove("XRELAY_INSTANCE")
        .env_remove("XRELAY_CONFIG")
        .env_remove("XRELAY_BPFFS")
        .env_remove("XRELAY_METRICS")
        .env_remove("XRELAY_NETNS")
        .output()
        .expect("run xrelayctl")
}

fn assert_one_line(o: &Output, code: i32, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("xrelayctl: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xrelayctl-ctl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn a_missing_socket_names_it_and_the_fix() {
    let o = xrelayctl(&["status", "--socket", "/nonexistent/xr/admin.sock"]);
    assert_one_line(
        &o,
        1,
        &["cannot reach the daemon at /nonexistent/xr/admin.sock (No such file or directory): is `xrelayctl daemon` running? (--socket to choose another)"],
    );
    // --instance picks the default socket path.
    let o = xrelayctl(&["counters", "show", "--instance", "xr-no-such-instance"]);
    assert_one_line(&o, 1, &["/run/xrelay/xr-no-such-instance/admin.sock"]);
    // The environment twin.
    let o = Command::new(XRELAYCTL)
        .args(["prefix", "list"])
        .env("XRELAY_SOCKET", "/nonexistent/env.sock")
        .output()
        .expect("run");
    assert_one_line(&o, 1, &["/nonexistent/env.sock"]);
}

#[test]
fn bad_input_is_refused_before_the_daemon_is_asked() {
    // Exit 2 although no daemon exists: the input is checked first.
    let nosock = ["--socket", "/nonexistent/xr/admin.sock"];
    for (args, needle) in [
        (
            vec!["prefix", "add", "nonsense"],
            "`nonsense` is not a prefix",
        ),
        (
            vec!["prefix", "del", "2001:db8::1/32"],
            "did you mean 2001:db8::/32?",
        ),
        (vec!["address", "add", "192.0.2.300"], "not an IPv4 address"),
        (
            vec!["address", "add", "192.0.2.1", "--port", "3545"],
            "--port applies to --kind teredo only",
        ),
        (
            vec!["peers", "show", "not-an-address"],
            "is not an IPv6 address",
        ),
        (vec!["counters", "show", "--interval", "0"], "--interval 0"),
        (vec!["counters", "show", "--count", "0"], "--count 0"),
        (vec!["prefix", "frobnicate"], "unrecognized subcommand"),
    ] {
        let mut a = args.clone();
        a.extend(nosock);
        assert_one_line(&xrelayctl(&a), 2, &[needle]);
    }
}

#[test]
fn the_daemon_refuses_bad_options_before_touching_anything() {
    let d = temp("daemon");
    let state = d.join("state");
    let bpf = d.join("bpf");
    let common = |cfg: &str, extra: &[&str]| {
        let mut a = vec![
            "daemon".to_owned(),
            "--config".into(),
            cfg.into(),
            "--state-dir".into(),
            state.display().to_string(),
            "--bpffs".into(),
            bpf.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| Command::new(XRELAYCTL).args(a).output().expect("run");

    let missing = d.join("missing.toml");
    assert_one_line(
        &run(common(&missing.display().to_string(), &[])),
        2,
        &["missing.toml"],
    );

    let bad = d.join("bad.toml");
    std::fs::write(&bad, "[teredo]\nenabled = true\n").expect("write");
    assert_one_line(
        &run(common(&bad.display().to_string(), &[])),
        2,
        &["teredo.addr"],
    );

    let good = d.join("relay.toml");
    std::fs::write(&good, xrelay_control::labconfig::LAB_CONFIG).expect("write");
    let g = good.display().to_string();
    assert_one_line(
        &run(common(&g, &["--metrics", "nonsense"])),
        2,
        &["--metrics nonsense"],
    );
    assert_one_line(&run(common(&g, &["--xdp-mode", "turbo"])), 2, &["turbo"]);
    assert_one_line(
        &run(common(
            &g,
            &["--netns", "xr-no-such-netns", "--metrics", "off"],
        )),
        2,
        &["/run/netns/xr-no-such-netns", "ip netns add"],
    );
    assert!(
        !state.exists() && !bpf.exists(),
        "a refused start created its directories"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn help_lists_the_operator_commands() {
    let o = xrelayctl(&["--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for c in [
        "daemon",
        "status",
        "counters",
        "prefix",
        "address",
        "peers",
        "xdp",
        "config",
        "translate",
    ] {
        assert!(out.contains(c), "{c} missing from:\n{out}");
    }
    let o = xrelayctl(&["daemon", "--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for opt in [
        "--config",
        "--instance",
        "--netns",
        "--xdp-mode",
        "--state-dir",
        "--bpffs",
        "--metrics",
        "--detach-on-exit",
    ] {
        assert!(out.contains(opt), "{opt} missing from:\n{out}");
    }
}

#[test]
fn xdp_detach_without_daemon_or_pins_is_a_no_op() {
    let d = temp("detach");
    let o = xrelayctl(&[
        "xdp",
        "detach",
        "--socket",
        &d.join("none.sock").display().to_string(),
        "--bpffs",
        &d.join("bpf").display().to_string(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing pinned under"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn operations_doc_covers_every_counter_command_and_option() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/operations.md"
    ))
    .expect("docs/operations.md");
    let mut missing = Vec::new();
    let mut need = |s: String| {
        if !doc.contains(&s) {
            missing.push(s);
        }
    };
    for c in xrelay_xdp::abi::Counter::ALL {
        need(format!("`{}`", c.name()));
    }
    for r in xrelay_engine::DropReason::ALL {
        need(format!("`{}`", r.name()));
    }
    for e in xrelay_engine::Event::ALL {
        need(format!("`{}`", e.name()));
    }
    for s in [
        "xrelayctl daemon",
        "xrelayctl status",
        "xrelayctl counters show",
        "xrelayctl prefix add|del",
        "xrelayctl address add|del",
        "xrelayctl peers list|show",
        "xrelayctl xdp status",
        "xrelayctl xdp detach",
        "--config FILE",
        "--instance NAME",
        "--netns NAME",
        "--xdp-mode MODE",
        "--state-dir DIR",
        "--bpffs DIR",
        "--metrics ADDR",
        "--detach-on-exit",
        "--dataplane PATH",
        "--socket PATH",
        "--per-core",
        "--watch",
        "--count N",
        "--interval SECS",
        "xrelay_xdp_frames_total",
        "xrelay_xdp_actions_total",
        "xrelay_xdp_steered_details_total",
        "xrelay_xdp_cpus",
        "xrelay_xdp_attached",
        "xrelay_steering_entries",
        "xrelay_health_ok",
        "xrelay_dataplane_up",
        "xrelay_control_info",
        "xrelay_control_start_time_seconds",
        "state.json",
        "admin.sock",
    ] {
        need(s.to_owned());
    }
    for cmd in [
        "status",
        "xdp-status",
        "counters",
        "prefix-list",
        "prefix-add",
        "prefix-del",
        "address-list",
        "address-add",
        "address-del",
        "peers-list",
        "peers-show",
        "xdp-detach",
    ] {
        need(format!("\"cmd\":\"{cmd}\""));
    }
    assert!(missing.is_empty(), "docs/operations.md lacks {missing:?}");
}
