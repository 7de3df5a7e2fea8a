//! [`ObjectCache`]: the standalone arena. Objects are assigned to one of N
//! shards by their hash; each shard is a [`Ring`] behind its own
//! `RwLock`. Hits take the read lock only (the reference bit is an
//! atomic), so readers of one shard run in parallel; inserts compress
//! outside any lock and take the write lock just to copy bytes in.
//!
//! No global lock exists: statistics are per-shard atomics summed on
//! demand.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use helios_types::{Hash, HashAlgorithm};

use crate::config::{ConfigError, L1Config};
use crate::ring::{Placed, Read, Ring};
use crate::stats::{CacheStats, Counters, bump};

/// Objects shorter than this are stored raw without trying LZ4: the block
/// format's overhead eats any gain below a few dozen bytes.
pub const MIN_COMPRESS_LEN: usize = 32;

/// What [`ObjectCache::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The object is now held.
    Inserted,
    /// An object was already held under this hash; it was left as it was
    /// (objects are content-addressed, so it is the same object) and
    /// marked as recently used.
    AlreadyPresent,
    /// The object is longer than the largest cacheable object and was not
    /// cached.
    TooLarge,
}

/// How one held object is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryInfo {
    /// Bytes of payload in the arena (plus a 40-byte record header).
    pub stored_len: usize,
    /// Length of the object as put.
    pub raw_len: usize,
    /// Whether the payload is LZ4-compressed (otherwise stored raw).
    pub compressed: bool,
}

/// An object's payload as it will be stored: compressed when that saves at
/// least 1/16 of its length, else the raw bytes.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    payload: Cow<'a, [u8]>,
    raw_len: u32,
}

impl<'a> Prepared<'a> {
    /// Compresses `bytes` (no lock held). `bytes` must be at most
    /// `u32::MAX` long; callers check against the configured maximum first.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let raw_len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        if bytes.len() >= MIN_COMPRESS_LEN
            && let Some(compressed) = helios_types::store::lz4_if_it_pays(bytes, 16)
        {
            return Prepared {
                payload: Cow::Owned(compressed),
                raw_len,
            };
        }
        Prepared {
            payload: Cow::Borrowed(bytes),
            raw_len,
        }
    }
}

/// One shard, aligned so that two shards' counters and locks never share a
/// cache line.
#[repr(align(128))]
struct Shard {
    ring: RwLock<Ring>,
    counters: Counters,
    /// Bumped by every removal, so that a fill which read the inner store
    /// before a concurrent delete does not re-insert the deleted object.
    removals: AtomicU64,
}

impl Shard {
    fn write(&self) -> RwLockWriteGuard<'_, Ring> {
        match self.ring.write() {
            Ok(guard) => guard,
            Err(poisoned) => {
                // A panic inside a ring operation may have left the index
                // and the bytes out of step: start the shard afresh rather
                // than risk returning the wrong bytes.
                let mut guard = poisoned.into_inner();
                guard.clear();
                self.ring.clear_poison();
                self.removals.fetch_add(1, Ordering::AcqRel);
                self.publish(&guard);
                guard
            }
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Ring> {
        loop {
            match self.ring.read() {
                Ok(guard) => return guard,
                Err(poisoned) => {
                    drop(poisoned);
                    drop(self.write());
                }
            }
        }
    }

    /// Republishes occupancy after a change; called with the write lock.
    fn publish(&self, ring: &Ring) {
        let c = &self.counters;
        c.entries.store(ring.len() as u64, Ordering::Relaxed);
        c.stored_bytes.store(ring.stored_bytes(), Ordering::Relaxed);
        c.raw_bytes.store(ring.raw_bytes(), Ordering::Relaxed);
        c.arena_used.store(ring.used(), Ordering::Relaxed);
    }
}

/// A bounded, sharded, LZ4-compressed cache of encoded objects keyed by
/// their hash: the L1 arena on its own. [`L1Cache`](crate::L1Cache) wraps
/// it around an object store.
///
/// Reads return exactly the bytes that were put under the hash, or
/// nothing. Objects longer than
/// [`L1Config::effective_max_object_len`] (by default a quarter of a
/// shard) are not cached.
pub struct ObjectCache {
    shards: Box<[Shard]>,
    mask: u64,
    config: L1Config,
    max_object_len: usize,
    capacity: u64,
}

impl fmt::Debug for ObjectCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectCache")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ObjectCache {
    /// An empty cache. The arena is reserved here, one allocation per
    /// shard, and its pages are committed as it fills; a reservation the
    /// system refuses is [`ConfigError::ArenaAllocation`].
    pub fn new(config: L1Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let shard_capacity = config.shard_capacity();
        let shards = (0..config.shards)
            .map(|_| {
                let ring = Ring::new(shard_capacity, config.policy).map_err(|source| {
                    ConfigError::ArenaAllocation {
                        bytes: shard_capacity * config.shards,
                        source,
                    }
                })?;
                Ok(Shard {
                    ring: RwLock::new(ring),
                    counters: Counters::default(),
                    removals: AtomicU64::new(0),
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(ObjectCache {
            shards,
            mask: config.shards as u64 - 1,
            max_object_len: config.effective_max_object_len(),
            capacity: (shard_capacity * config.shards) as u64,
            config,
        })
    }

    /// The configuration the cache was built with.
    pub fn config(&self) -> &L1Config {
        &self.config
    }

    /// The largest object (uncompressed bytes) that is cached.
    pub fn max_object_len(&self) -> usize {
        self.max_object_len
    }

    fn shard(&self, hash: &Hash) -> &Shard {
        let mut word = [0u8; 8];
        word.copy_from_slice(&hash.as_bytes()[..8]);
        let mixed = u64::from_le_bytes(word).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        let i = usize::try_from(mixed & self.mask).unwrap_or(0);
        &self.shards[i]
    }

    /// The object stored under `hash`, exactly as it was put, or `None`.
    pub fn get(&self, hash: &Hash) -> Option<Vec<u8>> {
        let shard = self.shard(hash);
        let found = shard.read().read(hash);
        let c = &shard.counters;
        match found {
            Read::Hit(bytes) => {
                if let Some(alg) = self.config.verify_hits
                    && alg.digest(&bytes) != *hash
                {
                    self.drop_damaged(shard, hash);
                    return None;
                }
                bump(&c.hits, 1);
                Some(bytes)
            }
            Read::Miss => {
                bump(&c.misses, 1);
                None
            }
            Read::Damaged => {
                self.drop_damaged(shard, hash);
                None
            }
        }
    }

    #[cold]
    fn drop_damaged(&self, shard: &Shard, hash: &Hash) {
        let mut ring = shard.write();
        ring.remove(hash);
        shard.publish(&ring);
        bump(&shard.counters.integrity_failures, 1);
        bump(&shard.counters.misses, 1);
    }

    /// Whether an object is held under `hash` (no copy, not counted as a
    /// hit or miss, does not mark the entry as used).
    pub fn contains(&self, hash: &Hash) -> bool {
        self.shard(hash).read().contains(hash, false)
    }

    /// How the object under `hash` is stored, if held.
    pub fn entry_info(&self, hash: &Hash) -> Option<EntryInfo> {
        let (stored, raw) = self.shard(hash).read().lengths(hash)?;
        Some(EntryInfo {
            stored_len: stored as usize,
            raw_len: raw as usize,
            compressed: stored < raw,
        })
    }

    /// Caches `bytes` under `hash`, evicting older entries of the same
    /// shard as needed. The caller vouches that `hash` is the object's
    /// hash (set [`L1Config::verify_hits`] to have every hit checked).
    pub fn insert(&self, hash: Hash, bytes: &[u8]) -> InsertOutcome {
        if self.reject_if_too_large(&hash, bytes.len()) {
            return InsertOutcome::TooLarge;
        }
        if self.touch(&hash) {
            return InsertOutcome::AlreadyPresent;
        }
        self.insert_prepared(hash, &Prepared::new(bytes), None)
            .unwrap_or(InsertOutcome::AlreadyPresent)
    }

    /// True when an object of `len` bytes is too large to cache, in which
    /// case it is counted as rejected. Checked before compressing.
    pub(crate) fn reject_if_too_large(&self, hash: &Hash, len: usize) -> bool {
        if len > self.max_object_len {
            bump(&self.shard(hash).counters.rejected, 1);
            return true;
        }
        false
    }

    /// Marks the entry under `hash` as recently used; false when none is
    /// held. Checked before compressing an object that may be cached.
    pub(crate) fn touch(&self, hash: &Hash) -> bool {
        self.shard(hash).read().contains(hash, true)
    }

    /// The removal counter of `hash`'s shard, read before a fill goes to
    /// the inner store.
    pub(crate) fn fill_ticket(&self, hash: &Hash) -> u64 {
        self.shard(hash).removals.load(Ordering::Acquire)
    }

    /// Writes a prepared payload. With a ticket, writes only when no
    /// removal happened in the shard since the ticket was taken (`None`
    /// otherwise).
    pub(crate) fn insert_prepared(
        &self,
        hash: Hash,
        prepared: &Prepared<'_>,
        ticket: Option<u64>,
    ) -> Option<InsertOutcome> {
        let shard = self.shard(&hash);
        if prepared.payload.len() > self.max_object_len {
            // Callers precheck the raw length, which bounds the payload;
            // this keeps the ring's own precondition out of their hands.
            bump(&shard.counters.rejected, 1);
            return Some(InsertOutcome::TooLarge);
        }
        let mut ring = shard.write();
        if ticket.is_some_and(|t| t != shard.removals.load(Ordering::Acquire)) {
            return None;
        }
        let outcome = match ring.insert(hash, &prepared.payload, prepared.raw_len) {
            Placed::New { evicted } => {
                bump(&shard.counters.insertions, 1);
                bump(&shard.counters.evictions, evicted);
                InsertOutcome::Inserted
            }
            Placed::Present => InsertOutcome::AlreadyPresent,
        };
        shard.publish(&ring);
        Some(outcome)
    }

    /// Drops the object under `hash`; true when it was held.
    pub fn remove(&self, hash: &Hash) -> bool {
        let shard = self.shard(hash);
        let mut ring = shard.write();
        // Bumped even when absent: a concurrent fill of this hash may be
        // reading the inner store right now and must not land.
        shard.removals.fetch_add(1, Ordering::AcqRel);
        let removed = ring.remove(hash);
        shard.publish(&ring);
        removed
    }

    /// Drops every object.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut ring = shard.write();
            shard.removals.fetch_add(1, Ordering::AcqRel);
            ring.clear();
            shard.publish(&ring);
        }
    }

    /// Objects held.
    pub fn len(&self) -> usize {
        let entries: u64 = self
            .shards
            .iter()
            .map(|s| s.counters.entries.load(Ordering::Relaxed))
            .sum();
        usize::try_from(entries).unwrap_or(usize::MAX)
    }

    /// True when no object is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Current statistics; lock-free.
    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats {
            capacity: self.capacity,
            ..CacheStats::default()
        };
        for shard in self.shards.iter() {
            shard.counters.add_to(&mut stats);
        }
        stats
    }

    /// The hash algorithm hits are verified with, if any.
    pub fn verify_hits(&self) -> Option<HashAlgorithm> {
        self.config.verify_hits
    }

    /// Checks every shard's invariants (tests only).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        for shard in self.shards.iter() {
            shard.read().check_invariants();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::EvictionPolicy;

    fn object(seed: u64, len: usize) -> Vec<u8> {
        let text = seed.is_multiple_of(2);
        (0..len as u64)
            .map(|i| {
                let x = if text {
                    i / 7 + seed
                } else {
                    (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 13
                };
                x.to_le_bytes()[0]
            })
            .collect()
    }

    #[test]
    fn ring_invariants_hold_after_concurrent_use() {
        for policy in [EvictionPolicy::Fifo, EvictionPolicy::SecondChance] {
            let config = L1Config {
                capacity: 32 << 10,
                shards: 2,
                max_object_len: Some(4000),
                policy,
                ..L1Config::default()
            };
            let cache = Arc::new(ObjectCache::new(config).unwrap());
            let workers: Vec<_> = (0..3u64)
                .map(|t| {
                    let cache = Arc::clone(&cache);
                    std::thread::spawn(move || {
                        for i in 0..3000u64 {
                            let seed = (i * 7 + t) % 97;
                            let bytes = object(seed, usize::try_from(seed * 41).unwrap());
                            let hash = HashAlgorithm::Blake3.digest(&bytes);
                            match i % 5 {
                                0 | 1 => {
                                    cache.insert(hash, &bytes);
                                }
                                2 => {
                                    cache.remove(&hash);
                                }
                                _ => {
                                    if let Some(got) = cache.get(&hash) {
                                        assert_eq!(got, bytes);
                                    }
                                }
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            cache.check_invariants();
            let s = cache.stats();
            assert!(s.arena_used <= s.capacity && s.evictions > 0, "{s:?}");
        }
    }

    #[test]
    fn a_poisoned_shard_is_reset_not_trusted() {
        let cache = Arc::new(ObjectCache::new(L1Config::with_capacity(1 << 20)).unwrap());
        let bytes = object(2, 1000);
        let hash = HashAlgorithm::Blake3.digest(&bytes);
        cache.insert(hash, &bytes);
        let c = Arc::clone(&cache);
        let _ = std::thread::spawn(move || {
            let _guard = c.shard(&hash).ring.write().unwrap();
            panic!("poison the shard");
        })
        .join();
        assert!(cache.shard(&hash).ring.is_poisoned());
        assert_eq!(
            cache.get(&hash),
            None,
            "entries of a poisoned shard are dropped"
        );
        assert!(!cache.shard(&hash).ring.is_poisoned());
        assert_eq!(cache.insert(hash, &bytes), InsertOutcome::Inserted);
        assert_eq!(cache.get(&hash), Some(bytes));
        cache.check_invariants();
    }
}
