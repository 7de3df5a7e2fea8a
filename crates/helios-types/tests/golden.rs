//! The golden vectors in `spec/golden/objects.json`: every object's encoding
//! and both hashes are pinned, and every malformed encoding listed there must
//! be refused with the error named. A change of format fails here.
//!
//! To regenerate after a deliberate format change (which also needs a new
//! format version in the spec): `HELIOS_BLESS=1 cargo test -p helios-types --test golden`.

#![allow(clippy::cast_possible_truncation, reason = "test sizes fit in usize")]

use std::collections::BTreeMap;
use std::path::PathBuf;

use helios_types::file::{self, CHUNK_MAX, CHUNKED_FROM, ChunkParams};
use helios_types::{
    Blob, ChunkList, ChunkRef, DecodeError, EntryKind, Hash, HashAlgorithm, Name, NameError,
    Object, Snapshot, SnapshotId, Tree, TreeEntry,
};
use serde_json::{Value, json};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/golden/objects.json")
}

fn h(seed: &str) -> Hash {
    HashAlgorithm::Blake3.digest(seed.as_bytes())
}

fn entry(name: &str, kind: EntryKind, hash: Hash, size: u64) -> TreeEntry {
    TreeEntry {
        name: Name::new(name).unwrap(),
        kind,
        hash,
        size,
    }
}

/// The objects the vectors pin: every kind, every entry kind, edge cases
/// (empty blob, empty tree, non-UTF-8 name, root snapshot, merge snapshot).
fn objects() -> Vec<(&'static str, Object)> {
    let file = Blob::new(&b"fn main() {}\n"[..]);
    let alg = HashAlgorithm::Blake3;
    let sub = Tree::new(vec![entry("lib.rs", EntryKind::File, file.hash(alg), 13)]).unwrap();
    let root = Tree::new(vec![
        entry("src", EntryKind::Dir, sub.hash(alg), 13),
        entry("run.sh", EntryKind::Executable, h("run"), 20),
        entry("link", EntryKind::Symlink, h("target"), 6),
        entry("README", EntryKind::File, h("readme"), 100),
        TreeEntry {
            name: Name::new([0xC3, 0x28]).unwrap(),
            kind: EntryKind::File,
            hash: h("latin"),
            size: 0,
        },
    ])
    .unwrap();
    let mut metadata = BTreeMap::new();
    metadata.insert("reward".to_owned(), "0.75".to_owned());
    metadata.insert("action".to_owned(), "fix off-by-one".to_owned());
    let first = Snapshot {
        root: Tree::empty().hash(alg),
        parents: vec![],
        time_micros: 0,
        label: String::new(),
        metadata: BTreeMap::new(),
    };
    let merge = Snapshot {
        root: root.hash(alg),
        parents: vec![
            SnapshotId::from_bytes(*h("p1").as_bytes()),
            SnapshotId::from_bytes(*h("p2").as_bytes()),
        ],
        time_micros: 1_764_072_000_000_000,
        label: "node 42 ✓".to_owned(),
        metadata,
    };
    vec![
        ("empty blob", Object::Blob(Blob::default())),
        ("source file blob", Object::Blob(file)),
        (
            "binary blob",
            Object::Blob(Blob::new((0u8..=255).collect::<Vec<_>>())),
        ),
        ("empty tree", Object::Tree(Tree::empty())),
        ("one-file tree", Object::Tree(sub)),
        ("tree with every entry kind", Object::Tree(root)),
        ("root snapshot", Object::Snapshot(first)),
        ("merge snapshot with metadata", Object::Snapshot(merge)),
        ("chunk list", Object::ChunkList(sample_chunk_list())),
    ]
}

/// A chunk list of a file of exactly `CHUNKED_FROM` bytes in chunks of
/// `CHUNK_MAX`, the middle ones repeated.
fn sample_chunk_list() -> ChunkList {
    let n = (CHUNKED_FROM / u64::from(CHUNK_MAX)) as usize;
    let chunk = |seed| ChunkRef {
        hash: h(seed),
        len: CHUNK_MAX,
    };
    let mut chunks = vec![chunk("c1")];
    chunks.extend(std::iter::repeat_n(chunk("c2"), n - 2));
    chunks.push(chunk("c3"));
    ChunkList::new(chunks).unwrap()
}

/// The content the chunking vectors cut: the first `len` bytes of BLAKE3's
/// extendable output for the key-less hash of `seed` (any BLAKE3
/// implementation can produce it).
fn xof(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Contents whose cut points and file hashes the vectors pin: FastCDC's
/// boundaries are part of the format.
fn chunking_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut edited = xof("helios chunking", 3 << 20);
    edited.splice(1 << 20..1 << 20, *b"ten bytes!");
    vec![
        (
            "one byte short of chunking",
            xof("helios chunking", (CHUNKED_FROM - 1) as usize),
        ),
        (
            "3 MiB of pseudo-random bytes",
            xof("helios chunking", 3 << 20),
        ),
        ("the same with 10 bytes inserted at 1 MiB", edited),
        ("2 MiB of zeros", vec![0; 2 << 20]),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Rewrites the header's length to the bytes that follow it, so an edit
/// that adds or removes payload bytes reaches the payload checks instead of
/// stopping at `LengthMismatch`.
fn fix_payload_len(encoded: &mut [u8]) {
    let len = (encoded.len() - 9) as u64;
    encoded[1..9].copy_from_slice(&len.to_le_bytes());
}

/// Malformed encodings, each derived from a valid one by one edit, with the
/// exact error decoding must report. The golden file stores the error's
/// `Debug` form, inner cause and position included, so an input refused for
/// another reason than the one it was built for cannot pass.
fn malformed() -> Vec<(&'static str, Vec<u8>, DecodeError)> {
    let tree = Tree::new(vec![
        entry("a", EntryKind::File, h("a"), 1),
        entry("b", EntryKind::File, h("b"), 2),
    ])
    .unwrap()
    .encode();
    // Layout offsets: header 9, total 8, count 4, then entries of
    // kind 1 + size 8 + hash 32 + name length 2 + name.
    let first_entry = 9 + 8 + 4;
    let second_entry = first_entry + 1 + 8 + 32 + 2 + 1;
    let name_offset = 1 + 8 + 32 + 2;
    let mut unknown_tag = Blob::new(&b"x"[..]).encode();
    unknown_tag[0] = 0x7f;
    let mut trailing = Blob::new(&b"x"[..]).encode();
    trailing.push(0);
    let mut truncated = tree.clone();
    truncated.truncate(tree.len() - 1);
    let mut short_payload = tree[..tree.len() - 1].to_vec();
    fix_payload_len(&mut short_payload);
    let mut bad_kind = tree.clone();
    bad_kind[first_entry] = 9;
    let mut unsorted = tree.clone();
    unsorted[second_entry + name_offset] = b'a';
    let xx = Tree::new(vec![entry("xx", EntryKind::Dir, h("d"), 0)])
        .unwrap()
        .encode();
    let name_at = first_entry + name_offset;
    let mut dotdot = xx.clone();
    dotdot[name_at..name_at + 2].copy_from_slice(b"..");
    let mut slash = xx.clone();
    slash[name_at..name_at + 2].copy_from_slice(b"a/");
    let mut nul = xx.clone();
    nul[name_at..name_at + 2].copy_from_slice(b"a\0");
    let mut sizes = tree.clone();
    sizes[9] = 99;
    let snapshot = Snapshot {
        root: h("r"),
        parents: vec![],
        time_micros: 1,
        label: "ab".into(),
        metadata: BTreeMap::new(),
    };
    // Chunk list layout: header 9, size 8, count 4, then chunks of
    // length 4 + hash 32.
    let chunks = sample_chunk_list().encode();
    let first_chunk = 9 + 8 + 4;
    let set_u32 = |bytes: &mut Vec<u8>, at: usize, v: u32| {
        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    };
    let set_u64 = |bytes: &mut Vec<u8>, at: usize, v: u64| {
        bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    };
    let mut empty_chunk = chunks.clone();
    set_u32(&mut empty_chunk, first_chunk, 0);
    let mut long_chunk = chunks.clone();
    set_u32(&mut long_chunk, first_chunk, CHUNK_MAX + 1);
    let mut chunk_sizes = chunks.clone();
    set_u64(&mut chunk_sizes, 9, CHUNKED_FROM + 1);
    let mut no_chunks = chunks[..first_chunk].to_vec();
    set_u64(&mut no_chunks, 9, 0);
    set_u32(&mut no_chunks, 9 + 8, 0);
    fix_payload_len(&mut no_chunks);
    // One chunk dropped, the declared size and count adjusted: a file
    // under the threshold must be a blob.
    let count = sample_chunk_list().chunks().len();
    let mut small_list = chunks[..chunks.len() - 36].to_vec();
    let small = CHUNKED_FROM - u64::from(CHUNK_MAX);
    set_u64(&mut small_list, 9, small);
    set_u32(&mut small_list, 9 + 8, (count - 1) as u32);
    fix_payload_len(&mut small_list);
    let mut chunks_truncated = chunks[..chunks.len() - 1].to_vec();
    fix_payload_len(&mut chunks_truncated);
    let mut chunks_trailing = chunks.clone();
    chunks_trailing.push(0);
    fix_payload_len(&mut chunks_trailing);

    let label_at = 9 + 32 + 8 + 4 + 4;
    let mut utf8 = snapshot.encode();
    utf8[label_at] = 0xff;

    // The name length field sits just before the name.
    let mut empty_name = xx.clone();
    empty_name[name_at - 2..name_at].copy_from_slice(&0u16.to_le_bytes());
    empty_name.truncate(name_at);
    fix_payload_len(&mut empty_name);
    let mut dot = xx.clone();
    dot[name_at - 2..name_at].copy_from_slice(&1u16.to_le_bytes());
    dot.truncate(name_at);
    dot.push(b'.');
    fix_payload_len(&mut dot);
    let mut swapped = tree.clone();
    swapped[first_entry + name_offset] = b'b';
    swapped[second_entry + name_offset] = b'a';
    let mut tree_trailing = tree.clone();
    tree_trailing.push(0);
    fix_payload_len(&mut tree_trailing);
    let mut snapshot_trailing = snapshot.encode();
    snapshot_trailing.push(0);
    fix_payload_len(&mut snapshot_trailing);
    // Entry sizes u64::MAX and 2: their sum does not fit in a u64.
    let mut overflow = tree.clone();
    overflow[first_entry + 1..first_entry + 9].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut metadata = BTreeMap::new();
    metadata.insert("a".to_owned(), "1".to_owned());
    metadata.insert("b".to_owned(), "2".to_owned());
    let with_metadata = Snapshot {
        metadata,
        ..snapshot
    }
    .encode();
    // Metadata follows the two-byte label: a u32 count, then per pair a
    // u32 length and one byte of key, the same for the value.
    let first_key = label_at + 2 + 4 + 4;
    let second_key = first_key + 5 + 5;
    let mut unsorted_metadata = with_metadata.clone();
    unsorted_metadata[first_key] = b'b';
    unsorted_metadata[second_key] = b'a';
    let mut duplicate_key = with_metadata;
    duplicate_key[second_key] = b'a';

    use DecodeError::*;
    use NameError::{Dot, Empty, Nul, Slash};
    vec![
        ("unknown object tag", unknown_tag, UnknownTag(0x7f)),
        (
            "byte after the declared payload",
            trailing,
            LengthMismatch {
                declared: 1,
                actual: 2,
            },
        ),
        (
            "payload shorter than declared",
            truncated,
            LengthMismatch {
                declared: 100,
                actual: 99,
            },
        ),
        (
            "entry cut short",
            short_payload,
            Truncated {
                field: "entry name",
                offset: 108,
                needed: 1,
                available: 0,
            },
        ),
        (
            "unknown entry kind",
            bad_kind,
            UnknownEntryKind { index: 0, kind: 9 },
        ),
        ("duplicate entry names", unsorted, Unsorted { index: 1 }),
        (
            "name `..`",
            dotdot,
            BadName {
                index: 0,
                source: Dot,
            },
        ),
        (
            "name with `/`",
            slash,
            BadName {
                index: 0,
                source: Slash,
            },
        ),
        (
            "name with NUL",
            nul,
            BadName {
                index: 0,
                source: Nul,
            },
        ),
        (
            "total size not the sum of entries",
            sizes,
            SizeMismatch {
                declared: 99,
                sum: Some(3),
            },
        ),
        ("label not UTF-8", utf8, NotUtf8("snapshot label")),
        (
            "empty input",
            vec![],
            Truncated {
                field: "object tag",
                offset: 0,
                needed: 1,
                available: 0,
            },
        ),
        (
            "empty name",
            empty_name,
            BadName {
                index: 0,
                source: Empty,
            },
        ),
        (
            "name `.`",
            dot,
            BadName {
                index: 0,
                source: Dot,
            },
        ),
        ("entries out of order", swapped, Unsorted { index: 1 }),
        (
            "tree byte after the last entry, counted in the header",
            tree_trailing,
            TrailingBytes(1),
        ),
        (
            "snapshot byte after the last field, counted in the header",
            snapshot_trailing,
            TrailingBytes(1),
        ),
        (
            "entry sizes whose sum overflows",
            overflow,
            SizeMismatch {
                declared: 3,
                sum: None,
            },
        ),
        (
            "metadata keys out of order",
            unsorted_metadata,
            UnsortedMetadata { index: 1 },
        ),
        (
            "duplicate metadata keys",
            duplicate_key,
            UnsortedMetadata { index: 1 },
        ),
        (
            "chunk of length zero",
            empty_chunk,
            BadChunkLen { index: 0, len: 0 },
        ),
        (
            "chunk longer than the largest chunk",
            long_chunk,
            BadChunkLen {
                index: 0,
                len: CHUNK_MAX + 1,
            },
        ),
        (
            "chunk list size that is not the sum of its chunks",
            chunk_sizes,
            SizeMismatch {
                declared: CHUNKED_FROM + 1,
                sum: Some(CHUNKED_FROM),
            },
        ),
        (
            "chunk list without chunks",
            no_chunks,
            SmallChunkList { size: 0 },
        ),
        (
            "chunk list of a file small enough to be a blob",
            small_list,
            SmallChunkList { size: small },
        ),
        (
            "chunk list cut inside its last hash",
            chunks_truncated,
            Truncated {
                field: "chunk hash",
                offset: 9 + 8 + 4 + (count - 1) * 36 + 4,
                needed: 32,
                available: 31,
            },
        ),
        (
            "chunk list byte after the last chunk",
            chunks_trailing,
            TrailingBytes(1),
        ),
    ]
}

fn vectors() -> Value {
    let valid: Vec<Value> = objects()
        .into_iter()
        .map(|(name, obj)| {
            let encoded = obj.encode();
            json!({
                "name": name,
                "kind": obj.kind().to_string(),
                "encoding": hex(&encoded),
                "blake3": obj.hash(HashAlgorithm::Blake3).to_string(),
                "sha256": obj.hash(HashAlgorithm::Sha256).to_string(),
            })
        })
        .collect();
    let invalid: Vec<Value> = malformed()
        .into_iter()
        .map(
            |(name, bytes, error)| json!({ "name": name, "encoding": hex(&bytes), "error": format!("{error:?}") }),
        )
        .collect();
    let chunking: Vec<Value> = chunking_inputs()
        .into_iter()
        .map(|(name, data)| {
            let lengths: Vec<usize> = if data.len() as u64 >= CHUNKED_FROM {
                ChunkParams::FORMAT.chunk_lengths(&data).collect()
            } else {
                vec![]
            };
            json!({
                "name": name,
                "length": data.len(),
                "chunk_lengths": lengths,
                "blake3": file::hash_of(HashAlgorithm::Blake3, &data).to_string(),
                "sha256": file::hash_of(HashAlgorithm::Sha256, &data).to_string(),
            })
        })
        .collect();
    json!({
        "format_version": 2,
        "objects": valid,
        "malformed": invalid,
        "chunking": chunking,
    })
}

#[test]
fn golden_vectors_match() {
    let path = golden_path();
    let expected = vectors();
    if std::env::var_os("HELIOS_BLESS").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&expected).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("spec/golden/objects.json"))
            .expect("golden file is JSON");
    let stored_objects = stored["objects"].as_array().unwrap();
    assert_eq!(
        stored_objects.len(),
        objects().len(),
        "every object has a vector"
    );
    for (vector, (name, object)) in stored_objects.iter().zip(objects()) {
        assert_eq!(vector["name"], name);
        let encoding = unhex(vector["encoding"].as_str().unwrap());
        assert_eq!(
            hex(&object.encode()),
            vector["encoding"],
            "encoding of {name}"
        );
        assert_eq!(
            Object::decode(&encoding).unwrap(),
            object,
            "decoding of {name}"
        );
        for alg in HashAlgorithm::ALL {
            let pinned: Hash = vector[alg.name()].as_str().unwrap().parse().unwrap();
            assert_eq!(object.hash(alg), pinned, "{alg} hash of {name}");
            assert_eq!(
                alg.digest(&encoding),
                pinned,
                "{alg} hash of the stored bytes of {name}"
            );
        }
    }
    assert_eq!(
        stored["malformed"], expected["malformed"],
        "the malformed vectors in the golden file are the ones this test builds"
    );
    assert_eq!(
        stored["chunking"], expected["chunking"],
        "chunk boundaries and large-file hashes are the pinned ones"
    );
    for (name, bytes, error) in malformed() {
        assert_eq!(Object::decode(&bytes), Err(error), "{name}");
    }
    // Decode the stored bytes too: the file alone must be enough for another
    // implementation to check itself against.
    for vector in stored["malformed"].as_array().unwrap() {
        let bytes = unhex(vector["encoding"].as_str().unwrap());
        let err = Object::decode(&bytes).expect_err(vector["name"].as_str().unwrap());
        assert_eq!(
            format!("{err:?}"),
            vector["error"].as_str().unwrap(),
            "{}: {err}",
            vector["name"]
        );
    }
}

/// Well-known ids, pinned independently of the JSON file: the empty tree
/// and the empty blob, whose SHA-256 forms can be checked with any tool
/// (see the worked examples in spec/object-format.md).
#[test]
fn well_known_ids_are_pinned() {
    assert_eq!(
        Blob::default().hash(HashAlgorithm::Sha256).to_string(),
        "a536aa3cede6ea3c1f3e0357c3c60e0f216a8c89b853df13b29daa8f85065dfb"
    );
    assert_eq!(
        Tree::empty().hash(HashAlgorithm::Sha256).to_string(),
        "285c1cf64910d3b5f02915c14b37cc8accc999fc3857b182801597c3e6461a3a"
    );
    assert_eq!(
        Tree::empty().encode(),
        [
            2, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ]
    );
}
