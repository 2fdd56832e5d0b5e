//! Capture files for the offline mode: read pcap and pcapng, write pcap.
//!
//! Every frame read comes out as Ethernet, whatever the capture's link type,
//! because that is what the engine parses:
//!
//! ```text
//!  Ethernet (1)             [dst][src][type][payload]          as is
//!  raw IP (101, 228, 229)   [IP packet]                        -> [02:..:01][02:..:00][0800|86dd][IP packet]
//!  Linux SLL (113)          [pkttype][hatype][alen][addr][proto][payload]
//!  Linux SLL2 (276)         [proto][rsvd][ifindex][hatype][pkttype][alen][addr][payload]
//!                                                              -> [dst by pkttype][addr or 02:..:00][proto][payload]
//! ```
//!
//! Timestamps are nanoseconds since the epoch; pcapng interface resolutions
//! (`if_tsresol`) and offsets (`if_tsoffset`) are applied. Frames are numbered
//! from 1 in file order (pcapng: packet blocks only), and errors about a record
//! carry that number.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

/// Source MAC of the Ethernet header given to raw-IP frames.
pub const SYNTH_SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x00];
/// Destination MAC of the Ethernet header given to raw-IP frames.
pub const SYNTH_DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_IPV6: u32 = 229;
const LINKTYPE_LINUX_SLL2: u32 = 276;
/// Snap length written in our pcap headers: larger than any frame we emit.
const SNAPLEN: u32 = 262_144;

/// One frame from a capture: timestamp in nanoseconds and an Ethernet frame.
pub type CapturedFrame = (u64, Vec<u8>);

/// Why a capture could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PcapIoError {
    /// `open` or `create` failed.
    #[error("{}: {source}", .path.display())]
    Open { path: PathBuf, source: io::Error },
    /// Neither pcap nor pcapng, or the file header is damaged.
    #[error("{}: not a pcap or pcapng capture: {reason}", .path.display())]
    Format { path: PathBuf, reason: String },
    /// A link type this reader cannot turn into Ethernet.
    #[error(
        "{}: {}link type {link_type} ({}) is not supported; use Ethernet (1), raw IP (101, 228, 229) or Linux cooked (113, 276)",
        .path.display(),
        frame_label(*.frame),
        link_type_name(*.link_type)
    )]
    LinkType {
        path: PathBuf,
        frame: Option<u64>,
        link_type: u32,
    },
    /// A damaged or truncated record.
    #[error("{}: frame {frame}: {reason}", .path.display())]
    Record {
        path: PathBuf,
        frame: u64,
        reason: String,
    },
    /// Writing the output failed.
    #[error("{}: cannot write: {source}", .path.display())]
    Write { path: PathBuf, source: io::Error },
}

fn frame_label(frame: Option<u64>) -> String {
    frame.map(|n| format!("frame {n}: ")).unwrap_or_default()
}

fn link_type_name(n: u32) -> String {
    match DataLink::from(n) {
        DataLink::Unknown(_) => "unknown".to_owned(),
        known => format!("{known:?}"),
    }
}

/// The reason text for a pcap-file error about one record.
fn record_reason(e: &PcapError) -> String {
    match e {
        PcapError::IncompleteBuffer => "truncated record".to_owned(),
        PcapError::IoError(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            "truncated record".to_owned()
        }
        PcapError::IoError(io) => format!("read error: {io}"),
        PcapError::InvalidField(what) => format!("bad record: {what}"),
        PcapError::InvalidInterfaceId(id) => {
            format!("bad record: interface {id} was never described")
        }
        other => format!("bad record: {other}"),
    }
}

enum Inner {
    Pcap {
        reader: PcapReader<Box<dyn Read>>,
        link_type: u32,
        resolution: TsResolution,
    },
    PcapNg {
        reader: PcapNgReader<Box<dyn Read>>,
        last_ts: u64,
    },
}

/// Iterator over the frames of a pcap or pcapng file, as Ethernet.
/// It ends after the first error.
pub struct CaptureReader {
    path: PathBuf,
    inner: Inner,
    frames: u64,
    done: bool,
}

impl fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl CaptureReader {
    /// Open `path`, telling pcap from pcapng by the magic number.
    pub fn open(path: &Path) -> Result<CaptureReader, PcapIoError> {
        let file = File::open(path).map_err(|source| PcapIoError::Open {
            path: path.to_owned(),
            source,
        })?;
        CaptureReader::from_reader(path, file)
    }

    /// Read a capture from any byte stream; `path` only names it in errors.
    pub fn from_reader(
        path: &Path,
        mut r: impl Read + 'static,
    ) -> Result<CaptureReader, PcapIoError> {
        let format = |reason: String| PcapIoError::Format {
            path: path.to_owned(),
            reason,
        };
        let mut magic = [0u8; 4];
        let mut got = 0;
        while got < magic.len() {
            let n = r
                .read(magic.get_mut(got..).unwrap_or_default())
                .map_err(|source| PcapIoError::Open {
                    path: path.to_owned(),
                    source,
                })?;
            if n == 0 {
                return Err(format(if got == 0 {
                    "the file is empty".to_owned()
                } else {
                    "the file is shorter than a capture header".to_owned()
                }));
            }
            got += n;
        }
        let stream: Box<dyn Read> = Box::new(io::Cursor::new(magic).chain(r));
        let header_error =
            |e: PcapError| format(format!("bad file header ({})", record_reason(&e)));
        let inner = match u32::from_be_bytes(magic) {
            0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 => {
                let reader = PcapReader::new(stream).map_err(header_error)?;
                let header = reader.header();
                let link_type = u32::from(header.datalink);
                if !supported(link_type) {
                    return Err(PcapIoError::LinkType {
                        path: path.to_owned(),
                        frame: None,
                        link_type,
                    });
                }
                Inner::Pcap {
                    reader,
                    link_type,
                    resolution: header.ts_resolution,
                }
            }
            0x0a0d_0d0a => Inner::PcapNg {
                reader: PcapNgReader::new(stream).map_err(header_error)?,
                last_ts: 0,
            },
            m => return Err(format(format!("unknown magic number 0x{m:08x}"))),
        };
        Ok(CaptureReader {
            path: path.to_owned(),
            inner,
            frames: 0,
            done: false,
        })
    }

    /// Frames returned so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    fn record_error(&self, reason: String) -> PcapIoError {
        PcapIoError::Record {
            path: self.path.clone(),
            frame: self.frames + 1,
            reason,
        }
    }

    fn next_frame(&mut self) -> Option<Result<CapturedFrame, PcapIoError>> {
        let next = match &mut self.inner {
            Inner::Pcap {
                reader,
                link_type,
                resolution,
            } => next_pcap(reader, *link_type, *resolution)?,
            Inner::PcapNg { reader, last_ts } => next_pcapng(reader, last_ts)?,
        };
        Some(match next {
            Ok((link_type, ts, data)) => self.convert(link_type, ts, &data),
            Err(reason) => Err(self.record_error(reason)),
        })
    }

    fn convert(
        &mut self,
        link_type: u32,
        ts: u64,
        data: &[u8],
    ) -> Result<CapturedFrame, PcapIoError> {
        if !supported(link_type) {
            return Err(PcapIoError::LinkType {
                path: self.path.clone(),
                frame: Some(self.frames + 1),
                link_type,
            });
        }
        let frame = to_ethernet(link_type, data).map_err(|reason| self.record_error(reason))?;
        self.frames += 1;
        Ok((ts, frame))
    }
}

impl Iterator for CaptureReader {
    type Item = Result<CapturedFrame, PcapIoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_frame();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// A record before link-type conversion: link type, timestamp, bytes.
type RawRecord = (u32, u64, Vec<u8>);

fn next_pcap(
    reader: &mut PcapReader<Box<dyn Read>>,
    link_type: u32,
    resolution: TsResolution,
) -> Option<Result<RawRecord, String>> {
    let raw = match reader.next_raw_packet()? {
        Ok(raw) => raw,
        Err(e) => return Some(Err(record_reason(&e))),
    };
    // Checked here rather than by PcapPacket, which refuses orig_len >
    // snaplen although captures with a small snap length have exactly that.
    let frac = match resolution {
        TsResolution::MicroSecond => u64::from(raw.ts_frac) * 1_000,
        TsResolution::NanoSecond => u64::from(raw.ts_frac),
    };
    let ts = u64::from(raw.ts_sec) * 1_000_000_000 + frac;
    Some(Ok((link_type, ts, raw.data.into_owned())))
}

fn next_pcapng(
    reader: &mut PcapNgReader<Box<dyn Read>>,
    last_ts: &mut u64,
) -> Option<Result<RawRecord, String>> {
    loop {
        let block = match reader.next_block()? {
            Ok(b) => b,
            Err(e) => return Some(Err(record_reason(&e))),
        };
        let (iface, raw_ts, data) = match block {
            // pcap-file stores the raw timestamp units as nanoseconds.
            Block::EnhancedPacket(p) => (
                p.interface_id,
                Some(p.timestamp.as_nanos()),
                p.data.into_owned(),
            ),
            Block::Packet(p) => (
                u32::from(p.interface_id),
                Some(u128::from(p.timestamp)),
                p.data.into_owned(),
            ),
            Block::SimplePacket(p) => (0, None, p.data.into_owned()),
            _ => continue,
        };
        let Some(idb) = reader.interfaces().get(iface as usize) else {
            return Some(Err(format!(
                "bad record: interface {iface} was never described"
            )));
        };
        if let Some(raw) = raw_ts {
            *last_ts = ng_timestamp(raw, &idb.options);
        }
        return Some(Ok((u32::from(idb.linktype), *last_ts, data)));
    }
}

/// Read every frame of `path`.
pub fn read_capture(path: &Path) -> Result<Vec<CapturedFrame>, PcapIoError> {
    CaptureReader::open(path)?.collect()
}

fn supported(link_type: u32) -> bool {
    matches!(
        link_type,
        LINKTYPE_ETHERNET
            | LINKTYPE_RAW
            | LINKTYPE_IPV4
            | LINKTYPE_IPV6
            | LINKTYPE_LINUX_SLL
            | LINKTYPE_LINUX_SLL2
    )
}

/// Nanoseconds from a pcapng timestamp in `if_tsresol` units plus `if_tsoffset`.
fn ng_timestamp(raw: u128, options: &[InterfaceDescriptionOption<'_>]) -> u64 {
    let mut per_sec: u128 = 1_000_000; // pcapng default: microseconds
    let mut offset_s: u128 = 0;
    for o in options {
        match o {
            // MSB clear: 10^-v seconds; set: 2^-v seconds.
            InterfaceDescriptionOption::IfTsResol(r) if r & 0x80 == 0 => {
                per_sec = 10u128.checked_pow(u32::from(*r)).unwrap_or(u128::MAX);
            }
            InterfaceDescriptionOption::IfTsResol(r) => {
                per_sec = 1u128.checked_shl(u32::from(r & 0x7f)).unwrap_or(u128::MAX);
            }
            InterfaceDescriptionOption::IfTsOffset(s) => offset_s = u128::from(*s),
            _ => {}
        }
    }
    let secs = raw / per_sec.max(1) + offset_s;
    let frac = raw % per_sec.max(1);
    let ns = secs * 1_000_000_000 + frac * 1_000_000_000 / per_sec.max(1);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Turn one captured packet of `link_type` into an Ethernet frame.
pub fn to_ethernet(link_type: u32, data: &[u8]) -> Result<Vec<u8>, String> {
    match link_type {
        LINKTYPE_ETHERNET => Ok(data.to_vec()),
        LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            let ethertype = match (link_type, data.first().map(|b| b >> 4)) {
                (LINKTYPE_IPV4, _) | (LINKTYPE_RAW, Some(4)) => ETHERTYPE_IPV4,
                (LINKTYPE_IPV6, _) | (LINKTYPE_RAW, Some(6)) => ETHERTYPE_IPV6,
                (_, Some(v)) => return Err(format!("raw IP frame with IP version {v}")),
                (_, None) => return Err("empty raw IP frame".to_owned()),
            };
            Ok(ethernet(SYNTH_DST_MAC, SYNTH_SRC_MAC, ethertype, data))
        }
        LINKTYPE_LINUX_SLL => {
            let h = data
                .get(..16)
                .ok_or("truncated Linux cooked (SLL) header")?;
            let pkttype = be16(h, 0);
            let alen = usize::from(be16(h, 4));
            let proto = be16(h, 14);
            let src = sll_source(h.get(6..14), alen);
            let payload = data.get(16..).unwrap_or_default();
            Ok(ethernet(
                sll_destination(pkttype, proto, payload),
                src,
                proto,
                payload,
            ))
        }
        LINKTYPE_LINUX_SLL2 => {
            let h = data
                .get(..20)
                .ok_or("truncated Linux cooked (SLL2) header")?;
            let proto = be16(h, 0);
            let pkttype = h.get(10).copied().map_or(0, u16::from);
            let alen = h.get(11).copied().map_or(0, usize::from);
            let src = sll_source(h.get(12..20), alen);
            let payload = data.get(20..).unwrap_or_default();
            Ok(ethernet(
                sll_destination(pkttype, proto, payload),
                src,
                proto,
                payload,
            ))
        }
        other => Err(format!("link type {other} is not supported")),
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The link-layer source when it is a MAC address, else the synthetic one.
fn sll_source(addr: Option<&[u8]>, alen: usize) -> [u8; 6] {
    match addr.and_then(|a| a.get(..6)) {
        Some(&[a, b, c, d, e, f]) if alen == 6 => [a, b, c, d, e, f],
        _ => SYNTH_SRC_MAC,
    }
}

/// SLL keeps only the packet type, so rebuild a destination MAC that makes
/// the same L2 class: broadcast, the IP multicast mapping, or us.
fn sll_destination(pkttype: u16, proto: u16, payload: &[u8]) -> [u8; 6] {
    const BROADCAST: u16 = 1;
    const MULTICAST: u16 = 2;
    match pkttype {
        BROADCAST => [0xff; 6],
        MULTICAST => match (proto, payload.get(17..20), payload.get(36..40)) {
            // RFC 1112 §6.4: 01:00:5e + low 23 bits of the group.
            (ETHERTYPE_IPV4, Some(&[b1, b2, b3]), _) => [0x01, 0x00, 0x5e, b1 & 0x7f, b2, b3],
            // RFC 2464 §7: 33:33 + low 32 bits of the group.
            (ETHERTYPE_IPV6, _, Some(&[a, b, c, d])) => [0x33, 0x33, a, b, c, d],
            _ => [0x01, 0x00, 0x5e, 0, 0, 0],
        },
        _ => SYNTH_DST_MAC,
    }
}

/// Timestamp precision of a written pcap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TsPrecision {
    #[default]
    Micro,
    Nano,
}

/// A pcap file of Ethernet frames being written.
pub struct PcapOut {
    path: PathBuf,
    writer: PcapWriter<BufWriter<File>>,
    frames: u64,
}

impl fmt::Debug for PcapOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcapOut")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl PcapOut {
    /// Create (or truncate) `path` and write the pcap file header.
    pub fn create(path: &Path, precision: TsPrecision) -> Result<PcapOut, PcapIoError> {
        let file = File::create(path).map_err(|source| PcapIoError::Open {
            path: path.to_owned(),
            source,
        })?;
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: match precision {
                TsPrecision::Micro => TsResolution::MicroSecond,
                TsPrecision::Nano => TsResolution::NanoSecond,
            },
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(BufWriter::new(file), header)
            .map_err(|e| write_error(path, e))?;
        Ok(PcapOut {
            path: path.to_owned(),
            writer,
            frames: 0,
        })
    }

    /// Append one frame.
    pub fn write(&mut self, ts_ns: u64, frame: &[u8]) -> Result<(), PcapIoError> {
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let packet = PcapPacket::new(Duration::from_nanos(ts_ns), len, frame);
        self.writer
            .write_packet(&packet)
            .map_err(|e| write_error(&self.path, e))?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    /// Flush and close; returns the number of frames written.
    pub fn finish(self) -> Result<u64, PcapIoError> {
        let mut w = self.writer.into_writer();
        w.flush().map_err(|source| PcapIoError::Write {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.frames)
    }
}

fn write_error(path: &Path, e: PcapError) -> PcapIoError {
    let source = match e {
        PcapError::IoError(io) => io,
        other => io::Error::other(other.to_string()),
    };
    PcapIoError::Write {
        path: path.to_owned(),
        source,
    }
}
