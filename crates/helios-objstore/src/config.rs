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
/// them uncompressed, so compressing SST blocks (and blob files) is the
/// first and only compression of those bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Store blocks as they are.
    None,
    /// LZ4: fast both ways, no entropy coding.
    #[default]
    Lz4,
    /// Zstandard (level 3): slower to write, about as fast to read, and on
    /// source-like text 40 % smaller than LZ4.
    Zstd,
}

/// RocksDB's integrated BlobDB: values of at least `min_blob_size` bytes
/// live in separate blob files and only a pointer stays in the LSM tree, so
/// compactions stop rewriting large file contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobFiles {
    /// Values this long or longer go to blob files. At least 1, at most
    /// `blob_file_size` (a larger threshold would send nothing to blob
    /// files: leave `blob_files` at `None` for that). The default, 8 KiB,
    /// is the shortest chunk of a large file
    /// ([`CHUNK_MIN`](helios_types::file::CHUNK_MIN)), so every chunk but a
    /// file's short last one lives in blob files.
    pub min_blob_size: u64,
    /// Target size of one blob file. At least 1 MiB, at most
    /// [`RocksConfig::MAX_BLOB_FILE_SIZE`].
    pub blob_file_size: u64,
    /// Whether [`RocksStore::compact`](crate::RocksStore::compact) (what
    /// `helios gc` runs after collecting) rewrites the oldest quarter of
    /// blob files to reclaim the values deleted from them. RocksDB's own
    /// compactions never do: they run while a large file is committed, and
    /// relocating the blobs that commit just wrote (the newest files are
    /// the oldest quarter of a young store) read and wrote them again, a
    /// third of a 1 GiB commit's CPU (docs/BENCHMARKS.md, "Large files").
    pub garbage_collection: bool,
    /// Compression of blob files. RocksDB compresses every blob with it
    /// and keeps the result even when it is larger (no per-blob fallback,
    /// unlike SST blocks), so incompressible content (archives, media,
    /// model weights: what large files mostly are) would pay LZ4 on every
    /// write and read for nothing. The default is none; see
    /// docs/BENCHMARKS.md, "Large files".
    pub compression: Compression,
}

impl Default for BlobFiles {
    fn default() -> Self {
        BlobFiles {
            min_blob_size: u64::from(helios_types::file::CHUNK_MIN),
            blob_file_size: 256 << 20,
            garbage_collection: true,
            compression: Compression::None,
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
    /// Open for reading only: no lock is taken (a process holding the store
    /// for writing does not stop it), no file is created or changed, and
    /// every write is refused. The store must exist (`create_if_missing` is
    /// ignored); what the writer has in its WAL is read too.
    pub read_only: bool,
    /// The hash algorithm the caller expects. `None` accepts whatever the
    /// store recorded (BLAKE3 for a new store); `Some` must equal the
    /// recorded one, else [`OpenError::AlgorithmMismatch`].
    pub algorithm: Option<HashAlgorithm>,
    /// Bytes of the shared LRU block cache (decompressed data, index and
    /// filter blocks). At least 1 MiB, at most
    /// [`MAX_BLOCK_CACHE_BYTES`](Self::MAX_BLOCK_CACHE_BYTES).
    pub block_cache_bytes: usize,
    /// Bloom filter bits per key for the objects and meta column families;
    /// 0 disables the filter. At most 32. Ten bits give about 1% false
    /// positives, so a `contains` of an absent hash rarely touches a data block.
    pub bloom_bits_per_key: u32,
    /// Compression of SST blocks above the bottommost level (fresh data,
    /// rewritten by compaction soon) and of blob files.
    pub compression: Compression,
    /// Compression of the bottommost level, where most bytes end up and
    /// stay: written once per compaction into it, read many times.
    pub bottommost_compression: Compression,
    /// Blob files for the bulk column family (on by default,
    /// [`BlobFiles::default`]); `None` keeps every value in the LSM tree.
    /// Blob files are where a large file's chunks are written once:
    /// unlogged ([`WriteMode::Unlogged`](helios_types::store::WriteMode)),
    /// they go to the bulk family, from its memtable straight into a blob
    /// file at the flush, and compaction moves only their pointers.
    /// Measured with the `objstore` bench (3,300 values of 16–144 KiB,
    /// release build, 2026-12-03): blob files cut write + flush +
    /// compaction from 2.33 s to 1.54 s, but raised the large point read
    /// from 50 / 122 µs to 73 / 168 µs (P50 / P99). Every other object
    /// (source files of any size below the chunking threshold, trees)
    /// stays in the `objects` family's LSM tree, where it is compressed.
    /// RocksDB does not compress blob files by default (see
    /// [`BlobFiles::compression`]); the store compresses a chunk itself
    /// when that pays, deciding chunk by chunk.
    pub blob_files: Option<BlobFiles>,
    /// Bytes of one memtable before it is flushed. At least 1 MiB, at most
    /// [`MAX_WRITE_BUFFER_BYTES`](Self::MAX_WRITE_BUFFER_BYTES).
    pub write_buffer_bytes: usize,
    /// SST files kept open at once. Bounded so that opening a large store
    /// does not open (and read the footer of) every file up front. At least
    /// 16, at most [`MAX_OPEN_FILES`](Self::MAX_OPEN_FILES).
    pub max_open_files: u32,
    /// Background flush and compaction threads. 1..=16.
    pub background_jobs: u32,
    /// A bloom filter over each memtable of the objects family (when
    /// [`bloom_bits_per_key`](Self::bloom_bits_per_key) is not 0), which
    /// answers `contains` of absent keys without a skiplist search while
    /// writes accumulate. It is allocated and zeroed whole with each
    /// memtable (1.6 MiB for 32 MiB buffers), which pays off in a process
    /// that writes much, not in one that opens the store to write a
    /// handful of keys and exit (about 2 ms of such a process's 15 ms).
    pub memtable_bloom: bool,
    /// Run compactions at the lowest CPU priority (nice 19), so that a
    /// call in the foreground never waits for a core behind one. For a
    /// long-lived owner of the store on few cores: on this 2-core machine,
    /// a `helios serve` scanning 100,000 files per commit took 199 ms P50
    /// and 845 ms P99 with compactions at normal priority, and 153 / 413 ms
    /// with them at nice 19 (docs/BENCHMARKS.md). Compactions then run when
    /// a core is idle; under load that never lets up, level 0 grows until
    /// RocksDB slows writes down, which frees the cores again. The
    /// priority belongs to RocksDB's default environment, shared by every
    /// store of the process.
    pub low_priority_compactions: bool,
}

impl Default for RocksConfig {
    fn default() -> Self {
        RocksConfig {
            create_if_missing: false,
            read_only: false,
            algorithm: None,
            block_cache_bytes: 64 << 20,
            bloom_bits_per_key: 10,
            compression: Compression::Lz4,
            bottommost_compression: Compression::Zstd,
            blob_files: Some(BlobFiles::default()),
            write_buffer_bytes: 64 << 20,
            max_open_files: 512,
            background_jobs: 2,
            memtable_bloom: true,
            low_priority_compactions: false,
        }
    }
}

impl RocksConfig {
    /// Upper bound of [`block_cache_bytes`](Self::block_cache_bytes): 64 GiB,
    /// a thousand times the default. More is taken for a unit mistake.
    pub const MAX_BLOCK_CACHE_BYTES: u64 = 64 << 30;

    /// Upper bound of [`write_buffer_bytes`](Self::write_buffer_bytes):
    /// 4 GiB. Each column family may hold two full memtables, an open
    /// replays unflushed ones into memory, and RocksDB silently clips
    /// anything above 64 GiB, so a larger value never means what it says.
    pub const MAX_WRITE_BUFFER_BYTES: u64 = 4 << 30;

    /// Upper bound of [`BlobFiles::blob_file_size`]: 4 GiB, sixteen times
    /// RocksDB's default; blob garbage collection rewrites whole files.
    pub const MAX_BLOB_FILE_SIZE: u64 = 4 << 30;

    /// Upper bound of [`max_open_files`](Self::max_open_files): Linux's
    /// default ceiling on descriptors per process (`fs.nr_open`).
    pub const MAX_OPEN_FILES: u32 = 1 << 20;

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
        const MIB: u64 = 1 << 20;
        let cache = wide(self.block_cache_bytes);
        in_range(
            "block_cache_bytes",
            cache,
            MIB,
            Self::MAX_BLOCK_CACHE_BYTES,
            bytes,
        )?;
        let bloom = u64::from(self.bloom_bits_per_key);
        in_range("bloom_bits_per_key", bloom, 0, 32, count)?;
        let buffer = self.write_buffer_u64();
        in_range(
            "write_buffer_bytes",
            buffer,
            MIB,
            Self::MAX_WRITE_BUFFER_BYTES,
            bytes,
        )?;
        let files = u64::from(self.max_open_files);
        in_range(
            "max_open_files",
            files,
            16,
            u64::from(Self::MAX_OPEN_FILES),
            count,
        )?;
        in_range(
            "background_jobs",
            u64::from(self.background_jobs),
            1,
            16,
            count,
        )?;
        if let Some(blob) = &self.blob_files {
            let (min, file) = (blob.min_blob_size, blob.blob_file_size);
            in_range(
                "blob_files.blob_file_size",
                file,
                MIB,
                Self::MAX_BLOB_FILE_SIZE,
                bytes,
            )?;
            in_range("blob_files.min_blob_size", min, 1, file, bytes)?;
        }
        Ok(())
    }

    /// [`write_buffer_bytes`](Self::write_buffer_bytes) as `u64`, for the
    /// limits RocksDB takes in `u64`.
    pub(crate) fn write_buffer_u64(&self) -> u64 {
        wide(self.write_buffer_bytes)
    }
}

/// `n` as `u64`, saturating on a (hypothetical) target with a wider `usize`.
fn wide(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// `Ok` when `min <= value <= max`, else the typed error naming `field`,
/// with the bound written by `show`.
fn in_range(
    field: &'static str,
    value: u64,
    min: u64,
    max: u64,
    show: fn(u64) -> String,
) -> Result<(), OpenError> {
    let reason = if value < min {
        format!("{value} is below {}", show(min))
    } else if value > max {
        format!("{value} is above {}", show(max))
    } else {
        return Ok(());
    };
    Err(OpenError::InvalidConfig { field, reason })
}

/// A byte bound, in GiB or MiB when it is a whole number of them.
fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}

/// A bound that counts things.
fn count(n: u64) -> String {
    n.to_string()
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

    /// Every size has an upper bound: one past it is refused naming the
    /// field, the bound itself is accepted, and `usize::MAX` (which used to
    /// overflow the WAL limit computed from the write buffer) is refused.
    #[test]
    fn sizes_above_their_bound_are_refused_and_the_bound_is_accepted() {
        let blob = |min_blob_size: u64, blob_file_size: u64| RocksConfig {
            blob_files: Some(BlobFiles {
                min_blob_size,
                blob_file_size,
                ..BlobFiles::default()
            }),
            ..RocksConfig::default()
        };
        let cache = |block_cache_bytes: usize| RocksConfig {
            block_cache_bytes,
            ..RocksConfig::default()
        };
        let buffer = |write_buffer_bytes: usize| RocksConfig {
            write_buffer_bytes,
            ..RocksConfig::default()
        };
        let files = |max_open_files: u32| RocksConfig {
            max_open_files,
            ..RocksConfig::default()
        };
        let max_cache = usize::try_from(RocksConfig::MAX_BLOCK_CACHE_BYTES).unwrap_or(usize::MAX);
        let max_buffer = usize::try_from(RocksConfig::MAX_WRITE_BUFFER_BYTES).unwrap_or(usize::MAX);
        let max_file = RocksConfig::MAX_BLOB_FILE_SIZE;
        let too_big: Vec<(&str, RocksConfig)> = vec![
            ("block_cache_bytes", cache(max_cache + 1)),
            ("block_cache_bytes", cache(usize::MAX)),
            ("write_buffer_bytes", buffer(max_buffer + 1)),
            ("write_buffer_bytes", buffer(usize::MAX)),
            ("max_open_files", files(RocksConfig::MAX_OPEN_FILES + 1)),
            ("max_open_files", files(u32::MAX)),
            ("blob_files.blob_file_size", blob(1024, max_file + 1)),
            ("blob_files.blob_file_size", blob(1024, u64::MAX)),
            ("blob_files.min_blob_size", blob((1 << 20) + 1, 1 << 20)),
            ("blob_files.min_blob_size", blob(u64::MAX, max_file)),
        ];
        for (name, config) in too_big {
            match config.validate() {
                Err(OpenError::InvalidConfig { field, reason }) => {
                    assert_eq!(field, name, "{reason}");
                    assert!(reason.contains("above"), "{name}: {reason}");
                }
                other => panic!("{name}: expected InvalidConfig, got {other:?}"),
            }
        }
        for (name, config) in [
            ("block_cache_bytes", cache(max_cache)),
            ("write_buffer_bytes", buffer(max_buffer)),
            ("max_open_files", files(RocksConfig::MAX_OPEN_FILES)),
            ("blob_files", blob(max_file, max_file)),
        ] {
            assert!(
                config.validate().is_ok(),
                "{name} at its bound must be valid"
            );
        }
    }
}
