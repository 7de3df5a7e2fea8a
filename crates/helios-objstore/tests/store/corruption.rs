//! Damage is an error naming the object, never returned data: a wrong
//! value under a hash (written behind the store's back) and flipped bytes
//! in an SST file both fail reads with `StoreError::Corrupt { hash }`.

use helios_objstore::{RocksConfig, RocksStore};
use helios_types::store::{ObjectStore, ObjectStoreExt, StoreError};
use helios_types::{HashAlgorithm, ObjectKind};

use crate::common::{Rng, blob, create, raw_put_object, reopen, write_unlogged};

fn assert_corrupt<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    hash: helios_types::Hash,
    what: &str,
) {
    match result {
        Err(StoreError::Corrupt {
            hash: named,
            reason,
        }) => {
            assert_eq!(
                named, hash,
                "{what}: the error must name the damaged object ({reason})"
            );
        }
        other => panic!("{what}: expected Corrupt naming {hash}, got {other:?}"),
    }
}

#[test]
fn wrong_value_under_a_hash_is_refused_by_every_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), HashAlgorithm::Blake3);
    let (good, good_enc) = blob(&store, b"the real contents");
    let (other, other_enc) = blob(&store, b"some other object");
    store.put(good, good_enc).expect("put");
    store.put(other, other_enc.clone()).expect("put");
    drop(store);
    // Behind the store's back: a valid object stored under the wrong hash.
    raw_put_object(dir.path(), &good, &other_enc);
    let store = reopen(dir.path());
    assert_corrupt(store.get(&good), good, "get");
    assert_corrupt(store.require(&good), good, "require");
    assert_corrupt(store.get_many(&[other, good]), good, "get_many");
    let results: Vec<_> = store.objects(None).expect("objects").collect();
    assert_eq!(results.len(), 2, "iteration yields both entries");
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(StoreError::Corrupt { hash, .. }) if *hash == good)),
        "iteration must report the damaged object: {results:?}"
    );
    assert_eq!(
        store.get(&other).expect("the undamaged object still reads"),
        Some(other_enc)
    );
    let message = store.get(&good).expect_err("corrupt").to_string();
    assert!(
        message.contains(&good.to_string()),
        "the message must name the hash: {message}"
    );
}

#[test]
fn flipped_bytes_in_an_sst_file_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Values in the LSM tree: with blob files (the default) these 8 KiB
    // values would live in a blob file, not an SST file.
    let config = |create| RocksConfig {
        blob_files: None,
        ..if create {
            RocksConfig::create(HashAlgorithm::Blake3)
        } else {
            RocksConfig::default()
        }
    };
    let store = RocksStore::open(dir.path(), &config(true)).expect("create");
    // Random bytes do not compress, so they sit verbatim in the SST file;
    // at 8 KiB (twice the block size) each object fills a block of its own.
    let mut rng = Rng::new(9);
    let mut objects: Vec<_> = (0..4)
        .map(|_| {
            let data = rng.bytes(8192);
            let (h, enc) = blob(&store, &data);
            (h, enc, data)
        })
        .collect();
    objects.sort_by_key(|(h, _, _)| *h);
    for (h, enc, _) in &objects {
        store.put(*h, enc.clone()).expect("put");
    }
    store.flush().expect("flush to an SST file");
    drop(store);

    // Damage the third object in hash order.
    let (h, _, data) = &objects[2];
    let h = *h;
    let needle = &data[4000..4064];
    let mut damaged = 0;
    for entry in std::fs::read_dir(dir.path()).expect("read dir").flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "sst") {
            let mut bytes = std::fs::read(&path).expect("read sst");
            if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
                bytes[at + 10] ^= 0x5a;
                std::fs::write(&path, &bytes).expect("write sst");
                damaged += 1;
            }
        }
    }
    assert_eq!(
        damaged, 1,
        "the object's bytes must be found in exactly one SST file"
    );

    let store = RocksStore::open(dir.path(), &config(false)).expect("reopen");
    assert_corrupt(store.get(&h), h, "get after damage on disk");
    assert_corrupt(store.get_many(&[h]), h, "get_many after damage on disk");
    assert_eq!(
        store
            .get(&objects[3].0)
            .expect("an intact block still reads"),
        Some(objects[3].1.clone())
    );
    // A scan meets the damaged block before it knows the key inside: the
    // error is typed as damage and names the last object read intact.
    for kind in [None, Some(ObjectKind::Blob)] {
        let results: Vec<_> = store.objects(kind).expect("objects").collect();
        let read: Vec<_> = results
            .iter()
            .map_while(|r| r.as_ref().ok().map(|(h, _)| *h))
            .collect();
        assert_eq!(
            read,
            [objects[0].0, objects[1].0],
            "{kind:?}: the objects before the damage"
        );
        match results.last() {
            Some(Err(StoreError::DamagedStorage {
                op: "iterate objects",
                after,
                ..
            })) => assert_eq!(
                *after,
                Some(objects[1].0),
                "{kind:?}: the damage lies after"
            ),
            Some(Err(other)) => panic!("{kind:?}: expected DamagedStorage, got {other:?}"),
            other => panic!(
                "{kind:?}: the scan must end with DamagedStorage, got {:?}",
                other.map(|r| r.as_ref().map(|(h, _)| *h))
            ),
        }
        assert_eq!(results.len(), 3, "{kind:?}: the scan stops at the damage");
    }
}

#[test]
fn a_damaged_store_still_serves_other_objects_and_can_be_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), HashAlgorithm::Blake3);
    let (h, enc) = blob(&store, b"repair me");
    store.put(h, enc.clone()).expect("put");
    drop(store);
    raw_put_object(dir.path(), &h, b"\x01garbage");
    let store: RocksStore = reopen(dir.path());
    assert_corrupt(store.get(&h), h, "get");
    // Re-putting the right bytes (e.g. from another replica) repairs it.
    store.put(h, enc.clone()).expect("re-put");
    assert_eq!(store.get(&h).expect("get after repair"), Some(enc));
}

/// A compressed chunk in the bulk family whose bytes were damaged (its
/// length, its block) is `Corrupt` naming it, from every read, and never
/// asks for more memory than a chunk could need.
#[test]
fn a_damaged_compressed_chunk_is_refused_by_every_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), HashAlgorithm::Blake3);
    let text = "let chunk = compressible(text);\n".repeat(2048);
    let mut written = Vec::new();
    write_unlogged(&store, [text.clone().into_bytes()], &mut written);
    let (chunk, encoded) = written.pop().expect("one chunk");
    assert_eq!(store.get(&chunk).expect("get"), Some(encoded));
    drop(store);

    let stored = {
        let db = crate::common::raw_open(dir.path());
        let cf = db.cf_handle(helios_objstore::BULK_CF).expect("bulk family");
        db.get_cf(cf, chunk.as_bytes())
            .expect("raw get")
            .expect("stored")
    };
    assert_eq!(stored[0], 0xff, "a compressible chunk is stored compressed");
    assert!(
        stored.len() < text.len() / 4,
        "{} bytes stored",
        stored.len()
    );
    let mut huge = stored.clone();
    huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut flipped = stored.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x55;
    for (what, damaged) in [
        ("length", huge),
        ("block", flipped),
        ("cut", stored[..3].to_vec()),
    ] {
        {
            let db = crate::common::raw_open(dir.path());
            let cf = db.cf_handle(helios_objstore::BULK_CF).expect("bulk family");
            db.put_cf(cf, chunk.as_bytes(), &damaged).expect("raw put");
        }
        let store = reopen(dir.path());
        assert_corrupt(store.get(&chunk), chunk, what);
        assert_corrupt(store.get_many(&[chunk]), chunk, what);
        let scanned: Vec<_> = store.objects(None).expect("objects").collect();
        assert!(
            scanned
                .iter()
                .any(|r| matches!(r, Err(StoreError::Corrupt { hash, .. }) if *hash == chunk)),
            "{what}: the scan must report it: {scanned:?}"
        );
    }
}
