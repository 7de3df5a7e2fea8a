//! Property tests of the object model: encoding is canonical and
//! reversible, hashing depends on content alone, and no input makes the
//! decoder panic or accept a non-canonical encoding.

use std::collections::BTreeMap;

use helios_types::{
    Blob, EntryKind, Hash, HashAlgorithm, Name, Object, Snapshot, SnapshotId, Tree, TreeEntry,
};
use proptest::prelude::*;

/// A 32-byte digest with the byte at `at` (mod 32) xored with `flip`.
fn flip_byte(mut bytes: [u8; 32], at: usize, flip: u8) -> [u8; 32] {
    bytes[at % bytes.len()] ^= flip;
    bytes
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash::from_bytes)
}

fn name() -> impl Strategy<Value = Name> {
    prop::collection::vec(any::<u8>(), 1..12)
        .prop_filter_map("valid name", |bytes| Name::new(bytes).ok())
}

fn entry_kind() -> impl Strategy<Value = EntryKind> {
    prop::sample::select(EntryKind::ALL.to_vec())
}

fn tree() -> impl Strategy<Value = Tree> {
    prop::collection::btree_map(name(), (entry_kind(), hash(), 0u64..1 << 40), 0..24).prop_map(
        |m| {
            let entries = m
                .into_iter()
                .map(|(name, (kind, hash, size))| TreeEntry {
                    name,
                    kind,
                    hash,
                    size,
                })
                .collect();
            Tree::new(entries).unwrap()
        },
    )
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        hash(),
        prop::collection::vec(any::<[u8; 32]>().prop_map(SnapshotId::from_bytes), 0..3),
        any::<u64>(),
        ".{0,20}",
        prop::collection::btree_map(".{0,8}", ".{0,8}", 0..4),
    )
        .prop_map(|(root, parents, time_micros, label, metadata)| Snapshot {
            root,
            parents,
            time_micros,
            label,
            metadata: metadata.into_iter().collect::<BTreeMap<_, _>>(),
        })
}

fn object() -> impl Strategy<Value = Object> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256).prop_map(|d| Object::Blob(Blob::new(d))),
        tree().prop_map(Object::Tree),
        snapshot().prop_map(Object::Snapshot),
    ]
}

proptest! {
    #[test]
    fn decode_inverts_encode(obj in object()) {
        let encoded = obj.encode();
        prop_assert_eq!(Object::decode(&encoded).unwrap(), obj);
    }

    #[test]
    fn hash_depends_on_content_not_entry_order(t in tree(), seed in any::<u64>()) {
        let mut entries = t.entries().to_vec();
        // A deterministic shuffle: rotate by a seed-chosen amount and reverse.
        if !entries.is_empty() {
            let k = usize::try_from(seed % entries.len() as u64).unwrap();
            entries.rotate_left(k);
        }
        entries.reverse();
        let rebuilt = Tree::new(entries).unwrap();
        for alg in HashAlgorithm::ALL {
            prop_assert_eq!(rebuilt.hash(alg), t.hash(alg));
        }
    }

    #[test]
    fn a_different_byte_gives_a_different_hash(
        data in prop::collection::vec(any::<u8>(), 1..512),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut other = data.clone();
        let i = at.index(data.len());
        other[i] ^= flip;
        for alg in HashAlgorithm::ALL {
            prop_assert_ne!(Blob::hash_of(alg, &data), Blob::hash_of(alg, &other));
        }
    }

    #[test]
    fn a_different_byte_in_a_tree_or_snapshot_gives_a_different_hash(
        obj in prop_oneof![tree().prop_map(Object::Tree), snapshot().prop_map(Object::Snapshot)],
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut bytes = obj.encode();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        // Whether or not the changed bytes still decode, they never share a
        // hash with the original; if they decode, the object they decode to
        // has a hash of its own too.
        let decoded = Object::decode(&bytes).ok();
        for alg in HashAlgorithm::ALL {
            prop_assert_ne!(alg.digest(&bytes), obj.hash(alg));
            if let Some(other) = &decoded {
                prop_assert_ne!(other.hash(alg), obj.hash(alg));
            }
        }
    }

    #[test]
    fn changing_one_tree_entry_field_changes_the_tree_hash(
        t in tree().prop_filter("non-empty", |t| !t.entries().is_empty()),
        which in any::<prop::sample::Index>(),
        field in 0u8..4,
        byte in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut entries = t.entries().to_vec();
        let e = &mut entries[which.index(t.entries().len())];
        match field {
            0 => {
                e.hash = Hash::from_bytes(flip_byte(*e.hash.as_bytes(), byte.index(32), flip));
            }
            1 => e.size ^= u64::from(flip),
            2 => {
                let mut name = e.name.as_bytes().to_vec();
                let i = byte.index(name.len());
                name[i] ^= flip;
                // The new name must still be a name and not collide with a
                // sibling; anything else is not a tree to hash.
                let Ok(name) = Name::new(name) else {
                    return Err(TestCaseError::reject("changed name is not valid"));
                };
                e.name = name;
            }
            _ => {
                let others: Vec<_> = EntryKind::ALL.into_iter().filter(|k| *k != e.kind).collect();
                e.kind = others[byte.index(others.len())];
            }
        }
        let Ok(changed) = Tree::new(entries) else {
            return Err(TestCaseError::reject("changed name collides with a sibling"));
        };
        for alg in HashAlgorithm::ALL {
            prop_assert_ne!(changed.hash(alg), t.hash(alg), "field {}", field);
        }
    }

    #[test]
    fn changing_one_snapshot_field_changes_its_id(
        s in snapshot(),
        field in 0u8..6,
        byte in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut changed = s.clone();
        match field {
            0 => {
                changed.root = Hash::from_bytes(flip_byte(*changed.root.as_bytes(), byte.index(32), flip));
            }
            1 => changed.time_micros ^= u64::from(flip),
            2 => match changed.parents.len() {
                0 => changed.parents.push(SnapshotId::from_bytes([flip; 32])),
                n => {
                    let p = &mut changed.parents[byte.index(n)];
                    *p = SnapshotId::from_bytes(flip_byte(*p.as_bytes(), usize::from(flip), flip));
                }
            },
            3 => {
                // One byte of the label, kept UTF-8 (a label is text); an
                // empty label gains one byte instead.
                let mut label = changed.label.into_bytes();
                match label.len() {
                    0 => label.push(flip & 0x7f | 1),
                    n => label[byte.index(n)] ^= flip,
                }
                let Ok(label) = String::from_utf8(label) else {
                    return Err(TestCaseError::reject("changed label is not UTF-8"));
                };
                changed.label = label;
            }
            4 => {
                let value = changed.metadata.entry("k".to_owned()).or_default();
                value.push(char::from(flip & 0x7f));
            }
            _ => {
                let key = changed.metadata.keys().next().cloned().unwrap_or_default();
                let value = changed.metadata.remove(&key);
                changed.metadata.insert(format!("{key}{}", char::from(flip & 0x7f)), value.unwrap_or_default());
            }
        }
        prop_assert_ne!(&changed, &s);
        for alg in HashAlgorithm::ALL {
            prop_assert_ne!(changed.id(alg), s.id(alg), "field {}", field);
        }
    }

    #[test]
    fn decoder_never_panics_and_accepts_only_canonical_bytes(
        obj in object(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = obj.encode();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        bytes.truncate(bytes.len() - cut.index(3).min(bytes.len()));
        if let Ok(decoded) = Object::decode(&bytes) {
            // Whatever the decoder accepts must be the one encoding of what
            // it returns; otherwise two byte strings would share a meaning.
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(decoded) = Object::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }
}
