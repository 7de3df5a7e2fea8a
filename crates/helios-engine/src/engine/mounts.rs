//! Overlay working directories that outlive the process that mounted them
//! ([`HeliosEngine::mount`], [`HeliosEngine::unmount`]), as `helios mount`
//! makes them.
//!
//! The lower layer (a read-only copy of the snapshot) is made once per
//! snapshot under `<store>/overlay/lower/`; each mount's upper and work
//! directories live under `<store>/overlay/mounts/<dir key>/`, beside a
//! `snapshot` file naming the snapshot the lower layer holds. That file is
//! what lets a later process capture the mount as the mounting process
//! would ([`HeliosEngine::capture`] finds it): the upper layer only, on top
//! of the mounted snapshot, instead of a scan that reads every file through
//! the merged view. The snapshots these files name are gc roots while the
//! files exist.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use helios_types::SnapshotId;
use helios_workdir::overlay::unmount_dir;
use helios_workdir::{CheckoutOptions, OverlayBase, OverlayMount, WorkdirError};

use super::HeliosEngine;
use super::workdirs::OVERLAY_MOUNTS;
use crate::Mounted;
use crate::error::{EngineError, EngineResult};

/// The file in a mount's scratch directory that names its base snapshot.
const BASE_SNAPSHOT: &str = "snapshot";

impl HeliosEngine {
    /// Makes `dir` hold snapshot `id` as an overlay mount that stays after
    /// this engine closes (unmount it with [`HeliosEngine::unmount`]); where
    /// overlayfs may not be mounted, checks the snapshot out instead, before
    /// anything is copied. `progress(done, total)` counts files copied into
    /// the lower layer (made once per snapshot) or written by the checkout.
    pub fn mount(
        &self,
        id: &SnapshotId,
        dir: &Path,
        progress: &dyn Fn(u64, u64),
    ) -> EngineResult<Mounted> {
        self.check_workdir(dir)?;
        let vst = self.restore(id)?;
        let lower = self.overlay_lower(id)?;
        fs::create_dir_all(dir).map_err(|e| EngineError::io("create directory", dir, e))?;
        let scratch = self.overlay_scratch(dir)?;
        let mounted = OverlayBase::new(&vst, self.objects(), &lower, &scratch, progress)
            .and_then(|base| base.mount(&vst, self.objects(), &scratch, dir));
        match mounted {
            Ok(mount) => {
                // Named before the mount is kept: if this fails, dropping
                // `mount` takes the overlay down again.
                let record = scratch.join(BASE_SNAPSHOT);
                fs::write(&record, id.to_hex())
                    .map_err(|e| EngineError::io("write", &record, e))?;
                mount.keep_mounted();
                // What a plain checkout recorded no longer describes it.
                self.state_file(dir)?.forget()?;
                self.record_head(dir, id)?;
                Ok(Mounted::Overlay)
            }
            Err(WorkdirError::OverlayUnavailable { reason }) => {
                let report = self.checkout(id, dir, &CheckoutOptions::default(), progress)?;
                Ok(Mounted::Checkout { reason, report })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Unmounts an overlay made by [`HeliosEngine::mount`] and removes its
    /// upper layer; refuses ([`WorkdirError::NotOurMount`]) anything else.
    /// The directory is left empty and its records forgotten, so the next
    /// checkout into it scans it.
    pub fn unmount(&self, dir: &Path) -> EngineResult<()> {
        let scratch = self.overlay_scratch(dir)?;
        unmount_dir(dir, &scratch)?;
        self.state_file(dir)?.forget()?;
        Ok(())
    }

    /// Prepares every directory of `dirs` at snapshot `id` in one call,
    /// for a harness that fans out from one node (the `branch(count = n)`
    /// of VM-snapshot services, at file-system cost): where overlayfs may
    /// be mounted, `n` overlay mounts over one shared lower copy of the
    /// snapshot (made by the first, or already there), so `n` directories
    /// cost one copy plus `n` mounts; elsewhere, `n` plain checkouts, each
    /// recorded so that later switches are incremental. Each directory is
    /// what [`HeliosEngine::mount`] makes (unmount overlays with
    /// [`HeliosEngine::unmount`]). `progress` counts the first
    /// directory's files (the lower copy, or the first checkout).
    ///
    /// On an error, the directories already prepared stay as they are.
    pub fn fork_workdirs(
        &self,
        id: &SnapshotId,
        dirs: &[impl AsRef<Path>],
        progress: &dyn Fn(u64, u64),
    ) -> EngineResult<Vec<Mounted>> {
        let Some((first, rest)) = dirs.split_first() else {
            return Ok(Vec::new());
        };
        let first = self.mount(id, first.as_ref(), progress)?;
        // Why overlays are unavailable, once the first directory found out.
        let fallback = match &first {
            Mounted::Overlay => None,
            Mounted::Checkout { reason, .. } => Some(reason.clone()),
        };
        let mut forked = vec![first];
        for dir in rest {
            let dir = dir.as_ref();
            forked.push(match &fallback {
                None => self.mount(id, dir, &|_, _| {})?,
                Some(reason) => Mounted::Checkout {
                    reason: reason.clone(),
                    report: self.checkout(id, dir, &CheckoutOptions::default(), &|_, _| {})?,
                },
            });
        }
        Ok(forked)
    }

    /// The overlay [`HeliosEngine::mount`] left at `dir`, taken up to be
    /// captured; `None` when `dir` is not one (or no longer is: unmounted
    /// behind the store's back, or its base snapshot is gone), so a capture
    /// scans it as a plain directory.
    pub(super) fn attached_mount(&self, dir: &Path) -> EngineResult<Option<OverlayMount>> {
        let scratch = self.overlay_scratch(dir)?;
        let Some(id) = read_base(&scratch.join(BASE_SNAPSHOT))? else {
            return Ok(None);
        };
        let base = match self.restore(&id) {
            Ok(base) => base,
            Err(EngineError::SnapshotNotFound(_) | EngineError::MissingObject(_)) => {
                tracing::warn!(%id, dir = %dir.display(), "the snapshot under this overlay is gone; scanning it");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        match OverlayMount::attach(dir, &scratch, base) {
            Ok(mount) => Ok(Some(mount)),
            Err(WorkdirError::NotOurMount { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The snapshots under overlays [`HeliosEngine::mount`] made: gc roots.
    pub(super) fn mount_roots(&self) -> EngineResult<Vec<SnapshotId>> {
        let Some(store) = &self.path else {
            return Ok(Vec::new());
        };
        let mounts = store.join(OVERLAY_MOUNTS);
        let entries = match fs::read_dir(&mounts) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(EngineError::io("read directory", &mounts, e)),
        };
        let mut roots = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| EngineError::io("read directory", &mounts, e))?;
            roots.extend(read_base(&entry.path().join(BASE_SNAPSHOT))?);
        }
        Ok(roots)
    }
}

/// The snapshot a mount's record names; `None` when there is no record or
/// it does not hold a snapshot id (a mount interrupted while being made).
fn read_base(record: &Path) -> EngineResult<Option<SnapshotId>> {
    match fs::read_to_string(record) {
        Ok(text) => Ok(text.trim().parse().ok()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EngineError::io("read", record, e)),
    }
}
