//! Integration tests of helios-l1cache: the standalone arena (bound,
//! eviction, round trips, configuration errors, concurrency, a model-based
//! property test), the `L1Cache` wrapper over `MemStore`, and the
//! object-store conformance suite over that wrapper.

mod arena;
mod conformance;
mod model;
mod wrapper;

use helios_types::{Hash, HashAlgorithm};

/// Deterministic test data without a dependency (SplitMix64).
pub(crate) struct Rng(u64);

impl Rng {
    /// Seeds the generator.
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Bytes that LZ4 cannot shrink.
    pub(crate) fn noise(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// Text-like bytes that compress well.
    pub(crate) fn text(&mut self, len: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "fn ", "let ", "match ", "self", ".value", "(); ", "\n    ", "0",
        ];
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            let i = usize::try_from(self.below(WORDS.len() as u64)).unwrap();
            out.extend_from_slice(WORDS[i].as_bytes());
        }
        out.truncate(len);
        out
    }
}

/// The BLAKE3 key of `bytes`.
pub(crate) fn key_of(bytes: &[u8]) -> Hash {
    HashAlgorithm::Blake3.digest(bytes)
}
