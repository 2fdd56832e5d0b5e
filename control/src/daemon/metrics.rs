//! Prometheus `/metrics` (text exposition format 0.0.4), written by hand.
//!
//! Every XDP family has, per interface (one program instance each), one
//! series per possible CPU (`cpu="0"` …) and one summed series
//! (`cpu="all"`); select `cpu="all"` for totals, or sum with
//! `{cpu!="all"}`. The dataplane's families (`xrelay_drops_total{reason,
//! worker}`, `xrelay_events_total{event, worker}`,
//! `xrelay_dataplane_counters_total{counter, worker}`) have one series per
//! dataplane thread and one `worker="all"`; they are present only while
//! its counter file is readable and matches this build (nothing is faked).
//! docs/operations.md lists them.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::admin::{AnnounceStatus, Counters, DataplaneCounters, Status};
use crate::announce::PrefixState;

/// The families of the XDP counters: name, label, help, counter groups.
const XDP_FAMILIES: [(&str, &str, &str, &[&str]); 3] = [
    (
        "xrelay_xdp_frames_total",
        "class",
        "Frames the XDP program classified, by class (each frame counts in exactly one class; group steered or passed).",
        &["steered", "passed"],
    ),
    (
        "xrelay_xdp_actions_total",
        "action",
        "XDP actions returned (each frame counts in exactly one: xdp_redirect or xdp_pass).",
        &["action"],
    ),
    (
        "xrelay_xdp_steered_details_total",
        "detail",
        "Details of frames of a steered class: IPv4 fragments, 802.1Q tagged, no AF_XDP socket on the queue (then passed).",
        &["detail"],
    ),
];

/// Renders the exposition for a counters read and the daemon status.
pub fn render(c: &Counters, st: &Status) -> String {
    let mut o = String::new();
    for (family, label, help, groups) in XDP_FAMILIES {
        let _ = writeln!(o, "# HELP {family} {help}");
        let _ = writeln!(o, "# TYPE {family} counter");
        for iface in &c.interfaces {
            let ifl = esc(&iface.name);
            for v in iface
                .xdp
                .iter()
                .filter(|v| groups.contains(&v.group.as_str()))
            {
                let group = if family == "xrelay_xdp_frames_total" {
                    format!(",group=\"{}\"", v.group)
                } else {
                    String::new()
                };
                let labels = format!("interface=\"{ifl}\",{label}=\"{}\"{group}", v.name);
                for (cpu, n) in v.per_cpu.iter().enumerate() {
                    let _ = writeln!(o, "{family}{{{labels},cpu=\"{cpu}\"}} {n}");
                }
                let _ = writeln!(o, "{family}{{{labels},cpu=\"all\"}} {}", v.total);
            }
        }
    }
    if let Some(d) = &c.dataplane {
        dataplane(&mut o, d);
    }
    gauge(
        &mut o,
        "xrelay_xdp_cpus",
        "Possible CPUs, the length of the per-CPU counter arrays.",
        &[("", c.cpus as u64)],
    );
    let attached: Vec<(String, u64)> = st
        .xdp
        .interfaces
        .iter()
        .map(|i| {
            (
                format!(
                    "{{interface=\"{}\",role=\"{}\",mode=\"{}\"}}",
                    esc(&i.name),
                    i.role,
                    i.xdp_mode
                ),
                u64::from(i.ours),
            )
        })
        .collect();
    gauge_owned(
        &mut o,
        "xrelay_xdp_attached",
        "1 when the interface runs this instance's XDP program (mode as the kernel reports it).",
        &attached,
    );
    gauge(
        &mut o,
        "xrelay_steering_entries",
        "Entries in the steering maps: managed IPv6 prefixes, 6to4 addresses, Teredo addresses.",
        &[
            ("{map=\"prefixes\"}", st.xdp.maps.prefixes as u64),
            ("{map=\"sixto4\"}", st.xdp.maps.sixto4 as u64),
            ("{map=\"teredo\"}", st.xdp.maps.teredo as u64),
        ],
    );
    gauge(
        &mut o,
        "xrelay_health_ok",
        "1 when every configured interface runs the program and the pins are in place.",
        &[("", u64::from(st.health.ok))],
    );
    gauge(
        &mut o,
        "xrelay_dataplane_up",
        "1 when the dataplane process runs with every heartbeat fresh (younger than 1 s).",
        &[("", u64::from(st.dataplane.healthy))],
    );
    let _ = writeln!(
        o,
        "# HELP xrelay_dataplane_restarts_total Restarts of the dataplane by this daemon (deaths and stalls)."
    );
    let _ = writeln!(o, "# TYPE xrelay_dataplane_restarts_total counter");
    let _ = writeln!(
        o,
        "xrelay_dataplane_restarts_total {}",
        st.dataplane.restarts
    );
    let ages: Vec<(String, u64)> = st
        .dataplane
        .workers
        .iter()
        .filter_map(|w| {
            w.heartbeat_age_ms
                .map(|a| (format!("{{worker=\"{}\"}}", esc(&w.label)), a))
        })
        .collect();
    gauge_owned(
        &mut o,
        "xrelay_dataplane_heartbeat_age_milliseconds",
        "Milliseconds since each dataplane thread's last heartbeat (health: < 1000).",
        &ages,
    );
    let info = format!(
        "{{instance=\"{}\",version=\"{}\",startup=\"{}\"}}",
        esc(&st.instance),
        esc(&st.version),
        st.xdp.startup
    );
    gauge_owned(
        &mut o,
        "xrelay_control_info",
        "The control daemon: instance, version, how the XDP program was set up.",
        &[(info, 1)],
    );
    gauge(
        &mut o,
        "xrelay_control_start_time_seconds",
        "When the control daemon started (Unix time).",
        &[("", st.started_unix)],
    );
    if let Some(a) = &st.announce {
        announce(&mut o, a);
    }
    o
}

/// The announced set: one series per prefix and state (1 for the current
/// state), whether the announcer sees the relay healthy, and the changes.
fn announce(o: &mut String, a: &AnnounceStatus) {
    let mut series = Vec::new();
    for p in &a.prefixes {
        for s in PrefixState::ALL {
            series.push((
                format!(
                    "{{name=\"{}\",prefix=\"{}\",kind=\"{}\",state=\"{}\"}}",
                    esc(&p.name),
                    p.prefix,
                    p.kind,
                    s.name()
                ),
                u64::from(p.state == s),
            ));
        }
    }
    gauge_owned(
        o,
        "xrelay_announce_prefix_state",
        "1 for the current state of each prefix of the announced set (announced, withdrawn, drained).",
        &series,
    );
    gauge_owned(
        o,
        "xrelay_announce_healthy",
        "1 when the announcer sees the relay healthy (heartbeats, XDP attached, next hops for both families).",
        &[(format!("{{backend=\"{}\"}}", a.backend), u64::from(a.healthy))],
    );
    let _ = writeln!(
        o,
        "# HELP xrelay_announce_changes_total State changes of announced-set prefixes since the daemon started."
    );
    let _ = writeln!(o, "# TYPE xrelay_announce_changes_total counter");
    let _ = writeln!(o, "xrelay_announce_changes_total {}", a.changes);
}

/// The dataplane's families: one series per block (`worker="dp-eth1-q0"`,
/// `worker="dp-slow"`) and one summed (`worker="all"`).
fn dataplane(o: &mut String, d: &DataplaneCounters) {
    let families = [
        (
            "drop",
            "xrelay_drops_total",
            "reason",
            "Frames the dataplane dropped, by drop reason (check ID), per worker thread.",
        ),
        (
            "event",
            "xrelay_events_total",
            "event",
            "What the dataplane's engine did besides dropping (decapsulations, encapsulations, ICMP sent, ...), per worker thread.",
        ),
        (
            "dp",
            "xrelay_dataplane_counters_total",
            "counter",
            "The dataplane's own counters around the engine (TX, UMEM copies, ring full, kicks, AF_XDP socket statistics), per worker thread.",
        ),
    ];
    for (kind, family, label, help) in families {
        let _ = writeln!(o, "# HELP {family} {help}");
        let _ = writeln!(o, "# TYPE {family} counter");
        for c in d.counters.iter().filter(|c| c.kind == kind) {
            for (w, n) in d.workers.iter().zip(&c.per_worker) {
                let _ = writeln!(
                    o,
                    "{family}{{{label}=\"{}\",worker=\"{}\"}} {n}",
                    c.short,
                    esc(&w.label)
                );
            }
            let _ = writeln!(
                o,
                "{family}{{{label}=\"{}\",worker=\"all\"}} {}",
                c.short, c.total
            );
        }
    }
}

fn gauge(o: &mut String, name: &str, help: &str, series: &[(&str, u64)]) {
    let owned: Vec<(String, u64)> = series.iter().map(|(l, v)| ((*l).to_owned(), *v)).collect();
    gauge_owned(o, name, help, &owned);
}

fn gauge_owned(o: &mut String, name: &str, help: &str, series: &[(String, u64)]) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} gauge");
    for (labels, v) in series {
        let _ = writeln!(o, "{name}{labels} {v}");
    }
}

/// Label value escaping (backslash, quote, newline).
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `GET /metrics` on `listener` until the process exits; `body`
/// renders the exposition (or an error text for a 500).
pub fn serve(
    listener: TcpListener,
    body: impl Fn() -> Result<String, String> + Send + Sync + 'static,
) {
    let body = std::sync::Arc::new(body);
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let body = body.clone();
        // One short-lived thread per scrape; a stuck client times out.
        let _ = std::thread::Builder::new()
            .name("metrics-conn".into())
            .spawn(move || answer(stream, &*body));
    }
}

fn answer(mut stream: TcpStream, body: &dyn Fn() -> Result<String, String>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain the headers (bounded by the timeout and a line count).
    for _ in 0..100 {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => break,
            Ok(_) if h.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (code, ctype, text) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => match body() {
            Ok(t) => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", t),
            Err(e) => (
                "500 Internal Server Error",
                "text/plain; charset=utf-8",
                format!("{e}\n"),
            ),
        },
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "xrelay control daemon: metrics at /metrics\n".to_owned(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: try /metrics\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET only\n".to_owned(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(text.as_bytes());
    }
}

/// Parses an exposition into (metric name with labels, value) pairs, for
/// tests and `xrelayctl` users who want to compare.
pub fn parse_exposition(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{
        CounterValue, DataplaneStatus, Health, IfaceCounters, MapCounts, XdpStatus,
    };

    fn status() -> Status {
        Status {
            instance: "default".into(),
            pid: 1,
            version: "0.1.0".into(),
            started_unix: 1_700_000_000,
            uptime_s: 5,
            config: "relay.toml".into(),
            netns: None,
            state_dir: "/run/xrelay/default".into(),
            bpffs: "/sys/fs/bpf/xrelay/default".into(),
            admin_socket: "/run/xrelay/default/admin.sock".into(),
            metrics: None,
            xdp: XdpStatus {
                startup: "attached".into(),
                requested_mode: "native".into(),
                interfaces: Vec::new(),
                pins: Vec::new(),
                maps: MapCounts {
                    sixto4: 2,
                    teredo: 1,
                    prefixes: 3,
                    socket_slots: 256,
                },
            },
            health: Health {
                ok: true,
                problems: Vec::new(),
            },
            dataplane: DataplaneStatus {
                state: "absent".into(),
                pid: None,
                message: String::new(),
                supervised: false,
                binary: None,
                healthy: false,
                restarts: 0,
                last_restart_ms: None,
                counters_file: String::new(),
                peers_socket: String::new(),
                workers: Vec::new(),
            },
            announce: None,
        }
    }

    #[test]
    fn announce_states_are_exported() {
        use crate::admin::AnnouncedPrefix;
        let c = Counters {
            unix_ms: 0,
            cpus: 1,
            xdp: Vec::new(),
            interfaces: Vec::new(),
            dataplane: None,
            dataplane_message: String::new(),
        };
        let mut st = status();
        assert!(!render(&c, &st).contains("xrelay_announce"));
        let p = |name: &str, prefix: &str, state| AnnouncedPrefix {
            name: name.into(),
            prefix: prefix.into(),
            kind: name.into(),
            state,
            since_unix_ms: 0,
            why: String::new(),
        };
        st.announce = Some(AnnounceStatus {
            backend: "kernel".into(),
            table: Some(88),
            protocol: Some(88),
            hold_down_s: 10,
            healthy: true,
            problem: None,
            announce_in_ms: None,
            changes: 4,
            prefixes: vec![
                p("6to4", "2002::/16", PrefixState::Announced),
                p("teredo", "2001::/32", PrefixState::Drained),
            ],
        });
        let text = render(&c, &st);
        let m = parse_exposition(&text);
        let get = |k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let s = |name: &str, prefix: &str, state: &str| {
            get(&format!(
                r#"xrelay_announce_prefix_state{{name="{name}",prefix="{prefix}",kind="{name}",state="{state}"}}"#
            ))
        };
        assert_eq!(s("6to4", "2002::/16", "announced"), Some(1));
        assert_eq!(s("6to4", "2002::/16", "withdrawn"), Some(0));
        assert_eq!(s("teredo", "2001::/32", "drained"), Some(1));
        assert_eq!(s("teredo", "2001::/32", "announced"), Some(0));
        assert_eq!(get(r#"xrelay_announce_healthy{backend="kernel"}"#), Some(1));
        assert_eq!(get("xrelay_announce_changes_total"), Some(4));
    }

    #[test]
    fn per_cpu_and_summed_series() {
        let xdp = vec![
            CounterValue {
                name: "proto41".into(),
                group: "steered".into(),
                description: String::new(),
                total: 5,
                per_cpu: vec![2, 3],
            },
            CounterValue {
                name: "xdp_pass".into(),
                group: "action".into(),
                description: String::new(),
                total: 5,
                per_cpu: vec![2, 3],
            },
        ];
        let c = Counters {
            unix_ms: 0,
            cpus: 2,
            xdp: xdp.clone(),
            interfaces: vec![IfaceCounters {
                name: "xr-v4".into(),
                xdp,
            }],
            dataplane: None,
            dataplane_message: String::new(),
        };
        let text = render(&c, &status());
        let m = parse_exposition(&text);
        let get = |k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert_eq!(
            get(
                r#"xrelay_xdp_frames_total{interface="xr-v4",class="proto41",group="steered",cpu="1"}"#
            ),
            Some(3)
        );
        assert_eq!(
            get(
                r#"xrelay_xdp_frames_total{interface="xr-v4",class="proto41",group="steered",cpu="all"}"#
            ),
            Some(5)
        );
        assert_eq!(
            get(r#"xrelay_xdp_actions_total{interface="xr-v4",action="xdp_pass",cpu="0"}"#),
            Some(2)
        );
        assert_eq!(get(r#"xrelay_steering_entries{map="prefixes"}"#), Some(3));
        assert_eq!(get("xrelay_dataplane_up"), Some(0));
        // Every sample line belongs to a family with HELP and TYPE.
        for (k, _) in &m {
            let fam = k.split('{').next().unwrap_or("");
            assert!(text.contains(&format!("# TYPE {fam} ")), "{fam}");
        }
    }
}
