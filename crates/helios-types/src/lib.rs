//! The ground every Helios layer stands on: content hashes, the object model
//! (blobs, chunk lists, trees, snapshots), its one canonical binary
//! encoding, the object-store contract that L1, L2 and the engine
//! implement, [`file`]: how file content is cut into objects and read
//! back, and [`api`]: what the engine's calls report, for its clients.
//!
//! Nothing here opens a file: [`file`] streams through the readers and
//! writers it is given. The normative description of the encoding is
//! `spec/object-format.md`; golden vectors in `spec/golden/` pin it.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
mod codec;
mod error;
pub mod file;
mod hash;
mod name;
mod object;
pub mod store;

pub use codec::{HEADER_LEN, ObjectHeader};
pub use error::DecodeError;
pub use hash::{HASH_LEN, Hash, HashAlgorithm, ObjectHasher, ParseHashError, SnapshotId};
pub use name::{MAX_NAME_LEN, Name, NameError, RepoPath, validate_name};
pub use object::{
    Blob, ChunkList, ChunkRef, EntryKind, EntryRef, Object, ObjectKind, Snapshot, Tree, TreeEntry,
    TreeError,
};
