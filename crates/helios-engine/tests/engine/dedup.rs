//! Deduplication on a search-like trace: 1,000 snapshots, each editing 1–5
//! files of a 10K-file tree, parents picked with backtracking. Stored bytes
//! are compared with the sum of every snapshot's logical size.

use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_vst::Edit;

use crate::common::path;

#[test]
fn search_trace_of_1000_snapshots_dedups_above_95_percent() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let mut rng = 42u64;
    let mut next = move |n: u64| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let files: Vec<Edit> = (0..10_000)
        .map(|i| {
            Edit::file(
                path(&format!("m{}/d{}/f{i}.rs", i % 10, i % 97)),
                format!("// file {i}\n").repeat(40).into_bytes(),
            )
        })
        .collect();
    let base = engine.empty_tree().apply(&files).unwrap();
    let (root, _) = engine
        .commit(&base, Durability::Async, CommitMeta::default())
        .unwrap();
    let mut nodes = vec![(root, base)];
    for step in 0..999u64 {
        let (parent_id, parent) = nodes[next(nodes.len() as u64) as usize].clone();
        let edits: Vec<Edit> = (0..1 + next(5))
            .map(|k| {
                let i = next(10_000);
                Edit::file(
                    path(&format!("m{}/d{}/f{i}.rs", i % 10, i % 97)),
                    format!("// edit {step} {k}\n").repeat(40).into_bytes(),
                )
            })
            .collect();
        let child = parent.apply(&edits).unwrap();
        let (id, _) = engine
            .commit(
                &child,
                Durability::Async,
                CommitMeta::child_of(Some(parent_id), ""),
            )
            .unwrap();
        nodes.push((id, child));
    }
    engine.flush().unwrap();
    let stats = engine.stats();
    assert_eq!(stats.commits, 1000);
    let ratio = stats.dedup_ratio();
    eprintln!(
        "dedup: {} logical bytes, {} stored, ratio {:.4}",
        stats.logical_bytes, stats.new_bytes, ratio
    );
    assert!(ratio > 0.95, "dedup ratio {ratio}");
}
