//! The VST's root hash against the golden vectors of `spec/golden`: every
//! golden tree, rebuilt by edits (its leaves written by stored hash, its
//! subdirectories from the golden tree they name), must hash to the pinned
//! value. The VST therefore cannot drift from the object format, including
//! names that are not UTF-8.

use std::path::PathBuf;

use helios_types::{EntryKind, Hash, HashAlgorithm, Object, RepoPath, Tree};
use helios_vst::{Edit, LeafKind, Vst};
use serde_json::Value;

/// The golden trees, each with its pinned hashes.
struct GoldenTree {
    name: String,
    tree: Tree,
    blake3: Hash,
    sha256: Hash,
}

fn golden_trees() -> Vec<GoldenTree> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/golden/objects.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let field = |o: &Value, k: &str| o[k].as_str().unwrap().to_owned();
    let hex = |s: String| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "tree")
        .map(|o| {
            let Object::Tree(tree) = Object::decode(&hex(field(o, "encoding"))).unwrap() else {
                panic!("{} is not a tree", field(o, "name"));
            };
            GoldenTree {
                name: field(o, "name"),
                tree,
                blake3: field(o, "blake3").parse().unwrap(),
                sha256: field(o, "sha256").parse().unwrap(),
            }
        })
        .collect()
}

/// Edits that rebuild `tree` under `at`. A subdirectory is rebuilt from the
/// golden tree whose BLAKE3 hash it names; `None` when one is not golden.
fn rebuild(tree: &Tree, at: &RepoPath, all: &[GoldenTree], edits: &mut Vec<Edit>) -> Option<()> {
    if tree.entries().is_empty() && *at != RepoPath::root() {
        edits.push(Edit::make_dir(at.clone()));
    }
    for entry in tree.entries() {
        let path = at.join(entry.name.clone());
        let kind = match entry.kind {
            EntryKind::File => LeafKind::File,
            EntryKind::Executable => LeafKind::Executable,
            EntryKind::Symlink => LeafKind::Symlink,
            EntryKind::Dir => {
                let sub = all.iter().find(|g| g.blake3 == entry.hash)?;
                rebuild(&sub.tree, &path, all, edits)?;
                continue;
            }
        };
        edits.push(Edit::stored(path, kind, entry.hash, entry.size));
    }
    Some(())
}

#[test]
fn golden_trees_rebuilt_by_edits_hash_to_the_pinned_values() {
    let all = golden_trees();
    assert!(all.len() >= 3, "the golden file lists its trees");
    let mut nested = 0;
    for golden in &all {
        let mut edits = Vec::new();
        rebuild(&golden.tree, &RepoPath::root(), &all, &mut edits)
            .unwrap_or_else(|| panic!("{}: a subdirectory is not golden", golden.name));
        let has_dirs = golden
            .tree
            .entries()
            .iter()
            .any(|e| e.kind == EntryKind::Dir);
        // A subdirectory's hash inside a golden tree is its BLAKE3 hash, so
        // only trees without subdirectories have a SHA-256 rebuild.
        let algorithms: &[HashAlgorithm] = if has_dirs {
            nested += 1;
            &[HashAlgorithm::Blake3]
        } else {
            &HashAlgorithm::ALL
        };
        for &alg in algorithms {
            let expected = match alg {
                HashAlgorithm::Blake3 => golden.blake3,
                HashAlgorithm::Sha256 => golden.sha256,
            };
            let vst = Vst::new(alg).apply(&edits).unwrap();
            assert_eq!(vst.root_hash(), expected, "{} under {alg:?}", golden.name);
            assert_eq!(
                vst.total_size(),
                golden.tree.total_size(),
                "{}",
                golden.name
            );
        }
    }
    assert!(nested >= 1, "a golden tree with a subdirectory is covered");
}
