//! Cold trees: restore through a loader, load only what is touched, and
//! report every loader failure with the path.

use std::sync::Arc;

use helios_types::{Blob, EntryKind, Name, Tree, TreeEntry};
use helios_vst::{Edit, Vst, VstError};

use crate::common::{ALG, MemLoader, p};

/// 4 x 4 x 4 files, all persisted into a fresh loader.
fn stored() -> (Vst, Arc<MemLoader>) {
    let edits: Vec<_> = (0..64)
        .map(|i| {
            Edit::file(
                p(&format!("d{}/e{}/f{}", i / 16, (i / 4) % 4, i % 4)),
                format!("file {i}").into_bytes(),
            )
        })
        .collect();
    let v = Vst::new(ALG).apply(&edits).unwrap();
    let loader = Arc::new(MemLoader::default());
    let new = v.unpersisted_objects();
    loader.absorb(&new, ALG);
    new.marker.mark_persisted();
    (v, loader)
}

#[test]
fn restore_loads_only_what_is_touched() {
    let (v, loader) = stored();
    let r = Vst::restore(ALG, v.root_hash(), loader.clone()).unwrap();
    assert_eq!(loader.loads(), 1, "only the root");
    assert_eq!(r.root_hash(), v.root_hash());
    assert_eq!(r.total_size(), v.total_size());
    assert_eq!(
        r.get(&p("d2/e1/f3")).unwrap(),
        v.get(&p("d2/e1/f3")).unwrap()
    );
    assert_eq!(loader.loads(), 3, "root + d2 + d2/e1");
    // Memoised in the shared cold node: a fork reads without loading.
    let fork = r.clone();
    fork.get(&p("d2/e1/f0")).unwrap();
    assert_eq!(loader.loads(), 3);
    assert_eq!(r.files().unwrap(), v.files().unwrap());
    assert_eq!(loader.loads(), 1 + 4 + 16);
}

#[test]
fn edits_of_a_cold_tree_export_only_their_path() {
    let (v, loader) = stored();
    let r = Vst::restore(ALG, v.root_hash(), loader.clone()).unwrap();
    let e = r.edit(Edit::file(p("d1/e2/f0"), &b"changed"[..])).unwrap();
    assert_eq!(loader.loads(), 3);
    let expect = v.edit(Edit::file(p("d1/e2/f0"), &b"changed"[..])).unwrap();
    assert_eq!(e.root_hash(), expect.root_hash());
    assert_eq!(
        e.unpersisted_objects().objects.len(),
        4,
        "blob + e2 + d1 + root"
    );
    assert!(
        r.unpersisted_objects().objects.is_empty(),
        "the restored tree is all persisted"
    );
}

#[test]
fn diff_against_a_cold_tree_skips_equal_subtrees_without_loading() {
    let (v, loader) = stored();
    let r = Vst::restore(ALG, v.root_hash(), loader.clone()).unwrap();
    let edited = v.edit(Edit::file(p("d3/e3/f3"), &b"z"[..])).unwrap();
    let d = r.diff(&edited).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(
        loader.loads(),
        3,
        "root, d3, d3/e3: the other 19 directories stay cold"
    );
    assert_eq!(r.apply_diff(&d).unwrap().root_hash(), edited.root_hash());
    assert!(r.diff(&v).unwrap().is_empty());
}

#[test]
fn loader_failures_are_typed_and_name_the_path() {
    let (v, loader) = stored();
    let r = Vst::restore(ALG, v.root_hash(), loader.clone()).unwrap();
    let d1 = v.get(&p("d1")).unwrap().unwrap().hash;

    *loader.fail.lock().unwrap() = Some(d1);
    let err = r.get(&p("d1/e0/f0")).unwrap_err();
    assert!(
        matches!(err, VstError::Load { ref path, hash, .. } if *path == p("d1") && hash == d1),
        "{err}"
    );
    *loader.fail.lock().unwrap() = None;

    loader.trees.lock().unwrap().remove(&d1);
    let err = r.edit(Edit::file(p("d1/x"), &b""[..])).unwrap_err();
    assert!(
        matches!(err, VstError::TreeMissing { ref path, .. } if *path == p("d1")),
        "{err}"
    );

    // A tree that does not hash to its key is refused.
    let wrong = Tree::new(vec![TreeEntry {
        name: Name::new("x").unwrap(),
        kind: EntryKind::File,
        hash: Blob::hash_of(ALG, b"x"),
        size: 1,
    }])
    .unwrap();
    loader.trees.lock().unwrap().insert(d1, wrong);
    let err = r.list(&p("d1")).unwrap_err();
    assert!(
        matches!(err, VstError::CorruptTree { ref path, .. } if *path == p("d1")),
        "{err}"
    );

    let missing = Blob::hash_of(ALG, b"no such tree");
    assert!(matches!(
        Vst::restore(ALG, missing, loader.clone()),
        Err(VstError::TreeMissing { .. })
    ));
    // The failed reads left the tree usable elsewhere.
    assert!(r.get(&p("d0/e0/f0")).unwrap().is_some());
}

#[test]
fn wrong_size_from_the_store_is_refused() {
    // A parent that records the wrong size for a child tree.
    let (v, loader) = stored();
    let d0 = v.get(&p("d0")).unwrap().unwrap();
    let bad_root = Tree::new(vec![TreeEntry {
        name: Name::new("d0").unwrap(),
        kind: EntryKind::Dir,
        hash: d0.hash,
        size: d0.size + 1,
    }])
    .unwrap();
    let bad_hash = bad_root.hash(ALG);
    loader.trees.lock().unwrap().insert(bad_hash, bad_root);
    let r = Vst::restore(ALG, bad_hash, loader).unwrap();
    assert!(matches!(
        r.get(&p("d0/e0")),
        Err(VstError::CorruptTree { .. })
    ));
}
