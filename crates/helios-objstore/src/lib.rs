//! L2, the durable object store: RocksStore over RocksDB and MemStore for tests, both implementing helios_types::store::ObjectStore. The only crate that links RocksDB. Filled by the L2 issue.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
