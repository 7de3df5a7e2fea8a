//! The writer: one thread that takes commits off a bounded channel and
//! writes them to L2 in batches.
//!
//! Committers block on a full channel (backpressure) instead of growing
//! memory. Each request's objects, snapshot record and ref updates go into
//! one RocksDB write batch, so a snapshot never lands without the objects
//! it references. Requests are taken in order and several are merged into
//! one batch when they are waiting, which is group commit: one WAL fsync
//! serves every `Sync` commit in the group.
//!
//! Bulk writes (a large file's chunks, stored while a capture reads the
//! file) are written apart from the others, in queue order,
//! [`WriteMode::Unlogged`]: into the memtable only, around L1, and from
//! there once into a blob file. The store makes them durable before any
//! later logged write (a commit record naming them, a gc deletion), so
//! a commit is still durable only with every chunk it names.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use helios_types::store::{StoreError, WriteBatch, WriteMode};
use helios_types::{Hash, SnapshotId};

use crate::keys;
use crate::layers::Layers;
use crate::metrics::Histogram;
use crate::sync::lock;

/// Why queued writes are not stored: the store's error, shared by every
/// request the failed batch answers.
pub(crate) type WriteError = Arc<StoreError>;

/// The answer to a request that asked for one.
pub(crate) type Ack = Sender<Result<(), WriteError>>;

/// Everything the writer channel carries.
pub(crate) enum WriteRequest {
    /// Objects and metadata to store atomically.
    Write(StoreWrite),
    /// Make everything queued before this durable, then answer.
    Flush(Ack),
}

/// One atomic unit of work: a commit, a ref update, a pin.
#[derive(Default, Clone)]
pub(crate) struct StoreWrite {
    pub(crate) objects: Vec<(Hash, Arc<[u8]>)>,
    pub(crate) meta_puts: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) meta_deletes: Vec<Vec<u8>>,
    /// Objects to delete (gc), applied in queue order with everything else.
    pub(crate) object_deletes: Vec<Hash>,
    /// Wait for the WAL fsync.
    pub(crate) sync: bool,
    /// Bulk data (a large file's chunks): written around L1, whose hot
    /// set it would flush, and [`WriteMode::Unlogged`], so each byte is
    /// written to disk once. Holds objects only.
    pub(crate) bulk: bool,
    /// A hint (which snapshot a working directory holds), not data: when
    /// the store refuses it (a full disk), it is dropped with a warning
    /// instead of stalling the queue, so a checkout out of a full store
    /// still succeeds. Safe to lose: a checkout takes its fast path only
    /// when the directory's own state file also says it holds the head, so
    /// a stale head costs a scan, never a wrong checkout.
    pub(crate) hint: bool,
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
    /// Writes stored without an fsync since the last one: what a clean
    /// close still has to sync. Without them it has nothing to make
    /// durable, and skips the sync (which fails on a full disk once the
    /// WAL has refused a write, though nothing acknowledged is at stake).
    pub(crate) unsynced: AtomicBool,
}

/// Called with the hashes of every object that reached L2.
pub(crate) type OnWritten = Box<dyn Fn(&[(Hash, Arc<[u8]>)]) + Send>;

/// The first failure not yet overcome, shared with the engine: while it is
/// set, the engine retries (a flush) before queuing a commit, and refuses
/// the commit if the retry fails, so the backlog stays what was queued
/// before the failure was seen.
pub(crate) type Stall = Arc<Mutex<Option<WriteError>>>;

/// Writes in queue order. A batch that fails (a full disk) is not dropped:
/// it stays as the backlog, written again ahead of the next request, and
/// later requests join it. Nothing queued is skipped — later commits may
/// reference objects of the failed batch, and writing them alone would
/// store dangling snapshots — and once the store takes writes again
/// (space freed) the backlog lands whole, in order.
pub(crate) struct Writer {
    pub(crate) layers: Arc<Layers>,
    pub(crate) rx: Receiver<WriteRequest>,
    pub(crate) max_objects: usize,
    pub(crate) max_bytes: usize,
    pub(crate) stats: Arc<WriterStats>,
    pub(crate) on_written: OnWritten,
    pub(crate) stall: Stall,
    /// Writes that failed, oldest first, to be retried before anything else.
    pub(crate) backlog: Vec<StoreWrite>,
}

impl Writer {
    /// Runs until every sender is dropped and the queue is drained.
    /// Returns the snapshots whose writes could not be made (still in the
    /// backlog at the end), oldest first.
    pub(crate) fn run(mut self) -> Vec<SnapshotId> {
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
        if !self.backlog.is_empty() {
            // One last attempt at close: space may have been freed.
            self.write_group(Vec::new());
        }
        self.backlog
            .iter()
            .flat_map(|w| &w.meta_puts)
            .filter_map(|(key, _)| keys::id_suffix(key, keys::SNAP))
            .collect()
    }

    fn write_group(&mut self, group: Vec<WriteRequest>) {
        let _span = tracing::debug_span!("writer.batch", requests = group.len()).entered();
        let start = Instant::now();
        // The backlog goes first, and makes the batch sync: it has waited.
        let mut writes = std::mem::take(&mut self.backlog);
        let mut sync = !writes.is_empty();
        let mut acks = Vec::new();
        for request in group {
            match request {
                WriteRequest::Flush(ack) => {
                    sync = true;
                    acks.push(ack);
                }
                WriteRequest::Write(mut w) => {
                    sync |= w.sync;
                    acks.extend(w.ack.take());
                    writes.push(w);
                }
            }
        }
        let answer = match self.store(&writes, sync) {
            Ok(()) => {
                if sync {
                    self.stats.unsynced.store(false, Ordering::SeqCst);
                } else if !writes.is_empty() {
                    self.stats.unsynced.store(true, Ordering::SeqCst);
                }
                self.written(&writes);
                Ok(())
            }
            Err(e) => Err(self.failed(writes, e)),
        };
        self.stats.batch_latency.record(start.elapsed());
        for ack in acks {
            // A committer that stopped waiting has nothing to be told.
            let _ = ack.send(answer.clone());
        }
    }

    /// Writes `writes` in queue order: each run of bulk writes as one
    /// unlogged batch, each run of the others as one atomic batch; an
    /// empty group that must be durable syncs the store.
    fn store(&self, writes: &[StoreWrite], sync: bool) -> Result<(), StoreError> {
        if writes.is_empty() {
            return self.store_run(writes, sync);
        }
        for run in writes.chunk_by(|a, b| a.bulk == b.bulk) {
            self.store_run(run, sync)?;
        }
        Ok(())
    }

    /// Writes one run of [`Writer::store`]: all bulk, or none.
    fn store_run(&self, writes: &[StoreWrite], sync: bool) -> Result<(), StoreError> {
        let mut batch = WriteBatch::new();
        let bulk = writes.first().is_some_and(|w| w.bulk);
        for w in writes {
            self.layers.forget_stored(&w.object_deletes);
            // In queue order: an unpin queued behind its commit's pin must
            // delete the pin, not be overtaken by it.
            batch.append(WriteBatch {
                objects: w.objects.clone(),
                object_deletes: w.object_deletes.clone(),
                meta_puts: w.meta_puts.clone(),
                meta_deletes: w.meta_deletes.clone(),
            });
        }
        if batch.is_empty() {
            return if sync {
                self.layers.l2().sync()
            } else {
                Ok(())
            };
        }
        let (objects, bytes) = (batch.objects.len() as u64, batch.object_bytes() as u64);
        let mode = match (bulk, sync) {
            (true, _) => WriteMode::Unlogged,
            (false, true) => WriteMode::Sync,
            (false, false) => WriteMode::Buffered,
        };
        let stored: Vec<Hash> = match bulk {
            true => batch.objects.iter().map(|(hash, _)| *hash).collect(),
            false => Vec::new(),
        };
        self.layers.write_admitting(batch, mode, &|_| !bulk)?;
        self.layers.note_bulk_stored(&stored);
        if bulk && sync {
            // A flush asked for in the same group: unlogged writes are
            // durable only once the store syncs.
            self.layers.l2().sync()?;
        }
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.objects.fetch_add(objects, Ordering::Relaxed);
        self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// The writes are stored: their objects leave the in-flight table, and
    /// a stall, if there was one, is over.
    fn written(&self, writes: &[StoreWrite]) {
        for w in writes {
            self.layers.remove_inflight(&w.objects);
            (self.on_written)(&w.objects);
        }
        if lock(&self.stall).take().is_some() {
            tracing::info!(
                writes = writes.len(),
                "the store takes writes again; backlog written"
            );
        }
    }

    /// The writes failed: they wait as the backlog, and the store's error
    /// is what every waiting committer is told.
    fn failed(&mut self, mut writes: Vec<StoreWrite>, e: StoreError) -> WriteError {
        let queued = writes.len();
        writes.retain(|w| !w.hint);
        if writes.len() < queued {
            tracing::warn!(error = %e, hints = queued - writes.len(), "working-directory heads not recorded");
        }
        // Objects stay in the in-flight table, so this process can still
        // read what it committed.
        tracing::error!(error = %e, backlog = writes.len(), "background write failed");
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        let e: WriteError = Arc::new(e);
        if !writes.is_empty() {
            lock(&self.stall).get_or_insert_with(|| Arc::clone(&e));
        }
        self.backlog = writes;
        e
    }
}
