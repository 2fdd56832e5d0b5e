//! Root smoke test of `xrelay-bench compare --quick`: the whole tool end
//! to end (lab, generator, sinks, xrelay and the reference points, JSON,
//! SVG, cleanup) in well under a minute. Asserts that the JSON lines and
//! the SVG were written, that every point moved frames, and that nothing
//! of the lab is left. Skips, saying why, without root or the XDP objects.

use std::path::PathBuf;
use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_xrelay-bench");
const NAME: &str = "xrzq";

fn skip_reason() -> Option<String> {
    if std::env::var_os("XRELAY_TEST_UNPRIVILEGED").is_some() {
        return Some("XRELAY_TEST_UNPRIVILEGED is set".into());
    }
    if !rustix::process::geteuid().is_root() {
        return Some("needs root (network namespaces, XDP)".into());
    }
    if let Err(e) = xrelay_bench::compare::bpf::object() {
        return Some(e.to_string());
    }
    if let Err(e) = xrelay_xdp::program_bytes() {
        return Some(e.to_string());
    }
    if Command::new("miredo").arg("-V").output().is_err() {
        return Some("miredo (a default subject) is not installed".into());
    }
    None
}

/// Builds the dataplane binary with the running cargo, same profile.
fn dataplane_bin() -> PathBuf {
    let dir = PathBuf::from(BENCH)
        .parent()
        .expect("target dir")
        .to_owned();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "xrelay-dataplane",
        "--bin",
        "xrelay-dataplane",
    ])
    .arg("--manifest-path")
    .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"));
    if dir.ends_with("release") {
        cmd.arg("--release");
    }
    assert!(
        cmd.status().expect("cargo build").success(),
        "building xrelay-dataplane failed"
    );
    let bin = dir.join("xrelay-dataplane");
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

#[test]
fn compare_quick_runs_end_to_end() {
    if let Some(why) = skip_reason() {
        println!("skipped: {why}");
        return;
    }
    let out = std::env::temp_dir().join(format!("xrb-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let t = std::time::Instant::now();
    let o = Command::new(BENCH)
        .args(["compare", "--quick", "--name", NAME, "--out"])
        .arg(&out)
        .env("XRELAY_DATAPLANE", dataplane_bin())
        .output()
        .expect("running xrelay-bench");
    let stdout = String::from_utf8_lossy(&o.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "xrelay-bench compare --quick failed");
    println!("took {:.1} s", t.elapsed().as_secs_f64());
    let jl = std::fs::read_to_string(out.join("results.jsonl")).expect("results.jsonl");
    let recs: Vec<serde_json::Value> = jl
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    // 4 paths × 4 subjects, miredo on the 2 Teredo paths, mix, 6to4 with
    // bad frames, 2 × Teredo with 1000 peers.
    assert_eq!(recs.len(), 4 * 4 + 2 + 4, "{jl}");
    for r in &recs {
        let rate = r["rate_pps"].as_f64().expect("rate_pps");
        assert!(rate > 0.0, "no frames: {r}");
        for k in [
            "commit",
            "machine",
            "cores",
            "mode",
            "size",
            "loss",
            "offered_pps",
        ] {
            assert!(!r[k].is_null(), "{k} missing: {r}");
        }
    }
    let svg = std::fs::read_to_string(out.join("results.svg")).expect("results.svg");
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));
    assert!(
        xrelay_bench::compare::topo::Lab::leftovers(NAME).is_empty(),
        "lab left over"
    );
    let _ = std::fs::remove_dir_all(&out);
}
