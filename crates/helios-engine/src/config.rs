//! Engine configuration: plain data with sane defaults, validated on open.

use helios_l1cache::L1Config;
use helios_objstore::RocksConfig;
use helios_types::HashAlgorithm;

use crate::error::{EngineError, EngineResult};

/// How an engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The hash algorithm: `None` accepts what an existing store recorded
    /// (BLAKE3 for a new one); `Some` must match an existing store.
    pub algorithm: Option<HashAlgorithm>,
    /// L1: the compressed object cache.
    pub l1: L1Config,
    /// L2: RocksDB tuning (ignored for the in-memory store).
    pub rocks: RocksConfig,
    /// Create the store if the directory holds none.
    pub create_if_missing: bool,
    /// Commits the writer queue holds before committers wait
    /// (backpressure). 1..=65536.
    pub queue_capacity: usize,
    /// Most objects the writer puts in one RocksDB write batch.
    pub batch_max_objects: usize,
    /// Most encoded bytes the writer puts in one RocksDB write batch.
    pub batch_max_bytes: usize,
    /// Durable snapshots whose trees stay in memory for O(1) restores;
    /// beyond it the least recently used are read from the store again
    /// when restored. Memory-only snapshots are not counted against it.
    pub hot_snapshots: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            algorithm: None,
            l1: L1Config::default(),
            rocks: RocksConfig::default(),
            create_if_missing: true,
            queue_capacity: 256,
            batch_max_objects: 4096,
            batch_max_bytes: 16 << 20,
            hot_snapshots: 16_384,
        }
    }
}

impl EngineConfig {
    /// A configuration suited to tests and small tools: 16 MiB of L1.
    pub fn small() -> Self {
        EngineConfig {
            l1: L1Config::with_capacity(16 << 20),
            ..Self::default()
        }
    }

    /// Checks the engine's own fields (L1 and RocksDB check theirs).
    pub fn validate(&self) -> EngineResult<()> {
        let out_of_range = |field, value: usize, allowed| EngineError::Config {
            field,
            value: value as u64,
            allowed,
        };
        if !(1..=65_536).contains(&self.queue_capacity) {
            return Err(out_of_range(
                "queue_capacity",
                self.queue_capacity,
                "in 1..=65536",
            ));
        }
        if self.batch_max_objects == 0 {
            return Err(out_of_range("batch_max_objects", 0, "at least 1"));
        }
        if self.batch_max_bytes == 0 {
            return Err(out_of_range("batch_max_bytes", 0, "at least 1"));
        }
        if self.hot_snapshots == 0 {
            return Err(out_of_range("hot_snapshots", 0, "at least 1"));
        }
        Ok(self.l1.validate()?)
    }
}
