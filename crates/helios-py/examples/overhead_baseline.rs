//! The Rust side of `python/bench/overhead.py`: the same workload, through
//! the engine directly, so the bench can put the binding's overhead beside
//! what Rust pays in the same run.
//!
//! A 100K-file tree (2 KiB files) is committed to a RocksDB store; then (1)
//! prepared trees with 1–5 edited files are committed with
//! `Durability::Memory`, commit alone timed, and (2) a working directory
//! holding the tree is switched to children with 1–5 edited files and
//! back, every switch timed. The file layout and edits are the ones the
//! Python script makes. Prints one JSON object.
//!
//! `cargo run --release -p helios-py --example overhead_baseline -- [files] [commits] [switches]`

#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::{Duration, Instant};

use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_types::RepoPath;
use helios_vst::{Edit, Vst};
use helios_workdir::CheckoutOptions;

/// The content of file `i` (or of edit `(j, m)`): a label padded to 2 KiB.
fn content(label: &str) -> Vec<u8> {
    let mut bytes = label.as_bytes().repeat(2048 / label.len() + 1);
    bytes.truncate(2048);
    bytes
}

fn path(i: usize) -> RepoPath {
    let p = format!("d{:02}/s{}/f{i:06}.py", i % 100, (i / 100) % 10);
    RepoPath::parse(p.as_bytes()).expect("generated paths are valid")
}

/// Tree `j`'s edits: 1–5 files of `files`, chosen as the script chooses.
fn edits(j: usize, files: usize, one_file: bool) -> Vec<Edit> {
    let k = if one_file { 1 } else { 1 + j % 5 };
    (0..k)
        .map(|m| {
            let i = (j * 7919 + m * 104_729) % files;
            Edit::file(path(i), content(&format!("edit {j} {m} ")))
        })
        .collect()
}

/// Nearest-rank percentile of sorted samples, in microseconds.
fn pct(sorted: &[Duration], p: usize) -> f64 {
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e6
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "{{\"p50_us\": {:.2}, \"p99_us\": {:.2}, \"n\": {}}}",
        pct(&samples, 50),
        pct(&samples, 99),
        samples.len()
    )
}

fn commits(
    engine: &HeliosEngine,
    base: &Vst,
    root: helios_types::SnapshotId,
    n: usize,
    files: usize,
    one: bool,
) -> Vec<Duration> {
    let trees: Vec<Vst> = (0..n)
        .map(|j| base.apply(&edits(j, files, one)).expect("edits apply"))
        .collect();
    let mut samples = Vec::with_capacity(n);
    for vst in &trees {
        let start = Instant::now();
        let done = engine.commit(
            vst,
            Durability::Memory,
            CommitMeta::child_of(Some(root), ""),
        );
        samples.push(start.elapsed());
        done.expect("commit");
    }
    // Warm-up: the first tenth is dropped, as helios_workload::Latency does.
    samples.split_off(n / 10)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric arguments"))
        .collect();
    let files = args.first().copied().unwrap_or(100_000);
    let n_commits = args.get(1).copied().unwrap_or(2000);
    let n_switches = args.get(2).copied().unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("helios-overhead-rs-{}", std::process::id()));
    let engine = HeliosEngine::open(dir.join("store"), EngineConfig::default()).expect("open");
    let all: Vec<Edit> = (0..files)
        .map(|i| Edit::file(path(i), content(&format!("file {i} "))))
        .collect();
    let base = engine.empty_tree().apply(&all).expect("base tree");
    let (root, _) = engine
        .commit(&base, Durability::Sync, CommitMeta::default())
        .expect("base commit");
    engine.pin(&root).expect("pin");

    let commit_multi = commits(&engine, &base, root, n_commits, files, false);
    let commit_one = commits(&engine, &base, root, n_commits, files, true);

    let wd = dir.join("wd");
    engine
        .materialize(&root, &wd, &|_| true, &|_, _| {})
        .expect("materialize");
    let switch = switches(&engine, &base, root, &wd, n_switches, files);
    engine.close().expect("close");
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{{\"files\": {files}, \"commit_1_5_files\": {}, \"commit_1_file\": {}, \"switch_1_5_files\": {}}}",
        summary(commit_multi),
        summary(commit_one),
        summary(switch)
    );
}

/// Switches `wd` to child `j` and back to the root, `n` times each.
fn switches(
    engine: &HeliosEngine,
    base: &Vst,
    root: helios_types::SnapshotId,
    wd: &Path,
    n: usize,
    files: usize,
) -> Vec<Duration> {
    let options = CheckoutOptions::default();
    let mut samples = Vec::with_capacity(2 * n);
    for j in 0..n {
        let child = base.apply(&edits(j, files, false)).expect("edits apply");
        let (id, _) = engine
            .commit(
                &child,
                Durability::Memory,
                CommitMeta::child_of(Some(root), ""),
            )
            .expect("commit");
        for target in [id, root] {
            let start = Instant::now();
            engine
                .checkout(&target, wd, &options, &|_, _| {})
                .expect("checkout");
            samples.push(start.elapsed());
        }
    }
    samples
}
