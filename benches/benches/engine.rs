//! helios-engine: commit latency per durability on 100K-file trees with 1–5
//! edited files, restore hot and cold, diff of siblings, gc throughput, and
//! resident memory. Latency lines (P50/P99) come from per-operation timing;
//! criterion adds its own estimates for the cheap operations.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use helios_benches::{Latency, SplitMix64, edit_files, note, report, source_like, source_paths};
use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_types::RepoPath;
use helios_vst::{Edit, Vst};

const FILES: usize = 100_000;

fn base_tree(engine: &HeliosEngine, files: usize) -> (Vec<RepoPath>, Vst) {
    let mut rng = SplitMix64::new(1);
    let paths: Vec<RepoPath> = source_paths(files)
        .iter()
        .map(|p| RepoPath::parse(p).unwrap())
        .collect();
    let edits: Vec<Edit> = paths
        .iter()
        .map(|p| Edit::file(p.clone(), source_like(&mut rng, 2048)))
        .collect();
    (paths, engine.empty_tree().apply(&edits).unwrap())
}

/// Resident set size of this process, from /proc.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn engine_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rss_before = rss_bytes();
    let engine = HeliosEngine::open(dir.path().join("store"), EngineConfig::default()).unwrap();
    let started = Instant::now();
    let (paths, base) = base_tree(&engine, FILES);
    let (root, m) = engine
        .commit(&base, Durability::Sync, CommitMeta::default())
        .unwrap();
    note(&format!(
        "engine: first commit of {FILES} files: {} objects, {} bytes, {:.2?}",
        m.new_objects,
        m.new_objects_size,
        started.elapsed()
    ));
    engine.pin(&root).unwrap();
    note(&format!(
        "memory: RSS grew {} MB while building and committing a {FILES}-file tree",
        rss_bytes().saturating_sub(rss_before) >> 20
    ));

    let mut rng = SplitMix64::new(7);
    for (name, durability, n) in [
        ("memory", Durability::Memory, 2000),
        ("async", Durability::Async, 2000),
        ("sync", Durability::Sync, 300),
    ] {
        // Edits are prepared outside the timed region: commit alone is timed.
        let trees: Vec<Vst> = (0..n)
            .map(|_| edit_files(&mut rng, &paths, &base, 2048))
            .collect();
        let mut it = trees.iter();
        let latency = Latency::measure(n * 10 / 11, || {
            let vst = it.next().unwrap();
            black_box(
                engine
                    .commit(vst, durability, CommitMeta::child_of(Some(root), ""))
                    .unwrap(),
            );
        });
        report(&format!("commit 1-5 files of {FILES}, {name}"), latency);
        engine.flush().unwrap();
    }

    let hot = engine.restore(&root).unwrap();
    report(
        "restore hot",
        Latency::measure(10_000, || {
            black_box(engine.restore(&root).unwrap());
        }),
    );
    let a = edit_files(&mut rng, &paths, &hot, 2048);
    let b = edit_files(&mut rng, &paths, &hot, 2048);
    report(
        "diff of siblings (1-5 files each)",
        Latency::measure(2_000, || {
            black_box(a.diff(&b).unwrap());
        }),
    );
    engine.close().unwrap();
    drop(engine);

    // Cold restore: a new process-like engine, the snapshot only on disk.
    let mut cold = Vec::new();
    for _ in 0..30 {
        let engine = HeliosEngine::open(dir.path().join("store"), EngineConfig::default()).unwrap();
        let start = Instant::now();
        let vst = engine.restore(&root).unwrap();
        black_box(vst.get(&paths[12_345]).unwrap());
        cold.push(start.elapsed());
    }
    report(
        "restore cold + read one path (new engine)",
        Latency::from_samples(cold),
    );

    let engine = HeliosEngine::open(dir.path().join("store"), EngineConfig::default()).unwrap();
    engine.unpin(&root).unwrap();
    let start = Instant::now();
    let gc = engine.gc().unwrap();
    let took = start.elapsed().max(Duration::from_micros(1));
    note(&format!(
        "gc: reclaimed {} objects ({} MB) in {took:.2?}: {:.0} objects/s",
        gc.objects_reclaimed,
        gc.bytes_reclaimed >> 20,
        gc.objects_reclaimed as f64 / took.as_secs_f64()
    ));

    let mem = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let (paths, base) = base_tree(&mem, 10_000);
    let mut rng = SplitMix64::new(9);
    c.bench_function("engine/edit_and_commit_async_1-5_files_of_10k", |bench| {
        bench.iter(|| {
            let vst = edit_files(&mut rng, &paths, &base, 2048);
            mem.commit(&vst, Durability::Async, CommitMeta::default())
                .unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = engine_benches
}
criterion_main!(benches);
