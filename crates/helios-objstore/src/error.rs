//! Errors: [`OpenError`] for opening a store, and the mapping of RocksDB
//! errors into the contract's [`StoreError`] for every later operation.
//!
//! RocksDB's error type is boxed as a `dyn Error` source in both, so no
//! caller ever names a rocksdb type.

use std::error::Error as StdError;
use std::path::PathBuf;

use helios_types::Hash;
use helios_types::HashAlgorithm;
use helios_types::store::StoreError;

/// Why a [`RocksStore`](crate::RocksStore) could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No store at the path and creation was not asked for.
    #[error("no store at {path} (pass create_if_missing to make one)")]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The path exists and is not a directory.
    #[error("{path} is not a directory")]
    NotADirectory {
        /// The path asked for.
        path: PathBuf,
    },
    /// Another open handle (in this process or another) holds the store's lock.
    #[error("store at {path} is locked by another open handle: {source}")]
    Locked {
        /// The store's directory.
        path: PathBuf,
        /// RocksDB's report.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The store was created with another hash algorithm than the caller asked for.
    #[error("store at {path} uses {recorded}, not {requested}")]
    AlgorithmMismatch {
        /// The store's directory.
        path: PathBuf,
        /// What the store recorded at creation.
        recorded: HashAlgorithm,
        /// What the caller asked for.
        requested: HashAlgorithm,
    },
    /// The store was written by a format this build does not know.
    #[error("store at {path} has format version {found}; this build reads version {supported}")]
    UnknownFormat {
        /// The store's directory.
        path: PathBuf,
        /// The recorded version.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The directory holds a RocksDB database that is not a Helios store,
    /// or its configuration record is damaged.
    #[error("{path} is not a Helios store: {reason}")]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// A configuration field is out of range.
    #[error("invalid config field {field}: {reason}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The filesystem refused an operation on the path.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The disk is full.
    #[error("no space left while {op}: {source}")]
    NoSpace {
        /// What was being done.
        op: &'static str,
        /// RocksDB's report.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// Any other RocksDB failure while opening.
    #[error("{op} failed: {source}")]
    Backend {
        /// What was being done.
        op: &'static str,
        /// RocksDB's report.
        source: Box<dyn StdError + Send + Sync>,
    },
}

/// True when RocksDB reports a full disk.
fn is_no_space(e: &rocksdb::Error) -> bool {
    let msg = e.as_ref();
    msg.contains("No space left") || msg.contains("NoSpace") || msg.contains("ENOSPC")
}

/// Maps a RocksDB error of operation `op` into the store contract.
pub(crate) fn store_err(op: &'static str, e: rocksdb::Error) -> StoreError {
    if is_no_space(&e) {
        StoreError::NoSpace {
            op,
            source: Box::new(e),
        }
    } else {
        StoreError::Backend {
            op,
            source: Box::new(e),
        }
    }
}

/// Maps a RocksDB error met while reading the object `hash`: damage that
/// RocksDB detects itself (a block checksum mismatch) is reported like a
/// hash mismatch, as corruption of that object.
pub(crate) fn read_err(op: &'static str, hash: &Hash, e: rocksdb::Error) -> StoreError {
    if e.kind() == rocksdb::ErrorKind::Corruption {
        StoreError::Corrupt {
            hash: *hash,
            reason: format!("storage reports damage: {e}"),
        }
    } else {
        store_err(op, e)
    }
}

/// Maps a RocksDB error met while opening `path`.
pub(crate) fn open_err(op: &'static str, path: &std::path::Path, e: rocksdb::Error) -> OpenError {
    let msg = e.as_ref().to_owned();
    if msg.contains("lock") && (msg.contains("LOCK") || msg.contains("lock hold")) {
        OpenError::Locked {
            path: path.to_owned(),
            source: Box::new(e),
        }
    } else if msg.contains("Column family not found") || msg.contains("Invalid column family") {
        OpenError::NotAStore {
            path: path.to_owned(),
            reason: msg,
        }
    } else if is_no_space(&e) {
        OpenError::NoSpace {
            op,
            source: Box::new(e),
        }
    } else {
        OpenError::Backend {
            op,
            source: Box::new(e),
        }
    }
}
