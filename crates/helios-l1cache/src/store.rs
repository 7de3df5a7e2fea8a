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
//!   store refused.
//! - `contains`: the arena, then the inner store.
//! - `objects`, metadata and `sync`: passed through; iteration does not
//!   fill the arena (a full scan would flush it).
//!
//! All writes must go through the wrapper: an object deleted from the
//! inner store behind its back may still be served from the arena.

use std::fmt;

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
        // Compress before the write (the batch moves into the inner store)
        // and insert only after it succeeded.
        let staged: Vec<(Hash, Prepared<'static>)> = batch
            .objects
            .iter()
            .filter(|(hash, bytes)| {
                !self.cache.reject_if_too_large(hash, bytes.len()) && !self.cache.touch(hash)
            })
            .map(|(hash, bytes)| (*hash, Prepared::new(bytes).into_owned()))
            .collect();
        let deletes = batch.object_deletes.clone();
        self.inner.write(batch, mode)?;
        // Deletes first: the inner store applies a batch's deletes before
        // its puts, so an object both deleted and put stays.
        for hash in &deletes {
            self.cache.remove(hash);
        }
        for (hash, prepared) in &staged {
            self.cache.insert_prepared(*hash, prepared, None);
        }
        Ok(())
    }

    fn objects(&self, kind: Option<ObjectKind>) -> StoreResult<ObjectIter<'_>> {
        self.inner.objects(kind)
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
