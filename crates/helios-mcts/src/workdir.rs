//! Working directories the scorer runs in.
//!
//! [`Workdir`] is the seam between the search and the engine's own
//! working-directory support: [`FsWorkdir`] writes the files of a tree
//! itself, touching only the files that differ from the tree it held
//! before (a diff of the two trees, skipping shared subtrees). When the
//! engine's `checkout` lands, an implementation calling it replaces this
//! one without changing the search.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use helios_engine::HeliosEngine;
use helios_types::{Blob, EntryKind, RepoPath, SnapshotId};
use helios_vst::{Change, Entry, Vst};

use crate::error::{MctsError, MctsResult};

/// Files a switch touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwitchStats {
    /// Files (and symlinks) written.
    pub files_written: u64,
    /// Entries removed (a directory counts once).
    pub entries_removed: u64,
    /// Bytes written.
    pub bytes_written: u64,
}

/// A real directory that can be turned into any snapshot of the search.
pub trait Workdir {
    /// Makes the directory hold exactly `vst` (the tree of snapshot `id`).
    fn switch_to(&mut self, id: &SnapshotId, vst: &Vst) -> MctsResult<SwitchStats>;
    /// The directory.
    fn path(&self) -> &Path;
}

/// A plain directory the search writes itself: each switch applies the diff
/// from the tree it holds to the target, reading new file contents from
/// the target tree's pending bytes or from the engine's object layers.
///
/// It trusts that nothing else writes into the directory except the files
/// a scorer leaves behind outside the tree's paths.
#[derive(Debug)]
pub struct FsWorkdir<'e> {
    engine: &'e HeliosEngine,
    dir: PathBuf,
    current: Vst,
}

impl<'e> FsWorkdir<'e> {
    /// Uses `dir` (created if missing; it must be empty) as a working
    /// directory. It starts as the empty tree.
    pub fn new(engine: &'e HeliosEngine, dir: impl Into<PathBuf>) -> MctsResult<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| MctsError::io("create directory", &dir, e))?;
        let mut entries = fs::read_dir(&dir).map_err(|e| MctsError::io("list", &dir, e))?;
        if entries.next().is_some() {
            return Err(MctsError::Config(format!(
                "working directory {} is not empty",
                dir.display()
            )));
        }
        Ok(FsWorkdir {
            engine,
            current: engine.empty_tree(),
            dir,
        })
    }

    /// The tree the directory holds.
    pub fn current(&self) -> &Vst {
        &self.current
    }

    fn local(&self, path: &RepoPath) -> PathBuf {
        // RepoPath names are validated: no `..`, `/`, NUL or empty names.
        let mut out = self.dir.clone();
        for name in path.names() {
            out.push(String::from_utf8_lossy(name.as_bytes()).as_ref());
        }
        out
    }

    fn remove(&self, path: &RepoPath, stats: &mut SwitchStats) -> MctsResult<()> {
        let local = self.local(path);
        let meta = match fs::symlink_metadata(&local) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(MctsError::io("stat", local, e)),
        };
        let result = if meta.is_dir() {
            fs::remove_dir_all(&local)
        } else {
            fs::remove_file(&local)
        };
        result.map_err(|e| MctsError::io("remove", &local, e))?;
        stats.entries_removed += 1;
        Ok(())
    }

    fn write(
        &self,
        id: &SnapshotId,
        vst: &Vst,
        path: &RepoPath,
        entry: &Entry,
        stats: &mut SwitchStats,
    ) -> MctsResult<()> {
        let local = self.local(path);
        if entry.kind == EntryKind::Dir {
            return fs::create_dir_all(&local)
                .map_err(|e| MctsError::io("create directory", local, e));
        }
        let stored;
        let pending = vst.pending_bytes(path)?;
        let bytes: &[u8] = match &pending {
            Some(b) => b,
            None => {
                stored =
                    self.engine
                        .object(&entry.hash)?
                        .ok_or_else(|| MctsError::MissingContent {
                            path: path.to_string(),
                            snapshot: *id,
                        })?;
                Blob::payload(&stored).map_err(|e| MctsError::CorruptContent {
                    path: path.to_string(),
                    reason: e.to_string(),
                })?
            }
        };
        // Never write through a symlink left at the path.
        if fs::symlink_metadata(&local).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(&local).map_err(|e| MctsError::io("remove", &local, e))?;
        }
        let write = || match entry.kind {
            EntryKind::Symlink => write_symlink(bytes, &local),
            _ => fs::write(&local, bytes),
        };
        if let Err(e) = write() {
            // Parents are created only when missing: most writes replace a file.
            let parent = local
                .parent()
                .filter(|_| e.kind() == io::ErrorKind::NotFound);
            let Some(parent) = parent else {
                return Err(MctsError::io("write", &local, e));
            };
            fs::create_dir_all(parent).map_err(|e| MctsError::io("create directory", parent, e))?;
            write().map_err(|e| MctsError::io("write", &local, e))?;
        }
        // A new file gets the default mode; a replaced one keeps its own,
        // which matches (a kind change removes the old entry first).
        if entry.kind == EntryKind::Executable {
            set_executable(&local)?;
        }
        stats.files_written += 1;
        stats.bytes_written += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(unix)]
fn write_symlink(target: &[u8], local: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), local)
}

#[cfg(not(unix))]
fn write_symlink(target: &[u8], local: &Path) -> io::Result<()> {
    fs::write(local, target)
}

#[cfg(unix)]
fn set_executable(local: &Path) -> MctsResult<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(local, fs::Permissions::from_mode(0o755))
        .map_err(|e| MctsError::io("chmod", local, e))
}

#[cfg(not(unix))]
fn set_executable(_local: &Path) -> MctsResult<()> {
    Ok(())
}

impl Workdir for FsWorkdir<'_> {
    fn switch_to(&mut self, id: &SnapshotId, vst: &Vst) -> MctsResult<SwitchStats> {
        let mut stats = SwitchStats::default();
        for change in self.current.diff(vst)? {
            match &change {
                Change::Added { path, entry }
                | Change::Modified {
                    path, new: entry, ..
                } => {
                    self.write(id, vst, path, entry, &mut stats)?;
                }
                Change::Deleted { path, .. } => self.remove(path, &mut stats)?,
                Change::TypeChanged { path, new, .. } => {
                    self.remove(path, &mut stats)?;
                    self.write(id, vst, path, new, &mut stats)?;
                }
            }
        }
        self.current = vst.clone();
        Ok(stats)
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}
