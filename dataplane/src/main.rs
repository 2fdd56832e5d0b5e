//! `xrelay-dataplane`: start-up and shutdown (docs/architecture.md
//! "Dataplane").
//!
//! Start-up: configuration (relay.toml's `[dataplane]`, command-line
//! options overriding its keys) → XSKMAPs opened from their pins → counter file
//! → next-hop table synced from the kernel (`--next-hops kernel`) → per
//! worker and interface: UMEM → socket bound → fill ring primed → worker
//! threads running → slow-path thread → FIB sync thread → sockets registered in the
//! XSKMAPs (only now does the XDP program redirect to them).
//! Shutdown (SIGTERM/SIGINT, or a thread that died): XSKMAP slots cleared
//! first (frames pass to the kernel again) → threads stopped and joined
//! (workers let in-flight TX complete) → sockets closed → UMEMs unmapped.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use xrelay_dataplane::batch::Side;
use xrelay_dataplane::fib::{FibSync, NextHopCell};
use xrelay_dataplane::kpath::KernelTx;
use xrelay_dataplane::opts::{bind_mode, Opts};
use xrelay_dataplane::rings::{Rings, Umem, UmemConfig};
use xrelay_dataplane::shm::{BlockInfo, Role, ShmWriter};
use xrelay_dataplane::slow::{self, SlowThread};
use xrelay_dataplane::worker::{thread_name, Worker};
use xrelay_dataplane::xsk::{self, SocketConfig, XskRings};
use xrelay_engine::config::{DataplaneConfig, NextHopSource};
use xrelay_engine::slow::SlowPath;
use xrelay_engine::{Config, Engine, PeerTable, Port};
use xrelay_xdp::abi::MAP_XSKS;
use xrelay_xdp::RelayMaps;

fn log(msg: impl AsRef<str>) {
    eprintln!("xrelay-dataplane: {}", msg.as_ref());
}

/// The pin directory holding the XSKMAP for `iface`: `DIR/<iface>/` when
/// it has one, else `DIR/`.
fn xskmap_dir(bpffs: &Path, iface: &str) -> PathBuf {
    let per_if = bpffs.join(iface);
    if per_if.join(MAP_XSKS).exists() {
        per_if
    } else {
        bpffs.to_owned()
    }
}

struct Running {
    threads: Vec<(String, JoinHandle<()>)>,
    /// (map index, queue) of every registered socket.
    registered: Vec<(usize, u32)>,
}

fn main() {
    let opts = Opts::parse();
    let cfg = match Config::load(&opts.config) {
        Ok(c) => c,
        Err(e) => {
            log(format!("error: configuration: {e}"));
            std::process::exit(1);
        }
    };
    // relay.toml's [dataplane] section, the command line overriding it.
    let dp = match opts.checked_settings(&cfg.dataplane) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("xrelay-dataplane: {e}");
            std::process::exit(2);
        }
    };
    match run(&opts, &cfg, &dp) {
        Ok(()) => {}
        Err(e) => {
            log(format!("error: {e:#}"));
            std::process::exit(1);
        }
    }
}

fn run(opts: &Opts, cfg: &Config, dp: &DataplaneConfig) -> Result<()> {
    // Signals first: a SIGTERM during start-up still shuts down in order.
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&term)).context("signal handler")?;
    }
    let two_armed = !cfg.interfaces.one_armed;
    let mut ifaces = vec![(cfg.interfaces.v4.name.clone(), Port::V4)];
    if two_armed {
        ifaces.push((cfg.interfaces.v6.name.clone(), Port::V6));
    }

    // XSKMAPs: one per interface (two-armed needs two program instances).
    let dirs: Vec<PathBuf> = ifaces
        .iter()
        .map(|(i, _)| xskmap_dir(&opts.bpffs, i))
        .collect();
    if two_armed && dirs[0] == dirs[1] {
        bail!(
            "two-armed operation needs one XDP program instance per interface: put each \
             interface's pinned maps in {}/<ifname>/ (found only {}/{MAP_XSKS}, whose slots \
             are receive-queue numbers and cannot hold both interfaces' sockets)",
            opts.bpffs.display(),
            dirs[0].display()
        );
    }
    let mut maps = Vec::new();
    for d in &dirs {
        let m = RelayMaps::from_pin_dir(d)
            .with_context(|| format!("opening pinned maps in {}", d.display()))?;
        if m.socket_slots() < dp.queues {
            bail!(
                "{}/{MAP_XSKS} has {} slots, fewer than the {} queues (dataplane.queues / --queues)",
                d.display(),
                m.socket_slots(),
                dp.queues
            );
        }
        maps.push(m);
    }

    let workers = dp.queues as usize;
    let core_of = |w: usize| (!dp.cores.is_empty()).then(|| dp.cores[w % dp.cores.len()]);
    let mut infos: Vec<BlockInfo> = (0..workers)
        .map(|w| BlockInfo {
            role: Role::Worker,
            queue: w as u32,
            core: core_of(w),
            label: thread_name(&ifaces[0].0, w as u32),
        })
        .collect();
    infos.push(BlockInfo {
        role: Role::SlowPath,
        queue: 0,
        core: dp.slow_core,
        label: "dp-slow".into(),
    });
    let shm = ShmWriter::create(&opts.shm, &infos, xsk::monotonic_ns())
        .with_context(|| format!("counter file {}", opts.shm.display()))?;

    let seed = std::hash::BuildHasher::hash_one(
        &std::collections::hash_map::RandomState::new(),
        0x7872_6470_u64,
    );
    let peers = Arc::new(RwLock::new(PeerTable::new(
        cfg.teredo.peer_capacity as usize,
        cfg.teredo.peer_idle_evict,
        seed ^ 0x7065_6572,
    )));
    {
        let t = peers.read().unwrap_or_else(|e| e.into_inner());
        let mut advised = 0;
        for (addr, len) in t.memory_regions() {
            match xsk::advise_hugepages(addr, len) {
                Ok(n) => advised += n,
                Err(e) => log(format!(
                    "peer table: huge pages not available ({e}); 4 KiB pages"
                )),
            }
        }
        log(format!(
            "peer table: {} entries, {} MiB reserved, {} MiB advised for huge pages",
            t.capacity(),
            t.heap_bytes() >> 20,
            advised >> 20
        ));
    }
    let umem_cfg = UmemConfig {
        frame_size: dp.frame_size,
        frames: dp.umem_frames(),
        headroom: dp.headroom,
    };
    let slow_queue = cfg.engine.slow_queue as usize;
    let (links, slow_link) = slow::channels(
        workers,
        slow_queue,
        1024,
        slow_queue + 1024 * workers,
        umem_cfg.max_frame(),
    );

    // Next hops: the kernel's table, synced before any worker runs.
    let v6_if = if two_armed {
        cfg.interfaces.v6.name.clone()
    } else {
        cfg.interfaces.v4.name.clone()
    };
    let v4_if = cfg.interfaces.v4.name.clone();
    let (nh_cell, fib, kernel) = match dp.next_hops {
        NextHopSource::Kernel => {
            let cell = NextHopCell::new();
            let mut sync = FibSync::open(&v4_if, &v6_if, Arc::clone(&cell))
                .context("netlink socket (--next-hops kernel)")?;
            sync.resync().context("netlink dump (--next-hops kernel)")?;
            log(format!(
                "next hops: kernel, {} on {v4_if}/{v6_if}; static next_hop_mac where the kernel has no route",
                sync.summary()
            ));
            let kernel = match KernelTx::open(&v4_if, &v6_if) {
                Ok(k) => Some(k),
                Err(e) => {
                    log(format!(
                        "raw sockets for next-hop misses: {e}; misses will be dropped (dp/neigh_miss_errors)"
                    ));
                    None
                }
            };
            (Some(cell), Some(sync), kernel)
        }
        NextHopSource::Static => {
            log("next hops: static (relay.toml next_hop_mac)");
            (None, None, None)
        }
    };

    // UMEM → socket → fill ring primed, for every worker and interface.
    let reserve = 2 * dp.batch as usize;
    let mut parts: Vec<Vec<(XskRings, Umem, Port)>> = Vec::with_capacity(workers);
    let mut fds: Vec<Vec<i32>> = Vec::with_capacity(workers);
    for q in 0..dp.queues {
        let mut sides = Vec::new();
        let mut wfds = Vec::new();
        for (iface, role) in &ifaces {
            let mut umem = xrelay_dataplane::rings::map_umem(&umem_cfg)
                .with_context(|| format!("{iface} queue {q}"))?;
            let sc = SocketConfig {
                iface: iface.clone(),
                queue: q,
                ring_size: dp.ring_size,
                bind: bind_mode(dp.bind),
                busy_poll: dp.busy_poll.then_some(dp.batch),
                tx_budget: (4 * dp.batch).clamp(32, dp.ring_size),
            };
            let mut rings = XskRings::open(&umem, &sc, &mut |m| log(m))?;
            let want = umem.allocatable().saturating_sub(reserve);
            let primed = rings.refill(&mut umem, want);
            let (wf, wt) = rings.wakeup_flags();
            log(format!(
                "{iface} queue {q}: bound ({}, need_wakeup fill={wf} tx={wt}, tx budget {}), {} UMEM frames of {} (headroom {}), fill ring primed with {primed}",
                if rings.zerocopy() { "zero-copy" } else { "copy" },
                rings.tx_budget().map_or("kernel default".to_string(), |b| b.to_string()),
                umem.capacity(),
                dp.frame_size,
                dp.headroom
            ));
            wfds.push(rings.raw_fd());
            sides.push((rings, umem, *role));
        }
        parts.push(sides);
        fds.push(wfds);
    }

    // Workers.
    let stop = Arc::new(AtomicBool::new(false));
    let mut running = Running {
        threads: Vec::new(),
        registered: Vec::new(),
    };
    for (w, (sides, link)) in parts.into_iter().zip(links).enumerate() {
        let name = thread_name(&ifaces[0].0, w as u32);
        let engine = Engine::new(cfg, w as u16, workers as u16, seed).context("engine")?;
        let peers = Arc::clone(&peers);
        let block = shm.block(w);
        let stop = Arc::clone(&stop);
        let core = core_of(w);
        let (batch, busy) = (dp.batch as usize, dp.busy_poll);
        let nh = nh_cell.as_ref().map(|c| c.reader());
        let h = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                if let Some(c) = core {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                        log(format!("worker {w}: could not pin to core {c}"));
                    }
                }
                let sides = sides
                    .into_iter()
                    .map(|(rings, umem, role)| Side::new(rings, umem, &umem_cfg, role, batch))
                    .collect();
                let mut wk = Worker::new(sides, engine, link, peers, block, batch, busy);
                if let Some(r) = nh {
                    wk.set_next_hops(r);
                }
                wk.run(&stop);
            })
            .with_context(|| format!("spawning {name}"))?;
        running.threads.push((name, h));
    }

    // Slow path.
    {
        let slow = SlowPath::new(cfg, seed).context("slow path")?;
        let st = SlowThread {
            slow,
            link: slow_link,
            peers: Arc::clone(&peers),
            block: shm.block(workers),
            workers,
            kernel,
        };
        let stop = Arc::clone(&stop);
        let core = dp.slow_core;
        let h = std::thread::Builder::new()
            .name("dp-slow".into())
            .spawn(move || {
                if let Some(c) = core {
                    let _ = core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                st.run(&stop);
            })
            .context("spawning dp-slow")?;
        running.threads.push(("dp-slow".into(), h));
    }

    // The FIB sync.
    if let Some(sync) = fib {
        let stop = Arc::clone(&stop);
        let h = std::thread::Builder::new()
            .name("dp-fib".into())
            .spawn(move || sync.run(&stop, &|m| log(m)))
            .context("spawning dp-fib")?;
        running.threads.push(("dp-fib".into(), h));
    }

    // The peer socket (`xrelayctl peers`), beside the counter file.
    {
        let path = xrelay_dataplane::peersock::socket_for(&opts.shm);
        let h = xrelay_dataplane::peersock::serve(&path, Arc::clone(&peers), Arc::clone(&stop))
            .with_context(|| format!("peer socket {}", path.display()))?;
        running.threads.push(("dp-peers".into(), h));
    }

    // Only now may the XDP program redirect to the sockets.
    let mut result = Ok(());
    'reg: for (q, wfds) in fds.iter().enumerate() {
        for (m, fd) in wfds.iter().enumerate() {
            if let Err(e) = maps[m].set_socket(q as u32, fd) {
                result =
                    Err(anyhow::Error::new(e)
                        .context(format!("registering {} queue {q}", ifaces[m].0)));
                break 'reg;
            }
            running.registered.push((m, q as u32));
        }
    }
    if result.is_ok() {
        log(format!(
            "running: {workers} worker(s), {} ({}), counters in {}, pid {}",
            if two_armed { "two-armed" } else { "one-armed" },
            ifaces
                .iter()
                .map(|(i, _)| i.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            opts.shm.display(),
            std::process::id()
        ));
        result = wait(&term, &stop, &running);
    }

    // Shutdown: deregister first, then stop the threads.
    for (m, q) in &running.registered {
        if let Err(e) = maps[*m].clear_socket(*q) {
            log(format!("clearing {} queue {q}: {e}", ifaces[*m].0));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for (name, h) in running.threads {
        if h.join().is_err() {
            log(format!("thread {name} panicked"));
        }
    }
    log("stopped");
    result
}

/// Waits for SIGTERM/SIGINT or the death of a thread.
fn wait(term: &AtomicBool, stop: &AtomicBool, running: &Running) -> Result<()> {
    loop {
        if term.load(Ordering::Relaxed) {
            log("signal received, shutting down");
            return Ok(());
        }
        if let Some((name, _)) = running.threads.iter().find(|(_, h)| h.is_finished()) {
            stop.store(true, Ordering::Relaxed);
            bail!("thread {name} exited");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
