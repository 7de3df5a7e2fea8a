//! `import`: snapshots made by another store (fetched from a remote) become
//! this store's, durably, as one write.
//!
//! Nothing imported is trusted: every object and record is rehashed. The
//! caller (helios-remote's fetch) brings everything the snapshots reach
//! that this store lacks, and names what it found here already.

use std::collections::HashMap;
use std::sync::Arc;

use helios_types::{Hash, Snapshot, SnapshotId};

use super::HeliosEngine;
use crate::error::{EngineError, EngineResult};
use crate::keys;
use crate::pipeline::StoreWrite;

impl HeliosEngine {
    /// Stores `objects` (encoded, each with its hash) and records the
    /// snapshots `records` (encoded snapshot records, each with its id),
    /// durably, before it returns. `held`: objects the snapshots reach
    /// that this store holds already (the caller did not bring them),
    /// protected from a collection running meanwhile as a commit's reused
    /// objects are. Every hash is checked; a record that does not decode
    /// or an object larger than the store takes is refused before anything
    /// is written.
    pub fn import(
        &self,
        objects: Vec<(Hash, Vec<u8>)>,
        records: Vec<(SnapshotId, Vec<u8>)>,
        held: &[Hash],
    ) -> EngineResult<()> {
        let _span =
            tracing::debug_span!("import", objects = objects.len(), snapshots = records.len())
                .entered();
        self.queue.check_open()?;
        let alg = self.algorithm();
        self.check_imported(&objects)?;
        let mut snapshots: HashMap<SnapshotId, Snapshot> = HashMap::new();
        for (id, record) in &records {
            if alg.digest(record) != id.object_hash() {
                return Err(EngineError::Corrupt {
                    hash: id.object_hash(),
                    reason: "an imported snapshot record does not hash to its id".into(),
                });
            }
            let snapshot =
                Snapshot::decode(record).map_err(|e| EngineError::corrupt(id.object_hash(), e))?;
            snapshots.insert(*id, snapshot);
        }

        let protected: Vec<Hash> = held
            .iter()
            .copied()
            .chain(records.iter().map(|(id, _)| id.object_hash()))
            .collect();
        self.store_imported(objects, protected, false, || {
            let mut meta_puts = Vec::with_capacity(2 * records.len() + 1);
            for (id, record) in records {
                let time = snapshots.get(&id).map_or(0, |s| s.time_micros);
                meta_puts.push((keys::snapshot(&id), record));
                meta_puts.push((keys::by_time(&id, time), Vec::new()));
            }
            meta_puts.extend(self.snapshots.take_index_mark());
            meta_puts
        })
    }

    /// Stores large files' chunks fetched from elsewhere as a capture
    /// stores them (written once, into the store's bulk content, not the
    /// tree of small objects), durably before it returns; each rehashed.
    /// What names them (chunk lists, trees, records) comes in a later
    /// [`import`](HeliosEngine::import); until then they are protected
    /// from a collection running meanwhile, as a commit's new objects are.
    pub fn import_chunks(&self, chunks: Vec<(Hash, Vec<u8>)>) -> EngineResult<()> {
        let _span = tracing::debug_span!("import_chunks", chunks = chunks.len()).entered();
        self.queue.check_open()?;
        if chunks.is_empty() {
            return Ok(());
        }
        self.check_imported(&chunks)?;
        self.store_imported(chunks, Vec::new(), true, Vec::new)
    }

    /// Writes checked `objects` and the metadata `meta_puts` makes as one
    /// durable write, as a commit does between admission and queuing:
    /// a collection that started protects the objects and `protected`,
    /// one that starts later flushes the queue and sees them stored.
    fn store_imported(
        &self,
        objects: Vec<(Hash, Vec<u8>)>,
        protected: Vec<Hash>,
        bulk: bool,
        meta_puts: impl FnOnce() -> Vec<(Vec<u8>, Vec<u8>)>,
    ) -> EngineResult<()> {
        let gate = self.gc.commit_gate();
        self.gc
            .protect(objects.iter().map(|(h, _)| *h).chain(protected));
        self.queue.retry_if_stalled()?;
        let objects: Vec<(Hash, Arc<[u8]>)> = objects
            .into_iter()
            .map(|(h, encoded)| (h, Arc::from(encoded)))
            .collect();
        self.layers.add_inflight(&objects);
        let write = StoreWrite {
            objects,
            meta_puts: meta_puts(),
            sync: true,
            bulk,
            ..StoreWrite::default()
        };
        let pending = self.queue.submit_acked(write)?;
        drop(gate);
        pending.wait()
    }

    /// Refuses, before anything is written, an object that does not hash
    /// to its name or is larger than the store takes.
    fn check_imported(&self, objects: &[(Hash, Vec<u8>)]) -> EngineResult<()> {
        let alg = self.algorithm();
        let max = self.layers.l2().max_value_len();
        for (hash, encoded) in objects {
            if alg.digest(encoded) != *hash {
                return Err(EngineError::Corrupt {
                    hash: *hash,
                    reason: "an imported object does not hash to its name".into(),
                });
            }
            if encoded.len() as u64 > max {
                return Err(EngineError::ObjectTooLarge {
                    hash: *hash,
                    len: encoded.len() as u64,
                    max,
                });
            }
        }
        Ok(())
    }
}
