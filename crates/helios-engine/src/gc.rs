//! Garbage collection: mark from refs, pins and the snapshots working
//! directories hold; sweep the rest of L2.
//!
//! Safe while commits continue:
//! 1. From the moment a collection starts, every commit records what it
//!    creates and references in a *protect* set (under the same lock that
//!    checks it, see [`GcState::admit`]).
//! 2. The collection flushes the queue, so every earlier commit is in L2,
//!    then marks everything reachable from refs and pins.
//! 3. Under the protect lock it removes from the sweep candidates the
//!    closure of the protect set, publishes the candidates as *tombstones*
//!    and queues their deletion; then it stops protecting.
//! 4. A later commit whose trees point at a tombstoned object that it does
//!    not itself create is refused with [`EngineError::Reclaimed`] instead
//!    of producing a dangling snapshot. Deletions travel through the writer
//!    queue, so a later commit that re-creates a reclaimed object is always
//!    written after the deletion. Tombstones are kept only while a tree
//!    that may point at them is alive (see [`tombstones`](crate::tombstones)).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use helios_types::file;
use helios_types::store::ObjectStore;
use helios_types::{ChunkList, EntryKind, Hash, ObjectKind, Snapshot, SnapshotId, Tree};
use helios_vst::{Lineage, NewObjects, Vst};

use crate::GcReport;
use crate::error::{EngineError, EngineResult};
use crate::keys;
use crate::layers::Layers;
use crate::pipeline::{OnWritten, StoreWrite};
use crate::queue::WriteQueue;
use crate::snapshots::Snapshots;
use crate::sync::{lock, read, write};
use crate::tombstones::Tombstones;

/// What a collection keeps: the snapshots still wanted, and records to
/// drop because what they named is gone.
#[derive(Debug, Default)]
pub(crate) struct Roots {
    pub(crate) snapshots: HashSet<SnapshotId>,
    pub(crate) stale_records: Vec<Vec<u8>>,
}

/// The parts of the engine a collection works on.
pub(crate) struct Collector<'a> {
    pub(crate) layers: &'a Layers,
    pub(crate) queue: &'a WriteQueue,
    pub(crate) snapshots: &'a Snapshots,
    pub(crate) state: &'a GcState,
}

/// Coordination between collections and commits.
#[derive(Default)]
pub(crate) struct GcState {
    /// One collection at a time.
    running: Mutex<()>,
    /// Commits hold it (shared) from `admit` until their write is queued;
    /// a collection takes it (exclusive) to start protecting, so no commit
    /// can be admitted before the collection began yet written after its
    /// flush without being protected.
    gate: RwLock<()>,
    /// `Some` while a collection is between its start and its sweep.
    protect: Mutex<Option<HashSet<Hash>>>,
    /// What collections deleted, while trees that may point at it live.
    tombstones: Arc<RwLock<Tombstones>>,
}

impl GcState {
    /// Held by a commit from before its admission until its write is
    /// queued.
    pub(crate) fn commit_gate(&self) -> RwLockReadGuard<'_, ()> {
        read(&self.gate)
    }

    /// What the writer calls with the objects it stored: a reclaimed
    /// object written again is live again.
    pub(crate) fn on_written(&self) -> OnWritten {
        let tombstones = Arc::clone(&self.tombstones);
        Box::new(move |objects| {
            if !read(&tombstones).is_empty() {
                write(&tombstones).revive(objects.iter().map(|(h, _)| h));
            }
        })
    }

    /// While a collection runs, protects `hashes`: objects written outside
    /// a commit (a large file's chunks, stored as a capture reads it). Call
    /// it holding [`GcState::commit_gate`], before queuing the write.
    pub(crate) fn protect(&self, hashes: impl IntoIterator<Item = Hash>) {
        if let Some(set) = lock(&self.protect).as_mut() {
            set.extend(hashes);
        }
    }

    /// The generation to stamp a tree read from the store with: read it
    /// before reading the tree.
    pub(crate) fn generation(&self) -> u64 {
        read(&self.tombstones).generation()
    }

    /// Stamps the lineage of a tree read from the store at `generation`.
    pub(crate) fn vouch(&self, lineage: &Lineage, generation: u64) {
        write(&self.tombstones).stamp(lineage, generation);
    }

    /// Tombstones held (for tests and stats).
    pub(crate) fn tombstone_count(&self) -> usize {
        read(&self.tombstones).len()
    }

    /// Admits a commit of a tree of `lineage` whose new objects are `new`:
    /// refuses one that reuses an object a collection deleted (or, for a
    /// tree no one vouched for, one the store does not hold), and while a
    /// collection runs, protects everything the commit creates or points
    /// at. Stamps the lineage: what it reuses is vouched for now.
    pub(crate) fn admit(
        &self,
        new: &NewObjects,
        lineage: &Lineage,
        id: SnapshotId,
        store: &dyn ObjectStore,
    ) -> EngineResult<()> {
        let mut protect = lock(&self.protect);
        let generation = {
            let tombstones = read(&self.tombstones);
            let created = || new.objects.iter().map(|o| o.hash).collect::<HashSet<_>>();
            if let Some(h) = tombstones.reclaimed(lineage, &new.reused)
                && !created().contains(&h)
            {
                return Err(EngineError::Reclaimed(h));
            }
            if lineage.stamp() == Lineage::UNSTAMPED {
                // Stored hashes handed to a new tree: the store answers.
                for h in &new.reused {
                    if !store.contains(h)? {
                        return Err(EngineError::MissingObject(*h));
                    }
                }
            }
            tombstones.generation()
        };
        if let Some(set) = protect.as_mut() {
            set.extend(new.objects.iter().map(|o| o.hash));
            set.extend(new.reused.iter().copied());
            set.insert(id.object_hash());
        }
        if lineage.stamp() == Lineage::UNSTAMPED {
            write(&self.tombstones).stamp(lineage, generation);
        }
        Ok(())
    }
}

/// Marks `tree` and everything beneath it, reading trees (and the chunk
/// lists of large files) through the layers.
fn mark_stored(layers: &Layers, tree: Hash, marked: &mut HashSet<Hash>) -> EngineResult<()> {
    if !marked.insert(tree) {
        return Ok(());
    }
    let mut stack = vec![tree];
    while let Some(hash) = stack.pop() {
        let Some(bytes) = held(layers, hash)? else {
            continue;
        };
        let tree = Tree::decode(&bytes).map_err(|e| EngineError::corrupt(hash, e))?;
        for e in tree.entries() {
            if e.kind == EntryKind::Dir {
                if marked.insert(e.hash) {
                    stack.push(e.hash);
                }
            } else {
                mark_file(layers, e.hash, e.size, marked)?;
            }
        }
    }
    Ok(())
}

/// Marks a leaf's content: its blob, or its chunk list and every chunk.
/// Only content of [`file::CHUNKED_FROM`] bytes or more can be a chunk
/// list, so small files cost no read.
fn mark_file(
    layers: &Layers,
    hash: Hash,
    size: u64,
    marked: &mut HashSet<Hash>,
) -> EngineResult<()> {
    if !marked.insert(hash) || size < file::CHUNKED_FROM {
        return Ok(());
    }
    match held(layers, hash)? {
        Some(bytes) => mark_chunks(hash, &bytes, marked),
        None => Ok(()),
    }
}

/// What a collection reads: an object this store holds. In a store that
/// reads through to a remote, an absent object is the remote's (with what
/// it names, which this store fetches only through it): `None`, nothing
/// here to mark beneath it. Elsewhere absence is damage.
fn held(layers: &Layers, hash: Hash) -> EngineResult<Option<Vec<u8>>> {
    match layers.get_held(&hash)? {
        Some(bytes) => Ok(Some(bytes)),
        None if layers.reads_through() => Ok(None),
        None => Err(EngineError::MissingObject(hash)),
    }
}

/// Marks the chunks of `encoded` when it is a chunk list (a store first
/// written by format version 1 may hold a large file as one blob).
fn mark_chunks(hash: Hash, encoded: &[u8], marked: &mut HashSet<Hash>) -> EngineResult<()> {
    if ObjectKind::of_encoded(encoded) == Some(ObjectKind::ChunkList) {
        let list = ChunkList::decode(encoded).map_err(|e| EngineError::corrupt(hash, e))?;
        marked.extend(list.chunks().iter().map(|c| c.hash));
    }
    Ok(())
}

/// Marks what a memory-only tree references in L2: it may share persisted
/// subtrees with stored snapshots.
fn mark_in_memory(layers: &Layers, vst: &Vst, marked: &mut HashSet<Hash>) -> EngineResult<()> {
    let mut stack = vec![helios_types::RepoPath::root()];
    while let Some(dir) = stack.pop() {
        for (name, entry) in vst.list(&dir)? {
            if entry.kind != EntryKind::Dir {
                // Pending bytes are in no store yet: nothing to mark there.
                if entry.size < file::CHUNKED_FROM || layers.contains(&entry.hash)? {
                    mark_file(layers, entry.hash, entry.size, marked)?;
                }
            } else if layers.contains(&entry.hash)? {
                mark_stored(layers, entry.hash, marked)?;
            } else {
                stack.push(dir.join(name));
            }
        }
    }
    Ok(())
}

/// Adds to `marked` everything beneath the protected hashes that are trees
/// or chunk lists.
fn close_over(
    layers: &Layers,
    protect: &HashSet<Hash>,
    marked: &mut HashSet<Hash>,
) -> EngineResult<()> {
    for hash in protect {
        if marked.contains(hash) {
            continue;
        }
        match layers.get_held(hash)? {
            Some(bytes) if ObjectKind::of_encoded(&bytes) == Some(ObjectKind::Tree) => {
                mark_stored(layers, *hash, marked)?;
            }
            Some(bytes) => {
                marked.insert(*hash);
                mark_chunks(*hash, &bytes, marked)?;
            }
            None => {
                marked.insert(*hash);
            }
        }
    }
    Ok(())
}

/// Collects: protects what commits make meanwhile, flushes, marks from
/// the roots `roots` reads (after the flush), sweeps the rest.
pub(crate) fn run(
    parts: &Collector<'_>,
    roots: impl FnOnce() -> EngineResult<Roots>,
) -> EngineResult<GcReport> {
    let _span = tracing::info_span!("gc").entered();
    let state = parts.state;
    let _one_at_a_time = lock(&state.running);
    {
        let _no_commit_in_flight = write(&state.gate);
        *lock(&state.protect) = Some(HashSet::new());
    }
    let result = parts
        .queue
        .flush()
        .and_then(|()| mark_and_sweep(parts, roots()?));
    *lock(&state.protect) = None;
    result
}

fn mark_and_sweep(parts: &Collector<'_>, roots: Roots) -> EngineResult<GcReport> {
    let Collector {
        layers,
        queue,
        snapshots,
        state,
    } = *parts;
    let mut marked = mark(parts, &roots.snapshots)?;
    let mut sweep = unmarked(layers, &marked, &roots.snapshots)?;

    // Step 3: under the protect lock, spare what commits made meanwhile,
    // publish tombstones and queue the deletions ahead of any later commit.
    let mut protect = lock(&state.protect);
    let protected = protect.take().unwrap_or_default();
    close_over(layers, &protected, &mut marked)?;
    sweep.objects.retain(|(h, _)| !marked.contains(h));
    sweep
        .snapshots
        .retain(|id| !protected.contains(&id.object_hash()));
    write(&state.tombstones).publish(sweep.objects.iter().map(|(h, _)| *h));
    let index = time_index(layers, &sweep)?;
    queue.submit(StoreWrite {
        object_deletes: sweep.objects.iter().map(|(h, _)| *h).collect(),
        meta_deletes: sweep
            .snapshots
            .iter()
            .map(keys::snapshot)
            .chain(index.deletes)
            .chain(roots.stale_records)
            .collect(),
        meta_puts: index.puts,
        ..StoreWrite::default()
    })?;
    drop(protect);

    snapshots.forget(&sweep.snapshots);
    queue.flush()?;
    // Every deletion is stored: trees this collection vouched for start new
    // lineages, and sets no live lineage predates are dropped.
    {
        let mut tombstones = write(&state.tombstones);
        let generation = tombstones.generation();
        for lineage in snapshots.renew_lineages(&roots.snapshots) {
            tombstones.stamp(&lineage, generation);
        }
        tombstones.prune();
    }
    let report = GcReport {
        marked: marked.len() as u64,
        objects_reclaimed: sweep.objects.len() as u64,
        bytes_reclaimed: sweep.objects.iter().map(|(_, n)| n).sum(),
        snapshots_reclaimed: sweep.snapshots.len() as u64,
    };
    tracing::info!(?report, "gc done");
    Ok(report)
}

/// Everything reachable from the root snapshots.
fn mark(parts: &Collector<'_>, roots: &HashSet<SnapshotId>) -> EngineResult<HashSet<Hash>> {
    let mut marked = HashSet::new();
    for id in roots {
        match parts.snapshots.hot_tree(id) {
            Some((vst, false)) => mark_in_memory(parts.layers, &vst, &mut marked)?,
            _ => match parts.snapshots.stored(id)? {
                Some(snapshot) => mark_stored(parts.layers, snapshot.root, &mut marked)?,
                // A pin or ref left behind by a crash before its snapshot
                // landed: nothing to keep.
                None => tracing::warn!(%id, "ref or pin names a snapshot that is not stored"),
            },
        }
    }
    Ok(marked)
}

/// What a collection would delete, before sparing what commits made
/// while it marked.
struct Sweep {
    /// Unmarked objects with their encoded sizes.
    objects: Vec<(Hash, u64)>,
    /// Stored snapshot records that are not roots.
    snapshots: Vec<SnapshotId>,
    /// The time of every stored snapshot record that decodes, for its
    /// `time/` key.
    times: HashMap<SnapshotId, u64>,
}

/// The `time/` keys a collection changes.
struct TimeIndex {
    deletes: Vec<Vec<u8>>,
    puts: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Drops the `time/` keys of the records swept; in a store whose index is
/// not complete yet (written before it existed), also writes the keys of
/// every record kept and marks the index complete. The records were all
/// read for the sweep, so this adds no read; a commit during the
/// collection writes its own key.
fn time_index(layers: &Layers, sweep: &Sweep) -> EngineResult<TimeIndex> {
    let swept: HashSet<&SnapshotId> = sweep.snapshots.iter().collect();
    let key = |(id, time): (&SnapshotId, &u64)| keys::by_time(id, *time);
    let deletes = sweep
        .times
        .iter()
        .filter(|(id, _)| swept.contains(id))
        .map(key)
        .collect();
    let mut puts = Vec::new();
    if layers.get_meta(keys::TIME_INDEXED)?.is_none() {
        puts.extend(
            sweep
                .times
                .iter()
                .filter(|(id, _)| !swept.contains(id))
                .map(|entry| (key(entry), Vec::new())),
        );
        puts.push((keys::TIME_INDEXED.to_vec(), Vec::new()));
    }
    Ok(TimeIndex { deletes, puts })
}

fn unmarked(
    layers: &Layers,
    marked: &HashSet<Hash>,
    roots: &HashSet<SnapshotId>,
) -> EngineResult<Sweep> {
    let l2 = layers.l2();
    let mut sweep = Sweep {
        objects: Vec::new(),
        snapshots: Vec::new(),
        times: HashMap::new(),
    };
    for item in l2.objects(None)? {
        let (hash, bytes) = item?;
        if !marked.contains(&hash) {
            sweep.objects.push((hash, bytes.len() as u64));
        }
    }
    for item in l2.meta_with_prefix(keys::SNAP)? {
        let (key, bytes) = item?;
        let Some(id) = keys::id_suffix(&key, keys::SNAP) else {
            continue;
        };
        if let Ok(snapshot) = Snapshot::decode(&bytes) {
            sweep.times.insert(id, snapshot.time_micros);
        }
        if !roots.contains(&id) {
            sweep.snapshots.push(id);
        }
    }
    Ok(sweep)
}
