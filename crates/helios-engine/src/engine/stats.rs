//! `stats()`: counters and latency percentiles, cheap to read at any time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use helios_l1cache::CacheStats;

use super::HeliosEngine;
use crate::CommitMetrics;
use crate::metrics::{Histogram, LatencySummary};

/// What commits and restores add up to.
#[derive(Default)]
pub(super) struct Counters {
    commits: AtomicU64,
    restores: AtomicU64,
    cold_restores: AtomicU64,
    new_objects: AtomicU64,
    new_bytes: AtomicU64,
    logical_bytes: AtomicU64,
    commit_latency: Histogram,
    restore_latency: Histogram,
}

impl Counters {
    /// A commit that stored `metrics` for a tree of `logical_bytes`.
    pub(super) fn commit(&self, metrics: &CommitMetrics, logical_bytes: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.new_objects
            .fetch_add(metrics.new_objects, Ordering::Relaxed);
        self.new_bytes
            .fetch_add(metrics.new_objects_size, Ordering::Relaxed);
        self.logical_bytes
            .fetch_add(logical_bytes, Ordering::Relaxed);
        self.commit_latency.record(metrics.commit_latency);
    }

    pub(super) fn restore(&self, latency: Duration) {
        self.restores.fetch_add(1, Ordering::Relaxed);
        self.restore_latency.record(latency);
    }

    pub(super) fn cold_restore(&self) {
        self.cold_restores.fetch_add(1, Ordering::Relaxed);
    }
}

/// A picture of the engine's work since it was opened.
#[derive(Debug, Clone, Default)]
pub struct EngineStats {
    /// Commits of any durability.
    pub commits: u64,
    /// Restores (hot and cold).
    pub restores: u64,
    /// Restores that had to read the snapshot from L2.
    pub cold_restores: u64,
    /// Commit latency.
    pub commit_latency: LatencySummary,
    /// Restore latency.
    pub restore_latency: LatencySummary,
    /// Time committers waited for room in the writer queue (backpressure).
    pub queue_wait: LatencySummary,
    /// Time the writer took per batch written to L2.
    pub batch_latency: LatencySummary,
    /// Objects created by commits (new to their lineage).
    pub new_objects: u64,
    /// Encoded bytes of those objects: what the commits had to store.
    pub new_bytes: u64,
    /// Sum of every committed snapshot's content size: what full copies
    /// would have stored.
    pub logical_bytes: u64,
    /// Batches and objects the writer stored in L2.
    pub l2_batches: u64,
    /// Objects the writer stored in L2.
    pub l2_objects_written: u64,
    /// Encoded bytes the writer stored in L2.
    pub l2_bytes_written: u64,
    /// Background write failures.
    pub write_failures: u64,
    /// Objects committed but not yet in L2.
    pub in_flight: u64,
    /// Snapshots whose trees are held in memory.
    pub hot_snapshots: u64,
    /// Objects gc deleted that trees still alive in this process may point
    /// at: commits reusing them are refused. Dropped once those trees are.
    pub tombstones: u64,
    /// L1 counters (hits, misses, bytes held, compression).
    pub l1: CacheStats,
    /// Objects held in L1.
    pub l1_objects: u64,
    /// RocksDB's estimate of objects in L2 (0 for other stores).
    pub l2_objects_estimate: u64,
    /// Bytes of L2 files on disk (SST, blob files, memtables).
    pub l2_disk_bytes: u64,
}

impl EngineStats {
    /// `1 - new_bytes / logical_bytes`: the share of content that commits
    /// did not have to store again. 0 when nothing was committed.
    pub fn dedup_ratio(&self) -> f64 {
        if self.logical_bytes == 0 {
            return 0.0;
        }
        (1.0 - self.new_bytes as f64 / self.logical_bytes as f64).max(0.0)
    }
}

impl HeliosEngine {
    /// Counters and latency percentiles, cheap to read at any time.
    pub fn stats(&self) -> EngineStats {
        let c = &self.counters;
        let w = self.queue.stats();
        let rocks = self
            .rocks
            .as_ref()
            .and_then(|r| r.stats().ok())
            .unwrap_or_default();
        EngineStats {
            commits: c.commits.load(Ordering::Relaxed),
            restores: c.restores.load(Ordering::Relaxed),
            cold_restores: c.cold_restores.load(Ordering::Relaxed),
            commit_latency: c.commit_latency.summary(),
            restore_latency: c.restore_latency.summary(),
            queue_wait: self.queue.wait_latency().summary(),
            batch_latency: w.batch_latency.summary(),
            new_objects: c.new_objects.load(Ordering::Relaxed),
            new_bytes: c.new_bytes.load(Ordering::Relaxed),
            logical_bytes: c.logical_bytes.load(Ordering::Relaxed),
            l2_batches: w.batches.load(Ordering::Relaxed),
            l2_objects_written: w.objects.load(Ordering::Relaxed),
            l2_bytes_written: w.bytes.load(Ordering::Relaxed),
            write_failures: w.failures.load(Ordering::Relaxed),
            in_flight: self.layers.inflight_len() as u64,
            hot_snapshots: self.snapshots.hot_count() as u64,
            tombstones: self.gc.tombstone_count() as u64,
            l1: self.layers.l1.stats(),
            l1_objects: self.layers.l1.cache().len() as u64,
            l2_objects_estimate: rocks.estimated_objects,
            l2_disk_bytes: rocks.sst_bytes + rocks.blob_bytes + rocks.memtable_bytes,
        }
    }
}
