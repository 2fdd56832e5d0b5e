//! Runs one scenario for N packets, for instruction counting under
//! `valgrind --tool=callgrind` (see `bench/instr.sh`).
//!
//! ```text
//! instr <path> <size> <packets> [engine|harness|copy|csum]
//!   path: 6to4-decap | 6to4-encap | teredo-rx | teredo-tx
//!   size: 64 | 1500
//! ```
//!
//! Packets are processed in batches of 64 (the count is rounded up to whole
//! batches and printed). The measured work is in `Batch::process_batch`
//! (engine), `Batch::harness_batch` (the same frame set-up without the
//! engine, subtracted to get the engine's own cost), `Batch::copy_batch`
//! (memcpy baseline) or
//! `Batch::checksum_batch` (the Teredo UDP checksum share), never inlined,
//! so callgrind's `--toggle-collect` can count exactly it; `Batch::restore`
//! between batches is outside.

use std::process::ExitCode;

use xrelay_bench::{engine_and_peers, Batch, Path, Size, BATCH, NOW};

fn usage() -> ExitCode {
    eprintln!("usage: instr <6to4-decap|6to4-encap|teredo-rx|teredo-tx> <64|1500> <packets> [engine|harness|copy|csum]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(size), Some(n)) = (
        args.first().and_then(|a| Path::parse(a)),
        args.get(1).and_then(|a| Size::parse(a)),
        args.get(2)
            .and_then(|a| a.replace('_', "").parse::<usize>().ok()),
    ) else {
        return usage();
    };
    let mode = match args.get(3).map(String::as_str) {
        None => "engine",
        Some(m @ ("engine" | "harness" | "copy" | "csum")) => m,
        Some(_) => return usage(),
    };
    let (mut engine, peers) = engine_and_peers(NOW);
    let mut batch = Batch::new(path, size);
    batch.check(&mut engine, &peers, NOW);
    let batches = n.div_ceil(BATCH);
    for _ in 0..batches {
        match mode {
            "copy" => batch.copy_batch(),
            "harness" => {
                batch.restore();
                batch.harness_batch();
            }
            "csum" => {
                if batch.checksum_batch().is_none() {
                    eprintln!("instr: {} has no UDP checksum", path.name());
                    return ExitCode::from(2);
                }
            }
            _ => {
                batch.restore();
                batch.process_batch(&mut engine, &peers, NOW);
            }
        }
    }
    let forwarded = engine.counters().get_event(path.event());
    println!(
        "path={} size={} frame_len={} packets={} mode={} forwarded={}",
        path.name(),
        size.name(),
        batch.frame_len(),
        batches * BATCH,
        mode,
        forwarded
    );
    ExitCode::SUCCESS
}
