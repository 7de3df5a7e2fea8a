//! The read path through the three layers, and the loader that lets a cold
//! `Vst` fill its directories from them.
//!
//! A read looks in the in-flight table (objects committed but still queued
//! for the writer), then in L1, which on a miss reads L2 and keeps a copy.
//! The in-flight table is what makes an `Async` commit readable at once even
//! if L1 has already evicted its objects.
//!
//! `contains` also answers from the hashes of bulk writes (a large file's
//! chunks) this process stored and has not deleted since. Chunks go around
//! L1, and RocksDB answers a lookup of a value kept in a blob file by
//! reading the value: admitting the commit of a 1 GiB file read the whole
//! gigabyte back to learn that its 30,000 chunks were there (0.6 s of a
//! 2.6 s commit). Every write and deletion of this process goes through
//! the writer, which keeps the set in step with the store.
//!
//! Below L2 there may be an L3: an [`ObjectSource`] (a remote the store was
//! cloned from) that a read asks for what the store lacks. What it returns
//! is rehashed, then kept in L2, so each object crosses the network once.
//! Collection and verification look at what is held here only
//! ([`Layers::get_held`]): a lazy store does not download a remote to
//! collect its own garbage.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use helios_l1cache::L1Cache;
use helios_types::store::{
    MetaIter, ObjectIter, ObjectSource, ObjectStore, StoreError, StoreResult, WriteBatch, WriteMode,
};
use helios_types::{Hash, HashAlgorithm, ObjectKind, Tree};
use helios_vst::{LoadError, TreeLoader};

use crate::sync::lock;

/// The store below L1: RocksDB, or memory in tests.
pub(crate) type L2 = Arc<dyn ObjectStore>;

/// L1 over L2, plus the objects still on their way down.
pub(crate) struct Layers {
    pub(crate) l1: L1Cache<L2>,
    inflight: Mutex<HashMap<Hash, Arc<[u8]>>>,
    /// Objects of bulk writes stored and not deleted since (see the module
    /// documentation), at most [`BULK_STORED_MAX`].
    bulk_stored: Mutex<HashSet<Hash>>,
    /// L3: where what the store lacks is read from, if anywhere.
    source: OnceLock<Arc<dyn ObjectSource>>,
}

/// Hashes [`Layers`] remembers of bulk writes: the chunks of 8 GiB of new
/// content at the average chunk size, about 10 MiB of memory. Past it the
/// set starts again empty (a lookup of a forgotten hash asks the store).
const BULK_STORED_MAX: usize = 1 << 18;

impl Layers {
    pub(crate) fn new(l1: L1Cache<L2>) -> Self {
        Layers {
            l1,
            inflight: Mutex::default(),
            bulk_stored: Mutex::default(),
            source: OnceLock::new(),
        }
    }

    /// Reads what the store lacks from `source` from now on. There is at
    /// most one: `false` if one was set already.
    pub(crate) fn read_through(&self, source: Arc<dyn ObjectSource>) -> bool {
        self.source.set(source).is_ok()
    }

    /// Whether an object the store lacks may be on a source: a lazy store,
    /// whose absent objects are not missing.
    pub(crate) fn reads_through(&self) -> bool {
        self.source.get().is_some()
    }

    /// `hash` from the source, rehashed, without keeping it: `None` when
    /// there is no source or it lacks the object.
    pub(crate) fn fetch_missing(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        let Some(source) = self.source.get() else {
            return Ok(None);
        };
        let Some(bytes) = source.fetch(hash)? else {
            return Ok(None);
        };
        let found = self.algorithm().digest(&bytes);
        if found != *hash {
            return Err(StoreError::Corrupt {
                hash: *hash,
                reason: format!("the bytes read through from the remote hash to {found}"),
            });
        }
        Ok(Some(bytes))
    }

    /// An object held in this store (in flight, L1 or L2), never read
    /// through.
    pub(crate) fn get_held(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        if let Some(bytes) = self.inflight().get(hash) {
            return Ok(Some(bytes.to_vec()));
        }
        self.l1.get(hash)
    }

    /// The writer stored these objects of a bulk write.
    pub(crate) fn note_bulk_stored(&self, hashes: &[Hash]) {
        if hashes.is_empty() {
            return;
        }
        let mut stored = lock(&self.bulk_stored);
        if stored.len() + hashes.len() > BULK_STORED_MAX {
            stored.clear();
        }
        stored.extend(hashes.iter().take(BULK_STORED_MAX));
    }

    /// The writer is about to delete these objects.
    pub(crate) fn forget_stored(&self, deleted: &[Hash]) {
        // Most writes delete nothing: no lock for them.
        if deleted.is_empty() {
            return;
        }
        let mut stored = lock(&self.bulk_stored);
        if stored.is_empty() {
            return;
        }
        for hash in deleted {
            stored.remove(hash);
        }
    }

    /// L2 alone: what survives a crash.
    pub(crate) fn l2(&self) -> &dyn ObjectStore {
        &**self.l1.inner()
    }

    fn inflight(&self) -> MutexGuard<'_, HashMap<Hash, Arc<[u8]>>> {
        lock(&self.inflight)
    }

    /// Registers objects queued for the writer.
    pub(crate) fn add_inflight(&self, objects: &[(Hash, Arc<[u8]>)]) {
        let mut map = self.inflight();
        for (h, b) in objects {
            map.insert(*h, b.clone());
        }
    }

    /// Forgets objects the writer has stored.
    pub(crate) fn remove_inflight(&self, objects: &[(Hash, Arc<[u8]>)]) {
        let mut map = self.inflight();
        for (h, _) in objects {
            map.remove(h);
        }
    }

    /// Writes `batch` down through L1, caching only what `admit` accepts
    /// (see `L1Cache::write_admitting`).
    pub(crate) fn write_admitting(
        &self,
        batch: WriteBatch,
        mode: WriteMode,
        admit: &dyn Fn(&Hash) -> bool,
    ) -> StoreResult<()> {
        self.l1.write_admitting(batch, mode, admit)
    }

    pub(crate) fn inflight_len(&self) -> usize {
        self.inflight().len()
    }
}

impl ObjectStore for Layers {
    fn algorithm(&self) -> HashAlgorithm {
        self.l1.algorithm()
    }

    fn get(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        if let Some(bytes) = self.get_held(hash)? {
            return Ok(Some(bytes));
        }
        let Some(bytes) = self.fetch_missing(hash)? else {
            return Ok(None);
        };
        // Kept unsynced: a crash loses only what can be read through
        // again. A store opened read-only (or on a full disk) cannot keep
        // it, and still answers.
        let mut batch = WriteBatch::new();
        batch.put_object(*hash, bytes.clone());
        if let Err(e) = self.l1.write(batch, WriteMode::Buffered) {
            tracing::debug!(%hash, error = %e, "object read through, not kept");
        }
        Ok(Some(bytes))
    }

    fn contains(&self, hash: &Hash) -> StoreResult<bool> {
        if self.inflight().contains_key(hash) || lock(&self.bulk_stored).contains(hash) {
            return Ok(true);
        }
        self.l1.contains(hash)
    }

    /// Passes the objects of `hashes` this store lacks to its read-through
    /// source, if it has one.
    fn prefetch(&self, hashes: &[Hash]) -> StoreResult<()> {
        let Some(source) = self.source.get() else {
            return Ok(());
        };
        let mut missing = Vec::new();
        for hash in hashes {
            if !self.contains(hash)? {
                missing.push(*hash);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        source.prefetch(&missing)
    }

    fn write(&self, batch: WriteBatch, mode: WriteMode) -> StoreResult<()> {
        self.write_admitting(batch, mode, &|_| true)
    }

    fn objects(&self, kind: Option<ObjectKind>) -> StoreResult<ObjectIter<'_>> {
        self.l1.objects(kind)
    }

    fn get_meta(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.l1.get_meta(key)
    }

    fn meta_with_prefix(&self, prefix: &[u8]) -> StoreResult<MetaIter<'_>> {
        self.l1.meta_with_prefix(prefix)
    }

    fn sync(&self) -> StoreResult<()> {
        self.l1.sync()
    }
}

/// Fills cold directories of restored trees from the layers.
pub(crate) struct LayerLoader(pub(crate) Arc<Layers>);

impl TreeLoader for LayerLoader {
    fn load_tree(&self, hash: &Hash) -> Result<Option<Tree>, LoadError> {
        match self.0.get(hash)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(Tree::decode(&bytes)?)),
        }
    }
}
