//! xrelay's control side: `relay.toml` handling, the control daemon and the
//! `xrelayctl` CLI.
//!
//! - [`daemon`]: `xrelayctl daemon`, which loads, attaches and pins the XDP
//!   steering program (xrelay-xdp), programs its maps from relay.toml plus
//!   the run-time edits ([`state`]), serves the admin socket ([`admin`]) and
//!   Prometheus `/metrics`, and holds the dataplane supervision hook.
//! - [`ctl`]: the operator commands that talk to the daemon.
//! - The offline mode, the one place the CLI runs the engine in-process
//!   (DESIGN §1): [`pcapio`] reads pcap/pcapng captures as Ethernet frames
//!   and writes pcap, [`translate`] drives an [`xrelay_engine::Pipeline`]
//!   over them, [`labconfig`] is the built-in lab relay configuration.
//!
//! System calls std lacks (setns, mount, netlink) go through rustix, so
//! this crate has no `unsafe`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod announce;
pub mod ctl;
pub mod daemon;
pub mod lab;
pub mod labconfig;
pub mod logline;
pub mod netlink;
pub mod pcapio;
pub mod state;
pub mod sys;
pub mod translate;
