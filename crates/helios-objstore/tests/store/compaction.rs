//! Compaction settles every block under the bottommost codec: zstd with a
//! trained dictionary by default, which must shrink source-like objects
//! below what LZ4 stores, and read every one back exactly.

use helios_objstore::{Compression, RocksConfig, RocksStore};
use helios_types::HashAlgorithm;
use helios_types::store::{ObjectStore, WriteBatch, WriteMode};

use crate::common::{blob, disk_bytes, source_object};

/// Writes 3,000 objects into a fresh store with `bottommost` as the
/// bottommost codec, compacts, checks every object, and returns the bytes
/// on disk.
fn compacted_size(bottommost: Compression) -> u64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = RocksConfig {
        bottommost_compression: bottommost,
        ..RocksConfig::create(HashAlgorithm::Blake3)
    };
    let store = RocksStore::open(dir.path(), &config).expect("open");
    let mut written = Vec::new();
    let mut batch = WriteBatch::new();
    for i in 0..3_000 {
        let (hash, encoded) = blob(&store, &source_object(i));
        batch.put_object(hash, encoded.clone());
        written.push((hash, encoded));
    }
    store.write(batch, WriteMode::Sync).expect("write");
    store.compact().expect("compact");
    for (hash, encoded) in &written {
        assert_eq!(store.get(hash).expect("get").as_ref(), Some(encoded));
    }
    store.close().expect("close");
    let reopened = RocksStore::open(dir.path(), &RocksConfig::default()).expect("reopen");
    let (hash, encoded) = &written[1234];
    assert_eq!(reopened.get(hash).expect("get").as_ref(), Some(encoded));
    drop(reopened);
    disk_bytes(dir.path())
}

#[test]
fn the_bottommost_level_is_stored_smaller_with_zstd_and_reads_back() {
    assert_eq!(
        RocksConfig::default().bottommost_compression,
        Compression::Zstd
    );
    let lz4 = compacted_size(Compression::Lz4);
    let zstd = compacted_size(Compression::Zstd);
    assert!(
        zstd * 10 < lz4 * 8,
        "zstd {zstd} bytes should be at least 20 % below LZ4's {lz4}"
    );
}
