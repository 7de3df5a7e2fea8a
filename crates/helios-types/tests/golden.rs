//! The golden vectors in `spec/golden/objects.json`: every object's encoding
//! and both hashes are pinned, and every malformed encoding listed there must
//! be refused with the error named. A change of format fails here.
//!
//! To regenerate after a deliberate format change (which also needs a new
//! format version in the spec): `HELIOS_BLESS=1 cargo test -p helios-types --test golden`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use helios_types::{
    Blob, DecodeError, EntryKind, Hash, HashAlgorithm, Name, Object, Snapshot, SnapshotId, Tree,
    TreeEntry,
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

/// Malformed encodings, each derived from a valid one by one edit, with the
/// error variant decoding must report.
fn malformed() -> Vec<(&'static str, Vec<u8>, &'static str)> {
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
    let mut unknown_tag = Blob::new(&b"x"[..]).encode();
    unknown_tag[0] = 0x7f;
    let mut trailing = Blob::new(&b"x"[..]).encode();
    trailing.push(0);
    let mut truncated = tree.clone();
    truncated.truncate(tree.len() - 1);
    let mut short_payload = tree[..tree.len() - 1].to_vec();
    let declared = (short_payload.len() - 9) as u64;
    short_payload[1..9].copy_from_slice(&declared.to_le_bytes());
    let mut bad_kind = tree.clone();
    bad_kind[first_entry] = 9;
    let mut unsorted = tree.clone();
    unsorted[second_entry + 1 + 8 + 32 + 2] = b'a';
    let mut dotdot = Tree::new(vec![entry("xx", EntryKind::Dir, h("d"), 0)])
        .unwrap()
        .encode();
    let name_at = first_entry + 1 + 8 + 32 + 2;
    dotdot[name_at..name_at + 2].copy_from_slice(b"..");
    let mut slash = dotdot.clone();
    slash[name_at..name_at + 2].copy_from_slice(b"a/");
    let mut nul = dotdot.clone();
    nul[name_at..name_at + 2].copy_from_slice(b"a\0");
    let mut sizes = tree.clone();
    sizes[9] = 99;
    let mut utf8 = Snapshot {
        root: h("r"),
        parents: vec![],
        time_micros: 1,
        label: "ab".into(),
        metadata: BTreeMap::new(),
    }
    .encode();
    let label_at = 9 + 32 + 8 + 4 + 4;
    utf8[label_at] = 0xff;
    vec![
        ("unknown object tag", unknown_tag, "UnknownTag"),
        (
            "byte after the declared payload",
            trailing,
            "LengthMismatch",
        ),
        ("payload shorter than declared", truncated, "LengthMismatch"),
        ("entry cut short", short_payload, "Truncated"),
        ("unknown entry kind", bad_kind, "UnknownEntryKind"),
        ("duplicate entry names", unsorted, "Unsorted"),
        ("name `..`", dotdot, "BadName"),
        ("name with `/`", slash, "BadName"),
        ("name with NUL", nul, "BadName"),
        ("total size not the sum of entries", sizes, "SizeMismatch"),
        ("label not UTF-8", utf8, "NotUtf8"),
        ("empty input", vec![], "Truncated"),
    ]
}

fn variant_name(e: &DecodeError) -> String {
    format!("{e:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap()
        .to_owned()
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
            |(name, bytes, error)| json!({ "name": name, "encoding": hex(&bytes), "error": error }),
        )
        .collect();
    json!({ "format_version": 1, "objects": valid, "malformed": invalid })
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
    let stored_bad = stored["malformed"].as_array().unwrap();
    assert_eq!(stored_bad.len(), malformed().len());
    for vector in stored_bad {
        let bytes = unhex(vector["encoding"].as_str().unwrap());
        let err = Object::decode(&bytes).expect_err(vector["name"].as_str().unwrap());
        assert_eq!(
            variant_name(&err),
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
