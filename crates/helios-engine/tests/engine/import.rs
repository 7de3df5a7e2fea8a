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
