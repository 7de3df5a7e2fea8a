//! A leaf's content on its way into a directory — bytes in memory (pending
//! in the tree, or a small stored file), or a chunked file streamed from
//! the store chunk by chunk — and on its way out of one ([`read_leaf`]): a
//! large file is chunked and stored while it is read. No large file is
//! ever held whole.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::Arc;

use helios_types::file::{self, Chunks, Cut, FileError, Ingested, StoredFile};
use helios_types::store::{ObjectStore, StoreError, WriteBatch, WriteMode};
use helios_types::{Blob, ChunkList, Hash, HashAlgorithm, RepoPath};
use helios_vst::{Content, Edit, Entry, LeafKind, Vst};

use super::error::{Result, WorkdirError};
use super::fsx;
use super::state::FileStat;

/// A chunk's worth of zeros, to recognize a hole.
static ZEROS: [u8; file::CHUNK_MAX as usize] = [0; file::CHUNK_MAX as usize];

/// Longest symlink target a file system takes (Linux's `PATH_MAX`).
const MAX_SYMLINK_TARGET: u64 = 4096;

/// What a leaf holds.
pub(crate) enum LeafContent<'a> {
    /// Pending in the tree.
    Bytes(Arc<[u8]>),
    /// In the store: a small file's blob as read (not copied again), or a
    /// chunked file, read chunk by chunk from `store` while it is written.
    Stored {
        /// The opened file.
        file: StoredFile,
        /// Where its chunks are.
        store: &'a dyn ObjectStore,
    },
}

impl LeafContent<'_> {
    /// The content's length.
    pub(crate) fn len(&self) -> u64 {
        match self {
            LeafContent::Bytes(bytes) => bytes.len() as u64,
            LeafContent::Stored { file, .. } => file.size(),
        }
    }

    /// The whole content when it is in memory (pending, or a small file
    /// read as one blob); `None` for a chunked file.
    pub(crate) fn whole(&self) -> Option<&[u8]> {
        match self {
            LeafContent::Bytes(bytes) => Some(bytes),
            LeafContent::Stored { file, .. } => file.whole(),
        }
    }

    /// Writes the content at the start of the new, empty `file`. Zeroed
    /// chunks become holes: a sparse file stays sparse through a round
    /// trip.
    pub(crate) fn write_into(&self, out: &mut File) -> io::Result<()> {
        let (file, store) = match self {
            LeafContent::Bytes(bytes) => return out.write_all(bytes),
            LeafContent::Stored { file, store } => (file, store),
        };
        if let Some(bytes) = file.whole() {
            return out.write_all(bytes);
        }
        let mut hole = false;
        file.for_each_piece(*store, 0..file.size(), &mut |piece| {
            // Compared with a zeroed block: one `memcmp`, fast in any build.
            if ZEROS.get(..piece.len()) == Some(piece) {
                out.seek(SeekFrom::Current(piece.len() as i64))?;
                hole = true;
                Ok(())
            } else {
                Ok(out.write_all(piece)?)
            }
        })
        .map_err(|e: ContentIoError| e.0)?;
        if hole {
            // A hole at the end has no bytes written after it.
            out.set_len(file.size())?;
        }
        Ok(())
    }

    /// The content as one byte string, for a symlink's target.
    pub(crate) fn symlink_target(&self) -> io::Result<Vec<u8>> {
        match self {
            LeafContent::Bytes(bytes) => Ok(bytes.to_vec()),
            LeafContent::Stored { file, .. } if file.size() > MAX_SYMLINK_TARGET => {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a symlink target of {} bytes is too long", file.size()),
                ))
            }
            LeafContent::Stored { file, store } => file
                .read_range(*store, 0..file.size())
                .map_err(io::Error::other),
        }
    }
}

/// An I/O error of a write, or the store's failure carried as one so that
/// [`content_error`] can recover it.
struct ContentIoError(io::Error);

impl From<io::Error> for ContentIoError {
    fn from(e: io::Error) -> Self {
        ContentIoError(e)
    }
}

impl From<FileError> for ContentIoError {
    fn from(e: FileError) -> Self {
        ContentIoError(io::Error::other(e))
    }
}

/// The content of the leaf at `path`: pending in the tree, else opened in
/// the store and checked against the length the tree records.
pub(crate) fn leaf_content<'s>(
    vst: &Vst,
    store: &'s dyn ObjectStore,
    path: &RepoPath,
    entry: &Entry,
) -> Result<LeafContent<'s>> {
    if let Some(bytes) = vst.pending_bytes(path)? {
        return Ok(LeafContent::Bytes(bytes));
    }
    let file = StoredFile::open_sized(store, entry.hash, entry.size)
        .map_err(|source| content_failed(path, source))?;
    Ok(LeafContent::Stored { file, store })
}

fn content_failed(path: &RepoPath, source: FileError) -> WorkdirError {
    WorkdirError::Content {
        path: path.clone(),
        source: Box::new(source),
    }
}

/// The error for a failed write of `path`'s content: the store's failure
/// when that is what stopped it (a missing or damaged chunk), else the I/O
/// error of `op` on `disk`.
pub(crate) fn content_error(
    op: &'static str,
    path: &RepoPath,
    disk: std::path::PathBuf,
    err: io::Error,
) -> WorkdirError {
    if err
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<FileError>().is_some())
    {
        let inner = err.into_inner().expect("checked above");
        let source = inner.downcast::<FileError>().expect("checked above");
        return content_failed(path, *source);
    }
    WorkdirError::io(op, disk, err)
}

/// A leaf read from a directory.
pub(crate) struct ReadLeaf {
    /// The content's hash (a blob, or a chunk list for a large file).
    pub(crate) hash: Hash,
    /// Its length.
    pub(crate) size: u64,
    /// What the tree records for it.
    pub(crate) content: ReadContent,
    /// Objects handed to the store while reading (a large file's chunks
    /// the store lacked, and its chunk list) and their encoded bytes.
    pub(crate) stored: (u64, u64),
}

/// A leaf's content as read.
pub(crate) enum ReadContent {
    /// The bytes of a small leaf.
    Bytes(Vec<u8>),
    /// A large file, its chunks and chunk list written to the store as it
    /// was read (or only hashed): the distinct chunks.
    Chunked(Vec<Hash>),
}

impl ReadLeaf {
    /// The tree edit that writes this content at `path`: `stored` when the
    /// tree needs no bytes (the base already holds them, or the scan only
    /// compares hashes).
    pub(crate) fn edit(self, path: RepoPath, kind: LeafKind, stored: bool) -> Edit {
        let (hash, size) = (self.hash, self.size);
        match self.content {
            _ if stored => Edit::stored(path, kind, hash, size),
            ReadContent::Bytes(bytes) => Edit::write(path, kind, Content::Bytes(bytes.into())),
            ReadContent::Chunked(chunks) => Edit::write(
                path,
                kind,
                Content::Chunked {
                    hash,
                    size,
                    chunks: chunks.into(),
                },
            ),
        }
    }
}

/// Why a leaf could not be read.
pub(crate) enum ReadError {
    /// Reading the file failed.
    Io(io::Error),
    /// Storing a chunk failed.
    Store(Hash, StoreError),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl ReadError {
    /// The error as the crate reports it, for the leaf at `path` (`disk`).
    pub(crate) fn into_workdir(self, path: &RepoPath, disk: &Path) -> WorkdirError {
        match self {
            ReadError::Io(e) => WorkdirError::io("read", disk, e),
            ReadError::Store(hash, source) => WorkdirError::Store {
                path: path.clone(),
                hash,
                source: Box::new(source),
            },
        }
    }
}

/// Where a capture stores a large file's chunks while it reads the file.
/// Every [`ObjectStore`] is one (each batch written before `store`
/// returns); the engine's own queues them so that reading the next batch
/// overlaps writing this one, and hashes them on a thread of its own
/// ([`ChunkStore::file`]) so that hashing overlaps reading.
pub trait ChunkStore: Sync {
    /// Whether the object is stored already (then it is not stored again).
    fn contains(&self, hash: &Hash) -> Result<bool, StoreError>;
    /// Stores a batch of encoded objects. It may return before they are
    /// written; [`ChunkStore::finish`] waits for them.
    fn store(&self, batch: WriteBatch) -> Result<(), StoreError>;
    /// Returns once everything stored so far is written.
    fn finish(&self) -> Result<(), StoreError>;
    /// Takes one large file's chunks, in file order, as they are cut:
    /// hashes them, and stores those the store lacks through
    /// [`ChunkStore::store`] ([`StoreChunks`], on the calling thread, for
    /// any store).
    fn file(&self, alg: HashAlgorithm) -> Box<dyn FileChunks + '_>;
}

impl<S: ObjectStore + ?Sized> ChunkStore for S {
    fn contains(&self, hash: &Hash) -> Result<bool, StoreError> {
        ObjectStore::contains(self, hash)
    }

    fn store(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.write(batch, WriteMode::Buffered)
    }

    fn finish(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn file(&self, alg: HashAlgorithm) -> Box<dyn FileChunks + '_> {
        Box::new(StoreChunks::new(self, alg))
    }
}

/// A chunk that could not be stored, and why.
#[derive(Debug)]
pub struct ChunkFailed {
    /// The chunk (or the last one handed to the store before the failure).
    pub hash: Hash,
    /// The store's error.
    pub source: StoreError,
}

/// One large file's chunks on their way to a [`ChunkStore`], handed over
/// in file order as [`file::cut`] cuts them.
pub trait FileChunks {
    /// The next chunk's bytes.
    fn push(&mut self, chunk: &[u8]) -> Result<(), ChunkFailed>;
    /// Every chunk's hash, in file order, once all are handed to the store
    /// (not necessarily written: [`ChunkStore::finish`] waits for that).
    fn finish(self: Box<Self>) -> Result<HashedChunks, ChunkFailed>;
}

/// What [`FileChunks::finish`] returns.
#[derive(Debug, Default)]
pub struct HashedChunks {
    /// Each chunk's hash, in file order, repeats included.
    pub hashes: Vec<Hash>,
    /// Objects handed to the store (chunks it lacked) and their encoded
    /// bytes.
    pub stored: (u64, u64),
    /// The last chunk handed to the store, to name in an error of
    /// [`ChunkStore::finish`].
    pub last_stored: Option<Hash>,
}

/// Chunks written to the store per batch while a large file is read.
const CHUNK_BATCH_BYTES: usize = 8 << 20;

/// [`FileChunks`] on the calling thread: hashes each chunk, and hands the
/// ones new to the file and to the store to `store` in batches of
/// [`CHUNK_BATCH_BYTES`]. The engine runs one on its hashing thread.
pub struct StoreChunks<'a, C: ChunkStore + ?Sized> {
    store: &'a C,
    alg: HashAlgorithm,
    seen: HashSet<Hash>,
    batch: WriteBatch,
    done: HashedChunks,
}

impl<'a, C: ChunkStore + ?Sized> StoreChunks<'a, C> {
    /// Chunks of one file, hashed with `alg`, stored in `store`.
    pub fn new(store: &'a C, alg: HashAlgorithm) -> Self {
        StoreChunks {
            store,
            alg,
            seen: HashSet::new(),
            batch: WriteBatch::new(),
            done: HashedChunks::default(),
        }
    }

    /// The next chunk as an encoded blob (made on the reading thread, so
    /// that only the hashing is left here).
    pub fn push_encoded(&mut self, encoded: Vec<u8>) -> Result<(), ChunkFailed> {
        let hash = self.alg.digest(&encoded);
        self.take(hash, || encoded)
    }

    /// Records `hash`; stores the chunk `encode` makes when it is new to
    /// the file and to the store.
    fn take(&mut self, hash: Hash, encode: impl FnOnce() -> Vec<u8>) -> Result<(), ChunkFailed> {
        self.done.hashes.push(hash);
        if !self.seen.insert(hash) {
            return Ok(());
        }
        // Most chunks of an edited large file are stored already. (If gc
        // takes one before the commit, the commit is refused: the tree
        // lists every chunk it relies on.)
        let held = self
            .store
            .contains(&hash)
            .map_err(|source| ChunkFailed { hash, source })?;
        if held {
            return Ok(());
        }
        let encoded = encode();
        self.done.stored.0 += 1;
        self.done.stored.1 += encoded.len() as u64;
        self.batch.put_object(hash, encoded);
        if self.batch.object_bytes() >= CHUNK_BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the batch to the store.
    fn flush(&mut self) -> Result<(), ChunkFailed> {
        if let Some(last) = store_batch(self.store, &mut self.batch)? {
            self.done.last_stored = Some(last);
        }
        Ok(())
    }
}

impl<C: ChunkStore + ?Sized> FileChunks for StoreChunks<'_, C> {
    fn push(&mut self, chunk: &[u8]) -> Result<(), ChunkFailed> {
        let hash = Blob::hash_of(self.alg, chunk);
        self.take(hash, || Blob::encode_bytes(chunk))
    }

    fn finish(mut self: Box<Self>) -> Result<HashedChunks, ChunkFailed> {
        self.flush()?;
        Ok(std::mem::take(&mut self.done))
    }
}

/// Hands `batch` to the store and empties it; returns its last object's
/// hash, `None` when it was empty. Not synced: the commit that names the
/// file makes the chunks durable with its own write.
fn store_batch<C: ChunkStore + ?Sized>(
    store: &C,
    batch: &mut WriteBatch,
) -> std::result::Result<Option<Hash>, ChunkFailed> {
    let batch = std::mem::take(batch);
    let Some(last) = batch.objects.last().map(|(hash, _)| *hash) else {
        return Ok(None);
    };
    store
        .store(batch)
        .map_err(|source| ChunkFailed { hash: last, source })?;
    Ok(Some(last))
}

impl From<ChunkFailed> for ReadError {
    fn from(e: ChunkFailed) -> Self {
        ReadError::Store(e.hash, e.source)
    }
}

/// Reads the leaf `name` in `parent`, which must still be the leaf `seen`
/// describes (`Ok(None)` when it is not, or changed while read). A large
/// file is chunked as it is read, its chunks handed to `store` as they
/// come ([`ChunkStore::file`]: hashed and written in batches, beside the
/// reading on the engine's store), so memory stays bounded; without a
/// store (a scan that only compares hashes) they are hashed and dropped.
pub(crate) fn read_leaf(
    parent: BorrowedFd<'_>,
    name: &[u8],
    kind: LeafKind,
    seen: &FileStat,
    alg: HashAlgorithm,
    store: Option<&dyn ChunkStore>,
) -> std::result::Result<Option<ReadLeaf>, ReadError> {
    let small = |bytes: Vec<u8>| ReadLeaf {
        hash: file::hash_of(alg, &bytes),
        size: bytes.len() as u64,
        content: ReadContent::Bytes(bytes),
        stored: (0, 0),
    };
    if seen.size < file::CHUNKED_FROM || kind == LeafKind::Symlink {
        let read = fsx::read_leaf_at(parent, name, kind, seen, |r| {
            let mut bytes = Vec::with_capacity(usize::try_from(seen.size).unwrap_or(0));
            r.read_to_end(&mut bytes)?;
            Ok::<_, io::Error>(bytes)
        })?;
        return Ok(read.map(small));
    }
    let Some(store) = store else {
        // Only the hashes are wanted: nothing is copied or kept.
        let ingested = fsx::read_leaf_at(parent, name, kind, seen, |r| {
            file::ingest(alg, &mut retrying(r), &mut |_, _| Ok(()))
        })?;
        return Ok(ingested.map(|ingested| match ingested {
            Ingested::Small(bytes) => small(bytes),
            Ingested::Chunked {
                hash,
                size,
                distinct,
                ..
            } => ReadLeaf {
                hash,
                size,
                content: ReadContent::Chunked(distinct),
                stored: (0, 0),
            },
        }));
    };
    let mut chunks = store.file(alg);
    // The reading half here, the hashing half in `chunks`; the lengths
    // (4 bytes a chunk) to put the chunk list together after.
    let mut lens = Vec::new();
    let cut = fsx::read_leaf_at(parent, name, kind, seen, |r| {
        file::cut(&mut retrying(r), &mut |chunk| {
            lens.push(chunk.len());
            chunks.push(chunk).map_err(ReadError::from)
        })
    })?;
    match cut {
        None => Ok(None),
        Some(Cut::Small(bytes)) => Ok(Some(small(bytes))),
        Some(Cut::Chunked) => {
            let hashed = chunks.finish()?;
            let (list, hash, size, distinct) = chunk_list(alg, &hashed, &lens)?;
            let mut stored = hashed.stored;
            let mut last_stored = hashed.last_stored;
            if !store
                .contains(&hash)
                .map_err(|e| ReadError::Store(hash, e))?
            {
                let encoded = list.encode();
                stored = (stored.0 + 1, stored.1 + encoded.len() as u64);
                let mut batch = WriteBatch::new();
                batch.put_object(hash, encoded);
                last_stored = store_batch(store, &mut batch)?.or(last_stored);
            }
            if let Some(last) = last_stored {
                store.finish().map_err(|e| ReadError::Store(last, e))?;
            }
            Ok(Some(ReadLeaf {
                hash,
                size,
                content: ReadContent::Chunked(distinct),
                stored,
            }))
        }
    }
}

/// `read`, retried when a signal interrupts it, as [`file::cut`] reads.
fn retrying(
    r: &mut dyn io::Read,
) -> impl FnMut(&mut [u8]) -> std::result::Result<usize, ReadError> + '_ {
    move |buf| loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other.map_err(ReadError::Io),
        }
    }
}

/// The chunk list of a file whose chunks were `lens` bytes long and hashed
/// to `hashed.hashes`, in order: the list, its hash, the file's size and
/// its distinct chunks.
fn chunk_list(
    alg: HashAlgorithm,
    hashed: &HashedChunks,
    lens: &[usize],
) -> std::result::Result<(ChunkList, Hash, u64, Vec<Hash>), ReadError> {
    // A `FileChunks` that lost or invented a chunk: named by the last hash.
    let fail = |reason: String| {
        let hash = hashed
            .hashes
            .last()
            .copied()
            .unwrap_or(Hash::from_bytes([0; 32]));
        ReadError::Store(hash, StoreError::backend("hash chunks", reason))
    };
    if hashed.hashes.len() != lens.len() {
        return Err(fail(format!(
            "{} hashes for {} chunks",
            hashed.hashes.len(),
            lens.len()
        )));
    }
    let mut chunks = Chunks::default();
    for (hash, len) in hashed.hashes.iter().zip(lens) {
        chunks.push(*hash, *len);
    }
    match chunks.finish(alg).map_err(|e| fail(e.to_string()))? {
        (
            list,
            Ingested::Chunked {
                hash,
                size,
                distinct,
                ..
            },
        ) => Ok((list, hash, size, distinct)),
        (_, Ingested::Small(_)) => Err(fail("a chunk list of a small file".to_owned())),
    }
}
