//! `MemStore`: the object-store contract held in memory. The reference
//! implementation every other store is compared with in the conformance
//! suite, and the store that unit tests of the upper layers run on.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::{
    MetaIter, MetaKey, ObjectIter, ObjectStore, StoreResult, WriteBatch, WriteMode, verify_object,
};
use crate::hash::{Hash, HashAlgorithm};
use crate::object::ObjectKind;

#[derive(Debug, Default)]
struct Maps {
    objects: BTreeMap<Hash, Arc<[u8]>>,
    meta: BTreeMap<MetaKey, Vec<u8>>,
}

/// An object store in memory. Writes are atomic under one lock; reads verify
/// hashes like every other store, so a test that corrupts an entry through
/// [`MemStore::corrupt`] sees the same error a damaged disk would give.
#[derive(Debug, Default)]
pub struct MemStore {
    algorithm: HashAlgorithm,
    maps: RwLock<Maps>,
    /// `None`: no limit.
    max_value_len: Option<u64>,
}

impl MemStore {
    /// An empty store hashing with `algorithm`.
    pub fn new(algorithm: HashAlgorithm) -> Self {
        MemStore {
            algorithm,
            maps: RwLock::default(),
            max_value_len: None,
        }
    }

    /// An empty store that refuses values longer than `max`, as a disk
    /// store with a value size limit does: for tests of the paths that
    /// must never acknowledge what could not be stored.
    pub fn with_max_value_len(algorithm: HashAlgorithm, max: u64) -> Self {
        MemStore {
            max_value_len: Some(max),
            ..MemStore::new(algorithm)
        }
    }

    /// Number of objects held.
    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    /// True when no object is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the bytes stored under `hash` without rehashing: a fault
    /// injector for tests of corruption handling.
    pub fn corrupt(&self, hash: Hash, bytes: Vec<u8>) {
        self.maps
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .objects
            .insert(hash, bytes.into());
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        // A panic while holding the lock cannot leave the maps half-written
        // (every write builds its changes before taking it), so poisoning
        // carries no information here.
        self.maps.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl ObjectStore for MemStore {
    fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    fn get(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        let Some(bytes) = self.read().objects.get(hash).cloned() else {
            return Ok(None);
        };
        verify_object(self.algorithm, hash, &bytes)?;
        Ok(Some(bytes.to_vec()))
    }

    fn contains(&self, hash: &Hash) -> StoreResult<bool> {
        Ok(self.read().objects.contains_key(hash))
    }

    fn max_value_len(&self) -> u64 {
        self.max_value_len.unwrap_or(u64::MAX)
    }

    fn write(&self, batch: WriteBatch, _mode: WriteMode) -> StoreResult<()> {
        batch.check_value_lens(self.max_value_len())?;
        let mut maps = self.maps.write().unwrap_or_else(|e| e.into_inner());
        for hash in &batch.object_deletes {
            maps.objects.remove(hash);
        }
        // The last put of a hash wins, as in every store (see
        // `ObjectStore::write`): a re-put of verified bytes repairs an entry.
        maps.objects.extend(batch.objects);
        for key in &batch.meta_deletes {
            maps.meta.remove(key);
        }
        maps.meta.extend(batch.meta_puts);
        Ok(())
    }

    fn objects(&self, kind: Option<ObjectKind>) -> StoreResult<ObjectIter<'_>> {
        // A snapshot of the entries (shared bytes), so iteration holds no
        // lock while the caller works.
        let items: Vec<_> = self
            .read()
            .objects
            .iter()
            .filter(|(_, b)| kind.is_none() || ObjectKind::of_encoded(b) == kind)
            .map(|(h, b)| (*h, Arc::clone(b)))
            .collect();
        let alg = self.algorithm;
        Ok(Box::new(items.into_iter().map(move |(h, b)| {
            verify_object(alg, &h, &b)?;
            Ok((h, b.to_vec()))
        })))
    }

    fn get_meta(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.read().meta.get(key).cloned())
    }

    fn meta_with_prefix(&self, prefix: &[u8]) -> StoreResult<MetaIter<'_>> {
        let items: Vec<_> = self
            .read()
            .meta
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| Ok((k.clone(), v.clone())))
            .collect();
        Ok(Box::new(items.into_iter()))
    }

    fn sync(&self) -> StoreResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Blob;
    use crate::store::{ObjectStoreExt, StoreError};

    #[test]
    fn corrupt_entry_is_refused_on_read_and_iteration() {
        let store = MemStore::new(HashAlgorithm::Blake3);
        let blob = Blob::new(&b"x"[..]).encode();
        let h = HashAlgorithm::Blake3.digest(&blob);
        store.put(h, blob).unwrap();
        assert_eq!(store.len(), 1);
        store.corrupt(h, b"garbage".to_vec());
        assert!(matches!(store.get(&h), Err(StoreError::Corrupt { .. })));
        assert!(store.objects(None).unwrap().next().unwrap().is_err());
        let missing = Hash::from_bytes([0; 32]);
        assert!(matches!(store.require(&missing), Err(StoreError::NotFound(m)) if m == missing));
    }
}
