//! Engine micro-benchmarks: nanoseconds per packet for each fast path at
//! both frame sizes, beside a memcpy baseline of the same frames.
//!
//! Each measured iteration is one batch of 64 frames:
//! - `engine`: the 64 `Frame`s are rebuilt over the pre-filled slots (head
//!   and length back to the received frame) and `Engine::process` runs over
//!   them (`Batch::process_batch`). Between iterations, outside the timed
//!   region, `Batch::restore` copies back the header bytes the engine
//!   rewrote.
//! - `memcpy`: each of the 64 received frames is copied once into another
//!   buffer (`Batch::copy_batch`).
//! - `udp-csum` (Teredo paths): the one's complement sum the engine takes
//!   over each UDP datagram, alone (`Batch::checksum_batch`), to show its
//!   share at the larger size.
//!
//! Both are timed the same way (one `Instant` pair per batch, about 0.5 to
//! 1 ns per packet here), so their ratio is fair. After criterion's own
//! report, a table of ns per packet (median) is printed.
//!
//! `cargo bench -p xrelay-bench --bench engine` runs in under two minutes
//! (0.3 s warm-up, 1 s measurement, 30 samples per benchmark, set below);
//! `-- --quick` is shorter still.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, Throughput};
use xrelay_bench::{engine_and_peers, Batch, Path, Size, BATCH, NOW};

fn group_id(p: Path, s: Size) -> String {
    format!("{}_{}", p.name(), s.name())
}

fn benches(c: &mut Criterion) {
    let (mut engine, peers) = engine_and_peers(NOW);
    for p in Path::ALL {
        for s in Size::ALL {
            let mut batch = Batch::new(p, s);
            batch.check(&mut engine, &peers, NOW);
            let mut g = c.benchmark_group(group_id(p, s));
            g.throughput(Throughput::Elements(BATCH as u64));
            g.bench_function("engine", |b| {
                b.iter_custom(|iters| {
                    let mut t = Duration::ZERO;
                    for _ in 0..iters {
                        batch.restore();
                        let start = Instant::now();
                        batch.process_batch(&mut engine, &peers, NOW);
                        t += start.elapsed();
                    }
                    t
                })
            });
            g.bench_function("memcpy", |b| {
                b.iter_custom(|iters| {
                    let mut t = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        batch.copy_batch();
                        t += start.elapsed();
                    }
                    t
                })
            });
            if batch.checksum_batch().is_some() {
                g.bench_function("udp-csum", |b| {
                    b.iter_custom(|iters| {
                        let mut t = Duration::ZERO;
                        for _ in 0..iters {
                            let start = Instant::now();
                            std::hint::black_box(batch.checksum_batch());
                            t += start.elapsed();
                        }
                        t
                    })
                });
            }
            g.finish();
            // Every frame of every iteration must still have been forwarded.
            assert!(batch
                .verdicts()
                .iter()
                .all(|v| *v == xrelay_engine::Verdict::Tx));
        }
    }
}

/// Where criterion writes its results (its own rule, see criterion's
/// `DEFAULT_OUTPUT_DIRECTORY`; the bench binary lives in `<target>/release/deps`).
fn criterion_home() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("CRITERION_HOME") {
        return Some(h.into());
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(t).join("criterion"));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// Median ns per packet of one benchmark, if it ran in this process.
fn ns_per_packet(
    home: &std::path::Path,
    group: &str,
    func: &str,
    since: SystemTime,
) -> Option<f64> {
    let f = home
        .join(group)
        .join(func)
        .join("new")
        .join("estimates.json");
    if std::fs::metadata(&f).ok()?.modified().ok()? < since {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).ok()?).ok()?;
    Some(v["median"]["point_estimate"].as_f64()? / BATCH as f64)
}

fn summary(since: SystemTime) {
    let Some(home) = criterion_home() else {
        return;
    };
    let cell = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
    println!("\nns per packet (median of criterion samples, batches of {BATCH}):");
    println!(
        "{:<11} {:>5} {:>6} {:>8} {:>8} {:>6} {:>8}",
        "path", "size", "frame", "engine", "memcpy", "ratio", "udp-csum"
    );
    for p in Path::ALL {
        for s in Size::ALL {
            let g = group_id(p, s);
            let e = ns_per_packet(&home, &g, "engine", since);
            let m = ns_per_packet(&home, &g, "memcpy", since);
            let c = ns_per_packet(&home, &g, "udp-csum", since);
            if e.is_none() && m.is_none() {
                continue;
            }
            let ratio = e.zip(m).map(|(e, m)| e / m);
            println!(
                "{:<11} {:>5} {:>6} {:>8} {:>8} {:>6} {:>8}",
                p.name(),
                s.name(),
                xrelay_bench::frame(p, s).len(),
                cell(e),
                cell(m),
                cell(ratio),
                cell(c)
            );
        }
    }
}

fn main() {
    let since = SystemTime::now();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
        .configure_from_args();
    benches(&mut c);
    c.final_summary();
    summary(since);
}
