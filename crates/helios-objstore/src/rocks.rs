//! [`RocksStore`]: the object-store contract on RocksDB.
//!
//! # On-disk layout (format version 2)
//!
//! Four column families:
//!
//! - `objects` ([`OBJECTS_CF`]): key = the 32 raw hash bytes, value = the
//!   encoded object. The first value byte is the object kind tag, so
//!   iteration by kind filters on it (reading every value, see `objects`
//!   below); keys sort bytewise, which is hash order. Values stay in the
//!   LSM tree, compressed (zstd at the bottommost level, with a
//!   dictionary after `compact`).
//! - `bulk` ([`BULK_CF`]): the same keys and values for the content of
//!   large files, the chunks written [`WriteMode::Unlogged`], kept in blob
//!   files (see [`RocksConfig::blob_files`]). Apart so that the two kinds
//!   of content each get their storage: a source file of 20 KiB
//!   compresses to a fraction in `objects`, while chunks (mostly
//!   incompressible) are written once into blob files and never rewritten
//!   by compaction. A store written before this family existed gains it at
//!   its next read-write open; until then, reads find everything in
//!   `objects`. A chunk that compresses (a log, text data) is stored
//!   compressed, in a form of this family's own: the byte `0xff` (which
//!   starts no encoded object), its length (u32 LE), then the LZ4 block
//!   (see `bulk_value`).
//! - `meta` ([`META_CF`]): the engine's metadata namespace (snapshot records,
//!   refs, pins), keys and values opaque to this crate.
//! - `default`: the store's own configuration, `format_version` (u32 LE)
//!   and `hash_algorithm` (the algorithm's one-byte tag), written once at
//!   creation. Keeping it out of `meta` leaves that namespace wholly the
//!   engine's: no reserved keys, and a prefix scan of `""` lists only what
//!   the engine wrote.
//!
//! # Durability
//!
//! Every write goes through the write-ahead log as one RocksDB `WriteBatch`,
//! so a batch spanning both column families is applied whole or not at all,
//! including across a crash. [`WriteMode::Sync`] sets `sync = true` on the
//! write (it returns after the WAL is fsynced); [`WriteMode::Buffered`] does
//! not fsync (the WAL bytes are in the OS page cache when the call returns,
//! so they survive the process being killed, not a power loss).
//! [`ObjectStore::put`] and [`ObjectStore::delete_objects`] are buffered;
//! [`ObjectStore::sync`] fsyncs the WAL, making every earlier buffered write
//! durable.
//!
//! [`WriteMode::Unlogged`] (a large file's chunks) skips the WAL: the batch
//! goes to the memtable only, and RocksDB writes it once, at the flush,
//! into blob files (see [`RocksConfig::blob_files`]) that compaction never
//! rewrites. The store remembers that unlogged data is in memory, and
//! flushes the memtables (which fsyncs what they wrote) before the next
//! logged write and in `sync`: a logged write never survives a crash that
//! an earlier unlogged one did not.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use helios_types::store::{
    MetaIter, ObjectIter, ObjectStore, StoreError, StoreResult, WriteBatch, WriteMode,
    lz4_if_it_pays, verify_object,
};
use helios_types::{Hash, HashAlgorithm, ObjectKind};
use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, BottommostLevelCompaction, Cache, ColumnFamily,
    ColumnFamilyDescriptor, CompactOptions, DB, DBCompressionType, DBPinnableSlice, Direction, Env,
    IteratorMode, Options, ReadOptions, WaitForCompactOptions, WriteOptions,
};

use crate::config::{Compression, RocksConfig};
use crate::error::{OpenError, damage_err, open_err, read_err, store_err};

/// The object format this build writes (spec/object-format.md): version 2
/// added chunk lists for large files.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest format this build reads. Version 1 is a subset of version 2,
/// so a version 1 store is read as it is; its record is raised to
/// [`FORMAT_VERSION`] when it is opened (a version 1 build would refuse a
/// chunk list it finds later, so it must refuse the store instead).
pub const OLDEST_READABLE_FORMAT: u32 = 1;

/// Name of the column family holding objects.
pub const OBJECTS_CF: &str = "objects";

/// Name of the column family holding large files' chunks (see the module
/// docs).
pub const BULK_CF: &str = "bulk";

/// Name of the column family holding the engine's metadata.
pub const META_CF: &str = "meta";

/// Name of the column family holding the store's own configuration.
const CONFIG_CF: &str = rocksdb::DEFAULT_COLUMN_FAMILY_NAME;

const KEY_FORMAT: &[u8] = b"format_version";
const KEY_ALGORITHM: &[u8] = b"hash_algorithm";

/// A durable object store in a RocksDB directory.
///
/// Holds RocksDB's lock on the directory for as long as it lives: a second
/// open of the same directory, from this process or another, fails with
/// [`OpenError::Locked`]. Dropping the store releases the lock; buffered
/// writes are already in the WAL and are replayed on the next open.
pub struct RocksStore {
    db: DB,
    algorithm: HashAlgorithm,
    path: PathBuf,
    /// Opened with [`RocksConfig::read_only`]: writes are refused, and
    /// `sync` and `flush_if_large` have nothing to do.
    read_only: bool,
    /// Set after an [`WriteMode::Unlogged`] write, cleared by the flush that
    /// makes it durable (before the next logged write, or in `sync`).
    unlogged: AtomicBool,
    /// What [`RocksStore::compact`] does that RocksDB's own compactions
    /// do not.
    maintenance: Maintenance,
}

/// The work kept for [`RocksStore::compact`] (what `helios gc` runs after
/// collecting), off in the compactions RocksDB starts by itself. Those run
/// while a large file is committed: relocating the blobs that commit had
/// just written (the newest files are the oldest quarter of a young store)
/// and training a zstd dictionary for every small output file took two
/// thirds of RocksDB's background work in a 1 GiB commit
/// (docs/BENCHMARKS.md, "Large files"). `compact` rewrites the bottommost
/// level whole, so what it leaves is as small as before.
#[derive(Debug, Clone, Copy)]
struct Maintenance {
    /// [`BlobFiles::garbage_collection`](crate::BlobFiles::garbage_collection).
    blob_garbage_collection: bool,
    /// The bottommost level is zstd: train a dictionary per output file.
    zstd_dictionary: bool,
}

impl fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// Sizes and counts a store reports about itself (RocksDB estimates, cheap
/// to read: no scan).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RocksStats {
    /// Estimated number of objects (RocksDB's key estimate; exact only
    /// after compaction).
    pub estimated_objects: u64,
    /// Bytes of live SST files, all column families.
    pub sst_bytes: u64,
    /// Bytes of live blob files.
    pub blob_bytes: u64,
    /// Bytes held in memtables (written, not yet flushed to SST files).
    pub memtable_bytes: u64,
    /// SST files at level 0, all column families: flushed and not yet
    /// compacted (every point read that misses the memtable checks each).
    pub level0_files: u64,
}

/// Memtable bytes above which [`RocksStore::flush_if_large`] flushes.
pub const CLOSE_FLUSH_BYTES: u64 = 16 << 20;

/// How long [`RocksStore::finish_compactions`] waits at most (RocksDB
/// returns at once on a background error, such as a full disk).
const COMPACTION_WAIT_MICROS: u64 = 300_000_000;

/// Write-ahead log files above which [`RocksStore::flush_if_large`]
/// flushes, so that an open replays at most this many.
pub const CLOSE_FLUSH_WAL_FILES: usize = 2;

impl RocksStore {
    /// Opens the store at `path`, creating it when `config.create_if_missing`
    /// is set and nothing is there.
    ///
    /// Opening is cheap: RocksDB replays the WAL tail and reads the manifest;
    /// no object or metadata is scanned, statistics are not recomputed, and
    /// SST files are opened lazily (up to `config.max_open_files`).
    pub fn open(path: impl AsRef<Path>, config: &RocksConfig) -> Result<RocksStore, OpenError> {
        let path = path.as_ref();
        config.validate()?;
        match std::fs::metadata(path) {
            Ok(m) if !m.is_dir() => {
                return Err(OpenError::NotADirectory {
                    path: path.to_owned(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !config.create_if_missing || config.read_only {
                    return Err(OpenError::NotFound {
                        path: path.to_owned(),
                    });
                }
                std::fs::create_dir_all(path).map_err(|source| OpenError::Io {
                    op: "create directory",
                    path: path.to_owned(),
                    source,
                })?;
            }
            Err(source) => {
                return Err(OpenError::Io {
                    op: "stat",
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let exists = Self::exists(path)?;
        if !exists && (!config.create_if_missing || config.read_only) {
            return Err(OpenError::NotFound {
                path: path.to_owned(),
            });
        }

        // Past the check above, a missing store implies creation was asked
        // for. With creation asked for, missing column families are created
        // even when CURRENT exists: a process killed while creating the
        // store leaves RocksDB files without them, and this finishes the job.
        let create = config.create_if_missing && !config.read_only;
        let options = options(config, create).map_err(|e| open_err("build options", path, e))?;
        let open = |with_bulk| {
            let cfs = options.descriptors(with_bulk);
            if config.read_only {
                DB::open_cf_descriptors_read_only(&options.db, path, cfs, false)
            } else {
                DB::open_cf_descriptors(&options.db, path, cfs)
            }
        };
        let mut db = match open(true) {
            // A store from before the bulk family (see the module docs).
            Err(e) if is_missing_family(&e) => open(false),
            opened => opened,
        }
        .map_err(|e| open_err("open", path, e))?;
        let algorithm = read_or_init_config(&db, path, config)?;
        if !config.read_only && db.cf_handle(BULK_CF).is_none() {
            db.create_cf(BULK_CF, &options.bulk)
                .map_err(|e| open_err("add the bulk column family", path, e))?;
        }
        Ok(RocksStore {
            db,
            algorithm,
            path: path.to_owned(),
            read_only: config.read_only,
            unlogged: AtomicBool::new(false),
            maintenance: Maintenance {
                blob_garbage_collection: config
                    .blob_files
                    .is_some_and(|blob| blob.garbage_collection),
                zstd_dictionary: config.bottommost_compression == Compression::Zstd,
            },
        })
    }

    /// Whether `path` holds a store (RocksDB's `CURRENT` file is there),
    /// without opening it. The one place above RocksDB that knows its file
    /// names.
    pub fn exists(path: &Path) -> Result<bool, OpenError> {
        // Not `is_file`, which reads an unreadable directory as an empty
        // one and would report a store that is there as missing.
        let current = path.join("CURRENT");
        match std::fs::metadata(&current) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(OpenError::Io {
                op: "stat",
                path: current,
                source,
            }),
        }
    }

    /// Whether it was opened read-only ([`RocksConfig::read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fsyncs the WAL, then closes the store and releases its lock.
    /// Dropping closes too, without the fsync: buffered writes then survive
    /// a process exit but not a power loss.
    pub fn close(self) -> StoreResult<()> {
        self.sync()
    }

    /// Flushes memtables of every column family to SST files and waits. Not
    /// needed for durability (the WAL provides it); useful before measuring
    /// reads from disk and to shorten the WAL replay of the next open.
    pub fn flush(&self) -> StoreResult<()> {
        for cf in self.families(&[OBJECTS_CF, META_CF, BULK_CF])? {
            self.db
                .flush_cf(cf)
                .map_err(|e| store_err("flush memtable", e))?;
        }
        Ok(())
    }

    /// Flushes the memtables if an unlogged write may be in them only.
    /// Called before every logged write and in `sync`, so that what the
    /// WAL makes durable never names unlogged objects a crash would lose.
    /// The flag is cleared before the flush: an unlogged write racing with
    /// it sets the flag again (after its data is in the memtable), so it is
    /// flushed now or by the next call.
    fn flush_unlogged(&self) -> StoreResult<()> {
        if !self.unlogged.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let flushed = self.flush();
        if flushed.is_err() {
            self.unlogged.store(true, Ordering::SeqCst);
        }
        flushed
    }

    /// Called on a clean shutdown: flushes the memtables when they hold
    /// more than [`CLOSE_FLUSH_BYTES`], or when the next open would replay
    /// more than [`CLOSE_FLUSH_WAL_FILES`] write-ahead log files. Open
    /// replays unflushed writes from the WAL into memory (1.3 GB after a
    /// 1M-file import), while a small tail is cheaper to replay than to
    /// write out as one more SST file; but every open starts a new WAL file
    /// and a file is dropped only once its writes are flushed, so processes
    /// that each write a little (one `helios` command each) would pile up
    /// files that every later open reads again.
    pub fn flush_if_large(&self) -> StoreResult<()> {
        if self.read_only {
            return Ok(());
        }
        if self.stats()?.memtable_bytes > CLOSE_FLUSH_BYTES
            || self.wal_files() > CLOSE_FLUSH_WAL_FILES
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Called on a clean shutdown, after [`RocksStore::flush_if_large`]:
    /// waits for the compactions RocksDB has started or queued, if any.
    ///
    /// Closing cancels a running compaction and throws its output away. A
    /// process that lives for one command (one `helios commit`) is shorter
    /// than a compaction of a store of some size (1.2 s for 160 MB here),
    /// so every such process started the same compaction again, burned a
    /// core on it while the command ran, and threw it away; level 0 only
    /// grew (measured: 8 files, then 9, … each process rewriting all of
    /// them), and RocksDB stalls writes once it holds 20. Waiting makes the
    /// process that crosses the trigger pay once, as a long-lived one
    /// would in the background.
    pub fn finish_compactions(&self) -> StoreResult<()> {
        if self.read_only {
            return Ok(());
        }
        let mut due = false;
        for cf in self.families(&[OBJECTS_CF, META_CF, CONFIG_CF, BULK_CF])? {
            let pending = self
                .db
                .property_int_value_cf(cf, "rocksdb.compaction-pending")
                .map_err(|e| store_err("read property", e))?;
            due |= pending.unwrap_or(0) > 0;
        }
        let running = self
            .db
            .property_int_value("rocksdb.num-running-compactions")
            .map_err(|e| store_err("read property", e))?;
        if due || running.unwrap_or(0) > 0 {
            let mut options = WaitForCompactOptions::default();
            options.set_timeout(COMPACTION_WAIT_MICROS);
            self.db
                .wait_for_compact(&options)
                .map_err(|e| store_err("finish compactions", e))?;
        }
        Ok(())
    }

    /// Write-ahead log files in the store directory (RocksDB names them
    /// `NNNNNN.log`); 0 if the directory cannot be listed.
    pub fn wal_files(&self) -> usize {
        std::fs::read_dir(&self.path).map_or(0, |dir| {
            dir.flatten()
                .filter(|e| Path::new(&e.file_name()).extension() == Some("log".as_ref()))
                .count()
        })
    }

    /// Compacts the whole objects and meta column families and waits: drops
    /// overwritten re-puts and deleted objects from disk, and rewrites the
    /// bottommost level too, so every block ends under the bottommost codec
    /// (a store written before that codec changed included). Slow on a
    /// large store; for maintenance and benchmarks, never on the hot path.
    pub fn compact(&self) -> StoreResult<()> {
        self.flush()?;
        let mut options = CompactOptions::default();
        options.set_bottommost_level_compaction(BottommostLevelCompaction::ForceOptimized);
        self.set_maintenance(true)?;
        for cf in self.families(&[OBJECTS_CF, META_CF, BULK_CF])? {
            self.db
                .compact_range_cf_opt(cf, None::<&[u8]>, None::<&[u8]>, &options);
        }
        self.set_maintenance(false)
    }

    /// Turns [`Maintenance`] on or off for the compactions that start from
    /// now on (mutable options: no reopen).
    fn set_maintenance(&self, on: bool) -> StoreResult<()> {
        let set = |cf: &ColumnFamily, option: &str, value: &str| {
            self.db
                .set_options_cf(cf, &[(option, value)])
                .map_err(|e| store_err("set compaction options", e))
        };
        if self.maintenance.blob_garbage_collection {
            // `objects` too: a store from before the bulk family has blob
            // files there, which collection moves back into the tree.
            for cf in self.families(&[OBJECTS_CF, BULK_CF])? {
                set(cf, "enable_blob_garbage_collection", &on.to_string())?;
            }
        }
        if self.maintenance.zstd_dictionary {
            let (dict, train) = if on {
                (ZSTD_DICT_BYTES, ZSTD_TRAIN_BYTES)
            } else {
                (0, 0)
            };
            let value = format!("{{max_dict_bytes={dict};zstd_max_train_bytes={train}}}");
            for cf in self.families(&[OBJECTS_CF, META_CF])? {
                set(cf, "bottommost_compression_opts", &value)?;
            }
        }
        Ok(())
    }

    /// Cheap size estimates from RocksDB's properties.
    pub fn stats(&self) -> StoreResult<RocksStats> {
        let mut stats = RocksStats::default();
        for name in [OBJECTS_CF, META_CF, CONFIG_CF, BULK_CF] {
            let Some(cf) = self.family(name)? else {
                continue;
            };
            let prop = |p: &str| -> StoreResult<u64> {
                Ok(self
                    .db
                    .property_int_value_cf(cf, p)
                    .map_err(|e| store_err("read property", e))?
                    .unwrap_or(0))
            };
            if name == OBJECTS_CF || name == BULK_CF {
                stats.estimated_objects += prop("rocksdb.estimate-num-keys")?;
            }
            stats.sst_bytes += prop("rocksdb.total-sst-files-size")?;
            stats.blob_bytes += prop("rocksdb.total-blob-file-size")?;
            stats.memtable_bytes += prop("rocksdb.cur-size-all-mem-tables")?;
            stats.level0_files += prop("rocksdb.num-files-at-level0")?;
        }
        Ok(stats)
    }

    /// The result of looking up `hash`, verified while RocksDB still pins
    /// the value and then copied out once; the one read path of `get` and
    /// `get_many`.
    fn verified(
        &self,
        op: &'static str,
        hash: &Hash,
        found: Result<Option<DBPinnableSlice<'_>>, rocksdb::Error>,
        bulk: bool,
    ) -> StoreResult<Option<Vec<u8>>> {
        match found {
            Ok(None) => Ok(None),
            Ok(Some(value)) => {
                let encoded = if bulk {
                    from_bulk(hash, &value)?
                } else {
                    Cow::Borrowed(&value[..])
                };
                verify_object(self.algorithm, hash, &encoded)?;
                Ok(Some(encoded.into_owned()))
            }
            Err(e) => Err(read_err(op, hash, e)),
        }
    }

    fn cf(&self, name: &'static str) -> StoreResult<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| {
            StoreError::backend("column family", format!("column family {name} is missing"))
        })
    }

    /// The column family `name`; `None` for the bulk family of a store
    /// from before it (opened read-only: a read-write open adds it).
    fn family(&self, name: &'static str) -> StoreResult<Option<&ColumnFamily>> {
        match self.db.cf_handle(name) {
            None if name == BULK_CF => Ok(None),
            _ => self.cf(name).map(Some),
        }
    }

    /// The column families of `names` that the store has (see
    /// [`RocksStore::family`]).
    fn families(&self, names: &[&'static str]) -> StoreResult<Vec<&ColumnFamily>> {
        let mut cfs = Vec::with_capacity(names.len());
        for name in names {
            cfs.extend(self.family(name)?);
        }
        Ok(cfs)
    }

    /// The families an object may be in, `objects` first (small objects
    /// are the hot path; a chunk costs one bloom-filter miss there).
    fn object_families(&self) -> StoreResult<ObjectFamilies<'_>> {
        Ok(ObjectFamilies {
            objects: self.cf(OBJECTS_CF)?,
            bulk: self.family(BULK_CF)?,
        })
    }
}

/// The column families objects live in (see the module docs).
#[derive(Clone, Copy)]
struct ObjectFamilies<'a> {
    objects: &'a ColumnFamily,
    /// `None` in a store from before the bulk family, opened read-only.
    bulk: Option<&'a ColumnFamily>,
}

impl<'a> ObjectFamilies<'a> {
    /// Both, `objects` first, each with whether it is the bulk family
    /// (whose values may be compressed: [`from_bulk`]).
    fn all(self) -> impl Iterator<Item = (&'a ColumnFamily, bool)> {
        std::iter::once((self.objects, false)).chain(self.bulk.map(|cf| (cf, true)))
    }
}

/// The first byte of a bulk value stored compressed. Encoded objects start
/// with their kind's tag (1 to 4), never this.
const BULK_LZ4: u8 = 0xff;

/// A bulk value is stored compressed when that saves an eighth of it.
const BULK_SAVING: usize = 8;

/// Bytes of a chunk's start that LZ4 tries first: an incompressible chunk
/// (what most large files are made of) then costs LZ4 on 4 KiB of it, not
/// on all of it.
const BULK_SAMPLE: usize = 4 << 10;

/// Values longer than this are stored as they are (a chunk is at most
/// 128 KiB), so a damaged length never asks for more memory than this.
const BULK_COMPRESS_MAX: usize = 16 << 20;

/// How `encoded` is stored in the bulk family: compressed (see the module
/// docs) when its start compresses and the whole then saves an eighth,
/// else as it is.
fn bulk_value(encoded: &[u8]) -> Cow<'_, [u8]> {
    if encoded.len() > BULK_COMPRESS_MAX
        || lz4_if_it_pays(&encoded[..encoded.len().min(BULK_SAMPLE)], BULK_SAVING).is_none()
    {
        return Cow::Borrowed(encoded);
    }
    let Some(block) = lz4_if_it_pays(encoded, BULK_SAVING) else {
        return Cow::Borrowed(encoded);
    };
    let len = u32::try_from(encoded.len()).unwrap_or(u32::MAX);
    let mut value = Vec::with_capacity(5 + block.len());
    value.push(BULK_LZ4);
    value.extend_from_slice(&len.to_le_bytes());
    value.extend_from_slice(&block);
    Cow::Owned(value)
}

/// The encoded object a bulk value stored under `hash` holds; a
/// compressed value that does not decompress to its length is `Corrupt`.
fn from_bulk<'v>(hash: &Hash, value: &'v [u8]) -> StoreResult<Cow<'v, [u8]>> {
    let Some((&BULK_LZ4, rest)) = value.split_first() else {
        return Ok(Cow::Borrowed(value));
    };
    let corrupt = |reason: &str| StoreError::Corrupt {
        hash: *hash,
        reason: format!("compressed chunk {reason}"),
    };
    let (len, block) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("cut short"))?;
    let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
    if len > BULK_COMPRESS_MAX {
        return Err(corrupt("longer than any stored compressed"));
    }
    let mut out = vec![0; len];
    match lz4_flex::block::decompress_into(block, &mut out) {
        Ok(n) if n == len => Ok(Cow::Owned(out)),
        _ => Err(corrupt("does not decompress")),
    }
}

/// The options of the database and of each column family, over one
/// block cache.
struct StoreOptions {
    db: Options,
    objects: Options,
    bulk: Options,
    meta: Options,
}

impl StoreOptions {
    /// One descriptor per column family; `with_bulk` false for a store
    /// from before the bulk family.
    fn descriptors(&self, with_bulk: bool) -> Vec<ColumnFamilyDescriptor> {
        let mut cfs = vec![
            ColumnFamilyDescriptor::new(CONFIG_CF, Options::default()),
            ColumnFamilyDescriptor::new(OBJECTS_CF, self.objects.clone()),
            ColumnFamilyDescriptor::new(META_CF, self.meta.clone()),
        ];
        if with_bulk {
            cfs.push(ColumnFamilyDescriptor::new(BULK_CF, self.bulk.clone()));
        }
        cfs
    }
}

fn options(config: &RocksConfig, create: bool) -> Result<StoreOptions, rocksdb::Error> {
    let cache = Cache::new_lru_cache(config.block_cache_bytes);
    let compression = Codecs {
        upper: codec(config.compression),
        bottommost: codec(config.bottommost_compression),
    };
    Ok(StoreOptions {
        db: db_options(config, create)?,
        objects: objects_options(config, &cache, compression),
        bulk: bulk_options(config, &cache, compression),
        meta: meta_options(config, &cache, compression),
    })
}

/// Whether RocksDB refused an open for naming a column family the store
/// does not have (its only way of saying so is the message).
fn is_missing_family(e: &rocksdb::Error) -> bool {
    e.as_ref().contains("Column family not found")
}

/// The codecs of a column family's levels.
#[derive(Clone, Copy)]
struct Codecs {
    upper: DBCompressionType,
    bottommost: DBCompressionType,
}

impl Codecs {
    fn apply(self, options: &mut Options) {
        options.set_compression_type(self.upper);
        options.set_bottommost_compression_type(self.bottommost);
        if self.bottommost == DBCompressionType::Zstd {
            // No dictionary here: `RocksStore::compact` trains one (see
            // `Maintenance` and `ZSTD_DICT_BYTES`).
            options.set_bottommost_compression_options(ZSTD_WINDOW_BITS, ZSTD_LEVEL, 0, 0, true);
            options.set_bottommost_zstd_max_train_bytes(0, true);
        }
    }
}

/// zstd's default window (RocksDB passes it on as is).
const ZSTD_WINDOW_BITS: i32 = -14;
/// zstd's default level.
const ZSTD_LEVEL: i32 = 3;
/// The size of the dictionary [`RocksStore::compact`] trains per output
/// file on a sample of its blocks: source objects are small and alike, so
/// a 4 KiB block alone gives zstd little to learn from. Measured on 10K
/// source-like files (docs/BENCHMARKS.md, "Bytes on disk"): 10.2 -> 8.6 MB
/// of SST files for 0.11 s more compaction; level 6 or a 64 KiB dictionary
/// gained under 2 % more at twice the time.
const ZSTD_DICT_BYTES: i32 = 16 << 10;
/// Bytes of samples a dictionary is trained on.
const ZSTD_TRAIN_BYTES: i32 = ZSTD_DICT_BYTES * 100;

fn codec(compression: Compression) -> DBCompressionType {
    match compression {
        Compression::None => DBCompressionType::None,
        Compression::Lz4 => DBCompressionType::Lz4,
        Compression::Zstd => DBCompressionType::Zstd,
    }
}

/// Disk space reserved ahead for the MANIFEST (see [`db_options`]).
const MANIFEST_PREALLOCATION: usize = 64 << 10;

/// Options of the database as a whole: files, background work, the WAL.
fn db_options(config: &RocksConfig, create: bool) -> Result<Options, rocksdb::Error> {
    let mut db = Options::default();
    if config.low_priority_compactions {
        let mut env = Env::new()?;
        env.lower_thread_pool_cpu_priority();
        db.set_env(&env);
    }
    db.create_if_missing(create);
    db.create_missing_column_families(create);
    db.set_skip_stats_update_on_db_open(true);
    db.set_max_open_files(i32::try_from(config.max_open_files).unwrap_or(i32::MAX));
    db.set_max_background_jobs(i32::try_from(config.background_jobs).unwrap_or(2));
    // At open RocksDB loads table files on up to 16 threads per column
    // family, by default: 45 threads started and joined by every `helios`
    // command (strace: 48 `clone3` for one `helios log -n 1`) to open a
    // handful of files. The opening thread loads them itself.
    db.set_max_file_opening_threads(1);
    db.set_keep_log_file_num(4);
    // RocksDB reserves 4 MiB for each MANIFEST it starts, which `du`
    // counts while the store is open: 40 % of a 10,000-file store. Its
    // records are a few hundred bytes per flush or compaction.
    db.set_manifest_preallocation_size(MANIFEST_PREALLOCATION);
    db.set_max_log_file_size(8 << 20);
    // Replaying the WAL at open refills the memtables and stops there; by
    // default RocksDB would also write them out as SST files before `open`
    // returns, which made reopening after a large unflushed write take
    // seconds. Not exposed by the Rust binding, hence the options string.
    let mut db = db.get_options_from_string("avoid_flush_during_recovery=true")?;
    // A WAL file is deleted only once every column family with data in it
    // has flushed. `meta` and the config family take small writes and would
    // pin every WAL since creation (about 1 GiB by default), all of it read
    // again at the next open; past this total RocksDB flushes them instead.
    db.set_max_total_wal_size(config.write_buffer_u64().saturating_mul(2));
    Ok(db)
}

/// The objects family: point-read values, bloom filters, every value in
/// the LSM tree (blob files of a store from before the bulk family are
/// still read, and moved back into the tree by `compact`'s blob
/// garbage collection).
fn objects_options(config: &RocksConfig, cache: &Cache, compression: Codecs) -> Options {
    let mut objects = Options::default();
    objects.set_block_based_table_factory(&table_options(cache, config.bloom_bits_per_key));
    compression.apply(&mut objects);
    objects.set_write_buffer_size(config.write_buffer_bytes);
    // See `RocksConfig::memtable_bloom`. A read-only open writes nothing,
    // so it goes without (the filter was a tenth of what a read-only
    // command cost in all).
    let memtable_bloom =
        config.memtable_bloom && config.bloom_bits_per_key > 0 && !config.read_only;
    objects.set_memtable_whole_key_filtering(memtable_bloom);
    objects.set_memtable_prefix_bloom_ratio(if memtable_bloom { 0.05 } else { 0.0 });
    objects.set_level_compaction_dynamic_level_bytes(true);
    objects.set_enable_blob_gc(false);
    objects.set_blob_cache(cache);
    objects
}

/// The bulk family: the objects family's options, with blob files when
/// configured.
fn bulk_options(config: &RocksConfig, cache: &Cache, compression: Codecs) -> Options {
    let mut bulk = objects_options(config, cache, compression);
    if let Some(blob) = &config.blob_files {
        bulk.set_enable_blob_files(true);
        bulk.set_min_blob_size(blob.min_blob_size);
        bulk.set_blob_file_size(blob.blob_file_size);
        bulk.set_blob_compression_type(codec(blob.compression));
    }
    bulk
}

/// The metadata family: small records (snapshots, refs, pins).
fn meta_options(config: &RocksConfig, cache: &Cache, compression: Codecs) -> Options {
    let mut meta = Options::default();
    meta.set_block_based_table_factory(&table_options(cache, config.bloom_bits_per_key));
    compression.apply(&mut meta);
    meta.set_write_buffer_size((config.write_buffer_bytes / 4).max(1 << 20));
    meta
}

/// SST table options over the shared block cache, with a bloom filter of
/// `bloom` bits per key (none for 0).
fn table_options(cache: &Cache, bloom: u32) -> BlockBasedOptions {
    let mut t = BlockBasedOptions::default();
    t.set_block_cache(cache);
    if bloom > 0 {
        t.set_bloom_filter(f64::from(bloom), false);
        t.set_whole_key_filtering(true);
    }
    // Index and filter blocks live in the block cache and are loaded on
    // first use, not when a file is opened: opening stays cheap.
    t.set_cache_index_and_filter_blocks(true);
    t.set_cache_index_and_filter_blocks_with_high_priority(true);
    t.set_pin_l0_filter_and_index_blocks_in_cache(true);
    // Partitioned into 4 KiB pieces under a small pinned top level.
    // Hash keys are incompressible, so one flat index of a large SST
    // file grows past a cache shard (3.4 MB at 1M objects against 1 MB
    // shards of the 64 MiB cache): it was then never kept, and every
    // read fetched and checksummed it again (about 1 ms per get).
    t.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
    t.set_partition_filters(bloom > 0);
    t.set_metadata_block_size(4096);
    t.set_pin_top_level_index_and_filter(true);
    t
}

/// Reads the configuration record, or writes it for a store being created,
/// and checks it against what the caller asked for.
fn read_or_init_config(
    db: &DB,
    path: &Path,
    config: &RocksConfig,
) -> Result<HashAlgorithm, OpenError> {
    let not_a_store = |reason: String| OpenError::NotAStore {
        path: path.to_owned(),
        reason,
    };
    let cf = db
        .cf_handle(CONFIG_CF)
        .ok_or_else(|| not_a_store("no default column family".to_owned()))?;
    let get = |key: &[u8]| {
        db.get_cf(cf, key)
            .map_err(|e| open_err("read store configuration", path, e))
    };
    let (version, tag) = (get(KEY_FORMAT)?, get(KEY_ALGORITHM)?);
    let (version, tag) = match (version, tag) {
        (Some(v), Some(t)) => (v, t),
        (None, None) if config.create_if_missing && is_empty(db)? => {
            // A new store (or one whose creation was cut short before this
            // record landed, which cannot hold anything yet).
            let algorithm = config.algorithm.unwrap_or_default();
            let mut batch = rocksdb::WriteBatch::default();
            batch.put_cf(cf, KEY_FORMAT, FORMAT_VERSION.to_le_bytes());
            batch.put_cf(cf, KEY_ALGORITHM, [algorithm.tag()]);
            let mut sync = WriteOptions::default();
            sync.set_sync(true);
            db.write_opt(batch, &sync)
                .map_err(|e| open_err("write store configuration", path, e))?;
            // Flushed at once, so the record never keeps a WAL file alive.
            db.flush_cf(cf)
                .map_err(|e| open_err("flush store configuration", path, e))?;
            return Ok(algorithm);
        }
        _ => return Err(not_a_store("no configuration record".to_owned())),
    };
    let version = <[u8; 4]>::try_from(&version[..])
        .map(u32::from_le_bytes)
        .map_err(|_| not_a_store(format!("format version record of {} bytes", version.len())))?;
    if !(OLDEST_READABLE_FORMAT..=FORMAT_VERSION).contains(&version) {
        return Err(OpenError::UnknownFormat {
            path: path.to_owned(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version < FORMAT_VERSION && !config.read_only {
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        db.put_cf_opt(cf, KEY_FORMAT, FORMAT_VERSION.to_le_bytes(), &sync)
            .map_err(|e| open_err("raise the store's format version", path, e))?;
    }
    let recorded = match tag[..] {
        [t] => HashAlgorithm::from_tag(t)
            .ok_or_else(|| not_a_store(format!("unknown hash algorithm tag {t}")))?,
        _ => {
            return Err(not_a_store(format!(
                "hash algorithm record of {} bytes",
                tag.len()
            )));
        }
    };
    match config.algorithm {
        Some(requested) if requested != recorded => Err(OpenError::AlgorithmMismatch {
            path: path.to_owned(),
            recorded,
            requested,
        }),
        _ => Ok(recorded),
    }
}

/// True when no column family holds anything (reads at most one key of
/// each), so a directory with foreign data is never adopted as a new store.
fn is_empty(db: &DB) -> Result<bool, OpenError> {
    for name in [CONFIG_CF, OBJECTS_CF, META_CF, BULK_CF] {
        let Some(cf) = db.cf_handle(name) else {
            if name == BULK_CF {
                continue;
            }
            return Ok(false);
        };
        if let Some(first) = db.iterator_cf(cf, IteratorMode::Start).next() {
            first.map_err(|e| OpenError::Backend {
                op: "check new store is empty",
                source: Box::new(e),
            })?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// The smallest key greater than every key starting with `prefix`, if any.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last != 0xff {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

fn write_options(mode: WriteMode) -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(mode == WriteMode::Sync);
    opts.disable_wal(mode == WriteMode::Unlogged);
    opts
}

impl ObjectStore for RocksStore {
    fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// One point lookup (bloom filter, block cache, then disk); the value is
    /// verified while still pinned in RocksDB's buffer, then copied once.
    fn get(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        for (cf, bulk) in self.object_families()?.all() {
            let found = self.db.get_pinned_cf(cf, hash.as_bytes());
            if let Some(value) = self.verified("get object", hash, found, bulk)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    fn contains(&self, hash: &Hash) -> StoreResult<bool> {
        for (cf, _) in self.object_families()?.all() {
            // The bloom filter answers most absent keys without reading a block.
            if !self.db.key_may_exist_cf(cf, hash.as_bytes()) {
                continue;
            }
            match self.db.get_pinned_cf(cf, hash.as_bytes()) {
                Ok(Some(_)) => return Ok(true),
                Ok(None) => {}
                Err(e) => return Err(read_err("look up object", hash, e)),
            }
        }
        Ok(false)
    }

    /// One RocksDB `WriteBatch`: object deletes, object puts, meta deletes,
    /// meta puts, in that order (so a delete and a put of the same key in
    /// one batch leave the put). `Sync` fsyncs the WAL before returning.
    /// `Unlogged` skips the WAL; a logged write after it flushes the
    /// memtables first (see the module documentation). Objects written
    /// `Unlogged` go to the bulk family, others to `objects`; a delete
    /// removes the key from both.
    /// A re-put overwrites the key without reading it first (the contract:
    /// the last put wins, so verified bytes repair a damaged entry): one WAL
    /// record and one memtable insert, and compaction keeps a single copy.
    fn write(&self, batch: WriteBatch, mode: WriteMode) -> StoreResult<()> {
        if self.read_only {
            return Err(StoreError::backend(
                "write",
                "the store was opened read-only",
            ));
        }
        if batch.is_empty() {
            return if mode == WriteMode::Sync {
                self.sync()
            } else {
                Ok(())
            };
        }
        batch.check_value_lens(self.max_value_len())?;
        if mode != WriteMode::Unlogged {
            self.flush_unlogged()?;
        }
        let families = self.object_families()?;
        let meta = self.cf(META_CF)?;
        let to_bulk = families.bulk.filter(|_| mode == WriteMode::Unlogged);
        let mut wb = rocksdb::WriteBatch::default();
        for hash in &batch.object_deletes {
            for (cf, _) in families.all() {
                wb.delete_cf(cf, hash.as_bytes());
            }
        }
        for (hash, encoded) in &batch.objects {
            match to_bulk {
                Some(bulk) => wb.put_cf(bulk, hash.as_bytes(), bulk_value(encoded)),
                None => wb.put_cf(families.objects, hash.as_bytes(), encoded),
            }
        }
        for key in &batch.meta_deletes {
            wb.delete_cf(meta, key);
        }
        for (key, value) in &batch.meta_puts {
            wb.put_cf(meta, key, value);
        }
        self.db
            .write_opt(wb, &write_options(mode))
            .map_err(|e| store_err("write batch", e))?;
        if mode == WriteMode::Unlogged {
            self.unlogged.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// A forward scan of the objects column family, then of the bulk one
    /// (not filling the block cache, so a GC or verify pass does not evict
    /// the hot set), filtered on the kind tag and verified object by
    /// object. An object stored in both (a small file whose bytes are also
    /// a chunk) comes twice.
    ///
    /// Cost: the kind is the value's first byte, not part of the key, so a
    /// scan of one kind reads (and decompresses, and with blob files on
    /// fetches from the blob files) every object of every kind; only the
    /// hashing is limited to the matches. A scan of trees among mostly
    /// blobs costs about what a scan of everything does. Making it cheaper
    /// needs the kind in the key, a format change.
    fn objects(&self, kind: Option<ObjectKind>) -> StoreResult<ObjectIter<'_>> {
        let families = self.object_families()?;
        let tag = kind.map(ObjectKind::tag);
        let alg = self.algorithm;
        let iter = families.all().flat_map(|(cf, bulk)| {
            let mut ro = ReadOptions::default();
            ro.fill_cache(false);
            self.db
                .iterator_cf_opt(cf, ro, IteratorMode::Start)
                .map(move |item| item.map(|(key, value)| (key, value, bulk)))
        });
        // The last key read, skipped ones included: a damaged block met
        // next lies after it.
        let mut last: Option<Hash> = None;
        Ok(Box::new(iter.filter_map(move |item| {
            let (key, value, bulk) = match item {
                Ok(kvb) => kvb,
                Err(e) => return Some(Err(damage_err("iterate objects", last, e))),
            };
            let Some(hash) = Hash::from_slice(&key) else {
                let reason = format!("a key of {} bytes in the objects column family", key.len());
                return Some(Err(StoreError::backend("iterate objects", reason)));
            };
            last = Some(hash);
            let encoded = if bulk {
                match from_bulk(&hash, &value) {
                    Ok(encoded) => encoded,
                    Err(e) => return Some(Err(e)),
                }
            } else {
                Cow::Borrowed(&value[..])
            };
            if tag.is_some() && encoded.first().copied() != tag {
                return None;
            }
            Some(verify_object(alg, &hash, &encoded).map(|()| (hash, encoded.into_owned())))
        })))
    }

    fn get_meta(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let cf = self.cf(META_CF)?;
        self.db
            .get_cf(cf, key)
            .map_err(|e| damage_err("get meta", None, e))
    }

    fn meta_with_prefix(&self, prefix: &[u8]) -> StoreResult<MetaIter<'_>> {
        let cf = self.cf(META_CF)?;
        let mut ro = ReadOptions::default();
        if let Some(upper) = prefix_successor(prefix) {
            ro.set_iterate_upper_bound(upper);
        }
        let owned = prefix.to_vec();
        let iter = self
            .db
            .iterator_cf_opt(cf, ro, IteratorMode::From(prefix, Direction::Forward));
        Ok(Box::new(
            iter.map(|item| match item {
                Ok((k, v)) => Ok((k.into_vec(), v.into_vec())),
                Err(e) => Err(damage_err("iterate meta", None, e)),
            })
            .take_while(move |item| item.as_ref().map_or(true, |(k, _)| k.starts_with(&owned))),
        ))
    }

    /// RocksDB's batched multi-get (one pass over the LSM levels for all
    /// keys), in `objects`, then in the bulk family for the keys not found
    /// there; each value is verified against its hash.
    fn get_many(&self, hashes: &[Hash]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let families = self.object_families()?;
        let results = self.db.batched_multi_get_cf(
            families.objects,
            hashes.iter().map(Hash::as_bytes),
            false,
        );
        let mut values = hashes
            .iter()
            .zip(results)
            .map(|(hash, found)| self.verified("multi-get objects", hash, found, false))
            .collect::<StoreResult<Vec<_>>>()?;
        if let Some(bulk) = families.bulk {
            let missing: Vec<usize> = (0..hashes.len()).filter(|&i| values[i].is_none()).collect();
            if !missing.is_empty() {
                let results = self.db.batched_multi_get_cf(
                    bulk,
                    missing.iter().map(|&i| hashes[i].as_bytes()),
                    false,
                );
                for (&i, found) in missing.iter().zip(results) {
                    values[i] = self.verified("multi-get objects", &hashes[i], found, true)?;
                }
            }
        }
        Ok(values)
    }

    /// Flushes unlogged writes and fsyncs the WAL: every earlier write,
    /// whatever its mode, is durable.
    fn sync(&self) -> StoreResult<()> {
        if self.read_only {
            return Ok(());
        }
        self.flush_unlogged()?;
        self.db
            .flush_wal(true)
            .map_err(|e| store_err("sync WAL", e))
    }

    /// RocksDB stores a value's length in 32 bits. Its C API drops the
    /// status of a longer put, so [`write`](ObjectStore::write) checks
    /// first: a longer value would vanish from an acknowledged batch.
    fn max_value_len(&self) -> u64 {
        u64::from(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xff, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
