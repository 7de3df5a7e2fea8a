//! [`HeliosEngine::watch`] and [`HeliosEngine::unwatch`]: plain working
//! directories the engine keeps a [`Watcher`] on, so that
//! [`HeliosEngine::capture`] in a long-lived process re-examines only what
//! was reported changed since the last capture (see
//! [`helios_workdir::watch`] for when it walks everything instead).
//!
//! The engine needs nothing else to keep a watcher right: its own
//! checkouts are reported like any other write, and a capture's base (the
//! snapshot the directory holds) that differs from the watcher's only on
//! reported paths is accepted as is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use helios_workdir::Watcher;

use super::HeliosEngine;
use crate::error::{EngineError, EngineResult};
use crate::sync::lock;

/// Beside the directory's state file: the file whose write syncs a watcher
/// (outside the working directory, or in the store inside it, which is
/// never watched).
const COOKIE_SUFFIX: &str = ".watch";

/// The watched directories, by canonical path.
#[derive(Debug, Default)]
pub(super) struct Watchers {
    by_dir: Mutex<HashMap<PathBuf, Arc<Mutex<Watcher>>>>,
}

impl Watchers {
    /// The watcher of `dir`, if it has one.
    pub(super) fn get(&self, dir: &Path) -> EngineResult<Option<Arc<Mutex<Watcher>>>> {
        let by_dir = lock(&self.by_dir);
        if by_dir.is_empty() {
            // Nothing watched: no path to resolve.
            return Ok(None);
        }
        Ok(by_dir.get(&resolve(dir)?).cloned())
    }
}

fn resolve(dir: &Path) -> EngineResult<PathBuf> {
    dir.canonicalize()
        .map_err(|e| EngineError::io("resolve", dir, e))
}

impl HeliosEngine {
    /// Keeps the plain working directory `dir` (which must exist) watched
    /// for changes while the engine lives, so that each
    /// [`HeliosEngine::capture`] of it reads only what changed since the
    /// previous one (the first still reads everything). Returns false when
    /// it was watched already.
    ///
    /// Costs one inotify instance (the kernel allows 128 per user by
    /// default) and one watch per directory beneath `dir`; fails with
    /// [`helios_workdir::WorkdirError::WatchUnavailable`] where they run
    /// out or inotify is missing, and capture then works as before.
    pub fn watch(&self, dir: &Path) -> EngineResult<bool> {
        let protected: Vec<_> = self.check_workdir(dir)?.into_iter().collect();
        let key = resolve(dir)?;
        let mut by_dir = lock(&self.watchers.by_dir);
        if by_dir.contains_key(&key) {
            return Ok(false);
        }
        let mut cookie = self.state_file(&key)?.path().as_os_str().to_owned();
        cookie.push(COOKIE_SUFFIX);
        let watcher = Watcher::new(&key, Path::new(&cookie), &protected)?;
        by_dir.insert(key, Arc::new(Mutex::new(watcher)));
        Ok(true)
    }

    /// Stops watching `dir`; false when it was not watched.
    pub fn unwatch(&self, dir: &Path) -> EngineResult<bool> {
        let key = resolve(dir)?;
        Ok(lock(&self.watchers.by_dir).remove(&key).is_some())
    }
}
