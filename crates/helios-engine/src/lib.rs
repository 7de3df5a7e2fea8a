//! The Helios engine: [`HeliosEngine`] wires L0 (the VST), L1 (the
//! compressed cache) and L2 (RocksDB) into the API that a search calls
//! thousands of times per second — commit, restore, diff,
//! refs, pins, gc, verify — and owns the working directories that turn
//! snapshots into real directories and back.
//!
//! # Pipeline
//!
//! A commit hashes the tree's changed directories (L0), exports the
//! objects the tree created, puts them in an in-flight table (L1 fills when
//! the writer stores them), and queues them with the snapshot record on a
//! bounded channel. One writer
//! thread (the `pipeline` module) merges queued requests into
//! RocksDB write batches. A full channel makes committers wait
//! (backpressure, visible as `queue_wait` in [`EngineStats`]).
//!
//! # Invariants
//!
//! 1. A snapshot record reaches L2 in the same atomic batch as every object
//!    it references that was not already there; ref and pin updates are
//!    queued behind the snapshot they name. After a crash every stored
//!    snapshot is whole, and every acknowledged `Sync` commit is stored.
//! 2. A snapshot never changes: `restore(id)` always yields the tree that
//!    was committed.
//! 3. gc never deletes an object reachable from a ref, a pin or a working
//!    directory's recorded snapshot, nor one created or referenced by a
//!    commit made while it ran (see the `gc` module).
//! 4. Objects read from L2 are checked against their hash.
//! 5. This is the only crate that spawns threads or owns channels.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod classify;
mod config;
mod engine;
mod error;
mod gc;
mod keys;
mod layers;
mod metrics;
mod names;
mod pipeline;
mod queue;
mod snapshots;
mod sync;
mod tombstones;
mod verify;

pub use classify::ErrorClass;
pub use config::EngineConfig;
pub use engine::{CommitMeta, EngineStats, HeliosEngine};
pub use error::{EngineError, EngineResult};
pub use metrics::LatencySummary;
pub use verify::FsckReport;
// Defined below the engine so that clients of a server name them without
// linking it.
pub use helios_types::api::{CommitMetrics, Durability, GcReport, VerifyReport};
pub use helios_workdir::{Mounted, WorkdirCommit};
