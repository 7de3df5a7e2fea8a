//! What the engine's working-directory calls return, defined here (beside
//! [`Report`]) so that a client of a server has them without linking the
//! engine; helios-engine re-exports them.

use std::time::Duration;

use helios_types::SnapshotId;
use helios_types::api::CommitMetrics;

use crate::Report;

/// What the engine's `commit_workdir` made and read.
#[derive(Debug, Clone)]
pub struct WorkdirCommit {
    /// The new snapshot.
    pub id: SnapshotId,
    /// The snapshot the directory held before, now the new one's parent.
    pub parent: Option<SnapshotId>,
    /// The commit's cost (chunks the capture stored are in `report`).
    pub metrics: CommitMetrics,
    /// What the capture read (and stored of large files).
    pub report: Report,
    /// Wall time of the capture.
    pub capture_latency: Duration,
}

/// How the engine's `mount` set up the directory.
#[derive(Debug)]
pub enum Mounted {
    /// An overlay mount over the snapshot's shared lower copy.
    Overlay,
    /// This process may not mount overlayfs (`reason` says why): the
    /// directory got a plain checkout instead.
    Checkout {
        /// Why the overlay was not possible, in one line.
        reason: String,
        /// What the checkout wrote.
        report: Report,
    },
}
