//! `xrelayctl`: the xrelay command line.
//!
//! Exit status: 0 on success; 2 for bad arguments, a bad configuration or an
//! unreadable or damaged capture; 1 for anything else (e.g. the output cannot
//! be written). Every failure is one line on stderr, `xrelayctl: <what>`,
//! naming the file, key or frame number.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use xrelay_control::labconfig::lab_config;
use xrelay_control::pcapio::{CaptureReader, PcapIoError, PcapOut, TsPrecision};
use xrelay_control::translate::{translate, Sink, TranslateError};
use xrelay_engine::Config;

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

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Translate(args) => run_translate(&args),
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
