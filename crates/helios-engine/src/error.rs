//! The engine's one error type.

use helios_types::file::FileError;
use helios_types::store::StoreError;
use helios_types::{DecodeError, Hash, RepoPath, SnapshotId};

/// Everything an engine call can fail with. Variants name the snapshot or
/// object concerned and keep the lower layer's error as the source.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No snapshot with this id exists (never committed, or reclaimed by gc).
    #[error("snapshot {0} not found")]
    SnapshotNotFound(SnapshotId),
    /// A name is neither a ref, a full snapshot id, nor a hex prefix of
    /// at least 4 characters.
    #[error("`{0}` is not a ref, a snapshot id or a hex id prefix of at least 4 characters")]
    NotAnId(String),
    /// A hex id prefix matched no snapshot.
    #[error("no snapshot id starts with `{0}`")]
    UnknownPrefix(String),
    /// A hex id prefix matched several snapshots.
    #[error("snapshot id prefix `{prefix}` matches {matches} snapshots; give more characters")]
    AmbiguousId {
        /// The prefix given.
        prefix: String,
        /// How many snapshots it matches (at least 2).
        matches: usize,
    },
    /// The snapshot was committed with `Durability::Memory` and has no
    /// stored form, so it cannot be verified or named by a ref.
    #[error("snapshot {0} is held in memory only (committed with Durability::Memory)")]
    NotDurable(SnapshotId),
    /// A stored object or snapshot record failed its hash check or decoding.
    #[error("object {hash} is corrupt: {reason}")]
    Corrupt {
        /// The object.
        hash: Hash,
        /// What is wrong.
        reason: String,
    },
    /// A file's content is missing from the store, damaged, or not the
    /// length its tree entry records: the path says which file.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: RepoPath,
        /// What is wrong (boxed: every result carries the largest variant).
        source: Box<FileError>,
    },
    /// No file, executable or symlink at this path of the tree.
    #[error("{0}: no such file in the tree")]
    NoSuchFile(RepoPath),
    /// The path names a directory where a file was asked for.
    #[error("{0} is a directory")]
    NotAFile(RepoPath),
    /// An object a snapshot references is missing from the store.
    #[error("object {0} is missing from the store")]
    MissingObject(Hash),
    /// A commit references an object that gc reclaimed: the tree was forked
    /// from a snapshot that was neither pinned nor named by a ref.
    #[error("commit references object {0}, which gc reclaimed; pin snapshots you fork from")]
    Reclaimed(Hash),
    /// A commit holds an object longer than the store can hold; nothing of
    /// it was written. (Files are chunked, so only a tree or the chunk list
    /// of an enormous file can be this long.)
    #[error("object {hash} is {len} bytes; the store holds objects of at most {max} bytes")]
    ObjectTooLarge {
        /// The object.
        hash: Hash,
        /// Its encoded length.
        len: u64,
        /// The store's limit.
        max: u64,
    },

    /// A ref name is empty, too long, or holds a control character or NUL.
    #[error("invalid ref name `{0}`")]
    BadRefName(String),
    /// The engine was closed; no further call is possible.
    #[error("engine is closed")]
    Closed,
    /// The store refused queued writes (a full disk, say). They stay queued
    /// and are retried, in order, by the next flush or commit; `close`
    /// reports the ones still unwritten.
    #[error("background write failed: {0}")]
    WriteFailed(#[source] std::sync::Arc<StoreError>),
    /// `close` could not write everything queued: these snapshots (and
    /// any ref or pin writes queued with them) are not stored.
    #[error(
        "closing: {} queued snapshot(s) not written ({}): {source}",
        ids.len(),
        ids.iter().map(|id| id.to_hex()[..12].to_owned()).collect::<Vec<_>>().join(", ")
    )]
    NotWritten {
        /// The snapshots not written, oldest first.
        ids: Vec<SnapshotId>,
        /// Why.
        #[source]
        source: std::sync::Arc<StoreError>,
    },
    /// The writer thread panicked; what it had not written is lost.
    #[error("the writer thread panicked")]
    WriterPanicked,
    /// Opening the store failed.
    #[error("cannot open store: {0}")]
    Open(#[from] helios_objstore::OpenError),
    /// The object store failed (I/O, full disk, corruption).
    #[error(transparent)]
    Store(StoreError),
    /// The VST refused an operation or could not load a tree.
    #[error(transparent)]
    Vst(#[from] helios_vst::VstError),
    /// A working-directory operation failed.
    #[error(transparent)]
    Workdir(#[from] helios_workdir::WorkdirError),
    /// A working directory would overlap the store: it is the store, lies
    /// inside it, or holds it below its top level (where it could not be
    /// protected as one entry).
    #[error("{} cannot be a working directory: {problem} the store at {}", dir.display(), store.display())]
    WorkdirOverlapsStore {
        /// The directory asked for.
        dir: std::path::PathBuf,
        /// The store's directory.
        store: std::path::PathBuf,
        /// "it is", "it lies inside" or "it holds, below its top level,".
        problem: &'static str,
    },
    /// A file-system call of the engine's own (resolving a working
    /// directory, making the state-file directory) failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What the engine was doing.
        op: &'static str,
        /// The path concerned.
        path: std::path::PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A tree hashed with one algorithm was committed to a store of
    /// another.
    #[error("tree hashed with {tree}, store uses {store}")]
    AlgorithmMismatch {
        /// The tree's algorithm.
        tree: helios_types::HashAlgorithm,
        /// The store's.
        store: helios_types::HashAlgorithm,
    },
    /// The writer thread could not be started.
    #[error("cannot start the writer thread: {0}")]
    SpawnWriter(#[source] std::io::Error),
    /// One of the engine's configuration values is out of range.
    #[error("invalid configuration: {field} = {value}, must be {allowed}")]
    Config {
        /// The field of `EngineConfig`.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The allowed range.
        allowed: &'static str,
    },
    /// The L1 cache's configuration is invalid.
    #[error("invalid L1 configuration: {0}")]
    L1Config(#[from] helios_l1cache::ConfigError),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt { hash, reason } => EngineError::Corrupt { hash, reason },
            StoreError::NotFound(hash) => EngineError::MissingObject(hash),
            StoreError::Closed => EngineError::Closed,
            other => EngineError::Store(other),
        }
    }
}

impl EngineError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> Self {
        EngineError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(hash: Hash, e: DecodeError) -> Self {
        EngineError::Corrupt {
            hash,
            reason: e.to_string(),
        }
    }
}

impl EngineError {
    /// Whether the disk is full (opening, writing or a file operation): the
    /// store's data is intact and readable, and writes resume once space is
    /// freed.
    pub fn is_no_space(&self) -> bool {
        match self {
            EngineError::Open(helios_objstore::OpenError::NoSpace { .. })
            | EngineError::Store(StoreError::NoSpace { .. }) => true,
            EngineError::Io { source, .. } => source.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }
}

/// Result of an engine call.
pub type EngineResult<T> = Result<T, EngineError>;
