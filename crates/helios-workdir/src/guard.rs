//! What checkout may discard. A file checkout would delete or overwrite is
//! safe to lose when a snapshot of the directory holds its content: it is
//! as the directory's recorded tree has it (untouched since the last
//! checkout or capture), or, after an interrupted checkout, the store holds
//! its content (the interrupted checkout wrote it). Anything else is a
//! user's work — an untracked file, or one changed since — and checkout
//! refuses, before it writes anything, unless told to force.
//!
//! Ignored files are build outputs: they are not guarded. Empty
//! directories hold nothing to lose.

use helios_types::store::ObjectStore;
use helios_types::{EntryKind, RepoPath};
use helios_vst::{Change, Entry, Vst, VstError};

use super::error::{Result, WorkdirError};

/// The trees and the store that say which content is known.
pub(crate) struct Known<'a> {
    /// The tree the directory was last recorded to hold.
    pub(crate) held: Option<&'a Vst>,
    /// A checkout of the directory was interrupted.
    pub(crate) interrupted: bool,
    pub(crate) store: &'a dyn ObjectStore,
}

impl Known<'_> {
    /// The leaves of `actual` (the directory as scanned) that `changes`
    /// (from `actual` to the target) would delete or overwrite and that are
    /// not known, in path order.
    pub(crate) fn at_risk(&self, actual: &Vst, changes: &[Change]) -> Result<Vec<RepoPath>> {
        let mut out = Vec::new();
        for change in changes {
            match change {
                Change::Added { .. } => {}
                Change::Deleted { path, entry } => self.check(actual, path, entry, &mut out)?,
                Change::Modified { path, old, new } | Change::TypeChanged { path, old, new } => {
                    // Same bytes under another mode: nothing is lost.
                    if !(old.kind != EntryKind::Dir
                        && new.kind != EntryKind::Dir
                        && old.hash == new.hash)
                    {
                        self.check(actual, path, old, &mut out)?;
                    }
                }
            }
        }
        Ok(out)
    }

    fn check(
        &self,
        actual: &Vst,
        path: &RepoPath,
        entry: &Entry,
        out: &mut Vec<RepoPath>,
    ) -> Result<()> {
        if entry.kind != EntryKind::Dir {
            if !self.knows(path, entry)? {
                out.push(path.clone());
            }
            return Ok(());
        }
        for (name, child) in actual.list(path)? {
            self.check(actual, &path.join(name), &child, out)?;
        }
        Ok(())
    }

    fn knows(&self, path: &RepoPath, entry: &Entry) -> Result<bool> {
        if let Some(held) = self.held {
            match held.get(path) {
                Ok(Some(e)) if e.kind != EntryKind::Dir && e.hash == entry.hash => return Ok(true),
                // A leaf of the held tree stands where `path` needs a directory.
                Ok(_) | Err(VstError::NotADirectory { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !self.interrupted {
            return Ok(false);
        }
        self.store
            .contains(&entry.hash)
            .map_err(|source| WorkdirError::Store {
                path: path.clone(),
                hash: entry.hash,
                source: Box::new(source),
            })
    }
}
