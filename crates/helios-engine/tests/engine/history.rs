//! The newest snapshots at the cost of what is asked for: `helios log -n 1`
//! in a fresh process must not read every record of a long history.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_objstore::MemStore;
use helios_types::store::{MetaIter, ObjectIter, ObjectStore, StoreResult, WriteBatch, WriteMode};
use helios_types::{Hash, HashAlgorithm, ObjectKind, Snapshot, SnapshotId};
use helios_vst::Edit;

use crate::common::{path, tree};

/// A memory store that counts the metadata records read: point lookups
/// and every entry a prefix scan yields.
struct Counting {
    inner: MemStore,
    meta_reads: AtomicUsize,
}

impl Counting {
    fn new() -> Arc<Self> {
        Arc::new(Counting {
            inner: MemStore::new(HashAlgorithm::Blake3),
            meta_reads: AtomicUsize::new(0),
        })
    }

    /// Records read while `f` runs.
    fn reads<T>(&self, f: impl FnOnce() -> T) -> (T, usize) {
        let before = self.meta_reads.load(Ordering::SeqCst);
        let out = f();
        (out, self.meta_reads.load(Ordering::SeqCst) - before)
    }
}

impl ObjectStore for Counting {
    fn algorithm(&self) -> HashAlgorithm {
        self.inner.algorithm()
    }
    fn get(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get(hash)
    }
    fn contains(&self, hash: &Hash) -> StoreResult<bool> {
        self.inner.contains(hash)
    }
    fn write(&self, batch: WriteBatch, mode: WriteMode) -> StoreResult<()> {
        self.inner.write(batch, mode)
    }
    fn objects(&self, kind: Option<ObjectKind>) -> StoreResult<ObjectIter<'_>> {
        self.inner.objects(kind)
    }
    fn get_meta(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.meta_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get_meta(key)
    }
    fn meta_with_prefix(&self, prefix: &[u8]) -> StoreResult<MetaIter<'_>> {
        let inner = self.inner.meta_with_prefix(prefix)?;
        Ok(Box::new(inner.inspect(|_| {
            self.meta_reads.fetch_add(1, Ordering::SeqCst);
        })))
    }
    fn sync(&self) -> StoreResult<()> {
        self.inner.sync()
    }
}

/// Commits `n` snapshots, each a one-file edit of the last, as the CLI's
/// processes do (durable, records in the store).
fn commit_history(engine: &HeliosEngine, n: usize) -> Vec<SnapshotId> {
    let mut vst = tree(engine, 10, "history");
    let mut parent = None;
    (0..n)
        .map(|i| {
            vst = vst
                .edit(Edit::file(path("d0/f.rs"), format!("v{i}").into_bytes()))
                .unwrap();
            let (id, _) = engine
                .commit(&vst, Durability::Async, CommitMeta::child_of(parent, "n"))
                .unwrap();
            parent = Some(id);
            id
        })
        .collect()
}

fn open(store: &Arc<Counting>) -> HeliosEngine {
    HeliosEngine::over_store(store.clone(), EngineConfig::small()).unwrap()
}

fn first(list: &[(SnapshotId, Snapshot)], n: usize) -> Vec<(SnapshotId, Snapshot)> {
    list.iter().take(n).cloned().collect()
}

#[test]
fn the_newest_snapshots_cost_what_is_asked_for_not_the_history() {
    let store = Counting::new();
    let engine = open(&store);
    commit_history(&engine, 300);
    engine.close().unwrap();

    // A fresh engine, as a new process: nothing hot.
    let engine = open(&store);
    let (all, listed) = store.reads(|| engine.list_snapshots().unwrap());
    assert_eq!(all.len(), 300);
    assert!(listed >= 300, "listing reads every record ({listed})");
    for n in [0, 1, 5, 300, 1000] {
        let (newest, read) = store.reads(|| engine.newest_snapshots(n).unwrap());
        assert_eq!(newest, first(&all, n), "the first {n} of the list");
        if n <= 5 {
            // The mark, then one index key and one record per snapshot.
            assert!(read <= 2 * n + 2, "newest {n} read {read} records");
        }
    }
}

#[test]
fn snapshots_held_in_memory_are_among_the_newest() {
    let store = Counting::new();
    let engine = open(&store);
    commit_history(&engine, 20);
    let vst = tree(&engine, 3, "memory only");
    let (memory, _) = engine
        .commit(&vst, Durability::Memory, CommitMeta::default())
        .unwrap();
    let newest = engine.newest_snapshots(2).unwrap();
    assert_eq!(newest[0].0, memory);
    assert_eq!(newest, first(&engine.list_snapshots().unwrap(), 2));
}

#[test]
fn gc_indexes_a_store_written_before_the_index_and_drops_reclaimed_keys() {
    let store = Counting::new();
    let engine = open(&store);
    let ids = commit_history(&engine, 50);
    engine.set_ref("keep", &ids[39]).unwrap();
    engine.close().unwrap();
    // As a store written before the index: no mark, no `time/` keys.
    let mut batch = WriteBatch::new();
    batch.meta_deletes.push(b"index/time".to_vec());
    for item in store.inner.meta_with_prefix(b"time/").unwrap() {
        batch.meta_deletes.push(item.unwrap().0);
    }
    assert_eq!(batch.meta_deletes.len(), 51);
    store.inner.write(batch, WriteMode::Sync).unwrap();

    // Commits to a store with records do not mark it: listed whole.
    let engine = open(&store);
    let more = commit_history(&engine, 5);
    engine.set_ref("newer", &more[4]).unwrap();
    engine.close().unwrap();
    let engine = open(&store);
    let (newest, read) = store.reads(|| engine.newest_snapshots(1).unwrap());
    assert_eq!(newest[0].0, more[4]);
    assert!(read >= 55, "an unindexed store is listed whole ({read})");

    // gc keeps what the refs reach (first-parent history is not kept:
    // each snapshot is a root only by a ref), indexes it, and marks it.
    let report = engine.gc().unwrap();
    assert_eq!(report.snapshots_reclaimed, 53);
    engine.close().unwrap();
    let engine = open(&store);
    let all = engine.list_snapshots().unwrap();
    assert_eq!(all.len(), 2);
    let (newest, read) = store.reads(|| engine.newest_snapshots(1).unwrap());
    assert_eq!(newest, first(&all, 1));
    assert!(read <= 4, "indexed after gc ({read})");
    let keys: Vec<_> = store
        .inner
        .meta_with_prefix(b"time/")
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        keys.len(),
        2,
        "one key per record kept, none for those reclaimed"
    );
}
