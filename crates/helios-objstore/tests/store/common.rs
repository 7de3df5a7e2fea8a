//! Helpers shared by the test modules: stores in temporary directories,
//! deterministic data, and object construction.

use std::path::Path;

use helios_objstore::{BlobFiles, RocksConfig, RocksStore};
use helios_types::store::ObjectStore;
use helios_types::{Blob, Hash, HashAlgorithm};

/// Opens (creating) a store in `dir`, failing the test with the error.
pub(crate) fn create(dir: &Path, alg: HashAlgorithm) -> RocksStore {
    RocksStore::open(dir, &RocksConfig::create(alg))
        .unwrap_or_else(|e| panic!("create store in {dir:?}: {e}"))
}

/// Reopens an existing store with the default configuration.
pub(crate) fn reopen(dir: &Path) -> RocksStore {
    RocksStore::open(dir, &RocksConfig::default())
        .unwrap_or_else(|e| panic!("reopen store in {dir:?}: {e}"))
}

/// A configuration with blob files on for values of 1 KiB and more.
pub(crate) fn blob_config(alg: HashAlgorithm) -> RocksConfig {
    RocksConfig {
        blob_files: Some(BlobFiles {
            min_blob_size: 1024,
            ..BlobFiles::default()
        }),
        ..RocksConfig::create(alg)
    }
}

/// A small xorshift generator: deterministic data without a dependency.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// Seeds the generator (any seed; zero is mapped away).
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `len` random bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64().to_le_bytes()[0]).collect()
    }
}

/// A blob holding `data`, encoded, with its hash under `store`'s algorithm.
pub(crate) fn blob(store: &dyn ObjectStore, data: &[u8]) -> (Hash, Vec<u8>) {
    let encoded = Blob::new(data).encode();
    (store.algorithm().digest(&encoded), encoded)
}

/// Total bytes of the files under `dir`.
pub(crate) fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
