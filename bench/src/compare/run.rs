//! One measurement: generator threads in the sending namespaces (pinned
//! to the generator core), the sinks' counters and latency samples before
//! and after a fixed window, and the relay's subject set up in between.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::bpf::Prog;
use super::frames::{Side, Template};
use super::topo::enter_netns;

/// Most frames per `BPF_PROG_RUN` call: each call costs ~20 ms here
/// beyond its frames (measured: 2 048 frames took 24 ms, 65 536 took
/// 50 ms), so calls must be long.
const CHUNK: u32 = 65536;

/// Generator threads and most frames per call for paced traffic (`--rate`,
/// `search`).
const PACED_THREADS: usize = 32;
const PACED_BURST: u32 = 256;

/// A generator's work: templates sent in turn by weight from one side.
#[derive(Debug, Clone)]
pub struct Load {
    pub side: Side,
    pub templates: Vec<Template>,
}

/// What one window measured.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub secs: f64,
    /// Frames offered that the subject should forward.
    pub offered: u64,
    /// All frames offered (including those dropped by design).
    pub offered_all: u64,
    pub received: u64,
    pub bytes: u64,
    pub latency_ns: Vec<u64>,
}

impl Window {
    pub fn rate(&self) -> f64 {
        self.received as f64 / self.secs
    }
    pub fn offered_rate(&self) -> f64 {
        self.offered as f64 / self.secs
    }
    pub fn loss(&self) -> f64 {
        if self.offered == 0 {
            return 0.0;
        }
        (1.0 - self.received as f64 / self.offered as f64).max(0.0)
    }
}

/// The two sinks (on the host ends), attached for the whole run.
#[derive(Debug)]
pub struct Sinks {
    pub v4: Prog,
    pub v6: Prog,
}

impl Sinks {
    fn of(&mut self, s: Side) -> &mut Prog {
        match s {
            Side::V4 => &mut self.v4,
            Side::V6 => &mut self.v6,
        }
    }
}

/// Generator settings.
#[derive(Debug, Clone, Copy)]
pub struct GenOpts {
    pub core: Option<usize>,
    /// Offered frames per second over all loads; `None`: as fast as it goes.
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub window: Duration,
    /// Generator threads per load, all on `core`. A `BPF_PROG_RUN` call
    /// spends part of its ~20 ms fixed cost asleep (the core idles), so a
    /// second thread fills those gaps: measured here, 64-byte offered load
    /// 1.14 → 1.62 Mpps from one thread to two (1.70 with three).
    pub threads: usize,
}

struct GenThread {
    handle: std::thread::JoinHandle<Result<()>>,
    fwd: Arc<AtomicU64>,
    all: Arc<AtomicU64>,
}

fn spawn_gen(
    ns: String,
    ifname: String,
    load: Load,
    rate: Option<f64>,
    burst: u32,
    core: Option<usize>,
    stop: Arc<AtomicBool>,
) -> GenThread {
    let fwd = Arc::new(AtomicU64::new(0));
    let all = Arc::new(AtomicU64::new(0));
    let (f2, a2) = (fwd.clone(), all.clone());
    let handle = std::thread::Builder::new()
        .name("xrb-gen".into())
        .spawn(move || -> Result<()> {
            if let Some(c) = core {
                core_affinity::set_for_current(core_affinity::CoreId { id: c });
            }
            enter_netns(&ns)?;
            let ifindex = if_index(&ifname)?;
            let mut prog = Prog::load("xrb_gen", 0)?;
            let multi = load.templates.len() > 1;
            if !multi {
                prog.set_gen(&load.templates[0].gen)?;
            }
            let total_w: u32 = load.templates.iter().map(|t| t.weight).sum();
            let start = Instant::now();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for t in &load.templates {
                    let mut n = CHUNK * t.weight / total_w.max(1) * if multi { 4 } else { 1 };
                    if let Some(r) = rate {
                        let due = (r * start.elapsed().as_secs_f64()) as u64;
                        if due <= sent {
                            std::thread::sleep(Duration::from_micros(200));
                            continue;
                        }
                        n = n.min((due - sent) as u32).min(burst).max(1);
                    }
                    if multi {
                        prog.set_gen(&t.gen)?;
                    }
                    prog.run_live(&t.frame, ifindex, n)?;
                    sent += u64::from(n);
                    a2.fetch_add(u64::from(n), Ordering::Relaxed);
                    if t.kind.forwarded() {
                        f2.fetch_add(u64::from(n), Ordering::Relaxed);
                    }
                }
            }
            Ok(())
        })
        .expect("spawning the generator thread");
    GenThread { handle, fwd, all }
}

pub fn if_index(name: &str) -> Result<u32> {
    let c = std::ffi::CString::new(name)?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(anyhow!(
            "interface {name}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(i)
}

/// Where each side's generator runs and which sink receives its frames.
#[derive(Debug, Clone)]
pub struct Hosts {
    pub ns_v4: String,
    pub h4: String,
    pub ns_v6: String,
    pub h6: String,
}

fn other(s: Side) -> Side {
    match s {
        Side::V4 => Side::V6,
        Side::V6 => Side::V4,
    }
}

/// Offers `loads` for warm-up + window and measures the window.
pub fn measure(
    hosts: &Hosts,
    sinks: &mut Sinks,
    loads: &[Load],
    o: GenOpts,
    interrupted: &AtomicBool,
) -> Result<Window> {
    let stop = Arc::new(AtomicBool::new(false));
    let total_w: usize = loads.iter().map(|l| l.templates.len()).sum();
    let mut gens = Vec::new();
    for l in loads {
        let (ns, ifn) = match l.side {
            Side::V4 => (hosts.ns_v4.clone(), hosts.h4.clone()),
            Side::V6 => (hosts.ns_v6.clone(), hosts.h6.clone()),
        };
        // Paced traffic: many threads with small calls. A call's fixed
        // cost (~25–50 ms here) is mostly a wait, not CPU, so PACED_THREADS
        // calls overlap and the offered load arrives in bursts of at most
        // PACED_BURST frames (the AF_XDP RX ring holds 2048) instead of
        // rate × 50 ms. One thread (the peer warm-up) keeps whole calls.
        let (threads, burst) = match (o.rate, o.threads) {
            (Some(_), t) if t > 1 => (t.max(PACED_THREADS), PACED_BURST),
            (_, t) => (t.max(1), CHUNK),
        };
        let share = o
            .rate
            .map(|r| r * l.templates.len() as f64 / total_w.max(1) as f64 / threads as f64);
        for _ in 0..threads {
            gens.push(spawn_gen(
                ns.clone(),
                ifn.clone(),
                l.clone(),
                share,
                burst,
                o.core,
                stop.clone(),
            ));
        }
    }
    let mut rx_sides: Vec<Side> = loads.iter().map(|l| other(l.side)).collect();
    rx_sides.sort();
    rx_sides.dedup();
    let result = (|| -> Result<Window> {
        sleep_checked(o.warmup, interrupted, &gens)?;
        let t0 = Instant::now();
        let c0 = counts(sinks, &rx_sides)?;
        let (f0, a0) = sent(&gens);
        for s in &rx_sides {
            sinks.of(*s).reset_samples()?;
        }
        sleep_checked(o.window, interrupted, &gens)?;
        let c1 = counts(sinks, &rx_sides)?;
        let (f1, a1) = sent(&gens);
        let secs = t0.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        Ok(Window {
            secs,
            offered: f1 - f0,
            offered_all: a1 - a0,
            received: c1.0 - c0.0,
            bytes: c1.1 - c0.1,
            latency_ns: Vec::new(),
        })
    })();
    stop.store(true, Ordering::Relaxed);
    let mut gen_err = None;
    for g in gens {
        match g.handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => gen_err = Some(e),
            Err(_) => gen_err = Some(anyhow!("generator thread panicked")),
        }
    }
    let mut w = result?;
    if let Some(e) = gen_err {
        return Err(e.context("generator"));
    }
    std::thread::sleep(Duration::from_millis(50));
    for s in &rx_sides {
        w.latency_ns.extend(sinks.of(*s).samples()?);
    }
    Ok(w)
}

fn counts(sinks: &mut Sinks, sides: &[Side]) -> Result<(u64, u64)> {
    let mut t = (0, 0);
    for s in sides {
        let (p, b) = sinks.of(*s).sink_counts()?;
        t.0 += p;
        t.1 += b;
    }
    Ok(t)
}

fn sent(gens: &[GenThread]) -> (u64, u64) {
    gens.iter().fold((0, 0), |(f, a), g| {
        (
            f + g.fwd.load(Ordering::Relaxed),
            a + g.all.load(Ordering::Relaxed),
        )
    })
}

fn sleep_checked(d: Duration, interrupted: &AtomicBool, gens: &[GenThread]) -> Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if interrupted.load(Ordering::Relaxed) {
            return Err(anyhow!("interrupted"));
        }
        if gens.iter().any(|g| g.handle.is_finished()) {
            return Err(anyhow!("a generator stopped early"));
        }
        std::thread::sleep(
            Duration::from_millis(20).min(end.saturating_duration_since(Instant::now())),
        );
    }
    Ok(())
}
