//! helios-objstore (L2, RocksDB): batch write of 100 small objects in sync
//! and buffered mode, point read of a cold-ish object (not in RocksDB's block
//! cache; the OS page cache may hold it) and of a hot one, multi-get of 100
//! objects; P50/P99 lines and objects per second. Then BlobDB on versus off
//! for file-sized values, which decides the `RocksConfig::blob_files`
//! default.
//!
//! Run: `cargo bench -p helios-benches --bench objstore`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use helios_benches::{Latency, SplitMix64, note, report, source_like, target};
use helios_objstore::{BlobFiles, RocksConfig, RocksStore};
use helios_types::store::{ObjectStore, WriteBatch, WriteMode};
use helios_types::{Blob, Hash, HashAlgorithm};

/// Objects in one write batch.
const BATCH: usize = 100;
/// Objects in the store that point reads draw from.
const READ_SET: usize = 200_000;

fn object(rng: &mut SplitMix64, min: usize, spread: u64) -> (Hash, Vec<u8>) {
    let len = min + usize::try_from(rng.below(spread)).unwrap_or(0);
    let encoded = Blob::new(source_like(rng, len)).encode();
    (HashAlgorithm::Blake3.digest(&encoded), encoded)
}

/// `n` batches of [`BATCH`] small (64 B – 2 KiB) source-like objects.
fn small_batches(rng: &mut SplitMix64, n: usize) -> Vec<WriteBatch> {
    (0..n)
        .map(|_| {
            let mut b = WriteBatch::new();
            for _ in 0..BATCH {
                let (h, e) = object(rng, 64, 1984);
                b.put_object(h, e);
            }
            b
        })
        .collect()
}

fn create(dir: &Path, config: RocksConfig) -> RocksStore {
    RocksStore::open(
        dir,
        &RocksConfig {
            create_if_missing: true,
            ..config
        },
    )
    .expect("open store")
}

fn objects_per_second(name: &str, objects: usize, elapsed: Duration) {
    #[allow(clippy::print_stderr, reason = "benchmark report")]
    {
        eprintln!(
            "throughput: {name:<46} {:>12.0} objects/s",
            objects as f64 / elapsed.as_secs_f64()
        );
    }
}

/// Times one write per batch from `pool` with [`Latency::measure`] and reports
/// latency plus objects per second.
fn measure_writes(
    store: &RocksStore,
    mode: WriteMode,
    pool: Vec<WriteBatch>,
    samples: usize,
    name: &str,
) {
    let mut pool = pool.into_iter();
    let began = Instant::now();
    let latency = Latency::measure(samples, || {
        let batch = pool.next().expect("enough batches");
        store.write(batch, mode).expect("write");
    });
    let writes = samples + samples / 10;
    report(name, latency);
    target(
        &format!("{name} P99 < 5 ms"),
        latency.p99 < Duration::from_millis(5),
        &format!("{:.2?}", latency.p99),
    );
    objects_per_second(name, writes * BATCH, began.elapsed());
}

fn batch_writes(c: &mut Criterion) {
    let mut rng = SplitMix64::new(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), RocksConfig::default());

    for (mode, samples, label) in [
        (WriteMode::Sync, 500, "sync"),
        (WriteMode::Buffered, 2000, "buffered"),
    ] {
        let name = format!("objstore write 100 small objects {label}");
        measure_writes(
            &store,
            mode,
            small_batches(&mut rng, samples + samples / 10),
            samples,
            &name,
        );
        let mut group = c.benchmark_group("objstore_write_100");
        group.throughput(Throughput::Elements(BATCH as u64));
        group.sample_size(if mode == WriteMode::Sync { 20 } else { 50 });
        group.bench_function(label, |b| {
            b.iter_batched(
                || small_batches(&mut rng, 1).pop().expect("one batch"),
                |batch| store.write(batch, mode).expect("write"),
                criterion::BatchSize::LargeInput,
            )
        });
        group.finish();
    }

    // Re-putting a batch that is already stored (the engine does this when
    // two snapshots share files it has not deduplicated in memory).
    let again = small_batches(&mut SplitMix64::new(99), 1)
        .pop()
        .expect("batch");
    store
        .write(again.clone(), WriteMode::Buffered)
        .expect("write");
    report(
        "objstore re-put 100 stored objects buffered",
        Latency::measure(1000, || {
            store
                .write(again.clone(), WriteMode::Buffered)
                .expect("write")
        }),
    );
}

/// A store of [`READ_SET`] small objects, flushed and compacted, reopened
/// with a small block cache so random reads mostly miss it.
fn read_store(dir: &Path) -> Vec<Hash> {
    let mut rng = SplitMix64::new(2);
    let store = create(dir, RocksConfig::default());
    let mut hashes = Vec::with_capacity(READ_SET);
    for _ in 0..READ_SET / 1000 {
        let mut b = WriteBatch::new();
        for _ in 0..1000 {
            let (h, e) = object(&mut rng, 64, 1984);
            hashes.push(h);
            b.put_object(h, e);
        }
        store.write(b, WriteMode::Buffered).expect("write");
    }
    store.compact().expect("compact");
    hashes
}

/// Writes dirty pages back and drops the OS page cache (Linux, root only).
fn drop_page_cache() -> std::io::Result<()> {
    std::process::Command::new("sync").status()?;
    std::fs::write("/proc/sys/vm/drop_caches", "3\n")
}

fn point_reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let hashes = read_store(dir.path());
    // 8 MiB of block cache against ~200 MiB of data: a random object is
    // almost never in RocksDB's cache.
    let config = RocksConfig {
        block_cache_bytes: 8 << 20,
        ..RocksConfig::default()
    };
    let opened = Instant::now();
    let store = RocksStore::open(dir.path(), &config).expect("reopen");
    report(
        "objstore open (200K objects, compacted)",
        Latency::from_samples(vec![opened.elapsed()]),
    );

    let mut rng = SplitMix64::new(3);
    let mut pick = || hashes[usize::try_from(rng.below(hashes.len() as u64)).unwrap_or(0)];
    // Truly cold: the OS page cache dropped too, so each read of a random
    // object goes to the disk. Only root may drop it; 1,000 reads touch
    // about 0.5% of the data blocks, so they stay cold throughout.
    match drop_page_cache() {
        Ok(()) => {
            let cold = Latency::measure(1000, || {
                black_box(store.get(&pick()).expect("get").expect("present"));
            });
            report("objstore point read cold (page cache dropped)", cold);
            target(
                "objstore cold point read P99 < 2 ms",
                cold.p99 < Duration::from_millis(2),
                &format!("{:.2?}", cold.p99),
            );
        }
        Err(why) => note(&format!(
            "objstore point read cold (page cache dropped) SKIPPED: {why}"
        )),
    }
    let began = Instant::now();
    report(
        "objstore point read cold-ish (random of 200K)",
        Latency::measure(20_000, || {
            black_box(store.get(&pick()).expect("get").expect("present"));
        }),
    );
    objects_per_second("objstore point read cold-ish", 22_000, began.elapsed());

    let hot: Vec<Hash> = hashes[..100].to_vec();
    for h in &hot {
        store.get(h).expect("warm");
    }
    let mut i = 0;
    let began = Instant::now();
    report(
        "objstore point read hot (100 objects)",
        Latency::measure(100_000, || {
            i = (i + 1) % hot.len();
            black_box(store.get(&hot[i]).expect("get").expect("present"));
        }),
    );
    objects_per_second("objstore point read hot", 110_000, began.elapsed());

    let absent = HashAlgorithm::Blake3.digest(b"absent");
    report(
        "objstore contains absent (bloom filter)",
        Latency::measure(100_000, || {
            black_box(store.contains(&absent).expect("contains"));
        }),
    );

    let mut rng = SplitMix64::new(4);
    let began = Instant::now();
    report(
        "objstore multi-get 100 random of 200K",
        Latency::measure(1000, || {
            let ask: Vec<Hash> = (0..100)
                .map(|_| hashes[usize::try_from(rng.below(hashes.len() as u64)).unwrap_or(0)])
                .collect();
            black_box(store.get_many(&ask).expect("get_many"));
        }),
    );
    objects_per_second("objstore multi-get 100 random", 1100 * 100, began.elapsed());

    let mut group = c.benchmark_group("objstore_read");
    let mut rng = SplitMix64::new(5);
    group.bench_function("point_cold_ish", |b| {
        b.iter(|| {
            store
                .get(&hashes[usize::try_from(rng.below(hashes.len() as u64)).unwrap_or(0)])
                .expect("get")
        })
    });
    group.bench_function("point_hot", |b| b.iter(|| store.get(&hot[7]).expect("get")));
    group.throughput(Throughput::Elements(100));
    group.bench_function("multi_get_100", |b| {
        b.iter_batched(
            || {
                (0..100)
                    .map(|_| hashes[usize::try_from(rng.below(hashes.len() as u64)).unwrap_or(0)])
                    .collect::<Vec<_>>()
            },
            |ask| store.get_many(&ask).expect("get_many"),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// BlobDB on versus off for file-sized values (16 KiB – 144 KiB): batch
/// write latency, read latency after flush and compaction, bytes on disk.
fn blob_files(_c: &mut Criterion) {
    let variants = [
        ("off", None),
        (
            "on (min 16 KiB)",
            Some(BlobFiles {
                min_blob_size: 16 << 10,
                ..BlobFiles::default()
            }),
        ),
    ];
    for (label, blob) in variants {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = create(
            dir.path(),
            RocksConfig {
                blob_files: blob,
                ..RocksConfig::default()
            },
        );
        let mut rng = SplitMix64::new(6);
        let mut hashes = Vec::new();
        let batches: Vec<WriteBatch> = (0..330)
            .map(|_| {
                let mut b = WriteBatch::new();
                for _ in 0..10 {
                    let (h, e) = object(&mut rng, 16 << 10, 128 << 10);
                    hashes.push(h);
                    b.put_object(h, e);
                }
                b
            })
            .collect();
        let bytes: usize = batches.iter().map(WriteBatch::object_bytes).sum();
        let mut pool = batches.into_iter();
        let began = Instant::now();
        report(
            &format!("objstore blob files {label}: write 10 large buffered"),
            Latency::measure(300, || {
                store
                    .write(pool.next().expect("batch"), WriteMode::Buffered)
                    .expect("write")
            }),
        );
        store.compact().expect("compact");
        let write_time = began.elapsed();
        let mut rng = SplitMix64::new(8);
        report(
            &format!("objstore blob files {label}: point read large"),
            Latency::measure(3000, || {
                let h = hashes[usize::try_from(rng.below(hashes.len() as u64)).unwrap_or(0)];
                black_box(store.get(&h).expect("get").expect("present"));
            }),
        );
        let disk: u64 = std::fs::read_dir(dir.path())
            .expect("read dir")
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        #[allow(clippy::print_stderr, reason = "benchmark report")]
        {
            eprintln!(
                "blobdb: {label:<16} {:.0} MiB written + flushed + compacted in {write_time:.2?} ({:.0} MiB/s), {:.0} MiB on disk",
                bytes as f64 / 1048576.0,
                bytes as f64 / 1048576.0 / write_time.as_secs_f64(),
                disk as f64 / 1048576.0,
            );
        }
    }
}

criterion_group!(benches, batch_writes, point_reads, blob_files);
criterion_main!(benches);
