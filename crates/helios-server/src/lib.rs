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
//! - The API is `spec/helios.proto` (package `helios.v1`); [`proto`] is
//!   the code generated from it, checked in.
//! - [`serve`] runs a server until SIGTERM or SIGINT (see its module for
//!   the lifecycle); [`Client`] is a blocking client whose calls return the
//!   engine's own types.
//! - [`socket_path`] says where a store's server listens; access is
//!   limited to the socket owner's uid (mode 0600 and SO_PEERCRED).
//! - Live metrics in the Prometheus text format on a loopback address
//!   ([`ServeOptions::metrics`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod convert;
mod error;
mod metrics;
mod progress;
pub mod proto;
mod serve;
mod service;
mod socket;

pub use client::{Client, FsckSummary};
pub use error::{ClientError, ServerError, describe};
pub use serve::{MAX_MESSAGE_BYTES, Ready, ServeOptions, Stopped, serve};
pub use socket::{SOCKET_NAME, socket_path};

use helios_engine::{EngineResult, HeliosEngine};

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
        commit_p50_micros: convert::micros(s.commit_latency.p50),
        commit_p99_micros: convert::micros(s.commit_latency.p99),
        queue_wait_p99_micros: convert::micros(s.queue_wait.p99),
        in_flight: s.in_flight,
        l1_hits: s.l1.hits,
        l1_misses: s.l1.misses,
        ..proto::StatsReply::default()
    })
}

#[cfg(test)]
mod tests {
    /// FNV-1a with the length, as tools/protogen computes it.
    fn fingerprint(bytes: &[u8]) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{}-{hash:016x}", bytes.len())
    }

    #[test]
    fn the_generated_code_is_that_of_the_schema_in_spec() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let schema = std::fs::read(root.join("../../spec/helios.proto")).unwrap();
        let code = std::fs::read_to_string(root.join("src/proto.rs")).unwrap();
        let expected = format!("Schema fingerprint: {}.", fingerprint(&schema));
        assert!(
            code.contains(&expected),
            "spec/helios.proto changed since src/proto.rs was generated: run \
             `cargo run --manifest-path tools/protogen/Cargo.toml`"
        );
    }
}
