//! Configuration of the L1 arena and its validation: every limit that the
//! arena relies on is checked once, here, and reported as a typed
//! [`ConfigError`].

use std::collections::TryReserveError;

use helios_types::HashAlgorithm;

use crate::ring::HEADER_LEN;

/// Default arena size: 256 MiB.
pub const DEFAULT_CAPACITY: usize = 256 << 20;

/// Default number of shards (independent rings, each behind its own lock).
pub const DEFAULT_SHARDS: usize = 16;

/// Largest arena accepted: 1 TiB. Anything larger is a unit mistake (bits
/// for bytes, a size in KiB read as bytes), not a cache size.
pub const MAX_CAPACITY: usize = 1 << 40;

/// Most shards accepted. More shards than this only shrink each ring
/// without reducing contention on a machine of realistic size.
pub const MAX_SHARDS: usize = 4096;

/// Smallest capacity of one shard (one ring): 4 KiB.
pub const MIN_SHARD_CAPACITY: usize = 4096;

/// Largest object the arena can hold at all, whatever the capacity: 1 GiB.
/// Lengths are stored as `u32` in the ring's record headers.
pub const MAX_OBJECT_LEN_LIMIT: usize = 1 << 30;

/// Which entry leaves the ring when room is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvictionPolicy {
    /// Plain FIFO: the oldest record at the head of the ring is evicted.
    Fifo,
    /// FIFO with second chance (CLOCK over the ring): a record read since it
    /// was written is moved to the tail once, with its reference bit
    /// cleared, instead of being evicted. On a Zipf trace this keeps the hot
    /// set resident; see the `l1cache` benchmark for the measured hit rates.
    #[default]
    SecondChance,
}

/// Configuration of an [`ObjectCache`](crate::ObjectCache) (and of the
/// [`L1Cache`](crate::L1Cache) wrapper around it). Build with
/// [`L1Config::default`] or [`L1Config::with_capacity`] and adjust fields;
/// [`L1Config::validate`] runs when the cache is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1Config {
    /// Total arena bytes (compressed payloads plus a 40-byte record header
    /// each). Split evenly over the shards; the remainder of the division
    /// is left unused, so the arena never exceeds this figure.
    ///
    /// The hash index beside the arena is **not** inside this figure. Each
    /// shard's index is a std `HashMap` whose buckets hold a 56-byte entry
    /// (hash and location) and a control byte; the table is at most 7/8
    /// full, grows by doubling and never shrinks, so it costs 65 to 130
    /// bytes per entry at the shard's peak entry count, and after heavy
    /// churn (deleted-slot markers) up to twice that. Entries are bounded
    /// only by records, at most `capacity / 40` (every object empty):
    ///
    /// - worst case, objects of a few bytes each: 1.6 to 6.5 times
    ///   `capacity` on top of it, depending on where the entry count falls
    ///   between powers of two (the default 256 MiB: 419,430 entries per
    ///   shard in tables of 524,288 buckets, 478 MB over 16 shards, 1.8
    ///   times; 957 MB after churn);
    /// - source files cached whole (records of about 4 KiB after
    ///   compression): 2 to 3% of `capacity`; 4 KiB pieces of them
    ///   (records of about 1.8 KiB): 4 to 7%.
    pub capacity: usize,
    /// Number of shards, a power of two. Objects are assigned to shards by
    /// their hash.
    pub shards: usize,
    /// Largest object (uncompressed length) that is cached; larger objects
    /// are passed over and counted as rejected. `None` means a quarter of a
    /// shard's capacity, so that one object never flushes a whole shard.
    /// Must not exceed a shard's capacity minus one record header.
    pub max_object_len: Option<usize>,
    /// Eviction policy.
    pub policy: EvictionPolicy,
    /// When set, every hit is rehashed with this algorithm and compared
    /// with its key before it is returned; a mismatch drops the entry and
    /// reports a miss. Off by default: the arena is guarded by the type
    /// system and by a header check on every read.
    pub verify_hits: Option<HashAlgorithm>,
    /// For the [`L1Cache`](crate::L1Cache) wrapper: verify objects read
    /// from the inner store or written through the wrapper against their
    /// hash before caching them (on by default; one hash per miss or put,
    /// small beside a read from disk or a logged write). Bytes that fail
    /// are not cached. When off, the arena trusts them, and a re-put
    /// replaces the held bytes, so the last put of a hash still wins.
    pub verify_fills: bool,
}

impl Default for L1Config {
    fn default() -> Self {
        L1Config {
            capacity: DEFAULT_CAPACITY,
            shards: DEFAULT_SHARDS,
            max_object_len: None,
            policy: EvictionPolicy::default(),
            verify_hits: None,
            verify_fills: true,
        }
    }
}

/// A configuration the arena cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `capacity` is zero.
    #[error("L1 capacity is zero")]
    ZeroCapacity,
    /// `capacity` is above [`MAX_CAPACITY`].
    #[error("L1 capacity {capacity} bytes is above the limit of {max} bytes")]
    CapacityTooLarge {
        /// Capacity asked for.
        capacity: usize,
        /// The limit.
        max: usize,
    },
    /// `shards` is zero.
    #[error("L1 shard count is zero")]
    ZeroShards,
    /// `shards` is not a power of two.
    #[error("L1 shard count {0} is not a power of two")]
    ShardsNotPowerOfTwo(usize),
    /// `shards` is above [`MAX_SHARDS`].
    #[error("L1 shard count {shards} is above the limit of {max}")]
    TooManyShards {
        /// Shards asked for.
        shards: usize,
        /// The limit.
        max: usize,
    },
    /// `capacity / shards` is below [`MIN_SHARD_CAPACITY`].
    #[error("L1 shard capacity {shard_capacity} bytes is below the minimum of {min} bytes")]
    ShardTooSmall {
        /// `capacity / shards`.
        shard_capacity: usize,
        /// The minimum.
        min: usize,
    },
    /// `max_object_len` is zero.
    #[error("L1 max_object_len is zero")]
    ZeroMaxObjectLen,
    /// `max_object_len` does not fit a shard (or is above
    /// [`MAX_OBJECT_LEN_LIMIT`]).
    #[error("L1 max_object_len {max_object_len} bytes is above the limit of {limit} bytes")]
    MaxObjectLenTooLarge {
        /// Length asked for.
        max_object_len: usize,
        /// The limit for this configuration.
        limit: usize,
    },
    /// The system refused the arena's memory: a capacity within
    /// [`MAX_CAPACITY`] but more than the allocator grants (under Linux's
    /// default overcommit heuristic, more than RAM plus swap in one
    /// reservation).
    #[error("cannot reserve an L1 arena of {bytes} bytes")]
    ArenaAllocation {
        /// Arena bytes asked for (`shards * (capacity / shards)`).
        bytes: usize,
        /// The allocator's refusal.
        #[source]
        source: TryReserveError,
    },
    /// `verify_hits` names an algorithm other than the wrapped store's.
    #[error("L1 verifies hits with {configured} but the store hashes with {store}")]
    AlgorithmMismatch {
        /// Algorithm in the configuration.
        configured: HashAlgorithm,
        /// Algorithm of the wrapped store.
        store: HashAlgorithm,
    },
}

impl L1Config {
    /// The default configuration with `capacity` bytes of arena.
    pub fn with_capacity(capacity: usize) -> Self {
        L1Config {
            capacity,
            ..L1Config::default()
        }
    }

    /// Bytes of arena per shard (`capacity / shards`). Meaningful once
    /// `shards` is non-zero.
    pub fn shard_capacity(&self) -> usize {
        self.capacity / self.shards.max(1)
    }

    /// The effective largest cached object: `max_object_len`, or a quarter
    /// of a shard when unset (capped at [`MAX_OBJECT_LEN_LIMIT`]).
    pub fn effective_max_object_len(&self) -> usize {
        self.max_object_len
            .unwrap_or_else(|| (self.shard_capacity() / 4).min(MAX_OBJECT_LEN_LIMIT))
    }

    /// Checks every limit; the cache constructors call this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        if self.capacity > MAX_CAPACITY {
            return Err(ConfigError::CapacityTooLarge {
                capacity: self.capacity,
                max: MAX_CAPACITY,
            });
        }
        if self.shards == 0 {
            return Err(ConfigError::ZeroShards);
        }
        if !self.shards.is_power_of_two() {
            return Err(ConfigError::ShardsNotPowerOfTwo(self.shards));
        }
        if self.shards > MAX_SHARDS {
            return Err(ConfigError::TooManyShards {
                shards: self.shards,
                max: MAX_SHARDS,
            });
        }
        let shard_capacity = self.shard_capacity();
        if shard_capacity < MIN_SHARD_CAPACITY {
            return Err(ConfigError::ShardTooSmall {
                shard_capacity,
                min: MIN_SHARD_CAPACITY,
            });
        }
        let max = self.effective_max_object_len();
        if max == 0 {
            return Err(ConfigError::ZeroMaxObjectLen);
        }
        let limit = (shard_capacity - HEADER_LEN).min(MAX_OBJECT_LEN_LIMIT);
        if max > limit {
            return Err(ConfigError::MaxObjectLenTooLarge {
                max_object_len: max,
                limit,
            });
        }
        Ok(())
    }
}
