//! [`HeliosEngine`]: the three layers wired together behind the
//! [`StateManager`] API.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Sender, bounded};
use helios_l1cache::L1Cache;
use helios_objstore::{MemStore, RocksConfig, RocksStore};
use helios_types::store::{ObjectStore, StoreError};
use helios_types::{Hash, HashAlgorithm, Snapshot, SnapshotId};
use helios_vst::{Change, Vst};

use crate::config::EngineConfig;
use crate::error::{EngineError, EngineResult};
use crate::gc::GcState;
use crate::keys;
use crate::layers::{L2, LayerLoader, Layers};
use crate::metrics::{CommitMetrics, Histogram};
use crate::pipeline::{Stall, StoreWrite, WriteRequest, Writer, WriterStats};
use crate::stats::EngineStats;

/// How durable a commit must be before `commit` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// L0 only: the snapshot lives in this process and is lost on exit.
    /// Cheapest; for nodes a search may discard.
    Memory,
    /// Queued for L2; returns at once. Survives a clean close; a crash may
    /// lose the tail of the queue, never leave a partial snapshot.
    #[default]
    Async,
    /// Returns once the snapshot and everything it references are in L2
    /// with the write-ahead log synced to disk.
    Sync,
}

/// What a commit records besides the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitMeta {
    /// The snapshots this one derives from.
    pub parents: Vec<SnapshotId>,
    /// A short human label.
    pub label: String,
    /// Free-form key/value data (reward, action...).
    pub metadata: BTreeMap<String, String>,
    /// Pin the new snapshot as part of the commit, so that no collection
    /// can fall between the commit and a separate `pin`.
    pub pin: bool,
}

impl CommitMeta {
    /// A label and one parent, the common case.
    pub fn child_of(parent: Option<SnapshotId>, label: impl Into<String>) -> Self {
        CommitMeta {
            parents: parent.into_iter().collect(),
            label: label.into(),
            ..Self::default()
        }
    }
}

/// Objects and bytes checked by [`StateManager::verify`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Trees read, rehashed and decoded.
    pub trees: u64,
    /// Blobs read and rehashed.
    pub blobs: u64,
    /// Encoded bytes read.
    pub bytes: u64,
}

/// What [`StateManager::gc`] reclaimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Objects reachable from refs and pins.
    pub marked: u64,
    /// Objects deleted.
    pub objects_reclaimed: u64,
    /// Encoded bytes of the deleted objects.
    pub bytes_reclaimed: u64,
    /// Snapshot records deleted.
    pub snapshots_reclaimed: u64,
}

/// The state-manager API a search calls: commit, restore, compare, name,
/// pin, collect, verify.
pub trait StateManager {
    /// Records `vst` as a new snapshot.
    fn commit(
        &self,
        vst: &Vst,
        durability: Durability,
        meta: CommitMeta,
    ) -> EngineResult<(SnapshotId, CommitMetrics)>;
    /// The tree of a snapshot: hot ones from memory, cold ones lazily.
    fn restore(&self, id: &SnapshotId) -> EngineResult<Vst>;
    /// What changed from `base` to `target`, skipping equal subtrees.
    fn diff(&self, base: &SnapshotId, target: &SnapshotId) -> EngineResult<Vec<Change>>;
    /// A snapshot's record.
    fn snapshot(&self, id: &SnapshotId) -> EngineResult<Snapshot>;
    /// `id` and its first-parent ancestors, newest first, at most `limit`.
    fn log(&self, id: &SnapshotId, limit: usize) -> EngineResult<Vec<(SnapshotId, Snapshot)>>;
    /// Points a named ref at a snapshot (durably).
    fn set_ref(&self, name: &str, id: &SnapshotId) -> EngineResult<()>;
    /// The snapshot a ref names.
    fn get_ref(&self, name: &str) -> EngineResult<Option<SnapshotId>>;
    /// Every ref, by name.
    fn refs(&self) -> EngineResult<BTreeMap<String, SnapshotId>>;
    /// Moves a ref only if it still points where the caller expects
    /// (`None`: must not exist). Returns whether it moved.
    fn compare_and_swap_ref(
        &self,
        name: &str,
        expected: Option<SnapshotId>,
        new: &SnapshotId,
    ) -> EngineResult<bool>;
    /// Removes a ref; true if it existed.
    fn delete_ref(&self, name: &str) -> EngineResult<bool>;
    /// Keeps a snapshot (and all it references) from gc. Pins nest.
    fn pin(&self, id: &SnapshotId) -> EngineResult<()>;
    /// Undoes one `pin`.
    fn unpin(&self, id: &SnapshotId) -> EngineResult<()>;
    /// Deletes what no ref or pin reaches.
    fn gc(&self) -> EngineResult<GcReport>;
    /// Rereads and rehashes every object beneath a snapshot from L2.
    fn verify(&self, id: &SnapshotId) -> EngineResult<VerifyReport>;
    /// Counters and latency percentiles.
    fn stats(&self) -> EngineStats;
    /// Waits until everything committed so far is durable in L2.
    fn flush(&self) -> EngineResult<()>;
    /// Drains the queue, stops the writer; later calls fail with `Closed`.
    fn close(&self) -> EngineResult<()>;
}

/// A snapshot this process has seen, with its tree.
#[derive(Clone)]
pub(crate) struct Hot {
    pub(crate) snapshot: Snapshot,
    pub(crate) vst: Vst,
    /// False for `Durability::Memory` commits.
    pub(crate) durable: bool,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) restores: AtomicU64,
    pub(crate) cold_restores: AtomicU64,
    pub(crate) new_objects: AtomicU64,
    pub(crate) new_bytes: AtomicU64,
    pub(crate) logical_bytes: AtomicU64,
    pub(crate) commit_latency: Histogram,
    pub(crate) restore_latency: Histogram,
    pub(crate) queue_wait: Histogram,
}

/// The Helios engine. `Send + Sync`: share it behind an `Arc` between the
/// threads of a search.
pub struct HeliosEngine {
    pub(crate) alg: HashAlgorithm,
    pub(crate) path: Option<PathBuf>,
    pub(crate) layers: Arc<Layers>,
    pub(crate) rocks: Option<Arc<RocksStore>>,
    tx: RwLock<Option<Sender<WriteRequest>>>,
    writer: Mutex<Option<JoinHandle<Vec<SnapshotId>>>>,
    /// Set while queued writes wait for the store to take writes again.
    stall: Stall,
    pub(crate) hot: RwLock<HashMap<SnapshotId, Hot>>,
    pub(crate) pins: Mutex<HashMap<SnapshotId, u32>>,
    refs_lock: Mutex<()>,
    /// The snapshot each working directory holds, by canonical path.
    pub(crate) heads: Mutex<HashMap<PathBuf, SnapshotId>>,
    /// The state files of recently used working directories.
    pub(crate) state_files: Mutex<crate::workdirs::StateFiles>,
    pub(crate) gc_state: GcState,
    pub(crate) counters: Counters,
    pub(crate) writer_stats: Arc<WriterStats>,
}

impl std::fmt::Debug for HeliosEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeliosEngine")
            .field("alg", &self.alg)
            .field("path", &self.path)
            .finish()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section leaves its data consistent before anything
    // that can panic, so a poisoned lock carries no torn state.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
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
        let alg = l2.algorithm();
        let l1 = L1Cache::new(l2, config.l1.clone())?;
        let layers = Arc::new(Layers::new(l1));
        let (tx, rx) = bounded(config.queue_capacity);
        let writer_stats = Arc::new(WriterStats::default());
        let gc_state = GcState::default();
        let tombstones = gc_state.tombstones.clone();
        let writer = Writer {
            layers: layers.clone(),
            rx,
            max_objects: config.batch_max_objects,
            max_bytes: config.batch_max_bytes,
            stats: writer_stats.clone(),
            stall: Stall::default(),
            backlog: Vec::new(),
            on_written: Box::new(move |objects| {
                // A reclaimed object written again is live again.
                let mut t = write(&tombstones);
                if !t.is_empty() {
                    for (h, _) in objects {
                        t.remove(h);
                    }
                }
            }),
        };
        let stall = Arc::clone(&writer.stall);
        let handle = std::thread::Builder::new()
            .name("helios-writer".into())
            .spawn(move || writer.run())
            .map_err(EngineError::SpawnWriter)?;
        Ok(HeliosEngine {
            alg,
            path,
            layers,
            rocks,
            tx: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            stall,
            hot: RwLock::default(),
            pins: Mutex::default(),
            refs_lock: Mutex::default(),
            heads: Mutex::default(),
            state_files: Mutex::default(),
            gc_state,
            counters: Counters::default(),
            writer_stats,
        })
    }

    /// The store's hash algorithm; every `Vst` committed must use it.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.alg
    }

    /// The store directory (`None` for an in-memory engine).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// An empty tree for this store.
    pub fn empty_tree(&self) -> Vst {
        Vst::new(self.alg)
    }

    /// Reads an object through the layers (in flight, L1, L2).
    pub fn object(&self, hash: &Hash) -> EngineResult<Option<Vec<u8>>> {
        Ok(self.layers.get(hash)?)
    }

    /// The layers as an object store: what working-directory code reads
    /// file contents from.
    pub fn objects(&self) -> &dyn ObjectStore {
        &*self.layers
    }

    /// Queues a write; blocks while the queue is full (backpressure).
    pub(crate) fn submit(&self, request: WriteRequest) -> EngineResult<()> {
        let guard = read(&self.tx);
        let tx = guard.as_ref().ok_or(EngineError::Closed)?;
        let start = Instant::now();
        tx.send(request).map_err(|_| EngineError::Closed)?;
        self.counters.queue_wait.record(start.elapsed());
        Ok(())
    }

    /// Queues a write and waits for it to be stored.
    pub(crate) fn submit_and_wait(&self, mut write: StoreWrite) -> EngineResult<()> {
        let (ack, done) = bounded(1);
        write.ack = Some(ack);
        self.submit(WriteRequest::Write(write))?;
        done.recv()
            .map_err(|_| EngineError::Closed)?
            .map_err(EngineError::WriteFailed)
    }

    /// While earlier writes wait as the writer's backlog, retries them (a
    /// flush) and fails if they still cannot be written: new work is not
    /// queued behind a store that refuses writes.
    fn retry_stalled_writes(&self) -> EngineResult<()> {
        let stalled = self
            .stall
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        if stalled { self.flush() } else { Ok(()) }
    }

    fn check_open(&self) -> EngineResult<()> {
        if read(&self.tx).is_none() {
            Err(EngineError::Closed)
        } else {
            Ok(())
        }
    }

    /// The record of a snapshot, from memory or from L2 (checked).
    pub(crate) fn load_snapshot(&self, id: &SnapshotId) -> EngineResult<Option<Snapshot>> {
        if let Some(hot) = read(&self.hot).get(id) {
            return Ok(Some(hot.snapshot.clone()));
        }
        self.stored_snapshot(id)
    }

    /// The record of a snapshot as L2 holds it.
    pub(crate) fn stored_snapshot(&self, id: &SnapshotId) -> EngineResult<Option<Snapshot>> {
        let Some(bytes) = self.layers.get_meta(&keys::snapshot(id))? else {
            return Ok(None);
        };
        if self.alg.digest(&bytes) != id.object_hash() {
            return Err(EngineError::Corrupt {
                hash: id.object_hash(),
                reason: "snapshot record does not hash to its id".into(),
            });
        }
        Snapshot::decode(&bytes)
            .map(Some)
            .map_err(|e| EngineError::corrupt(id.object_hash(), e))
    }

    fn require_snapshot(&self, id: &SnapshotId) -> EngineResult<Snapshot> {
        self.load_snapshot(id)?
            .ok_or(EngineError::SnapshotNotFound(*id))
    }

    /// True when the snapshot has a stored record (or is queued to get one).
    pub(crate) fn is_durable(&self, id: &SnapshotId) -> EngineResult<bool> {
        if let Some(hot) = read(&self.hot).get(id) {
            return Ok(hot.durable);
        }
        Ok(self.stored_snapshot(id)?.is_some())
    }

    /// Finds the snapshot a full id or a unique hex prefix names.
    pub fn resolve(&self, prefix: &str) -> EngineResult<SnapshotId> {
        if let Ok(id) = prefix.parse::<SnapshotId>() {
            return Ok(id);
        }
        if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EngineError::NotAnId(prefix.to_owned()));
        }
        let lower = prefix.to_ascii_lowercase();
        let even = &lower[..lower.len() / 2 * 2];
        let byte_prefix: Vec<u8> = (0..even.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&even[i..i + 2], 16).ok())
            .collect();
        let mut found: HashSet<SnapshotId> = HashSet::new();
        for item in self
            .layers
            .meta_with_prefix(&keys::with_prefix(keys::SNAP, &byte_prefix))?
        {
            let (key, _) = item?;
            if let Some(id) =
                keys::id_suffix(&key, keys::SNAP).filter(|id| id.to_hex().starts_with(&lower))
            {
                found.insert(id);
            }
        }
        found.extend(
            read(&self.hot)
                .keys()
                .filter(|id| id.to_hex().starts_with(&lower)),
        );
        match found.len() {
            1 => Ok(found.into_iter().next().expect("one element")),
            0 => Err(EngineError::UnknownPrefix(prefix.to_owned())),
            matches => Err(EngineError::AmbiguousId {
                prefix: prefix.to_owned(),
                matches,
            }),
        }
    }

    /// The snapshot a ref, a full id or a unique id prefix names, tried in
    /// that order: the one way every front end turns a user's name into a
    /// snapshot.
    pub fn resolve_name(&self, name: &str) -> EngineResult<SnapshotId> {
        if let Ok(Some(id)) = self.get_ref(name) {
            return Ok(id);
        }
        self.resolve(name)
    }

    /// Every snapshot: those stored in L2 and those held in memory.
    pub fn list_snapshots(&self) -> EngineResult<Vec<(SnapshotId, Snapshot)>> {
        let mut out: BTreeMap<SnapshotId, Snapshot> = BTreeMap::new();
        for item in self.layers.meta_with_prefix(keys::SNAP)? {
            let (key, bytes) = item?;
            let Some(id) = keys::id_suffix(&key, keys::SNAP) else {
                continue;
            };
            let snapshot =
                Snapshot::decode(&bytes).map_err(|e| EngineError::corrupt(id.object_hash(), e))?;
            out.insert(id, snapshot);
        }
        for (id, hot) in read(&self.hot).iter() {
            out.entry(*id).or_insert_with(|| hot.snapshot.clone());
        }
        let mut list: Vec<_> = out.into_iter().collect();
        list.sort_by_key(|(id, s)| (std::cmp::Reverse(s.time_micros), *id));
        Ok(list)
    }

    /// Every pinned snapshot: pinned in this process, or pinned durably by
    /// an earlier one.
    pub(crate) fn pinned(&self) -> EngineResult<HashSet<SnapshotId>> {
        let mut out: HashSet<SnapshotId> = lock(&self.pins).keys().copied().collect();
        for item in self.layers.meta_with_prefix(keys::PIN)? {
            let (key, _) = item?;
            out.extend(keys::id_suffix(&key, keys::PIN));
        }
        Ok(out)
    }
}

impl StateManager for HeliosEngine {
    fn commit(
        &self,
        vst: &Vst,
        durability: Durability,
        meta: CommitMeta,
    ) -> EngineResult<(SnapshotId, CommitMetrics)> {
        let start = Instant::now();
        let _span = tracing::debug_span!("commit", ?durability).entered();
        self.check_open()?;
        if vst.algorithm() != self.alg {
            return Err(EngineError::AlgorithmMismatch {
                tree: vst.algorithm(),
                store: self.alg,
            });
        }
        let root = vst.root_hash();
        let new = vst.unpersisted_objects();
        let max = self.layers.l2().max_value_len();
        if let Some(o) = new.objects.iter().find(|o| o.encoded.len() as u64 > max) {
            return Err(EngineError::ObjectTooLarge {
                hash: o.hash,
                len: o.encoded.len() as u64,
                max,
            });
        }
        let pin = meta.pin;
        let gate = read(&self.gc_state.gate);
        let snapshot = Snapshot {
            root,
            parents: meta.parents,
            time_micros: now_micros(),
            label: meta.label,
            metadata: meta.metadata,
        };
        let record = snapshot.encode();
        let id = SnapshotId::from_bytes(*self.alg.digest(&record).as_bytes());
        if pin {
            // Registered before `admit`: a collection that has not yet read
            // the pins will see it; one that has is protecting this commit.
            *lock(&self.pins).entry(id).or_insert(0) += 1;
        }
        let metrics_objects = new.objects.len() as u64;
        let metrics_bytes = new.encoded_bytes();
        self.gc_state.admit(root, &new.objects, id)?;
        let durable = durability != Durability::Memory;
        if durable {
            self.retry_stalled_writes()?;
        }
        write(&self.hot).insert(
            id,
            Hot {
                snapshot,
                vst: vst.clone(),
                durable,
            },
        );
        if durable {
            let objects: Vec<(Hash, Arc<[u8]>)> = new
                .objects
                .into_iter()
                .map(|o| (o.hash, Arc::from(o.encoded)))
                .collect();
            // Readable at once from the in-flight table; L1 takes them
            // through its own wrapper when the writer stores them.
            self.layers.add_inflight(&objects);
            let mut meta_puts = vec![(keys::snapshot(&id), record)];
            if pin {
                meta_puts.push((keys::pin(&id), Vec::new()));
            }
            let sync = durability == Durability::Sync;
            let (ack, done) = bounded(1);
            let write = StoreWrite {
                objects,
                meta_puts,
                sync,
                ack: sync.then_some(ack),
                ..StoreWrite::default()
            };
            self.submit(WriteRequest::Write(write))?;
            // Queued is enough for the lineage: later commits of this tree
            // need not export these objects again, because the queue writes
            // in order and keeps a failed write as backlog ahead of
            // everything later (see `pipeline::Writer`).
            new.marker.mark_persisted();
            drop(gate);
            if sync {
                done.recv()
                    .map_err(|_| EngineError::Closed)?
                    .map_err(EngineError::WriteFailed)?;
            }
        }
        let c = &self.counters;
        c.commits.fetch_add(1, Ordering::Relaxed);
        c.new_objects.fetch_add(metrics_objects, Ordering::Relaxed);
        c.new_bytes.fetch_add(metrics_bytes, Ordering::Relaxed);
        c.logical_bytes
            .fetch_add(vst.total_size(), Ordering::Relaxed);
        let commit_latency = start.elapsed();
        c.commit_latency.record(commit_latency);
        Ok((
            id,
            CommitMetrics {
                commit_latency,
                new_objects: metrics_objects,
                new_objects_size: metrics_bytes,
            },
        ))
    }

    fn restore(&self, id: &SnapshotId) -> EngineResult<Vst> {
        let start = Instant::now();
        let _span = tracing::debug_span!("restore", %id).entered();
        self.check_open()?;
        let hot = read(&self.hot).get(id).map(|h| h.vst.clone());
        let vst = match hot {
            Some(vst) => vst,
            None => {
                let snapshot = self
                    .stored_snapshot(id)?
                    .ok_or(EngineError::SnapshotNotFound(*id))?;
                let loader = Arc::new(LayerLoader(self.layers.clone()));
                let vst = Vst::restore(self.alg, snapshot.root, loader)?;
                self.counters.cold_restores.fetch_add(1, Ordering::Relaxed);
                write(&self.hot).insert(
                    *id,
                    Hot {
                        snapshot,
                        vst: vst.clone(),
                        durable: true,
                    },
                );
                vst
            }
        };
        self.counters.restores.fetch_add(1, Ordering::Relaxed);
        self.counters.restore_latency.record(start.elapsed());
        Ok(vst)
    }

    fn diff(&self, base: &SnapshotId, target: &SnapshotId) -> EngineResult<Vec<Change>> {
        let (a, b) = (self.restore(base)?, self.restore(target)?);
        Ok(a.diff(&b)?)
    }

    fn snapshot(&self, id: &SnapshotId) -> EngineResult<Snapshot> {
        self.require_snapshot(id)
    }

    fn log(&self, id: &SnapshotId, limit: usize) -> EngineResult<Vec<(SnapshotId, Snapshot)>> {
        let mut out = Vec::new();
        let mut next = Some(*id);
        while let Some(id) = next.filter(|_| out.len() < limit) {
            // History before a snapshot gc reclaimed is simply not there.
            let Some(snapshot) = self.load_snapshot(&id)? else {
                if out.is_empty() {
                    return Err(EngineError::SnapshotNotFound(id));
                }
                break;
            };
            next = snapshot.parents.first().copied();
            out.push((id, snapshot));
        }
        Ok(out)
    }

    fn set_ref(&self, name: &str, id: &SnapshotId) -> EngineResult<()> {
        let _guard = lock(&self.refs_lock);
        self.write_ref(name, id)
    }

    fn get_ref(&self, name: &str) -> EngineResult<Option<SnapshotId>> {
        let key = keys::ref_key(name)?;
        Ok(self
            .layers
            .get_meta(&key)?
            .and_then(|v| SnapshotId::from_slice(&v)))
    }

    fn refs(&self) -> EngineResult<BTreeMap<String, SnapshotId>> {
        let mut out = BTreeMap::new();
        for item in self.layers.meta_with_prefix(keys::REF)? {
            let (key, value) = item?;
            let name = String::from_utf8_lossy(&key[keys::REF.len()..]).into_owned();
            if let Some(id) = SnapshotId::from_slice(&value) {
                out.insert(name, id);
            }
        }
        Ok(out)
    }

    fn compare_and_swap_ref(
        &self,
        name: &str,
        expected: Option<SnapshotId>,
        new: &SnapshotId,
    ) -> EngineResult<bool> {
        let _guard = lock(&self.refs_lock);
        if self.get_ref(name)? != expected {
            return Ok(false);
        }
        self.write_ref(name, new)?;
        Ok(true)
    }

    fn delete_ref(&self, name: &str) -> EngineResult<bool> {
        let _guard = lock(&self.refs_lock);
        let key = keys::ref_key(name)?;
        if self.layers.get_meta(&key)?.is_none() {
            return Ok(false);
        }
        self.submit_and_wait(StoreWrite {
            meta_deletes: vec![key],
            sync: true,
            ..StoreWrite::default()
        })?;
        Ok(true)
    }

    fn pin(&self, id: &SnapshotId) -> EngineResult<()> {
        self.check_open()?;
        let durable = self.is_durable(id)?;
        if !durable && !read(&self.hot).contains_key(id) {
            return Err(EngineError::SnapshotNotFound(*id));
        }
        let first = {
            let mut pins = lock(&self.pins);
            let count = pins.entry(*id).or_insert(0);
            *count += 1;
            *count == 1
        };
        if first && durable {
            // Queued behind the snapshot's own record, so it never lands first.
            let write = StoreWrite {
                meta_puts: vec![(keys::pin(id), Vec::new())],
                ..StoreWrite::default()
            };
            self.submit(WriteRequest::Write(write))?;
        }
        Ok(())
    }

    fn unpin(&self, id: &SnapshotId) -> EngineResult<()> {
        self.check_open()?;
        let last = {
            let mut pins = lock(&self.pins);
            match pins.get_mut(id) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => {
                    pins.remove(id);
                    true
                }
                // Pinned by an earlier process: the stored pin is the only one.
                None => true,
            }
        };
        if last {
            let write = StoreWrite {
                meta_deletes: vec![keys::pin(id)],
                ..StoreWrite::default()
            };
            self.submit(WriteRequest::Write(write))?;
        }
        Ok(())
    }

    fn gc(&self) -> EngineResult<GcReport> {
        self.check_open()?;
        crate::gc::run(self)
    }

    fn verify(&self, id: &SnapshotId) -> EngineResult<VerifyReport> {
        self.check_open()?;
        crate::verify::run(self, id)
    }

    fn stats(&self) -> EngineStats {
        crate::stats::collect(self)
    }

    fn flush(&self) -> EngineResult<()> {
        let _span = tracing::debug_span!("flush").entered();
        let (ack, done) = bounded(1);
        self.submit(WriteRequest::Flush(ack))?;
        done.recv()
            .map_err(|_| EngineError::Closed)?
            .map_err(EngineError::WriteFailed)
    }

    fn close(&self) -> EngineResult<()> {
        // Dropping the only sender lets the writer drain the queue and stop.
        let tx = write(&self.tx).take();
        let Some(tx) = tx else { return Ok(()) };
        drop(tx);
        if let Some(handle) = lock(&self.writer).take() {
            let unwritten = handle.join().map_err(|_| EngineError::WriterPanicked)?;
            // The writer tried its backlog once more as it stopped.
            let stall = self.stall.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(source) = stall {
                return Err(EngineError::NotWritten {
                    ids: unwritten,
                    source,
                });
            }
        }
        self.layers.l2().sync()?;
        if let Some(rocks) = &self.rocks {
            match rocks.flush_if_large() {
                // Everything is in the WAL already: a flush that finds no
                // room is only postponed to the next open.
                Err(e @ StoreError::NoSpace { .. }) => {
                    tracing::warn!(error = %e, "memtable not flushed at close");
                }
                other => other?,
            }
        }
        Ok(())
    }
}

impl HeliosEngine {
    fn write_ref(&self, name: &str, id: &SnapshotId) -> EngineResult<()> {
        let key = keys::ref_key(name)?;
        if !self.is_durable(id)? {
            return Err(if read(&self.hot).contains_key(id) {
                EngineError::NotDurable(*id)
            } else {
                EngineError::SnapshotNotFound(*id)
            });
        }
        let write = StoreWrite {
            meta_puts: vec![(key, id.as_bytes().to_vec())],
            sync: true,
            ..StoreWrite::default()
        };
        self.submit_and_wait(write)
    }
}

impl Drop for HeliosEngine {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the engine on drop failed");
        }
    }
}
