//! The committers' end of the write pipeline: the bounded queue into the
//! writer thread, its handle, and the stall the writer reports.
//!
//! Everything that changes L2 goes through here, in order: commits, ref and
//! pin updates, working-directory records, gc deletions. A full queue makes
//! the caller wait (backpressure, measured as `queue_wait`).

use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded};
use helios_types::SnapshotId;

use crate::config::EngineConfig;
use crate::error::{EngineError, EngineResult};
use crate::layers::Layers;
use crate::metrics::Histogram;
use crate::pipeline::{
    OnWritten, Stall, StoreWrite, WriteError, WriteRequest, Writer, WriterStats,
};
use crate::sync::{lock, read, write};

/// The queue and the writer thread behind it.
pub(crate) struct WriteQueue {
    /// `None` once closed.
    tx: RwLock<Option<Sender<WriteRequest>>>,
    writer: Mutex<Option<JoinHandle<Vec<SnapshotId>>>>,
    /// Set while queued writes wait for the store to take writes again.
    stall: Stall,
    stats: Arc<WriterStats>,
    /// Time callers waited for room in the queue.
    wait: Histogram,
}

/// A write queued with an acknowledgement still to come.
pub(crate) struct Pending(Receiver<Result<(), WriteError>>);

impl Pending {
    /// Waits until the writer has stored the write (or failed to).
    pub(crate) fn wait(self) -> EngineResult<()> {
        self.0
            .recv()
            .map_err(|_| EngineError::Closed)?
            .map_err(EngineError::WriteFailed)
    }
}

impl WriteQueue {
    /// Starts the writer thread over `layers`; `on_written` hears of every
    /// object that reached L2.
    pub(crate) fn start(
        layers: Arc<Layers>,
        config: &EngineConfig,
        on_written: OnWritten,
    ) -> EngineResult<Self> {
        let (tx, rx) = bounded(config.queue_capacity);
        let stats = Arc::new(WriterStats::default());
        let stall = Stall::default();
        let writer = Writer {
            layers,
            rx,
            max_objects: config.batch_max_objects,
            max_bytes: config.batch_max_bytes,
            stats: Arc::clone(&stats),
            stall: Arc::clone(&stall),
            backlog: Vec::new(),
            on_written,
        };
        let handle = std::thread::Builder::new()
            .name("helios-writer".into())
            .spawn(move || writer.run())
            .map_err(EngineError::SpawnWriter)?;
        Ok(WriteQueue {
            tx: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            stall,
            stats,
            wait: Histogram::default(),
        })
    }

    /// `Closed` once [`close`](Self::close) has run.
    pub(crate) fn check_open(&self) -> EngineResult<()> {
        match *read(&self.tx) {
            Some(_) => Ok(()),
            None => Err(EngineError::Closed),
        }
    }

    fn send(&self, request: WriteRequest) -> EngineResult<()> {
        let guard = read(&self.tx);
        let tx = guard.as_ref().ok_or(EngineError::Closed)?;
        let start = Instant::now();
        tx.send(request).map_err(|_| EngineError::Closed)?;
        self.wait.record(start.elapsed());
        Ok(())
    }

    /// Queues a write; blocks while the queue is full.
    pub(crate) fn submit(&self, write: StoreWrite) -> EngineResult<()> {
        self.send(WriteRequest::Write(write))
    }

    /// Queues a write whose outcome the caller will wait for.
    pub(crate) fn submit_acked(&self, mut write: StoreWrite) -> EngineResult<Pending> {
        let (ack, done) = bounded(1);
        write.ack = Some(ack);
        self.submit(write)?;
        Ok(Pending(done))
    }

    /// Queues a write and waits until it is stored.
    pub(crate) fn submit_and_wait(&self, write: StoreWrite) -> EngineResult<()> {
        self.submit_acked(write)?.wait()
    }

    /// Waits until everything queued so far is durable in L2.
    pub(crate) fn flush(&self) -> EngineResult<()> {
        let (ack, done) = bounded(1);
        self.send(WriteRequest::Flush(ack))?;
        Pending(done).wait()
    }

    /// While earlier writes wait as the writer's backlog, retries them (a
    /// flush) and fails if they still cannot be written: new work is not
    /// queued behind a store that refuses writes.
    pub(crate) fn retry_if_stalled(&self) -> EngineResult<()> {
        if lock(&self.stall).is_some() {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Drains the queue and stops the writer. Fails with `NotWritten` when
    /// the writer could not store its backlog even at the end. A second
    /// call does nothing.
    pub(crate) fn close(&self) -> EngineResult<()> {
        // Dropping the only sender lets the writer drain the queue and stop.
        let Some(tx) = write(&self.tx).take() else {
            return Ok(());
        };
        drop(tx);
        let Some(handle) = lock(&self.writer).take() else {
            return Ok(());
        };
        let unwritten = handle.join().map_err(|_| EngineError::WriterPanicked)?;
        // The writer tried its backlog once more as it stopped.
        match lock(&self.stall).clone() {
            Some(source) => Err(EngineError::NotWritten {
                ids: unwritten,
                source,
            }),
            None => Ok(()),
        }
    }

    /// The writer's counters.
    pub(crate) fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// How long callers waited for room in the queue.
    pub(crate) fn wait_latency(&self) -> &Histogram {
        &self.wait
    }
}
