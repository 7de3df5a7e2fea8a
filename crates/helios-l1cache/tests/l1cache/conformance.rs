//! The object-store conformance suite (from `helios-types`, feature
//! `conformance`) over `L1Cache<MemStore>`: one test per case with the
//! default arena, and the whole suite again over an arena small enough to
//! evict on almost every write, and under SHA-256.

use helios_l1cache::{L1Cache, L1Config, MIN_SHARD_CAPACITY};
use helios_types::HashAlgorithm;
use helios_types::store::MemStore;
use helios_types::store::conformance;

/// The wrapper as the engine builds it: default arena over a fresh store.
fn cached(algorithm: HashAlgorithm, config: L1Config) -> L1Cache<MemStore> {
    L1Cache::new(MemStore::new(algorithm), config).expect("valid L1 configuration")
}

helios_types::conformance_tests!(|case: conformance::Case| {
    case(&cached(
        HashAlgorithm::Blake3,
        L1Config::with_capacity(4 << 20),
    ));
});

#[test]
fn the_suite_passes_over_an_arena_that_evicts_constantly() {
    // Two 4 KiB rings: the suite's objects keep pushing each other out, so
    // reads go through misses, fills and evictions, not just hits.
    let tiny = L1Config {
        capacity: 2 * MIN_SHARD_CAPACITY,
        shards: 2,
        ..L1Config::default()
    };
    let mut evictions = 0;
    for (_, case) in conformance::CASES {
        let store = cached(HashAlgorithm::Blake3, tiny.clone());
        case(&store);
        evictions += store.stats().evictions;
    }
    assert!(evictions > 0, "the suite must have run under eviction");
}

#[test]
fn the_suite_passes_with_sha256_and_hit_verification() {
    let config = L1Config {
        verify_hits: Some(HashAlgorithm::Sha256),
        ..L1Config::with_capacity(1 << 20)
    };
    conformance::run_all(|| cached(HashAlgorithm::Sha256, config.clone()));
}
