//! L2, the durable object store: [`RocksStore`] over RocksDB, and the
//! in-memory [`MemStore`] (defined beside the contract in `helios-types`
//! so every layer can test against it, re-exported here), both implementing
//! [`helios_types::store::ObjectStore`].
//!
//! This is the only crate that links RocksDB, and no RocksDB type crosses
//! its API: opening fails with [`OpenError`], every later operation with the
//! contract's [`StoreError`](helios_types::store::StoreError), RocksDB's own
//! error boxed inside either.
//!
//! ```no_run
//! use helios_objstore::{RocksConfig, RocksStore};
//! use helios_types::store::{ObjectStore, WriteBatch, WriteMode};
//! use helios_types::{Blob, HashAlgorithm};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RocksStore::open("/tmp/store", &RocksConfig::create(HashAlgorithm::Blake3))?;
//! let encoded = Blob::new(&b"hello"[..]).encode();
//! let hash = store.algorithm().digest(&encoded);
//! let mut batch = WriteBatch::new();
//! batch.put_object(hash, encoded.clone()).put_meta(b"ref/main".to_vec(), hash.as_bytes().to_vec());
//! store.write(batch, WriteMode::Sync)?; // returns after the WAL is on disk
//! assert_eq!(store.get(&hash)?, Some(encoded));
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
mod rocks;

pub use config::{BlobFiles, Compression, RocksConfig};
pub use error::OpenError;
pub use helios_types::store::MemStore;
pub use rocks::{
    BULK_CF, CLOSE_FLUSH_BYTES, CLOSE_FLUSH_WAL_FILES, FORMAT_VERSION, META_CF, OBJECTS_CF,
    OLDEST_READABLE_FORMAT, RocksStats, RocksStore,
};
