//! The one error type of working-directory operations. Every variant names
//! the path (and, where it helps, the operation) and keeps the source.

use std::io;
use std::path::PathBuf;

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
    /// `materialize` needs an empty (or missing) target directory.
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
    /// A blob the tree references is neither in the store nor pending in the tree.
    #[error("{path}: blob {hash} is missing from the store")]
    MissingBlob {
        /// Where the tree uses it.
        path: RepoPath,
        /// The blob's hash.
        hash: Hash,
    },
    /// A blob read from the store does not have the size the tree records.
    #[error("{path}: blob {hash} is {actual} bytes, the tree says {expected}")]
    BlobSize {
        /// Where the tree uses it.
        path: RepoPath,
        /// The blob's hash.
        hash: Hash,
        /// The size recorded in the tree.
        expected: u64,
        /// The payload's length.
        actual: u64,
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
    /// The store returned something that is not a blob.
    #[error("{path}: object {hash} is not a blob: {source}")]
    NotABlob {
        /// Where the tree uses it.
        path: RepoPath,
        /// The object's hash.
        hash: Hash,
        /// The decoding error.
        source: helios_types::DecodeError,
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
    /// This process may not mount overlayfs here: use plain mode.
    #[error("overlay mode unavailable: {reason}")]
    OverlayUnavailable {
        /// One line saying why.
        reason: String,
    },
    /// A fault injected by [`crate::workdir::CheckoutOptions::fail_after_ops`].
    #[error("injected failure after {0} file operations")]
    Injected(u64),
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
