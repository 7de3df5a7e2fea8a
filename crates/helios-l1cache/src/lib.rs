//! L1, the warm object cache: a bounded arena of LZ4-compressed encoded
//! objects keyed by hash, sharded for concurrent use, with statistics, and
//! usable either on its own ([`ObjectCache`]) or as an [`ObjectStore`]
//! wrapped around any other store ([`L1Cache`]).
//!
//! # Design
//!
//! The arena is `shards` rings of `capacity / shards` bytes each (see
//! the private `ring` module for the record layout). An object goes to the
//! shard chosen by its hash; an insert compresses it with LZ4 outside any
//! lock (objects that do not shrink by at least 1/16 are stored raw), then
//! takes that shard's write lock and appends a record at the ring's tail,
//! advancing the head past old records until there is room. Eviction is
//! FIFO with second chance by default: a record read since it was written
//! is moved to the tail once instead of being evicted (CLOCK over the
//! ring). Hits take only the shard's read lock.
//!
//! # Invariants
//!
//! 1. The arena never holds more than `capacity` bytes: each ring's window
//!    of records, headers and padding is at most its capacity (the ring
//!    is one fixed allocation, reserved up front and committed as it
//!    fills). The hash index beside it is outside that bound: 65 to 130
//!    bytes per entry (twice that after heavy churn), entries at most
//!    `capacity / 40`. For source files that is 2 to 7% of `capacity`; in
//!    the worst case, objects of a few bytes, 1.6 to 6.5 times it. See
//!    [`L1Config::capacity`] for the figures.
//! 2. A read returns exactly the bytes put under that hash, or nothing:
//!    every read checks the record header (full hash and both lengths) and
//!    the decompressed length, under the shard lock that writers need; with
//!    [`L1Config::verify_hits`] it also rehashes.
//! 3. Objects longer than [`L1Config::effective_max_object_len`] (a quarter
//!    of a shard by default, never more than a shard) are not cached.
//! 4. The crate spawns no threads and has no `unsafe`.
//!
//! [`ObjectStore`]: helios_types::store::ObjectStore

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod config;
mod ring;
mod stats;
mod store;

pub use cache::{EntryInfo, InsertOutcome, MIN_COMPRESS_LEN, ObjectCache};
pub use config::{
    ConfigError, DEFAULT_CAPACITY, DEFAULT_SHARDS, EvictionPolicy, L1Config, MAX_CAPACITY,
    MAX_OBJECT_LEN_LIMIT, MAX_SHARDS, MIN_SHARD_CAPACITY,
};
pub use stats::CacheStats;
pub use store::L1Cache;

/// Bytes of record header the arena spends on every object besides its
/// payload.
pub const RECORD_HEADER_LEN: usize = ring::HEADER_LEN;
