//! The vocabulary of the engine's calls that its clients share without
//! linking the engine (a client of `helios serve` is one): how durable a
//! commit must be, and what commits, collections and verifications report.
//! The engine (helios-engine) re-exports each of them.

use std::time::Duration;

/// How durable a commit must be before the engine's `commit` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// L0 only: the snapshot lives in this process and is lost on exit.
    /// Cheapest; for nodes a search may discard.
    Memory,
    /// Queued for L2; returns at once. Survives a clean close; a crash may
    /// lose the tail of the queue, never leave a partial snapshot.
    #[default]
    Async,
    /// Returns once the snapshot and everything it references are in L2
    /// with the write-ahead log synced to disk.
    Sync,
}

/// The cost of one commit, measured on the caller's (synchronous) path.
/// A search folds it into its reward so that wasteful edits cost something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitMetrics {
    /// Wall time of the engine's `commit` call.
    pub commit_latency: Duration,
    /// Objects (trees and blobs) this commit created that the store did
    /// not hold yet (chunks a capture stored are counted by the capture's
    /// report instead).
    pub new_objects: u64,
    /// Encoded bytes of those objects.
    pub new_objects_size: u64,
}

/// What the engine's `gc` reclaimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Objects reachable from the roots.
    pub marked: u64,
    /// Objects deleted.
    pub objects_reclaimed: u64,
    /// Encoded bytes of the deleted objects.
    pub bytes_reclaimed: u64,
    /// Snapshot records deleted.
    pub snapshots_reclaimed: u64,
}

/// Objects and bytes checked by the engine's `verify`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Trees read, rehashed and decoded.
    pub trees: u64,
    /// Blobs read and rehashed (a large file's chunks count one each).
    pub blobs: u64,
    /// Chunk lists of large files read and decoded.
    pub chunk_lists: u64,
    /// Bytes read: encoded trees and file content.
    pub bytes: u64,
    /// Trees and files a store that reads through to a remote does not
    /// (wholly) hold: the remote's, not checked here (and not damage).
    pub remote: u64,
}

impl VerifyReport {
    /// Adds another snapshot's counts to these.
    pub fn add(&mut self, other: &VerifyReport) {
        self.trees += other.trees;
        self.blobs += other.blobs;
        self.chunk_lists += other.chunk_lists;
        self.bytes += other.bytes;
        self.remote += other.remote;
    }
}
