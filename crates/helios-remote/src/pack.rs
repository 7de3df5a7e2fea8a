//! Packs: many objects in one remote object, so that a push or a fetch
//! costs a request per pack, not one per object (git's packfiles, the
//! batch calls of the remote-execution CAS).
//!
//! A pack is its objects' encodings back to back, exactly as the object
//! format encodes them: file content (blobs, a large file's chunks) first,
//! then everything that names content (trees, chunk lists, snapshot
//! records). A reader walks a snapshot level by level, record, trees,
//! chunk lists, content; grouped so, each level of a pack is one range and
//! one request, where interleaved it was one request per chunk list (a
//! fetch of 64 large files made 64 small reads before the first chunk). Its [`PackIndex`] lists each object's hash, offset
//! and length, sorted by hash, and ends with the digest of the pack it
//! describes; the index's own digest names both files. Nothing read from a
//! remote is trusted: an index that does not parse is refused with a typed
//! error, and every object is rehashed when it is read out of a pack. The
//! normative description is `spec/remote-format.md`.

use std::collections::HashSet;

use helios_types::{HASH_LEN, Hash, HashAlgorithm, ObjectKind};

use crate::error::FormatError;

/// The first bytes of every index.
pub const INDEX_MAGIC: &[u8; 8] = b"HELIOSPI";
/// The index layout this code writes and reads.
pub const INDEX_VERSION: u8 = 1;
/// Magic, version, algorithm tag, entry count.
const HEADER_LEN: usize = 8 + 1 + 1 + 4;
/// Hash, offset, length.
const ENTRY_LEN: usize = HASH_LEN + 8 + 4;
/// The most entries an index's count can say.
const MAX_ENTRIES: usize = u32::MAX as usize;

/// Where one object lies in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// The object's hash: the digest of its encoding.
    pub hash: Hash,
    /// Its first byte in the pack.
    pub offset: u64,
    /// Its encoded length.
    pub len: u32,
}

impl IndexEntry {
    /// The pack's bytes this object occupies.
    pub fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + u64::from(self.len)
    }
}

/// The table of contents of one pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackIndex {
    algorithm: HashAlgorithm,
    entries: Vec<IndexEntry>,
    pack_digest: Hash,
}

/// Collects objects into one pack.
#[derive(Debug)]
pub struct PackBuilder {
    algorithm: HashAlgorithm,
    /// File content: the start of the pack.
    content: Section,
    /// What names content: the end of the pack, after [`Self::content`].
    structure: Section,
    added: HashSet<Hash>,
}

/// Objects back to back, offsets from the section's start.
#[derive(Debug, Default)]
struct Section {
    bytes: Vec<u8>,
    entries: Vec<IndexEntry>,
}

impl PackBuilder {
    /// An empty pack of objects hashed with `algorithm`.
    pub fn new(algorithm: HashAlgorithm) -> Self {
        PackBuilder {
            algorithm,
            content: Section::default(),
            structure: Section::default(),
            added: HashSet::new(),
        }
    }

    /// Appends the object `encoded`, which must hash to `hash`: a local
    /// object damaged since it was stored is refused here, before it can
    /// reach another machine. An object added already is skipped.
    pub fn add(&mut self, hash: Hash, encoded: &[u8]) -> Result<(), FormatError> {
        if self.added.contains(&hash) {
            return Ok(());
        }
        if self.count() >= MAX_ENTRIES {
            return Err(FormatError::PackFull);
        }
        let found = self.algorithm.digest(encoded);
        if found != hash {
            return Err(FormatError::HashMismatch {
                expected: hash,
                found,
            });
        }
        let len = u32::try_from(encoded.len()).map_err(|_| FormatError::ObjectTooLarge {
            hash,
            len: encoded.len() as u64,
        })?;
        let section = if ObjectKind::of_encoded(encoded) == Some(ObjectKind::Blob) {
            &mut self.content
        } else {
            &mut self.structure
        };
        section.entries.push(IndexEntry {
            hash,
            offset: section.bytes.len() as u64,
            len,
        });
        section.bytes.extend_from_slice(encoded);
        self.added.insert(hash);
        Ok(())
    }

    /// Bytes added so far.
    pub fn size(&self) -> usize {
        self.content.bytes.len() + self.structure.bytes.len()
    }

    /// Objects added so far.
    pub fn count(&self) -> usize {
        self.content.entries.len() + self.structure.entries.len()
    }

    /// The pack's bytes (content, then structure) and its index.
    pub fn finish(self) -> (Vec<u8>, PackIndex) {
        let Section {
            mut bytes,
            mut entries,
        } = self.content;
        let structure_start = bytes.len() as u64;
        bytes.extend_from_slice(&self.structure.bytes);
        entries.extend(self.structure.entries.into_iter().map(|e| IndexEntry {
            offset: structure_start + e.offset,
            ..e
        }));
        entries.sort_by_key(|e| e.hash);
        let pack_digest = self.algorithm.digest(&bytes);
        let index = PackIndex {
            algorithm: self.algorithm,
            entries,
            pack_digest,
        };
        (bytes, index)
    }
}

impl PackIndex {
    /// The algorithm of every hash in the pack.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The objects, sorted by hash.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The digest of the pack's bytes.
    pub fn pack_digest(&self) -> Hash {
        self.pack_digest
    }

    /// Where `hash` lies in the pack, if it is there.
    pub fn find(&self, hash: &Hash) -> Option<&IndexEntry> {
        self.entries
            .binary_search_by(|e| e.hash.cmp(hash))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The name of the pack and of its index: the digest of the index's
    /// encoding, so that a name never points at other contents.
    pub fn id(&self) -> Hash {
        self.algorithm.digest(&self.encode())
    }

    /// The index as it is stored.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.entries.len() * ENTRY_LEN + HASH_LEN);
        out.extend_from_slice(INDEX_MAGIC);
        out.push(INDEX_VERSION);
        out.push(self.algorithm.tag());
        #[allow(
            clippy::cast_possible_truncation,
            reason = "`PackBuilder::add` refuses an entry past u32::MAX"
        )]
        let count = self.entries.len() as u32;
        out.extend_from_slice(&count.to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(e.hash.as_bytes());
            out.extend_from_slice(&e.offset.to_le_bytes());
            out.extend_from_slice(&e.len.to_le_bytes());
        }
        out.extend_from_slice(self.pack_digest.as_bytes());
        out
    }

    /// Parses a stored index. Anything but exactly what [`encode`] writes
    /// is an error: a wrong magic, version or algorithm, a length that does
    /// not match the count, entries out of order or repeated, or objects
    /// that overlap.
    ///
    /// [`encode`]: PackIndex::encode
    pub fn decode(bytes: &[u8]) -> Result<PackIndex, FormatError> {
        if bytes.len() < HEADER_LEN + HASH_LEN {
            return Err(FormatError::Truncated {
                what: "pack index",
                len: bytes.len(),
            });
        }
        if &bytes[..8] != INDEX_MAGIC {
            return Err(FormatError::NotAnIndex);
        }
        if bytes[8] != INDEX_VERSION {
            return Err(FormatError::UnsupportedVersion(bytes[8]));
        }
        let algorithm =
            HashAlgorithm::from_tag(bytes[9]).ok_or(FormatError::UnknownAlgorithm(bytes[9]))?;
        let count = u32::from_le_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
        let expected = count
            .checked_mul(ENTRY_LEN)
            .and_then(|n| n.checked_add(HEADER_LEN + HASH_LEN));
        if expected != Some(bytes.len()) {
            return Err(FormatError::Truncated {
                what: "pack index",
                len: bytes.len(),
            });
        }
        let mut entries: Vec<IndexEntry> = Vec::with_capacity(count);
        for raw in bytes[HEADER_LEN..HEADER_LEN + count * ENTRY_LEN].chunks_exact(ENTRY_LEN) {
            let hash = Hash::from_slice(&raw[..HASH_LEN]).ok_or(FormatError::NotAnIndex)?;
            let offset =
                u64::from_le_bytes(raw[HASH_LEN..HASH_LEN + 8].try_into().unwrap_or_default());
            let len = u32::from_le_bytes(raw[HASH_LEN + 8..].try_into().unwrap_or_default());
            if let Some(last) = entries.last()
                && last.hash >= hash
            {
                return Err(FormatError::Unsorted(hash));
            }
            entries.push(IndexEntry { hash, offset, len });
        }
        let digest_at = HEADER_LEN + count * ENTRY_LEN;
        let pack_digest = Hash::from_slice(&bytes[digest_at..]).ok_or(FormatError::NotAnIndex)?;
        let index = PackIndex {
            algorithm,
            entries,
            pack_digest,
        };
        index.check_layout()?;
        Ok(index)
    }

    /// Objects must not overlap (two entries naming the same bytes would let
    /// a pack pass off one object as two).
    fn check_layout(&self) -> Result<(), FormatError> {
        let mut ranges: Vec<_> = self.entries.iter().map(IndexEntry::range).collect();
        ranges.sort_by_key(|r| r.start);
        for pair in ranges.windows(2) {
            if pair[1].start < pair[0].end {
                return Err(FormatError::Overlap);
            }
        }
        Ok(())
    }

    /// The total length of the pack the index describes.
    pub fn pack_len(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.range().end)
            .max()
            .unwrap_or(0)
    }

    /// Checks a whole pack against the index (its digest), as a fetch of
    /// the whole pack does before it stores anything from it.
    pub fn check_pack(&self, pack: &[u8]) -> Result<(), FormatError> {
        let found = self.algorithm.digest(pack);
        if found != self.pack_digest {
            return Err(FormatError::HashMismatch {
                expected: self.pack_digest,
                found,
            });
        }
        Ok(())
    }

    /// Object `entry` out of `bytes`, which hold the pack from offset
    /// `base` on, rehashed: bytes that are not the object are an error
    /// that names it.
    pub fn object<'a>(
        &self,
        entry: &IndexEntry,
        bytes: &'a [u8],
        base: u64,
    ) -> Result<&'a [u8], FormatError> {
        let encoded = entry
            .offset
            .checked_sub(base)
            .and_then(|s| usize::try_from(s).ok())
            .and_then(|start| bytes.get(start..start + entry.len as usize))
            .ok_or(FormatError::Truncated {
                what: "pack",
                len: bytes.len(),
            })?;
        let found = self.algorithm.digest(encoded);
        if found != entry.hash {
            return Err(FormatError::HashMismatch {
                expected: entry.hash,
                found,
            });
        }
        Ok(encoded)
    }
}

#[cfg(test)]
mod tests {
    use helios_types::Blob;
    use proptest::prelude::*;

    use super::*;

    fn pack_of(contents: &[Vec<u8>]) -> (Vec<u8>, PackIndex, Vec<Hash>) {
        let alg = HashAlgorithm::Blake3;
        let mut builder = PackBuilder::new(alg);
        let mut hashes = Vec::new();
        for c in contents {
            let encoded = Blob::encode_bytes(c);
            let hash = alg.digest(&encoded);
            builder.add(hash, &encoded).unwrap();
            hashes.push(hash);
        }
        let (pack, index) = builder.finish();
        (pack, index, hashes)
    }

    proptest! {
        #[test]
        fn every_object_comes_back_out_of_its_pack_and_the_index_round_trips(
            contents in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..40)
        ) {
            let (pack, index, hashes) = pack_of(&contents);
            prop_assert_eq!(PackIndex::decode(&index.encode()).unwrap(), index.clone());
            index.check_pack(&pack).unwrap();
            for (content, hash) in contents.iter().zip(&hashes) {
                let entry = index.find(hash).unwrap();
                let encoded = index.object(entry, &pack, 0).unwrap();
                prop_assert_eq!(Blob::payload(encoded).unwrap(), content.as_slice());
            }
        }
    }

    proptest! {
        /// Whatever order objects are added in, the pack holds every blob
        /// before every other object, and each still comes back out.
        #[test]
        fn content_comes_first_and_what_names_it_after(
            objects in proptest::collection::vec(
                (prop::sample::select(ObjectKind::ALL.to_vec()), proptest::collection::vec(any::<u8>(), 0..300)),
                0..40,
            )
        ) {
            let alg = HashAlgorithm::Blake3;
            let mut builder = PackBuilder::new(alg);
            let mut added = Vec::new();
            for (kind, body) in &objects {
                let mut encoded = vec![kind.tag()];
                encoded.extend_from_slice(body);
                let hash = alg.digest(&encoded);
                builder.add(hash, &encoded).unwrap();
                added.push((hash, encoded));
            }
            let (pack, index) = builder.finish();
            index.check_pack(&pack).unwrap();
            let mut by_offset = index.entries().to_vec();
            by_offset.sort_by_key(|e| e.offset);
            let kinds: Vec<bool> = by_offset
                .iter()
                .map(|e| ObjectKind::of_encoded(index.object(e, &pack, 0).unwrap()) == Some(ObjectKind::Blob))
                .collect();
            prop_assert!(kinds.windows(2).all(|w| w[0] || !w[1]), "a blob after a non-blob: {:?}", kinds);
            for (hash, encoded) in &added {
                let entry = index.find(hash).unwrap();
                prop_assert_eq!(index.object(entry, &pack, 0).unwrap(), encoded.as_slice());
            }
        }
    }

    #[test]
    fn an_object_that_is_not_what_its_hash_says_is_refused_going_in_and_coming_out() {
        let alg = HashAlgorithm::Blake3;
        let mut builder = PackBuilder::new(alg);
        let encoded = Blob::encode_bytes(b"hello");
        let other = alg.digest(&Blob::encode_bytes(b"other"));
        assert!(matches!(
            builder.add(other, &encoded),
            Err(FormatError::HashMismatch { .. })
        ));

        let (mut pack, index, hashes) = pack_of(&[b"one".to_vec(), b"two".to_vec()]);
        let entry = *index.find(&hashes[1]).unwrap();
        let last = pack.len() - 1;
        pack[last] ^= 1;
        assert!(matches!(
            index.object(&entry, &pack, 0),
            Err(FormatError::HashMismatch { expected, .. }) if expected == hashes[1]
        ));
        assert!(matches!(
            index.check_pack(&pack),
            Err(FormatError::HashMismatch { .. })
        ));
        // A range that ends early is short, not a different object.
        assert!(matches!(
            index.object(&entry, &pack[..last], 0),
            Err(FormatError::Truncated { .. })
        ));
    }

    #[test]
    fn malformed_indexes_are_refused_with_what_is_wrong() {
        let (_, index, _) = pack_of(&[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        let good = index.encode();
        let with = |at: usize, byte: u8| {
            let mut bad = good.clone();
            bad[at] = byte;
            PackIndex::decode(&bad)
        };
        assert!(matches!(with(0, b'X'), Err(FormatError::NotAnIndex)));
        assert!(matches!(
            with(8, 9),
            Err(FormatError::UnsupportedVersion(9))
        ));
        assert!(matches!(
            with(9, 0xee),
            Err(FormatError::UnknownAlgorithm(0xee))
        ));
        assert!(matches!(
            PackIndex::decode(&good[..good.len() - 1]),
            Err(FormatError::Truncated { .. })
        ));
        assert!(matches!(
            PackIndex::decode(&[]),
            Err(FormatError::Truncated { .. })
        ));
        // A count that promises more entries than there are.
        assert!(matches!(with(13, 4), Err(FormatError::Truncated { .. })));
        // Entries out of order: swap the first two.
        let mut swapped = good.clone();
        let (a, b) = (HEADER_LEN, HEADER_LEN + ENTRY_LEN);
        let first: Vec<u8> = swapped[a..b].to_vec();
        let second: Vec<u8> = swapped[b..b + ENTRY_LEN].to_vec();
        swapped[a..b].copy_from_slice(&second);
        swapped[b..b + ENTRY_LEN].copy_from_slice(&first);
        assert!(matches!(
            PackIndex::decode(&swapped),
            Err(FormatError::Unsorted(_))
        ));
        // Two entries over the same bytes: the second's offset set to the
        // first's.
        let mut overlapping = good.clone();
        let offset_of = |entry: usize| HEADER_LEN + entry * ENTRY_LEN + HASH_LEN;
        let first_offset: Vec<u8> = overlapping[offset_of(0)..offset_of(0) + 8].to_vec();
        overlapping[offset_of(1)..offset_of(1) + 8].copy_from_slice(&first_offset);
        assert!(matches!(
            PackIndex::decode(&overlapping),
            Err(FormatError::Overlap)
        ));
    }

    #[test]
    fn the_name_of_a_pack_follows_its_index_and_a_repeated_object_is_stored_once() {
        let (_, one, _) = pack_of(&[b"x".to_vec(), b"y".to_vec()]);
        let (_, same, _) = pack_of(&[b"x".to_vec(), b"y".to_vec()]);
        let (_, other, _) = pack_of(&[b"x".to_vec(), b"z".to_vec()]);
        assert_eq!(one.id(), same.id());
        assert_ne!(one.id(), other.id());
        let (pack, twice, _) = pack_of(&[b"x".to_vec(), b"x".to_vec()]);
        assert_eq!(twice.entries().len(), 1);
        assert_eq!(pack.len() as u64, twice.pack_len());
    }
}
