//! `stats()`: counters and latency percentiles, cheap to read at any time.

use std::sync::atomic::Ordering;

use helios_l1cache::CacheStats;

use crate::engine::{HeliosEngine, read};
use crate::metrics::LatencySummary;

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

pub(crate) fn collect(engine: &HeliosEngine) -> EngineStats {
    let c = &engine.counters;
    let w = &engine.writer_stats;
    let rocks = engine
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
        queue_wait: c.queue_wait.summary(),
        batch_latency: w.batch_latency.summary(),
        new_objects: c.new_objects.load(Ordering::Relaxed),
        new_bytes: c.new_bytes.load(Ordering::Relaxed),
        logical_bytes: c.logical_bytes.load(Ordering::Relaxed),
        l2_batches: w.batches.load(Ordering::Relaxed),
        l2_objects_written: w.objects.load(Ordering::Relaxed),
        l2_bytes_written: w.bytes.load(Ordering::Relaxed),
        write_failures: w.failures.load(Ordering::Relaxed),
        in_flight: engine.layers.inflight_len() as u64,
        hot_snapshots: read(&engine.hot).len() as u64,
        l1: engine.layers.l1.stats(),
        l1_objects: engine.layers.l1.cache().len() as u64,
        l2_objects_estimate: rocks.estimated_objects,
        l2_disk_bytes: rocks.sst_bytes + rocks.blob_bytes + rocks.memtable_bytes,
    }
}
