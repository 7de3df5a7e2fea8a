//! [`RocksConfig`]: the typed, validated tuning of a [`RocksStore`](crate::RocksStore).
//!
//! Plain data with defaults measured on this project's machines; every
//! field is checked by [`RocksConfig::validate`] before RocksDB sees it, so a
//! bad value is an [`OpenError::InvalidConfig`] naming the field, never a
//! RocksDB abort.

use helios_types::HashAlgorithm;

use crate::error::OpenError;

/// Block compression on disk.
///
/// L1 compresses objects with LZ4 only while they sit in memory; L2 receives
/// them uncompressed, so compressing SST blocks (and blob files) with LZ4 is
/// the first and only compression of those bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Store blocks as they are.
    None,
    /// LZ4 (the only codec compiled into RocksDB here).
    #[default]
    Lz4,
}

/// RocksDB's integrated BlobDB: values of at least `min_blob_size` bytes
/// live in separate blob files and only a pointer stays in the LSM tree, so
/// compactions stop rewriting large file contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobFiles {
    /// Values this long or longer go to blob files. At least 1.
    pub min_blob_size: u64,
    /// Target size of one blob file. At least 1 MiB.
    pub blob_file_size: u64,
    /// Whether compaction rewrites old blob files to reclaim deleted values.
    pub garbage_collection: bool,
}

impl Default for BlobFiles {
    fn default() -> Self {
        BlobFiles {
            min_blob_size: 64 * 1024,
            blob_file_size: 256 << 20,
            garbage_collection: true,
        }
    }
}

/// How a [`RocksStore`](crate::RocksStore) is opened and tuned.
///
/// `RocksConfig::default()` opens an existing store; set
/// [`create_if_missing`](Self::create_if_missing) (or use
/// [`RocksConfig::create`]) to make one.
#[derive(Debug, Clone, PartialEq)]
pub struct RocksConfig {
    /// Create the directory and an empty store if none is there. When false,
    /// opening a path without a store is [`OpenError::NotFound`].
    pub create_if_missing: bool,
    /// The hash algorithm the caller expects. `None` accepts whatever the
    /// store recorded (BLAKE3 for a new store); `Some` must equal the
    /// recorded one, else [`OpenError::AlgorithmMismatch`].
    pub algorithm: Option<HashAlgorithm>,
    /// Bytes of the shared LRU block cache (decompressed data, index and
    /// filter blocks). At least 1 MiB.
    pub block_cache_bytes: usize,
    /// Bloom filter bits per key for the objects and meta column families;
    /// 0 disables the filter. At most 32. Ten bits give about 1% false
    /// positives, so a `contains` of an absent hash rarely touches a data block.
    pub bloom_bits_per_key: u32,
    /// Compression of SST blocks and blob files.
    pub compression: Compression,
    /// Blob files for large values; `None` (the default) keeps every value
    /// in the LSM tree. Measured with the `objstore` bench (3300 source-like
    /// values of 16–144 KiB, debug build on a loaded 2-core machine): blob
    /// files on cut write + flush + compaction from 4.1 s to 2.3 s, left disk
    /// use equal (LZ4 either way), but raised the median large point read
    /// from 65 µs to 88 µs. Commits of source files are mostly small values,
    /// so the default stays off until a release-build measurement says
    /// otherwise; turn it on for workspaces of large files.
    pub blob_files: Option<BlobFiles>,
    /// Bytes of one memtable before it is flushed. At least 1 MiB.
    pub write_buffer_bytes: usize,
    /// SST files kept open at once. Bounded so that opening a large store
    /// does not open (and read the footer of) every file up front. At least 16.
    pub max_open_files: u32,
    /// Background flush and compaction threads. 1..=16.
    pub background_jobs: u32,
}

impl Default for RocksConfig {
    fn default() -> Self {
        RocksConfig {
            create_if_missing: false,
            algorithm: None,
            block_cache_bytes: 64 << 20,
            bloom_bits_per_key: 10,
            compression: Compression::Lz4,
            blob_files: None,
            write_buffer_bytes: 64 << 20,
            max_open_files: 512,
            background_jobs: 2,
        }
    }
}

impl RocksConfig {
    /// The default configuration that creates the store if it is missing,
    /// hashing new stores with `algorithm`.
    pub fn create(algorithm: HashAlgorithm) -> Self {
        RocksConfig {
            create_if_missing: true,
            algorithm: Some(algorithm),
            ..Self::default()
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), OpenError> {
        let bad =
            |field: &'static str, reason: String| Err(OpenError::InvalidConfig { field, reason });
        if self.block_cache_bytes < 1 << 20 {
            return bad(
                "block_cache_bytes",
                format!("{} is below 1 MiB", self.block_cache_bytes),
            );
        }
        if self.bloom_bits_per_key > 32 {
            return bad(
                "bloom_bits_per_key",
                format!("{} is above 32", self.bloom_bits_per_key),
            );
        }
        if self.write_buffer_bytes < 1 << 20 {
            return bad(
                "write_buffer_bytes",
                format!("{} is below 1 MiB", self.write_buffer_bytes),
            );
        }
        if self.max_open_files < 16 {
            return bad(
                "max_open_files",
                format!("{} is below 16", self.max_open_files),
            );
        }
        if !(1..=16).contains(&self.background_jobs) {
            return bad(
                "background_jobs",
                format!("{} is not in 1..=16", self.background_jobs),
            );
        }
        if let Some(blob) = &self.blob_files {
            if blob.min_blob_size == 0 {
                return bad("blob_files.min_blob_size", "must be at least 1".to_owned());
            }
            if blob.blob_file_size < 1 << 20 {
                return bad(
                    "blob_files.blob_file_size",
                    format!("{} is below 1 MiB", blob.blob_file_size),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_each_bad_field_is_named() {
        assert!(RocksConfig::default().validate().is_ok());
        assert!(
            RocksConfig::create(HashAlgorithm::Sha256)
                .validate()
                .is_ok()
        );
        let cases: Vec<(&str, RocksConfig)> = vec![
            (
                "block_cache_bytes",
                RocksConfig {
                    block_cache_bytes: 10,
                    ..RocksConfig::default()
                },
            ),
            (
                "bloom_bits_per_key",
                RocksConfig {
                    bloom_bits_per_key: 33,
                    ..RocksConfig::default()
                },
            ),
            (
                "write_buffer_bytes",
                RocksConfig {
                    write_buffer_bytes: 0,
                    ..RocksConfig::default()
                },
            ),
            (
                "max_open_files",
                RocksConfig {
                    max_open_files: 3,
                    ..RocksConfig::default()
                },
            ),
            (
                "background_jobs",
                RocksConfig {
                    background_jobs: 0,
                    ..RocksConfig::default()
                },
            ),
            (
                "background_jobs",
                RocksConfig {
                    background_jobs: 17,
                    ..RocksConfig::default()
                },
            ),
            (
                "blob_files.min_blob_size",
                RocksConfig {
                    blob_files: Some(BlobFiles {
                        min_blob_size: 0,
                        ..BlobFiles::default()
                    }),
                    ..RocksConfig::default()
                },
            ),
            (
                "blob_files.blob_file_size",
                RocksConfig {
                    blob_files: Some(BlobFiles {
                        blob_file_size: 5,
                        ..BlobFiles::default()
                    }),
                    ..RocksConfig::default()
                },
            ),
        ];
        for (name, config) in cases {
            match config.validate() {
                Err(OpenError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: expected InvalidConfig, got {other:?}"),
            }
        }
    }
}
