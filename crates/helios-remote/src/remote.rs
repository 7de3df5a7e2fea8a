//! [`Remote`]: one remote's objects, packs and refs, behind the
//! `object_store` crate (the Arrow project's client of S3, GCS, Azure and
//! local files). Its calls block: the engine and the CLI are blocking, and
//! the client's runtime lives inside the `Remote`, as the server's client
//! does.
//!
//! Layout under the remote's root (`spec/remote-format.md`):
//!
//! - `HELIOS`: the marker, created once, naming the hash algorithm;
//! - `packs/<id>.pack` and `packs/<id>.idx` ([`crate::pack`]);
//! - `refs/<name>/<sequence>`: each ref's log of updates.
//!
//! Refs without lost updates: a ref's value is its last log entry, and an
//! update creates the entry after the one it read with create-if-absent
//! (`If-None-Match: *` on S3, a hard link on a filesystem). Of two writers
//! that read the same entry, exactly one creates the next; the other is
//! told the ref moved. Nothing on a remote is ever overwritten. Before its
//! first ref update a `Remote` checks that the store refuses to overwrite
//! (Garage, for one, does not: it has no consensus to decide between two
//! writers), and refuses to move refs on a store that would; packs, named
//! by their content, need no such care, so a snapshot pushed by id works
//! on any store.
//!
//! Small reads over a network are hedged (`hedge.rs`): one that is
//! slow to answer is sent again beside itself. Writes never are: a second
//! create-if-absent would report the first's success as a conflict.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use futures_util::future::{BoxFuture, Shared};
use futures_util::{FutureExt as _, StreamExt as _, TryStreamExt as _};
use helios_types::{Hash, HashAlgorithm, SnapshotId};
use object_store::ClientConfigKey;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::{Path, PathPart};
use object_store::prefix::PrefixStore;
use object_store::{
    OBJECT_STORE_COALESCE_DEFAULT, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions,
    PutPayload,
};

use crate::error::{FormatError, RemoteError};
use crate::hedge::{Hedge, HedgeDelay};
use crate::pack::{IndexEntry, PackIndex};

/// The marker's first line; the second names the algorithm.
const MARKER_HEAD: &str = "helios remote 1";
/// Index reads in flight at once when a listing finds several new packs.
pub const INDEX_READS: usize = 16;

/// Digits of a ref entry's sequence number: names sort as numbers.
const SEQUENCE_DIGITS: usize = 20;

/// One update of a ref: its place in the ref's log and what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefEntry {
    /// The entry's sequence number (the first update is 0).
    pub sequence: u64,
    /// The snapshot the ref names from this update on.
    pub id: SnapshotId,
}

/// A remote, opened from its URL.
#[derive(Debug)]
pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    /// Where indexes read once are kept (an index never changes: its name
    /// is its digest), so that a push or fetch lists the packs and reads
    /// only the indexes it has not seen.
    index_cache: Option<PathBuf>,
    /// Calls made to the object store, hedges included (shared with reads
    /// running on the runtime).
    requests: Arc<AtomicU64>,
    /// When a small read is sent again (counting into `requests`).
    hedge: Hedge,
    /// Whether the store refuses to overwrite, once checked.
    conditional_writes: OnceLock<bool>,
}

/// Objects of one pack being read ([`Remote::start_read`]).
#[derive(Debug)]
pub struct PackRead {
    entries: Vec<IndexEntry>,
    reading: tokio::task::JoinHandle<object_store::Result<Vec<bytes::Bytes>>>,
}

/// A whole pack being read ([`Remote::start_whole_read`]).
#[derive(Debug)]
pub struct WholePackRead {
    id: Hash,
    reading: tokio::task::JoinHandle<object_store::Result<bytes::Bytes>>,
}

impl WholePackRead {
    /// The pack being read.
    pub fn id(&self) -> &Hash {
        &self.id
    }
}

/// A pack a listing found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedPack {
    /// Its id, the digest of its index.
    pub id: Hash,
    /// Its pack file's size, if the listing showed the file.
    pub size: Option<u64>,
}

/// A pack being sent ([`Remote::start_pack`]), then its index.
pub struct PackUpload {
    id: Hash,
    index: Vec<u8>,
    /// The pack's write: once done, its bytes are no longer held.
    sent: Landing,
    /// The index's write, after the pack's and after the index of the
    /// pack begun before it: done, the pack is visible.
    landed: Landing,
}

impl std::fmt::Debug for PackUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackUpload").field("id", &self.id).finish()
    }
}

/// A write under way on the remote's runtime, awaited by whoever needs it
/// done (the caller, the next pack's index).
type Landing = Shared<BoxFuture<'static, Result<(), Arc<object_store::Error>>>>;

impl Remote {
    /// Opens the remote at `url`:
    ///
    /// - `file:///ABSOLUTE/DIRECTORY` (created if missing), a directory
    ///   every machine mounts (NFS, say);
    /// - `s3://BUCKET[/PREFIX]`, a bucket of S3 or of any compatible server
    ///   (Garage, MinIO, Ceph), configured by the usual `AWS_*` variables:
    ///   `AWS_ENDPOINT_URL` for a server other than AWS (with
    ///   `AWS_ALLOW_HTTP=true` for plain http), `AWS_ACCESS_KEY_ID`,
    ///   `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`.
    pub fn open(url: &str) -> Result<Remote, RemoteError> {
        let store_error = |source| RemoteError::Store {
            url: url.to_owned(),
            source,
        };
        let store: Arc<dyn ObjectStore> = if let Some(dir) = url.strip_prefix("file://") {
            if !dir.starts_with('/') {
                return Err(RemoteError::BadUrl(url.to_owned()));
            }
            std::fs::create_dir_all(dir).map_err(|e| {
                store_error(object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                })
            })?;
            Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(store_error)?)
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(RemoteError::BadUrl(url.to_owned()));
            }
            install_tls_provider();
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            // A plain-http endpoint (a cluster on loopback or a private
            // network) needs no root certificates: loading the system's
            // costs every process tens of milliseconds. Nor does it keep
            // connections for reuse (unless AWS_POOL_MAX_IDLE_PER_HOST
            // says otherwise): a reused connection delays its ACKs, and a
            // server that writes a response's head and body apart without
            // TCP_NODELAY (Garage does) then holds the body until the
            // delayed ACK, 40 ms later. A fresh connection ACKs at once,
            // and costs one round trip of a private network to open (a
            // lazy switch on Garage: 80 -> 45 ms P50). Over https, where a
            // connection costs a TLS handshake, connections are kept.
            let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
            if endpoint.is_some_and(|e| e.starts_with("http://")) {
                builder = builder.with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::NoSystemCertificates),
                    "true",
                );
                let pool = AmazonS3ConfigKey::Client(ClientConfigKey::PoolMaxIdlePerHost);
                if builder.get_config_value(&pool).is_none() {
                    builder = builder.with_config(pool, "0");
                }
            }
            // Helios verifies every object by its hash on every read, so
            // SigV4's SHA-256 of each body (computed by the client, then
            // again by the server) guards nothing more and halves push
            // throughput; unless told otherwise (AWS_UNSIGNED_PAYLOAD),
            // bodies go unsigned, as S3 allows.
            if std::env::var_os("AWS_UNSIGNED_PAYLOAD").is_none() {
                builder = builder.with_unsigned_payload(true);
            }
            let bucket = builder.build().map_err(store_error)?;
            let prefix = Path::parse(prefix.trim_end_matches('/'))
                .map_err(|_| RemoteError::BadUrl(url.to_owned()))?;
            if prefix.as_ref().is_empty() {
                Arc::new(bucket)
            } else {
                Arc::new(PrefixStore::new(bucket, prefix))
            }
        } else {
            return Err(RemoteError::BadUrl(url.to_owned()));
        };
        let mut remote = Self::over(url, store)?;
        if url.starts_with("file://") {
            // A directory's reads have no network tail to cut short: a
            // second read of a slow disk only adds to its queue.
            remote.hedge = remote.hedge.never();
        }
        Ok(remote)
    }

    /// A remote over any object store (the tests' stores, a bucket built
    /// by the caller).
    pub fn over(url: &str, store: Arc<dyn ObjectStore>) -> Result<Remote, RemoteError> {
        // One worker drives the connections; callers on any thread block
        // on their own requests, so reads through from parallel checkout
        // threads overlap.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(RemoteError::Runtime)?;
        let requests = Arc::new(AtomicU64::new(0));
        Ok(Remote {
            url: url.to_owned(),
            store,
            runtime,
            index_cache: None,
            hedge: Hedge::new(HedgeDelay::from_env(), Arc::clone(&requests)),
            requests,
            conditional_writes: OnceLock::new(),
        })
    }

    /// Keeps the indexes it reads in `dir` (created when needed) and reads
    /// them from there again.
    pub fn with_index_cache(mut self, dir: PathBuf) -> Remote {
        self.index_cache = Some(dir);
        self
    }

    /// Calls made to the object store so far: one per listing page, write,
    /// read, hedge, and range a read of several ranges is merged into.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn store_error(&self, source: object_store::Error) -> RemoteError {
        RemoteError::Store {
            url: self.url.clone(),
            source,
        }
    }

    pub(crate) fn format_error(&self, source: FormatError) -> RemoteError {
        RemoteError::Format {
            url: self.url.clone(),
            source,
        }
    }

    /// Makes the remote one for `algorithm`'s objects, or checks that it
    /// is one: a new remote gets its marker; an existing one must name
    /// the same algorithm.
    pub fn init(&self, algorithm: HashAlgorithm) -> Result<(), RemoteError> {
        let marker = format!("{MARKER_HEAD}\nalgorithm {}\n", algorithm.name());
        if !self.create(&Path::from("HELIOS"), marker.into_bytes())? {
            match self.algorithm()? {
                Some(remote) if remote != algorithm => {
                    return Err(RemoteError::AlgorithmMismatch {
                        url: self.url.clone(),
                        remote,
                        local: algorithm,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the store refuses to overwrite what it was told to create
    /// only if absent, which every ref update relies on: checked once per
    /// `Remote` (three requests), then remembered.
    pub fn has_conditional_writes(&self) -> Result<bool, RemoteError> {
        if let Some(known) = self.conditional_writes.get() {
            return Ok(*known);
        }
        let found = self.check_conditional_writes()?;
        Ok(*self.conditional_writes.get_or_init(|| found))
    }

    /// The algorithm the remote's marker names (`None`: no marker yet).
    pub fn algorithm(&self) -> Result<Option<HashAlgorithm>, RemoteError> {
        let Some(bytes) = self.get_if_any(&Path::from("HELIOS"))? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut lines = text.lines();
        let name = match (lines.next(), lines.next()) {
            (Some(MARKER_HEAD), Some(line)) => line.strip_prefix("algorithm "),
            _ => None,
        };
        name.and_then(|n| n.parse::<HashAlgorithm>().ok())
            .map(Some)
            .ok_or_else(|| self.format_error(FormatError::BadMarker(text.into_owned())))
    }

    /// Creates a scratch key twice with create-if-absent: the second must
    /// be refused. A store that accepts it would let two ref updates
    /// overwrite each other.
    fn check_conditional_writes(&self) -> Result<bool, RemoteError> {
        let nonce = Hash::from_bytes(rand_bytes()).to_hex();
        let probe = Path::from_iter(["probes", nonce.as_str()]);
        let first = self.create(&probe, b"1".to_vec())?;
        let second = self.create(&probe, b"2".to_vec())?;
        self.request();
        let deleted = self.runtime.block_on(self.store.delete(&probe));
        if let Err(e) = deleted
            && !matches!(e, object_store::Error::NotFound { .. })
        {
            return Err(self.store_error(e));
        }
        Ok(first && !second)
    }

    /// Stores `bytes` at `key` unless something is there: `false` when it
    /// was.
    fn create(&self, key: &Path, bytes: Vec<u8>) -> Result<bool, RemoteError> {
        self.request();
        self.runtime
            .block_on(create(Arc::clone(&self.store), key.clone(), bytes))
            .map_err(|e| self.store_error(e))
    }

    fn get_if_any(&self, key: &Path) -> Result<Option<Vec<u8>>, RemoteError> {
        self.request();
        let got = self.runtime.block_on(self.hedge.read(|| async {
            let result = self.store.get(key).await?;
            result.bytes().await
        }));
        match got {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_error(e)),
        }
    }

    /// Stores a pack and then its index, and returns the pack's id. Both
    /// are named by the index's digest, so storing one again is a no-op;
    /// an index is written only once its pack is whole, so every index a
    /// reader finds names a pack that is there.
    pub fn put_pack(&self, pack: Vec<u8>, index: &PackIndex) -> Result<Hash, RemoteError> {
        self.finish_pack(self.start_pack(pack, index, None))
    }

    /// [`Remote::put_pack`] begun on the remote's runtime: the caller goes
    /// on (building the next pack, sending it too) while the pack is sent
    /// and then its index written. The index waits for `after`'s (the pack
    /// begun before, if any): a push that chains its packs in the order it
    /// builds them, children first, makes them visible children first,
    /// however many are sent at once; and if one fails, none after it
    /// becomes visible. [`Remote::finish_pack`] waits for it all.
    pub fn start_pack(
        &self,
        pack: Vec<u8>,
        index: &PackIndex,
        after: Option<&PackUpload>,
    ) -> PackUpload {
        let id = index.id();
        let (pack_key, index_key) = pack_keys(&id);
        let encoded = index.encode();
        self.requests.fetch_add(2, Ordering::Relaxed);
        let sent = landing(create(Arc::clone(&self.store), pack_key, pack));
        let before = after.map(|upload| upload.landed.clone());
        let (store, index_bytes, pack_sent) =
            (Arc::clone(&self.store), encoded.clone(), sent.clone());
        let landed: Landing = async move {
            pack_sent.await?;
            if let Some(before) = before {
                before.await?;
            }
            create(store, index_key, index_bytes)
                .await
                .map(drop)
                .map_err(Arc::new)
        }
        .boxed()
        .shared();
        // Driven whether or not anyone waits: the chain moves on its own.
        self.runtime.spawn(sent.clone());
        self.runtime.spawn(landed.clone());
        PackUpload {
            id,
            index: encoded,
            sent,
            landed,
        }
    }

    /// Waits until pack `upload`'s bytes are written (its index may not
    /// be yet): the caller may then build another in its place.
    pub fn wait_sent(&self, upload: &PackUpload) -> Result<(), RemoteError> {
        self.runtime
            .block_on(upload.sent.clone())
            .map_err(|e| self.shared_error(&e))
    }

    /// Waits for a pack [`Remote::start_pack`] began and its index;
    /// returns its id.
    pub fn finish_pack(&self, upload: PackUpload) -> Result<Hash, RemoteError> {
        self.runtime
            .block_on(upload.landed)
            .map_err(|e| self.shared_error(&e))?;
        self.cache_index(&upload.id, &upload.index);
        Ok(upload.id)
    }

    /// An error of a write several waited for, as this remote's.
    fn shared_error(&self, error: &object_store::Error) -> RemoteError {
        self.store_error(object_store::Error::Generic {
            store: "helios-remote",
            source: error.to_string().into(),
        })
    }

    /// The ids of every pack the remote holds, sorted (one listing
    /// request per thousand packs or so, whatever the number of objects in
    /// them).
    pub fn pack_ids(&self) -> Result<Vec<Hash>, RemoteError> {
        let mut ids: Vec<Hash> = self.packs()?.iter().map(|p| p.id).collect();
        ids.sort();
        Ok(ids)
    }

    /// Every pack the remote holds (those whose index is stored), the
    /// most recently stored first.
    pub fn packs(&self) -> Result<Vec<ListedPack>, RemoteError> {
        let packs = Path::from("packs");
        let mut listed: Vec<_> = self
            .runtime
            .block_on(
                self.hedge
                    .read(|| self.store.list(Some(&packs)).try_collect()),
            )
            .map_err(|e| self.store_error(e))?;
        self.count_listing(listed.len());
        listed.sort_by_key(|meta| std::cmp::Reverse(meta.last_modified));
        let mut sizes = HashMap::new();
        let mut ids = Vec::new();
        for meta in &listed {
            let Some(name) = meta.location.filename() else {
                continue;
            };
            if let Some(id) = name
                .strip_suffix(".pack")
                .and_then(|h| h.parse::<Hash>().ok())
            {
                sizes.insert(id, meta.size);
            } else if let Some(id) = name
                .strip_suffix(".idx")
                .and_then(|h| h.parse::<Hash>().ok())
            {
                ids.push(id);
            }
        }
        Ok(ids
            .into_iter()
            .map(|id| ListedPack {
                id,
                size: sizes.get(&id).copied(),
            })
            .collect())
    }

    /// Whether pack `id`'s index is in the index cache (read before by
    /// this store).
    pub fn has_cached_index(&self, id: &Hash) -> bool {
        self.cached_index_file(id).is_some_and(|file| file.exists())
    }

    /// Pack `id`'s index, checked: it must parse, and hash to its name
    /// (one from the cache too).
    pub fn index(&self, id: &Hash) -> Result<PackIndex, RemoteError> {
        let mut one = self.indexes(std::slice::from_ref(id))?;
        Ok(one.pop().expect("one index per id"))
    }

    /// [`Remote::index`] of each of `ids`, in that order: those not in the
    /// cache read [`INDEX_READS`] at a time, so that a reader who finds
    /// the packs of many writers waits about one round trip per batch,
    /// not one per pack. The reads begin before the cached indexes are
    /// read from disk (thousands of entries each, every one checked), so
    /// that the two overlap.
    pub fn indexes(&self, ids: &[Hash]) -> Result<Vec<PackIndex>, RemoteError> {
        let uncached: Vec<usize> = (0..ids.len())
            .filter(|&at| !self.has_cached_index(&ids[at]))
            .collect();
        let reading = self.start_index_reads(ids, &uncached);
        let mut found: Vec<Option<PackIndex>> = ids
            .iter()
            .map(|id| {
                let bytes = std::fs::read(self.cached_index_file(id)?).ok()?;
                self.checked_index(id, &bytes).ok()
            })
            .collect();
        // A cached index that is damaged (or went away) is read again.
        let damaged: Vec<usize> = (0..ids.len())
            .filter(|at| found[*at].is_none() && uncached.binary_search(at).is_err())
            .collect();
        let reread = self.start_index_reads(ids, &damaged);
        for reading in [reading, reread] {
            let read = self
                .runtime
                .block_on(reading)
                .map_err(|e| self.store_error(object_store::Error::JoinError { source: e }))?;
            for (at, got) in read {
                let bytes = got.map_err(|e| self.store_error(e))?;
                let index = self.checked_index(&ids[at], &bytes)?;
                self.cache_index(&ids[at], &bytes);
                found[at] = Some(index);
            }
        }
        Ok(found
            .into_iter()
            .map(|i| i.expect("every index read"))
            .collect())
    }

    /// Begins reading the indexes of `ids` at positions `which` from the
    /// remote, [`INDEX_READS`] at a time; the task yields each position
    /// with what was read.
    fn start_index_reads(
        &self,
        ids: &[Hash],
        which: &[usize],
    ) -> tokio::task::JoinHandle<Vec<(usize, object_store::Result<bytes::Bytes>)>> {
        let keys: Vec<(usize, Path)> = which
            .iter()
            .map(|&at| (at, pack_keys(&ids[at]).1))
            .collect();
        self.requests
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        let store = Arc::clone(&self.store);
        let hedge = self.hedge.clone();
        self.runtime.spawn(
            futures_util::stream::iter(keys)
                .map(move |(at, key)| {
                    let (store, hedge) = (Arc::clone(&store), hedge.clone());
                    async move {
                        let got = hedge
                            .read(|| async { store.get(&key).await?.bytes().await })
                            .await;
                        (at, got)
                    }
                })
                .buffer_unordered(INDEX_READS)
                .collect(),
        )
    }

    fn cached_index_file(&self, id: &Hash) -> Option<PathBuf> {
        let dir = self.index_cache.as_ref()?;
        Some(dir.join(format!("{}.idx", id.to_hex())))
    }

    /// Keeps index `id` in the cache, if there is one. A cache that cannot
    /// be written costs a read next time, nothing else.
    fn cache_index(&self, id: &Hash, bytes: &[u8]) {
        let Some(file) = self.cached_index_file(id) else {
            return;
        };
        let staged = file.with_extension("new");
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&staged, bytes))
            .and_then(|()| std::fs::rename(&staged, &file));
        if let Err(e) = written {
            tracing::debug!(error = %e, "pack index not cached");
        }
    }

    fn checked_index(&self, id: &Hash, bytes: &[u8]) -> Result<PackIndex, RemoteError> {
        let index = PackIndex::decode(bytes).map_err(|e| self.format_error(e))?;
        let found = index.algorithm().digest(bytes);
        if found != *id {
            return Err(self.format_error(FormatError::HashMismatch {
                expected: *id,
                found,
            }));
        }
        Ok(index)
    }

    /// The objects `entries` of pack `id`, in that order, each rehashed.
    /// Ranges are read together (the store merges neighbouring ones into
    /// one request).
    pub fn read_objects(
        &self,
        id: &Hash,
        index: &PackIndex,
        entries: &[IndexEntry],
    ) -> Result<Vec<Vec<u8>>, RemoteError> {
        self.finish_read(self.start_read(id, entries.to_vec()), index)
    }

    /// [`Remote::read_objects`] begun on the remote's runtime: the caller
    /// goes on (checking and storing the last pack read, say) while the
    /// bytes arrive, and [`Remote::finish_read`] waits for them.
    pub fn start_read(&self, id: &Hash, entries: Vec<IndexEntry>) -> PackRead {
        let (pack_key, _) = pack_keys(id);
        let ranges: Vec<Range<u64>> = entries.iter().map(IndexEntry::range).collect();
        let store = Arc::clone(&self.store);
        let bytes: u64 = ranges.iter().map(|r| r.end - r.start).sum();
        let hedge = self.hedge.for_read_of(bytes);
        self.requests
            .fetch_add(merged_ranges(&ranges), Ordering::Relaxed);
        let reading = self
            .runtime
            .spawn(async move { hedge.read(|| store.get_ranges(&pack_key, &ranges)).await });
        PackRead { entries, reading }
    }

    /// Begins reading pack `id` whole (`size` bytes, as listed) on the
    /// remote's runtime; [`Remote::finish_whole_read`] waits for it.
    pub fn start_whole_read(&self, id: &Hash, size: u64) -> WholePackRead {
        let (pack_key, _) = pack_keys(id);
        let store = Arc::clone(&self.store);
        let hedge = self.hedge.for_read_of(size);
        self.request();
        let reading = self.runtime.spawn(async move {
            hedge
                .read(|| async { store.get(&pack_key).await?.bytes().await })
                .await
        });
        WholePackRead { id: *id, reading }
    }

    /// Waits for a read [`Remote::start_whole_read`] began and returns
    /// every object of the pack, checked against `index`, the pack's
    /// index: the pack's digest, then each object's hash.
    pub fn finish_whole_read(
        &self,
        read: WholePackRead,
        index: &PackIndex,
    ) -> Result<Vec<(Hash, Vec<u8>)>, RemoteError> {
        let pack = self
            .runtime
            .block_on(read.reading)
            .map_err(|e| self.store_error(object_store::Error::JoinError { source: e }))?
            .map_err(|e| self.store_error(e))?;
        index.check_pack(&pack).map_err(|e| self.format_error(e))?;
        index
            .entries()
            .iter()
            .map(|entry| {
                let encoded = index
                    .object(entry, &pack, 0)
                    .map_err(|e| self.format_error(e))?;
                Ok((entry.hash, encoded.to_vec()))
            })
            .collect()
    }

    /// Waits for a read [`Remote::start_read`] began and rehashes each
    /// object against `index`, the index of the pack read.
    pub fn finish_read(
        &self,
        read: PackRead,
        index: &PackIndex,
    ) -> Result<Vec<Vec<u8>>, RemoteError> {
        let bytes = self
            .runtime
            .block_on(read.reading)
            .map_err(|e| self.store_error(object_store::Error::JoinError { source: e }))?
            .map_err(|e| self.store_error(e))?;
        read.entries
            .iter()
            .zip(&bytes)
            .map(|(entry, bytes)| {
                index
                    .object(entry, bytes, entry.offset)
                    .map(<[u8]>::to_vec)
                    .map_err(|e| self.format_error(e))
            })
            .collect()
    }

    /// Ref `name`'s last entry, if the ref exists.
    pub fn get_ref(&self, name: &str) -> Result<Option<RefEntry>, RemoteError> {
        let prefix = ref_prefix(name);
        let listed: Vec<_> = self
            .runtime
            .block_on(
                self.hedge
                    .read(|| self.store.list(Some(&prefix)).try_collect()),
            )
            .map_err(|e| self.store_error(e))?;
        self.count_listing(listed.len());
        let last = listed
            .iter()
            .filter_map(|meta| {
                let sequence = meta.location.filename()?.parse::<u64>().ok()?;
                Some((sequence, &meta.location))
            })
            .max_by_key(|(sequence, _)| *sequence);
        let Some((sequence, key)) = last else {
            return Ok(None);
        };
        let bytes = self
            .get_if_any(key)?
            .ok_or_else(|| self.store_error(not_found(key)))?;
        let id = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| text.trim().parse::<SnapshotId>().ok())
            .ok_or_else(|| {
                self.format_error(FormatError::BadRef {
                    key: key.to_string(),
                })
            })?;
        Ok(Some(RefEntry { sequence, id }))
    }

    /// Points ref `name` at `to`, after `from`, the entry the caller read
    /// (`None`: the ref must not exist yet). If another writer updated it
    /// since, nothing is written and the error says what it names now. On
    /// a store without conditional writes nothing is written either.
    pub fn update_ref(
        &self,
        name: &str,
        from: Option<&RefEntry>,
        to: SnapshotId,
    ) -> Result<RefEntry, RemoteError> {
        if !self.has_conditional_writes()? {
            return Err(RemoteError::NoConditionalWrites {
                url: self.url.clone(),
            });
        }
        let sequence = from.map_or(0, |e| e.sequence + 1);
        let key = ref_key(name, sequence);
        if self.create(&key, format!("{}\n", to.to_hex()).into_bytes())? {
            return Ok(RefEntry { sequence, id: to });
        }
        let now = self.get_ref(name)?.map_or(to, |e| e.id);
        Err(RemoteError::RefMoved {
            url: self.url.clone(),
            name: name.to_owned(),
            now,
        })
    }

    /// Every ref and its last entry.
    pub fn refs(&self) -> Result<BTreeMap<String, RefEntry>, RemoteError> {
        let refs = Path::from("refs");
        let listed = self
            .runtime
            .block_on(
                self.hedge
                    .read(|| self.store.list_with_delimiter(Some(&refs))),
            )
            .map_err(|e| self.store_error(e))?;
        self.count_listing(listed.common_prefixes.len() + listed.objects.len());
        let mut refs = BTreeMap::new();
        for dir in listed.common_prefixes {
            let Some(encoded) = dir.filename() else {
                continue;
            };
            let name = percent_encoding::percent_decode_str(encoded)
                .decode_utf8_lossy()
                .into_owned();
            if let Some(entry) = self.get_ref(&name)? {
                refs.insert(name, entry);
            }
        }
        Ok(refs)
    }
}

impl Remote {
    /// A listing costs a request per page of a thousand keys (S3's page).
    fn count_listing(&self, keys: usize) {
        let pages = keys.div_ceil(1000).max(1) as u64;
        self.requests.fetch_add(pages, Ordering::Relaxed);
    }
}

/// How many requests `get_ranges` makes of `ranges`: it merges those
/// less than [`OBJECT_STORE_COALESCE_DEFAULT`] apart.
fn merged_ranges(ranges: &[Range<u64>]) -> u64 {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable_by_key(|r| r.start);
    let mut merged = 0;
    let mut end = None;
    for range in sorted {
        match end {
            Some(e) if range.start <= e + OBJECT_STORE_COALESCE_DEFAULT => {
                end = Some(range.end.max(e));
            }
            _ => {
                merged += 1;
                end = Some(range.end);
            }
        }
    }
    merged
}

fn pack_keys(id: &Hash) -> (Path, Path) {
    let hex = id.to_hex();
    (
        Path::from_iter(["packs", &format!("{hex}.pack")]),
        Path::from_iter(["packs", &format!("{hex}.idx")]),
    )
}

/// A ref's directory: its name is one path segment whatever it holds
/// (`/`, `..` and the like are percent-encoded by `PathPart`).
fn ref_prefix(name: &str) -> Path {
    Path::from_iter([PathPart::from("refs"), PathPart::from(name)])
}

fn ref_key(name: &str, sequence: u64) -> Path {
    ref_prefix(name).join(format!("{sequence:0SEQUENCE_DIGITS$}"))
}

fn not_found(key: &Path) -> object_store::Error {
    object_store::Error::NotFound {
        path: key.to_string(),
        source: "listed but gone".into(),
    }
}

/// `write` as a [`Landing`].
fn landing(write: impl Future<Output = object_store::Result<bool>> + Send + 'static) -> Landing {
    async move { write.await.map(drop).map_err(Arc::new) }
        .boxed()
        .shared()
}

/// Creates `key` holding `bytes` unless it exists: `true` if created.
async fn create(
    store: Arc<dyn ObjectStore>,
    key: Path,
    bytes: Vec<u8>,
) -> object_store::Result<bool> {
    let put = store.put_opts(
        &key,
        PutPayload::from(bytes),
        PutOptions::from(PutMode::Create),
    );
    match put.await {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Makes ring rustls's crypto provider the process's: https needs one, and
/// ring is the one built in (see Cargo.toml). A provider already installed
/// (by an earlier call, or by an embedding program) is kept.
///
/// rustls 0.23.48 deprecates ring's provider for its lack of post-quantum
/// key exchange, steering to aws-lc-rs; that costs a C build of AWS-LC on
/// every fresh machine, for a hybrid key exchange that S3 endpoints do not
/// require. Flip the features (Cargo.toml) when that changes.
#[allow(deprecated)]
fn install_tls_provider() {
    let _kept_if_already_installed = rustls::crypto::ring::default_provider().install_default();
}

/// 32 bytes that differ between calls and processes (a probe's name).
fn rand_bytes() -> [u8; 32] {
    let seed = format!(
        "{:?} {} {:?}",
        std::time::SystemTime::now(),
        std::process::id(),
        std::thread::current().id()
    );
    *HashAlgorithm::Blake3.digest(seed.as_bytes()).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_counted_as_the_requests_they_are_merged_into() {
        const GAP: u64 = OBJECT_STORE_COALESCE_DEFAULT;
        assert_eq!(merged_ranges(&[]), 0);
        assert_eq!(merged_ranges(&[0..10, 10..20, 30..40]), 1);
        assert_eq!(merged_ranges(&[100 + GAP..200 + GAP, 0..100]), 1);
        assert_eq!(merged_ranges(&[101 + GAP..200 + GAP, 0..100]), 2);
        assert_eq!(
            merged_ranges(&[0..5 * GAP, GAP..GAP + 1, 7 * GAP..8 * GAP]),
            2
        );
    }
}
