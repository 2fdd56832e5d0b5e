//! The benchmark's XDP programs (`xdp-programs/bench/xrb.bpf.c`): loading,
//! attaching, the live-frames generator run (`BPF_PROG_RUN`), and the
//! sink's counters and latency samples.

use std::os::fd::{AsFd as _, AsRawFd as _, RawFd};

use anyhow::{anyhow, bail, Context as _, Result};
use aya::maps::{Array, MapData, PerCpuArray};
use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};

#[cfg(xrb_object)]
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xrb.bpf.o"));

/// The compiled object, or why it was not built.
pub fn object() -> Result<&'static [u8]> {
    #[cfg(xrb_object)]
    {
        Ok(OBJECT)
    }
    #[cfg(not(xrb_object))]
    {
        Err(anyhow!(
            "the benchmark XDP programs were not built: {}",
            env!("XRB_MISSING")
        ))
    }
}

/// Samples the sink keeps per run (`XRB_SAMPLES`).
pub const SAMPLES: u32 = 65536;
/// Unit of a latency sample.
pub const SAMPLE_NS: u64 = 64;

/// One loaded instance of the object with one of its programs loaded.
pub struct Prog {
    ebpf: Ebpf,
    name: &'static str,
}

impl std::fmt::Debug for Prog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prog").field("name", &self.name).finish()
    }
}

impl Prog {
    /// Loads `name` (`xrb_gen`, `xrb_sink`, `xrb_redir`, `xrb_pass`).
    pub fn load(name: &'static str, redirect_ifindex: u32) -> Result<Prog> {
        let mut ebpf = EbpfLoader::new()
            .override_global("xrb_redir_ifindex", &redirect_ifindex, true)
            .load(object()?)
            .context("loading xrb.bpf.o")?;
        let p: &mut Xdp = ebpf
            .program_mut(name)
            .ok_or_else(|| anyhow!("no program {name}"))?
            .try_into()?;
        p.load().with_context(|| format!("loading {name}"))?;
        Ok(Prog { ebpf, name })
    }

    fn xdp(&mut self) -> Result<&mut Xdp> {
        Ok(self
            .ebpf
            .program_mut(self.name)
            .ok_or_else(|| anyhow!("no program {}", self.name))?
            .try_into()?)
    }

    /// Attaches in driver mode to `iface` of the calling thread's
    /// namespace (detached when `self` drops).
    pub fn attach(&mut self, iface: &str) -> Result<()> {
        let name = self.name;
        self.xdp()?
            .attach(iface, XdpMode::Driver)
            .with_context(|| format!("attaching {name} to {iface}"))?;
        Ok(())
    }

    fn prog_fd(&mut self) -> Result<RawFd> {
        Ok(self.xdp()?.fd()?.as_fd().as_raw_fd())
    }

    fn array_u32(&mut self, map: &str) -> Result<Array<&mut MapData, u32>> {
        Ok(Array::try_from(
            self.ebpf
                .map_mut(map)
                .ok_or_else(|| anyhow!("no map {map}"))?,
        )?)
    }

    /// Sink: frames and bytes counted so far (all CPUs).
    pub fn sink_counts(&mut self) -> Result<(u64, u64)> {
        let m: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(
            self.ebpf
                .map("xrb_count")
                .ok_or_else(|| anyhow!("no map xrb_count"))?,
        )?;
        let sum = |k: u32| -> Result<u64> { Ok(m.get(&k, 0)?.iter().sum()) };
        Ok((sum(0)?, sum(1)?))
    }

    /// Sink: forgets the latency samples.
    pub fn reset_samples(&mut self) -> Result<()> {
        self.array_u32("xrb_nlat")?.set(0, 0, 0)?;
        Ok(())
    }

    /// Sink: the latency samples in nanoseconds (at most [`SAMPLES`]).
    pub fn samples(&mut self) -> Result<Vec<u64>> {
        let n = self.array_u32("xrb_nlat")?.get(&0, 0)?.min(SAMPLES);
        let lat = self.array_u32("xrb_lat")?;
        (0..n)
            .map(|i| Ok(u64::from(lat.get(&i, 0)?) * SAMPLE_NS))
            .collect()
    }

    /// Generator: sets the frame's flow patches and checksums.
    pub fn set_gen(&mut self, g: &GenCfg) -> Result<()> {
        let mut a: Array<&mut MapData, [u8; GCFG_LEN]> = Array::try_from(
            self.ebpf
                .map_mut("xrb_gcfg")
                .ok_or_else(|| anyhow!("no map xrb_gcfg"))?,
        )?;
        a.set(0, g.encode(), 0)?;
        Ok(())
    }

    /// Generator: sends `frame` `repeat` times out of `ifindex` (of the
    /// calling thread's namespace) with `BPF_F_TEST_XDP_LIVE_FRAMES`.
    pub fn run_live(&mut self, frame: &[u8], ifindex: u32, repeat: u32) -> Result<()> {
        let fd = self.prog_fd()?;
        prog_run_live(fd, frame, ifindex, repeat)
    }
}

/// A 16-bit word the generator writes per frame: `base + ck*k + cj*j`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Patch {
    pub off: u16,
    pub base: u16,
    pub ck: i16,
    pub cj: i16,
}

/// A checksum the generator recomputes from the template: `base` is the
/// template's value, `mask` the patch slots it covers (6, 7: timestamp)
/// and, bit 8 + n, the earlier checksum n.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Csum {
    pub off: u16,
    pub base: u16,
    pub mask: u16,
}

/// Timestamp placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    None,
    /// The flow label of the IPv6 header at this offset.
    FlowLabel(u16),
    /// The low 20 bits of the 32-bit word at this offset.
    Word(u16),
}

/// `struct xrb_gcfg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenCfg {
    pub nflows: u32,
    pub kshift: u32,
    pub sample_mask: u32,
    pub stamp: Stamp,
    /// At most 6.
    pub patches: Vec<Patch>,
    /// At most 3.
    pub csums: Vec<Csum>,
    /// The template's two 16-bit words at the stamp offset.
    pub stamp_base: [u16; 2],
}

const GCFG_LEN: usize = 20 + 8 * 8 + 3 * 8;

impl GenCfg {
    fn encode(&self) -> [u8; GCFG_LEN] {
        let mut b = [0u8; GCFG_LEN];
        let (ts_mode, ts_off) = match self.stamp {
            Stamp::None => (0u16, 0u16),
            Stamp::FlowLabel(o) => (1, o),
            Stamp::Word(o) => (2, o),
        };
        b[0..4].copy_from_slice(&self.nflows.max(1).to_ne_bytes());
        b[4..8].copy_from_slice(&self.kshift.to_ne_bytes());
        b[8..12].copy_from_slice(&self.sample_mask.to_ne_bytes());
        b[12..14].copy_from_slice(&ts_mode.to_ne_bytes());
        b[14..16].copy_from_slice(&ts_off.to_ne_bytes());
        b[16..18].copy_from_slice(&(self.patches.len().min(6) as u16).to_ne_bytes());
        b[18..20].copy_from_slice(&(self.csums.len().min(3) as u16).to_ne_bytes());
        let mut put = |at: usize, w: [u16; 4]| {
            for (i, v) in w.iter().enumerate() {
                b[at + 2 * i..at + 2 * i + 2].copy_from_slice(&v.to_ne_bytes());
            }
        };
        for (i, p) in self.patches.iter().take(6).enumerate() {
            put(20 + 8 * i, [p.off, p.base, p.ck as u16, p.cj as u16]);
        }
        put(20 + 8 * 6, [ts_off, self.stamp_base[0], 0, 0]);
        put(20 + 8 * 7, [ts_off + 2, self.stamp_base[1], 0, 0]);
        for (i, c) in self.csums.iter().take(3).enumerate() {
            put(84 + 8 * i, [c.off, c.base, c.mask, 0]);
        }
        b
    }

    /// With the timestamp's template words (slots 6 and 7) read from
    /// `frame`, so checksums can cover the stamp.
    pub fn with_stamp_base(mut self, frame: &[u8]) -> GenCfg {
        if let Stamp::FlowLabel(o) | Stamp::Word(o) = self.stamp {
            let at = o as usize;
            let w = |i: usize| u16::from_be_bytes([frame[at + i], frame[at + i + 1]]);
            self.stamp_base = [w(0), w(2)];
        }
        self
    }
}

/// `bpf(BPF_PROG_TEST_RUN)` with `BPF_F_TEST_XDP_LIVE_FRAMES`: `repeat`
/// copies of `frame` through the program, XDP_TX leaving by `ifindex`.
fn prog_run_live(fd: RawFd, frame: &[u8], ifindex: u32, repeat: u32) -> Result<()> {
    const BPF_PROG_TEST_RUN: libc::c_long = 10;
    const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
    let ctx: [u32; 6] = [0, frame.len() as u32, 0, ifindex, 0, 0];
    // union bpf_attr, the `test` member (offsets of linux/bpf.h).
    let mut attr = [0u8; 128];
    let mut put32 = |at: usize, v: u32| attr[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    put32(0, fd as u32);
    put32(8, frame.len() as u32);
    put32(32, repeat);
    put32(40, std::mem::size_of_val(&ctx) as u32);
    put32(64, BPF_F_TEST_XDP_LIVE_FRAMES);
    put32(72, 256); // batch_size
    attr[16..24].copy_from_slice(&(frame.as_ptr() as u64).to_ne_bytes());
    attr[48..56].copy_from_slice(&(ctx.as_ptr() as u64).to_ne_bytes());
    // SAFETY: `attr` is a zero-filled `union bpf_attr` prefix whose pointers
    // (data_in, ctx_in) point at live buffers of the stated sizes for the
    // duration of the call; the kernel only reads them (no data_out/ctx_out).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            attr.as_mut_ptr(),
            80 as libc::c_uint,
        )
    };
    if r != 0 {
        bail!(
            "BPF_PROG_RUN (live frames): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}
