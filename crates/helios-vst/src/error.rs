//! The one error type of the crate: every failure names the path it
//! concerns, so a batch that is refused says which edit broke it.

use helios_types::{Hash, HashAlgorithm, NameError, RepoPath};

use crate::loader::LoadError;

/// Why a VST operation failed. A failed batch changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum VstError {
    /// A path given as text holds a hostile or empty name.
    #[error("bad path {path:?}: {source}")]
    BadPath {
        /// The path as given (lossily decoded).
        path: String,
        /// What is wrong with it.
        source: NameError,
    },
    /// A component that must be a directory is a file or symlink.
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The component that is not a directory.
        path: RepoPath,
    },
    /// The operation wants a file or symlink but the path is a directory.
    #[error("{path}: is a directory")]
    IsADirectory {
        /// The directory.
        path: RepoPath,
    },
    /// The operation wants a regular file (e.g. the executable bit on a symlink).
    #[error("{path}: not a regular file")]
    NotAFile {
        /// The entry that is not a regular file.
        path: RepoPath,
    },
    /// Nothing exists at the path.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The missing path.
        path: RepoPath,
    },
    /// A parent directory is missing and the edit did not ask to create it.
    #[error("{path}: missing parent directory")]
    MissingParent {
        /// The first missing ancestor.
        path: RepoPath,
    },
    /// The operation cannot apply to the root directory itself.
    #[error("cannot {op} the root directory")]
    Root {
        /// What was attempted.
        op: &'static str,
    },
    /// The path is deeper than [`crate::MAX_DEPTH`].
    #[error("{path}: deeper than {} components", crate::MAX_DEPTH)]
    TooDeep {
        /// The path (or the first component beyond the limit).
        path: RepoPath,
    },
    /// The sizes beneath a directory would add up to more than `u64::MAX`.
    #[error("{path}: total size overflows u64")]
    SizeOverflow {
        /// The directory whose total overflowed.
        path: RepoPath,
    },
    /// A cold directory was reached but this VST has no loader.
    #[error("{path}: tree {hash} is not loaded and this tree has no loader")]
    NoLoader {
        /// Where the cold directory sits.
        path: RepoPath,
        /// Its tree hash.
        hash: Hash,
    },
    /// The loader does not hold a tree the VST references.
    #[error("{path}: tree {hash} is missing from the store")]
    TreeMissing {
        /// Where the cold directory sits.
        path: RepoPath,
        /// Its tree hash.
        hash: Hash,
    },
    /// The loader failed.
    #[error("{path}: loading tree {hash} failed: {source}")]
    Load {
        /// Where the cold directory sits.
        path: RepoPath,
        /// Its tree hash.
        hash: Hash,
        /// The loader's error.
        source: LoadError,
    },
    /// The loader returned a tree that is not the one asked for.
    #[error("{path}: loaded tree does not match {hash}: {reason}")]
    CorruptTree {
        /// Where the cold directory sits.
        path: RepoPath,
        /// The hash asked for.
        hash: Hash,
        /// What differs.
        reason: String,
    },
    /// Two trees built with different hash algorithms cannot be compared.
    #[error("cannot compare a {left} tree with a {right} tree")]
    AlgorithmMismatch {
        /// Algorithm of the left (base) tree.
        left: HashAlgorithm,
        /// Algorithm of the right (target) tree.
        right: HashAlgorithm,
    },
}
