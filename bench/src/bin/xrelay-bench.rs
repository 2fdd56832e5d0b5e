//! `xrelay-bench`: lab packet rates and latency of xrelay beside reference
//! points measured in the same run (docs/benchmarks.md "Lab packet rates").

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use xrelay_bench::compare::{self, report, subject::Subject, Case, Machine, Plan, Size};

#[derive(Parser, Debug)]
#[command(
    name = "xrelay-bench",
    about = "xrelay lab benchmarks with reference points"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Debug, Clone)]
struct Common {
    /// Lab name prefix: `xr` and at most 6 of [a-z0-9] (namespaces PFX-v4, PFX-relay, PFX-v6).
    #[arg(long, default_value = "xrz", env = "XRELAY_BENCH_NAME")]
    name: String,
    /// Measured seconds per point.
    #[arg(long, default_value_t = 1.5)]
    seconds: f64,
    /// Warm-up seconds per point (offered, not measured).
    #[arg(long, default_value_t = 0.3)]
    warmup: f64,
    /// Offered frames per second (all generators together); default: as fast as possible.
    #[arg(long)]
    rate: Option<f64>,
    /// Core of the generators (and of the relay-side veth receive, which runs in their context).
    #[arg(long, default_value_t = 0)]
    gen_core: usize,
    /// Core of the subject: the xrelay worker, the AF_XDP forwarder, miredo, kernel forwarding (RPS).
    #[arg(long, default_value_t = 1)]
    relay_core: usize,
    /// Flows (sources) per path.
    #[arg(long, default_value_t = 1024)]
    flows: u32,
    /// Generator threads per sending side, all on --gen-core (they fill
    /// each other's idle gaps inside BPF_PROG_RUN).
    #[arg(long, default_value_t = 2)]
    gen_threads: usize,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Every path and size through xrelay and the reference points; table, JSON lines, SVG.
    Compare {
        #[command(flatten)]
        common: Common,
        /// Sizes: frame lengths 64..1514 and/or `imix`.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "64,128,512,1280,1500,imix"
        )]
        sizes: Vec<String>,
        /// Subjects: xrelay, xdp-redirect, af-xdp-fwd, kernel, miredo (Teredo paths only).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "xrelay,af-xdp-fwd,xdp-redirect,kernel,miredo"
        )]
        subjects: Vec<String>,
        /// Teredo peer-table sizes of the scenario rows (each the median of 3 windows).
        #[arg(long, value_delimiter = ',', default_value = "1,10000,1000000")]
        peers: Vec<u32>,
        /// Output directory: results.jsonl, results.svg, table.txt.
        #[arg(long, default_value = "target/xrelay-bench")]
        out: PathBuf,
        /// Smoke run: 64 bytes, short points, 1000 peers (about 30 s).
        #[arg(long)]
        quick: bool,
    },
    /// Highest offered rate with loss at most --loss (binary search).
    Search {
        #[command(flatten)]
        common: Common,
        /// Path: 6to4-decap, 6to4-encap, teredo-rx, teredo-tx, mix.
        #[arg(long, default_value = "6to4-decap")]
        path: String,
        #[arg(long, default_value = "64")]
        size: String,
        #[arg(long, default_value = "xrelay")]
        subject: String,
        /// Teredo peers.
        #[arg(long, default_value_t = 1)]
        peers: u32,
        /// Loss threshold (fraction).
        #[arg(long, default_value_t = 0.001)]
        loss: f64,
        #[arg(long, default_value_t = 7)]
        steps: u32,
    },
}

fn subject(s: &str) -> Result<Subject> {
    Ok(match s {
        "xrelay" => Subject::Xrelay,
        "xdp-redirect" | "xdp" => Subject::XdpRedirect,
        "af-xdp-fwd" | "af-xdp" | "afxdp" => Subject::AfXdp,
        "kernel" => Subject::Kernel,
        "miredo" => Subject::Miredo,
        _ => bail!("unknown subject {s}"),
    })
}

fn plan(
    c: &Common,
    sizes: Vec<Size>,
    subjects: Vec<Subject>,
    peers: Vec<u32>,
    scenarios: bool,
) -> Plan {
    Plan {
        sizes,
        subjects,
        peer_counts: peers,
        flows: c.flows,
        scenarios,
        gen: compare::run::GenOpts {
            core: Some(c.gen_core),
            rate: c.rate,
            warmup: Duration::from_secs_f64(c.warmup),
            window: Duration::from_secs_f64(c.seconds),
            threads: c.gen_threads,
        },
        relay_core: c.relay_core,
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if !rustix::process::geteuid().is_root() {
        bail!("xrelay-bench needs root (network namespaces, XDP)");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let mut progress = |l: &str| {
        println!("{l}");
        let _ = std::io::stdout().flush();
    };
    match cli.cmd {
        Cmd::Compare {
            mut common,
            sizes,
            subjects,
            mut peers,
            out,
            quick,
        } => {
            let mut sizes: Vec<Size> = sizes
                .iter()
                .map(|s| Size::parse(s).with_context(|| format!("size {s}: 64..1514 or imix")))
                .collect::<Result<_>>()?;
            if quick {
                sizes = vec![Size::Fixed(64)];
                common.seconds = common.seconds.min(0.5);
                common.warmup = common.warmup.min(0.2);
                peers = vec![1000];
            }
            let subjects = subjects
                .iter()
                .map(|s| subject(s))
                .collect::<Result<Vec<_>>>()?;
            let p = plan(&common, sizes, subjects, peers, true);
            let machine = Machine::probe();
            let t = Instant::now();
            progress(&format!(
                "xrelay-bench compare: {} points, {:.1}+{:.1} s each, generator core {}, relay core {}, lab {}",
                p.cases().iter().map(|c| c.subjects.len()).sum::<usize>(),
                common.warmup,
                common.seconds,
                common.gen_core,
                common.relay_core,
                common.name
            ));
            let records = compare::compare(&common.name, &p, &machine, &stop, &mut progress)?;
            std::fs::create_dir_all(&out)?;
            let mut jl = String::new();
            for r in &records {
                jl.push_str(&serde_json::to_string(r)?);
                jl.push('\n');
            }
            let table = report::table(&records);
            let title = format!(
                "xrelay-bench compare · {} · {} · {} cores · commit {}",
                machine.date, machine.cpu, machine.cores, machine.commit
            );
            std::fs::write(out.join("results.jsonl"), jl)?;
            std::fs::write(out.join("results.svg"), report::svg(&records, &title))?;
            std::fs::write(out.join("table.txt"), &table)?;
            println!("\n{table}");
            println!(
                "wrote {0}/results.jsonl, {0}/results.svg, {0}/table.txt in {1:.0} s; lab removed",
                out.display(),
                t.elapsed().as_secs_f64()
            );
            let left = compare::topo::Lab::leftovers(&common.name);
            if !left.is_empty() {
                bail!("left over: {}", left.join(", "));
            }
        }
        Cmd::Search {
            common,
            path,
            size,
            subject: s,
            peers,
            loss,
            steps,
        } => {
            let size = Size::parse(&size).context("size: 64..1514 or imix")?;
            let s = subject(&s)?;
            let path: &'static str = match path.as_str() {
                "mix" => "mix",
                p => compare::PATHS
                    .into_iter()
                    .find(|x| *x == p)
                    .context("unknown path")?,
            };
            let p = plan(&common, vec![size], vec![s], vec![], false);
            let case = Case {
                id: path.into(),
                path,
                size,
                peers,
                bad_share: 0,
                subjects: vec![s],
            };
            let (best, _) = compare::search(
                &common.name,
                &p,
                &case,
                compare::Target {
                    subject: s,
                    max_loss: loss,
                    steps,
                },
                &stop,
                &mut progress,
            )?;
            println!(
                "{} {} {}: highest offered rate with loss ≤ {:.3}%: {:.3} Mpps",
                s.name(),
                path,
                size.label(),
                loss * 100.0,
                best / 1e6
            );
        }
    }
    Ok(())
}
