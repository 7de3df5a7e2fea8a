//! `import`: snapshots made by another store, taken in whole and durably,
//! or refused whole when any byte is not what its name says.

use helios_engine::{CommitMeta, Durability, EngineError};
use helios_types::{Hash, SnapshotId};

use crate::common::{contents, rocks_engine, tree};

/// Encoded objects and snapshot records, as `import` takes them.
type Closure = (Vec<(Hash, Vec<u8>)>, Vec<(SnapshotId, Vec<u8>)>);

/// Everything snapshot `id` of `engine` reaches: its record, and every
/// object beneath its root.
fn closure(engine: &helios_engine::HeliosEngine, id: &SnapshotId) -> Closure {
    let record = engine.snapshot(id).unwrap().encode();
    let vst = engine.restore(id).unwrap();
    let mut objects = Vec::new();
    let mut stack = vec![vst.root_hash()];
    while let Some(hash) = stack.pop() {
        let encoded = engine.object(&hash).unwrap().unwrap();
        if let Ok(tree) = helios_types::Tree::decode(&encoded) {
            stack.extend(tree.entries().iter().map(|e| e.hash));
        }
        objects.push((hash, encoded));
    }
    (objects, vec![(*id, record)])
}

#[test]
fn a_snapshot_imported_from_another_store_restores_exactly_and_survives_a_reopen() {
    let (_a_dir, a) = rocks_engine();
    let vst = tree(&a, 40, "imported");
    let (id, _) = a
        .commit(&vst, Durability::Sync, CommitMeta::child_of(None, "there"))
        .unwrap();
    let (objects, records) = closure(&a, &id);

    let (b_dir, b) = rocks_engine();
    b.import(objects, records, &[]).unwrap();
    assert_eq!(b.snapshot(&id).unwrap().label, "there");
    assert_eq!(contents(&b, &b.restore(&id).unwrap()), contents(&a, &vst));
    b.verify(&id).unwrap();
    b.close().unwrap();
    drop(b);
    let b = helios_engine::HeliosEngine::open(
        b_dir.path().join("store"),
        helios_engine::EngineConfig::small(),
    )
    .unwrap();
    assert_eq!(b.newest_snapshots(1).unwrap()[0].0, id);
}

#[test]
fn an_import_with_one_wrong_byte_is_refused_whole() {
    let (_a_dir, a) = rocks_engine();
    let vst = tree(&a, 10, "x");
    let (id, _) = a
        .commit(&vst, Durability::Sync, CommitMeta::child_of(None, "x"))
        .unwrap();
    let (mut objects, records) = closure(&a, &id);
    let last = objects.len() - 1;
    let bytes = &mut objects[last].1;
    let end = bytes.len() - 1;
    bytes[end] ^= 1;
    let (_b_dir, b) = rocks_engine();
    let err = b.import(objects, records.clone(), &[]).unwrap_err();
    assert!(matches!(err, EngineError::Corrupt { .. }), "{err}");
    assert!(matches!(
        b.snapshot(&id),
        Err(EngineError::SnapshotNotFound(_))
    ));
    // A record that is not its id's.
    let (objects, mut records) = closure(&a, &id);
    records[0].1.push(0);
    assert!(matches!(
        b.import(objects, records, &[]),
        Err(EngineError::Corrupt { .. })
    ));
}

/// A large file's chunks imported apart (`import_chunks`, as a fetch
/// does) land where a capture puts them, the store's blob files, and the
/// snapshot imported after them restores exactly; a wrong chunk is
/// refused before anything is written.
#[test]
fn chunks_imported_apart_land_in_blob_files_and_the_snapshot_restores() {
    let (_a_dir, a) = rocks_engine();
    let data = helios_workload::noise(&mut helios_workload::SplitMix64::new(9), 3 << 20);
    let vst = tree(&a, 5, "with a large file")
        .apply(&[helios_vst::Edit::file(crate::common::path("big.bin"), data)])
        .unwrap();
    let (id, _) = a
        .commit(&vst, Durability::Sync, CommitMeta::child_of(None, "large"))
        .unwrap();
    let (mut objects, records) = closure(&a, &id);
    let lists: Vec<helios_types::ChunkList> = objects
        .iter()
        .filter_map(|(_, encoded)| helios_types::ChunkList::decode(encoded).ok())
        .collect();
    assert_eq!(lists.len(), 1, "one chunk list");
    let mut chunks = Vec::new();
    for chunk in lists[0].chunks() {
        let encoded = a.object(&chunk.hash).unwrap().unwrap();
        if !chunks.iter().any(|(h, _)| *h == chunk.hash) {
            chunks.push((chunk.hash, encoded));
        }
    }
    objects.retain(|(h, _)| !chunks.iter().any(|(c, _)| c == h));

    let (b_dir, b) = rocks_engine();
    let mut wrong = chunks.clone();
    wrong[0].1[10] ^= 1;
    assert!(matches!(
        b.import_chunks(wrong),
        Err(EngineError::Corrupt { .. })
    ));
    assert!(b.object(&chunks[0].0).unwrap().is_none());
    b.import_chunks(chunks).unwrap();
    b.import(objects, records, &[]).unwrap();
    assert_eq!(contents(&b, &b.restore(&id).unwrap()), contents(&a, &vst));
    b.verify(&id).unwrap();

    let read_only = helios_objstore::RocksConfig {
        read_only: true,
        ..helios_objstore::RocksConfig::default()
    };
    let store = helios_objstore::RocksStore::open(b_dir.path().join("store"), &read_only).unwrap();
    let stats = store.stats().unwrap();
    assert!(
        stats.blob_bytes >= 2 << 20,
        "chunks not in blob files: {stats:?}"
    );
}
