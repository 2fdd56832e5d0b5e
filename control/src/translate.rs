//! The offline mode: run the relay engine over a capture.
//!
//! Capture timestamps drive the engine's clock. Frames that share a
//! timestamp go through the pipeline together (at most [`BATCH`] per batch),
//! each copied into its own buffer with [`HEADROOM`] bytes in front:
//!
//! ```text
//!  [ HEADROOM (256) | captured frame (len) | 64 spare ]
//! ```
//!
//! Before each batch the pipeline's timers run for every whole second since
//! the previous batch (at most [`MAX_GAP_TICKS`] of them across one gap, so a
//! capture with a jump of years does not spin) and once at the batch's own
//! time; after the last frame they run every second for [`DRAIN_SECS`]
//! seconds so pending bubble retries, queue flushes and expiries happen. The
//! clock never goes backwards: an out-of-order frame is processed at the
//! latest time seen.

use std::collections::BTreeMap;

use xrelay_engine::{
    Config, ConfigError, Counters, DropReason, Frame, Now, Output, Pipeline, Port, HEADROOM,
};
use xrelay_wire::ethernet::{self, ETHERTYPE_IPV6};

use crate::pcapio::{CapturedFrame, PcapIoError, PcapOut};

/// Most frames processed in one batch.
pub const BATCH: usize = 64;
/// Spare bytes behind each frame.
pub const TAILROOM: usize = 64;
/// Seconds of timer ticks after the last frame.
pub const DRAIN_SECS: u64 = 10;
/// Whole-second ticks run at most across one gap between frames.
pub const MAX_GAP_TICKS: u64 = 600;

const SECOND: u64 = 1_000_000_000;

/// Why a translation stopped.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Capture(#[from] PcapIoError),
}

/// Where translated frames go.
pub trait Sink {
    fn write(&mut self, ts_ns: u64, frame: &[u8]) -> Result<(), PcapIoError>;
}

impl Sink for PcapOut {
    fn write(&mut self, ts_ns: u64, frame: &[u8]) -> Result<(), PcapIoError> {
        PcapOut::write(self, ts_ns, frame)
    }
}

impl Sink for Vec<CapturedFrame> {
    fn write(&mut self, ts_ns: u64, frame: &[u8]) -> Result<(), PcapIoError> {
        self.push((ts_ns, frame.to_vec()));
        Ok(())
    }
}

/// What a translation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Frames read from the capture.
    pub frames_in: u64,
    /// Frames the relay sent (fast path and slow path).
    pub transmitted: u64,
    /// Frames the relay dropped.
    pub dropped: u64,
    /// Frames handed to the kernel as not relay traffic.
    pub passed: u64,
    /// Frames the relay used up itself (echo requests answered, bubbles,
    /// packets queued for a Teredo peer, fragments held).
    pub consumed: u64,
    /// The pipeline's counters at the end.
    pub counters: Counters,
}

impl Summary {
    /// `{"frames_in": N, "transmitted": N, "dropped": N, "passed": N,
    /// "consumed": N, "drops": {reason: n}, "events": {name: n}}` on one
    /// line, non-zero counters only, names sorted.
    pub fn to_json(&self) -> String {
        let json = JsonSummary {
            frames_in: self.frames_in,
            transmitted: self.transmitted,
            dropped: self.dropped,
            passed: self.passed,
            consumed: self.consumed,
            drops: self
                .counters
                .drops_nonzero()
                .map(|(r, n)| (r.name(), n))
                .collect(),
            events: self
                .counters
                .events_nonzero()
                .map(|(e, n)| (e.name(), n))
                .collect(),
        };
        // Integers and string keys always serialise.
        serde_json::to_string(&json).unwrap_or_default()
    }

    /// A plain two-column table: the totals, then every non-zero counter.
    pub fn table(&self) -> String {
        let mut rows: Vec<(&str, u64)> = vec![
            ("frames_in", self.frames_in),
            ("transmitted", self.transmitted),
            ("dropped", self.dropped),
            ("passed", self.passed),
            ("consumed", self.consumed),
        ];
        rows.extend(self.counters.iter_nonzero());
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(name, n)| format!("{name:<width$}  {n:>10}\n"))
            .collect()
    }
}

/// The JSON form of [`Summary`], fields in this order.
#[derive(serde::Serialize)]
struct JsonSummary {
    frames_in: u64,
    transmitted: u64,
    dropped: u64,
    passed: u64,
    consumed: u64,
    drops: BTreeMap<&'static str, u64>,
    events: BTreeMap<&'static str, u64>,
}

/// The side a captured frame arrived on: by ethertype (after one VLAN tag).
pub fn rx_port(frame: &[u8]) -> Port {
    match ethernet::Frame::new_checked(frame) {
        Ok(f) if f.ethertype() == ETHERTYPE_IPV6 => Port::V6,
        _ => Port::V4,
    }
}

/// Collects what the pipeline reports during one call.
#[derive(Debug, Default)]
struct Collect {
    keep_drops: bool,
    tx: Vec<Vec<u8>>,
    drops: Vec<Vec<u8>>,
    transmitted: u64,
    dropped: u64,
    passed: u64,
    consumed: u64,
}

impl Output for Collect {
    fn transmit(&mut self, _port: Port, frame: &[u8]) {
        self.transmitted += 1;
        self.tx.push(frame.to_vec());
    }
    fn dropped(&mut self, _reason: DropReason, frame: &[u8]) {
        self.dropped += 1;
        if self.keep_drops {
            self.drops.push(frame.to_vec());
        }
    }
    fn passed(&mut self, _frame: &[u8]) {
        self.passed += 1;
    }
    fn consumed(&mut self, _frame: &[u8]) {
        self.consumed += 1;
    }
}

/// Runs a [`Pipeline`] over frames and writes what it sends (and, when asked,
/// what it drops).
pub struct Translator<'s> {
    pipeline: Pipeline,
    out: &'s mut dyn Sink,
    drops: Option<&'s mut dyn Sink>,
    collect: Collect,
    clock: Option<u64>,
    frames_in: u64,
}

impl std::fmt::Debug for Translator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translator")
            .field("clock", &self.clock)
            .field("frames_in", &self.frames_in)
            .finish_non_exhaustive()
    }
}

impl<'s> Translator<'s> {
    pub fn new(
        cfg: &Config,
        out: &'s mut dyn Sink,
        drops: Option<&'s mut dyn Sink>,
    ) -> Result<Translator<'s>, ConfigError> {
        Ok(Translator {
            pipeline: Pipeline::new(cfg)?,
            collect: Collect {
                keep_drops: drops.is_some(),
                ..Collect::default()
            },
            out,
            drops,
            clock: None,
            frames_in: 0,
        })
    }

    /// Translate every frame of `input`, then let the timers drain.
    pub fn run(
        mut self,
        input: impl IntoIterator<Item = Result<CapturedFrame, PcapIoError>>,
    ) -> Result<Summary, PcapIoError> {
        let mut batch: Vec<CapturedFrame> = Vec::with_capacity(BATCH);
        for item in input {
            let (ts, frame) = item?;
            self.frames_in += 1;
            if batch.first().is_some_and(|(t, _)| *t != ts) || batch.len() == BATCH {
                self.process(&mut batch)?;
            }
            batch.push((ts, frame));
        }
        self.process(&mut batch)?;
        if let Some(last) = self.clock {
            self.advance_to(last.saturating_add(DRAIN_SECS * SECOND))?;
        }
        Ok(Summary {
            frames_in: self.frames_in,
            transmitted: self.collect.transmitted,
            dropped: self.collect.dropped,
            passed: self.collect.passed,
            consumed: self.collect.consumed,
            counters: self.pipeline.counters(),
        })
    }

    /// Run the timers up to `to` (see the module docs); returns the time to
    /// process at, which never goes backwards.
    fn advance_to(&mut self, to: u64) -> Result<u64, PcapIoError> {
        let now = match self.clock {
            Some(last) if to <= last => return Ok(last),
            Some(last) => {
                let mut t = (last / SECOND + 1).saturating_mul(SECOND);
                let mut n = 0;
                while t < to && n < MAX_GAP_TICKS {
                    self.tick(t)?;
                    t = t.saturating_add(SECOND);
                    n += 1;
                }
                to
            }
            None => to,
        };
        self.tick(now)?;
        self.clock = Some(now);
        Ok(now)
    }

    fn tick(&mut self, t: u64) -> Result<(), PcapIoError> {
        self.pipeline.tick(Now(t), &mut self.collect);
        self.emit(t)
    }

    fn process(&mut self, batch: &mut Vec<CapturedFrame>) -> Result<(), PcapIoError> {
        let Some(&(ts, _)) = batch.first() else {
            return Ok(());
        };
        let now = self.advance_to(ts)?;
        let mut bufs: Vec<(Vec<u8>, usize, Port)> = batch
            .drain(..)
            .map(|(_, f)| {
                let mut buf = vec![0u8; HEADROOM + f.len() + TAILROOM];
                if let Some(dst) = buf.get_mut(HEADROOM..HEADROOM + f.len()) {
                    dst.copy_from_slice(&f);
                }
                (buf, f.len(), rx_port(&f))
            })
            .collect();
        let mut frames: Vec<Frame<'_>> = bufs
            .iter_mut()
            .map(|(buf, len, port)| Frame::new(buf, HEADROOM, *len, *port))
            .collect();
        self.pipeline
            .process(&mut frames, Now(now), &mut self.collect);
        self.emit(now)
    }

    /// Write what the last pipeline call produced, stamped `t`.
    fn emit(&mut self, t: u64) -> Result<(), PcapIoError> {
        for f in self.collect.tx.drain(..) {
            self.out.write(t, &f)?;
        }
        let dropped = std::mem::take(&mut self.collect.drops);
        if let Some(d) = self.drops.as_deref_mut() {
            for f in &dropped {
                d.write(t, f)?;
            }
        }
        Ok(())
    }
}

/// Translate `input` with `cfg`, writing to `out` (and `drops`).
pub fn translate<'s>(
    cfg: &Config,
    input: impl IntoIterator<Item = Result<CapturedFrame, PcapIoError>>,
    out: &'s mut dyn Sink,
    drops: Option<&'s mut dyn Sink>,
) -> Result<Summary, TranslateError> {
    Ok(Translator::new(cfg, out, drops)?.run(input)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_port_by_ethertype() {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(rx_port(&f), Port::V6);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(rx_port(&f), Port::V4);
        f[12..18].copy_from_slice(&[0x81, 0x00, 0x00, 0x64, 0x86, 0xdd]);
        assert_eq!(rx_port(&f), Port::V6, "behind a VLAN tag");
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(rx_port(&f), Port::V4, "ARP");
        assert_eq!(rx_port(&[0x86; 5]), Port::V4, "runt");
    }

    #[test]
    fn batches_split_on_time_and_size() -> Result<(), Box<dyn std::error::Error>> {
        let cfg = crate::labconfig::lab_config()?;
        let mut out: Vec<CapturedFrame> = Vec::new();
        // Non-IP frames are passed; what matters is that each is counted once.
        let frames = (0..150u64).map(|i| Ok((i / 100 * SECOND, vec![0u8; 60])));
        let s = translate(&cfg, frames, &mut out, None)?;
        assert_eq!(s.frames_in, 150);
        assert_eq!(s.passed, 150);
        assert!(out.is_empty());
        Ok(())
    }
}
