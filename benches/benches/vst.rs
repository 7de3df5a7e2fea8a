//! helios-vst: fork, commit (1- and 5-file edit plus the new root hash, and
//! the export the engine does next), diff of two sibling nodes, cold full
//! root hash, on source-like trees of 10K and 100K files; plus memory per
//! file entry and directory nodes allocated per edit.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use helios_benches::{Latency, SplitMix64, report, source_like, source_paths};
use helios_types::{Blob, HashAlgorithm, RepoPath};
use helios_vst::{Edit, LeafKind, Vst};

const ALG: HashAlgorithm = HashAlgorithm::Blake3;

/// A tree as the engine holds it after a commit: every file stored (by
/// hash), every object persisted, the root hash memoised.
struct Workload {
    files: usize,
    paths: Vec<RepoPath>,
    base: Vst,
    /// Edited file contents (4 KiB of source each), shared, not copied.
    contents: Vec<Arc<[u8]>>,
}

fn build_edits(paths: &[RepoPath], seed: u64) -> Vec<Edit> {
    let mut rng = SplitMix64::new(seed);
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let hash = Blob::hash_of(ALG, &(i as u64 ^ seed).to_le_bytes());
            Edit::stored(p.clone(), LeafKind::File, hash, 500 + rng.below(8000))
        })
        .collect()
}

fn workload(files: usize) -> Workload {
    let paths: Vec<RepoPath> = source_paths(files)
        .iter()
        .map(|p| RepoPath::parse(p).expect("generated path"))
        .collect();
    let base = Vst::new(ALG)
        .apply(&build_edits(&paths, 1))
        .expect("build tree");
    base.mark_persisted();
    black_box(base.root_hash());
    let mut rng = SplitMix64::new(99);
    let contents = (0..64)
        .map(|_| Arc::from(source_like(&mut rng, 4096)))
        .collect();
    Workload {
        files,
        paths,
        base,
        contents,
    }
}

impl Workload {
    /// `n` random file edits (fresh 4 KiB contents, hashed by the edit).
    fn edits(&self, rng: &mut SplitMix64, n: usize) -> Vec<Edit> {
        (0..n)
            .map(|_| {
                let path = pick(rng, &self.paths).clone();
                let bytes = pick(rng, &self.contents).clone();
                Edit::file(path, bytes)
            })
            .collect()
    }

    /// Edits by already-known hash: the commit without hashing file bytes.
    fn stored_edits(&self, rng: &mut SplitMix64, n: usize) -> Vec<Edit> {
        (0..n)
            .map(|_| {
                let path = pick(rng, &self.paths).clone();
                Edit::stored(
                    path,
                    LeafKind::File,
                    Blob::hash_of(ALG, &rng.next_u64().to_le_bytes()),
                    4096,
                )
            })
            .collect()
    }
}

/// A random element of a non-empty slice.
fn pick<'a, T>(rng: &mut SplitMix64, items: &'a [T]) -> &'a T {
    let i = usize::try_from(rng.below(items.len() as u64)).unwrap_or(0);
    &items[i]
}

fn label(files: usize) -> String {
    format!("{}K", files / 1000)
}

fn latencies(w: &Workload) {
    let l = label(w.files);
    let mut rng = SplitMix64::new(5);
    report(
        &format!("vst {l} fork (clone)"),
        Latency::measure(200_000, || {
            black_box(black_box(&w.base).clone());
        }),
    );
    for n in [1, 5] {
        // Edits are prepared outside the timed region: a caller hands the
        // VST paths and bytes it already has.
        let batches: Vec<_> = (0..22_000).map(|_| w.edits(&mut rng, n)).collect();
        let mut it = batches.iter();
        report(
            &format!("vst {l} commit {n}-file edit + root hash"),
            Latency::measure(20_000, || {
                let next = w
                    .base
                    .apply(it.next().expect("enough batches"))
                    .expect("edit");
                black_box(next.root_hash());
            }),
        );
        let batches: Vec<_> = (0..22_000).map(|_| w.stored_edits(&mut rng, n)).collect();
        let mut it = batches.iter();
        report(
            &format!("vst {l} commit {n}-file edit (by hash) + root"),
            Latency::measure(20_000, || {
                let next = w
                    .base
                    .apply(it.next().expect("enough batches"))
                    .expect("edit");
                black_box(next.root_hash());
            }),
        );
        let batches: Vec<_> = (0..22_000).map(|_| w.edits(&mut rng, n)).collect();
        let mut it = batches.iter();
        report(
            &format!("vst {l} commit {n}-file + root + export"),
            Latency::measure(20_000, || {
                let next = w
                    .base
                    .apply(it.next().expect("enough batches"))
                    .expect("edit");
                black_box(next.root_hash());
                black_box(next.unpersisted_objects());
            }),
        );
    }
    let pairs: Vec<_> = (0..2_200)
        .map(|_| {
            let a = w.base.apply(&w.edits(&mut rng, 5)).expect("edit");
            let b = w.base.apply(&w.edits(&mut rng, 5)).expect("edit");
            // Search nodes are committed (hashed) before they are compared.
            black_box((a.root_hash(), b.root_hash()));
            (a, b)
        })
        .collect();
    let mut it = pairs.iter();
    report(
        &format!("vst {l} diff of two 5-edit siblings"),
        Latency::measure(2_000, || {
            let (a, b) = it.next().expect("enough pairs");
            black_box(a.diff(b).expect("diff"));
        }),
    );
    // Cold: a freshly built tree, nothing hashed yet; only the hash is timed.
    let edits = build_edits(&w.paths, 2);
    // 100 samples so that P99 is a percentile, not just the slowest run.
    let cold: Vec<Duration> = (0..100)
        .map(|_| {
            let fresh = Vst::new(ALG).apply(&edits).expect("build");
            let start = Instant::now();
            black_box(fresh.root_hash());
            start.elapsed()
        })
        .collect();
    report(
        &format!("vst {l} full root hash from cold"),
        Latency::from_samples(cold),
    );
}

/// Resident memory in bytes (Linux), for bytes per entry.
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[allow(clippy::print_stderr, reason = "benchmark report")]
fn footprint(files: usize) {
    let l = label(files);
    let paths: Vec<RepoPath> = source_paths(files)
        .iter()
        .map(|p| RepoPath::parse(p).expect("generated path"))
        .collect();
    let edits = build_edits(&paths, 3);
    let before = rss();
    let tree = Vst::new(ALG).apply(&edits).expect("build");
    black_box(tree.root_hash());
    let after = rss();
    drop(edits);
    if let (Some(b), Some(a)) = (before, after) {
        let per = a.saturating_sub(b) as f64 / files as f64;
        eprintln!(
            "memory: vst {l} tree RSS growth {} KiB = {per:.0} bytes per file entry",
            a.saturating_sub(b) / 1024
        );
    }
    black_box(tree);
}

#[allow(clippy::print_stderr, reason = "benchmark report")]
fn sharing(w: &Workload) {
    let l = label(w.files);
    let mut rng = SplitMix64::new(11);
    let directories = w.base.dir_nodes_not_in(&Vst::new(ALG));
    for n in [1, 5] {
        let fork = w.base.clone();
        let edited = fork.apply(&w.edits(&mut rng, n)).expect("edit");
        eprintln!(
            "sharing: vst {l} fork + {n}-file edit allocates {} directory nodes (tree has {directories} directories)",
            edited.dir_nodes_not_in(&w.base),
        );
    }
}

fn bench(c: &mut Criterion) {
    // Memory first, in a fresh process: freed trees of later steps would
    // otherwise be reused and hide the growth.
    footprint(100_000);
    for files in [10_000, 100_000] {
        let w = workload(files);
        latencies(&w);
        sharing(&w);
        let mut group = c.benchmark_group(format!("vst_{}", label(files)));
        group
            .measurement_time(Duration::from_secs(3))
            .sample_size(30);
        group.bench_function("fork", |b| b.iter(|| black_box(&w.base).clone()));
        let mut rng = SplitMix64::new(21);
        for n in [1, 5] {
            group.bench_function(format!("commit_{n}_files"), |b| {
                b.iter_batched(
                    || w.edits(&mut rng, n),
                    |edits| w.base.apply(&edits).expect("edit").root_hash(),
                    BatchSize::SmallInput,
                )
            });
        }
        let a = w.base.apply(&w.edits(&mut rng, 5)).expect("edit");
        let s = w.base.apply(&w.edits(&mut rng, 5)).expect("edit");
        group.bench_function("diff_siblings", |b| b.iter(|| a.diff(&s).expect("diff")));
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
