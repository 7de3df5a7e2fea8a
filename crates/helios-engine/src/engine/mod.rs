//! [`HeliosEngine`]: the components of this crate put together behind the
//! API a search calls — commit, restore, compare, name, pin, collect,
//! verify — and the working-directory operations.
//!
//! The engine owns one of each component and holds no logic of its own
//! beyond composing them: the layers (reads), the write queue (every change
//! to L2), the snapshot table, refs and pins, gc admission, and the
//! working-directory records. The parts of its API live beside this file:
//! [`commit`](self::commit), [`workdirs`](self::workdirs),
//! [`watch`](self::watch), [`mounts`](self::mounts) and
//! [`stats`](self::stats).

mod commit;
mod files;
mod import;
mod mounts;
mod queued;
mod stats;
mod watch;
mod workdirs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use helios_l1cache::L1Cache;
use helios_objstore::{MemStore, RocksConfig, RocksStore};
use helios_types::store::{ObjectSource, ObjectStore, StoreError};
use helios_types::{Hash, HashAlgorithm, Snapshot, SnapshotId};
use helios_vst::{Change, Vst};

pub use commit::CommitMeta;
pub use stats::EngineStats;

use crate::config::EngineConfig;
use crate::error::EngineResult;
use crate::gc::{self, GcState};
use crate::layers::{L2, Layers};
use crate::names::{Pins, Refs};
use crate::queue::WriteQueue;
use crate::snapshots::{Found, Snapshots};
use crate::verify::{self, FsckReport};
use crate::{GcReport, VerifyReport};
use stats::Counters;
use watch::Watchers;
use workdirs::WorkdirRecords;

/// The Helios engine. `Send + Sync`: share it behind an `Arc` between the
/// threads of a search.
pub struct HeliosEngine {
    /// The store directory; `None` in memory.
    path: Option<PathBuf>,
    layers: Arc<Layers>,
    /// The same store as L2, for what only RocksDB reports (disk usage).
    rocks: Option<Arc<RocksStore>>,
    queue: Arc<WriteQueue>,
    snapshots: Arc<Snapshots>,
    refs: Refs,
    pins: Pins,
    gc: GcState,
    workdirs: WorkdirRecords,
    watchers: Watchers,
    counters: Counters,
}

impl std::fmt::Debug for HeliosEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeliosEngine")
            .field("alg", &self.algorithm())
            .field("path", &self.path)
            .finish()
    }
}

impl HeliosEngine {
    /// Whether `path` holds a store, without opening it.
    pub fn store_exists(path: &Path) -> EngineResult<bool> {
        Ok(RocksStore::exists(path)?)
    }

    /// Opens (or, with `create_if_missing`, creates) the RocksDB store at
    /// `path`. Cheap: no snapshot, ref or pin is scanned at open; records
    /// are read when first asked for.
    pub fn open(path: impl AsRef<Path>, config: EngineConfig) -> EngineResult<Self> {
        config.validate()?;
        let rocks_config = RocksConfig {
            create_if_missing: config.create_if_missing,
            algorithm: config.algorithm,
            ..config.rocks.clone()
        };
        let rocks = Arc::new(RocksStore::open(path.as_ref(), &rocks_config)?);
        let l2: L2 = rocks.clone();
        Self::start(l2, Some(rocks), Some(path.as_ref().to_path_buf()), &config)
    }

    /// An engine over an in-memory store (tests, benchmarks, throwaway
    /// searches). Everything is lost when it is dropped.
    pub fn in_memory(config: EngineConfig) -> EngineResult<Self> {
        config.validate()?;
        let l2: L2 = Arc::new(MemStore::new(config.algorithm.unwrap_or_default()));
        Self::start(l2, None, None, &config)
    }

    /// An engine over any object store (for fault injection in tests).
    pub fn over_store(store: Arc<dyn ObjectStore>, config: EngineConfig) -> EngineResult<Self> {
        config.validate()?;
        Self::start(store, None, None, &config)
    }

    fn start(
        l2: L2,
        rocks: Option<Arc<RocksStore>>,
        path: Option<PathBuf>,
        config: &EngineConfig,
    ) -> EngineResult<Self> {
        let layers = Arc::new(Layers::new(L1Cache::new(l2, config.l1.clone())?));
        let gc = GcState::default();
        let queue = Arc::new(WriteQueue::start(
            Arc::clone(&layers),
            config,
            gc.on_written(),
        )?);
        let snapshots = Arc::new(Snapshots::new(Arc::clone(&layers), config.hot_snapshots));
        if !config.rocks.read_only {
            snapshots.check_index()?;
        }
        let (l, q, s) = (&layers, &queue, &snapshots);
        Ok(HeliosEngine {
            refs: Refs::new(Arc::clone(l), Arc::clone(q), Arc::clone(s)),
            pins: Pins::new(Arc::clone(l), Arc::clone(q), Arc::clone(s)),
            path,
            layers,
            rocks,
            queue,
            snapshots,
            gc,
            workdirs: WorkdirRecords::default(),
            watchers: Watchers::default(),
            counters: Counters::default(),
        })
    }

    /// The store's hash algorithm; every `Vst` committed must use it.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.layers.algorithm()
    }

    /// The store directory (`None` for an in-memory engine).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// An empty tree for this store.
    pub fn empty_tree(&self) -> Vst {
        Vst::new(self.algorithm())
    }

    /// From now on, reads what this store lacks (objects, snapshot
    /// records) from `source`, a remote it was cloned from: the lazy L3.
    /// Everything read is rehashed and kept here; collection treats an
    /// absent object as the source's instead of as damage. A store has at
    /// most one source: `false` when one was set already.
    pub fn read_through(&self, source: Arc<dyn ObjectSource>) -> bool {
        self.layers.read_through(source)
    }

    /// Whether this store reads through to a source: then an object it
    /// holds may name objects it does not (a lazy store holds what it has
    /// used, not what that reaches).
    pub fn reads_through(&self) -> bool {
        self.layers.reads_through()
    }

    /// Reads an object through the layers (in flight, L1, L2, and the
    /// source it reads through to, if any).
    pub fn object(&self, hash: &Hash) -> EngineResult<Option<Vec<u8>>> {
        Ok(self.layers.get(hash)?)
    }

    /// The layers as an object store: what working-directory code reads
    /// file contents from.
    pub fn objects(&self) -> &dyn ObjectStore {
        &*self.layers
    }

    /// The tree of a snapshot: hot ones from memory, cold ones lazily.
    pub fn restore(&self, id: &SnapshotId) -> EngineResult<Vst> {
        let start = Instant::now();
        let _span = tracing::debug_span!("restore", %id).entered();
        self.queue.check_open()?;
        let generation = self.gc.generation();
        let vst = match self.snapshots.restore(id)? {
            Found::Hot(vst) => vst,
            Found::Cold(vst) => {
                self.gc.vouch(vst.lineage(), generation);
                self.counters.cold_restore();
                vst
            }
        };
        self.counters.restore(start.elapsed());
        Ok(vst)
    }

    /// What changed from `base` to `target`, skipping equal subtrees.
    pub fn diff(&self, base: &SnapshotId, target: &SnapshotId) -> EngineResult<Vec<Change>> {
        let (a, b) = (self.restore(base)?, self.restore(target)?);
        Ok(a.diff(&b)?)
    }

    /// A snapshot's record.
    pub fn snapshot(&self, id: &SnapshotId) -> EngineResult<Snapshot> {
        self.snapshots.require(id)
    }

    /// Whether this store holds snapshot `id`'s record (in memory or
    /// stored), never reading through to a remote.
    pub fn holds_snapshot(&self, id: &SnapshotId) -> EngineResult<bool> {
        self.snapshots.holds(id)
    }

    /// `id` and its first-parent ancestors, newest first, at most `limit`.
    pub fn log(&self, id: &SnapshotId, limit: usize) -> EngineResult<Vec<(SnapshotId, Snapshot)>> {
        self.snapshots.log(id, limit)
    }

    /// Finds the snapshot a full id or a unique hex prefix names.
    pub fn resolve(&self, prefix: &str) -> EngineResult<SnapshotId> {
        self.snapshots.resolve(prefix)
    }

    /// The snapshot a ref, a full id or a unique id prefix names, tried in
    /// that order: the one way every front end turns a user's name into a
    /// snapshot.
    pub fn resolve_name(&self, name: &str) -> EngineResult<SnapshotId> {
        if let Ok(Some(id)) = self.refs.get(name) {
            return Ok(id);
        }
        self.resolve(name)
    }

    /// Every snapshot: those stored in L2 and those held in memory, newest
    /// first (by time, then by id).
    pub fn list_snapshots(&self) -> EngineResult<Vec<(SnapshotId, Snapshot)>> {
        self.snapshots.list()
    }

    /// The first `limit` snapshots of [`HeliosEngine::list_snapshots`],
    /// reading about `limit` records rather than all of them (an index by
    /// time, complete in a store created with it or once
    /// [`HeliosEngine::gc`] has run; before that, every record is read).
    pub fn newest_snapshots(&self, limit: usize) -> EngineResult<Vec<(SnapshotId, Snapshot)>> {
        self.snapshots.newest(limit)
    }

    /// Points a named ref at a snapshot (durably).
    pub fn set_ref(&self, name: &str, id: &SnapshotId) -> EngineResult<()> {
        self.refs.set(name, id)
    }

    /// The snapshot a ref names.
    pub fn get_ref(&self, name: &str) -> EngineResult<Option<SnapshotId>> {
        self.refs.get(name)
    }

    /// Every ref, by name.
    pub fn refs(&self) -> EngineResult<BTreeMap<String, SnapshotId>> {
        self.refs.all()
    }

    /// Moves a ref only if it still points where the caller expects
    /// (`None`: must not exist). Returns whether it moved.
    pub fn compare_and_swap_ref(
        &self,
        name: &str,
        expected: Option<SnapshotId>,
        new: &SnapshotId,
    ) -> EngineResult<bool> {
        self.refs.compare_and_swap(name, expected, new)
    }

    /// Removes a ref; true if it existed.
    pub fn delete_ref(&self, name: &str) -> EngineResult<bool> {
        self.refs.delete(name)
    }

    /// Keeps a snapshot (and all it references) from gc. Pins nest.
    pub fn pin(&self, id: &SnapshotId) -> EngineResult<()> {
        self.queue.check_open()?;
        self.pins.pin(id)
    }

    /// Undoes one `pin`.
    pub fn unpin(&self, id: &SnapshotId) -> EngineResult<()> {
        self.queue.check_open()?;
        self.pins.unpin(id)
    }

    /// Deletes what no ref, pin or working directory reaches (see
    /// the `gc` module for why this is safe while commits continue).
    pub fn gc(&self) -> EngineResult<GcReport> {
        self.queue.check_open()?;
        let parts = gc::Collector {
            layers: &self.layers,
            queue: &self.queue,
            snapshots: &self.snapshots,
            state: &self.gc,
        };
        gc::run(&parts, || {
            let mut roots = self.workdirs.roots(&self.layers)?;
            roots.snapshots.extend(self.refs.all()?.into_values());
            roots.snapshots.extend(self.pins.all()?);
            roots.snapshots.extend(self.mount_roots()?);
            Ok(roots)
        })
    }

    /// Rereads and rehashes every object beneath a snapshot from L2.
    pub fn verify(&self, id: &SnapshotId) -> EngineResult<VerifyReport> {
        self.queue.check_open()?;
        verify::run(&self.layers, &self.queue, &self.snapshots, id)
    }

    /// Verifies every snapshot ([`HeliosEngine::verify`]), calling
    /// `progress(done, total)` after each. Damage is reported per snapshot
    /// in the result, not as an error: one damaged snapshot does not stop
    /// the others being checked.
    pub fn fsck(&self, progress: &dyn Fn(u64, u64)) -> EngineResult<FsckReport> {
        let snapshots = self.list_snapshots()?;
        let total = snapshots.len() as u64;
        let mut report = FsckReport {
            snapshots: total,
            ..FsckReport::default()
        };
        for (done, (id, _)) in (1..).zip(&snapshots) {
            match self.verify(id) {
                Ok(r) => report.checked.add(&r),
                Err(e) => report.damaged.push((*id, e)),
            }
            progress(done, total);
        }
        Ok(report)
    }

    /// Waits until everything committed so far is durable in L2.
    pub fn flush(&self) -> EngineResult<()> {
        let _span = tracing::debug_span!("flush").entered();
        self.queue.flush()
    }

    /// Rewrites the store's files so that deleted objects leave the disk and
    /// every object sits in the bottommost level, under its stronger
    /// compression (zstd): what bytes on disk settle to. Waits for what was
    /// committed first. Slow on a large store (it reads and writes all of
    /// it): for maintenance after [`HeliosEngine::gc`], never on a hot path.
    /// Also folds each working directory's state journal into its snapshot
    /// (the directories not in use). RocksDB's part is skipped for an
    /// engine without RocksDB.
    pub fn compact(&self) -> EngineResult<()> {
        let _span = tracing::info_span!("compact").entered();
        self.queue.flush()?;
        if let Some(rocks) = &self.rocks {
            rocks.compact()?;
        }
        let folded = self.fold_workdir_states()?;
        tracing::debug!(folded, "working-directory states folded");
        Ok(())
    }

    /// Drains the queue, stops the writer and syncs what was written
    /// without an fsync; later calls fail with `Closed`.
    pub fn close(&self) -> EngineResult<()> {
        self.queue.close()?;
        if self.queue.stats().unsynced.load(Ordering::SeqCst) {
            self.layers.l2().sync()?;
        }
        if let Some(rocks) = &self.rocks {
            match rocks.flush_if_large() {
                // Everything is in the WAL already: a flush that finds no
                // room is only postponed to the next open.
                Err(e @ StoreError::NoSpace { .. }) => {
                    tracing::warn!(error = %e, "memtable not flushed at close");
                }
                other => other?,
            }
            // Everything written is durable by now: a compaction that
            // fails only leaves the files as they were for the next open.
            if let Err(e) = rocks.finish_compactions() {
                tracing::warn!(error = %e, "compaction not finished at close");
            }
        }
        Ok(())
    }
}

impl Drop for HeliosEngine {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the engine on drop failed");
        }
    }
}
