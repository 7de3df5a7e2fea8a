//! Measures chunk-size candidates on real files: for each pair OLD NEW
//! (two versions of one file), how many bytes storing NEW costs once OLD
//! is stored (new chunks plus NEW's chunk list), against the whole file,
//! and how fast each candidate cuts.
//!
//! `cargo run --release -p helios-types --example chunk_sizes -- OLD NEW [OLD NEW ...]`

#![allow(clippy::print_stdout, reason = "the report is the output")]

use std::collections::HashSet;
use std::time::Instant;

use helios_types::file::ChunkParams;
use helios_types::{Blob, Hash, HashAlgorithm};

fn chunks(params: ChunkParams, data: &[u8]) -> Vec<(Hash, usize)> {
    let mut at = 0;
    params
        .chunk_lengths(data)
        .map(|len| {
            let hash = Blob::hash_of(HashAlgorithm::Blake3, &data[at..at + len]);
            at += len;
            (hash, len)
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let candidates = [8u32, 16, 32, 64, 128, 256].map(|avg_kib| ChunkParams {
        min: avg_kib << 8,
        avg: avg_kib << 10,
        max: avg_kib << 12,
    });
    for pair in args.chunks(2) {
        let old = std::fs::read(&pair[0]).expect("OLD readable");
        let new = std::fs::read(&pair[1]).expect("NEW readable");
        println!(
            "{} -> {} ({} -> {} bytes)",
            pair[0],
            pair[1],
            old.len(),
            new.len()
        );
        for params in candidates {
            let started = Instant::now();
            let before: HashSet<Hash> = chunks(params, &old).into_iter().map(|c| c.0).collect();
            let after = chunks(params, &new);
            let secs = started.elapsed().as_secs_f64();
            let list = after.len() * 36;
            let mut seen = HashSet::new();
            let fresh: usize = after
                .iter()
                .filter(|(h, _)| !before.contains(h) && seen.insert(*h))
                .map(|c| c.1)
                .sum();
            println!(
                "  avg {:>3} KiB: {:>6} chunks, new chunks {:>10} B + list {:>8} B = {:>5.1} % of the file; {:>6.0} MB/s",
                params.avg >> 10,
                after.len(),
                fresh,
                list,
                100.0 * (fresh + list) as f64 / new.len() as f64,
                (old.len() + new.len()) as f64 / secs / 1e6
            );
        }
    }
}
