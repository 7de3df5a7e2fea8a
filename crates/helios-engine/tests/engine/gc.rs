//! gc while commits continue, and the guard against forking from a
//! reclaimed snapshot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use helios_engine::{CommitMeta, Durability, EngineConfig, EngineError, HeliosEngine};
use helios_vst::Edit;

use crate::common::{path, rocks_engine, tree};

#[test]
fn gc_reclaims_unpinned_snapshots_and_reports_bytes() {
    let (_dir, engine) = rocks_engine();
    let keep = tree(&engine, 20, "keep");
    let (kept, _) = engine
        .commit(&keep, Durability::Async, CommitMeta::default())
        .unwrap();
    let (dropped, m) = engine
        .commit(
            &tree(&engine, 20, "drop"),
            Durability::Async,
            CommitMeta::default(),
        )
        .unwrap();
    engine.pin(&kept).unwrap();
    let report = engine.gc().unwrap();
    assert_eq!(report.snapshots_reclaimed, 1);
    assert_eq!(
        report.objects_reclaimed, m.new_objects,
        "every object only the dropped tree had"
    );
    assert!(report.bytes_reclaimed > 0);
    engine.verify(&kept).unwrap();
    assert!(matches!(
        engine.restore(&dropped),
        Err(EngineError::SnapshotNotFound(_))
    ));
    // Unpinning makes it collectable too.
    engine.unpin(&kept).unwrap();
    assert!(engine.gc().unwrap().objects_reclaimed > 0);
}

#[test]
fn an_unpin_queued_right_behind_its_pinned_commit_still_frees_the_snapshot() {
    // The writer groups queued requests into one RocksDB batch; the
    // unpin's delete of the pin key must win over the commit's put of it.
    let (_dir, engine) = rocks_engine();
    let base = tree(&engine, 5, "base");
    let mut ids = Vec::new();
    for i in 0..200u32 {
        let vst = base
            .edit(Edit::file(path("n.txt"), i.to_le_bytes().to_vec()))
            .unwrap();
        let meta = CommitMeta {
            pin: true,
            ..CommitMeta::default()
        };
        let (id, _) = engine.commit(&vst, Durability::Async, meta).unwrap();
        engine.unpin(&id).unwrap();
        ids.push(id);
    }
    let report = engine.gc().unwrap();
    assert_eq!(report.snapshots_reclaimed, 200);
    for id in &ids {
        assert!(engine.snapshot(id).is_err(), "{id} survived its unpin");
    }
}

#[test]
fn committing_a_fork_of_a_reclaimed_snapshot_is_refused() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let base = tree(&engine, 10, "base");
    engine
        .commit(&base, Durability::Async, CommitMeta::default())
        .unwrap();
    engine.gc().unwrap();
    let fork = base
        .edit(Edit::file(path("new.txt"), b"x".to_vec()))
        .unwrap();
    match engine.commit(&fork, Durability::Async, CommitMeta::default()) {
        Err(EngineError::Reclaimed(_)) => {}
        other => panic!("expected Reclaimed, got {other:?}"),
    }
}

#[test]
fn committing_a_reclaimed_tree_unchanged_is_refused() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let base = tree(&engine, 10, "base");
    engine
        .commit(&base, Durability::Async, CommitMeta::default())
        .unwrap();
    engine.gc().unwrap();
    // Nothing new to write and no new tree pointing at reclaimed objects:
    // the root itself is what gc took.
    match engine.commit(&base, Durability::Async, CommitMeta::default()) {
        Err(EngineError::Reclaimed(h)) => assert_eq!(h, base.root_hash()),
        other => panic!("expected Reclaimed, got {other:?}"),
    }
}

#[test]
fn what_a_working_directory_holds_survives_gc() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = HeliosEngine::open(tmp.path().join("store"), EngineConfig::small()).unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("a"), b"a").unwrap();
    let captured = engine.capture(&work, &Default::default()).unwrap();
    let (id, _) = engine
        .commit(&captured.tree, Durability::Sync, CommitMeta::default())
        .unwrap();
    engine.record_head(&work, &id).unwrap();
    assert_eq!(engine.gc().unwrap().snapshots_reclaimed, 0);
    std::fs::write(work.join("b"), b"b").unwrap();
    let captured = engine.capture(&work, &Default::default()).unwrap();
    let (next, _) = engine
        .commit(&captured.tree, Durability::Sync, CommitMeta::default())
        .unwrap();
    engine.verify(&next).unwrap();
    engine.verify(&id).unwrap();
}

#[test]
fn gc_during_commits_never_breaks_a_pinned_snapshot() {
    let engine = Arc::new(HeliosEngine::in_memory(EngineConfig::small()).unwrap());
    let base = tree(&engine, 30, "base");
    let (root, _) = engine
        .commit(&base, Durability::Async, CommitMeta::default())
        .unwrap();
    engine.pin(&root).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Commits made so far, so that the collections below run while
    // commits do, however the threads are scheduled.
    let commits = Arc::new(AtomicUsize::new(0));
    let committers: Vec<_> = (0..2)
        .map(|t| {
            let (engine, stop, base) = (engine.clone(), stop.clone(), base.clone());
            let commits = commits.clone();
            std::thread::spawn(move || {
                let mut pinned = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let vst = base
                        .edit(Edit::file(path(&format!("t{t}/n{i}")), vec![i as u8; 100]))
                        .unwrap();
                    let meta = CommitMeta {
                        pin: true,
                        ..CommitMeta::child_of(Some(root), "")
                    };
                    let (id, _) = engine.commit(&vst, Durability::Async, meta).unwrap();
                    pinned.push(id);
                    commits.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                pinned
            })
        })
        .collect();
    let wait_for_commits = |n| {
        while commits.load(Ordering::Relaxed) < n {
            std::thread::yield_now();
        }
    };
    wait_for_commits(1);
    for _ in 0..5 {
        engine.gc().unwrap();
    }
    wait_for_commits(commits.load(Ordering::Relaxed) + 1);
    stop.store(true, Ordering::Relaxed);
    let pinned: Vec<_> = committers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    engine.gc().unwrap();
    assert!(!pinned.is_empty());
    for id in pinned.iter().chain([&root]) {
        engine.verify(id).unwrap();
    }
}

#[test]
fn tombstones_last_as_long_as_the_trees_that_may_need_them() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let old = tree(&engine, 10, "old");
    engine
        .commit(&old, Durability::Async, CommitMeta::default())
        .unwrap();
    let kept = tree(&engine, 10, "kept");
    let pinned = CommitMeta {
        pin: true,
        ..CommitMeta::default()
    };
    let (kept_id, _) = engine
        .commit(&kept, Durability::Async, pinned.clone())
        .unwrap();
    assert!(engine.gc().unwrap().objects_reclaimed > 0);
    assert!(engine.stats().tombstones > 0, "the old tree is still alive");

    // A tree read after the collection is vouched for: its edits commit.
    let restored = engine.restore(&kept_id).unwrap();
    let edited = restored
        .edit(Edit::file(path("more.txt"), b"more".to_vec()))
        .unwrap();
    engine
        .commit(&edited, Durability::Async, pinned.clone())
        .unwrap();
    // The old one is refused as long as it lives.
    let old_edit = old
        .edit(Edit::file(path("more.txt"), b"more".to_vec()))
        .unwrap();
    assert!(matches!(
        engine.commit(&old_edit, Durability::Async, CommitMeta::default()),
        Err(EngineError::Reclaimed(_))
    ));

    drop((old, old_edit, kept, restored, edited));
    engine.gc().unwrap();
    assert_eq!(
        engine.stats().tombstones,
        0,
        "no tree that could point at a reclaimed object is left"
    );
    assert_eq!(engine.verify(&kept_id).unwrap().blobs, 10);
}

#[test]
fn a_new_tree_given_hashes_the_store_does_not_hold_is_refused() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let missing = engine.algorithm().digest(b"never stored");
    let tree = engine
        .empty_tree()
        .edit(Edit::stored(
            path("a.txt"),
            helios_vst::LeafKind::File,
            missing,
            12,
        ))
        .unwrap();
    match engine.commit(&tree, Durability::Async, CommitMeta::default()) {
        Err(EngineError::MissingObject(h)) => assert_eq!(h, missing),
        other => panic!("expected MissingObject, got {other:?}"),
    }
}
