//! Watched capture: a 100K-file working directory on disk, registered with
//! the engine's watcher (`HeliosEngine::watch`), 1–5 files rewritten per
//! step as a tool would, then captured. Reports capture P50/P99 with the
//! watcher beside the full-scan capture (stat cache, no watcher) of the
//! same directory in the same run, and checks the target: P99 ≤ 5 ms.
//! Each capture is committed and recorded as the directory's head (not
//! timed), as a search or `helios commit` does.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use helios_benches::{Latency, SplitMix64, note, report, source_like, source_paths, target};
use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_types::{RepoPath, SnapshotId};
use helios_vst::Edit;
use helios_workdir::{CaptureOptions, CheckoutOptions};

const FILES: usize = 100_000;
/// Captures timed per mode.
const STEPS: usize = 200;
/// Full-scan captures timed (each reads the stat of all 100K files).
const FULL_STEPS: usize = 20;

/// Rewrites 1–5 random files of `paths` under `work` in place.
fn edit(rng: &mut SplitMix64, work: &Path, paths: &[String]) {
    for _ in 0..1 + rng.index(5) {
        let path = &paths[rng.index(paths.len())];
        std::fs::write(work.join(path), source_like(rng, 1024)).unwrap();
    }
}

/// Edits, captures (timed), commits and records, `steps` times; also says
/// how many captures read only the watcher's reported paths.
fn run(
    engine: &HeliosEngine,
    work: &Path,
    paths: &[String],
    head: &mut SnapshotId,
    steps: usize,
) -> (Latency, usize) {
    let mut fast = 0;
    let mut rng = SplitMix64::new(11);
    let mut samples = Vec::with_capacity(steps);
    for _ in 0..steps {
        edit(&mut rng, work, paths);
        let start = Instant::now();
        let captured = engine.capture(work, &CaptureOptions::default()).unwrap();
        samples.push(start.elapsed());
        fast += usize::from(captured.report.fast_path);
        let (id, _) = engine
            .commit(
                &captured.tree,
                Durability::Memory,
                CommitMeta::child_of(Some(*head), "step"),
            )
            .unwrap();
        engine.record_head(work, &id).unwrap();
        *head = id;
    }
    (Latency::from_samples(samples), fast)
}

fn watch_benches(_c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let engine = HeliosEngine::open(dir.path().join("store"), EngineConfig::default()).unwrap();
    let paths = source_paths(FILES);
    let mut rng = SplitMix64::new(1);
    let edits: Vec<Edit> = paths
        .iter()
        .map(|p| Edit::file(RepoPath::parse(p).unwrap(), source_like(&mut rng, 1024)))
        .collect();
    let tree = engine.empty_tree().apply(&edits).unwrap();
    let (mut head, _) = engine
        .commit(&tree, Durability::Sync, CommitMeta::default())
        .unwrap();
    let start = Instant::now();
    engine
        .checkout(&head, &work, &CheckoutOptions::default(), &|_, _| {})
        .unwrap();
    note(&format!(
        "watch: {FILES} files of 1 KiB checked out in {:.2?}",
        start.elapsed()
    ));
    // The stat cache settles (RACY_NS) before anything is timed.
    std::thread::sleep(Duration::from_millis(50));

    let (full, _) = run(&engine, &work, &paths, &mut head, FULL_STEPS);
    report(
        &format!("capture after a 1-5 file edit of {FILES}, full scan"),
        full,
    );

    let start = Instant::now();
    if let Err(e) = engine.watch(&work) {
        note(&format!("SKIPPED watched capture: {e}"));
        return;
    }
    note(&format!(
        "watch: {FILES} files ({} leaf directories) watched in {:.2?}",
        FILES.div_ceil(24),
        start.elapsed()
    ));
    let start = Instant::now();
    let first = engine.capture(&work, &CaptureOptions::default()).unwrap();
    note(&format!(
        "watch: first watched capture (a full scan, {:?}) in {:.2?}",
        first.report.fallback,
        start.elapsed()
    ));
    let (id, _) = engine
        .commit(
            &first.tree,
            Durability::Memory,
            CommitMeta::child_of(Some(head), "first"),
        )
        .unwrap();
    engine.record_head(&work, &id).unwrap();
    head = id;

    let (watched, fast) = run(&engine, &work, &paths, &mut head, STEPS);
    note(&format!(
        "watch: {fast} of {STEPS} watched captures read only the reported paths"
    ));
    let p99 = watched.p99;
    report(
        &format!("capture after a 1-5 file edit of {FILES}, watched"),
        watched,
    );
    target(
        "watched capture after a 1-5 file edit of 100K files, P99 <= 5 ms",
        p99 <= Duration::from_millis(5),
        &format!("{p99:.2?}"),
    );
    engine.close().unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = watch_benches
}
criterion_main!(benches);
