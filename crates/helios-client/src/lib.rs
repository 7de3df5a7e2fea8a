//! A client of `helios serve` (helios-server): the code generated from the
//! gRPC schema (`spec/helios.proto`), where a store's server listens, how
//! values travel, and [`Client`], a blocking client whose calls return the
//! engine's own types.
//!
//! It links no engine and no RocksDB: a process that only talks to a
//! server (the `helios` front end, a harness written in Rust) starts in
//! about a millisecond instead of paying RocksDB's static initialisation on
//! every call (docs/ARCHITECTURE.md, "Two binaries").

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod error;
pub mod events;
pub mod proto;
mod socket;
pub mod wire;

pub use client::{Client, FetchSummary, FsckSummary};
pub use error::{ClientError, describe};
pub use socket::{SOCKET_NAME, socket_path};

/// The largest message either side accepts: a `CommitEdits` carrying a
/// few large files inline. Larger content belongs in a working directory.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

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
