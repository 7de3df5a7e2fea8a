//! `cargo xtask`: the project's automation in Rust, so it runs wherever
//! cargo does. `ci` is the one gate a fresh clone must pass; the other
//! commands set up a machine or run the project's long jobs.

#![forbid(unsafe_code)]
// xtask talks to a person at a terminal; printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod ci;
mod cmd;
mod jobs;
mod prereqs;
mod python;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Helios project automation.
#[derive(Parser)]
#[command(name = "cargo xtask", about, long_about = None)]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Every gate, as CI runs it: install missing prerequisites, rustfmt,
    /// clippy (warnings denied), all tests under coverage with an 85% line
    /// floor over the library crates, a performance guard (Helios's speed
    /// against git's in one `helios bench --via cli` run must stay above
    /// floors), the Python package's pytest suite (its wheel built with
    /// maturin), and cargo-deny.
    Ci,
    /// The fast gates the pre-commit hook runs: rustfmt, clippy, unit tests.
    Precommit,
    /// Only ci's performance guard, on the `helios` binary the last ci
    /// built (run ci, or `cargo test` in its environment, first).
    PerfGuard,
    /// Only ci's Python gate: build the `helios` wheel with maturin into a
    /// virtual environment under the target directory and run pytest.
    Python,
    /// Point git at the hooks kept in `.githooks/` (pre-commit runs
    /// `cargo xtask precommit`).
    InstallHooks,
    /// Install what building and testing need (clang/libclang for RocksDB's
    /// bindings, python3 for the demo's checker, LLVM 22 tools,
    /// cargo-llvm-cov, cargo-deny) without running anything else.
    Setup,
    /// The main job: install clang/libclang and python3 if missing, build
    /// the CLI in release and run the MCTS demo on a fresh embedded RocksDB
    /// store in `target/demo-store` (arguments after `--` go to `helios demo`).
    Demo {
        /// Passed to `helios demo` (e.g. `--nodes 1000 --seed 7 --json`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the criterion benchmarks in release and gather their P50/P99
    /// lines into target/bench-report.txt.
    Bench {
        /// Only this bench target (types, vst, l1cache, objstore, engine, watch,
        /// memory, large_files, remote).
        #[arg(long)]
        only: Option<String>,
    },
    /// Fuzz the object decoder with cargo-fuzz on the nightly toolchain for
    /// a number of seconds, growing the corpus kept in `fuzz/corpus/`.
    Fuzz {
        /// How long to run.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = project_root();
    std::env::set_current_dir(&root)?;
    match args.task {
        Task::Ci => ci::ci(&root),
        Task::Precommit => ci::precommit(),
        Task::PerfGuard => ci::perf_guard_only(),
        Task::Python => ci::python_only(&root),
        Task::InstallHooks => ci::install_hooks(),
        Task::Setup => prereqs::Prereqs::ensure().map(|_| ()),
        Task::Fuzz { seconds } => ci::fuzz(seconds),
        Task::Demo { args } => jobs::demo(&args),
        Task::Bench { only } => jobs::bench(only.as_deref()),
    }
}

/// The workspace root: xtask lives one level below it.
fn project_root() -> PathBuf {
    root_above(std::env::var_os("CARGO_MANIFEST_DIR"))
}

/// The directory above xtask's, as `cargo run` gives it (`manifest_dir`,
/// its `CARGO_MANIFEST_DIR`), else as it was when this binary was built.
/// The second can name another clone: cargo keeps a binary built in one
/// clone for another that shares its target directory (as `.ci/run`'s
/// is) when the sources are the same and not newer, and every gate would
/// then run in the first clone.
fn root_above(manifest_dir: Option<OsString>) -> PathBuf {
    let manifest_dir =
        manifest_dir.map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_root_is_the_clone_cargo_runs_not_the_one_built_in() {
        let clone = Path::new("/elsewhere/helios");
        let ran = root_above(Some(clone.join("xtask").into_os_string()));
        assert_eq!(ran, clone);
        let built = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_eq!(root_above(None), built);
    }
}
