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
//!    written after the deletion.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::sync::{Arc, Mutex, RwLock};

use helios_types::store::ObjectStore;
use helios_types::{EntryKind, Hash, ObjectKind, SnapshotId, Tree};
use helios_vst::{NewObject, Vst};

use crate::engine::{GcReport, HeliosEngine, StateManager, lock, read, write};
use crate::error::{EngineError, EngineResult};
use crate::keys;
use crate::pipeline::StoreWrite;

/// Coordination between collections and commits.
#[derive(Default)]
pub(crate) struct GcState {
    /// One collection at a time.
    running: Mutex<()>,
    /// Commits hold it (shared) from `admit` until their write is queued;
    /// a collection takes it (exclusive) to start protecting, so no commit
    /// can be admitted before the collection began yet written after its
    /// flush without being protected.
    pub(crate) gate: RwLock<()>,
    /// `Some` while a collection is between its start and its sweep.
    protect: Mutex<Option<HashSet<Hash>>>,
    /// Objects deleted by a collection and not written since.
    pub(crate) tombstones: Arc<RwLock<HashSet<Hash>>>,
}

impl GcState {
    /// Admits a commit's new objects: refuses a root or references to
    /// reclaimed objects, and while a collection runs, protects everything the commit
    /// creates or points at.
    pub(crate) fn admit(
        &self,
        root: Hash,
        objects: &[NewObject],
        id: SnapshotId,
    ) -> EngineResult<()> {
        let mut protect = lock(&self.protect);
        let tombstones = read(&self.tombstones);
        if protect.is_none() && tombstones.is_empty() {
            return Ok(());
        }
        let created: HashSet<Hash> = objects.iter().map(|o| o.hash).collect();
        let mut referenced = Vec::new();
        for o in objects.iter().filter(|o| o.kind == ObjectKind::Tree) {
            let tree = Tree::decode(&o.encoded).map_err(|e| EngineError::corrupt(o.hash, e))?;
            referenced.extend(tree.entries().iter().map(|e| e.hash));
        }
        // The root too: a tree restored from a reclaimed snapshot and
        // committed unchanged creates nothing and references nothing new.
        if let Some(h) = referenced
            .iter()
            .chain([&root])
            .find(|h| tombstones.contains(h) && !created.contains(h))
        {
            return Err(EngineError::Reclaimed(*h));
        }
        if let Some(set) = protect.as_mut() {
            set.extend(created);
            set.extend(referenced);
            set.insert(id.object_hash());
        }
        Ok(())
    }
}

/// Marks `tree` and everything beneath it, reading trees through the layers.
fn mark_stored(engine: &HeliosEngine, tree: Hash, marked: &mut HashSet<Hash>) -> EngineResult<()> {
    if !marked.insert(tree) {
        return Ok(());
    }
    let mut stack = vec![tree];
    while let Some(hash) = stack.pop() {
        let bytes = engine
            .layers
            .get(&hash)?
            .ok_or(EngineError::MissingObject(hash))?;
        let tree = Tree::decode(&bytes).map_err(|e| EngineError::corrupt(hash, e))?;
        for e in tree.entries() {
            if marked.insert(e.hash) && e.kind == EntryKind::Dir {
                stack.push(e.hash);
            }
        }
    }
    Ok(())
}

/// Marks what a memory-only tree references in L2: it may share persisted
/// subtrees with stored snapshots.
fn mark_in_memory(
    engine: &HeliosEngine,
    vst: &Vst,
    marked: &mut HashSet<Hash>,
) -> EngineResult<()> {
    let mut stack = vec![helios_types::RepoPath::root()];
    while let Some(dir) = stack.pop() {
        for (name, entry) in vst.list(&dir)? {
            if entry.kind != EntryKind::Dir {
                marked.insert(entry.hash);
            } else if engine.layers.contains(&entry.hash)? {
                mark_stored(engine, entry.hash, marked)?;
            } else {
                stack.push(dir.join(name));
            }
        }
    }
    Ok(())
}

/// Adds to `marked` everything beneath the protected hashes that are trees.
fn close_over(
    engine: &HeliosEngine,
    protect: &HashSet<Hash>,
    marked: &mut HashSet<Hash>,
) -> EngineResult<()> {
    for hash in protect {
        if marked.contains(hash) {
            continue;
        }
        match engine.layers.get(hash)? {
            Some(bytes) if ObjectKind::of_encoded(&bytes) == Some(ObjectKind::Tree) => {
                mark_stored(engine, *hash, marked)?;
            }
            _ => {
                marked.insert(*hash);
            }
        }
    }
    Ok(())
}

pub(crate) fn run(engine: &HeliosEngine) -> EngineResult<GcReport> {
    let _span = tracing::info_span!("gc").entered();
    let state = &engine.gc_state;
    let _one_at_a_time = lock(&state.running);
    {
        let _no_commit_in_flight = write(&state.gate);
        *lock(&state.protect) = Some(HashSet::new());
    }
    let result = mark_and_sweep(engine);
    *lock(&state.protect) = None;
    result
}

fn mark_and_sweep(engine: &HeliosEngine) -> EngineResult<GcReport> {
    engine.flush()?;
    let mut roots: HashSet<SnapshotId> = engine.refs()?.into_values().collect();
    roots.extend(engine.pinned()?);
    // What working directories hold is the base of their next capture.
    roots.extend(lock(&engine.heads).values());
    let mut gone_workdirs = Vec::new();
    for item in engine.layers.l2().meta_with_prefix(keys::WORKDIR)? {
        let (key, value) = item?;
        let dir = std::path::Path::new(OsStr::from_bytes(&key[keys::WORKDIR.len()..]));
        match SnapshotId::from_slice(&value) {
            Some(id) if dir.is_dir() => {
                roots.insert(id);
            }
            // The directory is gone: its record keeps nothing alive.
            _ => gone_workdirs.push(key),
        }
    }
    let mut marked = HashSet::new();
    for id in &roots {
        let hot = read(&engine.hot).get(id).cloned();
        match hot {
            Some(hot) if !hot.durable => mark_in_memory(engine, &hot.vst, &mut marked)?,
            _ => match engine.stored_snapshot(id)? {
                Some(snapshot) => mark_stored(engine, snapshot.root, &mut marked)?,
                // A pin or ref left behind by a crash before its snapshot
                // landed: nothing to keep.
                None => tracing::warn!(%id, "ref or pin names a snapshot that is not stored"),
            },
        }
    }
    let l2 = engine.layers.l2();
    let mut candidates = Vec::new();
    for item in l2.objects(None)? {
        let (hash, bytes) = item?;
        if !marked.contains(&hash) {
            candidates.push((hash, bytes.len() as u64));
        }
    }
    let mut dead_snapshots = Vec::new();
    for item in l2.meta_with_prefix(keys::SNAP)? {
        let (key, _) = item?;
        if let Some(id) = keys::id_suffix(&key, keys::SNAP).filter(|id| !roots.contains(id)) {
            dead_snapshots.push(id);
        }
    }

    // Step 3: under the protect lock, spare what commits made meanwhile,
    // publish tombstones and queue the deletions ahead of any later commit.
    let mut protect = lock(&engine.gc_state.protect);
    let protected = protect.take().unwrap_or_default();
    close_over(engine, &protected, &mut marked)?;
    candidates.retain(|(h, _)| !marked.contains(h));
    dead_snapshots.retain(|id| !protected.contains(&id.object_hash()));
    write(&engine.gc_state.tombstones).extend(candidates.iter().map(|(h, _)| *h));
    let deletion = StoreWrite {
        object_deletes: candidates.iter().map(|(h, _)| *h).collect(),
        meta_deletes: dead_snapshots
            .iter()
            .map(keys::snapshot)
            .chain(gone_workdirs)
            .collect(),
        ..StoreWrite::default()
    };
    engine.submit(crate::pipeline::WriteRequest::Write(deletion))?;
    drop(protect);

    {
        let mut hot = write(&engine.hot);
        for id in &dead_snapshots {
            hot.remove(id);
        }
    }
    engine.flush()?;
    let report = GcReport {
        marked: marked.len() as u64,
        objects_reclaimed: candidates.len() as u64,
        bytes_reclaimed: candidates.iter().map(|(_, n)| n).sum(),
        snapshots_reclaimed: dead_snapshots.len() as u64,
    };
    tracing::info!(?report, "gc done");
    Ok(report)
}
