//! The trait conformance suite (from `helios-types`, feature
//! `conformance`) run for MemStore and RocksStore: one test per case on a
//! fresh temporary directory, the whole suite under SHA-256 and with blob
//! files on, and the reopen cases.

use helios_objstore::{MemStore, RocksStore};
use helios_types::HashAlgorithm;
use helios_types::store::ObjectStore as _;
use helios_types::store::conformance;

use crate::common::{blob_config, create, reopen};

helios_types::conformance_tests!(|case: conformance::Case| {
    let dir = tempfile::tempdir().expect("tempdir");
    case(&create(dir.path(), HashAlgorithm::Blake3));
});

#[test]
fn rocks_store_passes_the_suite_with_sha256() {
    let mut dirs = Vec::new();
    conformance::run_all(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = create(dir.path(), HashAlgorithm::Sha256);
        dirs.push(dir);
        store
    });
}

#[test]
fn rocks_store_passes_the_suite_with_blob_files() {
    let mut dirs = Vec::new();
    conformance::run_all(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RocksStore::open(dir.path(), &blob_config(HashAlgorithm::Blake3))
            .expect("open with blob files");
        dirs.push(dir);
        store
    });
}

#[test]
fn mem_store_passes_the_suite() {
    conformance::run_all(|| MemStore::new(HashAlgorithm::Blake3));
}

#[test]
fn rocks_store_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), HashAlgorithm::Sha256);
    let store = conformance::survives_reopen(store, |s| {
        drop(s);
        reopen(dir.path())
    });
    // And once more after the memtables went to SST files.
    store.flush().expect("flush");
    let store = conformance::deletes_survive_reopen(store, |s| {
        drop(s);
        reopen(dir.path())
    });
    assert_eq!(store.algorithm(), HashAlgorithm::Sha256);
}

#[test]
fn rocks_store_with_blob_files_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = blob_config(HashAlgorithm::Blake3);
    let store = RocksStore::open(dir.path(), &config).expect("open");
    let store = conformance::survives_reopen(store, |s| {
        s.flush().expect("flush");
        drop(s);
        RocksStore::open(dir.path(), &config).expect("reopen")
    });
    let stats = store.stats().expect("stats");
    assert!(
        stats.blob_bytes > 0,
        "values of 1 KiB and more must have gone to blob files: {stats:?}"
    );
    conformance::deletes_survive_reopen(store, |s| {
        drop(s);
        RocksStore::open(dir.path(), &config).expect("reopen")
    });
}

#[test]
fn a_store_with_a_value_limit_passes_the_suite() {
    conformance::run_all(|| MemStore::with_max_value_len(HashAlgorithm::Blake3, 2 << 20));
}
