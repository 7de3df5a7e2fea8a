//! Property tests: commit → restore is identity, snapshots are isolated
//! from later commits, and gc keeps exactly what refs and pins reach.

use std::collections::BTreeMap;

use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_vst::Edit;
use proptest::prelude::*;

use crate::common::{contents, path};

fn file_map() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    prop::collection::btree_map(
        prop::sample::select(vec!["a", "b", "c/d", "c/e", "f/g/h", "f/g/i", "j/k"]),
        prop::collection::vec(any::<u8>(), 0..64),
        1..7,
    )
    .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn build(engine: &HeliosEngine, files: &BTreeMap<String, Vec<u8>>) -> helios_vst::Vst {
    let edits: Vec<Edit> = files
        .iter()
        .map(|(p, b)| Edit::file(path(p), b.clone()))
        .collect();
    engine.empty_tree().apply(&edits).unwrap()
}

fn durability() -> impl Strategy<Value = Durability> {
    prop::sample::select(vec![
        Durability::Memory,
        Durability::Async,
        Durability::Sync,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn commit_then_restore_is_identity_even_cold(files in file_map(), d in durability()) {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s");
        let engine = HeliosEngine::open(&store, EngineConfig::small()).unwrap();
        let vst = build(&engine, &files);
        let (id, _) = engine.commit(&vst, d, CommitMeta::default()).unwrap();
        let restored = engine.restore(&id).unwrap();
        prop_assert_eq!(restored.root_hash(), vst.root_hash());
        let expected: Vec<(String, Vec<u8>)> = files.clone().into_iter().collect();
        prop_assert_eq!(contents(&engine, &restored), expected.clone());
        drop(engine);
        if d != Durability::Memory {
            let engine = HeliosEngine::open(&store, EngineConfig::small()).unwrap();
            let cold = engine.restore(&id).unwrap();
            prop_assert_eq!(contents(&engine, &cold), expected);
        }
    }

    #[test]
    fn a_snapshot_never_sees_later_commits(
        base in file_map(),
        edits in prop::collection::vec((0usize..7, prop::collection::vec(any::<u8>(), 0..16)), 1..6),
    ) {
        let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
        let vst = build(&engine, &base);
        let (id, _) = engine.commit(&vst, Durability::Async, CommitMeta::default()).unwrap();
        let before = contents(&engine, &engine.restore(&id).unwrap());
        let names = ["a", "b", "c/d", "c/e", "f/g/h", "f/g/i", "j/k"];
        let mut child = engine.restore(&id).unwrap();
        for (i, bytes) in edits {
            child = child.edit(Edit::file(path(names[i]), bytes)).unwrap();
            engine.commit(&child, Durability::Async, CommitMeta::child_of(Some(id), "child")).unwrap();
        }
        engine.flush().unwrap();
        prop_assert_eq!(contents(&engine, &engine.restore(&id).unwrap()), before);
    }

    #[test]
    fn gc_keeps_what_is_reachable_and_reclaims_the_rest(
        trees in prop::collection::vec(file_map(), 2..6),
        keep in prop::collection::vec(any::<bool>(), 6),
    ) {
        let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
        let ids: Vec<_> = trees
            .iter()
            .map(|f| engine.commit(&build(&engine, f), Durability::Async, CommitMeta::default()).unwrap().0)
            .collect();
        for (i, id) in ids.iter().enumerate() {
            if keep[i] {
                if i % 2 == 0 { engine.pin(id).unwrap() } else { engine.set_ref(&format!("r{i}"), id).unwrap() }
            }
        }
        engine.gc().unwrap();
        for (i, id) in ids.iter().enumerate() {
            if keep[i] {
                engine.verify(id).unwrap();
            } else {
                let gone = engine.restore(id);
                prop_assert!(
                    matches!(gone, Err(helios_engine::EngineError::SnapshotNotFound(_))),
                    "unreachable snapshot {} survived", i
                );
            }
        }
        // What survived is exactly what the kept trees reach: a second
        // collection marks the same objects and reclaims nothing.
        let again = engine.gc().unwrap();
        prop_assert_eq!(again.objects_reclaimed, 0);
        if !keep.iter().take(ids.len()).any(|k| *k) {
            prop_assert_eq!(again.marked, 0);
        }
    }
}
