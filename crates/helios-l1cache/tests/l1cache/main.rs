//! Integration tests of helios-l1cache: the standalone arena (bound,
//! eviction, round trips, configuration errors, concurrency, a model-based
//! property test), the `L1Cache` wrapper over `MemStore`, and the
//! object-store conformance suite over that wrapper.

mod arena;
mod conformance;
mod model;
mod wrapper;

use helios_types::{Hash, HashAlgorithm};

// Test data comes from the benches' generators (`SplitMix64`, `noise`,
// `source_like`), so tests and benches measure the same kind of bytes.

/// The BLAKE3 key of `bytes`.
pub(crate) fn key_of(bytes: &[u8]) -> Hash {
    HashAlgorithm::Blake3.digest(bytes)
}
