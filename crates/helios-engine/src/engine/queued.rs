//! [`QueuedWrites`]: where a capture stores a large file's chunks — the
//! engine's write queue, one batch being written while the next is read.
//!
//! A capture stores a large file's chunks while it reads the file, before
//! any commit names them. Written around the queue, a chunk could land
//! before a deletion gc queued earlier for the same hash (the chunk was
//! garbage from an older capture), and the deletion would then take it
//! while the tombstone was already cleared. Through the queue, writes and
//! deletions apply in order, the writer revives what it writes, and a
//! collection running meanwhile protects the chunks as it protects what
//! commits create. The chunks are written around L1: read once, they
//! would flush what is hot there. At most two batches are in memory: the
//! one being written and the one being filled.

use std::sync::Mutex;

use helios_types::Hash;
use helios_types::store::{ObjectStore, StoreError, WriteBatch};
use helios_workdir::ChunkStore;

use super::HeliosEngine;
use crate::error::EngineError;
use crate::pipeline::StoreWrite;
use crate::queue::Pending;
use crate::sync::lock;

/// See the module documentation. One per capture.
pub(crate) struct QueuedWrites<'a> {
    engine: &'a HeliosEngine,
    /// The batch being written.
    in_flight: Mutex<Option<Pending>>,
}

impl<'a> QueuedWrites<'a> {
    pub(crate) fn new(engine: &'a HeliosEngine) -> Self {
        QueuedWrites {
            engine,
            in_flight: Mutex::new(None),
        }
    }

    /// Waits for the batch in flight, if any.
    fn wait(&self) -> Result<(), StoreError> {
        match lock(&self.in_flight).take() {
            Some(pending) => pending.wait().map_err(queue_error),
            None => Ok(()),
        }
    }
}

impl ChunkStore for QueuedWrites<'_> {
    fn contains(&self, hash: &Hash) -> Result<bool, StoreError> {
        ObjectStore::contains(&*self.engine.layers, hash)
    }

    fn store(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let engine = self.engine;
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
                sync: false,
                around_l1: true,
                ack: None,
            })
        }
        .map_err(queue_error)?;
        // The batch before this one: written by now, or soon.
        self.wait()?;
        *lock(&self.in_flight) = Some(pending);
        Ok(())
    }

    fn finish(&self) -> Result<(), StoreError> {
        self.wait()
    }
}

fn queue_error(e: EngineError) -> StoreError {
    match e {
        // The store's own error, as the writer met it.
        EngineError::WriteFailed(source) => StoreError::backend("write chunks", source),
        other => StoreError::backend("queue chunks", other),
    }
}
