//! The engine's one error type.

use helios_types::store::StoreError;
use helios_types::{DecodeError, Hash, SnapshotId};

/// Everything an engine call can fail with. Variants name the snapshot or
/// object concerned and keep the lower layer's error as the source.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No snapshot with this id exists (never committed, or reclaimed by gc).
    #[error("snapshot {0} not found")]
    SnapshotNotFound(SnapshotId),
    /// A snapshot id prefix matched no snapshot or several.
    #[error("snapshot id prefix `{prefix}` {problem}")]
    AmbiguousId {
        /// The prefix given.
        prefix: String,
        /// "matches no snapshot" or "matches N snapshots".
        problem: String,
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
    /// An object a snapshot references is missing from the store.
    #[error("object {0} is missing from the store")]
    MissingObject(Hash),
    /// A commit references an object that gc reclaimed: the tree was forked
    /// from a snapshot that was neither pinned nor named by a ref.
    #[error("commit references object {0}, which gc reclaimed; pin snapshots you fork from")]
    Reclaimed(Hash),
    /// A commit holds an object longer than the store can hold; nothing of
    /// it was written. (Files this large are the large-file issue's work.)
    #[error("object {hash} is {len} bytes; the store holds objects of at most {max} bytes")]
    ObjectTooLarge {
        /// The object.
        hash: Hash,
        /// Its encoded length.
        len: u64,
        /// The store's limit.
        max: u64,
    },
    /// A named ref does not exist.
    #[error("ref `{0}` not found")]
    RefNotFound(String),
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
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
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

/// Result of an engine call.
pub type EngineResult<T> = Result<T, EngineError>;
