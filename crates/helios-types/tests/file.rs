//! Properties of file content as stored (`helios_types::file`): any byte
//! string chunked and reassembled is itself, the streaming cut equals the
//! in-memory one whatever the reads return, ranges read only what they
//! cover, and a small edit changes only the chunks around it.

#![allow(clippy::cast_possible_truncation, reason = "test sizes fit in usize")]

use std::collections::HashSet;
use std::io::{self, Read};

use helios_types::file::{self, CHUNKED_FROM, FileError, Ingested, StoredFile};
use helios_types::store::{MemStore, ObjectStore, WriteBatch, WriteMode};
use helios_types::{Blob, ChunkList, Hash, HashAlgorithm, ObjectKind};
use proptest::prelude::*;

const ALG: HashAlgorithm = HashAlgorithm::Blake3;

/// Pseudo-random bytes (BLAKE3's extendable output of `seed`).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// A reader that returns at most `step` bytes per call, and sometimes is
/// interrupted: the chunker must not depend on how reads split the input.
struct Dribble<'a> {
    data: &'a [u8],
    step: usize,
    calls: usize,
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(7) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Ingests `data` into `store`; returns the file's hash.
fn ingest_into(store: &MemStore, data: &[u8], step: usize) -> Hash {
    let mut batch = WriteBatch::new();
    let reader = Dribble {
        data,
        step,
        calls: 0,
    };
    let mut reader = reader;
    let mut read = |buf: &mut [u8]| loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    };
    let ingested = file::ingest(ALG, &mut read, &mut |hash, encoded| {
        batch.put_object(hash, encoded);
        Ok::<(), io::Error>(())
    })
    .unwrap();
    let hash = match ingested {
        Ingested::Small(bytes) => {
            assert_eq!(bytes, data, "a small file comes back whole");
            batch.put_object(Blob::hash_of(ALG, &bytes), Blob::new(bytes).encode());
            Blob::hash_of(ALG, data)
        }
        Ingested::Chunked { hash, size, .. } => {
            assert_eq!(size, data.len() as u64);
            hash
        }
    };
    store.write(batch, WriteMode::Buffered).unwrap();
    hash
}

fn stored(store: &MemStore) -> usize {
    store.len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any byte string, streamed in through reads of any size, is stored
    /// under the hash the in-memory path gives, and reads back as itself,
    /// whole and by ranges.
    #[test]
    fn chunked_and_reassembled_is_itself(
        seed in any::<u64>(),
        len in prop_oneof![0usize..4096, (CHUNKED_FROM as usize - 8)..(CHUNKED_FROM as usize + 8), 1usize << 20..6 << 20],
        step in prop_oneof![Just(usize::MAX), 1usize..70_000],
        start in any::<u64>(),
        span in 0u64..1 << 20,
    ) {
        // Repeats make some chunks equal, as in real files.
        let mut data = noise(seed, len / 2);
        data.extend_from_within(..);
        data.extend(noise(seed ^ 1, len - data.len()));
        let store = MemStore::new(ALG);
        let hash = ingest_into(&store, &data, step);
        prop_assert_eq!(hash, file::hash_of(ALG, &data));

        let file = StoredFile::open_sized(&store, hash, data.len() as u64).unwrap();
        let out = file.read_range(&store, 0..u64::MAX).unwrap();
        prop_assert!(out == data, "whole file differs");

        let start = start % (data.len() as u64 + 1);
        let end = start + span;
        let range = file.read_range(&store, start..end).unwrap();
        let want = &data[start as usize..(end.min(data.len() as u64)) as usize];
        prop_assert!(range == want, "range {start}..{end} differs");

        // The in-memory encoding stores the same objects.
        let other = MemStore::new(ALG);
        let mut batch = WriteBatch::new();
        for (h, _, encoded) in file::encode(ALG, &data, None) {
            batch.put_object(h, encoded);
        }
        other.write(batch, WriteMode::Buffered).unwrap();
        prop_assert_eq!(stored(&other), stored(&store));
    }
}

#[test]
fn an_insertion_stores_only_the_chunks_around_it() {
    let data = noise(7, 32 << 20);
    let mut edited = data.clone();
    edited.splice(0..0, *b"0123456789");
    let before: HashSet<Hash> = file::encode(ALG, &data, None).iter().map(|o| o.0).collect();
    let new_bytes: usize = file::encode(ALG, &edited, None)
        .iter()
        .filter(|o| !before.contains(&o.0))
        .map(|o| o.2.len())
        .sum();
    // The target: the chunks around the edit and the new chunk
    // list come to at most 128 KiB (a file-level store stores 32 MiB).
    assert!(
        new_bytes <= 128 << 10,
        "10 bytes inserted stored {new_bytes} new bytes"
    );
    let mut appended = data.clone();
    appended.extend(noise(8, 1024));
    let new_chunks = file::encode(ALG, &appended, None)
        .iter()
        .filter(|o| o.1 == ObjectKind::Blob && !before.contains(&o.0))
        .count();
    assert!(new_chunks <= 2, "a 1 KiB append stored {new_chunks} chunks");
}

#[test]
fn a_range_reads_only_the_chunks_it_touches() {
    let store = MemStore::new(ALG);
    let data = noise(3, 4 << 20);
    let hash = ingest_into(&store, &data, usize::MAX);
    let file = StoredFile::open(&store, hash).unwrap();
    let list: &ChunkList = file.chunk_list().expect("4 MiB is chunked");
    let first = list.chunks()[0];
    // Every chunk but the first removed: a range inside it still reads.
    let others: Vec<Hash> = list.chunks()[1..]
        .iter()
        .map(|c| c.hash)
        .filter(|h| *h != first.hash)
        .collect();
    store.delete_objects(&others).unwrap();
    let head = file.read_range(&store, 0..u64::from(first.len)).unwrap();
    assert_eq!(head, data[..first.len as usize]);
    match file.read_range(&store, 0..u64::from(first.len) + 1) {
        Err(FileError::Missing { what: "chunk", .. }) => {}
        other => panic!("a range over a missing chunk: {other:?}"),
    }
    match file.read_range(&store, data.len() as u64 + 1..data.len() as u64 + 2) {
        Err(FileError::Range { .. }) => {}
        other => panic!("a range beyond the end: {other:?}"),
    }
}

#[test]
fn damaged_chunks_are_reported_not_returned() {
    let store = MemStore::new(ALG);
    let data = noise(4, 2 << 20);
    let hash = ingest_into(&store, &data, usize::MAX);
    let file = StoredFile::open(&store, hash).unwrap();
    let chunk = file.chunk_list().unwrap().chunks()[1];
    store.corrupt(chunk.hash, Blob::new(vec![1; chunk.len as usize]).encode());
    match file.read_range(&store, 0..u64::MAX) {
        Err(FileError::Store(e)) => assert!(e.to_string().contains("corrupt"), "{e}"),
        other => panic!("a corrupt chunk: {other:?}"),
    }
    assert!(
        StoredFile::open_sized(&store, hash, data.len() as u64 + 1).is_err(),
        "a length other than the tree's is refused"
    );
}

/// `cut` and `Chunks`, ingest's halves run apart (as a capture runs them on
/// two threads), make the file `ingest` makes: the same hash, chunk count
/// and distinct chunks, and `cut` hands over every byte in order, repeats
/// included.
#[test]
fn cut_and_chunks_apart_make_what_ingest_makes() {
    // Repeated content, so that some chunks repeat within the file.
    let mut data = noise(11, 3 << 20);
    data.extend_from_within(..(1 << 20));
    data.extend(vec![0u8; 2 << 20]);
    let mut whole = &data[..];
    let ingested =
        file::ingest(ALG, &mut |buf| whole.read(buf), &mut |_, _| Ok(())).expect("ingest");
    let mut reader = Dribble {
        data: &data,
        step: 100_000,
        calls: 0,
    };
    let mut read = |buf: &mut [u8]| loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    };
    let (mut chunks, mut seen, mut repeats) = (file::Chunks::default(), Vec::new(), 0);
    let cut = file::cut(&mut read, &mut |chunk| {
        seen.extend_from_slice(chunk);
        repeats += usize::from(!chunks.push(Blob::hash_of(ALG, chunk), chunk.len()));
        Ok::<_, io::Error>(())
    })
    .expect("cut");
    assert!(matches!(cut, file::Cut::Chunked), "a large file is cut");
    assert_eq!(seen, data, "cut hands over every byte, in order");
    assert!(repeats > 0, "the repeated megabyte repeats chunks");
    let (list, apart) = chunks.finish(ALG).expect("a chunk list");
    match (ingested, apart) {
        (
            Ingested::Chunked {
                hash,
                size,
                chunks,
                distinct,
            },
            Ingested::Chunked {
                hash: hash2,
                size: size2,
                chunks: chunks2,
                distinct: distinct2,
            },
        ) => {
            assert_eq!((hash, size, chunks), (hash2, size2, chunks2));
            assert_eq!(distinct, distinct2);
            assert_eq!(list.hash(ALG), hash);
            assert_eq!(size, data.len() as u64);
        }
        other => panic!("both must be chunked: {other:?}"),
    }
    // A small file is handed back whole, no chunk handed over.
    let mut small = &data[..1000];
    let cut = file::cut(&mut |buf| small.read(buf), &mut |_| {
        panic!("no chunk of a small file")
    })
    .expect("cut");
    assert!(matches!(cut, file::Cut::Small(bytes) if bytes == data[..1000]));
    // Fewer bytes than a chunked file holds are not a chunk list.
    let mut few = file::Chunks::default();
    few.push(Blob::hash_of(ALG, b"x"), 1);
    assert!(
        few.finish(ALG).is_err(),
        "a chunk list under 1 MiB is refused"
    );
}
