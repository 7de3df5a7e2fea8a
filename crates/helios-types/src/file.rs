//! File content as stored: one blob when the file is small, content-defined
//! chunks plus a [`ChunkList`] when it is large, and the one implementation
//! of both directions — in (hash, chunk and hand objects to a sink while
//! reading through a bounded buffer) and out (stream a stored file, or a
//! byte range of it, chunk by chunk).
//!
//! A file of at least [`CHUNKED_FROM`] bytes is cut by FastCDC (2020,
//! normalization level 1, gear seed 0) with [`ChunkParams::FORMAT`]; each
//! piece is a blob, and the file's hash is its chunk list's hash. Smaller
//! files are one blob, as in format version 1. The cut points are part of
//! the object format (`spec/object-format.md`): changing them changes every
//! large file's hash, so golden vectors pin them.
//!
//! Nothing here does I/O: [`ingest`] reads through a callback and
//! [`StoredFile`] hands out pieces to one.
//!
//! Memory stays bounded whatever the file's size: [`ingest`] holds at most
//! [`READ_BUFFER`] bytes of content plus the chunk list (36 bytes per
//! chunk), and [`StoredFile`] holds one chunk at a time (the chunk list
//! when the file is chunked, the blob when it is not).

use std::collections::HashSet;
use std::ops::Range;

use crate::error::DecodeError;
use crate::hash::{Hash, HashAlgorithm};
use crate::object::{Blob, ChunkList, ChunkRef, ObjectKind};
use crate::store::{ObjectStore, StoreError};

/// Files of this many bytes or more are chunked; smaller ones are one blob.
pub const CHUNKED_FROM: u64 = 1 << 20;

/// No chunk is shorter, except a file's last.
pub const CHUNK_MIN: u32 = ChunkParams::FORMAT.min;

/// No chunk is longer.
pub const CHUNK_MAX: u32 = ChunkParams::FORMAT.max;

/// Bytes [`ingest`] reads ahead: at least [`CHUNKED_FROM`] (it decides
/// blob or chunks from the first bytes) and a few maximum chunks, so that
/// moving the unfinished tail to the front is rare and short.
pub const READ_BUFFER: usize = 4 << 20;

/// FastCDC's size parameters. [`ChunkParams::FORMAT`] is the format's;
/// others exist to measure alternatives (`examples/chunk_sizes.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkParams {
    /// Smallest chunk (except a file's last).
    pub min: u32,
    /// Target average.
    pub avg: u32,
    /// Largest chunk.
    pub max: u32,
}

impl ChunkParams {
    /// The format's parameters: 8 / 32 / 128 KiB (chosen by measurement,
    /// see docs/BENCHMARKS.md, "Chunk sizes").
    pub const FORMAT: ChunkParams = ChunkParams {
        min: 8 << 10,
        avg: 32 << 10,
        max: 128 << 10,
    };

    /// The lengths of the chunks `data` is cut into, in order.
    pub fn chunk_lengths(self, data: &[u8]) -> impl Iterator<Item = usize> + '_ {
        fastcdc::v2020::FastCDC::new(
            data,
            self.min as usize,
            self.avg as usize,
            self.max as usize,
        )
        .map(|chunk| chunk.length)
    }
}

/// The hash a file holding `data` is stored under: its blob's hash, or its
/// chunk list's when `data` is large.
pub fn hash_of(alg: HashAlgorithm, data: &[u8]) -> Hash {
    if (data.len() as u64) < CHUNKED_FROM {
        return Blob::hash_of(alg, data);
    }
    chunk_list_of(alg, data, |_, _| {}).hash(alg)
}

/// The objects that store a file holding `data`, each with its hash, the
/// file's own object (blob or chunk list) last. A chunk repeated within the
/// file appears once. `hash` is the file's hash when the caller knows it
/// already (a small file is then not hashed again).
pub fn encode(
    alg: HashAlgorithm,
    data: &[u8],
    hash: Option<Hash>,
) -> Vec<(Hash, ObjectKind, Vec<u8>)> {
    if (data.len() as u64) < CHUNKED_FROM {
        let hash = hash.unwrap_or_else(|| Blob::hash_of(alg, data));
        return vec![(hash, ObjectKind::Blob, Blob::encode_bytes(data))];
    }
    let mut objects = Vec::new();
    let mut seen = HashSet::new();
    let list = chunk_list_of(alg, data, |hash, chunk| {
        if seen.insert(hash) {
            objects.push((hash, ObjectKind::Blob, Blob::encode_bytes(chunk)));
        }
    });
    objects.push((list.hash(alg), ObjectKind::ChunkList, list.encode()));
    objects
}

/// Cuts `data` (at least [`CHUNKED_FROM`] bytes) into chunks, calling
/// `each` with every chunk and its blob hash, and returns the chunk list.
fn chunk_list_of(alg: HashAlgorithm, data: &[u8], mut each: impl FnMut(Hash, &[u8])) -> ChunkList {
    let mut chunks = Vec::new();
    let mut at = 0;
    for len in ChunkParams::FORMAT.chunk_lengths(data) {
        let chunk = &data[at..at + len];
        let hash = Blob::hash_of(alg, chunk);
        each(hash, chunk);
        chunks.push(chunk_ref(hash, len));
        at += len;
    }
    ChunkList::new(chunks).expect("FastCDC cuts within the format's bounds")
}

fn chunk_ref(hash: Hash, len: usize) -> ChunkRef {
    let len = u32::try_from(len).expect("chunks are at most CHUNK_MAX long");
    ChunkRef { hash, len }
}

/// What [`ingest`] read.
#[derive(Debug)]
pub enum Ingested {
    /// Fewer than [`CHUNKED_FROM`] bytes: the caller stores them as one
    /// blob (or keeps them pending in a tree).
    Small(Vec<u8>),
    /// A large file, whose chunks and chunk list went to the sink.
    Chunked {
        /// The chunk list's hash: the file's hash.
        hash: Hash,
        /// Bytes read.
        size: u64,
        /// Chunks in the file.
        chunks: u64,
        /// The distinct chunks handed to the sink, in file order (the
        /// others repeat one of them).
        distinct: Vec<Hash>,
    },
}

/// Reads a file's content to its end through a bounded buffer: `read`
/// fills the buffer it is given and returns how many bytes it put there,
/// 0 at the end (as `std::io::Read::read` does; this crate does no I/O of
/// its own). A small file comes back whole; a large one is chunked as it
/// is read, each distinct chunk handed to `sink` as an encoded blob with
/// its hash, then the chunk list (which names only chunks already handed
/// over). A sink that only hashes may drop what it is given.
///
/// [`cut`] and [`Chunks`] are its two halves, for a caller that hashes
/// chunks elsewhere (on another thread) while the file is read.
pub fn ingest<E>(
    alg: HashAlgorithm,
    read: &mut dyn FnMut(&mut [u8]) -> Result<usize, E>,
    sink: &mut dyn FnMut(Hash, Vec<u8>) -> Result<(), E>,
) -> Result<Ingested, E> {
    let mut chunks = Chunks::default();
    let cut = cut(read, &mut |chunk| {
        let hash = Blob::hash_of(alg, chunk);
        if chunks.push(hash, chunk.len()) {
            sink(hash, Blob::encode_bytes(chunk))?;
        }
        Ok(())
    })?;
    match cut {
        Cut::Small(bytes) => Ok(Ingested::Small(bytes)),
        Cut::Chunked => {
            let (list, ingested) = chunks
                .finish(alg)
                .expect("cut hands over at least CHUNKED_FROM bytes in chunks it cut");
            sink(list.hash(alg), list.encode())?;
            Ok(ingested)
        }
    }
}

/// What [`cut`] read.
#[derive(Debug)]
pub enum Cut {
    /// Fewer than [`CHUNKED_FROM`] bytes, whole; no chunk was handed over.
    Small(Vec<u8>),
    /// A large file, handed over chunk by chunk.
    Chunked,
}

/// The reading half of [`ingest`]: reads to the end through a buffer of
/// [`READ_BUFFER`] bytes and hands each chunk of a large file to `chunk`,
/// in file order, repeats included, not hashed. Whoever hashes them puts
/// the chunk list together with [`Chunks`].
pub fn cut<E>(
    read: &mut dyn FnMut(&mut [u8]) -> Result<usize, E>,
    chunk: &mut dyn FnMut(&[u8]) -> Result<(), E>,
) -> Result<Cut, E> {
    let mut buf = vec![0u8; READ_BUFFER];
    let (mut len, mut eof) = fill(read, &mut buf, 0)?;
    if eof && (len as u64) < CHUNKED_FROM {
        buf.truncate(len);
        return Ok(Cut::Small(buf));
    }
    loop {
        let mut done = 0;
        for chunk_len in ChunkParams::FORMAT.chunk_lengths(&buf[..len]) {
            // The chunk that ends at the buffer's end may have been cut by
            // the end of the buffer, not by the content: read more first.
            if done + chunk_len == len && !eof {
                break;
            }
            chunk(&buf[done..done + chunk_len])?;
            done += chunk_len;
        }
        buf.copy_within(done..len, 0);
        len -= done;
        if eof && len == 0 {
            return Ok(Cut::Chunked);
        }
        (len, eof) = fill(read, &mut buf, len)?;
    }
}

/// The hashing half of [`ingest`]: a large file's chunk list, put together
/// from its chunks' hashes and lengths in file order.
#[derive(Debug, Default)]
pub struct Chunks {
    refs: Vec<ChunkRef>,
    seen: HashSet<Hash>,
    distinct: Vec<Hash>,
    size: u64,
}

impl Chunks {
    /// Adds the next chunk, of `len` bytes (at most [`CHUNK_MAX`], as
    /// [`cut`] cuts them); true when its hash is new to the file (store
    /// it), false for a repeat.
    pub fn push(&mut self, hash: Hash, len: usize) -> bool {
        self.refs.push(chunk_ref(hash, len));
        self.size += len as u64;
        let new = self.seen.insert(hash);
        if new {
            self.distinct.push(hash);
        }
        new
    }

    /// The chunk list and what it describes (`Ingested::Chunked`), once
    /// every chunk [`cut`] handed over is pushed. Fewer than
    /// [`CHUNKED_FROM`] bytes, which `cut` never hands over, are not a
    /// chunk list: the decoder's error.
    pub fn finish(self, alg: HashAlgorithm) -> Result<(ChunkList, Ingested), DecodeError> {
        let chunks = self.refs.len() as u64;
        let list = ChunkList::new(self.refs)?;
        let ingested = Ingested::Chunked {
            hash: list.hash(alg),
            size: self.size,
            chunks,
            distinct: self.distinct,
        };
        Ok((list, ingested))
    }
}

/// Reads into `buf[len..]` until it is full or `read` says the end came;
/// returns the new length and whether the end was reached.
fn fill<E>(
    read: &mut dyn FnMut(&mut [u8]) -> Result<usize, E>,
    buf: &mut [u8],
    mut len: usize,
) -> Result<(usize, bool), E> {
    while len < buf.len() {
        match read(&mut buf[len..])? {
            0 => return Ok((len, true)),
            n => len += n,
        }
    }
    Ok((len, false))
}

/// A stored file could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// An object the file needs is not in the store.
    #[error("{what} {hash} is missing from the store")]
    Missing {
        /// "file" (the blob or chunk list a tree names) or "chunk".
        what: &'static str,
        /// The missing object.
        hash: Hash,
    },
    /// The store failed (this includes stored bytes that do not match
    /// their hash: [`StoreError::Corrupt`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An object the file needs is not a well-formed blob or chunk list.
    #[error("object {hash} is not file content: {source}")]
    Malformed {
        /// The object.
        hash: Hash,
        /// What is wrong with it.
        source: DecodeError,
    },
    /// A chunk's length is not the one its chunk list records, or a file's
    /// length is not the one its tree entry records.
    #[error("{what} {hash} holds {actual} bytes, {expected} expected")]
    Length {
        /// "file" or "chunk".
        what: &'static str,
        /// The object.
        hash: Hash,
        /// The recorded length.
        expected: u64,
        /// The length found.
        actual: u64,
    },
    /// A byte range that starts beyond the file's end.
    #[error("range starts at byte {start}, beyond the file's {size} bytes")]
    Range {
        /// The range's start.
        start: u64,
        /// The file's length.
        size: u64,
    },
}

/// How a stored file is laid out.
#[derive(Debug)]
enum Layout {
    /// One blob: its encoding (or the bytes, for content not in a store),
    /// kept as read, and where the payload starts in it.
    Whole { bytes: Vec<u8>, start: usize },
    /// Chunks, read one at a time.
    Chunks(ChunkList),
}

/// A file in a store, opened for reading: small files are read at once,
/// chunked ones chunk by chunk, only the chunks a range touches.
#[derive(Debug)]
pub struct StoredFile {
    hash: Hash,
    layout: Layout,
}

/// Chunks fetched per store round trip when streaming a file: about 1 MiB
/// at the average chunk size.
const CHUNKS_PER_READ: usize = 16;

impl StoredFile {
    /// Opens the file stored under `hash` (a blob or a chunk list).
    pub fn open(store: &dyn ObjectStore, hash: Hash) -> Result<Self, FileError> {
        let encoded = store
            .get(&hash)?
            .ok_or(FileError::Missing { what: "file", hash })?;
        let malformed = |source| FileError::Malformed { hash, source };
        let layout = match ObjectKind::of_encoded(&encoded) {
            Some(ObjectKind::ChunkList) => {
                Layout::Chunks(ChunkList::decode(&encoded).map_err(malformed)?)
            }
            _ => {
                let payload_len = Blob::payload(&encoded).map_err(malformed)?.len();
                let start = encoded.len() - payload_len;
                Layout::Whole {
                    bytes: encoded,
                    start,
                }
            }
        };
        Ok(StoredFile { hash, layout })
    }

    /// A file whose bytes are in memory, not yet in a store (a tree's
    /// pending edit), read like a stored one.
    pub fn from_bytes(hash: Hash, bytes: Vec<u8>) -> Self {
        StoredFile {
            hash,
            layout: Layout::Whole { bytes, start: 0 },
        }
    }

    /// Opens the file and checks its length against the one a tree entry
    /// records.
    pub fn open_sized(store: &dyn ObjectStore, hash: Hash, size: u64) -> Result<Self, FileError> {
        let file = Self::open(store, hash)?;
        if file.size() != size {
            return Err(FileError::Length {
                what: "file",
                hash,
                expected: size,
                actual: file.size(),
            });
        }
        Ok(file)
    }

    /// The file's length in bytes.
    pub fn size(&self) -> u64 {
        match &self.layout {
            Layout::Whole { bytes, start } => (bytes.len() - start) as u64,
            Layout::Chunks(list) => list.size(),
        }
    }

    /// The content of a file stored as one blob, borrowed; `None` when the
    /// file is chunked (read it with [`StoredFile::for_each_piece`]).
    pub fn whole(&self) -> Option<&[u8]> {
        match &self.layout {
            Layout::Whole { bytes, start } => Some(&bytes[*start..]),
            Layout::Chunks(_) => None,
        }
    }

    /// The chunk list, when the file is chunked.
    pub fn chunk_list(&self) -> Option<&ChunkList> {
        match &self.layout {
            Layout::Whole { .. } => None,
            Layout::Chunks(list) => Some(list),
        }
    }

    /// Calls `each` with the file's bytes in `range` (clamped to the
    /// file's end), in order, one piece per chunk touched; only those
    /// chunks are read, each verified against its hash and length.
    pub fn for_each_piece<E: From<FileError>>(
        &self,
        store: &dyn ObjectStore,
        range: Range<u64>,
        each: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let size = self.size();
        if range.start > size {
            return Err(FileError::Range {
                start: range.start,
                size,
            }
            .into());
        }
        let range = range.start..range.end.min(size);
        if range.is_empty() {
            return Ok(());
        }
        let list = match &self.layout {
            Layout::Whole { bytes, start } => {
                let whole = &bytes[*start..];
                return each(&whole[to_usize(range.start)..to_usize(range.end)]);
            }
            Layout::Chunks(list) => list,
        };
        // The chunks that overlap the range, with each one's file offset.
        let mut offset = 0u64;
        let touched: Vec<(u64, ChunkRef)> = list
            .chunks()
            .iter()
            .filter_map(|c| {
                let at = offset;
                offset += u64::from(c.len);
                (at < range.end && offset > range.start).then_some((at, *c))
            })
            .collect();
        for group in touched.chunks(CHUNKS_PER_READ) {
            let hashes: Vec<Hash> = group.iter().map(|(_, c)| c.hash).collect();
            let found = store.get_many(&hashes).map_err(FileError::from)?;
            for ((at, chunk), encoded) in group.iter().zip(found) {
                let payload = chunk_payload(chunk, encoded.as_deref())?;
                let from = range.start.saturating_sub(*at);
                let to = (range.end - at).min(u64::from(chunk.len));
                each(&payload[to_usize(from)..to_usize(to)])?;
            }
        }
        Ok(())
    }

    /// The bytes in `range` (clamped to the file's end).
    pub fn read_range(
        &self,
        store: &dyn ObjectStore,
        range: Range<u64>,
    ) -> Result<Vec<u8>, FileError> {
        let mut out = Vec::new();
        self.for_each_piece(store, range, &mut |piece| {
            out.extend_from_slice(piece);
            Ok::<(), FileError>(())
        })?;
        Ok(out)
    }

    /// The hash the file is stored under.
    pub fn hash(&self) -> Hash {
        self.hash
    }
}

/// A chunk's payload, checked against what its chunk list records.
fn chunk_payload<'a>(chunk: &ChunkRef, encoded: Option<&'a [u8]>) -> Result<&'a [u8], FileError> {
    let hash = chunk.hash;
    let encoded = encoded.ok_or(FileError::Missing {
        what: "chunk",
        hash,
    })?;
    let payload = Blob::payload(encoded).map_err(|source| FileError::Malformed { hash, source })?;
    if payload.len() != chunk.len as usize {
        return Err(FileError::Length {
            what: "chunk",
            hash,
            expected: u64::from(chunk.len),
            actual: payload.len() as u64,
        });
    }
    Ok(payload)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("an offset within an object held in memory")
}
