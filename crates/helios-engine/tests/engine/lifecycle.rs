//! End-to-end lifecycle on RocksDB: commit, restore, diff, refs, pins,
//! reopen, verify, errors.

use helios_engine::{CommitMeta, Durability, EngineConfig, EngineError, HeliosEngine};
use helios_types::SnapshotId;
use helios_types::file::FileError;
use helios_types::store::StoreError;
use helios_vst::{Change, Edit};

use crate::common::{contents, path, rocks_engine, tree};

#[test]
fn commit_restore_diff_reopen_verify() {
    let (dir, engine) = rocks_engine();
    let base = tree(&engine, 50, "v1");
    let (a, m1) = engine
        .commit(&base, Durability::Sync, CommitMeta::child_of(None, "base"))
        .unwrap();
    assert_eq!(
        m1.new_objects as usize,
        50 + 1 + 7 + 21,
        "50 blobs, the root, 7 + 21 directories"
    );
    assert!(m1.new_objects_size > 0);

    let edited = base
        .edit(Edit::file(path("d1/s1/f1.rs"), b"changed".to_vec()))
        .unwrap();
    let (b, m2) = engine
        .commit(
            &edited,
            Durability::Async,
            CommitMeta::child_of(Some(a), "edit"),
        )
        .unwrap();
    assert_eq!(m2.new_objects, 4, "one blob and three trees on its path");

    let changes = engine.diff(&a, &b).unwrap();
    assert_eq!(changes.len(), 1);
    assert!(
        matches!(&changes[0], Change::Modified { path: p, .. } if p.to_string() == "d1/s1/f1.rs")
    );
    assert_eq!(engine.restore(&a).unwrap().root_hash(), base.root_hash());
    let log = engine.log(&b, 10).unwrap();
    assert_eq!(
        log.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![b, a]
    );
    assert_eq!(log[0].1.label, "edit");
    engine.set_ref("main", &b).unwrap();
    engine.pin(&a).unwrap();
    engine.close().unwrap();
    assert!(matches!(engine.restore(&a), Err(EngineError::Closed)));
    drop(engine);

    let engine = HeliosEngine::open(dir.path().join("store"), EngineConfig::small()).unwrap();
    assert_eq!(engine.get_ref("main").unwrap(), Some(b));
    let restored = engine.restore(&b).unwrap();
    assert_eq!(restored.root_hash(), edited.root_hash());
    assert_eq!(contents(&engine, &restored), contents(&engine, &edited));
    let report = engine.verify(&b).unwrap();
    assert_eq!(report.blobs, 50);
    assert_eq!(report.trees, 29);
    assert_eq!(engine.list_snapshots().unwrap().len(), 2);
    assert_eq!(engine.resolve(&b.to_hex()[..10]).unwrap(), b);
    assert!(matches!(engine.stats().cold_restores, 1));
}

#[test]
fn unknown_ids_and_bad_input_are_typed_errors() {
    let (_dir, engine) = rocks_engine();
    let missing = SnapshotId::from_bytes([9; 32]);
    assert!(
        matches!(engine.restore(&missing), Err(EngineError::SnapshotNotFound(id)) if id == missing)
    );
    assert!(matches!(
        engine.snapshot(&missing),
        Err(EngineError::SnapshotNotFound(_))
    ));
    assert!(matches!(
        engine.verify(&missing),
        Err(EngineError::SnapshotNotFound(_))
    ));
    assert!(matches!(
        engine.set_ref("x", &missing),
        Err(EngineError::SnapshotNotFound(_))
    ));
    assert!(matches!(
        engine.pin(&missing),
        Err(EngineError::SnapshotNotFound(_))
    ));
    assert!(matches!(engine.resolve("zz"), Err(EngineError::NotAnId(_))));
    assert!(matches!(
        engine.resolve("abcdef"),
        Err(EngineError::UnknownPrefix(_))
    ));
    let (id, _) = engine
        .commit(
            &tree(&engine, 3, "x"),
            Durability::Async,
            CommitMeta::default(),
        )
        .unwrap();
    assert!(matches!(
        engine.set_ref("", &id),
        Err(EngineError::BadRefName(_))
    ));
    let sha = helios_vst::Vst::new(helios_types::HashAlgorithm::Sha256);
    assert!(matches!(
        engine.commit(&sha, Durability::Async, CommitMeta::default()),
        Err(EngineError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn memory_commits_restore_but_cannot_be_named_or_verified() {
    let (_dir, engine) = rocks_engine();
    let (id, m) = engine
        .commit(
            &tree(&engine, 5, "m"),
            Durability::Memory,
            CommitMeta::default(),
        )
        .unwrap();
    assert!(m.new_objects > 0);
    assert_eq!(engine.restore(&id).unwrap().stats().unwrap().files, 5);
    assert!(matches!(
        engine.verify(&id),
        Err(EngineError::NotDurable(_))
    ));
    assert!(matches!(
        engine.set_ref("m", &id),
        Err(EngineError::NotDurable(_))
    ));
    engine.flush().unwrap();
    assert!(
        engine.stats().l2_objects_written == 0,
        "memory commits never reach L2"
    );
}

#[test]
fn refs_compare_and_swap() {
    let (_dir, engine) = rocks_engine();
    let (a, _) = engine
        .commit(
            &tree(&engine, 2, "a"),
            Durability::Async,
            CommitMeta::default(),
        )
        .unwrap();
    let (b, _) = engine
        .commit(
            &tree(&engine, 2, "b"),
            Durability::Async,
            CommitMeta::default(),
        )
        .unwrap();
    assert!(engine.compare_and_swap_ref("head", None, &a).unwrap());
    assert!(
        !engine.compare_and_swap_ref("head", None, &b).unwrap(),
        "exists already"
    );
    assert!(
        !engine.compare_and_swap_ref("head", Some(b), &b).unwrap(),
        "points at a, not b"
    );
    assert!(engine.compare_and_swap_ref("head", Some(a), &b).unwrap());
    assert_eq!(engine.refs().unwrap().get("head"), Some(&b));
    assert!(engine.delete_ref("head").unwrap());
    assert!(!engine.delete_ref("head").unwrap());
    assert_eq!(engine.get_ref("head").unwrap(), None);
}

#[test]
fn corrupted_object_fails_verify_with_its_hash() {
    let store = std::sync::Arc::new(helios_objstore::MemStore::new(
        helios_types::HashAlgorithm::Blake3,
    ));
    let engine = HeliosEngine::over_store(store.clone(), EngineConfig::small()).unwrap();
    let vst = tree(&engine, 4, "c");
    let (id, _) = engine
        .commit(&vst, Durability::Sync, CommitMeta::default())
        .unwrap();
    let victim = vst.get(&path("d1/s1/f1.rs")).unwrap().unwrap().hash;
    store.corrupt(victim, b"not the file".to_vec());
    // The file's path and the damaged object's hash are both named.
    match engine.verify(&id) {
        Err(EngineError::File { path: at, source }) => {
            assert_eq!(at, path("d1/s1/f1.rs"));
            match *source {
                FileError::Store(StoreError::Corrupt { hash, .. }) => assert_eq!(hash, victim),
                other => panic!("expected corruption of {victim}, got {other:?}"),
            }
        }
        other => panic!("expected corruption of {victim}, got {other:?}"),
    }
}

#[test]
fn stats_report_latencies_and_dedup() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    // 1 KiB files: realistic sizes, so trees do not dominate the bytes.
    let edits: Vec<Edit> = (0..100)
        .map(|i| Edit::file(path(&format!("d{}/f{i}", i % 5)), vec![i as u8; 1024]))
        .collect();
    let mut vst = engine.empty_tree().apply(&edits).unwrap();
    let mut parent = None;
    for i in 0..20 {
        vst = vst
            .edit(Edit::file(
                path("d0/f0"),
                format!("v{i}").repeat(100).into_bytes(),
            ))
            .unwrap();
        let (id, _) = engine
            .commit(&vst, Durability::Async, CommitMeta::child_of(parent, ""))
            .unwrap();
        parent = Some(id);
    }
    engine.flush().unwrap();
    let s = engine.stats();
    assert_eq!(s.commits, 20);
    assert_eq!(s.commit_latency.count, 20);
    assert!(s.commit_latency.p99 >= s.commit_latency.p50);
    assert!(
        s.dedup_ratio() > 0.5,
        "20 snapshots of 100 files, one edit each: {}",
        s.dedup_ratio()
    );
    assert_eq!(s.in_flight, 0);
    assert!(s.l2_objects_written >= s.new_objects);
}

/// A store whose writes start failing after a number of successes, like a
/// disk that fills up.
struct FailingStore {
    inner: helios_objstore::MemStore,
    writes_left: std::sync::atomic::AtomicUsize,
}

impl helios_types::store::ObjectStore for FailingStore {
    fn algorithm(&self) -> helios_types::HashAlgorithm {
        self.inner.algorithm()
    }
    fn get(&self, h: &helios_types::Hash) -> helios_types::store::StoreResult<Option<Vec<u8>>> {
        self.inner.get(h)
    }
    fn contains(&self, h: &helios_types::Hash) -> helios_types::store::StoreResult<bool> {
        self.inner.contains(h)
    }
    fn write(
        &self,
        batch: helios_types::store::WriteBatch,
        mode: helios_types::store::WriteMode,
    ) -> helios_types::store::StoreResult<()> {
        use std::sync::atomic::Ordering;
        if self
            .writes_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            return Err(helios_types::store::StoreError::NoSpace {
                op: "write",
                source: "disk full (injected)".into(),
            });
        }
        self.inner.write(batch, mode)
    }
    fn objects(
        &self,
        kind: Option<helios_types::ObjectKind>,
    ) -> helios_types::store::StoreResult<helios_types::store::ObjectIter<'_>> {
        self.inner.objects(kind)
    }
    fn get_meta(&self, key: &[u8]) -> helios_types::store::StoreResult<Option<Vec<u8>>> {
        self.inner.get_meta(key)
    }
    fn meta_with_prefix(
        &self,
        prefix: &[u8],
    ) -> helios_types::store::StoreResult<helios_types::store::MetaIter<'_>> {
        self.inner.meta_with_prefix(prefix)
    }
    fn sync(&self) -> helios_types::store::StoreResult<()> {
        self.inner.sync()
    }
}

#[test]
fn a_full_disk_fails_the_commit_and_writes_resume_once_space_is_freed() {
    let store = std::sync::Arc::new(FailingStore {
        inner: helios_objstore::MemStore::new(helios_types::HashAlgorithm::Blake3),
        writes_left: std::sync::atomic::AtomicUsize::new(1),
    });
    let engine = HeliosEngine::over_store(store.clone(), EngineConfig::small()).unwrap();
    let first = tree(&engine, 5, "ok");
    let (ok_id, _) = engine
        .commit(&first, Durability::Sync, CommitMeta::default())
        .unwrap();
    let second = first.edit(Edit::file(path("x"), b"x".to_vec())).unwrap();
    let failed = engine.commit(&second, Durability::Sync, CommitMeta::default());
    assert!(
        matches!(&failed, Err(EngineError::WriteFailed(e))
            if matches!(**e, helios_types::store::StoreError::NoSpace { .. })),
        "{failed:?}"
    );
    // While the store refuses writes, a new commit is refused up front
    // (after one retry), and flush says why.
    let third = second.edit(Edit::file(path("y"), b"y".to_vec())).unwrap();
    assert!(
        engine
            .commit(&third, Durability::Sync, CommitMeta::default())
            .is_err()
    );
    assert!(matches!(engine.flush(), Err(EngineError::WriteFailed(_))));
    engine.verify(&ok_id).unwrap();

    // Space freed: the failed commit was kept, in order, and lands; the
    // next one, which shares its objects, is whole.
    store
        .writes_left
        .store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
    engine.flush().unwrap();
    let (third_id, _) = engine
        .commit(&third, Durability::Sync, CommitMeta::default())
        .unwrap();
    engine.close().unwrap();
    let reopened = HeliosEngine::over_store(store, EngineConfig::small()).unwrap();
    reopened.verify(&third_id).unwrap();
    assert_eq!(
        reopened.restore(&third_id).unwrap().root_hash(),
        third.root_hash()
    );
}

#[test]
fn close_names_the_queued_snapshots_it_could_not_write() {
    let store = std::sync::Arc::new(FailingStore {
        inner: helios_objstore::MemStore::new(helios_types::HashAlgorithm::Blake3),
        writes_left: std::sync::atomic::AtomicUsize::new(0),
    });
    let engine = HeliosEngine::over_store(store, EngineConfig::small()).unwrap();
    let vst = tree(&engine, 3, "queued");
    let (id, _) = engine
        .commit(&vst, Durability::Async, CommitMeta::default())
        .unwrap();
    match engine.close() {
        Err(EngineError::NotWritten { ids, .. }) => assert_eq!(ids, vec![id]),
        other => panic!("expected NotWritten, got {other:?}"),
    }
}

#[test]
fn bad_configuration_is_a_typed_error_naming_the_field() {
    let config = EngineConfig {
        queue_capacity: 0,
        ..EngineConfig::small()
    };
    match HeliosEngine::in_memory(config) {
        Err(EngineError::Config { field, value, .. }) => {
            assert_eq!((field, value), ("queue_capacity", 0));
        }
        other => panic!("expected Config, got {other:?}"),
    }
    let mut config = EngineConfig::small();
    config.l1.capacity = 0;
    assert!(matches!(
        HeliosEngine::in_memory(config),
        Err(EngineError::L1Config(_))
    ));
}

#[test]
fn the_hot_table_lets_go_of_stored_snapshots_and_keeps_memory_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        hot_snapshots: 8,
        ..EngineConfig::small()
    };
    let engine = HeliosEngine::open(dir.path().join("store"), config).unwrap();
    let base = tree(&engine, 10, "hot");
    let commit = |i: usize, durability| {
        let vst = base
            .edit(Edit::file(path("n.txt"), format!("{i}").into_bytes()))
            .unwrap();
        let (id, _) = engine
            .commit(&vst, durability, CommitMeta::child_of(None, "n"))
            .unwrap();
        (id, vst)
    };
    let memory: Vec<_> = (0..20).map(|i| commit(i, Durability::Memory)).collect();
    let durable: Vec<_> = (20..60).map(|i| commit(i, Durability::Async)).collect();
    engine.flush().unwrap();
    // One more commit lets the table trim what the flush made letting go of.
    let _ = commit(60, Durability::Async);

    let held = engine.stats().hot_snapshots;
    assert!(
        (20..=20 + 8 + 2).contains(&held),
        "{held} snapshots held: the 20 memory ones and at most about the budget of 8"
    );
    for (id, vst) in memory.iter().chain(&durable) {
        let restored = engine.restore(id).unwrap();
        assert_eq!(restored.root_hash(), vst.root_hash(), "{id}");
        assert_eq!(contents(&engine, &restored), contents(&engine, vst));
    }
    assert!(
        engine.stats().cold_restores >= 30,
        "let-go snapshots are read from the store again"
    );
}
