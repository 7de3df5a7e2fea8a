//! Why bytes are not a valid encoded object.

use crate::name::NameError;
use crate::object::ObjectKind;

/// A decoding failure. Every malformed input maps to one of these; decoding
/// never panics and never accepts a hostile tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before a field it must contain.
    #[error("truncated: {field} needs {needed} bytes at offset {offset}, {available} remain")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Its offset from the start of the object.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes that remain.
        available: usize,
    },
    /// The first byte is not a known object kind.
    #[error("unknown object tag {0:#04x}")]
    UnknownTag(u8),
    /// The header's length does not match the bytes that follow it.
    #[error("header declares a {declared}-byte payload but {actual} bytes follow")]
    LengthMismatch {
        /// Payload length the header declares.
        declared: u64,
        /// Payload bytes actually present.
        actual: usize,
    },
    /// Bytes remain after the last field of the payload.
    #[error("{0} trailing bytes after the payload")]
    TrailingBytes(usize),
    /// The object is a valid object of another kind than the one asked for.
    #[error("expected a {expected} object, found a {found}")]
    WrongKind {
        /// Kind the caller asked for.
        expected: ObjectKind,
        /// Kind the bytes hold.
        found: ObjectKind,
    },
    /// A tree entry's kind byte is unknown.
    #[error("tree entry {index}: unknown entry kind {kind:#04x}")]
    UnknownEntryKind {
        /// Position of the entry.
        index: usize,
        /// The kind byte.
        kind: u8,
    },
    /// A tree entry's name is hostile or empty.
    #[error("tree entry {index}: {source}")]
    BadName {
        /// Position of the entry.
        index: usize,
        /// What is wrong with the name.
        source: NameError,
    },
    /// Tree entries are not strictly ascending by name bytes (this includes
    /// duplicates).
    #[error("tree entry {index} is not after entry {} in name order", index - 1)]
    Unsorted {
        /// Position of the first out-of-order entry.
        index: usize,
    },
    /// The tree's declared total size is not the sum of its entries' sizes.
    #[error("tree declares {declared} bytes but its entries add up to {sum:?}")]
    SizeMismatch {
        /// The total the tree declares.
        declared: u64,
        /// The sum of entry sizes, `None` when it overflows `u64`.
        sum: Option<u64>,
    },
    /// Text fields (label, metadata) must be UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A chunk of a chunk list is empty or longer than
    /// [`crate::file::CHUNK_MAX`].
    #[error(
        "chunk {index} has length {len}, outside 1..={}",
        crate::file::CHUNK_MAX
    )]
    BadChunkLen {
        /// Position of the chunk.
        index: usize,
        /// Its declared length.
        len: u32,
    },
    /// A chunk list of a file small enough to be one blob: each content has
    /// exactly one encoding, and below [`crate::file::CHUNKED_FROM`] bytes
    /// it is a blob.
    #[error(
        "chunk list of {size} bytes; files under {} bytes are blobs",
        crate::file::CHUNKED_FROM
    )]
    SmallChunkList {
        /// The sum of its chunk lengths.
        size: u64,
    },
    /// Snapshot metadata keys must be strictly ascending.
    #[error("snapshot metadata key {index} is not after key {} in byte order", index - 1)]
    UnsortedMetadata {
        /// Position of the first out-of-order key.
        index: usize,
    },
}
