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
    #[error(
        "store at {path} has format version {found}; this build reads versions 1 to {supported}: \
         open it with a newer helios"
    )]
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

/// What a RocksDB error means to a caller, read from its kind first and
/// then from the exact message of the one place in RocksDB that raises it.
/// RocksDB reports errors as text only (its Rust binding parses the kind
/// from the message's prefix), so a loose match on a word such as "lock"
/// would misfile errors whose path or context happens to contain it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Another handle holds the store's LOCK file.
    Locked,
    /// The disk is full.
    NoSpace,
    /// RocksDB detected damage (a checksum mismatch, a truncated file).
    Corruption,
    /// Opening named a column family the directory does not have.
    MissingColumnFamily,
    /// Anything else.
    Other,
}

/// The strerror texts of `fcntl(F_SETLK)` refused because another process
/// holds the lock (POSIX allows either errno).
const LOCK_CONFLICT_ERRNOS: [&str; 2] = ["Resource temporarily unavailable", "Permission denied"];

/// ENOSPC's strerror, which is also RocksDB's name for the subcode.
const NO_SPACE: &str = "No space left on device";

fn classify(kind: &rocksdb::ErrorKind, message: &str) -> Class {
    use rocksdb::ErrorKind;
    match kind {
        ErrorKind::IOError => {
            let detail = message.strip_prefix("IO error: ").unwrap_or(message);
            // The subcode RocksDB gives ENOSPC leads; a bare errno ends.
            if detail.starts_with(NO_SPACE) || detail.ends_with(&format!(": {NO_SPACE}")) {
                Class::NoSpace
            } else if is_lock_conflict(detail) {
                Class::Locked
            } else {
                Class::Other
            }
        }
        ErrorKind::Corruption => Class::Corruption,
        ErrorKind::InvalidArgument
            if message.contains("Column family not found")
                || message.contains("Invalid column family") =>
        {
            Class::MissingColumnFamily
        }
        _ => Class::Other,
    }
}

/// RocksDB's `PosixFileSystem::LockFile` reports a held lock in two ways,
/// both naming the `LOCK` file (`<context>: <dir>/LOCK: <strerror>`):
/// "lock hold by current process, ..." when this process holds it, and
/// "While lock file" with a conflict errno when another process does. Its
/// other failure, "while open a file for lock" (permissions, a directory
/// in the way), is not a held lock.
fn is_lock_conflict(detail: &str) -> bool {
    let Some((context, rest)) = detail.split_once(": ") else {
        return false;
    };
    let Some((file, errno)) = rest.rsplit_once(": ") else {
        return false;
    };
    if !file.ends_with("/LOCK") {
        return false;
    }
    context.starts_with("lock hold by current process")
        || (context == "While lock file" && LOCK_CONFLICT_ERRNOS.contains(&errno))
}

fn class_of(e: &rocksdb::Error) -> Class {
    classify(&e.kind(), e.as_ref())
}

/// Maps a RocksDB error of operation `op` into the store contract.
pub(crate) fn store_err(op: &'static str, e: rocksdb::Error) -> StoreError {
    if class_of(&e) == Class::NoSpace {
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
    if class_of(&e) == Class::Corruption {
        StoreError::Corrupt {
            hash: *hash,
            reason: format!("storage reports damage: {e}"),
        }
    } else {
        store_err(op, e)
    }
}

/// Maps a RocksDB error of a read that cannot name one object (a scan,
/// `after` the last object it read, or a metadata read): damage is
/// [`StoreError::DamagedStorage`].
pub(crate) fn damage_err(op: &'static str, after: Option<Hash>, e: rocksdb::Error) -> StoreError {
    if class_of(&e) == Class::Corruption {
        StoreError::DamagedStorage {
            op,
            after,
            source: Box::new(e),
        }
    } else {
        store_err(op, e)
    }
}

/// Maps a RocksDB error met while opening `path`.
pub(crate) fn open_err(op: &'static str, path: &std::path::Path, e: rocksdb::Error) -> OpenError {
    match class_of(&e) {
        Class::Locked => OpenError::Locked {
            path: path.to_owned(),
            source: Box::new(e),
        },
        Class::MissingColumnFamily => OpenError::NotAStore {
            path: path.to_owned(),
            reason: e.into_string(),
        },
        Class::NoSpace => OpenError::NoSpace {
            op,
            source: Box::new(e),
        },
        Class::Corruption | Class::Other => OpenError::Backend {
            op,
            source: Box::new(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use rocksdb::ErrorKind;

    use super::*;

    /// Messages as RocksDB 11 words them (env/fs_posix.cc, util/status.cc).
    #[test]
    fn only_a_held_lock_file_is_locked() {
        let cases = [
            (
                "IO error: lock hold by current process, acquire time 1700000000 \
                 acquiring thread 140: /s/store/LOCK: No locks available",
                Class::Locked,
            ),
            (
                "IO error: While lock file: /s/store/LOCK: Resource temporarily unavailable",
                Class::Locked,
            ),
            (
                "IO error: While lock file: /s/store/LOCK: Permission denied",
                Class::Locked,
            ),
            // Opening the LOCK file failed: nobody holds it.
            (
                "IO error: while open a file for lock: /s/store/LOCK: Permission denied",
                Class::Other,
            ),
            (
                "IO error: while open a file for lock: /s/store/LOCK: Is a directory",
                Class::Other,
            ),
            // fcntl failed for a reason other than a conflict.
            (
                "IO error: While lock file: /s/store/LOCK: No locks available",
                Class::Other,
            ),
            // "lock" and "LOCK" in a path, nothing to do with the lock.
            (
                "IO error: While appending to file: /srv/lock/LOCK.d/000012.log: \
                 Input/output error",
                Class::Other,
            ),
            (
                "IO error: While opening a file for sequentially reading: \
                 /s/lockstore/LOCK: Permission denied",
                Class::Other,
            ),
            (
                "IO error: No space left on device: While appending to file: \
                 /s/store/000012.log: No space left on device",
                Class::NoSpace,
            ),
            (
                "Corruption: block checksum mismatch: stored = 1, computed = 2 \
                 in /s/store/000010.sst offset 0 size 4096",
                Class::Corruption,
            ),
            (
                "Invalid argument: Column family not found: objects",
                Class::MissingColumnFamily,
            ),
            (
                "IO error: While appending to file: /s/store/000012.log: \
                 No space left on device",
                Class::NoSpace,
            ),
        ];
        for (message, class) in cases {
            let kind = if message.starts_with("IO error") {
                ErrorKind::IOError
            } else if message.starts_with("Corruption") {
                ErrorKind::Corruption
            } else {
                ErrorKind::InvalidArgument
            };
            assert_eq!(classify(&kind, message), class, "{message}");
        }
    }

    /// The kind is checked before the text: a message that reads like a
    /// held lock or a full disk under another kind is neither.
    #[test]
    fn the_kind_comes_first() {
        let lock = "While lock file: /s/store/LOCK: Resource temporarily unavailable";
        let full = "No space left on device: While appending to file: /s/000012.log";
        for kind in [ErrorKind::Unknown, ErrorKind::Corruption, ErrorKind::Busy] {
            assert_ne!(classify(&kind, lock), Class::Locked, "{kind:?}");
            assert_ne!(classify(&kind, full), Class::NoSpace, "{kind:?}");
        }
        assert_eq!(
            classify(
                &ErrorKind::IOError,
                "IO error: Column family not found: objects"
            ),
            Class::Other
        );
    }
}
