//! The one error type of working-directory operations. Every variant names
//! the path (and, where it helps, the operation) and keeps the source.

use std::io;
use std::path::PathBuf;

use helios_types::file::FileError;
use helios_types::store::StoreError;
use helios_types::{Hash, RepoPath};
use helios_vst::VstError;

/// Why materialize, checkout, capture or an overlay operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkdirError {
    /// A system call on a path failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`open`, `write`, `rename`, ...).
        op: &'static str,
        /// The file-system path concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A directory that must be empty or missing is not ([`empty_dir`](crate::empty_dir):
    /// `materialize`, an overlay's upper and work directories).
    #[error("{}: directory is not empty", path.display())]
    NotEmpty {
        /// The target directory.
        path: PathBuf,
    },
    /// The snapshot would write to, delete or replace a protected path (the
    /// store directory).
    #[error("{path}: protected path (the store directory) cannot be written by a snapshot")]
    Protected {
        /// The offending snapshot path.
        path: RepoPath,
    },
    /// A leaf's content could not be read from the store: an object it
    /// needs is missing or damaged, or does not have the length the tree
    /// records.
    #[error("{path}: {source}")]
    Content {
        /// Where the tree uses the content.
        path: RepoPath,
        /// What failed, boxed (every `Result` of the engine carries the
        /// largest variant).
        source: Box<FileError>,
    },
    /// The object store failed.
    #[error("{path}: reading blob {hash}: {source}")]
    Store {
        /// Where the tree uses the blob.
        path: RepoPath,
        /// The blob's hash.
        hash: Hash,
        /// The store's error, boxed: this variant also carries a path and a
        /// hash, and every `Result` of the engine carries the largest one.
        source: Box<StoreError>,
    },
    /// A tree operation failed (bad path, too deep, unloadable subtree).
    #[error("tree: {0}")]
    Tree(#[from] VstError),
    /// A name on disk cannot be a tree entry name.
    #[error("{}: name cannot be stored in a tree: {source}", path.display())]
    BadName {
        /// The file-system path.
        path: PathBuf,
        /// Why the name is refused.
        source: helios_types::NameError,
    },
    /// A `.heliosignore` or `.gitignore` file does not parse.
    #[error("{}: bad ignore file: {source}", path.display())]
    Ignore {
        /// The ignore file.
        path: PathBuf,
        /// The parser's error.
        source: ignore::Error,
    },
    /// The working-directory state file exists but does not decode.
    #[error("{}: corrupt working-directory state: {reason}", path.display())]
    StateCorrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// A path cannot be handed to overlayfs (it contains `,`, `:` or `\`)
    /// or is not a directory as needed.
    #[error("{}: {reason}", path.display())]
    BadMountPath {
        /// The path.
        path: PathBuf,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `umount` was asked for a directory that is not an overlay this
    /// store mounted (another filesystem, or nothing mounted there).
    #[error("{} is not an overlay mounted by this store; nothing was unmounted", path.display())]
    NotOurMount {
        /// The directory.
        path: PathBuf,
    },
    /// This process may not mount overlayfs here: use plain mode.
    #[error("overlay mode unavailable: {reason}")]
    OverlayUnavailable {
        /// One line saying why.
        reason: String,
    },
    /// Checkout would delete or overwrite files whose content no snapshot
    /// of the directory holds: files the directory's recorded state does
    /// not know (untracked), or changed since the last checkout or capture.
    /// Nothing was written. Commit them first, or check out with `force`.
    #[error(
        "{}: checkout would delete or overwrite {} untracked or changed file(s): {}; \
         commit them first, or pass --force to discard them",
        dir.display(),
        paths.len(),
        list_paths(paths)
    )]
    WouldLoseFiles {
        /// The working directory.
        dir: PathBuf,
        /// The files at risk, in path order.
        paths: Vec<RepoPath>,
    },
    /// Another checkout or capture of the same directory is running (in
    /// this process or another) and did not finish in time.
    #[error("{}: another Helios operation is using this directory", path.display())]
    Busy {
        /// The working directory.
        path: PathBuf,
    },
    /// A checkout of the directory was interrupted, so it holds part of
    /// one snapshot and part of another: it cannot be captured until a
    /// checkout finishes the switch.
    #[error(
        "{}: an interrupted checkout left this directory half-switched; \
         run the checkout again to finish it before committing",
        path.display()
    )]
    CheckoutInterrupted {
        /// The working directory.
        path: PathBuf,
    },
    /// A file is larger than the store can hold as one object.
    #[error("{}: file is {size} bytes, more than the {limit} bytes the store can hold as one object", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The largest file the store takes.
        limit: u64,
    },
    /// An entry changed while it was being read (replaced by another file,
    /// a symlink or a fifo, or rewritten during every read): capture again.
    #[error("{}: changed while it was being read; try again", path.display())]
    Changed {
        /// The entry.
        path: PathBuf,
    },
    /// Directories nest deeper than a tree can hold.
    #[error(
        "{path}: directories nest deeper than {} levels",
        helios_vst::MAX_DEPTH
    )]
    TooDeep {
        /// The directory at the limit.
        path: RepoPath,
    },
    /// A snapshot path has a name the target file system cannot hold.
    #[error("{path}: a name of {len} bytes is longer than the {max} bytes this file system allows")]
    NameTooLong {
        /// The snapshot path.
        path: RepoPath,
        /// The name's length.
        len: usize,
        /// The file system's limit.
        max: u64,
    },
    /// The directory cannot be watched for changes (see
    /// [`Watcher`](crate::Watcher)): no inotify instance or watch left,
    /// or no `/proc` to watch by descriptor. Capture without a watcher
    /// still works.
    #[error("{}: cannot watch for changes: {op}: {source}", path.display())]
    WatchUnavailable {
        /// What failed (`inotify_init1`, `inotify_add_watch`, ...).
        op: &'static str,
        /// The directory (or the sync file) concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A fault injected by this crate's tests (never in shipped use).
    #[error("injected failure after {0} file operations")]
    Injected(u64),
}

/// The first few paths, for an error line.
fn list_paths(paths: &[RepoPath]) -> String {
    const SHOWN: usize = 10;
    let mut text = paths
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    text
}

impl WorkdirError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        WorkdirError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this module.
pub(crate) type Result<T, E = WorkdirError> = std::result::Result<T, E>;
