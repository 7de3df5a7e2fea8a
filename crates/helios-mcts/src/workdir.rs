//! Working directories the scorer runs in.
//!
//! [`Workdir`] is the seam between the search and a directory a scorer can
//! run in. Two modes implement it:
//!
//! - plain: [`FsWorkdir`] switches one directory with the engine's
//!   incremental checkout, touching what differs from the node it held;
//! - overlay: [`OverlayWorkdir`] materializes a base tree (the search's
//!   root) once as a read-only lower layer and mounts each node as an
//!   overlayfs whose upper layer holds only the node's difference from the
//!   base. Every node is scored in a fresh directory (a scorer's leftovers
//!   go with the upper layer), and a switch costs the node's distance from
//!   the base, not from the previous node. Mounting needs root or a user
//!   namespace; [`OverlayWorkdir::new`] fails with
//!   [`MctsError::OverlayUnavailable`] where it is not allowed, so a caller
//!   can fall back to plain mode (a `Box<dyn Workdir>` holds either).

use std::fs;
use std::path::{Path, PathBuf};

use helios_engine::{EngineError, HeliosEngine};
use helios_types::{EntryKind, SnapshotId};
use helios_vst::{Change, Vst};
use helios_workdir::{CaptureOptions, Captured, CheckoutOptions, WorkdirError};
use helios_workdir::{OverlayBase, OverlayMount};

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

/// A boxed working directory of either mode, for a caller that picks the
/// mode at run time (overlay where allowed, plain otherwise).
impl<W: Workdir + ?Sized> Workdir for Box<W> {
    fn switch_to(&mut self, id: &SnapshotId, vst: &Vst) -> MctsResult<SwitchStats> {
        (**self).switch_to(id, vst)
    }

    fn path(&self) -> &Path {
        (**self).path()
    }
}

/// Creates `dir` if missing and refuses it unless it is empty
/// ([`helios_workdir::empty_dir`]); a busy directory is a configuration
/// error of the search.
fn empty_dir(dir: &Path) -> MctsResult<()> {
    helios_workdir::empty_dir(dir).map_err(|e| match e {
        WorkdirError::NotEmpty { path } => {
            MctsError::Config(format!("working directory {} is not empty", path.display()))
        }
        WorkdirError::Io { op, path, source } => MctsError::Io { op, path, source },
        e => overlay_error(e),
    })
}

/// A plain working directory switched by the engine's own incremental
/// checkout ([`HeliosEngine::checkout`]): each switch writes, deletes and
/// retypes only what differs from the snapshot the directory held.
///
/// The fast path trusts the directory's recorded state for paths outside
/// the diff, so a scorer's leftovers (caches, build outputs) outside the
/// tree's paths stay where they are.
///
/// The directory is registered with the engine's watcher
/// ([`HeliosEngine::watch`]) while the value lives, where the system
/// allows it: [`FsWorkdir::capture`] — an environment whose tools edit the
/// directory itself snapshotting their work — then reads only what changed
/// since the last capture, however many switches came between.
#[derive(Debug)]
pub struct FsWorkdir<'e> {
    engine: &'e HeliosEngine,
    dir: PathBuf,
    watched: bool,
}

impl<'e> FsWorkdir<'e> {
    /// Uses `dir` (created if missing; it must be empty) as a working
    /// directory. It starts as the empty tree.
    pub fn new(engine: &'e HeliosEngine, dir: impl Into<PathBuf>) -> MctsResult<Self> {
        let dir = dir.into();
        empty_dir(&dir)?;
        let watched = match engine.watch(&dir) {
            Ok(_) => true,
            // No inotify left or none at all: captures read everything.
            Err(EngineError::Workdir(WorkdirError::WatchUnavailable { .. })) => false,
            Err(e) => return Err(e.into()),
        };
        Ok(FsWorkdir {
            engine,
            dir,
            watched,
        })
    }

    /// Whether the engine watches the directory (see the type's docs).
    pub fn is_watched(&self) -> bool {
        self.watched
    }

    /// What the directory holds now, as a tree to commit: the node it was
    /// switched to plus whatever was done to it since (see
    /// [`HeliosEngine::capture`]; watched, only the paths reported changed
    /// are read).
    pub fn capture(&self, options: &CaptureOptions) -> MctsResult<Captured> {
        Ok(self.engine.capture(&self.dir, options)?)
    }
}

impl Drop for FsWorkdir<'_> {
    fn drop(&mut self) {
        if self.watched {
            // Errors cannot leave a destructor; the watch ends with the
            // engine at the latest.
            let _ = self.engine.unwatch(&self.dir);
        }
    }
}

impl Workdir for FsWorkdir<'_> {
    /// Checks snapshot `id` out; the engine restores its tree (hot
    /// snapshots from memory) and records what the directory holds.
    fn switch_to(&mut self, id: &SnapshotId, _vst: &Vst) -> MctsResult<SwitchStats> {
        // The search owns this directory: whatever is in it is its own.
        let options = CheckoutOptions {
            force: true,
            ..CheckoutOptions::default()
        };
        let report = self.engine.checkout(id, &self.dir, &options, &|_, _| {})?;
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

/// An overlay-mode working directory (Linux): `dir/lower` holds a
/// read-only materialization of the base tree, made once; each switch
/// unmounts the previous node and mounts the next at `dir/merged`, with
/// its difference from the base applied through the mount into a fresh
/// upper layer under `dir/scratch`.
///
/// A switch costs `base.diff(node)`, so a base near the nodes (the search's
/// root) keeps it small. Nothing a scorer writes survives a switch, and
/// the lower layer never changes. Dropping the value unmounts the current
/// node (lazily, detached, if a plain unmount fails).
#[derive(Debug)]
pub struct OverlayWorkdir<'e> {
    engine: &'e HeliosEngine,
    base: OverlayBase,
    scratch: PathBuf,
    merged: PathBuf,
    mount: Option<OverlayMount>,
}

/// The engine's overlay error, with "not allowed here" kept apart so a
/// caller can match it and fall back to plain mode.
fn overlay_error(e: WorkdirError) -> MctsError {
    match e {
        WorkdirError::OverlayUnavailable { reason } => MctsError::OverlayUnavailable { reason },
        e => MctsError::Engine(EngineError::from(e)),
    }
}

impl<'e> OverlayWorkdir<'e> {
    /// Uses `dir` (created if missing; it must be empty) for an overlay
    /// working directory over `base`, and mounts `base` there.
    ///
    /// The set-up is helios-workdir's [`OverlayBase::new`], which first
    /// checks that this process may mount overlayfs: where it may not, this
    /// fails fast, before copying the base, with
    /// [`MctsError::OverlayUnavailable`] (and leaves `dir` empty): use
    /// [`FsWorkdir`] instead.
    pub fn new(engine: &'e HeliosEngine, dir: impl Into<PathBuf>, base: &Vst) -> MctsResult<Self> {
        let dir = dir.into();
        empty_dir(&dir)?;
        let (lower, scratch) = (dir.join("lower"), dir.join("scratch"));
        let base = OverlayBase::new(base, engine.objects(), &lower, &scratch, &|_, _| {})
            .map_err(overlay_error)?;
        let root = base.base().clone();
        let mut wd = OverlayWorkdir {
            engine,
            base,
            scratch,
            merged: dir.join("merged"),
            mount: None,
        };
        wd.mount(&root)?;
        Ok(wd)
    }

    /// The base tree the lower layer holds.
    pub fn base(&self) -> &Vst {
        self.base.base()
    }

    fn mount(&mut self, node: &Vst) -> MctsResult<()> {
        if let Some(old) = self.mount.take() {
            old.unmount().map_err(overlay_error)?;
        } else if self.scratch.exists() {
            // A failed mount may have left upper and work directories.
            fs::remove_dir_all(&self.scratch)
                .map_err(|e| MctsError::io("remove", &self.scratch, e))?;
        }
        let mount = self
            .base
            .mount(node, self.engine.objects(), &self.scratch, &self.merged)
            .map_err(overlay_error)?;
        self.mount = Some(mount);
        Ok(())
    }
}

impl Workdir for OverlayWorkdir<'_> {
    /// Mounts `vst` in place of the node held. The counts are the upper
    /// layer the switch built: the node's difference from the base (a
    /// switch to the base writes nothing).
    fn switch_to(&mut self, _id: &SnapshotId, vst: &Vst) -> MctsResult<SwitchStats> {
        self.mount(vst)?;
        let mut stats = SwitchStats::default();
        for change in self.base().diff(vst)? {
            let written = match change {
                Change::Added { entry, .. } => Some(entry),
                Change::Modified { new, .. } => Some(new),
                Change::TypeChanged { new, .. } => {
                    stats.entries_removed += 1;
                    Some(new)
                }
                Change::Deleted { .. } => {
                    stats.entries_removed += 1;
                    None
                }
            };
            if let Some(entry) = written.filter(|e| e.kind != EntryKind::Dir) {
                stats.files_written += 1;
                stats.bytes_written += entry.size;
            }
        }
        Ok(stats)
    }

    fn path(&self) -> &Path {
        &self.merged
    }
}

impl Drop for OverlayWorkdir<'_> {
    fn drop(&mut self) {
        if let Some(mount) = self.mount.take() {
            // Errors cannot leave a destructor; a failed unmount falls back
            // to the mount's own lazy (detached) unmount.
            let _ = mount.unmount();
        }
    }
}
