//! Model-based properties: random edits, batches and forks against a
//! `BTreeMap` model whose root hash is computed by helios-types alone.

use std::sync::Arc;

use helios_types::{Blob, EntryKind, HashAlgorithm, Name, RepoPath};
use helios_vst::{Content, Edit, LeafKind, Vst, VstError};
use proptest::prelude::*;

use crate::common::{MEntry, MemLoader, Model, reference};

/// The error a model predicts, compared with the VST's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    NotADirectory(Vec<Name>),
    IsADirectory(Vec<Name>),
    NotAFile(Vec<Name>),
    NotFound(Vec<Name>),
    MissingParent(Vec<Name>),
}

fn observed(err: VstError) -> Expected {
    let v = |p: RepoPath| p.names().to_vec();
    match err {
        VstError::NotADirectory { path } => Expected::NotADirectory(v(path)),
        VstError::IsADirectory { path } => Expected::IsADirectory(v(path)),
        VstError::NotAFile { path } => Expected::NotAFile(v(path)),
        VstError::NotFound { path } => Expected::NotFound(v(path)),
        VstError::MissingParent { path } => Expected::MissingParent(v(path)),
        other => panic!("unexpected error {other}"),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        path: Vec<Name>,
        kind: LeafKind,
        content: u8,
        /// Written by its blob's hash and size rather than by bytes.
        stored: bool,
        parents: bool,
    },
    SetExec {
        path: Vec<Name>,
        on: bool,
    },
    Delete {
        path: Vec<Name>,
    },
    DeleteTree {
        path: Vec<Name>,
    },
    MakeDir {
        path: Vec<Name>,
        parents: bool,
    },
}

fn bytes(content: u8) -> Vec<u8> {
    // Content 0 is the empty file; others differ in length and bytes.
    vec![content; content as usize % 5]
}

fn to_edit(op: &Op, alg: HashAlgorithm) -> Edit {
    let rp = |p: &Vec<Name>| RepoPath::from_names(p.iter().cloned());
    match op {
        Op::Write {
            path,
            kind,
            content,
            stored,
            parents,
        } => {
            let bytes = bytes(*content);
            let content = if *stored {
                Content::Stored {
                    hash: Blob::hash_of(alg, &bytes),
                    size: bytes.len() as u64,
                }
            } else {
                Content::Bytes(bytes.into())
            };
            let e = Edit::write(rp(path), *kind, content);
            if *parents { e } else { e.without_parents() }
        }
        Op::SetExec { path, on } => Edit::set_executable(rp(path), *on),
        Op::Delete { path } => Edit::delete(rp(path)),
        Op::DeleteTree { path } => Edit::delete_tree(rp(path)),
        Op::MakeDir { path, parents } => {
            let e = Edit::make_dir(rp(path));
            if *parents { e } else { e.without_parents() }
        }
    }
}

fn path_of(op: &Op) -> &Vec<Name> {
    match op {
        Op::Write { path, .. }
        | Op::SetExec { path, .. }
        | Op::Delete { path }
        | Op::DeleteTree { path }
        | Op::MakeDir { path, .. } => path,
    }
}

/// Applies one op to the model, with the same semantics the VST documents.
fn model_apply(model: &mut Model, op: &Op) -> Result<(), Expected> {
    let path = path_of(op);
    let creates = matches!(op, Op::Write { .. } | Op::MakeDir { .. });
    let parents = matches!(
        op,
        Op::Write { parents: true, .. } | Op::MakeDir { parents: true, .. }
    );
    let mut work = model.clone();
    for depth in 0..path.len() - 1 {
        let prefix = path[..=depth].to_vec();
        match work.get(&prefix) {
            Some(MEntry::Dir) => {}
            Some(MEntry::Leaf(..)) => return Err(Expected::NotADirectory(prefix)),
            None if parents => {
                work.insert(prefix, MEntry::Dir);
            }
            None if creates => return Err(Expected::MissingParent(prefix)),
            None => return Err(Expected::NotFound(path.clone())),
        }
    }
    let existing = work.get(path).cloned();
    match (op, existing) {
        (Op::Write { .. }, Some(MEntry::Dir)) => return Err(Expected::IsADirectory(path.clone())),
        (Op::Write { kind, content, .. }, _) => {
            work.insert(
                path.clone(),
                MEntry::Leaf(kind.entry_kind(), bytes(*content)),
            );
        }
        (_, None) if !creates => return Err(Expected::NotFound(path.clone())),
        (Op::SetExec { on, .. }, Some(MEntry::Leaf(k, b))) if k != EntryKind::Symlink => {
            let kind = if *on {
                EntryKind::Executable
            } else {
                EntryKind::File
            };
            work.insert(path.clone(), MEntry::Leaf(kind, b));
        }
        (Op::SetExec { .. }, Some(MEntry::Leaf(..))) => {
            return Err(Expected::NotAFile(path.clone()));
        }
        (Op::SetExec { .. } | Op::Delete { .. }, Some(MEntry::Dir)) => {
            return Err(Expected::IsADirectory(path.clone()));
        }
        (Op::Delete { .. }, Some(MEntry::Leaf(..))) => {
            work.remove(path);
        }
        (Op::DeleteTree { .. }, Some(_)) => work.retain(|k, _| !k.starts_with(path)),
        (Op::MakeDir { .. }, None) => {
            work.insert(path.clone(), MEntry::Dir);
        }
        (Op::MakeDir { .. }, Some(MEntry::Leaf(..))) => {
            return Err(Expected::NotADirectory(path.clone()));
        }
        (Op::MakeDir { .. }, Some(MEntry::Dir)) => {}
        (_, None) => unreachable!("only creating ops reach here with nothing at the path"),
    }
    *model = work;
    Ok(())
}

/// Few names, so that paths collide often; one is not UTF-8 and sorts
/// after the others by bytes, one is long.
fn arb_path() -> impl Strategy<Value = Vec<Name>> {
    let names = vec![
        Name::new("a").unwrap(),
        Name::new("b").unwrap(),
        Name::new("c").unwrap(),
        Name::new([0xC3, 0x28]).unwrap(),
        Name::new("l".repeat(200)).unwrap(),
    ];
    prop::collection::vec(prop::sample::select(names), 1..=3)
}

fn arb_alg() -> impl Strategy<Value = HashAlgorithm> {
    prop::sample::select(HashAlgorithm::ALL.to_vec())
}

fn arb_kind() -> impl Strategy<Value = LeafKind> {
    prop_oneof![4 => Just(LeafKind::File), 1 => Just(LeafKind::Executable), 1 => Just(LeafKind::Symlink)]
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (arb_path(), arb_kind(), any::<u8>(), any::<bool>(), prop::bool::weighted(0.8))
            .prop_map(|(path, kind, content, stored, parents)| Op::Write { path, kind, content, stored, parents }),
        1 => (arb_path(), any::<bool>()).prop_map(|(path, on)| Op::SetExec { path, on }),
        2 => arb_path().prop_map(|path| Op::Delete { path }),
        1 => arb_path().prop_map(|path| Op::DeleteTree { path }),
        1 => (arb_path(), any::<bool>()).prop_map(|(path, parents)| Op::MakeDir { path, parents }),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    /// Apply a batch to version `from` (mod the number of versions).
    Batch { from: usize, ops: Vec<Op> },
    /// Fork version `from`.
    Fork { from: usize },
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (any::<usize>(), prop::collection::vec(arb_op(), 1..4)).prop_map(|(from, ops)| Step::Batch { from, ops }),
        1 => any::<usize>().prop_map(|from| Step::Fork { from }),
    ]
}

/// Asserts that `v` holds exactly `model`.
fn check(v: &Vst, model: &Model, alg: HashAlgorithm) -> Result<(), TestCaseError> {
    let (root, size) = reference(model, alg);
    prop_assert_eq!(v.root_hash(), root);
    prop_assert_eq!(v.total_size(), size);
    let files: Vec<_> = v
        .files()
        .unwrap()
        .into_iter()
        .map(|(p, e)| (p.names().to_vec(), e))
        .collect();
    let expect: Vec<_> = model
        .iter()
        .filter_map(|(p, e)| match e {
            MEntry::Leaf(kind, b) => {
                Some((p.clone(), *kind, Blob::hash_of(alg, b), b.len() as u64))
            }
            MEntry::Dir => None,
        })
        .collect();
    prop_assert_eq!(files.len(), expect.len());
    for ((p, e), (mp, kind, hash, size)) in files.iter().zip(&expect) {
        prop_assert_eq!(p, mp);
        prop_assert_eq!((e.kind, e.hash, e.size), (*kind, *hash, *size));
    }
    for (p, e) in model {
        let got = v.get(&RepoPath::from_names(p.iter().cloned())).unwrap();
        prop_assert!(got.is_some());
        prop_assert_eq!(got.unwrap().kind == EntryKind::Dir, *e == MEntry::Dir);
    }
    Ok(())
}

fn run(steps: &[Step], alg: HashAlgorithm) -> Result<Vec<(Vst, Model)>, TestCaseError> {
    let mut versions = vec![(Vst::new(alg), Model::new())];
    for step in steps {
        match step {
            Step::Fork { from } => {
                let v = versions[from % versions.len()].clone();
                versions.push(v);
            }
            Step::Batch { from, ops } => {
                let (v, model) = versions[from % versions.len()].clone();
                let before = v.root_hash();
                let mut next = model.clone();
                let expected = ops.iter().try_for_each(|op| model_apply(&mut next, op));
                let edits: Vec<_> = ops.iter().map(|op| to_edit(op, alg)).collect();
                match (v.apply(&edits), expected) {
                    (Ok(nv), Ok(())) => {
                        check(&nv, &next, alg)?;
                        versions.push((nv, next));
                    }
                    (Err(err), Err(want)) => prop_assert_eq!(observed(err), want),
                    (got, want) => {
                        prop_assert!(false, "vst {:?} but model {:?}", got.map(|_| ()), want)
                    }
                }
                // Old versions never change, whatever happened to the new one.
                prop_assert_eq!(v.root_hash(), before);
            }
        }
    }
    Ok(versions)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Contents always equal the model; the root equals the helios-types
    /// root of the model (so it depends only on content); forks are isolated.
    #[test]
    fn vst_matches_model(steps in prop::collection::vec(arb_step(), 1..40), alg in arb_alg()) {
        let versions = run(&steps, alg)?;
        for (v, model) in &versions {
            check(v, model, alg)?;
        }
    }

    /// Applying diff(a, b) to a yields b, for any two versions.
    #[test]
    fn diff_applies(steps in prop::collection::vec(arb_step(), 1..30), pick in any::<(usize, usize)>(), alg in arb_alg()) {
        let versions = run(&steps, alg)?;
        let (a, _) = &versions[pick.0 % versions.len()];
        let (b, bm) = &versions[pick.1 % versions.len()];
        let d = a.diff(b).unwrap();
        prop_assert_eq!(d.is_empty(), a.root_hash() == b.root_hash());
        let applied = a.apply_diff(&d).unwrap();
        check(&applied, bm, alg)?;
    }

    /// Any change to any file changes the root: its bytes, its kind, its
    /// executable bit, its presence.
    #[test]
    fn any_change_changes_the_root(steps in prop::collection::vec(arb_step(), 1..30), pick in any::<usize>(), alg in arb_alg()) {
        let versions = run(&steps, alg)?;
        let (v, model) = &versions[versions.len() - 1];
        let leaves: Vec<_> = model.iter().filter(|(_, e)| matches!(e, MEntry::Leaf(..))).collect();
        prop_assume!(!leaves.is_empty());
        let (path, entry) = leaves[pick % leaves.len()];
        let MEntry::Leaf(kind, bytes) = entry else { unreachable!() };
        let path = RepoPath::from_names(path.iter().cloned());
        let kind = LeafKind::from_entry_kind(*kind).unwrap();
        let mut other = bytes.clone();
        other.push(0xAB);
        let root = v.root_hash();
        prop_assert_ne!(v.edit(Edit::write(path.clone(), kind, helios_vst::Content::Bytes(other.into()))).unwrap().root_hash(), root);
        let other_kind = if kind == LeafKind::Symlink { LeafKind::File } else { LeafKind::Symlink };
        prop_assert_ne!(v.edit(Edit::write(path.clone(), other_kind, helios_vst::Content::Bytes(bytes.clone().into()))).unwrap().root_hash(), root);
        if kind != LeafKind::Symlink {
            let flipped = v.edit(Edit::set_executable(path.clone(), kind == LeafKind::File)).unwrap();
            prop_assert_ne!(flipped.root_hash(), root);
        }
        prop_assert_ne!(v.edit(Edit::delete(path)).unwrap().root_hash(), root);
    }

    /// The same files written in any order give the same root.
    #[test]
    fn order_does_not_matter(writes in prop::collection::btree_map(arb_path(), any::<u8>(), 1..12), seed in any::<usize>(), alg in arb_alg()) {
        // Keep only paths that are not a prefix of another (files, not dirs).
        let files: Vec<_> = writes.iter().filter(|(p, _)| !writes.keys().any(|q| q.len() > p.len() && q.starts_with(p))).collect();
        let edit = |(p, c): &(&Vec<Name>, &u8)| Edit::file(RepoPath::from_names(p.iter().cloned()), bytes(**c));
        let forward: Vec<_> = files.iter().map(edit).collect();
        let mut shuffled = files.clone();
        let n = shuffled.len();
        for i in 0..n {
            shuffled.swap(i, seed.wrapping_mul(i + 7) % n);
        }
        let one_by_one = shuffled.iter().fold(Vst::new(alg), |v, f| v.edit(edit(f)).unwrap());
        prop_assert_eq!(Vst::new(alg).apply(&forward).unwrap().root_hash(), one_by_one.root_hash());
    }

    /// Export round trip: what `unpersisted_objects` lists is enough to
    /// restore the tree from a store, and nothing is listed twice.
    #[test]
    fn export_restores(steps in prop::collection::vec(arb_step(), 1..20), alg in arb_alg()) {
        let versions = run(&steps, alg)?;
        let loader = Arc::new(MemLoader::default());
        for (v, model) in &versions {
            let new = v.unpersisted_objects();
            let mut hashes: Vec<_> = new.objects.iter().map(|o| o.hash).collect();
            hashes.sort();
            hashes.dedup();
            prop_assert_eq!(hashes.len(), new.objects.len());
            loader.absorb(&new, alg);
            new.marker.mark_persisted();
            prop_assert!(v.unpersisted_objects().objects.is_empty());
            let restored = Vst::restore(alg, v.root_hash(), loader.clone()).unwrap();
            check(&restored, model, alg)?;
        }
    }
}
