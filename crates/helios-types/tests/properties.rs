//! Property tests of the object model: encoding is canonical and
//! reversible, hashing depends on content alone, and no input makes the
//! decoder panic or accept a non-canonical encoding.

use std::collections::BTreeMap;

use helios_types::{
    Blob, EntryKind, Hash, HashAlgorithm, Name, Object, Snapshot, SnapshotId, Tree, TreeEntry,
};
use proptest::prelude::*;

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
