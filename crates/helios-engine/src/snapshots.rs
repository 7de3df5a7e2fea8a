//! Snapshot records and the trees this process holds for them: finding a
//! snapshot by id or prefix, listing, history, and restoring its tree.
//!
//! A snapshot this process committed or restored stays *hot*: its record
//! and its `Vst` in memory, so a restore costs a map lookup. Durable hot
//! snapshots whose records are stored are let go, least recently used
//! first, once more than [`EngineConfig::hot_snapshots`] are held: a later
//! restore reads them from the store again. Memory-only snapshots exist
//! nowhere else and stay for the engine's life.
//!
//! [`EngineConfig::hot_snapshots`]: crate::EngineConfig::hot_snapshots

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use helios_types::store::{ObjectStore, WriteBatch, WriteMode};
use helios_types::{HashAlgorithm, Snapshot, SnapshotId};
use helios_vst::{Lineage, Vst};

use crate::error::{EngineError, EngineResult};
use crate::keys;
use crate::layers::{LayerLoader, Layers};
use crate::sync::{read, write};

/// A snapshot this process has seen, with its tree.
struct Hot {
    snapshot: Snapshot,
    vst: Vst,
    /// False for `Durability::Memory` commits.
    durable: bool,
    /// When it was last committed or restored, on the table's clock.
    used: AtomicU64,
}

/// The hot table over the records in the store.
pub(crate) struct Snapshots {
    alg: HashAlgorithm,
    layers: Arc<Layers>,
    hot: RwLock<HashMap<SnapshotId, Hot>>,
    /// How many of the hot snapshots are durable (changed under the write
    /// lock).
    durable: AtomicUsize,
    clock: AtomicU64,
    /// Durable snapshots held before the least recently used are let go.
    keep: usize,
    /// Set when the store had no record at open: the next commit marks
    /// the `time/` index complete (see [`Snapshots::check_index`]).
    mark_index: AtomicBool,
}

/// How a tree was found by [`Snapshots::restore`].
pub(crate) enum Found {
    /// Held in memory.
    Hot(Vst),
    /// Read from the store (its directories load lazily).
    Cold(Vst),
}

impl Snapshots {
    pub(crate) fn new(layers: Arc<Layers>, keep: usize) -> Self {
        Snapshots {
            alg: layers.algorithm(),
            layers,
            hot: RwLock::default(),
            durable: AtomicUsize::new(0),
            clock: AtomicU64::new(0),
            keep,
            mark_index: AtomicBool::new(false),
        }
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// Holds a snapshot just committed or restored.
    pub(crate) fn remember(&self, id: SnapshotId, snapshot: Snapshot, vst: Vst, durable: bool) {
        let hot = Hot {
            snapshot,
            vst,
            durable,
            used: AtomicU64::new(self.tick()),
        };
        let held = {
            let mut table = write(&self.hot);
            let added = usize::from(hot.durable);
            let replaced = table
                .insert(id, hot)
                .map_or(0, |old| usize::from(old.durable));
            self.durable.fetch_add(added, Ordering::Relaxed);
            self.durable.fetch_sub(replaced, Ordering::Relaxed);
            self.durable.load(Ordering::Relaxed)
        };
        // Trimmed in rounds, an eighth of the budget at a time, so the sort
        // is paid once per many commits.
        if held > self.keep + self.keep / 8 + 1 {
            self.let_go(held - self.keep);
        }
    }

    /// Lets go of up to `excess` of the least recently used durable
    /// snapshots whose records are stored. The store is asked outside the
    /// lock; one used again meanwhile is kept.
    fn let_go(&self, excess: usize) {
        let mut oldest: Vec<(u64, SnapshotId)> = read(&self.hot)
            .iter()
            .filter(|(_, h)| h.durable)
            .map(|(id, h)| (h.used.load(Ordering::Relaxed), *id))
            .collect();
        oldest.sort_unstable();
        // A record still queued for the writer exists nowhere else.
        let stored =
            |id: &SnapshotId| matches!(self.layers.l2().get_meta(&keys::snapshot(id)), Ok(Some(_)));
        let chosen: Vec<(u64, SnapshotId)> = oldest
            .into_iter()
            .filter(|(_, id)| stored(id))
            .take(excess)
            .collect();
        let mut table = write(&self.hot);
        for (used, id) in chosen {
            if table
                .get(&id)
                .is_some_and(|h| h.used.load(Ordering::Relaxed) == used)
            {
                self.remove(&mut table, &id);
            }
        }
    }

    /// Removes one entry, keeping the durable count right.
    fn remove(&self, table: &mut HashMap<SnapshotId, Hot>, id: &SnapshotId) {
        if let Some(old) = table.remove(id) {
            self.durable
                .fetch_sub(usize::from(old.durable), Ordering::Relaxed);
        }
    }

    /// Forgets snapshots gc reclaimed.
    pub(crate) fn forget(&self, ids: &[SnapshotId]) {
        let mut table = write(&self.hot);
        for id in ids {
            self.remove(&mut table, id);
        }
    }

    /// Gives the hot trees among `ids` new lineages (see
    /// [`tombstones`](crate::tombstones)) and returns them: a collection
    /// has just found everything they reuse reachable.
    pub(crate) fn renew_lineages(&self, ids: &HashSet<SnapshotId>) -> Vec<Lineage> {
        let mut table = write(&self.hot);
        let mut out = Vec::new();
        for (id, hot) in table.iter_mut() {
            if ids.contains(id) {
                hot.vst = hot.vst.in_new_lineage();
                out.push(hot.vst.lineage().clone());
            }
        }
        out
    }

    /// The tree of a hot snapshot, and whether it is durable.
    pub(crate) fn hot_tree(&self, id: &SnapshotId) -> Option<(Vst, bool)> {
        read(&self.hot).get(id).map(|h| {
            h.used.store(self.tick(), Ordering::Relaxed);
            (h.vst.clone(), h.durable)
        })
    }

    /// Whether this process holds the snapshot (durable or not).
    pub(crate) fn is_hot(&self, id: &SnapshotId) -> bool {
        read(&self.hot).contains_key(id)
    }

    /// How many snapshots are held in memory.
    pub(crate) fn hot_count(&self) -> usize {
        read(&self.hot).len()
    }

    /// The tree of a snapshot: from memory, or restored from its stored
    /// record (and then held).
    pub(crate) fn restore(&self, id: &SnapshotId) -> EngineResult<Found> {
        if let Some((vst, _)) = self.hot_tree(id) {
            return Ok(Found::Hot(vst));
        }
        let snapshot = self.stored(id)?.ok_or(EngineError::SnapshotNotFound(*id))?;
        let loader = Arc::new(LayerLoader(Arc::clone(&self.layers)));
        let vst = Vst::restore(self.alg, snapshot.root, loader)?;
        self.remember(*id, snapshot, vst.clone(), true);
        Ok(Found::Cold(vst))
    }

    /// The record of a snapshot, from memory or from the store (checked).
    pub(crate) fn load(&self, id: &SnapshotId) -> EngineResult<Option<Snapshot>> {
        if let Some(hot) = read(&self.hot).get(id) {
            return Ok(Some(hot.snapshot.clone()));
        }
        self.stored(id)
    }

    /// Whether the record of `id` is here (in memory or stored), without
    /// reading through.
    pub(crate) fn holds(&self, id: &SnapshotId) -> EngineResult<bool> {
        if read(&self.hot).contains_key(id) {
            return Ok(true);
        }
        Ok(self.layers.get_meta(&keys::snapshot(id))?.is_some())
    }

    /// The record of a snapshot, or `SnapshotNotFound`.
    pub(crate) fn require(&self, id: &SnapshotId) -> EngineResult<Snapshot> {
        self.load(id)?.ok_or(EngineError::SnapshotNotFound(*id))
    }

    /// The record of a snapshot as the store holds it (or, in a store that
    /// reads through to a remote, as the remote does: then kept here).
    pub(crate) fn stored(&self, id: &SnapshotId) -> EngineResult<Option<Snapshot>> {
        let bytes = match self.layers.get_meta(&keys::snapshot(id))? {
            Some(bytes) => bytes,
            None => match self.read_through(id)? {
                Some(bytes) => bytes,
                None => return Ok(None),
            },
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

    /// The record of `id` from the store's remote, if it reads through to
    /// one and the remote holds it: rehashed, decoded, and kept with its
    /// `time/` key as a fetched record is.
    fn read_through(&self, id: &SnapshotId) -> EngineResult<Option<Vec<u8>>> {
        let Some(bytes) = self.layers.fetch_missing(&id.object_hash())? else {
            return Ok(None);
        };
        let snapshot =
            Snapshot::decode(&bytes).map_err(|e| EngineError::corrupt(id.object_hash(), e))?;
        let mut batch = WriteBatch::new();
        batch.meta_puts.push((keys::snapshot(id), bytes.clone()));
        batch
            .meta_puts
            .push((keys::by_time(id, snapshot.time_micros), Vec::new()));
        if let Err(e) = self.layers.write(batch, WriteMode::Buffered) {
            tracing::debug!(%id, error = %e, "snapshot record read through, not kept");
        }
        Ok(Some(bytes))
    }

    /// True when the snapshot has a stored record (or is queued to get one).
    pub(crate) fn is_durable(&self, id: &SnapshotId) -> EngineResult<bool> {
        if let Some(hot) = read(&self.hot).get(id) {
            return Ok(hot.durable);
        }
        Ok(self.stored(id)?.is_some())
    }

    /// Refuses to name a snapshot that only lives in memory (or not at all)
    /// from the store: refs and working-directory records must outlive the
    /// process.
    pub(crate) fn require_durable(&self, id: &SnapshotId) -> EngineResult<()> {
        if self.is_durable(id)? {
            Ok(())
        } else if self.is_hot(id) {
            Err(EngineError::NotDurable(*id))
        } else {
            Err(EngineError::SnapshotNotFound(*id))
        }
    }

    /// Finds the snapshot a full id or a unique hex prefix (4 digits or
    /// more) names.
    pub(crate) fn resolve(&self, prefix: &str) -> EngineResult<SnapshotId> {
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
        let mut found = found.into_iter();
        match (found.next(), found.len()) {
            (Some(id), 0) => Ok(id),
            (None, _) => Err(EngineError::UnknownPrefix(prefix.to_owned())),
            (Some(_), others) => Err(EngineError::AmbiguousId {
                prefix: prefix.to_owned(),
                matches: others + 1,
            }),
        }
    }

    /// Every snapshot, stored or held in memory, newest first.
    pub(crate) fn list(&self) -> EngineResult<Vec<(SnapshotId, Snapshot)>> {
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

    /// The first `limit` snapshots of [`Snapshots::list`], at the cost of
    /// `limit` records, not of every record: read from the newest end of
    /// the `time/` index (see [`keys`]), merged with the snapshots held in
    /// memory (a memory-only commit, a record still queued). A store whose
    /// index is not known to be complete is listed whole.
    pub(crate) fn newest(&self, limit: usize) -> EngineResult<Vec<(SnapshotId, Snapshot)>> {
        if self.layers.get_meta(keys::TIME_INDEXED)?.is_none() {
            let mut all = self.list()?;
            all.truncate(limit);
            return Ok(all);
        }
        type Place = (std::cmp::Reverse<u64>, SnapshotId);
        let mut out: BTreeMap<Place, Snapshot> = BTreeMap::new();
        if limit > 0 {
            for item in self.layers.meta_with_prefix(keys::TIME)? {
                let (key, _) = item?;
                // A key whose record is gone (never left by gc, which
                // deletes both in one write) is skipped, not an error.
                let Some(id) = keys::time_id(&key) else {
                    continue;
                };
                let Some(snapshot) = self.load(&id)? else {
                    continue;
                };
                out.insert((std::cmp::Reverse(snapshot.time_micros), id), snapshot);
                if out.len() == limit {
                    break;
                }
            }
        }
        for (id, hot) in read(&self.hot).iter() {
            out.entry((std::cmp::Reverse(hot.snapshot.time_micros), *id))
                .or_insert_with(|| hot.snapshot.clone());
        }
        Ok(out
            .into_iter()
            .take(limit)
            .map(|((_, id), s)| (id, s))
            .collect())
    }

    /// Notes whether the store holds no snapshot record and no `time/`
    /// mark yet (a new store): then the first commit also marks the index
    /// complete, since from the start every record has its key. One seek,
    /// nothing written here (a store that refuses writes fails no more
    /// than it would); a store with records keeps listing whole until gc
    /// fills the index in.
    pub(crate) fn check_index(&self) -> EngineResult<()> {
        let unmarked_and_empty = self.layers.get_meta(keys::TIME_INDEXED)?.is_none()
            && self.layers.meta_with_prefix(keys::SNAP)?.next().is_none();
        self.mark_index.store(unmarked_and_empty, Ordering::Relaxed);
        Ok(())
    }

    /// The `index/time` mark for the next commit's write, once.
    pub(crate) fn take_index_mark(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.mark_index
            .swap(false, Ordering::Relaxed)
            .then(|| (keys::TIME_INDEXED.to_vec(), Vec::new()))
    }

    /// `id` and its first-parent ancestors, newest first, at most `limit`.
    pub(crate) fn log(
        &self,
        id: &SnapshotId,
        limit: usize,
    ) -> EngineResult<Vec<(SnapshotId, Snapshot)>> {
        let mut out = Vec::new();
        let mut next = Some(*id);
        while let Some(id) = next.filter(|_| out.len() < limit) {
            // History before a snapshot gc reclaimed is simply not there.
            let Some(snapshot) = self.load(&id)? else {
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
}
