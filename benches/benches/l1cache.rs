//! helios-l1cache: hit latency of a 4 KiB source-like object (with
//! decompression), miss latency (standalone and through `L1Cache` over
//! `MemStore`), insert throughput, compression ratio, the hit rate on a
//! Zipf trace for both eviction policies against an exact-LRU reference,
//! and the same trace and byte budget replayed through quick_cache holding
//! uncompressed objects.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use helios_benches::{Latency, SplitMix64, report, source_like};
use helios_l1cache::{
    EvictionPolicy, InsertOutcome, L1Cache, L1Config, ObjectCache, RECORD_HEADER_LEN,
};
use helios_types::store::{MemStore, ObjectStore};
use helios_types::{Blob, Hash, HashAlgorithm};

/// Prints a figure that is not a latency beside the latency lines.
fn note(line: &str) {
    #[allow(clippy::print_stderr, reason = "benchmark report")]
    {
        eprintln!("l1cache: {line}");
    }
}

/// Encoded blobs of source-like text, with their BLAKE3 hashes.
fn blobs(seed: u64, n: usize, len: impl Fn(&mut SplitMix64) -> usize) -> Vec<(Hash, Vec<u8>)> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let l = len(&mut rng);
            let encoded = Blob::new(source_like(&mut rng, l)).encode();
            (HashAlgorithm::Blake3.digest(&encoded), encoded)
        })
        .collect()
}

fn index(rng: &mut SplitMix64, n: usize) -> usize {
    usize::try_from(rng.below(n as u64)).unwrap_or(0)
}

/// Zipf-distributed ranks in `0..n` (rank 0 hottest), by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut SplitMix64) -> usize {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

fn hit_miss_insert(c: &mut Criterion) {
    let objs = blobs(1, 10_000, |_| 4096);
    let cache = ObjectCache::new(L1Config::default()).expect("default config");
    for (h, b) in &objs {
        cache.insert(*h, b);
    }
    let s = cache.stats();
    note(&format!(
        "compression ratio on 4 KiB source-like blobs: {:.2}x ({} raw bytes in {} stored, {} objects)",
        s.compression_ratio(),
        s.raw_bytes,
        s.stored_bytes,
        s.entries
    ));

    let real = repo_sources();
    if !real.is_empty() {
        let probe = ObjectCache::new(L1Config::with_capacity(64 << 20)).expect("config");
        for b in &real {
            probe.insert(HashAlgorithm::Blake3.digest(b), b);
        }
        let s = probe.stats();
        note(&format!(
            "compression ratio on this repository's .rs files as blobs: {:.2}x ({} files, {} raw bytes)",
            s.compression_ratio(),
            s.entries,
            s.raw_bytes
        ));
    }

    let mut group = c.benchmark_group("l1cache");
    group.throughput(Throughput::Bytes(4096));
    let mut rng = SplitMix64::new(2);
    group.bench_function("hit_4KiB", |b| {
        b.iter(|| black_box(cache.get(&objs[index(&mut rng, objs.len())].0)))
    });
    report(
        "l1cache hit 4 KiB source-like (decompress)",
        Latency::measure(200_000, || {
            let got = cache.get(&objs[index(&mut rng, objs.len())].0);
            assert!(got.is_some());
            black_box(got);
        }),
    );

    let mut absent = SplitMix64::new(3);
    let mut absent_hash = || {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&absent.next_u64().to_le_bytes());
        }
        Hash::from_bytes(bytes)
    };
    group.bench_function("miss_absent", |b| {
        b.iter(|| black_box(cache.get(&absent_hash())))
    });
    report(
        "l1cache miss (absent hash, standalone arena)",
        Latency::measure(200_000, || {
            black_box(cache.get(&absent_hash()));
        }),
    );

    // Insert at steady state: an 8 MiB arena cycling through 40 MB of
    // objects, so every insert compresses, evicts and writes.
    let small = ObjectCache::new(L1Config::with_capacity(8 << 20)).expect("config");
    let mut next = 0usize;
    let mut insert = || {
        let (h, b) = &objs[next % objs.len()];
        next += 1;
        black_box(small.insert(*h, b))
    };
    group.bench_function("insert_4KiB", |b| b.iter(&mut insert));
    report(
        "l1cache insert 4 KiB (compress + evict + copy)",
        Latency::measure(100_000, || {
            insert();
        }),
    );
    let s = small.stats();
    note(&format!(
        "insert steady state: {} insertions, {} evictions",
        s.insertions, s.evictions
    ));
    group.finish();

    // Through the wrapper: a miss reads MemStore (which verifies), verifies
    // again, compresses and fills.
    let store = MemStore::new(HashAlgorithm::Blake3);
    let fresh = blobs(4, 22_000, |_| 4096);
    for (h, b) in &fresh {
        store.put(*h, b.clone()).expect("mem put");
    }
    let wrapped = L1Cache::new(store, L1Config::default()).expect("config");
    let mut i = 0usize;
    report(
        "L1Cache miss over MemStore 4 KiB (read+verify+fill)",
        Latency::measure(20_000, || {
            let got = wrapped.get(&fresh[i].0).expect("get");
            i += 1;
            black_box(got);
        }),
    );
    let mut i = 0usize;
    report(
        "L1Cache hit over MemStore 4 KiB",
        Latency::measure(100_000, || {
            let got = wrapped.get(&fresh[i % 20_000].0).expect("get");
            i += 7;
            black_box(got);
        }),
    );
}

/// This workspace's Rust sources, encoded as blobs: real code beside the
/// synthetic generator.
fn repo_sources() -> Vec<Vec<u8>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && let Ok(bytes) = std::fs::read(&path)
            {
                out.push(Blob::new(bytes).encode());
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates"),
        &mut out,
    );
    out
}

/// Weighs a quick_cache entry by its bytes, as our arena is weighed.
#[derive(Clone)]
struct ByLen;

impl quick_cache::Weighter<Hash, Vec<u8>> for ByLen {
    fn weight(&self, _key: &Hash, val: &Vec<u8>) -> u64 {
        val.len() as u64
    }
}

/// The read-through replay shared by every cache: get, and on a miss put
/// the object. Counts hits after the warm-up prefix.
fn replay(trace: &[usize], warmup: usize, mut get_or_fill: impl FnMut(usize) -> bool) -> f64 {
    let mut hits = 0usize;
    for (i, &obj) in trace.iter().enumerate() {
        let hit = get_or_fill(obj);
        if i >= warmup && hit {
            hits += 1;
        }
    }
    hits as f64 / (trace.len() - warmup) as f64
}

/// Exact LRU over the same per-object charges (compressed record size) in
/// one budget: the hit rate a perfect-recency arena would reach.
fn exact_lru(trace: &[usize], warmup: usize, charge: &[u64], budget: u64) -> f64 {
    let mut last_use: HashMap<usize, u64> = HashMap::new();
    let mut order: BTreeMap<u64, usize> = BTreeMap::new();
    let mut held = 0u64;
    let mut tick = 0u64;
    replay(trace, warmup, |obj| {
        tick += 1;
        let hit = if let Some(t) = last_use.insert(obj, tick) {
            order.remove(&t);
            true
        } else {
            held += charge[obj];
            false
        };
        order.insert(tick, obj);
        while held > budget {
            let (_, victim) = order.pop_first().expect("non-empty while over budget");
            last_use.remove(&victim);
            held -= charge[victim];
        }
        hit
    })
}

type Peer = quick_cache::sync::Cache<Hash, Vec<u8>, ByLen>;

/// Replays the trace through our arena (both policies), exact LRU and
/// quick_cache at one byte budget; prints hit rates and occupancy and
/// returns the second-chance arena and quick_cache for latency runs.
fn zipf_at_budget(
    objs: &[(Hash, Vec<u8>)],
    trace: &[usize],
    warmup: usize,
    charge: &[u64],
    budget: usize,
) -> (ObjectCache, Peer) {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let mut ours_second_chance: Option<ObjectCache> = None;
    for policy in [EvictionPolicy::SecondChance, EvictionPolicy::Fifo] {
        let cache = ObjectCache::new(L1Config {
            policy,
            ..L1Config::with_capacity(budget)
        })
        .expect("config");
        let rate = replay(trace, warmup, |i| {
            let (h, b) = &objs[i];
            if cache.get(h).is_some() {
                true
            } else {
                let outcome = cache.insert(*h, b);
                debug_assert_ne!(outcome, InsertOutcome::TooLarge);
                false
            }
        });
        let s = cache.stats();
        note(&format!(
            "zipf {} MiB: helios-l1cache {policy:?} hit rate {:.2}% ({} objects held, {:.2} MiB raw in {:.2} MiB of arena, ratio {:.2}x)",
            budget >> 20,
            rate * 100.0,
            s.entries,
            mib(s.raw_bytes),
            mib(s.arena_used),
            s.compression_ratio()
        ));
        if policy == EvictionPolicy::SecondChance {
            ours_second_chance = Some(cache);
        }
    }
    let lru = exact_lru(trace, warmup, charge, budget as u64);
    note(&format!(
        "zipf {} MiB: exact LRU over the same compressed records hit rate {:.2}%",
        budget >> 20,
        lru * 100.0
    ));
    let qc: Peer = quick_cache::sync::Cache::with_weighter(objs.len(), budget as u64, ByLen);
    let rate = replay(trace, warmup, |i| {
        let (h, b) = &objs[i];
        if qc.get(h).is_some() {
            true
        } else {
            qc.insert(*h, b.clone());
            false
        }
    });
    let ours = ours_second_chance.expect("second-chance run");
    let (held_ours, held_qc) = (ours.len(), qc.len());
    note(&format!(
        "zipf {} MiB: quick_cache 0.7 (uncompressed, weight = bytes) hit rate {:.2}% ({held_qc} objects held, {:.2} MiB)",
        budget >> 20,
        rate * 100.0,
        mib(qc.weight())
    ));
    note(&format!(
        "zipf {} MiB: helios-l1cache holds {held_ours} objects, quick_cache {held_qc} ({:.2}x as many)",
        budget >> 20,
        held_ours as f64 / held_qc.max(1) as f64
    ));
    (ours, qc)
}

fn zipf_side_by_side(c: &mut Criterion) {
    const OBJECTS: usize = 20_000;
    const ACCESSES: usize = 1_000_000;
    const WARMUP: usize = 200_000;
    let objs = blobs(5, OBJECTS, |rng| 1024 + index(rng, 6 * 1024));
    let raw_total: usize = objs.iter().map(|(_, b)| b.len()).sum();
    let zipf = Zipf::new(OBJECTS, 1.0);
    let mut rng = SplitMix64::new(6);
    // Ranks map to objects through the generation order, which is random
    // with respect to size.
    let trace: Vec<usize> = (0..ACCESSES).map(|_| zipf.sample(&mut rng)).collect();
    note(&format!(
        "zipf trace: {ACCESSES} accesses (s = 1.0, first {WARMUP} not counted) over {OBJECTS} objects of 1-7 KiB, {} MiB raw",
        raw_total >> 20
    ));
    let charge: Vec<u64> = objs
        .iter()
        .map(|(_, b)| (arena_stored_len(b) + RECORD_HEADER_LEN) as u64)
        .collect();
    let (ours, qc) = zipf_at_budget(&objs, &trace, WARMUP, &charge, 16 << 20);
    drop(zipf_at_budget(&objs, &trace, WARMUP, &charge, 32 << 20));

    // Hit latency on the trace's hot objects, in trace order, counting
    // only keys each cache holds.
    let hot_ours: Vec<Hash> = trace
        .iter()
        .take(50_000)
        .map(|&i| objs[i].0)
        .filter(|h| ours.contains(h))
        .collect();
    let hot_qc: Vec<Hash> = trace
        .iter()
        .take(50_000)
        .map(|&i| objs[i].0)
        .filter(|h| qc.get(h).is_some())
        .collect();
    let mut group = c.benchmark_group("zipf_hit");
    let mut i = 0usize;
    group.bench_function("helios_l1cache", |b| {
        b.iter(|| {
            i += 1;
            black_box(ours.get(&hot_ours[i % hot_ours.len()]))
        })
    });
    let mut j = 0usize;
    group.bench_function("quick_cache", |b| {
        b.iter(|| {
            j += 1;
            black_box(qc.get(&hot_qc[j % hot_qc.len()]))
        })
    });
    group.finish();
    let mut i = 0usize;
    report(
        "zipf hit helios-l1cache (decompress into Vec)",
        Latency::measure(200_000, || {
            i += 1;
            black_box(ours.get(&hot_ours[i % hot_ours.len()]));
        }),
    );
    let mut j = 0usize;
    report(
        "zipf hit quick_cache (clone Vec)",
        Latency::measure(200_000, || {
            j += 1;
            black_box(qc.get(&hot_qc[j % hot_qc.len()]));
        }),
    );
}

/// The stored length our arena would give `bytes`, read back from a
/// one-object cache so the bench uses the crate's own rule.
fn arena_stored_len(bytes: &[u8]) -> usize {
    thread_local! {
        static PROBE: ObjectCache = ObjectCache::new(L1Config::with_capacity(1 << 20)).expect("config");
    }
    PROBE.with(|probe| {
        let h = Hash::from_bytes([7; 32]);
        probe.remove(&h);
        probe.insert(h, bytes);
        probe.entry_info(&h).map_or(bytes.len(), |e| e.stored_len)
    })
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = hit_miss_insert, zipf_side_by_side
}
criterion_main!(benches);
