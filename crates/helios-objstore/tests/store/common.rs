//! Helpers shared by the test modules: stores in temporary directories,
//! deterministic data, and object construction.

use std::path::Path;

use helios_objstore::{BlobFiles, META_CF, OBJECTS_CF, RocksConfig, RocksStore};
use helios_types::store::{ObjectStore, WriteBatch, WriteMode};
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

/// Opens a closed store's directory with RocksDB directly, all three
/// column families, to change it behind the store's back.
pub(crate) fn raw_open(dir: &Path) -> rocksdb::DB {
    let options = rocksdb::Options::default();
    let cfs = rocksdb::DB::list_cf(&options, dir).unwrap_or_else(|_| {
        [rocksdb::DEFAULT_COLUMN_FAMILY_NAME, OBJECTS_CF, META_CF]
            .map(str::to_owned)
            .to_vec()
    });
    rocksdb::DB::open_cf(&options, dir, cfs).unwrap_or_else(|e| panic!("raw open of {dir:?}: {e}"))
}

/// Writes `value` under `hash` in the objects column family of a closed
/// store, bypassing every check.
pub(crate) fn raw_put_object(dir: &Path, hash: &Hash, value: &[u8]) {
    let db = raw_open(dir);
    let cf = db.cf_handle(OBJECTS_CF).expect("objects column family");
    db.put_cf(cf, hash.as_bytes(), value)
        .unwrap_or_else(|e| panic!("raw put in {dir:?}: {e}"));
}

/// Creates a plain RocksDB database in `dir` (the default column family
/// only): what is left by a creation cut short, or a foreign database.
pub(crate) fn raw_create(dir: &Path) -> rocksdb::DB {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    rocksdb::DB::open(&opts, dir).unwrap_or_else(|e| panic!("raw create in {dir:?}: {e}"))
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

/// Object `i`: a source-like blob of 64..=2111 bytes (mean about 1 KiB),
/// compressible as code is.
pub(crate) fn source_object(i: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "fn ", "let ", "mut ", "self", ".value", "(index)", "{\n", "}\n", " -> ", "match ",
    ];
    let mut rng = Rng::new(i + 1);
    let len = 64 + usize::try_from(rng.below(2048)).unwrap_or(0);
    let mut out = format!("// object {i}\n").into_bytes();
    while out.len() < len {
        let word = usize::try_from(rng.below(WORDS.len() as u64)).unwrap_or(0);
        out.extend_from_slice(WORDS[word].as_bytes());
    }
    out.truncate(len);
    out
}

/// Writes each of `data` as a large file's chunks are written (unlogged,
/// then synced), adding it to `written`.
pub(crate) fn write_unlogged(
    store: &RocksStore,
    data: impl IntoIterator<Item = Vec<u8>>,
    written: &mut Vec<(Hash, Vec<u8>)>,
) {
    let mut batch = WriteBatch::new();
    for bytes in data {
        let (hash, encoded) = blob(store, &bytes);
        batch.put_object(hash, encoded.clone());
        written.push((hash, encoded));
    }
    store
        .write(batch, WriteMode::Unlogged)
        .expect("write chunks");
    store.sync().expect("sync");
}
