//! Working directories: real directories that tools (compilers, test
//! suites) run in, kept in step with snapshots at a cost proportional to
//! what changed.
//!
//! # Operations
//!
//! - [`materialize`] writes a tree, or the paths a filter selects, into an
//!   empty directory: bytes, the executable bit (0o755 / 0o644 set exactly,
//!   whatever the umask), symlinks and empty directories.
//! - [`Checkout`] makes a directory hold exactly a target tree, writing,
//!   deleting and retyping only what differs. The directory's recorded
//!   [`WorkdirState`] says which tree it holds; when that is the `from` tree
//!   the caller names, only `from.diff(to)` is touched (each touched path's
//!   `lstat` is first checked against the stat cache). Otherwise, or after an
//!   interrupted checkout, the directory is scanned (settled stat-cache
//!   entries spare re-reading) and the scan is diffed against the target.
//! - [`capture`] reads a directory back into a tree: it starts from the
//!   tree the directory is believed to hold and applies edits only for
//!   leaves whose `lstat` (size, mtime, ctime, inode, device, mode) differs
//!   from the stat cache, so unchanged files are neither read nor hashed and
//!   the engine's commit exports only changed objects.
//! - [`Watcher`] (Linux inotify) keeps a directory watched between
//!   captures, so that [`Watcher::capture`] in a long-lived process
//!   re-examines only the paths reported changed since the last one, and
//!   falls back to the full scan whenever it cannot be sure (see
//!   [`watch`]).
//! - [`OverlayBase`] (Linux) copies a base tree once as a read-only lower
//!   layer and mounts nodes over it ([`OverlayMount`]); a mount's upper
//!   layer holds only the node's difference, and [`OverlayMount::capture`]
//!   scans only that layer.
//!
//! # Choices
//!
//! - Writes go through directory descriptors, one `openat(O_NOFOLLOW)` per
//!   component (see `fsx`): a symlink planted in the directory is replaced
//!   when the tree wants a directory there, never written through. Names
//!   are validated [`helios_types::Name`]s, so `..` or `/` cannot occur.
//! - Each file is written under a temporary name in its own directory and
//!   renamed into place. The state file records "in progress from → to"
//!   before the first write and "holds to" after the last, so a killed
//!   checkout leaves a record that forces the next one to scan and finish.
//!   The "in progress" record is a small marker file beside the state
//!   file, and a finished operation appends only the paths it changed to
//!   the state's journal ([`StateFile`]), whose decoded copy the engine
//!   keeps between operations: a switch of five files costs five entries,
//!   not the whole stat cache. Files
//!   and state are not fsynced by default (a killed process loses nothing
//!   the page cache holds); [`CheckoutOptions::sync`] fsyncs the marker,
//!   runs one `syncfs` before the final record and fsyncs it, for
//!   power-loss safety.
//! - A stat-cache entry is trusted only when its mtime and ctime are at
//!   least `RACY_NS` (20 ms) older than the moment the stat was taken (git's
//!   "racily clean" rule): a change within the same timestamp tick cannot go
//!   unseen. For files checkout wrote, the window is measured from the end
//!   of the checkout (no one else writes into the directory during one), so
//!   only the files written in its last few milliseconds are hashed again by
//!   the next capture.
//! - Protected paths (the store directory) are never captured, written,
//!   deleted or replaced; a tree that names one is refused before any write.
//! - Ignored paths (`.heliosignore` in any directory, `.gitignore` on
//!   request; deeper files win, `.heliosignore` before `.gitignore` at one
//!   level) are never captured, and checkout's scan leaves them alone: build
//!   outputs survive a switch unless a tree path needs their place or their
//!   directory is deleted.
//!
//! # Invariants
//!
//! 1. Nothing is written outside the working directory, and nothing at or
//!    beneath a protected path is written or removed.
//! 2. After `checkout` returns `Ok`, the directory's non-ignored content
//!    equals the target tree, and the state file says it holds the target.
//! 3. A failed or killed `checkout` leaves a state that makes the next
//!    `checkout` scan; that one converges.
//! 4. `capture` changes nothing on disk but the state file, and that only
//!    on success.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod apply;
mod content;
#[cfg(test)]
mod edge_tests;
mod error;
mod fsx;
mod guard;
#[cfg(test)]
mod model_tests;
mod outcome;
pub mod overlay;
mod scan;
mod stat_cache;
mod state;
mod state_file;
#[cfg(test)]
mod tests;
mod walk;
pub mod watch;
#[cfg(test)]
mod watch_tests;

use std::os::fd::AsFd as _;
use std::path::Path;
use std::time::Duration;

use helios_types::RepoPath;
use helios_vst::Vst;

pub use apply::{Checkout, empty_dir, materialize};
pub use content::{ChunkFailed, ChunkStore, FileChunks, HashedChunks, StoreChunks};
pub use error::WorkdirError;
pub use outcome::{Mounted, WorkdirCommit};
pub use overlay::{OverlayBase, OverlayMount};
pub use scan::{GITIGNORE, HELIOSIGNORE};
pub use state::{StatCache, WorkdirState};
pub use state_file::StateFile;
pub use watch::Watcher;

/// How long an operation waits for another one on the same directory to
/// finish before it fails with [`WorkdirError::Busy`].
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// What to capture and what never to touch.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Also honour `.gitignore` files (`.heliosignore` files always count).
    pub gitignore: bool,
    /// Paths relative to the directory that are never captured, written or
    /// removed: the store directory (e.g. `.helios`).
    pub protected: Vec<RepoPath>,
    /// Files larger than this are refused with
    /// [`WorkdirError::FileTooLarge`] before a byte is read (the engine
    /// sets what its store can hold).
    pub max_file_size: u64,
    /// How long to wait for another operation on the directory.
    pub lock_timeout: Duration,
    /// Threads that walk the directory in a full scan (its `lstat`s are
    /// most of its cost on a large tree); 1 walks on the caller's thread.
    /// Default: the machine's cores, at most [`MAX_WALKERS`].
    pub walkers: usize,
}

/// The most threads a full scan walks with by default: past a few, the
/// kernel's directory and inode caches, not the cores, bound it.
pub const MAX_WALKERS: usize = 8;

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            gitignore: false,
            protected: Vec::new(),
            max_file_size: u64::MAX,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            walkers: std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WALKERS)),
        }
    }
}

/// How a [`Checkout`] runs.
#[derive(Debug, Clone, Default)]
pub struct CheckoutOptions {
    /// Ignore rules and protected paths for the scan and the writes.
    pub capture: CaptureOptions,
    /// Scan the directory even when the recorded state allows the fast path.
    pub full: bool,
    /// Discard untracked and changed files that the target deletes or
    /// overwrites. Without it such files make checkout fail with
    /// [`WorkdirError::WouldLoseFiles`] before anything is written.
    pub force: bool,
    /// `syncfs` the directory's file system before recording completion.
    pub sync: bool,
    /// Fault injection for this crate's tests: fail with
    /// `WorkdirError::Injected` once this many file operations are done,
    /// leaving the state "in progress". (Crash tests of the binary kill a
    /// real process instead.)
    #[cfg(test)]
    pub(crate) fail_after_ops: Option<u64>,
}

/// What an operation did. Counters an operation has no use for stay zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Files, executables and symlinks written.
    pub files_written: u64,
    /// Bytes of the leaves written.
    pub bytes_written: u64,
    /// Directories created.
    pub dirs_created: u64,
    /// Entries removed (a directory with its content counts once).
    pub removed: u64,
    /// Leaves a scan looked at (`lstat`).
    pub files_scanned: u64,
    /// Leaves a scan read and hashed (the rest came from the stat cache).
    pub files_hashed: u64,
    /// Bytes read and hashed.
    pub bytes_hashed: u64,
    /// Objects a capture stored while reading (a large file's chunks the
    /// store lacked, and its chunk list): new objects the commit that
    /// follows does not count, since they are stored already.
    pub objects_stored: u64,
    /// Encoded bytes of those objects.
    pub bytes_stored: u64,
    /// Special files (fifos, sockets, devices) left out of a capture.
    pub skipped: u64,
    /// Tree edits a capture produced.
    pub edits: u64,
    /// Checkout touched only the diff between `from` and the target; a
    /// [`Watcher::capture`] re-examined only the paths reported changed.
    pub fast_path: bool,
    /// Why checkout, or a watched capture, scanned the whole directory
    /// instead, if it did.
    pub fallback: Option<&'static str>,
    /// The directory's state could not be recorded (no space left where it
    /// is kept): it was forgotten, so the next operation scans.
    pub state_unrecorded: bool,
}

/// The tree a capture read, with its report.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The directory's content as a tree: the base plus the changes.
    /// Changed leaves hold their bytes pending, so the engine's commit
    /// exports exactly them.
    pub tree: Vst,
    /// What the capture read.
    pub report: Report,
}

/// Reads `dir` into a tree, starting from `base` (the tree the directory is
/// believed to hold; an empty tree when unknown) and using the stat cache
/// kept in `state`. On success the state records that the directory holds
/// the captured tree. Small changed files come back pending in the tree; a
/// large file (see [`helios_types::file`]) is chunked as it is read and its
/// chunks written to `store`, so no large file is held in memory.
pub fn capture(
    dir: &Path,
    base: &Vst,
    options: &CaptureOptions,
    state: &StateFile,
    store: &dyn ChunkStore,
) -> Result<Captured, WorkdirError> {
    capture_with(dir, base, options, state, store, None)
}

/// [`capture`], or with a watcher the capture of only what it reported
/// (the full walk when it has a doubt). The lock is taken before the
/// watcher syncs, so no Helios operation on the directory is half done
/// when the sync token is read.
fn capture_with(
    dir: &Path,
    base: &Vst,
    options: &CaptureOptions,
    state: &StateFile,
    store: &dyn ChunkStore,
    mut watcher: Option<&mut Watcher>,
) -> Result<Captured, WorkdirError> {
    let _span = tracing::info_span!("capture", dir = %dir.display()).entered();
    let root = fsx::open_root(dir).map_err(|e| WorkdirError::io("open", dir, e))?;
    let _lock = apply::lock(root.as_fd(), dir, options.lock_timeout)?;
    let mut recorded = state.load()?;
    if recorded.in_progress.is_some() {
        return Err(WorkdirError::CheckoutInterrupted {
            path: dir.to_path_buf(),
        });
    }
    let plan = match watcher.as_deref_mut() {
        Some(w) => w.plan(root.as_fd(), base, options),
        None => watch::Plan::Full(None),
    };
    let cache = recorded.cache();
    let mut scan = scan::Scan::new(dir, options, cache, false, Some(store), base.algorithm());
    let scanned = match &plan {
        watch::Plan::Full(_) => scan.run(root.as_fd(), base),
        watch::Plan::Paths(paths) => scan.paths(root.as_fd(), base, paths),
    };
    let tree = match scanned {
        Ok(tree) => tree,
        Err(e) => {
            if let Some(w) = watcher {
                // The changes it handed over are not in any base now.
                w.forget_base();
            }
            return Err(e);
        }
    };
    let scan::Scan {
        mut report,
        cache_update,
        linked,
        ..
    } = scan;
    match &plan {
        watch::Plan::Full(reason) => {
            report.fallback = *reason;
            recorded.update_cache(cache_update, None);
        }
        watch::Plan::Paths(paths) => {
            report.fast_path = true;
            recorded.update_cache(cache_update, Some(paths));
        }
    }
    recorded.holds = Some(tree.root_hash());
    if let Some(w) = watcher {
        w.captured(&tree, options, &plan, linked);
    }
    report.state_unrecorded = !apply::record_or_forget(state, || state.save(recorded, false))?;
    Ok(Captured { tree, report })
}

/// Folds the journal of `dir`'s state files into one snapshot, durably, so
/// that they take the least room (see [`StateFile::fold_journal`]); what
/// `helios gc` does. Takes the directory's lock without waiting: a
/// directory that an operation is using is left for the next time
/// (`Ok(false)`, as when there was nothing to fold).
pub fn fold_state(dir: &Path, state: &StateFile) -> Result<bool, WorkdirError> {
    let root = fsx::open_root(dir).map_err(|e| WorkdirError::io("open", dir, e))?;
    match apply::lock(root.as_fd(), dir, std::time::Duration::ZERO) {
        Ok(_lock) => state.fold_journal(true),
        Err(WorkdirError::Busy { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
