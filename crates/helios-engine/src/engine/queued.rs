//! [`QueuedWrites`]: the layers as an object store whose writes go through
//! the write queue — what a capture stores a large file's chunks into.
//!
//! A capture stores a large file's chunks while it reads the file, before
//! any commit names them. Written around the queue, a chunk could land
//! before a deletion gc queued earlier for the same hash (the chunk was
//! garbage from an older capture), and the deletion would then take it
//! while the tombstone was already cleared. Through the queue, writes and
//! deletions apply in order, the writer revives what it writes, and a
//! collection running meanwhile protects the chunks as it protects what
//! commits create. Each write waits for its batch to be stored, so a
//! capture holds at most one batch of chunks in memory.

use helios_types::store::{
    MetaIter, ObjectIter, ObjectStore, StoreError, StoreResult, WriteBatch, WriteMode,
};
use helios_types::{Hash, HashAlgorithm, ObjectKind};

use super::HeliosEngine;
use crate::pipeline::StoreWrite;

/// See the module documentation.
pub(crate) struct QueuedWrites<'a>(pub(crate) &'a HeliosEngine);

impl ObjectStore for QueuedWrites<'_> {
    fn algorithm(&self) -> HashAlgorithm {
        self.0.layers.algorithm()
    }

    fn get(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        self.0.layers.get(hash)
    }

    fn contains(&self, hash: &Hash) -> StoreResult<bool> {
        self.0.layers.contains(hash)
    }

    fn write(&self, batch: WriteBatch, mode: WriteMode) -> StoreResult<()> {
        let engine = self.0;
        let pending = {
            // As a commit does between admission and queuing: a collection
            // that started protects these objects; one that starts later
            // flushes the queue, so it sees them stored.
            let _gate = engine.gc.commit_gate();
            engine
                .gc
                .protect(batch.objects.iter().map(|(hash, _)| *hash));
            engine.queue.submit_acked(StoreWrite {
                objects: batch.objects,
                object_deletes: batch.object_deletes,
                meta_puts: batch.meta_puts,
                meta_deletes: batch.meta_deletes,
                sync: mode == WriteMode::Sync,
                ack: None,
            })
        };
        pending
            .and_then(|pending| pending.wait())
            .map_err(|e| StoreError::backend("write through the engine's queue", e))
    }

    fn objects(&self, kind: Option<ObjectKind>) -> StoreResult<ObjectIter<'_>> {
        self.0.layers.objects(kind)
    }

    fn get_meta(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.0.layers.get_meta(key)
    }

    fn meta_with_prefix(&self, prefix: &[u8]) -> StoreResult<MetaIter<'_>> {
        self.0.layers.meta_with_prefix(prefix)
    }

    fn get_many(&self, hashes: &[Hash]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        self.0.layers.get_many(hashes)
    }

    fn sync(&self) -> StoreResult<()> {
        self.0
            .queue
            .flush()
            .map_err(|e| StoreError::backend("flush the engine's queue", e))
    }

    fn max_value_len(&self) -> u64 {
        self.0.layers.max_value_len()
    }
}
