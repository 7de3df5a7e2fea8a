//! Working directories the scorer runs in.
//!
//! [`Workdir`] is the seam between the search and a directory a scorer can
//! run in: [`FsWorkdir`] switches a plain directory with the engine's
//! incremental checkout; other implementations (an overlay mount per node)
//! fit the same trait.

use std::fs;
use std::path::{Path, PathBuf};

use helios_engine::HeliosEngine;
use helios_engine::workdir::CheckoutOptions;
use helios_types::SnapshotId;
use helios_vst::Vst;

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

/// A plain working directory switched by the engine's own incremental
/// checkout ([`HeliosEngine::checkout`]): each switch writes, deletes and
/// retypes only what differs from the snapshot the directory held.
///
/// The fast path trusts the directory's recorded state for paths outside
/// the diff, so a scorer's leftovers (caches, build outputs) outside the
/// tree's paths stay where they are.
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
}

impl Workdir for FsWorkdir<'_> {
    fn switch_to(&mut self, id: &SnapshotId, vst: &Vst) -> MctsResult<SwitchStats> {
        let report =
            self.engine
                .checkout(id, &self.dir, &CheckoutOptions::default(), &|_, _| {})?;
        self.current = vst.clone();
        Ok(SwitchStats {
            files_written: report.files_written,
            entries_removed: report.removed,
            bytes_written: report.bytes_written,
        })
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}
