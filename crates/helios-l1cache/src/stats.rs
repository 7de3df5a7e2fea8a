//! Statistics: per-shard atomic counters, summed into a plain
//! [`CacheStats`] on demand. Reading them takes no lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// A point-in-time view of the cache's counters. Counters are read one by
/// one without a lock, so under concurrent use the figures are each exact
/// but may be a few operations apart from one another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from the arena.
    pub hits: u64,
    /// Reads that found nothing (including entries dropped by a failed
    /// check).
    pub misses: u64,
    /// Objects written into the arena.
    pub insertions: u64,
    /// Live objects evicted to make room (explicit removals not counted).
    pub evictions: u64,
    /// Objects not cached because they exceed the largest cacheable size.
    pub rejected: u64,
    /// Entries dropped because a read found them damaged or (with hit
    /// verification on) not matching their hash. Zero unless something is
    /// badly wrong.
    pub integrity_failures: u64,
    /// Objects held.
    pub entries: u64,
    /// Bytes of payload held, as stored (compressed, or raw when the
    /// object did not compress).
    pub stored_bytes: u64,
    /// Bytes the held objects have when decompressed.
    pub raw_bytes: u64,
    /// Bytes of ring in use: payloads, 40-byte record headers, and records
    /// or padding not yet reclaimed. Never above `capacity`.
    pub arena_used: u64,
    /// Bytes of arena (`shards * (capacity / shards)`).
    pub capacity: u64,
}

impl CacheStats {
    /// `hits / (hits + misses)`, 0 before any read.
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }

    /// `raw_bytes / stored_bytes`: how many times more object bytes the
    /// arena holds than it spends on payloads (1.0 when empty).
    pub fn compression_ratio(&self) -> f64 {
        if self.stored_bytes == 0 {
            1.0
        } else {
            self.raw_bytes as f64 / self.stored_bytes as f64
        }
    }
}

/// One shard's counters. Operation counts are bumped as they happen; the
/// occupancy figures are republished after every change under the shard's
/// write lock.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) insertions: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) integrity_failures: AtomicU64,
    pub(crate) entries: AtomicU64,
    pub(crate) stored_bytes: AtomicU64,
    pub(crate) raw_bytes: AtomicU64,
    pub(crate) arena_used: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    if by != 0 {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

impl Counters {
    /// Adds this shard's figures into `into`.
    pub(crate) fn add_to(&self, into: &mut CacheStats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        into.hits += get(&self.hits);
        into.misses += get(&self.misses);
        into.insertions += get(&self.insertions);
        into.evictions += get(&self.evictions);
        into.rejected += get(&self.rejected);
        into.integrity_failures += get(&self.integrity_failures);
        into.entries += get(&self.entries);
        into.stored_bytes += get(&self.stored_bytes);
        into.raw_bytes += get(&self.raw_bytes);
        into.arena_used += get(&self.arena_used);
    }
}
