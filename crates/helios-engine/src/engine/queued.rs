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
//! commits create. The chunks are bulk writes: around L1 (read once, they
//! would flush what is hot there) and unlogged, so RocksDB writes them to
//! disk once, into blob files at the next flush, instead of into the WAL,
//! then an SST file, then again at each compaction. The store flushes them
//! before any later logged write, so the commit that names them (or any
//! other write behind them in the queue) is durable only with them. At most
//! two batches are in memory: the one being written and the one being
//! filled.
//!
//! Each large file's chunks are hashed on a thread of their own (one per
//! file, scoped to the capture), while the capture's thread reads and cuts
//! the file: reading and cutting on one core, hashing and the writes on
//! the other, with at most [`HASH_QUEUE`] chunks between them.

use std::sync::Mutex;
use std::thread::{Scope, ScopedJoinHandle};

use crossbeam_channel::{Sender, bounded};
use helios_types::store::{ObjectStore, StoreError, WriteBatch};
use helios_types::{Blob, Hash, HashAlgorithm};
use helios_workdir::{ChunkFailed, ChunkStore, FileChunks, HashedChunks, StoreChunks};

use super::HeliosEngine;
use crate::error::EngineError;
use crate::pipeline::StoreWrite;
use crate::queue::Pending;
use crate::sync::lock;

/// Chunks cut and not yet hashed, at most: 4 MiB of 128 KiB chunks, a
/// few milliseconds of either thread's work, so that neither waits on the
/// other's hiccups.
const HASH_QUEUE: usize = 32;

/// See the module documentation. One per capture, and one per large file
/// on its hashing thread.
pub(crate) struct QueuedWrites<'scope, 'env> {
    engine: &'env HeliosEngine,
    /// The batch being written.
    in_flight: Mutex<Option<Pending>>,
    /// Where hashing threads run; `None` hashes on the caller's thread.
    threads: Option<&'scope Scope<'scope, 'env>>,
}

impl<'scope, 'env> QueuedWrites<'scope, 'env> {
    pub(crate) fn new(
        engine: &'env HeliosEngine,
        threads: Option<&'scope Scope<'scope, 'env>>,
    ) -> Self {
        QueuedWrites {
            engine,
            in_flight: Mutex::new(None),
            threads,
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

impl ChunkStore for QueuedWrites<'_, '_> {
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
                bulk: true,
                hint: false,
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

    fn file(&self, alg: HashAlgorithm) -> Box<dyn FileChunks + '_> {
        let Some(scope) = self.threads else {
            return Box::new(StoreChunks::new(self, alg));
        };
        let engine = self.engine;
        let (tx, rx) = bounded::<Vec<u8>>(HASH_QUEUE);
        let spawned = std::thread::Builder::new()
            .name("helios-hasher".into())
            .spawn_scoped(scope, move || {
                // Batches of its own, waited for here: the capture's
                // `finish` waits only for what it stored itself.
                let store = QueuedWrites::new(engine, None);
                let mut chunks = StoreChunks::new(&store, alg);
                for encoded in rx {
                    chunks.push_encoded(encoded)?;
                }
                let hashed = Box::new(chunks).finish()?;
                if let Some(hash) = hashed.last_stored {
                    store
                        .finish()
                        .map_err(|source| ChunkFailed { hash, source })?;
                }
                Ok(hashed)
            });
        match spawned {
            Ok(thread) => Box::new(Hasher {
                tx: Some(tx),
                thread: Some(thread),
            }),
            // No thread to be had: hash here, as any store does.
            Err(e) => {
                tracing::warn!(error = %e, "no hashing thread; hashing on the capture's");
                Box::new(StoreChunks::new(self, alg))
            }
        }
    }
}

/// A large file's chunks on their way to its hashing thread.
struct Hasher<'scope> {
    /// `None` once the file is finished.
    tx: Option<Sender<Vec<u8>>>,
    thread: Option<ScopedJoinHandle<'scope, Result<HashedChunks, ChunkFailed>>>,
}

impl Hasher<'_> {
    /// The thread's result: what it hashed, or why it stopped.
    fn join(&mut self) -> Result<HashedChunks, ChunkFailed> {
        self.tx = None;
        let failed = |reason: &str| ChunkFailed {
            hash: Hash::from_bytes([0; 32]),
            source: StoreError::backend("hash chunks", reason.to_owned()),
        };
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(failed("the hashing thread panicked"))),
            None => Err(failed("the file's chunks were already finished")),
        }
    }
}

impl FileChunks for Hasher<'_> {
    fn push(&mut self, chunk: &[u8]) -> Result<(), ChunkFailed> {
        // The copy into the encoding is made here, so the hashing thread
        // is left only the hashing and the writes.
        let encoded = Blob::encode_bytes(chunk);
        match self.tx.as_ref().map(|tx| tx.send(encoded)) {
            Some(Ok(())) => Ok(()),
            // The thread stopped: its error says why.
            _ => self.join().and_then(|_| {
                Err(ChunkFailed {
                    hash: Hash::from_bytes([0; 32]),
                    source: StoreError::backend(
                        "hash chunks",
                        "the hashing thread stopped early".to_owned(),
                    ),
                })
            }),
        }
    }

    fn finish(mut self: Box<Self>) -> Result<HashedChunks, ChunkFailed> {
        self.join()
    }
}

fn queue_error(e: EngineError) -> StoreError {
    match e {
        // The store's own error, as the writer met it.
        EngineError::WriteFailed(source) => StoreError::backend("write chunks", source),
        other => StoreError::backend("queue chunks", other),
    }
}
