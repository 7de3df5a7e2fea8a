//! The object-store contract: what every layer that holds encoded objects
//! (the L1 cache, RocksDB, the in-memory store) implements, so that layers
//! stack — a cache is a store wrapping a store.
//!
//! The contract is plain data and a small trait, free of any backend type:
//! nothing above `helios-objstore` ever names RocksDB.

use std::error::Error as StdError;
use std::sync::Arc;

use crate::hash::{Hash, HashAlgorithm};
use crate::object::ObjectKind;

mod mem;
pub use mem::MemStore;
#[cfg(feature = "conformance")]
pub mod conformance;

/// How hard a write waits for durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Returns after the write-ahead log is synced to disk: the batch
    /// survives a crash or power loss from the moment the call returns.
    Sync,
    /// Returns after the batch is in the backend's log buffer, without an
    /// fsync: it survives the process being killed once the OS has the
    /// bytes, but a power loss may take the tail.
    #[default]
    Buffered,
    /// Bulk data (a large file's chunks): the store may keep the batch in
    /// memory only, without logging it, and write it out in bulk later.
    /// It is durable once [`ObjectStore::sync`] returns, and a store makes
    /// it durable before any later `Sync` or `Buffered` write, so a write
    /// that survives a crash never outlives an `Unlogged` one made before
    /// it. A record that names unlogged objects is therefore safe to write
    /// after them in either mode; until then a crash may lose them.
    Unlogged,
}

/// A key in the metadata namespace (snapshot table, refs, pins,
/// configuration). Kept apart from objects so that scans of one never walk
/// the other.
pub type MetaKey = Vec<u8>;

/// One atomic write: everything in it lands, or nothing does.
///
/// Objects are stored under their hash; the caller has already hashed them
/// with the store's algorithm (stores verify on read, not on write, because
/// the writer just computed the hash and reads are where damage shows).
///
/// A store applies a batch's object deletes, then its object puts, then
/// its metadata deletes, then its metadata puts, each in order: within one
/// batch a put wins over a delete of the same key, and the last of several
/// puts of a key wins. [`WriteBatch::append`] merges
/// batches in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// Encoded objects to store, keyed by their hash. Shared, not owned:
    /// the engine keeps the same bytes readable in flight while the batch
    /// is written, and a cache keeps them after, without a copy of the
    /// batch on either side.
    pub objects: Vec<(Hash, Arc<[u8]>)>,
    /// Objects to delete (garbage collection).
    pub object_deletes: Vec<Hash>,
    /// Metadata entries to set.
    pub meta_puts: Vec<(MetaKey, Vec<u8>)>,
    /// Metadata entries to remove.
    pub meta_deletes: Vec<MetaKey>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an encoded object.
    pub fn put_object(&mut self, hash: Hash, encoded: impl Into<Arc<[u8]>>) -> &mut Self {
        self.objects.push((hash, encoded.into()));
        self
    }

    /// Adds a metadata entry.
    pub fn put_meta(&mut self, key: impl Into<MetaKey>, value: Vec<u8>) -> &mut Self {
        self.meta_puts.push((key.into(), value));
        self
    }

    /// Refuses the batch if a value in it is longer than `max`
    /// ([`StoreError::TooLarge`]): the check every store's `write` makes
    /// before writing anything.
    pub fn check_value_lens(&self, max: u64) -> StoreResult<()> {
        let lens = self.objects.iter().map(|(_, v)| v.len());
        let lens = lens.chain(self.meta_puts.iter().map(|(_, v)| v.len()));
        match lens.map(|len| len as u64).find(|&len| len > max) {
            Some(len) => Err(StoreError::TooLarge { len, max }),
            None => Ok(()),
        }
    }

    /// Adds `later` after this batch, so that writing the result leaves the
    /// store as writing this batch and then `later` would: since deletes
    /// are applied before puts, the puts here of keys that `later` deletes
    /// are dropped.
    pub fn append(&mut self, later: WriteBatch) {
        if !later.object_deletes.is_empty() {
            let gone: std::collections::HashSet<&Hash> = later.object_deletes.iter().collect();
            self.objects.retain(|(hash, _)| !gone.contains(hash));
        }
        if !later.meta_deletes.is_empty() {
            let gone: std::collections::HashSet<&MetaKey> = later.meta_deletes.iter().collect();
            self.meta_puts.retain(|(key, _)| !gone.contains(key));
        }
        self.objects.extend(later.objects);
        self.object_deletes.extend(later.object_deletes);
        self.meta_puts.extend(later.meta_puts);
        self.meta_deletes.extend(later.meta_deletes);
    }

    /// True when the batch would change nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
            && self.object_deletes.is_empty()
            && self.meta_puts.is_empty()
            && self.meta_deletes.is_empty()
    }

    /// Bytes of object payload the batch carries.
    pub fn object_bytes(&self) -> usize {
        self.objects.iter().map(|(_, b)| b.len()).sum()
    }
}

/// A failure of an object store. Backend-specific errors are boxed in
/// [`StoreError::Backend`] so that no upper crate names the backend's types.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Stored bytes do not hash to the key they are stored under.
    #[error("object {hash} is corrupt: {reason}")]
    Corrupt {
        /// The key the bytes were read from.
        hash: Hash,
        /// What is wrong.
        reason: String,
    },
    /// The backend found damage it cannot pin to one object: a scan met a
    /// block whose checksum fails before it could read the keys inside, or
    /// a metadata read failed so. Object reads by hash report damage as
    /// [`StoreError::Corrupt`] instead, naming the hash they asked for.
    #[error(
        "storage damage while {op}{}: {source}",
        .after.map(|h| format!(" (after object {h})")).unwrap_or_default()
    )]
    DamagedStorage {
        /// What the store was doing.
        op: &'static str,
        /// The last object a scan of objects read intact (they come in
        /// hash order): the damage lies after it. `None` when no object was
        /// read, and for metadata.
        after: Option<Hash>,
        /// The backend's report.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A caller required an object that the store does not hold.
    #[error("object {0} not found")]
    NotFound(Hash),
    /// The store was closed; no further operation is possible.
    #[error("store is closed")]
    Closed,
    /// The disk (or the backend's space quota) is full. Nothing of the
    /// failed batch was written.
    #[error("no space left while {op}: {source}")]
    NoSpace {
        /// What the store was doing.
        op: &'static str,
        /// The backend's report.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A batch held a value larger than the store can hold; nothing of it
    /// was written. See [`ObjectStore::max_value_len`].
    #[error("a value of {len} bytes is larger than this store holds (at most {max})")]
    TooLarge {
        /// The value's length.
        len: u64,
        /// [`ObjectStore::max_value_len`].
        max: u64,
    },
    /// Any other failure of the backend, with the operation it broke.
    #[error("{op} failed: {source}")]
    Backend {
        /// What the store was doing.
        op: &'static str,
        /// The backend's report.
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl StoreError {
    /// Wraps a backend error with the operation that failed.
    pub fn backend(op: &'static str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        StoreError::Backend {
            op,
            source: source.into(),
        }
    }
}

/// Result of an object-store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// An iterator over `(hash, encoded object)` pairs.
pub type ObjectIter<'a> = Box<dyn Iterator<Item = StoreResult<(Hash, Vec<u8>)>> + 'a>;

/// An iterator over metadata `(key, value)` pairs.
pub type MetaIter<'a> = Box<dyn Iterator<Item = StoreResult<(MetaKey, Vec<u8>)>> + 'a>;

/// A content-addressed store of encoded objects plus a small metadata
/// namespace, written in atomic batches.
///
/// Absence is not an error: `get` returns `Ok(None)`; [`ObjectStoreExt::require`]
/// turns that into [`StoreError::NotFound`] where an object must exist.
pub trait ObjectStore: Send + Sync {
    /// The hash algorithm every object in this store was hashed with.
    fn algorithm(&self) -> HashAlgorithm;

    /// The encoded object stored under `hash`, verified against it.
    fn get(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>>;

    /// Whether an object is stored under `hash` (no verification, no copy).
    fn contains(&self, hash: &Hash) -> StoreResult<bool>;

    /// Applies a batch atomically.
    ///
    /// A put of a hash already stored replaces the stored bytes; the last
    /// put of a hash wins, also within one batch. Re-putting the same bytes
    /// is therefore idempotent, and re-putting verified bytes repairs an
    /// entry that reads as [`StoreError::Corrupt`]. Stores do not read
    /// before writing to skip a re-put: it costs what a put costs (for
    /// RocksDB, a WAL record and a memtable entry until compaction keeps one
    /// copy), which is cheaper than the lookup that could avoid it.
    fn write(&self, batch: WriteBatch, mode: WriteMode) -> StoreResult<()>;

    /// Every object of `kind` (all objects for `None`), in hash order, each
    /// verified. A store may read every object to find those of one kind
    /// (RocksDB does, since the kind is inside the value), so a scan by kind
    /// costs about a full scan: meant for garbage collection and
    /// verification, not for hot paths.
    fn objects(&self, kind: Option<ObjectKind>) -> StoreResult<ObjectIter<'_>>;

    /// The metadata value under `key`.
    fn get_meta(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;

    /// Every metadata entry whose key starts with `prefix`, in key order.
    fn meta_with_prefix(&self, prefix: &[u8]) -> StoreResult<MetaIter<'_>>;

    /// Several objects at once; backends with a batched read override this.
    fn get_many(&self, hashes: &[Hash]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        hashes.iter().map(|h| self.get(h)).collect()
    }

    /// Stores one object (buffered).
    fn put(&self, hash: Hash, encoded: Vec<u8>) -> StoreResult<()> {
        let mut batch = WriteBatch::new();
        batch.put_object(hash, encoded);
        self.write(batch, WriteMode::Buffered)
    }

    /// Deletes objects (buffered). Deleting an absent object is not an error.
    fn delete_objects(&self, hashes: &[Hash]) -> StoreResult<()> {
        let batch = WriteBatch {
            object_deletes: hashes.to_vec(),
            ..WriteBatch::default()
        };
        self.write(batch, WriteMode::Buffered)
    }

    /// Makes every buffered write durable.
    fn sync(&self) -> StoreResult<()>;

    /// The longest value (encoded object or metadata value) this store
    /// holds. [`write`](ObjectStore::write) refuses a batch with a longer
    /// one whole, with [`StoreError::TooLarge`]; callers check before they
    /// acknowledge anything.
    fn max_value_len(&self) -> u64 {
        u64::MAX
    }

    /// A hint that the objects `hashes` will be read soon (a checkout
    /// about to write them). A store that reads through to a remote may
    /// bring those it lacks together, in a few large requests rather than
    /// one per miss; every other store ignores it. A failed prefetch
    /// loses nothing: each read then fetches its own.
    fn prefetch(&self, hashes: &[Hash]) -> StoreResult<()> {
        let _ = hashes;
        Ok(())
    }
}

/// Where a store's missing objects may still be found: a remote the store
/// reads through (L3, below RocksDB). The engine asks it for an object or
/// a snapshot record it does not hold, rehashes what comes back, and keeps
/// it; a source is never trusted.
pub trait ObjectSource: Send + Sync {
    /// The encoded object (or snapshot record) whose hash is `hash`, if the
    /// source holds it.
    fn fetch(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>>;

    /// A hint that the objects `hashes`, which the store lacks, will be
    /// asked for soon ([`ObjectStore::prefetch`]): a source may read them
    /// together and hold them for [`ObjectSource::fetch`].
    fn prefetch(&self, hashes: &[Hash]) -> StoreResult<()> {
        let _ = hashes;
        Ok(())
    }
}

/// Helpers every store gets for free.
pub trait ObjectStoreExt: ObjectStore {
    /// Like `get`, but absence is [`StoreError::NotFound`].
    fn require(&self, hash: &Hash) -> StoreResult<Vec<u8>> {
        self.get(hash)?.ok_or(StoreError::NotFound(*hash))
    }
}

impl<S: ObjectStore + ?Sized> ObjectStoreExt for S {}

impl<S: ObjectStore + ?Sized> ObjectStore for std::sync::Arc<S> {
    fn algorithm(&self) -> HashAlgorithm {
        (**self).algorithm()
    }
    fn get(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        (**self).get(hash)
    }
    fn contains(&self, hash: &Hash) -> StoreResult<bool> {
        (**self).contains(hash)
    }
    fn write(&self, batch: WriteBatch, mode: WriteMode) -> StoreResult<()> {
        (**self).write(batch, mode)
    }
    fn objects(&self, kind: Option<ObjectKind>) -> StoreResult<ObjectIter<'_>> {
        (**self).objects(kind)
    }
    fn get_meta(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        (**self).get_meta(key)
    }
    fn meta_with_prefix(&self, prefix: &[u8]) -> StoreResult<MetaIter<'_>> {
        (**self).meta_with_prefix(prefix)
    }
    fn get_many(&self, hashes: &[Hash]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        (**self).get_many(hashes)
    }
    fn sync(&self) -> StoreResult<()> {
        (**self).sync()
    }
    fn max_value_len(&self) -> u64 {
        (**self).max_value_len()
    }
    fn prefetch(&self, hashes: &[Hash]) -> StoreResult<()> {
        (**self).prefetch(hashes)
    }
}

/// Checks that `encoded` hashes to `hash` under `alg`; the one
/// implementation of read verification that every store calls.
pub fn verify_object(alg: HashAlgorithm, hash: &Hash, encoded: &[u8]) -> StoreResult<()> {
    let actual = alg.digest(encoded);
    if actual == *hash {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            hash: *hash,
            reason: format!("bytes hash to {actual}"),
        })
    }
}

/// `bytes` as an LZ4 block (without its length) when that saves at least
/// `1 / saving` of them, else `None`: the one test of whether compressing
/// a value pays, shared by the stores that compress (L1's ring, L2's bulk
/// family).
pub fn lz4_if_it_pays(bytes: &[u8], saving: usize) -> Option<Vec<u8>> {
    let compressed = lz4_flex::block::compress(bytes);
    (compressed.len() < bytes.len() - bytes.len() / saving.max(1)).then_some(compressed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Blob;

    #[test]
    fn verify_object_accepts_match_and_names_mismatch() {
        let blob = Blob::new(&b"data"[..]).encode();
        let h = HashAlgorithm::Blake3.digest(&blob);
        assert!(verify_object(HashAlgorithm::Blake3, &h, &blob).is_ok());
        let err = verify_object(HashAlgorithm::Sha256, &h, &blob).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { hash, .. } if hash == h));
        assert!(err.to_string().contains(&h.to_string()));
    }

    #[test]
    fn batch_reports_emptiness_and_bytes() {
        let mut b = WriteBatch::new();
        assert!(b.is_empty());
        b.put_object(Hash::from_bytes([1; 32]), vec![0; 10])
            .put_meta(b"k".to_vec(), vec![1]);
        assert!(!b.is_empty());
        assert_eq!(b.object_bytes(), 10);
        let e = StoreError::backend("open", "boom");
        assert_eq!(e.to_string(), "open failed: boom");
    }

    #[test]
    fn damaged_storage_says_where_the_scan_was() {
        let after = Hash::from_bytes([0xab; 32]);
        let e = StoreError::DamagedStorage {
            op: "iterate objects",
            after: Some(after),
            source: "checksum mismatch".into(),
        };
        assert_eq!(
            e.to_string(),
            format!(
                "storage damage while iterate objects (after object {after}): checksum mismatch"
            )
        );
        let e = StoreError::DamagedStorage {
            op: "get meta",
            after: None,
            source: "checksum mismatch".into(),
        };
        assert_eq!(
            e.to_string(),
            "storage damage while get meta: checksum mismatch"
        );
    }
}
