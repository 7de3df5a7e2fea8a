//! What can go wrong with a remote: bytes that are not what they claim
//! ([`FormatError`], from a damaged or hostile remote), and everything else
//! ([`RemoteError`]).

use helios_types::{Hash, HashAlgorithm, SnapshotId};

/// A pack, an index or an object read from a remote is not what it claims.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Fewer (or more) bytes than the layout needs.
    #[error("{what} has the wrong length ({len} bytes): truncated or damaged")]
    Truncated {
        /// What was read.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The bytes do not start with a pack index's magic.
    #[error("not a Helios pack index")]
    NotAnIndex,
    /// An index written by a newer Helios.
    #[error("pack index version {0} is newer than this Helios reads (version 1): upgrade Helios")]
    UnsupportedVersion(u8),
    /// An algorithm tag no Helios defines.
    #[error("unknown hash algorithm tag {0:#04x}")]
    UnknownAlgorithm(u8),
    /// Index entries out of order, or one repeated.
    #[error("pack index entries out of order or repeated at {0}")]
    Unsorted(Hash),
    /// Two index entries over the same bytes.
    #[error("pack index lists objects that overlap")]
    Overlap,
    /// Bytes that do not hash to the name they were read under.
    #[error("object {expected} is damaged: its bytes hash to {found}")]
    HashMismatch {
        /// The hash the bytes should have.
        expected: Hash,
        /// The hash they have.
        found: Hash,
    },
    /// An object too large for a pack entry (4 GiB; large files are chunked
    /// long before).
    #[error("object {hash} is {len} bytes, more than a pack entry holds")]
    ObjectTooLarge {
        /// The object.
        hash: Hash,
        /// Its length.
        len: u64,
    },
    /// An object that does not decode as its kind.
    #[error("object {hash} is damaged: {reason}")]
    Damaged {
        /// The object.
        hash: Hash,
        /// What is wrong.
        reason: String,
    },
    /// A pack that already holds as many objects as an index can list.
    #[error("a pack holds at most {} objects", u32::MAX)]
    PackFull,
    /// A ref entry that is not a snapshot id.
    #[error("ref entry {key} does not hold a snapshot id")]
    BadRef {
        /// The entry's key on the remote.
        key: String,
    },
    /// The remote's marker does not say what it should.
    #[error("{0} is not a Helios remote marker")]
    BadMarker(String),
}

/// Why a remote operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The URL names no remote this Helios can use.
    #[error(
        "`{0}` is not a remote URL Helios can use (file:///ABSOLUTE/DIRECTORY or s3://BUCKET[/PREFIX])"
    )]
    BadUrl(String),
    /// No Helios remote at the URL: nothing was pushed there, or what was
    /// is not reachable (a mount gone).
    #[error("no Helios remote at {0} (nothing was pushed there, or it is not reachable)")]
    NotARemote(String),
    /// The object store failed (a network error, a permission).
    #[error("remote {url}: {source}")]
    Store {
        /// The remote.
        url: String,
        /// What the store said.
        #[source]
        source: object_store::Error,
    },
    /// Bytes from the remote are not what they claim.
    #[error("remote {url}: {source}")]
    Format {
        /// The remote.
        url: String,
        /// What is wrong.
        #[source]
        source: FormatError,
    },
    /// The remote's objects and this store's are hashed differently.
    #[error(
        "remote {url} holds {remote} objects and this store {local}: they cannot share snapshots"
    )]
    AlgorithmMismatch {
        /// The remote.
        url: String,
        /// The remote's algorithm.
        remote: HashAlgorithm,
        /// This store's.
        local: HashAlgorithm,
    },
    /// The remote does not refuse to overwrite, so refs on it could lose
    /// updates (Garage 2.5, for one, ignores `If-None-Match`).
    #[error(
        "remote {url} overwrote an object it was told to create only if absent: \
         it does not support conditional writes, so refs on it could lose updates; \
         push snapshots there by id, without a ref"
    )]
    NoConditionalWrites {
        /// The remote.
        url: String,
    },
    /// Reading one object failed (a read through to the remote).
    #[error("object {hash}: {source}")]
    Object {
        /// The object.
        hash: Hash,
        /// What failed.
        #[source]
        source: Box<RemoteError>,
    },
    /// Another writer updated the ref since it was read.
    #[error("ref `{name}` moved on remote {url} (now {now}): fetch it, then push again")]
    RefMoved {
        /// The remote.
        url: String,
        /// The ref.
        name: String,
        /// What it names now.
        now: SnapshotId,
    },
    /// The ref names a snapshot that is not an ancestor of the one pushed.
    #[error(
        "ref `{name}` on remote {url} names {now}, which the pushed snapshot does not descend \
         from: fetch it and build on it, or push with --force to replace it"
    )]
    NotFastForward {
        /// The remote.
        url: String,
        /// The ref.
        name: String,
        /// What it names.
        now: SnapshotId,
    },
    /// No such ref on the remote.
    #[error("remote {url} has no ref `{name}`")]
    NoSuchRef {
        /// The remote.
        url: String,
        /// The ref.
        name: String,
    },
    /// The snapshot asked for by id is on no pack of the remote.
    #[error("remote {url} has no snapshot {id} (nothing pushed it there, or not yet)")]
    NoSuchSnapshot {
        /// The remote.
        url: String,
        /// The snapshot asked for.
        id: SnapshotId,
    },
    /// A snapshot on the remote reaches an object no pack holds.
    #[error("remote {url} lacks object {hash}, which a snapshot on it reaches")]
    MissingThere {
        /// The remote.
        url: String,
        /// The object.
        hash: Hash,
    },
    /// A snapshot of this store reaches an object the store lacks.
    #[error("this store lacks object {0}, which the pushed snapshot reaches (run `helios fsck`)")]
    MissingHere(Hash),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] helios_engine::EngineError),
    /// The store's list of remotes could not be read, or does not name
    /// the remote asked for.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// The client's runtime could not start.
    #[error("cannot start the remote client's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
