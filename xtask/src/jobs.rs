//! The long jobs: the benchmark report and the demo, each with its
//! prerequisites set up first.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use anyhow::{Context, bail};

use crate::cmd::cmd;
use crate::prereqs::Prereqs;

/// Every bench target, bottom layer first.
const BENCHES: [&str; 6] = ["types", "vst", "l1cache", "objstore", "engine", "memory"];

/// Runs the criterion benches (release) and gathers their latency and note
/// lines into `target/bench-report.txt`.
pub(crate) fn bench(only: Option<&str>) -> anyhow::Result<()> {
    Prereqs::ensure_build()?;
    let mut report = Vec::new();
    for bench in BENCHES.iter().filter(|b| only.is_none_or(|o| o == **b)) {
        eprintln!("\n==> bench {bench}");
        let mut child = cmd(
            "cargo",
            &[
                "bench",
                "-p",
                "helios-benches",
                "--bench",
                bench,
                "--",
                "--noplot",
            ],
        )
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start cargo bench")?;
        let stderr = child.stderr.take().expect("piped");
        for line in BufReader::new(stderr).lines() {
            let line = line?;
            eprintln!("{line}");
            if line.starts_with("latency:") || line.starts_with("note:") {
                report.push(format!("[{bench}] {line}"));
            }
        }
        if !child.wait()?.success() {
            bail!("bench {bench} failed");
        }
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = std::path::Path::new(&target).join("bench-report.txt");
    std::fs::write(&path, report.join("\n") + "\n")?;
    eprintln!("\n==> report ({}):\n{}", path.display(), report.join("\n"));
    Ok(())
}

/// Builds the CLI in release and runs `helios demo` with the given
/// arguments on a fresh RocksDB store.
pub(crate) fn demo(args: &[String]) -> anyhow::Result<()> {
    Prereqs::ensure_build()?;
    let mut run = cmd(
        "cargo",
        &[
            "run",
            "--release",
            "--locked",
            "-p",
            "helios-cli",
            "--",
            "demo",
        ],
    );
    run.args(args);
    crate::cmd::run("demo", run)
}
