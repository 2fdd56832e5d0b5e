//! The shared-memory counter file (DESIGN §1 "Counters"): one
//! cache-line-aligned block per worker plus one for the slow path, each
//! written by one thread only, once per batch; the control process maps
//! the file read-only and sums the blocks.
//!
//! ```text
//!  offset  header (native byte order)
//!       0  magic "XRLYCNTR"
//!       8  u32 version (1)          12  u32 header_len (offset of block 0, multiple of 64)
//!      16  u64 layout hash (FNV-1a 64 of LAYOUT_TAG, the version, the block header
//!          length and every counter name followed by '\n')
//!      24  u32 blocks               28  u32 counters per block
//!      32  u32 block stride         36  u32 block header length (64)
//!      40  u32 names offset (64)    44  u32 names length
//!      48  u32 writer pid           52  u32 reserved
//!      56  u64 created (CLOCK_MONOTONIC ns)
//!      64  counter names, each followed by '\n'
//!
//!  block i at header_len + i × stride (stride = 64 + 8 × counters, rounded up to 64)
//!       0  u64 heartbeat: batches (loop iterations) so far
//!       8  u64 heartbeat: CLOCK_MONOTONIC ns of the last iteration
//!      16  u32 role (1 worker, 2 slow path)   20  u32 queue
//!      24  i32 pinned core (-1: none)         28  u32 state (0 starting, 1 running, 2 stopped)
//!      32  32 bytes label (thread name, NUL padded)
//!      64  u64 × counters, in the order of the names (`counters::names`)
//! ```
//!
//! Counter and heartbeat words are 8-byte aligned and written with atomic
//! stores; readers load them one word at a time (a snapshot is not
//! consistent across words, and need not be: each word only grows).
//! The file is written under a temporary name and renamed into place once
//! the header is complete, so a reader never sees a partial header.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::{Mmap, MmapMut};

use crate::counters::{self, Tally};

pub const MAGIC: [u8; 8] = *b"XRLYCNTR";
pub const VERSION: u32 = 1;
pub const CACHE_LINE: usize = 64;
pub const BLOCK_HEADER_LEN: usize = 64;
pub const LABEL_LEN: usize = 32;
const LAYOUT_TAG: &str = "xrelay-counters";

/// What a block belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Role {
    Worker = 1,
    SlowPath = 2,
}

/// A block's life-cycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum BlockState {
    Starting = 0,
    Running = 1,
    Stopped = 2,
}

/// Static description of a block, written at creation.
#[derive(Debug, Clone)]
pub struct BlockInfo {
    pub role: Role,
    pub queue: u32,
    pub core: Option<usize>,
    pub label: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    #[error("{call} {}: {source}", .path.display())]
    Io {
        call: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not an xrelay counter file ({why})", .path.display())]
    Format { path: PathBuf, why: String },
}

fn io_err<'a>(call: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ShmError + 'a {
    move |source| ShmError::Io {
        call,
        path: path.to_owned(),
        source,
    }
}

/// FNV-1a 64 of the layout description.
pub fn layout_hash<S: AsRef<str>>(names: &[S]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for x in b {
            h ^= u64::from(*x);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(LAYOUT_TAG.as_bytes());
    eat(&VERSION.to_le_bytes());
    eat(&(BLOCK_HEADER_LEN as u32).to_le_bytes());
    for n in names {
        eat(n.as_ref().as_bytes());
        eat(b"\n");
    }
    h
}

/// The hash of the layout this binary writes.
pub fn own_layout_hash() -> u64 {
    layout_hash(&counters::names())
}

const fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Block stride for `n` counters.
pub const fn block_stride(n: usize) -> usize {
    BLOCK_HEADER_LEN + round_up(8 * n, CACHE_LINE)
}

/// The writable mapping, shared by the block writers.
struct Mapping {
    _map: MmapMut,
    base: *mut u8,
    len: usize,
}

// SAFETY: after creation, every access through `base` is an atomic
// load/store of an 8-byte-aligned word inside the mapping (`word`), and the
// mapping (owned by `_map`) lives as long as the `Mapping`.
unsafe impl Send for Mapping {}
// SAFETY: as above: shared access is atomic only.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// The word at byte offset `off`.
    #[inline]
    fn word(&self, off: usize) -> Option<&AtomicU64> {
        if !off.is_multiple_of(8) || off + 8 > self.len {
            return None;
        }
        // SAFETY: `off` is in bounds and 8-aligned (the mapping is
        // page-aligned); the memory is valid for the lifetime of `self` and
        // only ever accessed atomically once the header is written.
        Some(unsafe { AtomicU64::from_ptr(self.base.add(off).cast::<u64>()) })
    }
}

/// The counter file of a running dataplane.
#[derive(Clone)]
pub struct ShmWriter {
    map: Arc<Mapping>,
    header_len: usize,
    stride: usize,
    blocks: usize,
    path: PathBuf,
}

impl std::fmt::Debug for ShmWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmWriter")
            .field("path", &self.path)
            .field("blocks", &self.blocks)
            .finish_non_exhaustive()
    }
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}
fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}
fn get32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_ne_bytes)
}
fn get64(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map_or(0, u64::from_ne_bytes)
}

impl ShmWriter {
    /// Creates (replaces) the file at `path` with one block per entry of
    /// `blocks`, all counters zero.
    pub fn create(
        path: &Path,
        blocks: &[BlockInfo],
        created_ns: u64,
    ) -> Result<ShmWriter, ShmError> {
        let names = counters::names();
        let names_blob: String = names.iter().map(|n| format!("{n}\n")).collect();
        let header_len = round_up(64 + names_blob.len(), CACHE_LINE);
        let stride = block_stride(names.len());
        let total = header_len + stride * blocks.len();

        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let file: File = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        file.set_len(total as u64)
            .map_err(io_err("ftruncate", &tmp))?;
        // SAFETY: the file was just created by us under a private name and
        // nobody else writes it; readers only map it read-only.
        let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(io_err("mmap", &tmp))?;
        {
            let b: &mut [u8] = &mut map;
            put32(b, 8, VERSION);
            put32(b, 12, header_len as u32);
            put64(b, 16, layout_hash(&names));
            put32(b, 24, blocks.len() as u32);
            put32(b, 28, names.len() as u32);
            put32(b, 32, stride as u32);
            put32(b, 36, BLOCK_HEADER_LEN as u32);
            put32(b, 40, 64);
            put32(b, 44, names_blob.len() as u32);
            put32(b, 48, std::process::id());
            put64(b, 56, created_ns);
            b[64..64 + names_blob.len()].copy_from_slice(names_blob.as_bytes());
            for (i, info) in blocks.iter().enumerate() {
                let o = header_len + i * stride;
                put32(b, o + 16, info.role as u32);
                put32(b, o + 20, info.queue);
                put32(b, o + 24, info.core.map_or(u32::MAX, |c| c as u32));
                put32(b, o + 28, BlockState::Starting as u32);
                let label = info.label.as_bytes();
                let n = label.len().min(LABEL_LEN - 1);
                b[o + 32..o + 32 + n].copy_from_slice(&label[..n]);
            }
            b[0..8].copy_from_slice(&MAGIC);
        }
        map.flush().map_err(io_err("msync", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io_err("rename", path))?;
        let base = map.as_mut_ptr();
        Ok(ShmWriter {
            map: Arc::new(Mapping {
                base,
                len: total,
                _map: map,
            }),
            header_len,
            stride,
            blocks: blocks.len(),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// The writer of block `i` (one thread per block).
    pub fn block(&self, i: usize) -> Option<BlockWriter> {
        (i < self.blocks).then(|| BlockWriter {
            map: Arc::clone(&self.map),
            off: self.header_len + i * self.stride,
        })
    }
}

/// One block; its thread is the only writer.
pub struct BlockWriter {
    map: Arc<Mapping>,
    off: usize,
}

impl std::fmt::Debug for BlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("off", &self.off)
            .finish()
    }
}

impl BlockWriter {
    #[inline]
    fn store_at(&self, off: usize, v: u64) {
        if let Some(w) = self.map.word(self.off + off) {
            w.store(v, Ordering::Relaxed);
        }
    }

    /// Stores counter `slot`.
    #[inline]
    pub fn store(&self, slot: usize, v: u64) {
        if slot < counters::N_COUNTERS {
            self.store_at(BLOCK_HEADER_LEN + 8 * slot, v);
        }
    }

    /// Writes the changed counters of `t`, then the heartbeat.
    #[inline]
    pub fn flush(&self, t: &mut Tally, batches: u64, now_ns: u64) {
        t.flush(|slot, v| self.store(slot, v));
        self.heartbeat(batches, now_ns);
    }

    /// The heartbeat: iterations so far and the time of the last one. The
    /// timestamp is stored last, with release order, so a reader that sees
    /// it also sees the counters of that iteration.
    #[inline]
    pub fn heartbeat(&self, batches: u64, now_ns: u64) {
        self.store_at(0, batches);
        if let Some(w) = self.map.word(self.off + 8) {
            w.store(now_ns, Ordering::Release);
        }
    }

    pub fn set_state(&self, s: BlockState) {
        // The state shares a word with the pinned core (offset 24..32).
        if let Some(w) = self.map.word(self.off + 24) {
            let old = w.load(Ordering::Relaxed);
            let (lo, hi) = if cfg!(target_endian = "little") {
                (old & 0xffff_ffff, u64::from(s as u32) << 32)
            } else {
                (old & 0xffff_ffff_0000_0000, u64::from(s as u32))
            };
            w.store(lo | hi, Ordering::Release);
        }
    }
}

/// A read of the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub version: u32,
    pub layout_hash: u64,
    pub pid: u32,
    pub created_ns: u64,
    pub names: Vec<String>,
    pub blocks: Vec<BlockSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSnapshot {
    pub role: u32,
    pub queue: u32,
    pub core: Option<u32>,
    pub state: u32,
    pub label: String,
    pub batches: u64,
    pub heartbeat_ns: u64,
    pub counters: Vec<u64>,
}

impl Snapshot {
    /// Index of counter `name`: the full name (`event/sixto4_decap`) or the
    /// part after the slash when that is unique.
    pub fn slot(&self, name: &str) -> Option<usize> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Some(i);
        }
        let mut it = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.rsplit('/').next() == Some(name));
        match (it.next(), it.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }

    /// Sum of counter `name` over every block (0 when unknown).
    pub fn total(&self, name: &str) -> u64 {
        match self.slot(name) {
            Some(i) => self
                .blocks
                .iter()
                .map(|b| b.counters.get(i).copied().unwrap_or(0))
                .sum(),
            None => 0,
        }
    }

    /// Non-zero totals by name.
    pub fn nonzero(&self) -> Vec<(String, u64)> {
        self.names
            .iter()
            .map(|n| (n.clone(), self.total(n)))
            .filter(|(_, v)| *v != 0)
            .collect()
    }
}

/// Reads the counter file at `path`; checks magic, version and that the
/// layout hash matches the names it holds.
pub fn read(path: &Path) -> Result<Snapshot, ShmError> {
    let file = File::open(path).map_err(io_err("open", path))?;
    // SAFETY: mapped read-only; the writer only changes counter and
    // heartbeat words, which are read below with volatile 8-byte loads.
    let map = unsafe { Mmap::map(&file) }.map_err(io_err("mmap", path))?;
    parse(&map, path)
}

/// [`read`], and also insists that the file was written with this
/// build's layout (the same counter names in the same order), so a reader
/// never presents another build's slots under its own names.
pub fn read_checked(path: &Path) -> Result<Snapshot, ShmError> {
    let s = read(path)?;
    let own = own_layout_hash();
    if s.layout_hash != own {
        return Err(bad(
            path,
            format!(
                "layout hash {:016x} differs from this build's {own:016x}: the dataplane \
                 (pid {}) and this reader come from different builds; restart the dataplane \
                 with the matching binary",
                s.layout_hash, s.pid
            ),
        ));
    }
    Ok(s)
}

impl BlockSnapshot {
    /// Nanoseconds since the last heartbeat at monotonic time `now_ns`
    /// (None: never beat).
    pub fn heartbeat_age_ns(&self, now_ns: u64) -> Option<u64> {
        (self.heartbeat_ns != 0).then(|| now_ns.saturating_sub(self.heartbeat_ns))
    }

    /// `worker` or `slow-path` (or the raw number).
    pub fn role_name(&self) -> String {
        match self.role {
            1 => "worker".into(),
            2 => "slow-path".into(),
            r => format!("role-{r}"),
        }
    }

    /// `starting`, `running`, `stopped` (or the raw number).
    pub fn state_name(&self) -> String {
        match self.state {
            0 => "starting".into(),
            1 => "running".into(),
            2 => "stopped".into(),
            s => format!("state-{s}"),
        }
    }
}

fn bad(path: &Path, why: impl Into<String>) -> ShmError {
    ShmError::Format {
        path: path.to_owned(),
        why: why.into(),
    }
}

fn parse(map: &Mmap, path: &Path) -> Result<Snapshot, ShmError> {
    let b: &[u8] = map;
    if b.len() < 64 || b[0..8] != MAGIC {
        return Err(bad(path, "bad magic"));
    }
    let version = get32(b, 8);
    if version != VERSION {
        return Err(bad(
            path,
            format!("version {version}, this reader knows {VERSION}"),
        ));
    }
    let header_len = get32(b, 12) as usize;
    let hash = get64(b, 16);
    let nblocks = get32(b, 24) as usize;
    let ncounters = get32(b, 28) as usize;
    let stride = get32(b, 32) as usize;
    let bhl = get32(b, 36) as usize;
    let names_off = get32(b, 40) as usize;
    let names_len = get32(b, 44) as usize;
    if bhl != BLOCK_HEADER_LEN
        || stride != block_stride(ncounters)
        || !header_len.is_multiple_of(CACHE_LINE)
        || names_off + names_len > header_len
        || header_len + nblocks * stride > b.len()
    {
        return Err(bad(path, "inconsistent sizes"));
    }
    let names: Vec<String> = std::str::from_utf8(&b[names_off..names_off + names_len])
        .map_err(|_| bad(path, "names are not UTF-8"))?
        .split_terminator('\n')
        .map(str::to_owned)
        .collect();
    if names.len() != ncounters {
        return Err(bad(path, "name count differs from counter count"));
    }
    if layout_hash(&names) != hash {
        return Err(bad(path, "layout hash does not match the names"));
    }
    let base = map.as_ptr();
    let load = |off: usize| -> u64 {
        if !off.is_multiple_of(8) || off + 8 > b.len() {
            return 0;
        }
        // SAFETY: in bounds (checked above) and 8-aligned in a page-aligned
        // mapping that lives for this call; a volatile aligned 8-byte load
        // of a word the writer stores atomically.
        unsafe { std::ptr::read_volatile(base.add(off).cast::<u64>()) }
    };
    let mut blocks = Vec::with_capacity(nblocks);
    for i in 0..nblocks {
        let o = header_len + i * stride;
        let core_state = load(o + 24);
        let (core, state) = if cfg!(target_endian = "little") {
            (core_state as u32, (core_state >> 32) as u32)
        } else {
            ((core_state >> 32) as u32, core_state as u32)
        };
        let label = &b[o + 32..o + 32 + LABEL_LEN];
        let end = label.iter().position(|c| *c == 0).unwrap_or(LABEL_LEN);
        blocks.push(BlockSnapshot {
            role: get32(b, o + 16),
            queue: get32(b, o + 20),
            core: (core != u32::MAX).then_some(core),
            state,
            label: String::from_utf8_lossy(&label[..end]).into_owned(),
            batches: load(o),
            heartbeat_ns: load(o + 8),
            counters: (0..ncounters)
                .map(|k| load(o + BLOCK_HEADER_LEN + 8 * k))
                .collect(),
        });
    }
    Ok(Snapshot {
        version,
        layout_hash: hash,
        pid: get32(b, 48),
        created_ns: get64(b, 56),
        names,
        blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::{slot_dp, slot_drop, slot_event, DpCounter, N_COUNTERS};
    use xrelay_engine::{Counters, DropReason, Event};

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("xrelay-shm-{}-{name}", std::process::id()))
    }

    fn infos() -> Vec<BlockInfo> {
        vec![
            BlockInfo {
                role: Role::Worker,
                queue: 0,
                core: Some(1),
                label: "dp-xr-r4-q0".into(),
            },
            BlockInfo {
                role: Role::Worker,
                queue: 1,
                core: None,
                label: "dp-xr-r4-q1".into(),
            },
            BlockInfo {
                role: Role::SlowPath,
                queue: 0,
                core: None,
                label: "dp-slow".into(),
            },
        ]
    }

    #[test]
    fn round_trip() {
        let p = tmp("rt");
        let w = ShmWriter::create(&p, &infos(), 42).expect("create");
        let mut t0 = Tally::default();
        let mut c = Counters::default();
        for _ in 0..5 {
            c.event(Event::SixToFourDecap);
        }
        c.drop(DropReason::C16Congestion);
        t0.add_engine(&c);
        t0.dp(DpCounter::UmemCopies, 7);
        let b0 = w.block(0).expect("block 0");
        b0.flush(&mut t0, 11, 1234);
        b0.set_state(BlockState::Running);
        let mut t2 = Tally::default();
        t2.add_engine(&c);
        let b2 = w.block(2).expect("block 2");
        b2.flush(&mut t2, 3, 99);
        assert!(w.block(3).is_none());

        let s = read(&p).expect("read");
        assert_eq!(s.version, VERSION);
        assert_eq!(s.layout_hash, own_layout_hash());
        assert_eq!(s.names, counters::names());
        assert_eq!(s.pid, std::process::id());
        assert_eq!(s.created_ns, 42);
        assert_eq!(s.blocks.len(), 3);
        let b = &s.blocks[0];
        assert_eq!(
            (b.role, b.queue, b.core, b.state),
            (1, 0, Some(1), BlockState::Running as u32)
        );
        assert_eq!(b.label, "dp-xr-r4-q0");
        assert_eq!((b.batches, b.heartbeat_ns), (11, 1234));
        assert_eq!(b.counters.len(), N_COUNTERS);
        assert_eq!(b.counters[slot_event(Event::SixToFourDecap)], 5);
        assert_eq!(b.counters[slot_drop(DropReason::C16Congestion)], 1);
        assert_eq!(b.counters[slot_dp(DpCounter::UmemCopies)], 7);
        assert_eq!(b.counters.iter().sum::<u64>(), 13);
        assert_eq!(s.blocks[1].core, None);
        assert_eq!(s.blocks[1].counters.iter().sum::<u64>(), 0);
        assert_eq!(s.blocks[1].state, BlockState::Starting as u32);
        assert_eq!(s.blocks[2].role, Role::SlowPath as u32);
        assert_eq!(s.total("sixto4_decap"), 10);
        assert_eq!(s.total("event/sixto4_decap"), 10);
        assert_eq!(s.total("c_16_congestion"), 2);
        assert_eq!(s.total("no_such_counter"), 0);
        let nz = s.nonzero();
        assert_eq!(nz.len(), 3);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn blocks_are_cache_line_aligned() {
        let stride = block_stride(N_COUNTERS);
        assert_eq!(stride % CACHE_LINE, 0);
        assert!(stride >= BLOCK_HEADER_LEN + 8 * N_COUNTERS);
        let p = tmp("align");
        let w = ShmWriter::create(&p, &infos(), 0).expect("create");
        assert_eq!(w.header_len % CACHE_LINE, 0);
        assert_eq!((w.map.base as usize) % 4096, 0);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn refuses_foreign_files() {
        let p = tmp("bad");
        std::fs::write(&p, vec![0u8; 4096]).expect("write");
        assert!(matches!(read(&p), Err(ShmError::Format { .. })));
        let w = ShmWriter::create(&p, &infos(), 0).expect("create");
        drop(w);
        let mut bytes = std::fs::read(&p).expect("read");
        // A renamed counter changes the names but not the stored hash.
        let at = bytes.windows(5).position(|x| x == b"drop/").expect("names");
        bytes[at] = b'D';
        std::fs::write(&p, &bytes).expect("write");
        let e = read(&p).expect_err("hash mismatch");
        assert!(e.to_string().contains("layout hash"), "{e}");
        bytes[8] = 9;
        std::fs::write(&p, &bytes).expect("write");
        assert!(read(&p)
            .expect_err("version")
            .to_string()
            .contains("version 9"));
        let _ = std::fs::remove_file(&p);
        assert!(matches!(read(&p), Err(ShmError::Io { call: "open", .. })));
    }

    #[test]
    fn hash_changes_with_names() {
        let a = layout_hash(&["x", "y"]);
        assert_ne!(a, layout_hash(&["y", "x"]));
        assert_ne!(a, layout_hash(&["x", "y", "z"]));
        assert_eq!(a, layout_hash(&["x".to_string(), "y".to_string()]));
    }
}
