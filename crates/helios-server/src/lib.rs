//! `helios serve`: one long-lived process owns a store, and any number of
//! processes on the machine (agents, test runners, a Python orchestrator,
//! the `helios` CLI itself) call it over gRPC on a Unix socket, the way
//! containerd's snapshotters, watchman and EdenFS serve theirs.
//!
//! A store can be opened by one process at a time; a server makes that one
//! process permanent, so that clients never meet the store's lock, never
//! pay a cold open, and keep the engine's caches and file watchers warm
//! between calls.
//!
//! - The API is `spec/helios.proto` (package `helios.v1`); its generated
//!   code, the blocking `Client` and where a store's server listens
//!   (`socket_path`) are in helios-client, which links no engine.
//! - [`serve`] runs a server until SIGTERM or SIGINT (see its module for
//!   the lifecycle); access is limited to the socket owner's uid (mode
//!   0600 and SO_PEERCRED).
//! - Live metrics in the Prometheus text format on a loopback address
//!   ([`ServeOptions::metrics`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod metrics;
mod progress;
mod serve;
mod service;
mod socket;

pub use error::ServerError;
pub use serve::{Ready, ServeOptions, Stopped, serve};

use helios_client::{FsckSummary, proto, wire};
use helios_engine::{EngineResult, FsckReport, HeliosEngine};

/// The store's figures as `Stats` answers them, from an engine opened in
/// this process (the live fields stay zero): what `helios stats` prints
/// whether it asks a server or opens the store itself.
pub fn stats(engine: &HeliosEngine) -> EngineResult<proto::StatsReply> {
    let s = engine.stats();
    Ok(proto::StatsReply {
        store: engine
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        algorithm: engine.algorithm().name().to_owned(),
        snapshots: engine.list_snapshots()?.len() as u64,
        refs: engine.refs()?.len() as u64,
        l2_objects_estimate: s.l2_objects_estimate,
        l2_disk_bytes: s.l2_disk_bytes,
        commits: s.commits,
        restores: s.restores,
        new_objects: s.new_objects,
        new_bytes: s.new_bytes,
        commit_p50_micros: wire::micros(s.commit_latency.p50),
        commit_p99_micros: wire::micros(s.commit_latency.p99),
        queue_wait_p99_micros: wire::micros(s.queue_wait.p99),
        in_flight: s.in_flight,
        l1_hits: s.l1.hits,
        l1_misses: s.l1.misses,
        ..proto::StatsReply::default()
    })
}

/// What an engine opened in this process found, as a server's client is
/// told it (each damage as its one line): what `helios fsck` prints either
/// way.
pub fn fsck_summary(report: FsckReport) -> FsckSummary {
    FsckSummary {
        snapshots: report.snapshots,
        checked: report.checked,
        damaged: report
            .damaged
            .into_iter()
            .map(|(id, e)| (id, e.to_string()))
            .collect(),
    }
}
