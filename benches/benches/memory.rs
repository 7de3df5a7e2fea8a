//! Resident memory of the engine with 100K and 1M objects, each measured in
//! a process of its own so that nothing else the benchmark allocated is
//! counted.
//!
//! For each size a `build` process creates a store holding one snapshot of
//! N files (1 KiB of source-like text each, so N blobs plus their trees)
//! and reports its peak. A `serve` process then opens the store as a
//! search would and reports the growth of its resident set over the opened
//! engine at each step: the whole tree restored and walked (every directory
//! loaded), every file read once through L1 (the cache fills to its bound),
//! and 1,000 commits of 1–5 edited files on top.
//!
//! `cargo bench -p helios-benches --bench memory` (also run by
//! `cargo xtask bench`).

// A benchmark binary: it reports on stderr.
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use helios_benches::{SplitMix64, edit_files, note, source_like, source_paths};
use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_types::{RepoPath, SnapshotId};
use helios_vst::Edit;

const FILE_BYTES: usize = 1024;
const SIZES: [usize; 2] = [100_000, 1_000_000];

/// A field of /proc/self/status in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix(" kB")?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn mb(bytes: u64) -> u64 {
    bytes >> 20
}

/// Writes one snapshot of `files` files into a new store, named `main`.
fn build(store: &Path, files: usize) {
    let engine = HeliosEngine::open(store, EngineConfig::default()).unwrap();
    let started = Instant::now();
    let mut rng = SplitMix64::new(1);
    let mut vst = engine.empty_tree();
    // In slices, so the caller's pending edits never dominate the peak.
    for chunk in source_paths(files).chunks(10_000) {
        let edits: Vec<Edit> = chunk
            .iter()
            .map(|p| {
                Edit::file(
                    RepoPath::parse(p).unwrap(),
                    source_like(&mut rng, FILE_BYTES),
                )
            })
            .collect();
        vst = vst.apply(&edits).unwrap();
    }
    let (id, metrics) = engine
        .commit(&vst, Durability::Sync, CommitMeta::default())
        .unwrap();
    engine.set_ref("main", &id).unwrap();
    engine.close().unwrap();
    note(&format!(
        "memory: build {files} files: {} objects, {} MB encoded, {:.1?}; peak RSS {} MB (engine, tree and pending file bytes)",
        metrics.new_objects,
        mb(metrics.new_objects_size),
        started.elapsed(),
        mb(status_bytes("VmHWM"))
    ));
}

/// Opens the store as a search would and reports resident growth.
fn serve(store: &Path, files: usize) {
    // The edits' paths belong to the caller: made before the baseline.
    let paths: Vec<RepoPath> = source_paths(files)
        .iter()
        .map(|p| RepoPath::parse(p).unwrap())
        .collect();
    let engine = HeliosEngine::open(store, EngineConfig::default()).unwrap();
    let base = status_bytes("VmRSS");
    let grown = || mb(status_bytes("VmRSS").saturating_sub(base));
    let id: SnapshotId = engine.get_ref("main").unwrap().unwrap();

    let vst = engine.restore(&id).unwrap();
    let mut walked = 0;
    vst.for_each_file(|_, _| walked += 1).unwrap();
    assert_eq!(walked, files);
    let tree_mb = grown();

    let mut raw = 0u64;
    vst.for_each_file(|_, entry| {
        raw += engine.object(&entry.hash).unwrap().unwrap().len() as u64;
    })
    .unwrap();
    let l1 = engine.stats().l1;
    let read_mb = grown();

    let mut rng = SplitMix64::new(7);
    let mut parent = id;
    let mut head = vst;
    for _ in 0..1000 {
        head = edit_files(&mut rng, &paths, &head, FILE_BYTES);
        let (next, _) = engine
            .commit(
                &head,
                Durability::Async,
                CommitMeta::child_of(Some(parent), ""),
            )
            .unwrap();
        parent = next;
    }
    engine.flush().unwrap();
    let commits_mb = grown();
    note(&format!(
        "memory: {files} files: engine opened at {} MB RSS; grew {tree_mb} MB with the whole tree loaded, \
         {read_mb} MB after reading all {} MB of files once (L1 holds {} MB of {} MB), \
         {commits_mb} MB after 1000 async commits; peak RSS {} MB (the memtables refilled from \
         the WAL at open and the benchmark's own parsed paths included)",
        mb(base),
        mb(raw),
        mb(l1.arena_used),
        mb(l1.capacity),
        mb(status_bytes("VmHWM"))
    ));
}

/// Runs this binary again as `phase`, in a process of its own.
fn child(phase: &str, store: &Path, files: usize) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args([phase, store.to_str().unwrap(), &files.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "{phase} {files} failed");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [phase, store, files] if phase == "build" || phase == "serve" => {
            let files = files.parse().unwrap();
            if phase == "build" {
                build(Path::new(store), files);
            } else {
                serve(Path::new(store), files);
            }
        }
        // `cargo bench` passes `--bench` and criterion's flags: ignored.
        _ => {
            for files in SIZES {
                let dir = tempfile::tempdir().unwrap();
                let store = dir.path().join("store");
                child("build", &store, files);
                child("serve", &store, files);
            }
        }
    }
}
