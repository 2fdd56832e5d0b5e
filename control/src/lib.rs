//! xrelay's control side: `relay.toml` handling and the `xrelayctl` CLI.
//!
//! For now it holds the offline mode, the one place the CLI runs the engine
//! in-process (DESIGN §1): [`pcapio`] reads pcap/pcapng captures as Ethernet
//! frames and writes pcap, [`translate`] drives an
//! [`xrelay_engine::Pipeline`] over them, [`labconfig`] is the built-in lab
//! relay configuration.
#![forbid(unsafe_code)]

pub mod labconfig;
pub mod pcapio;
pub mod translate;
