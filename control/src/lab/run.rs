//! `xrelayctl lab run`: the demo. Lab up → control daemon with the real
//! dataplane → Teredo handshake → traffic on all four paths for a bounded
//! time, live per-worker counters every second → summary → cleanup (the
//! daemon it started, by PID, which stops the dataplane; then everything
//! of the lab), also on Ctrl-C, SIGTERM and errors.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::net::{self, Hosts, Inner, Path, Tally};
use super::{client_v6, Spec, RELAY_V6};
use crate::admin::{Client, Counters, Request, Status};

/// Dataplane counters by name: total and per worker.
type Snap = BTreeMap<String, (u64, Vec<u64>)>;
/// A snapshot and when it was taken.
type Stamped = (Instant, Snap);

/// What `lab run` does.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub prefix: String,
    pub one_armed: bool,
    /// Seconds of traffic.
    pub seconds: u64,
    /// Packets per second on each path.
    pub rate: u64,
    /// The dataplane binary (default: the daemon's default).
    pub dataplane: Option<PathBuf>,
    /// Set `teredo.accept_unknown_peers` instead of the bubble handshake.
    pub accept_unknown_peers: bool,
    /// Redraw the counter table in place (a terminal).
    pub redraw: bool,
}

/// One path's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathReport {
    pub path: String,
    pub sent: u64,
    pub received: u64,
    pub duplicates: u64,
    pub lost: u64,
    /// The dataplane event counting this path, and how much it moved.
    pub counter: String,
    pub counter_delta: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub prefix: String,
    pub one_armed: bool,
    pub seconds: u64,
    pub rate: u64,
    /// How the Teredo client became trusted.
    pub teredo_trust: String,
    pub paths: Vec<PathReport>,
    /// Dataplane drop counters that moved during the traffic.
    pub drops: BTreeMap<String, u64>,
    /// Dataplane events that moved during the traffic.
    pub events: BTreeMap<String, u64>,
    pub bad_checksums: u64,
    pub send_errors: u64,
    pub daemon_pid: u32,
    pub dataplane_pid: Option<u32>,
    pub workers: Vec<String>,
    pub interrupted: bool,
    /// What the cleanup removed.
    pub cleanup: Vec<String>,
}

impl RunReport {
    /// Every path: sent == received == counter delta, nothing else.
    pub fn exact(&self) -> bool {
        !self.interrupted
            && self.bad_checksums == 0
            && self.paths.iter().all(|p| {
                p.sent > 0 && p.received == p.sent && p.duplicates == 0 && p.counter_delta == p.sent
            })
    }
}

/// The lab and the daemon this run started; cleans both up on drop.
struct Running {
    spec: Spec,
    daemon: Option<Child>,
    cleaned: bool,
}

impl Running {
    fn cleanup(&mut self) -> Vec<String> {
        self.cleaned = true;
        let mut done = Vec::new();
        if let Some(mut c) = self.daemon.take() {
            let pid = c.id();
            if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(8);
            let mut st = None;
            while Instant::now() < deadline {
                if let Ok(Some(s)) = c.try_wait() {
                    st = Some(s);
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if st.is_none() {
                let _ = c.kill();
                let _ = c.wait();
                done.push(format!("daemon pid {pid} killed (SIGKILL after 8 s)"));
            } else {
                done.push(format!(
                    "daemon pid {pid} stopped (SIGTERM; it stopped the dataplane and detached XDP)"
                ));
            }
        }
        match super::down(&self.spec) {
            Ok(r) => done.extend(r),
            Err(e) => done.push(format!("lab down failed: {e:#}")),
        }
        done
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.cleaned {
            let done = self.cleanup();
            eprintln!("lab: cleaned up: {}", done.join(", "));
        }
    }
}

fn client(spec: &Spec) -> Option<Client> {
    Client::connect(&spec.socket()).ok()
}

fn status(spec: &Spec) -> Option<Status> {
    client(spec)?.call(&Request::Status).ok()
}

fn counters(spec: &Spec) -> Result<Counters> {
    client(spec)
        .context("the daemon stopped answering")?
        .call(&Request::Counters)
        .context("reading counters")
}

fn dp_map(c: &Counters) -> Snap {
    c.dataplane
        .iter()
        .flat_map(|d| d.counters.iter())
        .map(|x| (x.name.clone(), (x.total, x.per_worker.clone())))
        .collect()
}

fn delta_of(now: &Snap, base: &Snap, name: &str) -> (u64, Vec<u64>) {
    let (t, w) = now.get(name).cloned().unwrap_or_default();
    let (bt, bw) = base.get(name).cloned().unwrap_or_default();
    let per = w
        .iter()
        .enumerate()
        .map(|(i, v)| v.saturating_sub(bw.get(i).copied().unwrap_or(0)))
        .collect();
    (t.saturating_sub(bt), per)
}

fn tail(path: &std::path::Path, lines: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

fn daemon_command(spec: &Spec, opts: &RunOptions) -> Result<Command> {
    let exe = std::env::current_exe().context("finding xrelayctl itself")?;
    let mut cmd = Command::new(exe);
    cmd.args(spec.daemon_args());
    if let Some(d) = &opts.dataplane {
        cmd.arg("--dataplane").arg(d);
    }
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("XRELAY_") {
            cmd.env_remove(k);
        }
    }
    let log = std::fs::File::create(spec.dir().join("daemon.log")).context("daemon.log")?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Its own process group: Ctrl-C reaches only us; we stop it in order.
        .process_group(0);
    Ok(cmd)
}

/// The demo. `out` gets the progress, the live table and the summary.
pub fn run(opts: &RunOptions, out: &mut dyn Write, stop: &Arc<AtomicBool>) -> Result<RunReport> {
    super::check_privileges()?;
    if opts.seconds == 0 || opts.seconds > 3600 {
        bail!("--seconds {}: use 1..=3600", opts.seconds);
    }
    if opts.rate == 0 || opts.rate > 1_000_000 {
        bail!(
            "--rate {}: use 1..=1000000 packets per second per path",
            opts.rate
        );
    }
    let spec = Spec::new(&opts.prefix, opts.one_armed)?;
    let t0 = Instant::now();
    let stamp = |t0: Instant| format!("[{:5.1}s]", t0.elapsed().as_secs_f64());
    let mut lab = Running {
        spec: spec.clone(),
        daemon: None,
        cleaned: false,
    };
    let removed = super::down(&spec)?;
    if !removed.is_empty() {
        writeln!(
            out,
            "{} removed a previous lab {}: {}",
            stamp(t0),
            spec.prefix,
            removed.join(", ")
        )?;
    }
    super::up(&spec, opts.accept_unknown_peers)?;
    writeln!(
        out,
        "{} lab {} up ({}): namespaces {}",
        stamp(t0),
        spec.prefix,
        if spec.one_armed {
            "one-armed"
        } else {
            "two-armed"
        },
        spec.namespaces().join(", ")
    )?;

    // The daemon, which attaches XDP and starts the dataplane.
    let child = daemon_command(&spec, opts)?
        .spawn()
        .context("starting xrelayctl daemon")?;
    let daemon_pid = child.id();
    lab.daemon = Some(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let st = loop {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted while the daemon started");
        }
        if let Some(st) = status(&spec).filter(|s| s.dataplane.healthy && s.health.ok) {
            break st;
        }
        if let Some(Ok(Some(e))) = lab.daemon.as_mut().map(Child::try_wait) {
            bail!(
                "the daemon exited ({e}): {}",
                tail(&spec.dir().join("daemon.log"), 5).replace('\n', " | ")
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the daemon or dataplane was not healthy within 30 s: {}",
                tail(&spec.dir().join("daemon.log"), 5).replace('\n', " | ")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let dataplane_pid = st.dataplane.pid;
    let workers: Vec<String> = st
        .dataplane
        .workers
        .iter()
        .map(|w| w.label.clone())
        .collect();
    writeln!(
        out,
        "{} daemon pid {daemon_pid} (log {}), dataplane pid {} healthy: {}",
        stamp(t0),
        spec.dir().join("daemon.log").display(),
        dataplane_pid.map_or("?".into(), |p| p.to_string()),
        workers.join(", ")
    )?;

    let hosts = Hosts::open(&spec.v4_host().ns, &spec.v6_host().ns)?;
    let run_id = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1))
        | 1;

    // Teredo: the client must be a trusted peer before native → client flows.
    let teredo_trust = if opts.accept_unknown_peers {
        net::send_client_bubble(&hosts, RELAY_V6)?;
        std::thread::sleep(Duration::from_millis(300));
        "teredo.accept_unknown_peers = true: the client's first bubble created a trusted entry"
            .to_owned()
    } else {
        net::send_handshake(&hosts, Path::NativeToTeredo, run_id)?;
        let src = net::wait_for(&hosts.server, Duration::from_secs(3), stop, |d| {
            match net::parse_ipv6(d) {
                Inner::Bubble(s) => Some(s),
                _ => None,
            }
        })
        .context("Teredo handshake: the server 192.0.2.20:3544 got no indirect bubble from the relay within 3 s")?;
        net::send_client_bubble(&hosts, src)?;
        let flushed = net::wait_for(&hosts.client, Duration::from_secs(3), stop, |d| {
            matches!(net::parse_ipv6(d), Inner::Test(m) if m.phase == 1 && m.run == run_id)
                .then_some(())
        });
        if flushed.is_none() {
            bail!("Teredo handshake: the client's bubble did not release the queued packet within 3 s");
        }
        format!(
            "handshake: native → {} queued, indirect bubble from {src} to the server, \
             the client's direct bubble answered it, queued packet delivered",
            client_v6()
        )
    };
    writeln!(out, "{} Teredo client trusted ({teredo_trust})", stamp(t0))?;

    // Traffic.
    let base = counters(&spec)?;
    let base_map = dp_map(&base);
    let max_seq = (opts.rate * opts.seconds + 1) as usize;
    let tally = Arc::new(Tally::new(max_seq));
    let rx_stop = Arc::new(AtomicBool::new(false));
    let gen_stop = Arc::new(AtomicBool::new(false));
    let hosts = Arc::new(hosts);
    let mut receivers = Vec::new();
    for (sock, native) in [
        (Arc::clone(&hosts.site), false),
        (Arc::clone(&hosts.client), false),
        (Arc::clone(&hosts.native), true),
    ] {
        let (tally, rx_stop) = (Arc::clone(&tally), Arc::clone(&rx_stop));
        receivers.push(
            std::thread::Builder::new()
                .name("lab-rx".into())
                .spawn(move || net::receive(&sock, native, run_id, &tally, &rx_stop))
                .context("spawning a receiver")?,
        );
    }
    let sent: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let mut senders = Vec::new();
    for path in Path::ALL {
        let (hosts, gen_stop, sent) =
            (Arc::clone(&hosts), Arc::clone(&gen_stop), Arc::clone(&sent));
        let (rate, secs) = (opts.rate, opts.seconds);
        senders.push(
            std::thread::Builder::new()
                .name("lab-tx".into())
                .spawn(move || {
                    net::send_paced(
                        &hosts,
                        path,
                        run_id,
                        rate,
                        Duration::from_secs(secs),
                        &gen_stop,
                        &sent[path as usize],
                    )
                })
                .context("spawning a sender")?,
        );
    }
    writeln!(
        out,
        "{} traffic: {} pps on each of the 4 paths for {} s",
        stamp(t0),
        opts.rate,
        opts.seconds
    )?;
    let traffic_start = Instant::now();
    let mut prev: Option<Stamped> = None;
    let mut drawn = 0usize;
    let mut interrupted = false;
    let mut next = traffic_start + Duration::from_secs(1);
    while senders.iter().any(|h| !h.is_finished()) {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            gen_stop.store(true, Ordering::Relaxed);
        }
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        next += Duration::from_secs(1);
        let now = dp_map(&counters(&spec)?);
        let frame = table(
            &workers,
            &now,
            &base_map,
            prev.as_ref(),
            &sent,
            &tally,
            traffic_start,
            None,
        );
        if opts.redraw {
            if drawn > 0 {
                write!(out, "\x1b[{drawn}A\x1b[J")?;
            }
            write!(out, "{frame}")?;
            drawn = frame.lines().count();
        } else {
            writeln!(
                out,
                "{}",
                progress(&now, &base_map, &sent, &tally, traffic_start)
            )?;
        }
        out.flush()?;
        prev = Some((Instant::now(), now));
    }
    let traffic_secs = traffic_start.elapsed().as_secs_f64();
    let mut send_errors = 0;
    for h in senders {
        send_errors += h.join().unwrap_or(0);
    }
    // Drain: what is in flight arrives within milliseconds.
    let sent_n: Vec<u64> = sent.iter().map(|s| s.load(Ordering::Relaxed)).collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let rx_done = Path::ALL
            .iter()
            .all(|p| tally.received[*p as usize].load(Ordering::Relaxed) >= sent_n[*p as usize]);
        if rx_done {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Stragglers and duplicates (there must be none) would show now.
    std::thread::sleep(Duration::from_millis(300));
    let last = counters(&spec)?;
    let last_map = dp_map(&last);
    rx_stop.store(true, Ordering::Relaxed);
    for h in receivers {
        let _ = h.join();
    }
    interrupted |= stop.load(Ordering::Relaxed);
    if opts.redraw && drawn > 0 {
        write!(out, "\x1b[{drawn}A\x1b[J")?;
    }
    write!(
        out,
        "{}",
        table(
            &workers,
            &last_map,
            &base_map,
            prev.as_ref(),
            &sent,
            &tally,
            traffic_start,
            Some(traffic_secs)
        )
    )?;

    let paths: Vec<PathReport> = Path::ALL
        .iter()
        .map(|p| {
            let i = *p as usize;
            let received = tally.received[i].load(Ordering::Relaxed);
            PathReport {
                path: p.name().to_owned(),
                sent: sent_n[i],
                received,
                duplicates: tally.duplicates[i].load(Ordering::Relaxed),
                lost: sent_n[i].saturating_sub(received),
                counter: p.event().to_owned(),
                counter_delta: delta_of(&last_map, &base_map, p.event()).0,
            }
        })
        .collect();
    let moved = |kind: &str| -> BTreeMap<String, u64> {
        last_map
            .keys()
            .filter(|k| k.starts_with(kind))
            .map(|k| (k.clone(), delta_of(&last_map, &base_map, k).0))
            .filter(|(_, v)| *v > 0)
            .collect()
    };
    let mut report = RunReport {
        prefix: spec.prefix.clone(),
        one_armed: spec.one_armed,
        seconds: opts.seconds,
        rate: opts.rate,
        teredo_trust,
        paths,
        drops: moved("drop/"),
        events: moved("event/"),
        bad_checksums: tally.bad_checksum.load(Ordering::Relaxed),
        send_errors,
        daemon_pid,
        dataplane_pid,
        workers,
        interrupted,
        cleanup: Vec::new(),
    };
    drop(hosts);
    report.cleanup = lab.cleanup();
    write!(out, "{}", summary(&report))?;
    Ok(report)
}

/// rx_frames = tx_frames (fast path) + neigh_miss_sent (handed to the
/// kernel: the first frames toward a neighbour it has not resolved yet)
/// + what the slow path answered + drops.
const ROWS: [&str; 11] = [
    "event/rx_frames",
    "event/sixto4_decap",
    "event/sixto4_encap",
    "event/teredo_rx",
    "event/teredo_tx",
    "event/slow_handoff",
    "dp/tx_frames",
    "dp/neigh_miss_sent",
    "dp/slow_tx_frames",
    "dp/umem_copies",
    "dp/tx_ring_full",
];

/// The live table: per worker, total and rate of the main events and of
/// the drops (each reason that moved, and their sum), since the traffic
/// started.
#[allow(
    clippy::too_many_arguments,
    reason = "one call per frame, two call sites"
)]
fn table(
    workers: &[String],
    now: &Snap,
    base: &Snap,
    prev: Option<&Stamped>,
    sent: &[AtomicU64; 4],
    tally: &Tally,
    start: Instant,
    average: Option<f64>,
) -> String {
    let mut s = String::new();
    let secs = start.elapsed().as_secs_f64();
    s.push_str(&format!(
        "── dataplane counters since traffic start ({secs:.0} s) ──\n{:<34}",
        "counter"
    ));
    for w in workers {
        s.push_str(&format!("{w:>16}"));
    }
    s.push_str(&format!("{:>12}{:>10}\n", "total", "/s"));
    let rate = |name: &str| -> u64 {
        if let Some(d) = average {
            // The final table: the average over the traffic.
            return (now
                .get(name)
                .map_or(0, |x| x.0)
                .saturating_sub(base.get(name).map_or(0, |x| x.0)) as f64
                / d.max(0.001)) as u64;
        }
        prev.map_or(0, |(t, p)| {
            let was = p.get(name).map_or(0, |x| x.0);
            let dt = t.elapsed().as_secs_f64().max(0.001);
            ((now.get(name).map_or(0, |x| x.0).saturating_sub(was)) as f64 / dt) as u64
        })
    };
    let mut row = |name: &str, total: u64, per: &[u64], r: u64| {
        s.push_str(&format!("{name:<34}"));
        for i in 0..workers.len() {
            s.push_str(&format!("{:>16}", per.get(i).copied().unwrap_or(0)));
        }
        s.push_str(&format!("{total:>12}{r:>10}\n"));
    };
    for name in ROWS {
        let (t, per) = delta_of(now, base, name);
        row(name, t, &per, rate(name));
    }
    let drops: Vec<&String> = now
        .keys()
        .filter(|k| k.starts_with("drop/") && delta_of(now, base, k).0 > 0)
        .collect();
    let mut sum = (0u64, vec![0u64; workers.len()]);
    for k in &drops {
        let (t, per) = delta_of(now, base, k);
        sum.0 += t;
        for (a, b) in sum.1.iter_mut().zip(&per) {
            *a += b;
        }
    }
    let drop_rate: u64 = drops.iter().map(|k| rate(k)).sum();
    row("drops (all reasons)", sum.0, &sum.1, drop_rate);
    for k in drops.iter().take(6) {
        let (t, per) = delta_of(now, base, k);
        row(&format!("  {k}"), t, &per, rate(k));
    }
    s.push_str("── hosts ──\n");
    for p in Path::ALL {
        let i = p as usize;
        s.push_str(&format!(
            "{:<34}sent {:>9}   received {:>9}\n",
            p.name(),
            sent[i].load(Ordering::Relaxed),
            tally.received[i].load(Ordering::Relaxed)
        ));
    }
    s
}

/// One line per second when the output is not a terminal.
fn progress(
    now: &Snap,
    base: &Snap,
    sent: &[AtomicU64; 4],
    tally: &Tally,
    start: Instant,
) -> String {
    let parts: Vec<String> = Path::ALL
        .iter()
        .map(|p| {
            let i = *p as usize;
            format!(
                "{} {}/{}/{}",
                short(*p),
                sent[i].load(Ordering::Relaxed),
                tally.received[i].load(Ordering::Relaxed),
                delta_of(now, base, p.event()).0
            )
        })
        .collect();
    let drops: u64 = now
        .keys()
        .filter(|k| k.starts_with("drop/"))
        .map(|k| delta_of(now, base, k).0)
        .sum();
    format!(
        "[{:3.0}s] sent/received/relayed: {}; drops {drops}",
        start.elapsed().as_secs_f64(),
        parts.join(", ")
    )
}

fn short(p: Path) -> &'static str {
    match p {
        Path::SixToFourToNative => "6to4→v6",
        Path::NativeToSixToFour => "v6→6to4",
        Path::TeredoToNative => "teredo→v6",
        Path::NativeToTeredo => "v6→teredo",
    }
}

/// The summary printed at the end.
pub fn summary(r: &RunReport) -> String {
    let mut s = String::from("── summary ──\n");
    s.push_str(&format!(
        "{:<30}{:>10}{:>10}{:>8}   {:<22}{:>10}\n",
        "path", "sent", "received", "lost", "relay counter", "moved"
    ));
    for p in &r.paths {
        s.push_str(&format!(
            "{:<30}{:>10}{:>10}{:>8}   {:<22}{:>10}{}\n",
            p.path,
            p.sent,
            p.received,
            p.lost,
            p.counter,
            p.counter_delta,
            if p.duplicates > 0 {
                format!("  ({} duplicates)", p.duplicates)
            } else {
                String::new()
            }
        ));
    }
    if r.drops.is_empty() {
        s.push_str("dataplane drops during the traffic: none\n");
    } else {
        let d: Vec<String> = r.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
        s.push_str(&format!(
            "dataplane drops during the traffic: {}\n",
            d.join(", ")
        ));
    }
    if r.bad_checksums > 0 || r.send_errors > 0 {
        s.push_str(&format!(
            "bad inner UDP checksums received: {}, send errors: {}\n",
            r.bad_checksums, r.send_errors
        ));
    }
    s.push_str(&format!(
        "result: {}\n",
        if r.exact() {
            "every packet relayed exactly once on all four paths (sent = received = counter)"
        } else if r.interrupted {
            "interrupted"
        } else {
            "LOSS or mismatch (see above)"
        }
    ));
    s.push_str(&format!("cleanup: {}\n", r.cleanup.join(", ")));
    s
}
