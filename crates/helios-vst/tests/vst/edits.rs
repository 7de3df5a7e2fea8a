//! Edits, reads, errors, diff shapes, export and structural sharing.

use helios_types::{Blob, EntryKind, HashAlgorithm, Name, ObjectKind, RepoPath, Tree, TreeEntry};
use helios_vst::{Change, Edit, LeafKind, MAX_DEPTH, Vst, VstError, parse_path};

use crate::common::{ALG, p};

fn sample() -> Vst {
    Vst::new(ALG)
        .apply(&[
            Edit::file(p("src/lib.rs"), &b"pub fn x() {}"[..]),
            Edit::file(p("src/main.rs"), &b"fn main() {}"[..]),
            Edit::executable(p("run.sh"), &b"#!/bin/sh"[..]),
            Edit::symlink(p("link"), &b"src/lib.rs"[..]),
        ])
        .unwrap()
}

#[test]
fn empty_tree_hash_is_the_empty_tree() {
    for alg in HashAlgorithm::ALL {
        assert_eq!(Vst::new(alg).root_hash(), Tree::empty().hash(alg));
    }
}

#[test]
fn root_equals_hand_built_trees() {
    let v = sample();
    let blob = |b: &[u8]| Blob::hash_of(ALG, b);
    let e = |n: &str, kind, hash, size| TreeEntry {
        name: Name::new(n).unwrap(),
        kind,
        hash,
        size,
    };
    let src = Tree::new(vec![
        e("lib.rs", EntryKind::File, blob(b"pub fn x() {}"), 13),
        e("main.rs", EntryKind::File, blob(b"fn main() {}"), 12),
    ])
    .unwrap();
    let root = Tree::new(vec![
        e("src", EntryKind::Dir, src.hash(ALG), 25),
        e("run.sh", EntryKind::Executable, blob(b"#!/bin/sh"), 9),
        e("link", EntryKind::Symlink, blob(b"src/lib.rs"), 10),
    ])
    .unwrap();
    assert_eq!(v.root_hash(), root.hash(ALG));
    assert_eq!(v.total_size(), 25 + 9 + 10);
    let got = v.get(&p("src")).unwrap().unwrap();
    assert_eq!(
        (got.kind, got.hash, got.size),
        (EntryKind::Dir, src.hash(ALG), 25)
    );
}

#[test]
fn reads_list_walk_and_stats() {
    let v = sample();
    let names: Vec<_> = v
        .list(&RepoPath::root())
        .unwrap()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(names, ["link", "run.sh", "src"]);
    let files: Vec<_> = v
        .files()
        .unwrap()
        .into_iter()
        .map(|(p, e)| (p.to_string(), e.kind))
        .collect();
    assert_eq!(
        files,
        [
            ("link".into(), EntryKind::Symlink),
            ("run.sh".into(), EntryKind::Executable),
            ("src/lib.rs".into(), EntryKind::File),
            ("src/main.rs".into(), EntryKind::File)
        ]
    );
    let stats = v.stats().unwrap();
    assert_eq!((stats.files, stats.dirs, stats.bytes), (4, 1, 44));
    assert_eq!(v.get(&p("nope")).unwrap(), None);
    assert!(
        matches!(v.get(&p("run.sh/x")), Err(VstError::NotADirectory { path }) if path == p("run.sh"))
    );
    assert!(matches!(
        v.list(&p("run.sh")),
        Err(VstError::NotADirectory { .. })
    ));
    assert!(matches!(v.list(&p("zzz")), Err(VstError::NotFound { .. })));
    assert_eq!(
        &*v.pending_bytes(&p("src/lib.rs")).unwrap().unwrap(),
        b"pub fn x() {}"
    );
}

#[test]
fn edits_leave_the_original_untouched() {
    let a = sample();
    let root = a.root_hash();
    let b = a
        .edit(Edit::file(p("src/lib.rs"), &b"changed"[..]))
        .unwrap();
    let c = a.edit(Edit::delete_tree(p("src"))).unwrap();
    assert_eq!(a.root_hash(), root);
    assert_ne!(b.root_hash(), root);
    assert_ne!(c.root_hash(), root);
    assert_eq!(a.get(&p("src/lib.rs")).unwrap().unwrap().size, 13);
    assert_eq!(b.get(&p("src/lib.rs")).unwrap().unwrap().size, 7);
    assert_eq!(c.get(&p("src/lib.rs")).unwrap(), None);
    assert!(a.clone().ptr_eq(&a));
}

#[test]
fn executable_bit_and_kinds() {
    let v = sample();
    let x = v.edit(Edit::set_executable(p("src/lib.rs"), true)).unwrap();
    assert_eq!(
        x.get(&p("src/lib.rs")).unwrap().unwrap().kind,
        EntryKind::Executable
    );
    assert_ne!(x.root_hash(), v.root_hash());
    let back = x
        .edit(Edit::set_executable(p("src/lib.rs"), false))
        .unwrap();
    assert_eq!(back.root_hash(), v.root_hash());
    assert!(matches!(
        v.edit(Edit::set_executable(p("link"), true)),
        Err(VstError::NotAFile { .. })
    ));
    assert!(matches!(
        v.edit(Edit::set_executable(p("src"), true)),
        Err(VstError::IsADirectory { .. })
    ));
    assert!(matches!(
        v.edit(Edit::set_executable(p("nope"), true)),
        Err(VstError::NotFound { .. })
    ));
}

#[test]
fn typed_errors_name_the_offending_path() {
    let v = sample();
    let err = |e: Edit| v.edit(e).unwrap_err();
    assert!(
        matches!(err(Edit::file(p("run.sh/x"), &b""[..])), VstError::NotADirectory { path } if path == p("run.sh"))
    );
    assert!(
        matches!(err(Edit::file(p("src"), &b""[..])), VstError::IsADirectory { path } if path == p("src"))
    );
    assert!(
        matches!(err(Edit::file(p("a/b/c"), &b""[..]).without_parents()), VstError::MissingParent { path } if path == p("a"))
    );
    assert!(matches!(
        err(Edit::make_dir(p("a/b")).without_parents()),
        VstError::MissingParent { .. }
    ));
    assert!(matches!(
        err(Edit::make_dir(p("run.sh"))),
        VstError::NotADirectory { .. }
    ));
    assert!(matches!(
        err(Edit::delete(p("src"))),
        VstError::IsADirectory { .. }
    ));
    assert!(matches!(err(Edit::delete(p("a/b"))), VstError::NotFound { path } if path == p("a/b")));
    assert!(matches!(
        err(Edit::delete_tree(p("zz"))),
        VstError::NotFound { .. }
    ));
    assert!(matches!(
        err(Edit::file(RepoPath::root(), &b""[..])),
        VstError::Root { .. }
    ));
    assert!(matches!(
        err(Edit::delete(RepoPath::root())),
        VstError::Root { .. }
    ));
    assert!(matches!(
        parse_path("a/../b"),
        Err(VstError::BadPath { .. })
    ));
    assert!(matches!(parse_path("/etc"), Err(VstError::BadPath { .. })));
    assert!(matches!(parse_path("a\0b"), Err(VstError::BadPath { .. })));
    assert_eq!(parse_path("a/b").unwrap(), p("a/b"));
}

#[test]
fn batches_are_all_or_nothing() {
    let v = sample();
    let edits = [
        Edit::file(p("new/one"), &b"1"[..]),
        Edit::delete(p("src/lib.rs")),
        Edit::file(p("run.sh/oops"), &b"x"[..]),
    ];
    let err = v.apply(&edits).unwrap_err();
    assert!(
        matches!(err, VstError::NotADirectory { ref path } if *path == p("run.sh")),
        "{err}"
    );
    assert!(err.to_string().contains("run.sh"));
    assert_eq!(v.get(&p("new/one")).unwrap(), None);
    assert!(v.get(&p("src/lib.rs")).unwrap().is_some());
    assert_eq!(v.apply(&[]).unwrap().root_hash(), v.root_hash());
}

#[test]
fn sizes_overflow_is_an_error_not_a_panic() {
    let h = Blob::hash_of(ALG, b"");
    let v = Vst::new(ALG)
        .edit(Edit::stored(p("d/big"), LeafKind::File, h, u64::MAX))
        .unwrap();
    let err = v
        .edit(Edit::stored(p("d/one"), LeafKind::File, h, 1))
        .unwrap_err();
    assert!(matches!(err, VstError::SizeOverflow { .. }), "{err}");
    let err = v
        .edit(Edit::stored(p("e"), LeafKind::File, h, 1))
        .unwrap_err();
    assert!(matches!(err, VstError::SizeOverflow { .. }), "{err}");
    // Replacing the big file is fine: the old size is subtracted first.
    let w = v
        .edit(Edit::stored(p("d/big"), LeafKind::File, h, 5))
        .unwrap();
    assert_eq!(w.total_size(), 5);
}

#[test]
fn empty_dirs_and_root_delete() {
    let v = Vst::new(ALG).edit(Edit::make_dir(p("a/b"))).unwrap();
    let empty = Tree::empty();
    let a = Tree::new(vec![TreeEntry {
        name: Name::new("b").unwrap(),
        kind: EntryKind::Dir,
        hash: empty.hash(ALG),
        size: 0,
    }])
    .unwrap();
    let root = Tree::new(vec![TreeEntry {
        name: Name::new("a").unwrap(),
        kind: EntryKind::Dir,
        hash: a.hash(ALG),
        size: 0,
    }])
    .unwrap();
    assert_eq!(v.root_hash(), root.hash(ALG));
    assert_eq!(
        v.edit(Edit::make_dir(p("a"))).unwrap().root_hash(),
        v.root_hash()
    );
    assert_eq!(
        v.edit(Edit::delete_tree(RepoPath::root()))
            .unwrap()
            .root_hash(),
        empty.hash(ALG)
    );
}

#[test]
fn deepest_path_works_and_deeper_is_refused() {
    let deep =
        |n: usize| RepoPath::from_names((0..n).map(|i| Name::new(format!("{}", i % 10)).unwrap()));
    let v = Vst::new(ALG)
        .edit(Edit::file(deep(MAX_DEPTH), &b"x"[..]))
        .unwrap();
    let w = v.edit(Edit::file(deep(MAX_DEPTH), &b"y"[..])).unwrap();
    assert_ne!(v.root_hash(), w.root_hash());
    assert_eq!(v.files().unwrap().len(), 1);
    assert_eq!(v.diff(&w).unwrap().len(), 1);
    assert_eq!(v.unpersisted_objects().objects.len(), MAX_DEPTH + 1);
    assert!(matches!(
        v.edit(Edit::file(deep(MAX_DEPTH + 1), &b"x"[..])),
        Err(VstError::TooDeep { .. })
    ));
    assert!(matches!(
        v.get(&deep(MAX_DEPTH + 1)),
        Err(VstError::TooDeep { .. })
    ));
}

#[test]
fn diff_shapes() {
    let a = sample();
    let b = a
        .apply(&[
            Edit::file(p("src/lib.rs"), &b"new"[..]),
            Edit::delete_tree(p("link")),
            Edit::file(p("docs/a/x.md"), &b"x"[..]),
            Edit::make_dir(p("docs/empty")),
            Edit::set_executable(p("src/main.rs"), true),
            Edit::delete_tree(p("run.sh")),
            Edit::file(p("run.sh/inner"), &b"i"[..]),
        ])
        .unwrap();
    let d = a.diff(&b).unwrap();
    let shape: Vec<_> = d
        .iter()
        .map(|c| {
            let tag = match c {
                Change::Added { .. } => "A",
                Change::Deleted { .. } => "D",
                Change::Modified { .. } => "M",
                Change::TypeChanged { .. } => "T",
            };
            format!("{tag} {}", c.path())
        })
        .collect();
    assert_eq!(
        shape,
        [
            "A docs/a/x.md",
            "A docs/empty",
            "D link",
            "T run.sh",
            "A run.sh/inner",
            "M src/lib.rs",
            "T src/main.rs"
        ]
    );
    assert_eq!(a.apply_diff(&d).unwrap().root_hash(), b.root_hash());
    assert_eq!(
        b.apply_diff(&b.diff(&a).unwrap()).unwrap().root_hash(),
        a.root_hash()
    );
    assert!(a.diff(&a.clone()).unwrap().is_empty());
    assert!(matches!(
        a.diff(&Vst::new(HashAlgorithm::Sha256)),
        Err(VstError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn equal_content_built_apart_diffs_empty() {
    let a = sample();
    let b = Vst::new(ALG)
        .apply(&[
            Edit::symlink(p("link"), &b"src/lib.rs"[..]),
            Edit::executable(p("run.sh"), &b"#!/bin/sh"[..]),
            Edit::file(p("src/main.rs"), &b"fn main() {}"[..]),
            Edit::file(p("src/lib.rs"), &b"pub fn x() {}"[..]),
        ])
        .unwrap();
    assert_eq!(a.root_hash(), b.root_hash());
    assert!(a.diff(&b).unwrap().is_empty());
}

#[test]
fn export_lists_new_objects_once_and_marking_stops_it() {
    let v = sample();
    let new = v.unpersisted_objects();
    let trees = new
        .objects
        .iter()
        .filter(|o| o.kind == ObjectKind::Tree)
        .count();
    let blobs = new
        .objects
        .iter()
        .filter(|o| o.kind == ObjectKind::Blob)
        .count();
    assert_eq!((trees, blobs), (2, 4));
    assert_eq!(
        new.objects.last().unwrap().hash,
        v.root_hash(),
        "root comes last"
    );
    for o in &new.objects {
        assert_eq!(ALG.digest(&o.encoded), o.hash);
    }
    assert!(new.encoded_bytes() > 0);
    new.marker.mark_persisted();
    assert!(v.unpersisted_objects().objects.is_empty());
    assert_eq!(
        v.pending_bytes(&p("src/lib.rs")).unwrap(),
        None,
        "bytes dropped once persisted"
    );

    // One more edit: only its path and its blob are new, even though the
    // edited directory still holds a leaf written (and persisted) earlier.
    let w = v.edit(Edit::file(p("src/new.rs"), &b"new"[..])).unwrap();
    let new = w.unpersisted_objects();
    let kinds: Vec<_> = new.objects.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [ObjectKind::Blob, ObjectKind::Tree, ObjectKind::Tree]
    );
    assert_eq!(new.reused, references_not_created(&new), "reused");
    assert_eq!(new.reused.len(), 4, "src/lib.rs, src/main.rs, run.sh, link");
    // A fork made before marking shares the marks.
    let fork = w.clone();
    w.mark_persisted();
    assert!(fork.unpersisted_objects().objects.is_empty());
    assert_eq!(
        fork.unpersisted_objects().reused,
        [fork.root_hash()],
        "nothing new: the export relies on the stored root"
    );
}

/// What the new trees of an export point at that the export does not
/// create, found by decoding them: what `reused` must list.
fn references_not_created(new: &helios_vst::NewObjects) -> Vec<helios_types::Hash> {
    let created: std::collections::HashSet<_> = new.objects.iter().map(|o| o.hash).collect();
    let mut out: Vec<_> = new
        .objects
        .iter()
        .filter(|o| o.kind == ObjectKind::Tree)
        .flat_map(|o| Tree::decode(&o.encoded).unwrap().entries().to_vec())
        .map(|e| e.hash)
        .filter(|h| !created.contains(h))
        .collect();
    let mut reused = new.reused.clone();
    out.sort();
    reused.sort();
    assert_eq!(out, reused);
    new.reused.clone()
}

#[test]
fn forks_and_edits_share_a_lineage_and_new_trees_start_one() {
    let v = sample();
    let w = v.edit(Edit::file(p("x"), &b"x"[..])).unwrap();
    v.lineage().stamp_at_most(3);
    assert_eq!(
        w.lineage().stamp(),
        3,
        "an edit shares its source's lineage"
    );
    assert_eq!(v.clone().lineage().stamp(), 3, "so does a fork");
    let fresh = w.in_new_lineage();
    assert_eq!(fresh.root_hash(), w.root_hash());
    assert_eq!(fresh.lineage().stamp(), helios_vst::Lineage::UNSTAMPED);
    assert_eq!(
        Vst::new(ALG).lineage().stamp(),
        helios_vst::Lineage::UNSTAMPED
    );
}

#[test]
fn duplicate_content_is_exported_once() {
    let v = Vst::new(ALG)
        .apply(&[
            Edit::file(p("a/x"), &b"same"[..]),
            Edit::file(p("b/x"), &b"same"[..]),
        ])
        .unwrap();
    // Blob "same" once, tree {x} once (a and b are equal), root.
    assert_eq!(v.unpersisted_objects().objects.len(), 3);
}

/// 100K files in the benchmark layout; a fork plus one edit makes exactly
/// the directories on the edited path, a five-file edit at most five paths.
#[test]
fn structural_sharing_costs_the_path() {
    let h = Blob::hash_of(ALG, b"x");
    let edits: Vec<_> = (0..100_000usize)
        .map(|i| {
            let path = format!(
                "m{:02}/d{:02}/s{:02}/f{:03}.rs",
                i / 13824,
                (i / 576) % 24,
                (i / 24) % 24,
                i % 24
            );
            Edit::stored(p(&path), LeafKind::File, h, 1)
        })
        .collect();
    let base = Vst::new(ALG).apply(&edits).unwrap();
    assert_eq!(base.total_size(), 100_000);
    base.mark_persisted();
    let fork = base.clone();
    assert_eq!(fork.dir_nodes_not_in(&base), 0);
    let one = fork
        .edit(Edit::file(p("m03/d07/s11/f005.rs"), &b"edit"[..]))
        .unwrap();
    assert_eq!(
        one.dir_nodes_not_in(&base),
        4,
        "root + 3 directories on the path"
    );
    let five = fork
        .apply(&[
            Edit::file(p("m00/d00/s00/f000.rs"), &b"1"[..]),
            Edit::file(p("m00/d00/s00/f001.rs"), &b"2"[..]),
            Edit::file(p("m01/d05/s00/f000.rs"), &b"3"[..]),
            Edit::file(p("m02/d05/s00/f000.rs"), &b"4"[..]),
            Edit::file(p("m03/d05/s07/f000.rs"), &b"5"[..]),
        ])
        .unwrap();
    // Paths share their prefixes: root, m00/d00/s00 (3), and 3 per other file.
    assert_eq!(five.dir_nodes_not_in(&base), 1 + 3 + 3 + 3 + 3);
    assert_eq!(
        base.get(&p("m00/d00/s00/f000.rs")).unwrap().unwrap().hash,
        h,
        "base untouched"
    );
    let new = five.unpersisted_objects();
    assert_eq!(
        new.objects.len(),
        5 + 13,
        "5 blobs + every new directory, nothing else"
    );
}
