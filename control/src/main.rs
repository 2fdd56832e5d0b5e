//! `xrelayctl`: the xrelay command line.
//!
//! Exit status: 0 on success; 2 for bad input (arguments, a bad
//! configuration, an unknown interface, a prefix or address that does not
//! parse or is refused, an unreadable or damaged capture); 1 for anything
//! else (the daemon cannot be reached, a system call failed, the output
//! cannot be written). Every failure is one line on stderr,
//! `xrelayctl: <what>`, naming the file, key, interface or socket and how to
//! fix it. docs/operations.md describes every command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use xrelay_control::ctl::{self, CtlError, Target};
use xrelay_control::daemon::{self, DaemonOptions};
use xrelay_control::lab;
use xrelay_control::labconfig::lab_config;
use xrelay_control::pcapio::{CaptureReader, PcapIoError, PcapOut, TsPrecision};
use xrelay_control::translate::{translate, Sink, TranslateError};
use xrelay_engine::Config;
use xrelay_xdp::AttachMode;

#[derive(Debug, Parser)]
#[command(
    name = "xrelayctl",
    version,
    about = "Control and inspect the xrelay 6to4/Teredo relay"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the relay engine over a capture (pcap or pcapng) and write what it sends.
    Translate(TranslateArgs),
    /// Check or show a relay.toml.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the control daemon: load, attach and pin the XDP program, program
    /// its maps, serve the admin socket and /metrics.
    Daemon(DaemonArgs),
    /// Interfaces, XDP program, pins, health and dataplane state.
    Status {
        #[command(flatten)]
        args: ctl::StatusArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Counters of the XDP program and of the dataplane.
    Counters {
        #[command(subcommand)]
        command: ctl::CountersCommand,
        #[command(flatten)]
        target: Target,
    },
    /// Managed IPv6 prefixes steered to the relay (run-time edits persist).
    Prefix {
        #[command(subcommand)]
        command: ctl::PrefixCommand,
        #[command(flatten)]
        target: Target,
    },
    /// Relay IPv4 addresses: 6to4 (protocol 41) and Teredo address:port.
    Address {
        #[command(subcommand)]
        command: ctl::AddressCommand,
        #[command(flatten)]
        target: Target,
    },
    /// The Teredo peer table (held by the dataplane).
    Peers {
        #[command(subcommand)]
        command: ctl::PeersCommand,
        #[command(flatten)]
        target: Target,
    },
    /// The built-in lab: namespaces, veths and relay.toml (DESIGN §3), and the demo.
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// Run under ExaBGP (`process … { run xrelayctl exabgp; }`): follow the
    /// daemon's announced set, writing `announce|withdraw route PREFIX
    /// next-hop self` lines on stdout; exits when stdin closes.
    Exabgp {
        /// Seconds between two looks at the daemon.
        #[arg(long, value_name = "SECS", default_value_t = 0.2)]
        interval: f64,
        #[command(flatten)]
        target: Target,
    },
    /// The XDP program: status, detach.
    Xdp {
        #[command(subcommand)]
        command: ctl::XdpCommand,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Args)]
struct DaemonArgs {
    /// relay.toml to run with.
    #[arg(long, value_name = "FILE", env = "XRELAY_CONFIG")]
    config: PathBuf,
    /// Instance name: picks the default state and pin directories.
    #[arg(
        long,
        value_name = "NAME",
        env = "XRELAY_INSTANCE",
        default_value = "default"
    )]
    instance: String,
    /// Network namespace to run in (/run/netns/NAME; the mount namespace stays).
    #[arg(long, value_name = "NAME", env = "XRELAY_NETNS")]
    netns: Option<String>,
    /// XDP attach mode; auto tries native, then generic with a warning.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto, env = "XRELAY_XDP_MODE")]
    xdp_mode: ModeArg,
    /// State directory: admin.sock, state.json, lock (default /run/xrelay/NAME).
    #[arg(long, value_name = "DIR", env = "XRELAY_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// bpffs directory for the pins (default /sys/fs/bpf/xrelay/NAME); mounted when needed.
    #[arg(long, value_name = "DIR", env = "XRELAY_BPFFS")]
    bpffs: Option<PathBuf>,
    /// Prometheus listener address:port, or `off`.
    #[arg(long, value_name = "ADDR", env = "XRELAY_METRICS", default_value = daemon::DEFAULT_METRICS)]
    metrics: String,
    /// On SIGTERM/SIGINT, detach and remove every pin (default: stay attached).
    #[arg(long, env = "XRELAY_DETACH_ON_EXIT")]
    detach_on_exit: bool,
    /// The xrelay-dataplane binary to start and supervise (default: the one
    /// next to xrelayctl, else the first in PATH).
    #[arg(long, value_name = "PATH", env = "XRELAY_DATAPLANE")]
    dataplane: Option<PathBuf>,
    /// Do not start the dataplane (a service manager does): find it through
    /// its counter file's heartbeats, report its health, never signal it.
    #[arg(long, env = "XRELAY_NO_DATAPLANE", conflicts_with = "dataplane")]
    no_dataplane: bool,
    /// Dataplane: cores to pin the workers to (passed as --cores).
    #[arg(long, value_name = "LIST", env = "XRELAY_CORES")]
    cores: Option<String>,
    /// Dataplane: receive queues per interface, one worker each (--queues).
    #[arg(long, value_name = "N", env = "XRELAY_QUEUES")]
    queues: Option<u32>,
    /// Dataplane: AF_XDP bind mode zerocopy|copy|auto (--bind).
    #[arg(long, value_name = "MODE", env = "XRELAY_BIND")]
    bind: Option<String>,
    /// Dataplane: one more option passed as is (repeatable), e.g.
    /// --dataplane-arg=--batch=32.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    dataplane_arg: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Build the lab in network namespaces and write its relay.toml (idempotent).
    Up {
        /// One link carrying both families instead of two.
        #[arg(long)]
        one_armed: bool,
        /// Name prefix of the namespaces and links (`xr` + up to 6 of [a-z0-9]).
        #[arg(long, value_name = "PREFIX", default_value = lab::DEFAULT_PREFIX)]
        name: String,
        /// Write teredo.accept_unknown_peers = true into the lab's relay.toml.
        #[arg(long)]
        accept_unknown_peers: bool,
    },
    /// Remove the lab: its processes, namespaces, veths, pins, directory.
    Down {
        #[arg(long, value_name = "PREFIX", default_value = lab::DEFAULT_PREFIX)]
        name: String,
    },
    /// Namespaces, links, addresses, and whether the daemon runs.
    Status {
        #[arg(long, value_name = "PREFIX", default_value = lab::DEFAULT_PREFIX)]
        name: String,
    },
    /// The demo: lab up, daemon with the real dataplane, traffic on all four
    /// paths with live counters, a summary, everything cleaned up.
    Run {
        /// Seconds of traffic.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Packets per second on each path.
        #[arg(long, value_name = "PPS", default_value_t = 1000)]
        rate: u64,
        #[arg(long)]
        one_armed: bool,
        #[arg(long, value_name = "PREFIX", default_value = lab::DEFAULT_PREFIX)]
        name: String,
        /// The xrelay-dataplane binary (default: next to xrelayctl, else PATH).
        #[arg(long, value_name = "PATH", env = "XRELAY_DATAPLANE")]
        dataplane: Option<PathBuf>,
        /// Trust Teredo clients without the bubble handshake
        /// (teredo.accept_unknown_peers = true).
        #[arg(long)]
        accept_unknown_peers: bool,
        /// Also write the outcome as JSON to FILE.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Native,
    Generic,
    Auto,
}

#[derive(Debug, Args)]
struct TranslateArgs {
    /// Capture to read (pcap or pcapng; Ethernet, raw IP or Linux cooked).
    #[arg(long = "in", value_name = "IN")]
    input: PathBuf,
    /// pcap file to write every transmitted frame to.
    #[arg(long, value_name = "OUT")]
    out: PathBuf,
    /// pcap file to write every dropped frame to.
    #[arg(long, value_name = "DROPS")]
    drops: Option<PathBuf>,
    /// relay.toml to use instead of the built-in lab configuration.
    #[arg(long, value_name = "FILE", env = "XRELAY_CONFIG")]
    config: Option<PathBuf>,
    /// Print the counters as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Timestamp precision of the written pcap files.
    #[arg(long, value_enum, default_value_t = Precision::Micro, env = "XRELAY_TS_PRECISION")]
    ts_precision: Precision,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Precision {
    Micro,
    Nano,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate FILE; prints `FILE: ok` or the error.
    Check {
        #[arg(value_name = "FILE", env = "XRELAY_CONFIG")]
        file: PathBuf,
    },
    /// Print FILE (or the built-in lab configuration) with every default filled in.
    Show {
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

/// A failure and the exit status it maps to.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

/// Bad input from the user: exit status 2.
fn usage(e: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        error: e.into(),
    }
}

/// Anything else: exit status 1.
fn other(e: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 1,
        error: e.into(),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_failure(&e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // Our errors already carry their cause's text; print the top only.
            let line = f.error.to_string().replace('\n', " ");
            eprintln!("xrelayctl: {line}");
            ExitCode::from(f.code)
        }
    }
}

/// Help and version go out as clap renders them; errors become one line.
fn clap_failure(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Nothing sensible is left to do if stdout is gone.
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!("xrelayctl: a command is required (see xrelayctl --help)");
            ExitCode::from(2)
        }
        _ => {
            // clap's message is the first paragraph; the rest is usage and tips.
            let rendered = e.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = message.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("xrelayctl: {message} (see xrelayctl --help)");
            ExitCode::from(2)
        }
    }
}

fn ctl_failure(e: CtlError) -> Failure {
    Failure {
        code: e.exit_code(),
        error: e.into(),
    }
}

/// Runs an operator command with stdout; a closed pipe ends it quietly.
fn with_stdout(
    f: impl FnOnce(&mut dyn std::io::Write) -> Result<(), CtlError>,
) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    match f(&mut lock) {
        Err(e) if e.is_broken_pipe() => Ok(()),
        r => r.map_err(ctl_failure),
    }
}

fn run_daemon(a: DaemonArgs) -> Result<(), Failure> {
    let mut dataplane_args = Vec::new();
    if let Some(c) = &a.cores {
        dataplane_args.extend(["--cores".to_owned(), c.clone()]);
    }
    if let Some(q) = a.queues {
        dataplane_args.extend(["--queues".to_owned(), q.to_string()]);
    }
    if let Some(b) = &a.bind {
        dataplane_args.extend(["--bind".to_owned(), b.clone()]);
    }
    dataplane_args.extend(a.dataplane_arg.iter().cloned());
    let opts = DaemonOptions {
        state_dir: a
            .state_dir
            .unwrap_or_else(|| daemon::default_state_dir(&a.instance)),
        bpffs: a
            .bpffs
            .unwrap_or_else(|| daemon::default_bpffs(&a.instance)),
        config: a.config,
        instance: a.instance,
        netns: a.netns,
        xdp_mode: match a.xdp_mode {
            ModeArg::Native => AttachMode::Native,
            ModeArg::Generic => AttachMode::Generic,
            ModeArg::Auto => AttachMode::Auto,
        },
        metrics: Some(a.metrics).filter(|m| m != "off"),
        detach_on_exit: a.detach_on_exit,
        dataplane: a.dataplane,
        no_dataplane: a.no_dataplane,
        dataplane_args,
    };
    daemon::run(opts).map_err(|e| Failure {
        code: if e.is_bad_input() { 2 } else { 1 },
        error: e.into(),
    })
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Daemon(a) => run_daemon(a),
        Command::Status { args, target } => with_stdout(|w| ctl::status(&target, &args, w)),
        Command::Counters { command, target } => {
            with_stdout(|w| ctl::counters(&target, &command, w))
        }
        Command::Prefix { command, target } => with_stdout(|w| ctl::prefix(&target, &command, w)),
        Command::Address { command, target } => with_stdout(|w| ctl::address(&target, &command, w)),
        Command::Peers { command, target } => with_stdout(|w| ctl::peers(&target, &command, w)),
        Command::Xdp { command, target } => with_stdout(|w| ctl::xdp(&target, &command, w)),
        Command::Exabgp { interval, target } => {
            if !(interval.is_finite() && (0.05..=60.0).contains(&interval)) {
                return Err(usage(anyhow::anyhow!(
                    "--interval {interval}: give 0.05 to 60 seconds"
                )));
            }
            xrelay_control::announce::exabgp::run(
                &target.socket(),
                std::time::Duration::from_secs_f64(interval),
            )
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    Ok(())
                } else {
                    Err(other(anyhow::anyhow!("writing to ExaBGP: {e}")))
                }
            })
        }
        Command::Translate(args) => run_translate(&args),
        Command::Lab { command } => run_lab(command),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => {
            Config::load(&file).map_err(usage)?;
            println!("{}: ok", file.display());
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Show { file },
        } => {
            let cfg = load_or_lab(file.as_deref())?;
            print!("{}", cfg.to_toml_string());
            Ok(())
        }
    }
}

fn run_lab(cmd: LabCommand) -> Result<(), Failure> {
    match cmd {
        LabCommand::Up {
            one_armed,
            name,
            accept_unknown_peers,
        } => {
            let spec = lab::Spec::new(&name, one_armed).map_err(usage)?;
            let how = lab::up(&spec, accept_unknown_peers).map_err(other)?;
            println!(
                "lab {name}: {} ({}); relay.toml: {}",
                match how {
                    lab::UpOutcome::Built => "built",
                    lab::UpOutcome::AlreadyUp => "already up",
                    lab::UpOutcome::Rebuilt =>
                        "rebuilt (a partial or other-shaped lab was removed first)",
                },
                if one_armed { "one-armed" } else { "two-armed" },
                spec.config_path().display()
            );
            println!(
                "start the relay: xrelayctl {}",
                spec.daemon_args().join(" ")
            );
            Ok(())
        }
        LabCommand::Down { name } => {
            let spec = lab::Spec::new(&name, false).map_err(usage)?;
            let removed = lab::down(&spec).map_err(other)?;
            if removed.is_empty() {
                println!("lab {name}: nothing to remove");
            } else {
                println!("lab {name}: removed {}", removed.join(", "));
            }
            Ok(())
        }
        LabCommand::Status { name } => {
            lab::Spec::new(&name, false).map_err(usage)?;
            let stdout = std::io::stdout();
            lab::status(&name, &mut stdout.lock()).map_err(other)?;
            Ok(())
        }
        LabCommand::Run {
            seconds,
            rate,
            one_armed,
            name,
            dataplane,
            accept_unknown_peers,
            report,
        } => {
            use std::io::IsTerminal as _;
            lab::Spec::new(&name, one_armed).map_err(usage)?;
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for sig in [
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
                signal_hook::consts::SIGHUP,
            ] {
                signal_hook::flag::register(sig, std::sync::Arc::clone(&stop))
                    .context("installing signal handlers")
                    .map_err(other)?;
            }
            let opts = lab::RunOptions {
                prefix: name,
                one_armed,
                seconds,
                rate,
                dataplane,
                accept_unknown_peers,
                redraw: std::io::stdout().is_terminal(),
            };
            let stdout = std::io::stdout();
            let r = lab::run(&opts, &mut stdout.lock(), &stop).map_err(other)?;
            if let Some(p) = report {
                let json = serde_json::to_string_pretty(&r).map_err(other)?;
                std::fs::write(&p, json)
                    .with_context(|| format!("writing {}", p.display()))
                    .map_err(other)?;
            }
            if r.exact() {
                Ok(())
            } else if r.interrupted {
                Err(other(anyhow::anyhow!(
                    "lab run: interrupted (everything cleaned up)"
                )))
            } else {
                Err(other(anyhow::anyhow!(
                    "lab run: not every packet was relayed exactly once (see the summary)"
                )))
            }
        }
    }
}

fn load_or_lab(file: Option<&Path>) -> Result<Config, Failure> {
    match file {
        Some(f) => Config::load(f).map_err(usage),
        None => lab_config()
            .context("the built-in lab configuration is invalid")
            .map_err(other),
    }
}

fn run_translate(args: &TranslateArgs) -> Result<(), Failure> {
    let cfg = load_or_lab(args.config.as_deref())?;
    let input = CaptureReader::open(&args.input).map_err(usage)?;
    let precision = match args.ts_precision {
        Precision::Micro => TsPrecision::Micro,
        Precision::Nano => TsPrecision::Nano,
    };
    let mut out = PcapOut::create(&args.out, precision).map_err(other)?;
    let mut drops = match &args.drops {
        Some(p) => Some(PcapOut::create(p, precision).map_err(other)?),
        None => None,
    };
    let summary = translate(
        &cfg,
        input,
        &mut out,
        drops.as_mut().map(|d| d as &mut dyn Sink),
    )
    .map_err(|e| match e {
        TranslateError::Config(e) => usage(e),
        TranslateError::Capture(e @ PcapIoError::Write { .. }) => other(e),
        TranslateError::Capture(e) => usage(e),
    })?;
    out.finish().map_err(other)?;
    if let Some(d) = drops {
        d.finish().map_err(other)?;
    }
    if args.json {
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.table());
    }
    Ok(())
}
