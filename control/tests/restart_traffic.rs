//! Root integration test: restarting the dataplane under traffic. The
//! control daemon runs the real `xrelay-dataplane` in the two-armed lab
//! (`lab/mod.rs`, tag `4r`; its tuning from relay.toml's `[dataplane]`
//! section). A steady, bounded stream of 6to4 frames (2 000 at 200/s)
//! flows from the 6to4 site to the native host; 3 s in, the dataplane is
//! SIGKILLed. Asserted: the daemon restarts it and a fresh heartbeat of
//! every block of the new process appears within one second of the kill
//! (printed); every frame sent before the kill and every frame sent after
//! the new process registered its sockets is received; the loss is bounded
//! by the outage (received ≥ sent − rate × outage − slack, see [`SLACK`]).
//! Skips, saying why, without root, the XDP object, or scapy.

#[allow(dead_code, reason = "shared lab helpers; this test uses a part")]
mod lab;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use lab::{dataplane_bin, scapy_missing, wait_for, Lab, PYTHON};
use xrelay_dataplane::shm;
use xrelay_dataplane::xsk::monotonic_ns;

/// Frames in the stream and their rate.
const FRAMES: usize = 2000;
const RATE: u64 = 200;
/// When, after the first frame, the dataplane is killed.
const KILL_AFTER: Duration = Duration::from_secs(3);
/// Frames that may be lost beyond `RATE × outage`, where the outage runs
/// from the kill to the first fresh heartbeat of every block of the new
/// process:
/// - frames already in the killed process's RX ring or fill→RX path, or
///   in its TX ring not yet sent, when SIGKILL lands: at 200/s, one batch
///   loop handles each frame within a few ms, so at most 1–2;
/// - the new process stamps its heartbeats just before it registers its
///   sockets in the XSKMAP (main.rs: workers run, then the slow path, FIB
///   sync, peer socket, then registration): a few ms, ≤ 1 frame;
/// - the sender's own jitter (5 ms spacing, a loaded 2-core box): ≤ 2.
///
/// 5 frames = 25 ms of traffic.
const SLACK: u64 = 5;

/// The stream: N proto-41 frames (6to4 site 192.0.2.1 → anycast, inner
/// echo request id 0x4252, seq i) at RATE per second from a raw socket,
/// each at `start + i / RATE`. Prints `start <CLOCK_MONOTONIC ns>` before
/// the first frame and `times <ns of each send>` after the last.
const SENDER: &str = r#"
import sys, socket, time
from scapy.all import Ether, IP, IPv6, ICMPv6EchoRequest, raw
iface, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
pay = b"xrelay-restart-" * 4
frames = [raw(Ether(src="02:00:00:00:03:02", dst="02:00:00:00:03:01")
              / IP(src="192.0.2.1", dst="192.88.99.1", ttl=64)
              / IPv6(src="2002:c000:201::1", dst="2001:db8::1", hlim=64)
              / ICMPv6EchoRequest(id=0x4252, seq=i, data=pay)) for i in range(n)]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
t0 = time.monotonic()
print("start %d" % time.monotonic_ns(), flush=True)
sent = []
for i, f in enumerate(frames):
    d = t0 + i / rate - time.monotonic()
    if d > 0:
        time.sleep(d)
    sent.append(time.monotonic_ns())
    s.send(f)
print("times " + " ".join(map(str, sent)), flush=True)
"#;

/// Records the sequence numbers of relayed echo requests (id 0x4252,
/// source 2002:c000:201::1) on the v6 side until stdin closes or 60 s
/// pass; prints `ready`, then `seqs <seq> …` at the end.
const RECEIVER: &str = r#"
import socket, sys, select, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86dd))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], 0))
print("ready", flush=True)
seqs, end = [], time.time() + 60
src = socket.inet_pton(socket.AF_INET6, "2002:c000:201::1")
while time.time() < end:
    r, _, _ = select.select([s, sys.stdin], [], [], 0.1)
    if sys.stdin in r:
        break
    if s in r:
        f = s.recv(4096)
        if len(f) >= 62 and f[20] == 58 and f[22:38] == src and f[54] == 128 and f[58:60] == b"\x42\x52":
            seqs.append(int.from_bytes(f[60:62], "big"))
print("seqs " + " ".join(map(str, seqs)), flush=True)
"#;

/// Lines of a child's stdout, read on a thread.
fn lines(out: std::process::ChildStdout) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn line_within(rx: &Receiver<String>, what: &str, limit: Duration) -> String {
    rx.recv_timeout(limit)
        .unwrap_or_else(|e| panic!("{what}: no line within {limit:?} ({e})"))
}

/// The parent pid of `pid` (from /proc).
fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The oldest heartbeat of the counter file's blocks, when the file
/// belongs to a process other than `old` and every block has stamped one.
fn fresh_heartbeat(path: &Path, old: u32) -> Option<(u32, u64)> {
    let s = shm::read(path).ok()?;
    if s.pid == old || s.blocks.is_empty() {
        return None;
    }
    let oldest = s.blocks.iter().map(|b| b.heartbeat_ns).min()?;
    (oldest > 0).then_some((s.pid, oldest))
}

fn numbers(line: &str, tag: &str) -> Vec<u64> {
    line.strip_prefix(tag)
        .unwrap_or_else(|| panic!("expected `{tag}…`, got {line:.80}"))
        .split_whitespace()
        .map(|v| v.parse().expect("number"))
        .collect()
}

#[test]
fn dataplane_restart_under_traffic() {
    if let Some(why) = lab::skip_reason().or_else(scapy_missing) {
        println!("skipped: {why}");
        return;
    }
    let bin = dataplane_bin();
    let mut lab = Lab::new("4r");
    // --next-hops kernel (the default): the native host sits behind the
    // v6 peer.
    lab.route_native_via_peer();
    // The dataplane's tuning from relay.toml, not the command line.
    let config = format!(
        "{}\n[dataplane]\nqueues = 1\nbind = \"copy\"\nbatch = 64\n",
        lab.config()
    );
    let bin_s = bin.display().to_string();
    let daemon = lab.start_daemon_with(&config, &["--dataplane", &bin_s]);
    let st = wait_for("dataplane healthy", Duration::from_secs(20), || {
        lab.try_status()
            .filter(|s| s.dataplane.healthy && s.health.ok)
    });
    let dp1 = st.dataplane.pid.expect("dataplane pid");
    assert_eq!(ppid(dp1), Some(daemon), "the daemon's child");
    let shm_path = xrelay_control::daemon::counters_in(&lab.state_dir());
    println!(
        "[{:5.1}s] daemon up, dataplane {dp1} healthy",
        lab.elapsed()
    );

    // Receiver on the native side, then the stream from the 6to4 site.
    let p6 = lab.p6.clone();
    let rx = lab.spawn(
        Command::new("ip")
            .args(["netns", "exec", &lab.peer_ns, PYTHON, "-c", RECEIVER, &p6])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let rx_out = lines(rx.stdout.take().expect("stdout"));
    let mut rx_in = rx.stdin.take().expect("stdin");
    assert_eq!(
        line_within(&rx_out, "receiver", Duration::from_secs(20)),
        "ready"
    );
    let p4 = lab.p4.clone();
    let tx = lab.spawn(
        Command::new("ip")
            .args(["netns", "exec", &lab.peer_ns, "timeout", "120", PYTHON])
            .args(["-c", SENDER, &p4, &FRAMES.to_string(), &RATE.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let tx_out = lines(tx.stdout.take().expect("stdout"));
    let start = line_within(&tx_out, "sender start", Duration::from_secs(60));
    let start_ns = numbers(&start, "start ")[0];

    // SIGKILL mid-stream.
    let kill_at = start_ns + KILL_AFTER.as_nanos() as u64;
    let now = monotonic_ns();
    if kill_at > now {
        std::thread::sleep(Duration::from_nanos(kill_at - now));
    }
    let kill_ns = monotonic_ns();
    let pid = rustix::process::Pid::from_raw(dp1 as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("SIGKILL");
    // The fresh heartbeat of every block of the new process.
    let (dp2, beat_ns) = wait_for("fresh heartbeat", Duration::from_secs(5), || {
        fresh_heartbeat(&shm_path, dp1)
    });
    let outage_ns = beat_ns.saturating_sub(kill_ns);
    let outage = Duration::from_nanos(outage_ns);
    println!(
        "[{:5.1}s] SIGKILL of {dp1} at {:.3}s into the stream; new dataplane {dp2}, \
         fresh heartbeat of every block {} ms after the kill",
        lab.elapsed(),
        (kill_ns - start_ns) as f64 / 1e9,
        outage.as_millis()
    );
    assert!(
        outage < Duration::from_secs(1),
        "restart to a fresh heartbeat took {outage:?}"
    );
    assert_eq!(ppid(dp2), Some(daemon), "restarted by the daemon");

    // The rest of the stream, then the receiver's count.
    let times = numbers(
        &line_within(&tx_out, "sender times", Duration::from_secs(60)),
        "times ",
    );
    assert_eq!(times.len(), FRAMES, "every frame sent");
    std::thread::sleep(Duration::from_millis(500));
    drop(rx_in.write_all(b"stop\n"));
    drop(rx_in);
    let got: BTreeSet<u64> = numbers(
        &line_within(&rx_out, "receiver seqs", Duration::from_secs(10)),
        "seqs",
    )
    .into_iter()
    .collect();
    let lost: Vec<usize> = (0..FRAMES)
        .filter(|i| !got.contains(&(*i as u64)))
        .collect();
    let received = got.len() as u64;
    let sent = FRAMES as u64;
    // Relative to the kill, when the lost frames were sent.
    let rel = |i: usize| (times[i] as i64 - kill_ns as i64) as f64 / 1e6;
    let window = match (lost.first(), lost.last()) {
        (Some(&a), Some(&b)) => format!(
            "seq {a}..={b}, sent {:+.1} ms .. {:+.1} ms from the kill",
            rel(a),
            rel(b)
        ),
        _ => "none".to_owned(),
    };
    let bound = sent.saturating_sub(RATE * outage_ns / 1_000_000_000 + SLACK);
    println!(
        "[{:5.1}s] {sent} sent at {RATE}/s, {received} received, {} lost ({window}); \
         outage {} ms → bound received ≥ {bound}",
        lab.elapsed(),
        lost.len(),
        outage.as_millis()
    );
    // Forwarding before the kill and after the restart is complete.
    let before_kill: Vec<usize> = lost
        .iter()
        .copied()
        .filter(|&i| times[i] + 20_000_000 < kill_ns)
        .collect();
    assert!(
        before_kill.is_empty(),
        "frames sent before the kill lost: {before_kill:?}"
    );
    let after_restart: Vec<usize> = lost
        .iter()
        .copied()
        .filter(|&i| times[i] > beat_ns + 20_000_000)
        .collect();
    assert!(
        after_restart.is_empty(),
        "frames sent after the restart lost: {after_restart:?} ({window})"
    );
    assert!(
        received >= bound,
        "loss beyond the outage: {received} received < {bound}"
    );
    assert!(received <= sent, "duplicates: {received} of {sent}");

    let st = lab.status();
    assert_eq!(st.dataplane.restarts, 1, "one restart");
    assert!(st.dataplane.healthy, "healthy after the restart");
    assert!(lab.term(daemon).success());
}
