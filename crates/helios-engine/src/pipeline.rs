//! The writer: one thread that takes commits off a bounded channel and
//! writes them to L2 in batches.
//!
//! Committers block on a full channel (backpressure) instead of growing
//! memory. Each request's objects, snapshot record and ref updates go into
//! one RocksDB write batch, so a snapshot never lands without the objects
//! it references. Requests are taken in order and several are merged into
//! one batch when they are waiting, which is group commit: one WAL fsync
//! serves every `Sync` commit in the group.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use helios_types::Hash;
use helios_types::store::{ObjectStore, WriteBatch, WriteMode};

use crate::layers::Layers;
use crate::metrics::Histogram;

/// The answer to a request that asked for one.
pub(crate) type Ack = Sender<Result<(), String>>;

/// Everything the writer channel carries.
pub(crate) enum WriteRequest {
    /// Objects and metadata to store atomically.
    Write(StoreWrite),
    /// Make everything queued before this durable, then answer.
    Flush(Ack),
}

/// One atomic unit of work: a commit, a ref update, a pin.
#[derive(Default)]
pub(crate) struct StoreWrite {
    pub(crate) objects: Vec<(Hash, Arc<[u8]>)>,
    pub(crate) meta_puts: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) meta_deletes: Vec<Vec<u8>>,
    /// Objects to delete (gc), applied in queue order with everything else.
    pub(crate) object_deletes: Vec<Hash>,
    /// Wait for the WAL fsync.
    pub(crate) sync: bool,
    pub(crate) ack: Option<Ack>,
}

/// Writer counters, shared with `stats()`.
#[derive(Default)]
pub(crate) struct WriterStats {
    pub(crate) batches: AtomicU64,
    pub(crate) objects: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) batch_latency: Histogram,
}

/// Called with the hashes of every object that reached L2.
pub(crate) type OnWritten = Box<dyn Fn(&[(Hash, Arc<[u8]>)]) + Send>;

/// The writer stops writing after its first failure (fail-stop, as
/// RocksDB does on a background error): later batches may reference objects
/// of the failed one, and writing them would store dangling snapshots.
pub(crate) struct Writer {
    pub(crate) layers: Arc<Layers>,
    pub(crate) rx: Receiver<WriteRequest>,
    pub(crate) max_objects: usize,
    pub(crate) max_bytes: usize,
    pub(crate) stats: Arc<WriterStats>,
    pub(crate) on_written: OnWritten,
    pub(crate) failed: Option<String>,
}

impl Writer {
    /// Runs until every sender is dropped and the queue is drained.
    pub(crate) fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut group = vec![first];
            let (mut objects, mut bytes) = (0, 0);
            while objects < self.max_objects && bytes < self.max_bytes {
                let Ok(next) = self.rx.try_recv() else { break };
                if let WriteRequest::Write(w) = &next {
                    objects += w.objects.len();
                    bytes += w.objects.iter().map(|(_, b)| b.len()).sum::<usize>();
                }
                group.push(next);
            }
            self.write_group(group);
        }
    }

    fn write_group(&mut self, group: Vec<WriteRequest>) {
        let _span = tracing::debug_span!("writer.batch", requests = group.len()).entered();
        let start = Instant::now();
        let mut batch = WriteBatch::new();
        let mut sync = false;
        let mut acks = Vec::new();
        let mut done = Vec::new();
        for request in group {
            match request {
                WriteRequest::Flush(ack) => {
                    sync = true;
                    acks.push(ack);
                }
                WriteRequest::Write(w) => {
                    sync |= w.sync;
                    // In queue order: an unpin queued behind its commit's
                    // pin must delete the pin, not be overtaken by it.
                    batch.append(WriteBatch {
                        objects: w.objects.iter().map(|(h, b)| (*h, b.to_vec())).collect(),
                        object_deletes: w.object_deletes,
                        meta_puts: w.meta_puts,
                        meta_deletes: w.meta_deletes,
                    });
                    acks.extend(w.ack);
                    done.push(w.objects);
                }
            }
        }
        let object_count = batch.objects.len() as u64;
        let byte_count = batch.object_bytes() as u64;
        let mode = if sync {
            WriteMode::Sync
        } else {
            WriteMode::Buffered
        };
        let result = if let Some(first) = &self.failed {
            Err(helios_types::store::StoreError::backend(
                "write",
                format!("the writer stopped after an earlier failure: {first}"),
            ))
        } else if batch.is_empty() {
            if sync {
                self.layers.l2().sync()
            } else {
                Ok(())
            }
        } else {
            self.layers.write(batch, mode)
        };
        let answer = match result {
            Ok(()) => {
                for objects in done {
                    self.layers.remove_inflight(&objects);
                    (self.on_written)(&objects);
                }
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .objects
                    .fetch_add(object_count, Ordering::Relaxed);
                self.stats.bytes.fetch_add(byte_count, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                // Objects stay in the in-flight table, so this process can
                // still read what it committed; nothing more is written.
                tracing::error!(error = %e, "background write failed");
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                self.failed.get_or_insert_with(|| e.to_string());
                Err(e.to_string())
            }
        };
        self.stats.batch_latency.record(start.elapsed());
        for ack in acks {
            // A committer that stopped waiting has nothing to be told.
            let _ = ack.send(answer.clone());
        }
    }
}
