//! Working directories as engine operations: [`HeliosEngine::materialize`],
//! [`HeliosEngine::checkout`] and [`HeliosEngine::capture`] wrap the
//! `helios_workdir` crate with what only the engine knows —
//! which snapshot a directory holds, where its state file lives, and that
//! the store's own directory must never be touched.
//!
//! The snapshot a directory holds is recorded in memory and, for later
//! processes (the CLI), under `wd/` + its canonical path in the store's
//! metadata. The state files (stat cache, journal, in-progress marker) live
//! under `<store>/workdirs/`, named by a hash of the directory's canonical
//! path; the engine keeps the decoded state of the few directories used
//! last, so a switch does not decode the whole stat cache again.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use helios_types::store::ObjectStore;
use helios_types::{HashAlgorithm, RepoPath, SnapshotId};

use super::{CommitMeta, HeliosEngine};
use crate::error::{EngineError, EngineResult};
use crate::gc::Roots;
use crate::keys;
use crate::layers::Layers;
use crate::pipeline::StoreWrite;
use crate::sync::lock;
use crate::{Durability, WorkdirCommit};
use helios_workdir::{
    self as workdir, CaptureOptions, Captured, CheckoutOptions, OverlayMount, Report, StateFile,
};

/// The store's areas for files about working directories (the store
/// directory's layout above RocksDB's own files is known here only).
const STATE_FILES: &str = "workdirs";
const OVERLAY_LOWER: &str = "overlay/lower";
pub(super) const OVERLAY_MOUNTS: &str = "overlay/mounts";

/// A working directory's name inside an area: 32 hex digits of the BLAKE3
/// hash of its canonical path (fixed length, whatever the path holds).
fn dir_key(canonical_dir: &Path) -> String {
    let hash = HashAlgorithm::Blake3.digest(canonical_dir.as_os_str().as_encoded_bytes());
    hash.to_hex()[..32].to_owned()
}

/// How many working directories keep their decoded state in memory (about
/// 25 MB each at 100K files); the least recently used one is dropped first.
const KEPT_STATE_FILES: usize = 8;

/// What the engine knows of working directories in this process.
#[derive(Debug, Default)]
pub(super) struct WorkdirRecords {
    /// The snapshot each working directory holds, by canonical path.
    heads: Mutex<HashMap<PathBuf, SnapshotId>>,
    /// The state files of recently used working directories.
    state_files: Mutex<StateFiles>,
}

impl WorkdirRecords {
    /// What working directories hold, as gc roots: the base of their next
    /// capture. Records of directories that no longer exist keep nothing
    /// alive and are dropped.
    pub(super) fn roots(&self, layers: &Layers) -> EngineResult<Roots> {
        let mut roots = Roots::default();
        roots.snapshots.extend(lock(&self.heads).values());
        for item in layers.l2().meta_with_prefix(keys::WORKDIR)? {
            let (key, value) = item?;
            let dir = Path::new(OsStr::from_bytes(&key[keys::WORKDIR.len()..]));
            match SnapshotId::from_slice(&value) {
                Some(id) if dir.is_dir() => {
                    roots.snapshots.insert(id);
                }
                _ => roots.stale_records.push(key),
            }
        }
        Ok(roots)
    }
}

/// The [`StateFile`]s of the working directories used most recently.
#[derive(Debug, Default)]
struct StateFiles {
    /// Canonical directory → its state file and when it was last used.
    by_dir: HashMap<PathBuf, (Arc<StateFile>, u64)>,
    clock: u64,
}

impl StateFiles {
    fn get(&mut self, dir: &Path, path: impl FnOnce() -> PathBuf) -> Arc<StateFile> {
        self.clock += 1;
        if let Some((file, used)) = self.by_dir.get_mut(dir) {
            *used = self.clock;
            return Arc::clone(file);
        }
        if self.by_dir.len() >= KEPT_STATE_FILES
            && let Some(oldest) = self
                .by_dir
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(dir, _)| dir.clone())
        {
            self.by_dir.remove(&oldest);
        }
        let file = Arc::new(StateFile::new(path()));
        self.by_dir
            .insert(dir.to_path_buf(), (Arc::clone(&file), self.clock));
        file
    }
}

impl HeliosEngine {
    /// Writes snapshot `id` (or the paths `filter` selects) into an empty
    /// directory, and records that the directory holds it.
    pub fn materialize(
        &self,
        id: &SnapshotId,
        dir: &Path,
        filter: &dyn Fn(&RepoPath) -> bool,
        progress: &dyn Fn(u64, u64),
    ) -> EngineResult<Report> {
        self.check_workdir(dir)?;
        let vst = self.restore(id)?;
        let report = workdir::materialize(&vst, self.objects(), dir, filter, progress)?;
        self.record_head(dir, id)?;
        Ok(report)
    }

    /// Makes `dir` hold exactly snapshot `id`, touching only what differs
    /// from what it held (see [`workdir::Checkout`]). The store directory,
    /// when inside `dir`, is protected.
    pub fn checkout(
        &self,
        id: &SnapshotId,
        dir: &Path,
        options: &CheckoutOptions,
        progress: &dyn Fn(u64, u64),
    ) -> EngineResult<Report> {
        let mut options = options.clone();
        options.capture.protected.extend(self.check_workdir(dir)?);
        let to = self.restore(id)?;
        let from = match self.workdir_head(dir)? {
            Some(held) => self.restore(&held).ok(),
            None => None,
        };
        let state = self.state_file(dir)?;
        let report = workdir::Checkout {
            from: from.as_ref(),
            to: &to,
            blobs: self.objects(),
            dir,
            state: &state,
        }
        .run(&options, progress)?;
        self.record_head(dir, id)?;
        Ok(report)
    }

    /// Reads `dir` back into a tree, starting from the snapshot it holds so
    /// that only changed files are read (see [`workdir::capture`]); an
    /// overlay [`HeliosEngine::mount`] made is read from its upper layer
    /// only, and a directory [`HeliosEngine::watch`] keeps watched is read
    /// at the paths reported changed only (see [`workdir::Watcher`]).
    /// Commit the result to make a snapshot.
    pub fn capture(&self, dir: &Path, options: &CaptureOptions) -> EngineResult<Captured> {
        let mut options = options.clone();
        options.protected.extend(self.check_workdir(dir)?);
        if let Some(mount) = self.attached_mount(dir)? {
            return self.capture_mount(&mount, &options);
        }
        let base = match self.workdir_head(dir)? {
            Some(held) => match self.restore(&held) {
                Ok(vst) => vst,
                // Reclaimed by gc before heads were roots, say: every file
                // is read again instead of failing the commit.
                Err(EngineError::SnapshotNotFound(_) | EngineError::MissingObject(_)) => {
                    tracing::warn!(%held, dir = %dir.display(), "the snapshot this directory held is gone; reading every file");
                    self.empty_tree()
                }
                Err(e) => return Err(e),
            },
            None => self.empty_tree(),
        };
        let state = self.state_file(dir)?;
        std::thread::scope(|threads| {
            // A large file's chunks are hashed on a thread of their own and
            // stored through the write queue.
            let chunks = super::queued::QueuedWrites::new(self, Some(threads));
            if let Some(watcher) = self.watchers.get(dir)? {
                let mut watcher = lock(&watcher);
                // Captured and not committed since (so not the head): the
                // directory holds the watcher's last tree.
                let base = match watcher.base() {
                    Some(tree) if state.holds()? == Some(tree.root_hash()) => tree.clone(),
                    _ => base,
                };
                return Ok(watcher.capture(&base, &options, &state, &chunks)?);
            }
            Ok(workdir::capture(dir, &base, &options, &state, &chunks)?)
        })
    }

    /// Snapshots the working directory `dir`: captures it (as
    /// [`HeliosEngine::capture`] does), commits the tree with the snapshot
    /// the directory held as its parent (whatever `meta.parents` says), and
    /// records that the directory now holds the new snapshot. What every
    /// front end calls a commit of a directory.
    pub fn commit_workdir(
        &self,
        dir: &Path,
        options: &CaptureOptions,
        durability: Durability,
        mut meta: CommitMeta,
    ) -> EngineResult<WorkdirCommit> {
        let parent = self.workdir_head(dir)?;
        let start = Instant::now();
        let captured = self.capture(dir, options)?;
        let capture_latency = start.elapsed();
        meta.parents = parent.into_iter().collect();
        let (id, metrics) = self.commit(&captured.tree, durability, meta)?;
        self.record_head(dir, &id)?;
        Ok(WorkdirCommit {
            id,
            parent,
            metrics,
            report: captured.report,
            capture_latency,
        })
    }

    /// Reads an overlay mount's node back (see [`OverlayMount::capture`]),
    /// storing a large file's chunks as [`HeliosEngine::capture`] does.
    pub fn capture_mount(
        &self,
        mount: &OverlayMount,
        options: &CaptureOptions,
    ) -> EngineResult<Captured> {
        std::thread::scope(|threads| {
            let chunks = super::queued::QueuedWrites::new(self, Some(threads));
            Ok(mount.capture(options, &chunks)?)
        })
    }

    /// Records that `dir` now holds snapshot `id` (after a commit of a
    /// capture, say), so the next checkout takes the fast path. A hint: an
    /// engine opened read-only (a full disk, say) keeps it in memory only,
    /// and a store that refuses it drops it with a warning.
    pub fn record_head(&self, dir: &Path, id: &SnapshotId) -> EngineResult<()> {
        let dir = canonical(dir)?;
        lock(&self.workdirs.heads).insert(dir.clone(), *id);
        let read_only = self.rocks.as_ref().is_some_and(|r| r.is_read_only());
        if !read_only && self.snapshots.is_durable(id)? {
            self.queue.submit(StoreWrite {
                meta_puts: vec![(keys::workdir(&dir), id.as_bytes().to_vec())],
                hint: true,
                ..StoreWrite::default()
            })?;
        }
        Ok(())
    }

    /// The snapshot `dir` was last checked out to, materialized at or
    /// committed from, if the engine knows.
    pub fn workdir_head(&self, dir: &Path) -> EngineResult<Option<SnapshotId>> {
        let dir = resolved(dir)?;
        if let Some(id) = lock(&self.workdirs.heads).get(&dir) {
            return Ok(Some(*id));
        }
        let key = keys::workdir(&dir);
        Ok(self
            .layers
            .get_meta(&key)?
            .and_then(|v| SnapshotId::from_slice(&v)))
    }

    /// Folds the state journal of every working directory the store
    /// records into one snapshot (see [`workdir::fold_state`]), so that
    /// their state takes the least room; how many it folded. A directory
    /// in use is skipped, and one whose state cannot be folded (damaged,
    /// say) is logged and left for its next operation to deal with.
    pub(super) fn fold_workdir_states(&self) -> EngineResult<usize> {
        let mut dirs: BTreeSet<PathBuf> = lock(&self.workdirs.heads).keys().cloned().collect();
        for item in self.layers.l2().meta_with_prefix(keys::WORKDIR)? {
            let (key, _) = item?;
            dirs.insert(PathBuf::from(OsStr::from_bytes(
                &key[keys::WORKDIR.len()..],
            )));
        }
        // A directory's failure is its own: the others are still folded.
        let fold = |dir: &Path| -> EngineResult<bool> {
            Ok(workdir::fold_state(dir, &*self.state_file(dir)?)?)
        };
        let mut folded = 0;
        for dir in dirs.iter().filter(|dir| dir.is_dir()) {
            match fold(dir) {
                Ok(true) => folded += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "working-directory state not folded");
                }
            }
        }
        Ok(folded)
    }

    pub(super) fn state_file(&self, dir: &Path) -> EngineResult<Arc<StateFile>> {
        let dir = canonical(dir)?;
        let base = self.area(STATE_FILES)?;
        Ok(lock(&self.workdirs.state_files).get(&dir, || base.join(dir_key(&dir))))
    }

    /// Where `helios mount` keeps the read-only copy of snapshot `id` that
    /// every overlay of it shares as its lower layer.
    pub fn overlay_lower(&self, id: &SnapshotId) -> EngineResult<PathBuf> {
        Ok(self.area(OVERLAY_LOWER)?.join(id.to_hex()))
    }

    /// Where the overlay mounted at `dir` (which must exist) keeps its upper
    /// and work directories.
    pub fn overlay_scratch(&self, dir: &Path) -> EngineResult<PathBuf> {
        let dir = dir
            .canonicalize()
            .map_err(|e| EngineError::io("resolve", dir, e))?;
        Ok(self.area(OVERLAY_MOUNTS)?.join(dir_key(&dir)))
    }

    /// The directory of the store (made if needed) where it keeps one kind
    /// of per-working-directory files; under the system's temp directory
    /// for an engine without a store directory.
    fn area(&self, area: &str) -> EngineResult<PathBuf> {
        let base = match &self.path {
            Some(store) => store.join(area),
            None => std::env::temp_dir().join("helios").join(area),
        };
        std::fs::create_dir_all(&base)
            .map_err(|e| EngineError::io("create directory", &base, e))?;
        Ok(base)
    }

    /// Refuses a working directory that would overlap the store: one that
    /// is the store, lies inside it, or holds it below its top level. A
    /// store that is a top-level entry of `dir` is returned, to be
    /// protected: checkout leaves it alone and capture skips it.
    pub fn check_workdir(&self, dir: &Path) -> EngineResult<Option<RepoPath>> {
        let Some(store) = &self.path else {
            return Ok(None);
        };
        let (store, dir) = (resolved(store)?, resolved(dir)?);
        let refuse = |problem| {
            Err(EngineError::WorkdirOverlapsStore {
                dir: dir.clone(),
                store: store.clone(),
                problem,
            })
        };
        if dir == store {
            return refuse("it is");
        }
        if dir.starts_with(&store) {
            return refuse("it lies inside");
        }
        let Ok(rel) = store.strip_prefix(&dir) else {
            return Ok(None);
        };
        match RepoPath::parse(rel.as_os_str().as_encoded_bytes()) {
            Ok(rel) if rel.names().len() == 1 => Ok(Some(rel)),
            _ => refuse("it holds, below its top level,"),
        }
    }
}

/// The absolute, symlink-free form of a path that may not exist yet: its
/// deepest existing ancestor canonicalized, the rest appended. Creates
/// nothing.
fn resolved(path: &Path) -> EngineResult<PathBuf> {
    let io_err = |e| EngineError::io("resolve", path, e);
    let absolute = std::path::absolute(path).map_err(io_err)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(mut out) => {
                for part in rest.iter().rev() {
                    match part {
                        std::path::Component::ParentDir => {
                            out.pop();
                        }
                        std::path::Component::Normal(name) => out.push(name),
                        _ => {}
                    }
                }
                return Ok(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (Some(parent), Some(last)) =
                    (existing.parent(), existing.components().next_back())
                else {
                    return Err(io_err(e));
                };
                rest.push(last);
                existing = parent;
            }
            Err(e) => return Err(io_err(e)),
        }
    }
}

/// The absolute, symlink-free form of a directory, creating it if needed
/// so that a fresh working directory has one.
fn canonical(dir: &Path) -> EngineResult<PathBuf> {
    std::fs::create_dir_all(dir)
        .and_then(|()| dir.canonicalize())
        .map_err(|e| EngineError::io("resolve", dir, e))
}
