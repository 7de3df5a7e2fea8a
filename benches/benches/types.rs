//! helios-types: hashing small objects and throughput per algorithm, and
//! encode/decode of a 1,000-entry tree.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use helios_benches::{Latency, SplitMix64, report, source_like};
use helios_types::{Blob, EntryKind, HashAlgorithm, Name, Tree, TreeEntry};

fn thousand_entry_tree() -> Tree {
    let entries = (0..1000u64)
        .map(|i| TreeEntry {
            name: Name::new(format!("file_{i:04}.rs")).unwrap(),
            kind: EntryKind::File,
            hash: Blob::hash_of(HashAlgorithm::Blake3, &i.to_le_bytes()),
            size: i,
        })
        .collect();
    Tree::new(entries).unwrap()
}

fn hashing(c: &mut Criterion) {
    let mut rng = SplitMix64::new(7);
    let mut group = c.benchmark_group("hash");
    for alg in HashAlgorithm::ALL {
        let small = source_like(&mut rng, 64);
        group.throughput(Throughput::Bytes(64));
        group.bench_with_input(BenchmarkId::new(alg.name(), "64B"), &small, |b, d| {
            b.iter(|| Blob::hash_of(alg, black_box(d)))
        });
        report(
            &format!("hash {} 64 B blob", alg.name()),
            Latency::measure(100_000, || {
                black_box(Blob::hash_of(alg, black_box(&small)));
            }),
        );
        for (label, len) in [("4KiB", 4096), ("1MiB", 1 << 20)] {
            let data = source_like(&mut rng, len);
            group.throughput(Throughput::Bytes(len as u64));
            group.bench_with_input(BenchmarkId::new(alg.name(), label), &data, |b, d| {
                b.iter(|| Blob::hash_of(alg, black_box(d)))
            });
        }
    }
    group.finish();
}

fn tree_codec(c: &mut Criterion) {
    let tree = thousand_entry_tree();
    let encoded = tree.encode();
    let mut group = c.benchmark_group("tree_1000_entries");
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.bench_function("encode", |b| b.iter(|| black_box(&tree).encode()));
    group.bench_function("decode", |b| {
        b.iter(|| Tree::decode(black_box(&encoded)).unwrap())
    });
    group.bench_function("hash_blake3", |b| {
        b.iter(|| black_box(&tree).hash(HashAlgorithm::Blake3))
    });
    group.finish();
}

criterion_group!(benches, hashing, tree_codec);
criterion_main!(benches);
