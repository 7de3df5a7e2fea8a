//! Large files in the engine: chunked content commits, reads by range,
//! survives gc while a live tree names it and is reclaimed whole when none
//! does; a capture whose chunks gc took before the commit is refused, never
//! committed dangling.

use helios_engine::{CommitMeta, Durability, EngineConfig, EngineError, HeliosEngine};
use std::collections::HashSet;

use helios_types::file::{CHUNKED_FROM, ChunkParams};
use helios_types::{Blob, Hash, HashAlgorithm};
use helios_vst::Edit;

use crate::common::path;

/// Incompressible bytes, a different run for each seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    helios_workload::noise(&mut helios_workload::SplitMix64::new(seed), len)
}

#[test]
fn a_large_file_written_in_memory_commits_chunked_and_reads_by_range() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let data = noise(1, 5 << 20);
    let vst = engine
        .empty_tree()
        .apply(&[Edit::file(path("data/big.bin"), data.clone())])
        .unwrap();
    // Readable before the commit (pending) and after (stored, chunked).
    let before = engine
        .read_file(&vst, &path("data/big.bin"), 100..200)
        .unwrap();
    assert_eq!(before, data[100..200]);
    let (id, metrics) = engine
        .commit(&vst, Durability::Sync, CommitMeta::default())
        .unwrap();
    // About 160 chunks of 32 KiB on average, the list and two trees.
    assert!(metrics.new_objects > 100, "{metrics:?}");
    let stored = engine.restore(&id).unwrap();
    let piece = engine
        .read_file(&stored, &path("data/big.bin"), (4 << 20) - 7..(4 << 20) + 9)
        .unwrap();
    assert_eq!(piece, data[(4 << 20) - 7..(4 << 20) + 9]);
    assert_eq!(
        engine
            .read_file(&stored, &path("data/big.bin"), 0..u64::MAX)
            .unwrap(),
        data
    );
    let report = engine.verify(&id).unwrap();
    assert_eq!(report.chunk_lists, 1);
    assert!(report.blobs > 100, "{report:?}");
    match engine.read_file(&stored, &path("data"), 0..1) {
        Err(EngineError::NotAFile(p)) => assert_eq!(p, path("data")),
        other => panic!("a directory read as a file: {other:?}"),
    }
    match engine.read_file(&stored, &path("data/none"), 0..1) {
        Err(EngineError::NoSuchFile(_)) => {}
        other => panic!("a missing file: {other:?}"),
    }

    // An edit in the middle stores the chunks around it and a new list.
    let mut edited = data.clone();
    edited[3 << 20] ^= 0xff;
    let child = stored
        .apply(&[Edit::file(path("data/big.bin"), edited)])
        .unwrap();
    let (_, metrics) = engine
        .commit(&child, Durability::Sync, CommitMeta::child_of(Some(id), ""))
        .unwrap();
    // The chunk around the byte (one or two), the chunk list, two trees.
    assert!(metrics.new_objects <= 6, "{metrics:?}");
    assert!(metrics.new_objects_size <= 300 << 10, "{metrics:?}");
}

#[test]
fn gc_keeps_the_chunks_a_live_file_names_and_reclaims_a_dropped_one_whole() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let kept = noise(2, 3 << 20);
    let dropped = noise(3, 3 << 20);
    let keep = engine
        .empty_tree()
        .apply(&[Edit::file(path("kept.bin"), kept.clone())])
        .unwrap();
    let (keep_id, _) = engine
        .commit(&keep, Durability::Sync, CommitMeta::default())
        .unwrap();
    engine.pin(&keep_id).unwrap();
    let drop = engine
        .empty_tree()
        .apply(&[Edit::file(path("dropped.bin"), dropped)])
        .unwrap();
    let (_, made) = engine
        .commit(&drop, Durability::Sync, CommitMeta::default())
        .unwrap();
    let report = engine.gc().unwrap();
    // Every object the dropped snapshot made: chunks, list and root tree.
    assert_eq!(report.objects_reclaimed, made.new_objects, "{report:?}");
    let chunks: HashSet<Hash> = {
        let mut at = 0;
        ChunkParams::FORMAT
            .chunk_lengths(&kept)
            .map(|len| {
                at += len;
                Blob::hash_of(HashAlgorithm::Blake3, &kept[at - len..at])
            })
            .collect()
    };
    // The chunks, the chunk list and the root tree.
    assert_eq!(report.marked, chunks.len() as u64 + 2, "{report:?}");
    engine.verify(&keep_id).unwrap();
    let stored = engine.restore(&keep_id).unwrap();
    assert_eq!(
        engine
            .read_file(&stored, &path("kept.bin"), 0..u64::MAX)
            .unwrap(),
        kept
    );
}

#[test]
fn a_capture_whose_chunks_gc_took_is_refused_and_a_new_capture_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = HeliosEngine::open(tmp.path().join("store"), EngineConfig::small()).unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let data = noise(4, (CHUNKED_FROM as usize) * 2 + 17);
    std::fs::write(work.join("big.bin"), &data).unwrap();
    let captured = engine.capture(&work, &Default::default()).unwrap();
    // Nothing names the chunks the capture stored yet: gc takes them.
    let report = engine.gc().unwrap();
    assert!(report.objects_reclaimed > 10, "{report:?}");
    match engine.commit(&captured.tree, Durability::Sync, CommitMeta::default()) {
        Err(EngineError::Reclaimed(_) | EngineError::MissingObject(_)) => {}
        other => panic!("a commit naming reclaimed chunks: {other:?}"),
    }
    // Captured again (the stat cache was not trusted: nothing committed),
    // the chunks are stored again and the commit holds.
    let again = engine.capture(&work, &Default::default()).unwrap();
    let (id, _) = engine
        .commit(&again.tree, Durability::Sync, CommitMeta::default())
        .unwrap();
    engine.verify(&id).unwrap();
    let stored = engine.restore(&id).unwrap();
    assert_eq!(
        engine
            .read_file(&stored, &path("big.bin"), 0..u64::MAX)
            .unwrap(),
        data
    );
}
