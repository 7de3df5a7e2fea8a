//! The object-store conformance suite: one set of checks written against
//! the [`ObjectStore`] trait and run for every implementation (the
//! in-memory [`MemStore`](super::MemStore), RocksDB in `helios-objstore`,
//! and any cache that wraps a store).
//!
//! Compiled only with the `conformance` feature, so it costs nothing in
//! normal builds; stores enable it in their dev-dependencies.
//!
//! Every case is a plain function that takes a *fresh, empty* store and
//! panics with a message naming the case and the broken property. Run them
//! all with [`run_all`], or one by one through [`CASES`] to get one test
//! per case. Persistence is checked by [`survives_reopen`] and
//! [`deletes_survive_reopen`], which take a closure that closes and reopens
//! the store (only meaningful for durable stores).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{MetaKey, ObjectStore, ObjectStoreExt, StoreError, WriteBatch, WriteMode};
use crate::hash::{Hash, SnapshotId};
use crate::name::Name;
use crate::object::{Blob, EntryKind, ObjectKind, Snapshot, Tree, TreeEntry};

/// A conformance case: runs against a fresh, empty store.
pub type Case = fn(&dyn ObjectStore);

/// Every case that needs only a fresh store, with its name.
pub const CASES: &[(&str, Case)] = &[
    ("absence_is_none", absence_is_none),
    ("round_trip", round_trip),
    ("idempotent_reput", idempotent_reput),
    ("reput_replaces_stored_bytes", reput_replaces_stored_bytes),
    ("batch_applies_every_part", batch_applies_every_part),
    ("batch_is_atomic_to_readers", batch_is_atomic_to_readers),
    (
        "iteration_by_kind_in_hash_order",
        iteration_by_kind_in_hash_order,
    ),
    ("meta_prefix_scans", meta_prefix_scans),
    ("deletes", deletes),
    ("get_many_keeps_order", get_many_keeps_order),
    ("write_modes_and_sync", write_modes_and_sync),
    ("matches_model", matches_model),
    (
        "appended_batches_apply_in_order",
        appended_batches_apply_in_order,
    ),
    (
        "values_over_the_limit_are_refused_whole",
        values_over_the_limit_are_refused_whole,
    ),
];

/// Defines, in the calling test module, one `#[test]` per case of
/// [`CASES`] (named after the case) and a test that no case of [`CASES`] is
/// missing from this list. `$run` is a `Fn(Case)` that makes a fresh store,
/// keeps alive whatever the store needs (a temporary directory), and runs
/// the case on it:
///
/// ```ignore
/// helios_types::conformance_tests!(|case: Case| {
///     let dir = tempfile::tempdir().unwrap();
///     case(&open_store(dir.path()));
/// });
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($run:expr) => {
        $crate::conformance_tests!(@each $run;
            absence_is_none,
            round_trip,
            idempotent_reput,
            reput_replaces_stored_bytes,
            batch_applies_every_part,
            batch_is_atomic_to_readers,
            iteration_by_kind_in_hash_order,
            meta_prefix_scans,
            deletes,
            get_many_keeps_order,
            write_modes_and_sync,
            matches_model,
            appended_batches_apply_in_order,
            values_over_the_limit_are_refused_whole,
        );
    };
    (@each $run:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let run: &dyn Fn($crate::store::conformance::Case) = &$run;
                run($crate::store::conformance::$case);
            }
        )*

        #[test]
        fn every_conformance_case_has_a_test() {
            let listed = [$(stringify!($case)),*];
            for (name, _) in $crate::store::conformance::CASES {
                assert!(listed.contains(name), "conformance case {name} has no test");
            }
        }
    };
}

/// Runs every case in [`CASES`], each on a store made by `fresh`.
pub fn run_all<S: ObjectStore>(mut fresh: impl FnMut() -> S) {
    for (_, case) in CASES {
        let store = fresh();
        case(&store);
    }
}

/// A blob object with `data`, hashed with the store's algorithm.
fn blob(store: &dyn ObjectStore, data: &[u8]) -> (Hash, Vec<u8>) {
    let encoded = Blob::new(data).encode();
    (store.algorithm().digest(&encoded), encoded)
}

/// The low byte of `n` (test data only).
fn byte(n: usize) -> u8 {
    n.to_le_bytes()[0]
}

/// Deterministic bytes of length `len` (a small xorshift; no dependency).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// A tree with one file entry pointing at `hash`, and its hash.
fn tree(store: &dyn ObjectStore, name: &str, hash: Hash, size: u64) -> (Hash, Vec<u8>) {
    let name = Name::new(name).expect("conformance: a valid test name");
    let entry = TreeEntry {
        name,
        kind: EntryKind::File,
        hash,
        size,
    };
    let encoded = Tree::new(vec![entry])
        .expect("conformance: a valid test tree")
        .encode();
    (store.algorithm().digest(&encoded), encoded)
}

/// A snapshot of `root` with `label`, and its hash.
fn snapshot(store: &dyn ObjectStore, root: Hash, label: &str) -> (Hash, Vec<u8>) {
    let snap = Snapshot {
        root,
        parents: vec![SnapshotId::from_bytes([7; 32])],
        time_micros: 1_700_000_000_000_000,
        label: label.to_owned(),
        metadata: BTreeMap::from([("reward".to_owned(), "0.5".to_owned())]),
    };
    let encoded = snap.encode();
    (store.algorithm().digest(&encoded), encoded)
}

fn write(store: &dyn ObjectStore, batch: WriteBatch, mode: WriteMode, case: &str) {
    if let Err(e) = store.write(batch, mode) {
        panic!("{case}: write ({mode:?}) failed: {e}");
    }
}

fn get(store: &dyn ObjectStore, hash: &Hash, case: &str) -> Option<Vec<u8>> {
    match store.get(hash) {
        Ok(v) => v,
        Err(e) => panic!("{case}: get({hash}) failed: {e}"),
    }
}

fn all_objects(
    store: &dyn ObjectStore,
    kind: Option<ObjectKind>,
    case: &str,
) -> Vec<(Hash, Vec<u8>)> {
    let iter = store
        .objects(kind)
        .unwrap_or_else(|e| panic!("{case}: objects({kind:?}) failed: {e}"));
    iter.map(|r| r.unwrap_or_else(|e| panic!("{case}: objects({kind:?}) yielded an error: {e}")))
        .collect()
}

fn all_meta(store: &dyn ObjectStore, prefix: &[u8], case: &str) -> Vec<(MetaKey, Vec<u8>)> {
    let iter = store
        .meta_with_prefix(prefix)
        .unwrap_or_else(|e| panic!("{case}: meta_with_prefix({prefix:?}) failed: {e}"));
    iter.map(|r| {
        r.unwrap_or_else(|e| panic!("{case}: meta_with_prefix({prefix:?}) yielded an error: {e}"))
    })
    .collect()
}

/// Absent objects and metadata are `Ok(None)`, never errors; `require`
/// turns absence into `NotFound` naming the hash; an empty store iterates
/// nothing.
pub fn absence_is_none(store: &dyn ObjectStore) {
    const CASE: &str = "absence_is_none";
    let (h, _) = blob(store, b"never stored");
    assert_eq!(
        get(store, &h, CASE),
        None,
        "{CASE}: get of an absent object must be Ok(None)"
    );
    assert!(
        !store.contains(&h).expect("contains"),
        "{CASE}: contains of an absent object must be false"
    );
    assert_eq!(
        store.get_meta(b"no such key").expect("get_meta"),
        None,
        "{CASE}: absent meta must be None"
    );
    assert_eq!(
        store.get_many(&[h, h]).expect("get_many"),
        vec![None, None],
        "{CASE}: get_many of absent"
    );
    match store.require(&h) {
        Err(StoreError::NotFound(missing)) => {
            assert_eq!(missing, h, "{CASE}: NotFound must name the hash")
        }
        other => panic!("{CASE}: require of an absent object must be NotFound, got {other:?}"),
    }
    assert!(
        all_objects(store, None, CASE).is_empty(),
        "{CASE}: an empty store must iterate no objects"
    );
    assert!(
        all_meta(store, b"", CASE).is_empty(),
        "{CASE}: an empty store must iterate no meta"
    );
}

/// Objects of every kind and of sizes from empty to 1 MiB come back byte
/// for byte; `contains` sees them.
pub fn round_trip(store: &dyn ObjectStore) {
    const CASE: &str = "round_trip";
    let mut stored = Vec::new();
    for (i, len) in [0usize, 1, 100, 4096, 65_536, 1 << 20]
        .into_iter()
        .enumerate()
    {
        let (h, enc) = blob(store, &bytes(i as u64 + 1, len));
        store
            .put(h, enc.clone())
            .unwrap_or_else(|e| panic!("{CASE}: put of a {len}-byte blob failed: {e}"));
        stored.push((h, enc));
    }
    let (th, tenc) = tree(store, "main.rs", stored[2].0, 100);
    let (sh, senc) = snapshot(store, th, "first");
    let mut batch = WriteBatch::new();
    batch
        .put_object(th, tenc.clone())
        .put_object(sh, senc.clone());
    write(store, batch, WriteMode::Sync, CASE);
    stored.push((th, tenc));
    stored.push((sh, senc));
    for (h, enc) in &stored {
        assert_eq!(
            get(store, h, CASE).as_deref(),
            Some(&enc[..]),
            "{CASE}: object {h} must read back unchanged"
        );
        assert!(
            store.contains(h).expect("contains"),
            "{CASE}: contains({h}) must be true after put"
        );
        assert_eq!(
            store.require(h).expect("require").len(),
            enc.len(),
            "{CASE}: require({h})"
        );
    }
}

/// Putting an object that is already stored changes nothing: same bytes,
/// one entry, in separate writes and within one batch.
pub fn idempotent_reput(store: &dyn ObjectStore) {
    const CASE: &str = "idempotent_reput";
    let (h, enc) = blob(store, b"fn main() {}\n");
    for _ in 0..3 {
        store
            .put(h, enc.clone())
            .unwrap_or_else(|e| panic!("{CASE}: re-put failed: {e}"));
    }
    let mut batch = WriteBatch::new();
    batch.put_object(h, enc.clone()).put_object(h, enc.clone());
    write(store, batch, WriteMode::Sync, CASE);
    assert_eq!(
        get(store, &h, CASE),
        Some(enc.clone()),
        "{CASE}: re-put must keep the bytes"
    );
    let all = all_objects(store, None, CASE);
    assert_eq!(
        all,
        vec![(h, enc)],
        "{CASE}: re-puts must leave exactly one entry"
    );
}

/// A put of a hash already stored replaces its bytes (the last put wins,
/// also within one batch), so a re-put of verified bytes repairs an entry
/// that holds wrong ones. Stores do not verify on write, which is how the
/// wrong bytes get in here; on disk they come from damage.
pub fn reput_replaces_stored_bytes(store: &dyn ObjectStore) {
    const CASE: &str = "reput_replaces_stored_bytes";
    let (h, enc) = blob(store, b"the real contents");
    let wrong = Blob::new(&b"other contents"[..]).encode();
    store
        .put(h, wrong.clone())
        .unwrap_or_else(|e| panic!("{CASE}: put of wrong bytes failed: {e}"));
    match store.get(&h) {
        Err(StoreError::Corrupt { hash, .. }) => {
            assert_eq!(hash, h, "{CASE}: Corrupt must name the hash")
        }
        other => panic!("{CASE}: wrong bytes under {h} must read as Corrupt, got {other:?}"),
    }
    store
        .put(h, enc.clone())
        .unwrap_or_else(|e| panic!("{CASE}: repairing re-put failed: {e}"));
    assert_eq!(
        get(store, &h, CASE),
        Some(enc.clone()),
        "{CASE}: a re-put must replace the stored bytes"
    );

    // Within one batch: the last put of a hash wins, either way round.
    let (g, genc) = blob(store, b"batched");
    let mut batch = WriteBatch::new();
    batch
        .put_object(g, genc.clone())
        .put_object(g, wrong.clone());
    write(store, batch, WriteMode::Sync, CASE);
    assert!(
        matches!(store.get(&g), Err(StoreError::Corrupt { hash, .. }) if hash == g),
        "{CASE}: the last put of a batch must win (wrong bytes last)"
    );
    let mut batch = WriteBatch::new();
    batch.put_object(g, wrong).put_object(g, genc.clone());
    write(store, batch, WriteMode::Sync, CASE);
    assert_eq!(
        get(store, &g, CASE),
        Some(genc.clone()),
        "{CASE}: the last put of a batch must win (right bytes last)"
    );
    assert_eq!(
        all_objects(store, None, CASE),
        {
            let mut both = vec![(h, enc), (g, genc)];
            both.sort();
            both
        },
        "{CASE}: one entry per hash after re-puts"
    );
}

/// One batch with objects, object deletes, meta puts and meta deletes
/// applies every part; within a batch deletes apply before puts.
pub fn batch_applies_every_part(store: &dyn ObjectStore) {
    const CASE: &str = "batch_applies_every_part";
    let (old, old_enc) = blob(store, b"old");
    let (kept, kept_enc) = blob(store, b"kept");
    let mut first = WriteBatch::new();
    first
        .put_object(old, old_enc)
        .put_object(kept, kept_enc.clone());
    first
        .put_meta(b"ref/main".to_vec(), b"v1".to_vec())
        .put_meta(b"ref/gone".to_vec(), b"x".to_vec());
    write(store, first, WriteMode::Sync, CASE);

    let (new, new_enc) = blob(store, b"new");
    let mut second = WriteBatch::new();
    second
        .put_object(new, new_enc.clone())
        .put_object(kept, kept_enc.clone());
    second.object_deletes = vec![old, kept, blob(store, b"never stored").0];
    second.put_meta(b"ref/main".to_vec(), b"v2".to_vec());
    second.meta_deletes = vec![b"ref/gone".to_vec(), b"ref/never".to_vec()];
    write(store, second, WriteMode::Sync, CASE);

    assert_eq!(
        get(store, &old, CASE),
        None,
        "{CASE}: a deleted object must be gone"
    );
    assert_eq!(
        get(store, &new, CASE),
        Some(new_enc),
        "{CASE}: a put object must be there"
    );
    assert_eq!(
        get(store, &kept, CASE),
        Some(kept_enc),
        "{CASE}: an object deleted and put in one batch must be present (deletes apply first)"
    );
    assert_eq!(
        store.get_meta(b"ref/main").expect("get_meta"),
        Some(b"v2".to_vec()),
        "{CASE}: meta overwrite"
    );
    assert_eq!(
        store.get_meta(b"ref/gone").expect("get_meta"),
        None,
        "{CASE}: meta delete"
    );
}

/// Readers on another thread never see part of a batch: whenever a batch's
/// marker is visible all its objects are, and whenever one of its objects is
/// visible the marker is too.
pub fn batch_is_atomic_to_readers(store: &dyn ObjectStore) {
    const CASE: &str = "batch_is_atomic_to_readers";
    const BATCHES: u64 = 60;
    const PER_BATCH: u64 = 40;
    let batches: Vec<(Vec<u8>, Vec<Hash>, WriteBatch)> = (0..BATCHES)
        .map(|b| {
            let mut batch = WriteBatch::new();
            let mut hashes = Vec::new();
            for i in 0..PER_BATCH {
                let (h, enc) = blob(store, format!("batch {b} object {i}").as_bytes());
                hashes.push(h);
                batch.put_object(h, enc);
            }
            let marker = format!("batch/{b:04}").into_bytes();
            batch.put_meta(marker.clone(), b"done".to_vec());
            (marker, hashes, batch)
        })
        .collect();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut checks = 0u64;
            while !done.load(Ordering::Acquire) || checks == 0 {
                for (marker, hashes, _) in &batches {
                    // Marker first: once it is visible, every object must be.
                    if store.get_meta(marker).expect("get_meta").is_some() {
                        let got = store.get_many(hashes).expect("get_many");
                        let missing = got.iter().filter(|g| g.is_none()).count();
                        assert_eq!(
                            missing, 0,
                            "{CASE}: {marker:?} visible but {missing} of its objects are not"
                        );
                    }
                    // Object first: once one is visible, the marker must be.
                    let last = hashes[hashes.len() - 1];
                    if store.contains(&last).expect("contains") {
                        assert!(
                            store.get_meta(marker).expect("get_meta").is_some(),
                            "{CASE}: an object of {marker:?} is visible but its marker is not"
                        );
                    }
                    checks += 1;
                }
            }
            checks
        });
        for (_, _, batch) in &batches {
            write(store, batch.clone(), WriteMode::Buffered, CASE);
        }
        done.store(true, Ordering::Release);
        let checks = reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        assert!(checks > 0, "{CASE}: the reader must have checked something");
    });
    assert_eq!(
        all_objects(store, None, CASE).len() as u64,
        BATCHES * PER_BATCH,
        "{CASE}: every object lands"
    );
}

/// `objects(None)` yields every object in hash order; `objects(Some(kind))`
/// yields exactly the objects of that kind, in hash order.
pub fn iteration_by_kind_in_hash_order(store: &dyn ObjectStore) {
    const CASE: &str = "iteration_by_kind_in_hash_order";
    let mut model: BTreeMap<Hash, Vec<u8>> = BTreeMap::new();
    let mut batch = WriteBatch::new();
    for i in 0..40usize {
        let (bh, benc) = blob(store, &bytes(i as u64, 50 + i * 7));
        let (th, tenc) = tree(store, &format!("f{i}.rs"), bh, benc.len() as u64);
        let (sh, senc) = snapshot(store, th, &format!("node {i}"));
        // A chunk list naming the blob at every place (its chunks need
        // not be stored for a store to hold it).
        let least = crate::file::CHUNKED_FROM.div_ceil(u64::from(crate::file::CHUNK_MAX));
        let n = usize::try_from(least).expect("a few chunks") + i;
        let chunk = crate::ChunkRef {
            hash: bh,
            len: crate::file::CHUNK_MAX,
        };
        let cenc = crate::ChunkList::new(vec![chunk; n])
            .expect("a valid chunk list")
            .encode();
        let ch = store.algorithm().digest(&cenc);
        for (h, enc) in [(bh, benc), (th, tenc), (sh, senc), (ch, cenc)] {
            if i % 3 != 0 || ObjectKind::of_encoded(&enc) == Some(ObjectKind::Blob) {
                model.insert(h, enc.clone());
                batch.put_object(h, enc);
            }
        }
    }
    write(store, batch, WriteMode::Buffered, CASE);
    let all = all_objects(store, None, CASE);
    let expected: Vec<_> = model.iter().map(|(h, e)| (*h, e.clone())).collect();
    assert_eq!(all.len(), expected.len(), "{CASE}: objects(None) count");
    assert!(
        all == expected,
        "{CASE}: objects(None) must yield every object in hash order"
    );
    let mut seen = BTreeSet::new();
    for kind in ObjectKind::ALL {
        let got = all_objects(store, Some(kind), CASE);
        let want: Vec<_> = expected
            .iter()
            .filter(|(_, e)| ObjectKind::of_encoded(e) == Some(kind))
            .cloned()
            .collect();
        assert!(!want.is_empty(), "{CASE}: the test must store some {kind}");
        assert_eq!(got.len(), want.len(), "{CASE}: objects(Some({kind})) count");
        assert!(
            got == want,
            "{CASE}: objects(Some({kind})) must yield exactly the {kind}s in hash order"
        );
        seen.extend(got.into_iter().map(|(h, _)| h));
    }
    assert_eq!(
        seen.len(),
        model.len(),
        "{CASE}: the kinds must partition the objects"
    );
}

/// Prefix scans return exactly the keys with the prefix, in key order,
/// including prefixes ending in `0xff` and the empty prefix.
pub fn meta_prefix_scans(store: &dyn ObjectStore) {
    const CASE: &str = "meta_prefix_scans";
    let keys: Vec<Vec<u8>> = vec![
        b"ref/a".to_vec(),
        b"ref/b".to_vec(),
        b"ref/".to_vec(),
        b"ref".to_vec(),
        b"ref0".to_vec(),
        b"snap/1".to_vec(),
        vec![0xff],
        vec![0xff, 0xff],
        vec![0xff, 0xff, 0x00],
        vec![0x00],
    ];
    let mut batch = WriteBatch::new();
    for (i, k) in keys.iter().enumerate() {
        batch.put_meta(k.clone(), vec![byte(i)]);
    }
    write(store, batch, WriteMode::Sync, CASE);
    let sorted: BTreeMap<Vec<u8>, Vec<u8>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), vec![byte(i)]))
        .collect();
    for prefix in [
        &b""[..],
        b"ref",
        b"ref/",
        b"ref/a",
        b"snap",
        b"zzz",
        &[0xff],
        &[0xff, 0xff],
        &[0x00],
    ] {
        let got = all_meta(store, prefix, CASE);
        let want: Vec<_> = sorted
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(got, want, "{CASE}: meta_with_prefix({prefix:?})");
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            store.get_meta(k).expect("get_meta"),
            Some(vec![byte(i)]),
            "{CASE}: get_meta({k:?})"
        );
    }
}

/// `delete_objects` removes objects, tolerates absent ones, and leaves the
/// rest alone.
pub fn deletes(store: &dyn ObjectStore) {
    const CASE: &str = "deletes";
    let objs: Vec<_> = (0..10u64).map(|i| blob(store, &bytes(i, 30))).collect();
    for (h, e) in &objs {
        store.put(*h, e.clone()).expect("put");
    }
    let gone: Vec<Hash> = objs.iter().step_by(2).map(|(h, _)| *h).collect();
    let absent = blob(store, b"absent").0;
    let mut to_delete = gone.clone();
    to_delete.push(absent);
    store
        .delete_objects(&to_delete)
        .unwrap_or_else(|e| panic!("{CASE}: delete_objects failed: {e}"));
    for (i, (h, e)) in objs.iter().enumerate() {
        let expect = if i % 2 == 0 { None } else { Some(e.clone()) };
        assert_eq!(
            get(store, h, CASE),
            expect,
            "{CASE}: object {i} after deleting the even ones"
        );
        assert_eq!(
            store.contains(h).expect("contains"),
            i % 2 == 1,
            "{CASE}: contains of object {i}"
        );
    }
    assert_eq!(
        all_objects(store, None, CASE).len(),
        5,
        "{CASE}: iteration after deletes"
    );
    store.put(objs[0].0, objs[0].1.clone()).expect("put");
    assert!(
        get(store, &objs[0].0, CASE).is_some(),
        "{CASE}: a deleted object can be put again"
    );
}

/// `get_many` answers in the order asked, with `None` for absent objects and
/// repeated hashes answered each time.
pub fn get_many_keeps_order(store: &dyn ObjectStore) {
    const CASE: &str = "get_many_keeps_order";
    let objs: Vec<_> = (0..20usize)
        .map(|i| blob(store, &bytes(i as u64 + 100, 10 + i * 13)))
        .collect();
    let mut batch = WriteBatch::new();
    for (h, e) in objs.iter().skip(1).step_by(2) {
        batch.put_object(*h, e.clone());
    }
    write(store, batch, WriteMode::Buffered, CASE);
    let mut ask: Vec<Hash> = objs.iter().rev().map(|(h, _)| *h).collect();
    ask.push(objs[1].0);
    ask.push(objs[0].0);
    let got = store
        .get_many(&ask)
        .unwrap_or_else(|e| panic!("{CASE}: get_many failed: {e}"));
    assert_eq!(got.len(), ask.len(), "{CASE}: one answer per hash asked");
    let by_hash: BTreeMap<Hash, (usize, &Vec<u8>)> = objs
        .iter()
        .enumerate()
        .map(|(i, (h, e))| (*h, (i, e)))
        .collect();
    for (h, answer) in ask.iter().zip(&got) {
        let (i, enc) = by_hash[h];
        let expect = if i % 2 == 1 { Some(enc.clone()) } else { None };
        assert_eq!(answer, &expect, "{CASE}: get_many answer for object {i}");
    }
    assert!(
        store.get_many(&[]).expect("get_many").is_empty(),
        "{CASE}: get_many of nothing is empty"
    );
}

/// Both write modes make writes visible at once; `sync` succeeds; an empty
/// batch is accepted in both modes.
pub fn write_modes_and_sync(store: &dyn ObjectStore) {
    const CASE: &str = "write_modes_and_sync";
    for (i, mode) in [WriteMode::Sync, WriteMode::Buffered, WriteMode::Unlogged]
        .into_iter()
        .enumerate()
    {
        let (h, e) = blob(store, format!("mode {i}").as_bytes());
        let mut batch = WriteBatch::new();
        batch
            .put_object(h, e.clone())
            .put_meta(format!("m{i}").into_bytes(), vec![1]);
        write(store, batch, mode, CASE);
        assert_eq!(
            get(store, &h, CASE),
            Some(e),
            "{CASE}: a {mode:?} write must be visible at once"
        );
        write(store, WriteBatch::new(), mode, CASE);
    }
    store
        .sync()
        .unwrap_or_else(|e| panic!("{CASE}: sync failed: {e}"));
    assert_eq!(
        all_meta(store, b"m", CASE).len(),
        3,
        "{CASE}: every meta entry after sync"
    );
}

/// The store as a model: objects and metadata entries.
#[derive(Default)]
struct Model {
    objects: BTreeMap<Hash, Vec<u8>>,
    meta: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Model {
    /// Applies `batch` as [`WriteBatch`] documents: deletes before puts.
    fn apply(&mut self, batch: &WriteBatch) {
        for h in &batch.object_deletes {
            self.objects.remove(h);
        }
        for (h, e) in &batch.objects {
            self.objects.insert(*h, e.to_vec());
        }
        for k in &batch.meta_deletes {
            self.meta.remove(k);
        }
        for (k, v) in &batch.meta_puts {
            self.meta.insert(k.clone(), v.clone());
        }
    }

    /// Panics unless `store` holds exactly the model.
    fn check(&self, store: &dyn ObjectStore, case: &str) {
        let got = all_objects(store, None, case);
        let want: Vec<_> = self.objects.iter().map(|(h, e)| (*h, e.clone())).collect();
        assert!(
            got == want,
            "{case}: objects after the sequence ({} vs model {})",
            got.len(),
            want.len()
        );
        let got_meta = all_meta(store, b"", case);
        let want_meta: Vec<_> = self
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(got_meta, want_meta, "{case}: meta after the sequence");
    }
}

/// A deterministic stream of random batches over a pool of 60 blobs and 20
/// metadata keys, so puts, re-puts and deletes of one key keep meeting.
struct RandomBatches {
    pool: Vec<(Hash, Vec<u8>)>,
    rand: std::iter::Cycle<std::vec::IntoIter<u8>>,
}

impl RandomBatches {
    fn new(store: &dyn ObjectStore, seed: u64) -> Self {
        RandomBatches {
            pool: (0..60usize)
                .map(|i| blob(store, &bytes(i as u64 + 1000, (i * 37) % 700)))
                .collect(),
            rand: bytes(seed, 4000).into_iter().cycle(),
        }
    }

    fn below(&mut self, n: usize) -> usize {
        self.rand.next().map_or(0, usize::from) % n
    }

    fn batch(&mut self, step: usize) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for _ in 0..self.below(6) {
            let i = self.below(self.pool.len());
            batch.object_deletes.push(self.pool[i].0);
        }
        for _ in 0..self.below(8) {
            let i = self.below(self.pool.len());
            let (h, e) = self.pool[i].clone();
            batch.put_object(h, e);
        }
        for _ in 0..self.below(4) {
            let key = vec![b'k', byte(self.below(20))];
            let value = vec![byte(step), byte(self.below(256))];
            batch.put_meta(key, value);
        }
        for _ in 0..self.below(3) {
            let key = vec![b'k', byte(self.below(20))];
            batch.meta_deletes.push(key);
        }
        batch
    }
}

/// A deterministic random sequence of batches (puts, re-puts, deletes, meta
/// changes) leaves the store equal to a `BTreeMap` model.
pub fn matches_model(store: &dyn ObjectStore) {
    const CASE: &str = "matches_model";
    let mut model = Model::default();
    let mut batches = RandomBatches::new(store, 42);
    for step in 0..150 {
        let batch = batches.batch(step);
        model.apply(&batch);
        let mode = if step % 5 == 0 {
            WriteMode::Sync
        } else {
            WriteMode::Buffered
        };
        write(store, batch, mode, CASE);
    }
    model.check(store, CASE);
    for (h, _) in &batches.pool {
        assert_eq!(
            get(store, h, CASE),
            model.objects.get(h).cloned(),
            "{CASE}: get({h}) against the model"
        );
    }
}

/// Batches merged with [`WriteBatch::append`] (as a writer that groups
/// queued requests does) leave the store as writing them one by one would:
/// a put followed by a delete of the same key leaves nothing, a delete
/// followed by a put leaves the put.
pub fn appended_batches_apply_in_order(store: &dyn ObjectStore) {
    const CASE: &str = "appended_batches_apply_in_order";
    let (h, e) = blob(store, b"pinned then unpinned");
    let mut put = WriteBatch::new();
    put.put_object(h, e.clone())
        .put_meta(b"pin".to_vec(), vec![1]);
    let mut delete = WriteBatch::new();
    delete.object_deletes.push(h);
    delete.meta_deletes.push(b"pin".to_vec());
    let mut merged = put.clone();
    merged.append(delete.clone());
    write(store, merged, WriteMode::Buffered, CASE);
    assert_eq!(get(store, &h, CASE), None, "{CASE}: put then delete");
    assert!(
        all_meta(store, b"pin", CASE).is_empty(),
        "{CASE}: meta put then delete"
    );
    let mut merged = delete;
    merged.append(put);
    write(store, merged, WriteMode::Buffered, CASE);
    assert_eq!(get(store, &h, CASE), Some(e), "{CASE}: delete then put");
    assert_eq!(
        all_meta(store, b"pin", CASE),
        vec![(b"pin".to_vec(), vec![1])],
        "{CASE}: meta delete then put"
    );
    write(
        store,
        WriteBatch {
            object_deletes: vec![h],
            meta_deletes: vec![b"pin".to_vec()],
            ..WriteBatch::default()
        },
        WriteMode::Buffered,
        CASE,
    );

    let mut model = Model::default();
    let mut batches = RandomBatches::new(store, 7);
    let mut step = 0;
    for group in 0..40 {
        let mut merged = WriteBatch::new();
        for _ in 0..=group % 5 {
            let batch = batches.batch(step);
            model.apply(&batch);
            merged.append(batch);
            step += 1;
        }
        write(store, merged, WriteMode::Buffered, CASE);
    }
    model.check(store, CASE);
}

/// Objects and metadata written in every mode, made durable by `sync`, are
/// all there after `reopen` (which must close the store and open it again).
/// Returns the reopened store.
pub fn survives_reopen<S: ObjectStore>(store: S, reopen: impl FnOnce(S) -> S) -> S {
    const CASE: &str = "survives_reopen";
    let mut expect = Vec::new();
    for i in 0..200usize {
        let (h, e) = blob(&store, &bytes(i as u64 + 7, 20 + (i % 50) * 40));
        let mut batch = WriteBatch::new();
        batch
            .put_object(h, e.clone())
            .put_meta(format!("obj/{i:04}").into_bytes(), h.as_bytes().to_vec());
        // Unlogged writes are durable after the `sync` below, whether a
        // logged write follows them or not.
        let mode = match i % 3 {
            0 => WriteMode::Sync,
            1 => WriteMode::Buffered,
            _ => WriteMode::Unlogged,
        };
        write(&store, batch, mode, CASE);
        expect.push((h, e));
    }
    store
        .sync()
        .unwrap_or_else(|e| panic!("{CASE}: sync failed: {e}"));
    let alg = store.algorithm();
    let store = reopen(store);
    assert_eq!(
        store.algorithm(),
        alg,
        "{CASE}: the algorithm must survive reopen"
    );
    for (i, (h, e)) in expect.iter().enumerate() {
        assert_eq!(
            get(&store, h, CASE).as_ref(),
            Some(e),
            "{CASE}: object {i} after reopen"
        );
        let key = format!("obj/{i:04}").into_bytes();
        assert_eq!(
            store.get_meta(&key).expect("get_meta").as_deref(),
            Some(&h.as_bytes()[..]),
            "{CASE}: meta {i} after reopen"
        );
    }
    assert_eq!(
        all_objects(&store, None, CASE).len(),
        expect.len(),
        "{CASE}: object count after reopen"
    );
    store
}

/// Deletes of objects and metadata are as durable as puts.
pub fn deletes_survive_reopen<S: ObjectStore>(store: S, reopen: impl FnOnce(S) -> S) -> S {
    const CASE: &str = "deletes_survive_reopen";
    let objs: Vec<_> = (0..20u64)
        .map(|i| blob(&store, &bytes(i + 500, 64)))
        .collect();
    let mut batch = WriteBatch::new();
    for (h, e) in &objs {
        batch.put_object(*h, e.clone());
    }
    batch
        .put_meta(b"ref/x".to_vec(), b"1".to_vec())
        .put_meta(b"ref/y".to_vec(), b"2".to_vec());
    write(&store, batch, WriteMode::Sync, CASE);
    let mut del = WriteBatch::new();
    del.object_deletes = objs.iter().take(10).map(|(h, _)| *h).collect();
    del.meta_deletes = vec![b"ref/x".to_vec()];
    write(&store, del, WriteMode::Sync, CASE);
    let store = reopen(store);
    for (i, (h, _)) in objs.iter().enumerate() {
        assert_eq!(
            store.contains(h).expect("contains"),
            i >= 10,
            "{CASE}: object {i} after reopen"
        );
    }
    assert_eq!(
        all_meta(&store, b"ref/", CASE),
        vec![(b"ref/y".to_vec(), b"2".to_vec())],
        "{CASE}: meta"
    );
    store
}

/// A batch holding a value longer than [`ObjectStore::max_value_len`] is
/// refused whole with [`StoreError::TooLarge`], never written in part or
/// silently truncated. Exercised where the limit is small enough to build
/// such a value in a test (64 MiB); every store must hold at least 1 MiB (plus
/// an object header).
pub fn values_over_the_limit_are_refused_whole(store: &dyn ObjectStore) {
    const CASE: &str = "values_over_the_limit_are_refused_whole";
    let max = store.max_value_len();
    assert!(max >= 1 << 20, "{CASE}: a store must hold values of 1 MiB");
    let Some(too_long) = max
        .checked_add(1)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= 64 << 20)
    else {
        return;
    };
    let (small, small_encoded) = blob(store, b"beside a huge one");
    let mut batch = WriteBatch::new();
    batch
        .put_object(small, small_encoded)
        .put_meta(b"huge".to_vec(), vec![7; too_long]);
    match store.write(batch, WriteMode::Sync) {
        Err(StoreError::TooLarge { len, max: said }) => {
            assert_eq!(
                (len, said),
                (max + 1, max),
                "{CASE}: the error names the sizes"
            );
        }
        other => panic!("{CASE}: expected TooLarge, got {other:?}"),
    }
    assert_eq!(get(store, &small, CASE), None, "{CASE}: nothing written");
    assert!(
        all_meta(store, b"huge", CASE).is_empty(),
        "{CASE}: nothing written"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashAlgorithm;
    use crate::store::MemStore;

    #[test]
    fn mem_store_passes_every_case_with_both_algorithms() {
        for alg in [HashAlgorithm::Blake3, HashAlgorithm::Sha256] {
            run_all(|| MemStore::new(alg));
        }
    }

    #[test]
    fn a_store_that_drops_writes_fails_the_suite() {
        /// Loses every second object of each batch: the suite must notice.
        struct Lossy(MemStore);
        impl ObjectStore for Lossy {
            fn algorithm(&self) -> crate::hash::HashAlgorithm {
                self.0.algorithm()
            }
            fn get(&self, hash: &Hash) -> super::super::StoreResult<Option<Vec<u8>>> {
                self.0.get(hash)
            }
            fn contains(&self, hash: &Hash) -> super::super::StoreResult<bool> {
                self.0.contains(hash)
            }
            fn write(
                &self,
                mut batch: WriteBatch,
                mode: WriteMode,
            ) -> super::super::StoreResult<()> {
                let mut keep = false;
                batch.objects.retain(|_| {
                    keep = !keep;
                    keep
                });
                self.0.write(batch, mode)
            }
            fn objects(
                &self,
                kind: Option<ObjectKind>,
            ) -> super::super::StoreResult<super::super::ObjectIter<'_>> {
                self.0.objects(kind)
            }
            fn get_meta(&self, key: &[u8]) -> super::super::StoreResult<Option<Vec<u8>>> {
                self.0.get_meta(key)
            }
            fn meta_with_prefix(
                &self,
                prefix: &[u8],
            ) -> super::super::StoreResult<super::super::MetaIter<'_>> {
                self.0.meta_with_prefix(prefix)
            }
            fn sync(&self) -> super::super::StoreResult<()> {
                Ok(())
            }
        }
        let failed =
            std::panic::catch_unwind(|| round_trip(&Lossy(MemStore::new(HashAlgorithm::Blake3))));
        let failed_batch = std::panic::catch_unwind(|| {
            batch_applies_every_part(&Lossy(MemStore::new(HashAlgorithm::Blake3)))
        });
        assert!(
            failed.is_err() || failed_batch.is_err(),
            "a lossy store must fail the suite"
        );
    }
}
