//! The long jobs: the benchmark report and the demo, each with its
//! prerequisites set up first.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::cmd::cmd;
use crate::prereqs::Prereqs;

/// Every bench target, bottom layer first.
const BENCHES: [&str; 9] = [
    "types",
    "vst",
    "l1cache",
    "objstore",
    "engine",
    "watch",
    "memory",
    "large_files",
    "remote",
];

/// Runs the criterion benches (release) and gathers their latency and note
/// lines into `target/bench-report.txt`.
pub(crate) fn bench(only: Option<&str>) -> anyhow::Result<()> {
    Prereqs::ensure_build()?;
    if only.is_none_or(|o| o == "large_files") {
        Prereqs::ensure_bench_peers(&target_dir())?;
    }
    // The remote bench runs against a Garage cluster it starts.
    let garage = if only.is_none_or(|o| o == "remote") {
        Some(Prereqs::ensure_garage(&target_dir())?)
    } else {
        None
    };
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
        .envs(garage.iter().map(|g| ("HELIOS_GARAGE", g)))
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
    let path = target_dir().join("bench-report.txt");
    std::fs::write(&path, report.join("\n") + "\n")?;
    eprintln!("\n==> report ({}):\n{}", path.display(), report.join("\n"));
    Ok(())
}

/// Builds the CLI in release and runs `helios demo` with the given
/// arguments on a fresh RocksDB store, `<target dir>/demo-store`, removed
/// first: a commit's new-object count (and so every reward) must not depend
/// on what earlier runs left in the store.
/// A `--store` among the arguments is used as given instead (and kept).
pub(crate) fn demo(args: &[String]) -> anyhow::Result<()> {
    Prereqs::ensure_demo()?;
    // Both binaries: `helios` hands the demo to `helios-local` beside it,
    // which `cargo run` of one binary would leave unbuilt or stale.
    crate::cmd::run(
        "build",
        cmd(
            "cargo",
            &[
                "build",
                "--release",
                "--locked",
                "-p",
                "helios-cli",
                "--bins",
            ],
        ),
    )?;
    let helios = target_dir().join("release").join("helios");
    let mut run = Command::new(&helios);
    run.arg("demo");
    if !names_store(args) {
        let store = target_dir().join("demo-store");
        if store.exists() {
            std::fs::remove_dir_all(&store)
                .with_context(|| format!("removing the last demo's store {}", store.display()))?;
        }
        eprintln!("==> demo store: {} (fresh)", store.display());
        run.arg("--store").arg(&store);
    }
    run.args(args);
    crate::cmd::run("demo", run)
}

/// The cargo target directory, as cargo picks it for this workspace.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

/// True when the arguments choose the store themselves.
fn names_store(args: &[String]) -> bool {
    args.iter()
        .any(|a| a == "--store" || a.starts_with("--store="))
}

#[cfg(test)]
mod tests {
    use super::names_store;

    #[test]
    fn a_store_flag_in_either_form_is_the_callers() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(names_store(&args(&["--nodes", "5", "--store", "x"])));
        assert!(names_store(&args(&["--store=x"])));
        assert!(!names_store(&args(&["--nodes", "5", "--json"])));
        assert!(!names_store(&args(&["--storex"])));
    }
}
