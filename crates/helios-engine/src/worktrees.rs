//! Working directories as engine operations: [`HeliosEngine::materialize`],
//! [`HeliosEngine::checkout`] and [`HeliosEngine::capture`] wrap the
//! [`workdir`](crate::workdir) module with what only the engine knows —
//! which snapshot a directory holds, where its state file lives, and that
//! the store's own directory must never be touched.
//!
//! The snapshot a directory holds is recorded in memory and, for later
//! processes (the CLI), under `wd/` + its canonical path in the store's
//! metadata. The state files (stat cache, journal, in-progress marker) live
//! under `<store>/workdirs/`, named by a hash of the directory's canonical
//! path; the engine keeps the decoded state of the few directories used
//! last, so a switch does not decode the whole stat cache again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use helios_types::store::ObjectStore;
use helios_types::{HashAlgorithm, RepoPath, SnapshotId};
use helios_vst::Vst;

use crate::engine::{HeliosEngine, StateManager, lock};
use crate::error::{EngineError, EngineResult};
use crate::keys;
use crate::pipeline::{StoreWrite, WriteRequest};
use crate::workdir::{self, CaptureOptions, Captured, CheckoutOptions, Report, StateFile};

const WORKDIR: &[u8] = b"wd/";

/// How many working directories keep their decoded state in memory (about
/// 25 MB each at 100K files); the least recently used one is dropped first.
const KEPT_STATE_FILES: usize = 8;

/// The [`StateFile`]s of the working directories used most recently.
#[derive(Debug, Default)]
pub(crate) struct StateFiles {
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
        let vst = self.restore(id)?;
        let report = workdir::materialize(&vst, self.objects(), dir, filter, progress)?;
        self.record_head(dir, id)?;
        Ok(report)
    }

    /// Makes `dir` hold exactly snapshot `id`, touching only what differs
    /// from what it held (see [`workdir::checkout`]). The store directory,
    /// when inside `dir`, is protected.
    pub fn checkout(
        &self,
        id: &SnapshotId,
        dir: &Path,
        options: &CheckoutOptions,
        progress: &dyn Fn(u64, u64),
    ) -> EngineResult<Report> {
        let to = self.restore(id)?;
        let from = match self.workdir_head(dir)? {
            Some(held) => self.restore(&held).ok(),
            None => None,
        };
        let mut options = options.clone();
        self.protect_store(dir, &mut options.capture)?;
        let state = self.state_file(dir)?;
        let report = workdir::checkout(
            from.as_ref(),
            &to,
            self.objects(),
            dir,
            &state,
            &options,
            progress,
        )?;
        self.record_head(dir, id)?;
        Ok(report)
    }

    /// Reads `dir` back into a tree, starting from the snapshot it holds so
    /// that only changed files are read (see [`workdir::capture`]). Commit
    /// the result to make a snapshot.
    pub fn capture(&self, dir: &Path, options: &CaptureOptions) -> EngineResult<Captured> {
        let base = match self.workdir_head(dir)? {
            Some(held) => self.restore(&held)?,
            None => Vst::new(self.alg),
        };
        let mut options = options.clone();
        self.protect_store(dir, &mut options)?;
        let state = self.state_file(dir)?;
        Ok(workdir::capture(dir, &base, &options, &state)?)
    }

    /// Records that `dir` now holds snapshot `id` (after a commit of a
    /// capture, say), so the next checkout takes the fast path.
    pub fn record_head(&self, dir: &Path, id: &SnapshotId) -> EngineResult<()> {
        let dir = canonical(dir)?;
        lock(&self.heads).insert(dir.clone(), *id);
        if self.is_durable(id)? {
            let key = keys::with_prefix(WORKDIR, dir.as_os_str().as_encoded_bytes());
            let write = StoreWrite {
                meta_puts: vec![(key, id.as_bytes().to_vec())],
                ..StoreWrite::default()
            };
            self.submit(WriteRequest::Write(write))?;
        }
        Ok(())
    }

    /// The snapshot `dir` was last checked out to, materialized at or
    /// committed from, if the engine knows.
    pub fn workdir_head(&self, dir: &Path) -> EngineResult<Option<SnapshotId>> {
        let Ok(dir) = canonical(dir) else {
            return Ok(None);
        };
        if let Some(id) = lock(&self.heads).get(&dir) {
            return Ok(Some(*id));
        }
        let key = keys::with_prefix(WORKDIR, dir.as_os_str().as_encoded_bytes());
        Ok(self
            .layers
            .get_meta(&key)?
            .and_then(|v| SnapshotId::from_slice(&v)))
    }

    fn state_file(&self, dir: &Path) -> EngineResult<Arc<StateFile>> {
        let dir = canonical(dir)?;
        let base = match &self.path {
            Some(store) => store.join("workdirs"),
            None => std::env::temp_dir().join("helios-workdirs"),
        };
        std::fs::create_dir_all(&base).map_err(|e| {
            EngineError::Workdir(workdir::WorkdirError::io("create directory", &base, e))
        })?;
        Ok(lock(&self.state_files).get(&dir, || {
            let name = HashAlgorithm::Blake3
                .digest(dir.as_os_str().as_encoded_bytes())
                .to_hex();
            base.join(&name[..32])
        }))
    }

    /// Adds the store directory to the protected paths when it lies inside
    /// `dir`.
    fn protect_store(&self, dir: &Path, options: &mut CaptureOptions) -> EngineResult<()> {
        let Some(store) = &self.path else {
            return Ok(());
        };
        let (Ok(store), Ok(dir)) = (canonical(store), canonical(dir)) else {
            return Ok(());
        };
        if let Ok(rel) = store.strip_prefix(&dir)
            && let Ok(rel) = RepoPath::parse(rel.as_os_str().as_encoded_bytes())
            && !rel.is_root()
            && !options.protected.contains(&rel)
        {
            options.protected.push(rel);
        }
        Ok(())
    }
}

/// The absolute, symlink-free form of a directory, creating it if needed
/// so that a fresh working directory has one.
fn canonical(dir: &Path) -> EngineResult<PathBuf> {
    std::fs::create_dir_all(dir)
        .and_then(|()| dir.canonicalize())
        .map_err(|e| EngineError::Workdir(workdir::WorkdirError::io("resolve", dir, e)))
}
