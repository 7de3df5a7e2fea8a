//! [`L1Cache`]: the arena as an [`ObjectStore`] wrapped around another
//! store, so that layers stack (L1 over RocksDB in the engine, L1 over
//! `MemStore` in tests).
//!
//! - `get` / `get_many`: hit in the arena, or read the inner store, verify
//!   the bytes against the hash (unless `verify_fills` is off), fill the
//!   arena and return them. Errors from the inner store pass through and
//!   fill nothing.
//! - `write`: the batch goes to the inner store first; only when it
//!   succeeded are its deletes evicted from the arena and its objects
//!   written in (write-through), so the arena never holds an object the
//!   store refused. Written objects are verified against their hash first
//!   (unless `verify_fills` is off): the store keeps wrong bytes, as every
//!   store does, and the arena drops its entry so that reads reach the
//!   store and report them corrupt. A re-put replaces, as in the store.
//!   `write_admitting` writes the objects its caller does not admit around
//!   the arena (bulk data such as a large file's chunks).
//! - `contains`: the arena, then the inner store.
//! - `objects`, metadata and `sync`: passed through; iteration does not
//!   fill the arena (a full scan would flush it).
//!
//! All writes must go through the wrapper: an object deleted from the
//! inner store behind its back may still be served from the arena.

use std::fmt;
use std::sync::Arc;

use helios_types::store::{
    MetaIter, ObjectIter, ObjectStore, StoreError, StoreResult, WriteBatch, WriteMode,
    verify_object,
};
use helios_types::{Hash, HashAlgorithm, ObjectKind};

use crate::cache::{ObjectCache, Prepared};
use crate::config::{ConfigError, L1Config};
use crate::stats::CacheStats;

/// An object store with an L1 arena in front of it.
pub struct L1Cache<S> {
    inner: S,
    cache: ObjectCache,
}

impl<S: ObjectStore> fmt::Debug for L1Cache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L1Cache")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl<S: ObjectStore> L1Cache<S> {
    /// Wraps `inner` with an arena built from `config`. Fails on an invalid
    /// configuration, or when `config.verify_hits` names an algorithm other
    /// than the store's.
    pub fn new(inner: S, config: L1Config) -> Result<Self, ConfigError> {
        if let Some(configured) = config.verify_hits {
            let store = inner.algorithm();
            if configured != store {
                return Err(ConfigError::AlgorithmMismatch { configured, store });
            }
        }
        Ok(L1Cache {
            cache: ObjectCache::new(config)?,
            inner,
        })
    }

    /// The arena.
    pub fn cache(&self) -> &ObjectCache {
        &self.cache
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner store, dropping the arena.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The arena's statistics.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Checks bytes read from the inner store, then caches them unless a
    /// removal raced with the read.
    fn fill(&self, hash: &Hash, bytes: &[u8], ticket: u64) -> StoreResult<()> {
        if self.cache.config().verify_fills {
            verify_object(self.inner.algorithm(), hash, bytes)?;
        }
        if !self.cache.reject_if_too_large(hash, bytes.len()) && !self.cache.touch(hash) {
            self.cache
                .insert_prepared(*hash, &Prepared::new(bytes), Some(ticket));
        }
        Ok(())
    }
}

/// What one put of a batch does to the arena once the inner store took
/// the batch. Decided before the write; nothing is compressed or copied
/// until the write succeeded, so a large batch is not held twice while the
/// inner store writes it.
#[derive(Clone, Copy)]
enum Staged {
    /// Nothing: the object is too large to cache, or bytes verified
    /// against the hash are already held (now marked used).
    Nothing,
    /// Cache the bytes, verified against the hash.
    Insert,
    /// Replace whatever is held with the unverified bytes (`verify_fills`
    /// off): the last put of a hash wins, as in the store.
    Replace,
    /// Drop what is held: the bytes do not match the hash, the store now
    /// holds them, and a read must reach the store to report them corrupt.
    Evict,
}

impl<S: ObjectStore> L1Cache<S> {
    /// Decides, before the inner write, what a put does to the arena.
    /// The store keeps whatever bytes it is given (stores verify on read),
    /// so the arena caches written bytes only once it has checked them.
    /// An object the caller does not `admit` is written around the arena:
    /// any copy held is dropped, none is made.
    fn stage(&self, hash: &Hash, bytes: &[u8], admit: bool) -> Staged {
        if !admit {
            return Staged::Evict;
        }
        if self.cache.reject_if_too_large(hash, bytes.len()) {
            return Staged::Nothing;
        }
        if !self.cache.config().verify_fills {
            return Staged::Replace;
        }
        if verify_object(self.inner.algorithm(), hash, bytes).is_err() {
            return Staged::Evict;
        }
        if self.cache.touch(hash) {
            return Staged::Nothing;
        }
        Staged::Insert
    }
}

impl<S: ObjectStore> L1Cache<S> {
    /// [`ObjectStore::write`], caching only the objects `admit` accepts:
    /// bulk data read once (a large file's chunks) is written around the
    /// arena, so it neither flushes what is hot nor costs memory.
    pub fn write_admitting(
        &self,
        batch: WriteBatch,
        mode: WriteMode,
        admit: &dyn Fn(&Hash) -> bool,
    ) -> StoreResult<()> {
        // Verify before the write (the batch moves into the inner store;
        // the bytes are shared, so keeping them costs no copy); touch the
        // arena only after it succeeded.
        let staged: Vec<_> = batch
            .objects
            .iter()
            .map(|(hash, bytes)| {
                let staged = self.stage(hash, bytes, admit(hash));
                (*hash, Arc::clone(bytes), staged)
            })
            .collect();
        let deletes = batch.object_deletes.clone();
        self.inner.write(batch, mode)?;
        // Deletes first, then the puts in batch order, as the inner store
        // applies them: a put wins over a delete of the same object, and
        // the last of several puts of one hash wins.
        for hash in &deletes {
            self.cache.remove(hash);
        }
        for (hash, bytes, staged) in &staged {
            match staged {
                Staged::Nothing => {}
                Staged::Insert => {
                    self.cache
                        .insert_prepared(*hash, &Prepared::new(bytes), None);
                }
                Staged::Replace => {
                    self.cache.remove(hash);
                    self.cache
                        .insert_prepared(*hash, &Prepared::new(bytes), None);
                }
                Staged::Evict => {
                    self.cache.remove(hash);
                }
            }
        }
        Ok(())
    }
}

impl<S: ObjectStore> ObjectStore for L1Cache<S> {
    fn algorithm(&self) -> HashAlgorithm {
        self.inner.algorithm()
    }

    fn get(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        if let Some(bytes) = self.cache.get(hash) {
            return Ok(Some(bytes));
        }
        let ticket = self.cache.fill_ticket(hash);
        let Some(bytes) = self.inner.get(hash)? else {
            return Ok(None);
        };
        self.fill(hash, &bytes, ticket)?;
        Ok(Some(bytes))
    }

    fn contains(&self, hash: &Hash) -> StoreResult<bool> {
        if self.cache.contains(hash) {
            return Ok(true);
        }
        self.inner.contains(hash)
    }

    fn write(&self, batch: WriteBatch, mode: WriteMode) -> StoreResult<()> {
        self.write_admitting(batch, mode, &|_| true)
    }

    fn objects(&self, kind: Option<ObjectKind>) -> StoreResult<ObjectIter<'_>> {
        self.inner.objects(kind)
    }

    fn max_value_len(&self) -> u64 {
        self.inner.max_value_len()
    }

    fn get_meta(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get_meta(key)
    }

    fn meta_with_prefix(&self, prefix: &[u8]) -> StoreResult<MetaIter<'_>> {
        self.inner.meta_with_prefix(prefix)
    }

    fn get_many(&self, hashes: &[Hash]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        let mut out: Vec<Option<Vec<u8>>> = hashes.iter().map(|h| self.cache.get(h)).collect();
        let missing: Vec<usize> = (0..hashes.len()).filter(|&i| out[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(out);
        }
        let tickets: Vec<u64> = missing
            .iter()
            .map(|&i| self.cache.fill_ticket(&hashes[i]))
            .collect();
        let wanted: Vec<Hash> = missing.iter().map(|&i| hashes[i]).collect();
        let found = self.inner.get_many(&wanted)?;
        if found.len() != wanted.len() {
            let msg = format!(
                "inner store answered {} of {} hashes",
                found.len(),
                wanted.len()
            );
            return Err(StoreError::backend("get_many", msg));
        }
        for ((&i, ticket), bytes) in missing.iter().zip(tickets).zip(found) {
            if let Some(bytes) = &bytes {
                self.fill(&hashes[i], bytes, ticket)?;
            }
            out[i] = bytes;
        }
        Ok(out)
    }

    fn sync(&self) -> StoreResult<()> {
        self.inner.sync()
    }
}
