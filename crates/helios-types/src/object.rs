//! The object model: [`Blob`], [`ChunkList`], [`Tree`] and [`Snapshot`],
//! with their canonical encoding and decoding.

use std::collections::BTreeMap;
use std::fmt;

use crate::codec::{ObjectHeader, Reader, Writer, len_u32};
use crate::error::DecodeError;
use crate::hash::{Hash, HashAlgorithm, SnapshotId};
use crate::name::{Name, validate_name};

/// The kinds of stored object. The tag is the first byte of every encoded
/// object and part of its hash preimage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// File contents (or a symlink's target).
    Blob,
    /// One directory: sorted entries.
    Tree,
    /// A root tree plus history and labels.
    Snapshot,
    /// A large file's content as an ordered list of chunk blobs.
    ChunkList,
}

impl ObjectKind {
    /// Every kind, in tag order.
    pub const ALL: [ObjectKind; 4] = [
        ObjectKind::Blob,
        ObjectKind::Tree,
        ObjectKind::Snapshot,
        ObjectKind::ChunkList,
    ];

    /// The encoded tag byte.
    pub const fn tag(self) -> u8 {
        match self {
            ObjectKind::Blob => 1,
            ObjectKind::Tree => 2,
            ObjectKind::Snapshot => 3,
            ObjectKind::ChunkList => 4,
        }
    }

    /// The kind a tag byte names.
    pub const fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(ObjectKind::Blob),
            2 => Some(ObjectKind::Tree),
            3 => Some(ObjectKind::Snapshot),
            4 => Some(ObjectKind::ChunkList),
            _ => None,
        }
    }

    /// The kind of an encoded object, read from its first byte.
    pub fn of_encoded(encoded: &[u8]) -> Option<Self> {
        encoded.first().copied().and_then(Self::from_tag)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Blob => "blob",
            ObjectKind::Tree => "tree",
            ObjectKind::Snapshot => "snapshot",
            ObjectKind::ChunkList => "chunk list",
        })
    }
}

/// File bytes. Also holds a symlink's target.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Blob {
    /// The contents.
    pub data: Vec<u8>,
}

impl Blob {
    /// Wraps file contents.
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        Blob { data: data.into() }
    }

    /// The hash of a blob holding `data`, computed without copying it.
    pub fn hash_of(alg: HashAlgorithm, data: &[u8]) -> Hash {
        let mut h = alg.hasher();
        h.update(
            &ObjectHeader {
                kind: ObjectKind::Blob,
                payload_len: data.len() as u64,
            }
            .to_bytes(),
        );
        h.update(data);
        h.finish()
    }

    /// The encoded object.
    pub fn encode(&self) -> Vec<u8> {
        Self::encode_bytes(&self.data)
    }

    /// The encoding of a blob holding `data`, made from a borrowed slice
    /// (one copy).
    pub fn encode_bytes(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, data.len());
        w.raw(data);
        w.finish(ObjectKind::Blob);
        out
    }

    /// This blob's hash.
    pub fn hash(&self, alg: HashAlgorithm) -> Hash {
        Self::hash_of(alg, &self.data)
    }

    /// The payload of an encoded blob, borrowed: file contents without a copy.
    pub fn payload(encoded: &[u8]) -> Result<&[u8], DecodeError> {
        let (header, payload) = ObjectHeader::split(encoded)?;
        expect_kind(ObjectKind::Blob, header.kind)?;
        Ok(payload)
    }

    /// Decodes an encoded blob.
    pub fn decode(encoded: &[u8]) -> Result<Self, DecodeError> {
        Self::payload(encoded).map(Blob::new)
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.data.len())
    }
}

/// One chunk of a [`ChunkList`]: a blob and its payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    /// The chunk's blob.
    pub hash: Hash,
    /// Bytes of file content it holds: 1 to [`crate::file::CHUNK_MAX`].
    pub len: u32,
}

/// A large file's content: the blobs that hold it, in file order. A file
/// of [`crate::file::CHUNKED_FROM`] bytes or more is stored as one of these
/// (its tree entry names the chunk list); smaller files are one blob.
#[derive(Clone, PartialEq, Eq)]
pub struct ChunkList {
    chunks: Vec<ChunkRef>,
    size: u64,
}

/// Bytes one chunk takes in a chunk list's payload: length and hash.
const CHUNK_REF_LEN: usize = 4 + 32;

impl ChunkList {
    /// A chunk list of `chunks`, checked as a decoder checks one: at least
    /// [`crate::file::CHUNKED_FROM`] bytes in all, every chunk 1 to
    /// [`crate::file::CHUNK_MAX`] bytes.
    pub fn new(chunks: Vec<ChunkRef>) -> Result<Self, DecodeError> {
        let mut size = 0u64;
        for (index, chunk) in chunks.iter().enumerate() {
            if chunk.len == 0 || chunk.len > crate::file::CHUNK_MAX {
                return Err(DecodeError::BadChunkLen {
                    index,
                    len: chunk.len,
                });
            }
            size += u64::from(chunk.len);
        }
        if size < crate::file::CHUNKED_FROM {
            return Err(DecodeError::SmallChunkList { size });
        }
        Ok(ChunkList { chunks, size })
    }

    /// The chunks, in file order.
    pub fn chunks(&self) -> &[ChunkRef] {
        &self.chunks
    }

    /// The file's length: the sum of the chunk lengths.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The encoded object.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, 12 + self.chunks.len() * CHUNK_REF_LEN);
        w.u64(self.size);
        w.u32(len_u32(self.chunks.len()));
        for chunk in &self.chunks {
            w.u32(chunk.len);
            w.hash(chunk.hash.as_bytes());
        }
        w.finish(ObjectKind::ChunkList);
        out
    }

    /// This chunk list's hash: the file's identity.
    pub fn hash(&self, alg: HashAlgorithm) -> Hash {
        alg.digest(&self.encode())
    }

    /// Decodes an encoded chunk list, rejecting empty or oversized chunks,
    /// a declared size that is not the sum of the chunks, and a file small
    /// enough to be one blob (each content has one encoding).
    pub fn decode(encoded: &[u8]) -> Result<Self, DecodeError> {
        let (header, payload) = ObjectHeader::split(encoded)?;
        expect_kind(ObjectKind::ChunkList, header.kind)?;
        let mut r = Reader::payload(payload);
        let declared = r.u64("chunk list size")?;
        let count = r.u32("chunk count")? as usize;
        // Cap the allocation by what the input could hold.
        let mut chunks = Vec::with_capacity(count.min(payload.len() / CHUNK_REF_LEN));
        for _ in 0..count {
            let len = r.u32("chunk length")?;
            let hash = r.hash("chunk hash")?;
            chunks.push(ChunkRef { hash, len });
        }
        r.end()?;
        let list = ChunkList::new(chunks)?;
        if list.size != declared {
            return Err(DecodeError::SizeMismatch {
                declared,
                sum: Some(list.size),
            });
        }
        Ok(list)
    }
}

impl fmt::Debug for ChunkList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ChunkList({} chunks, {} bytes)",
            self.chunks.len(),
            self.size
        )
    }
}

/// What a tree entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// A regular file; its hash names a blob, or a chunk list when the
    /// file is large (see [`crate::file`]).
    File,
    /// A regular file with the executable bit; its hash names a blob or a
    /// chunk list, as for [`EntryKind::File`].
    Executable,
    /// A symbolic link; its hash names a blob holding the target.
    Symlink,
    /// A directory; its hash names a tree.
    Dir,
}

impl EntryKind {
    /// Every kind, in tag order.
    pub const ALL: [EntryKind; 4] = [
        EntryKind::File,
        EntryKind::Executable,
        EntryKind::Symlink,
        EntryKind::Dir,
    ];

    /// The encoded tag byte.
    pub const fn tag(self) -> u8 {
        match self {
            EntryKind::File => 1,
            EntryKind::Executable => 2,
            EntryKind::Symlink => 3,
            EntryKind::Dir => 4,
        }
    }

    /// The kind a tag byte names.
    pub const fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(EntryKind::File),
            2 => Some(EntryKind::Executable),
            3 => Some(EntryKind::Symlink),
            4 => Some(EntryKind::Dir),
            _ => None,
        }
    }

    /// The kind of object the entry's hash names when the file is small
    /// (files of [`crate::file::CHUNKED_FROM`] bytes or more name a
    /// [`ChunkList`]).
    pub const fn object_kind(self) -> ObjectKind {
        match self {
            EntryKind::Dir => ObjectKind::Tree,
            _ => ObjectKind::Blob,
        }
    }

    /// True for regular files, executable or not.
    pub const fn is_file(self) -> bool {
        matches!(self, EntryKind::File | EntryKind::Executable)
    }
}

/// One named entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The entry's name inside its directory.
    pub name: Name,
    /// File, executable, symlink or directory.
    pub kind: EntryKind,
    /// The blob or tree it names.
    pub hash: Hash,
    /// Bytes: a file's length, a symlink target's length, or for a directory
    /// the total of every file and symlink beneath it.
    pub size: u64,
}

/// A tree entry by reference, for [`Tree::encode_sorted_into`].
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    /// The entry's name (a valid name).
    pub name: &'a [u8],
    /// What it is.
    pub kind: EntryKind,
    /// The blob or tree it names.
    pub hash: &'a Hash,
    /// Its size, as in [`TreeEntry::size`].
    pub size: u64,
}

/// Why entries cannot form a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// Two entries share a name.
    #[error("duplicate entry name {0}")]
    Duplicate(Name),
    /// Entry sizes add up to more than `u64::MAX`.
    #[error("entry sizes overflow u64")]
    SizeOverflow,
}

/// One directory: entries in strictly ascending order of name bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    entries: Vec<TreeEntry>,
    total_size: u64,
}

impl Tree {
    /// A tree with no entries.
    pub fn empty() -> Self {
        Tree::default()
    }

    /// Sorts entries by name and builds the tree; duplicate names are an error.
    pub fn new(mut entries: Vec<TreeEntry>) -> Result<Self, TreeError> {
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = entries.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(TreeError::Duplicate(pair[0].name.clone()));
        }
        let total_size = entries
            .iter()
            .try_fold(0u64, |acc, e| acc.checked_add(e.size))
            .ok_or(TreeError::SizeOverflow)?;
        Ok(Tree {
            entries,
            total_size,
        })
    }

    /// The entries, sorted by name.
    pub fn entries(&self) -> &[TreeEntry] {
        &self.entries
    }

    /// The entry called `name`, if any.
    pub fn get(&self, name: &[u8]) -> Option<&TreeEntry> {
        self.entries
            .binary_search_by(|e| e.name.as_bytes().cmp(name))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The sum of the entries' sizes: every byte of file content beneath.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// The encoded object.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let entries = self.entries.iter().map(|e| EntryRef {
            name: e.name.as_bytes(),
            kind: e.kind,
            hash: &e.hash,
            size: e.size,
        });
        Self::encode_sorted_into(self.total_size, entries, &mut out);
        out
    }

    /// Encodes a tree from borrowed entries into `out` (cleared first),
    /// without building a `Tree`: for callers that already keep entries
    /// sorted and unique with valid names and know their total size (the
    /// VST), so hashing a directory allocates nothing.
    ///
    /// The caller guarantees the invariants `Tree::new` would check: names
    /// strictly ascending, `total_size` the sum of the sizes. Debug builds
    /// assert them.
    pub fn encode_sorted_into<'a>(
        total_size: u64,
        entries: impl ExactSizeIterator<Item = EntryRef<'a>>,
        out: &mut Vec<u8>,
    ) {
        let mut w = Writer::new(out, 12 + entries.len() * 64);
        w.u64(total_size);
        w.u32(len_u32(entries.len()));
        let mut sum = 0u64;
        let mut last: Option<&[u8]> = None;
        for e in entries {
            debug_assert!(
                last.is_none_or(|l| l < e.name),
                "entries not strictly sorted"
            );
            debug_assert!(validate_name(e.name).is_ok(), "invalid name");
            last = Some(e.name);
            sum = sum.wrapping_add(e.size);
            w.u8(e.kind.tag());
            w.u64(e.size);
            w.hash(e.hash.as_bytes());
            w.u16(u16::try_from(e.name.len()).expect("names are at most u16::MAX bytes"));
            w.raw(e.name);
        }
        debug_assert_eq!(sum, total_size, "total size is not the sum of entry sizes");
        w.finish(ObjectKind::Tree);
    }

    /// This tree's hash.
    pub fn hash(&self, alg: HashAlgorithm) -> Hash {
        alg.digest(&self.encode())
    }

    /// Decodes an encoded tree, rejecting unknown kinds, hostile names,
    /// unsorted or duplicate entries and sizes that do not add up.
    pub fn decode(encoded: &[u8]) -> Result<Self, DecodeError> {
        let (header, payload) = ObjectHeader::split(encoded)?;
        expect_kind(ObjectKind::Tree, header.kind)?;
        let mut r = Reader::payload(payload);
        let declared = r.u64("tree total size")?;
        let count = r.u32("tree entry count")? as usize;
        // Each entry takes at least 44 bytes; cap the allocation by what the
        // input could hold so a hostile count cannot exhaust memory.
        let mut entries: Vec<TreeEntry> = Vec::with_capacity(count.min(payload.len() / 44));
        let mut sum = Some(0u64);
        for index in 0..count {
            let tag = r.u8("entry kind")?;
            let kind = EntryKind::from_tag(tag)
                .ok_or(DecodeError::UnknownEntryKind { index, kind: tag })?;
            let size = r.u64("entry size")?;
            let hash = r.hash("entry hash")?;
            let name_len = r.u16("entry name length")?;
            let name = r.take(name_len as usize, "entry name")?;
            validate_name(name).map_err(|source| DecodeError::BadName { index, source })?;
            if entries
                .last()
                .is_some_and(|prev| prev.name.as_bytes() >= name)
            {
                return Err(DecodeError::Unsorted { index });
            }
            sum = sum.and_then(|s| s.checked_add(size));
            let name = Name::new(name).expect("validated above");
            entries.push(TreeEntry {
                name,
                kind,
                hash,
                size,
            });
        }
        r.end()?;
        if sum != Some(declared) {
            return Err(DecodeError::SizeMismatch { declared, sum });
        }
        Ok(Tree {
            entries,
            total_size: declared,
        })
    }
}

/// A point in a search: a root tree plus history and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Hash of the root tree.
    pub root: Hash,
    /// The snapshots this one was made from (usually one; none for the first).
    pub parents: Vec<SnapshotId>,
    /// Creation time, microseconds since the Unix epoch.
    pub time_micros: u64,
    /// A short human label (a commit message).
    pub label: String,
    /// Free-form key/value metadata (reward, action, node id...).
    pub metadata: BTreeMap<String, String>,
}

impl Snapshot {
    /// The encoded object.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, 64 + self.parents.len() * 32 + self.label.len());
        w.hash(self.root.as_bytes());
        w.u64(self.time_micros);
        w.u32(len_u32(self.parents.len()));
        for p in &self.parents {
            w.hash(p.as_bytes());
        }
        w.bytes32(self.label.as_bytes());
        w.u32(len_u32(self.metadata.len()));
        for (k, v) in &self.metadata {
            w.bytes32(k.as_bytes());
            w.bytes32(v.as_bytes());
        }
        w.finish(ObjectKind::Snapshot);
        out
    }

    /// This snapshot's id: the hash of its encoding.
    pub fn id(&self, alg: HashAlgorithm) -> SnapshotId {
        SnapshotId::from_bytes(*alg.digest(&self.encode()).as_bytes())
    }

    /// Decodes an encoded snapshot.
    pub fn decode(encoded: &[u8]) -> Result<Self, DecodeError> {
        let (header, payload) = ObjectHeader::split(encoded)?;
        expect_kind(ObjectKind::Snapshot, header.kind)?;
        let mut r = Reader::payload(payload);
        let root = r.hash("snapshot root")?;
        let time_micros = r.u64("snapshot time")?;
        let parent_count = r.u32("parent count")? as usize;
        let mut parents = Vec::with_capacity(parent_count.min(payload.len() / 32));
        for _ in 0..parent_count {
            parents.push(SnapshotId::from_bytes(*r.hash("parent id")?.as_bytes()));
        }
        let label = r.str32("snapshot label")?.to_owned();
        let meta_count = r.u32("metadata count")? as usize;
        let mut metadata = BTreeMap::new();
        let mut last_key: Option<&str> = None;
        for index in 0..meta_count {
            let key = r.str32("metadata key")?;
            let value = r.str32("metadata value")?;
            if last_key.is_some_and(|prev| prev >= key) {
                return Err(DecodeError::UnsortedMetadata { index });
            }
            last_key = Some(key);
            metadata.insert(key.to_owned(), value.to_owned());
        }
        r.end()?;
        Ok(Snapshot {
            root,
            parents,
            time_micros,
            label,
            metadata,
        })
    }
}

/// Any decoded object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// File contents.
    Blob(Blob),
    /// A directory.
    Tree(Tree),
    /// A snapshot record.
    Snapshot(Snapshot),
    /// A large file's chunks.
    ChunkList(ChunkList),
}

impl Object {
    /// Which kind of object this is.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Object::Blob(_) => ObjectKind::Blob,
            Object::Tree(_) => ObjectKind::Tree,
            Object::Snapshot(_) => ObjectKind::Snapshot,
            Object::ChunkList(_) => ObjectKind::ChunkList,
        }
    }

    /// The encoded object.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Object::Blob(b) => b.encode(),
            Object::Tree(t) => t.encode(),
            Object::Snapshot(s) => s.encode(),
            Object::ChunkList(c) => c.encode(),
        }
    }

    /// The object's hash: the digest of its encoding.
    pub fn hash(&self, alg: HashAlgorithm) -> Hash {
        match self {
            Object::Blob(b) => b.hash(alg),
            other => alg.digest(&other.encode()),
        }
    }

    /// Decodes any encoded object, dispatching on its tag.
    pub fn decode(encoded: &[u8]) -> Result<Self, DecodeError> {
        match ObjectHeader::split(encoded)?.0.kind {
            ObjectKind::Blob => Blob::decode(encoded).map(Object::Blob),
            ObjectKind::Tree => Tree::decode(encoded).map(Object::Tree),
            ObjectKind::Snapshot => Snapshot::decode(encoded).map(Object::Snapshot),
            ObjectKind::ChunkList => ChunkList::decode(encoded).map(Object::ChunkList),
        }
    }
}

fn expect_kind(expected: ObjectKind, found: ObjectKind) -> Result<(), DecodeError> {
    if expected == found {
        Ok(())
    } else {
        Err(DecodeError::WrongKind { expected, found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::HEADER_LEN;

    fn entry(name: &str, kind: EntryKind, size: u64) -> TreeEntry {
        let hash = Blob::hash_of(HashAlgorithm::Blake3, name.as_bytes());
        TreeEntry {
            name: Name::new(name).unwrap(),
            kind,
            hash,
            size,
        }
    }

    #[test]
    fn tree_sorts_and_rejects_duplicates() {
        let t = Tree::new(vec![
            entry("b", EntryKind::File, 1),
            entry("a", EntryKind::Dir, 5),
        ])
        .unwrap();
        assert_eq!(t.entries()[0].name.as_bytes(), b"a");
        assert_eq!(t.total_size(), 6);
        assert_eq!(t.get(b"b").unwrap().size, 1);
        assert!(t.get(b"c").is_none());
        let dup = Tree::new(vec![
            entry("a", EntryKind::File, 1),
            entry("a", EntryKind::File, 2),
        ]);
        assert_eq!(dup, Err(TreeError::Duplicate(Name::new("a").unwrap())));
        let big = Tree::new(vec![
            entry("a", EntryKind::File, u64::MAX),
            entry("b", EntryKind::File, 1),
        ]);
        assert_eq!(big, Err(TreeError::SizeOverflow));
    }

    #[test]
    fn blob_hash_of_equals_hash_of_encoding() {
        for alg in HashAlgorithm::ALL {
            let b = Blob::new(&b"hello"[..]);
            assert_eq!(b.hash(alg), alg.digest(&b.encode()));
            assert_eq!(b.encode().len(), HEADER_LEN + 5);
        }
    }

    #[test]
    fn blob_and_tree_of_same_bytes_hash_differently() {
        let tree = Tree::empty().encode();
        let payload = &tree[HEADER_LEN..];
        assert_ne!(
            Blob::hash_of(HashAlgorithm::Blake3, payload),
            HashAlgorithm::Blake3.digest(&tree)
        );
    }

    #[test]
    fn wrong_kind_is_reported() {
        let t = Tree::empty().encode();
        assert_eq!(
            Blob::decode(&t),
            Err(DecodeError::WrongKind {
                expected: ObjectKind::Blob,
                found: ObjectKind::Tree
            })
        );
        assert!(matches!(
            Snapshot::decode(&t),
            Err(DecodeError::WrongKind { .. })
        ));
        assert!(matches!(
            Tree::decode(&Blob::new(vec![]).encode()),
            Err(DecodeError::WrongKind { .. })
        ));
    }

    #[test]
    fn kinds_round_trip_their_tags() {
        for k in ObjectKind::ALL {
            assert_eq!(ObjectKind::from_tag(k.tag()), Some(k));
            assert!(!k.to_string().is_empty());
        }
        for k in EntryKind::ALL {
            assert_eq!(EntryKind::from_tag(k.tag()), Some(k));
        }
        assert_eq!(ObjectKind::from_tag(0), None);
        assert_eq!(EntryKind::from_tag(9), None);
        assert_eq!(EntryKind::Dir.object_kind(), ObjectKind::Tree);
        assert!(EntryKind::Executable.is_file() && !EntryKind::Symlink.is_file());
        assert_eq!(
            ObjectKind::of_encoded(&Tree::empty().encode()),
            Some(ObjectKind::Tree)
        );
    }
}
