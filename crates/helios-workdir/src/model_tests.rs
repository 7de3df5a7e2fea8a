//! Model-based checkout tests: random pairs of trees whose entries change
//! type at every depth (file, executable, symlink, directory, empty
//! directory), switched from each to each. Whatever path checkout takes —
//! the fast path, a full scan, or a re-run after a failure part-way — the
//! directory must end up exactly as a materialization of the target into
//! an empty directory.

use std::collections::BTreeMap;
use std::path::Path;

use helios_types::store::{MemStore, ObjectStore as _};
use helios_types::{HashAlgorithm, Name, RepoPath};
use helios_vst::{Edit, Vst};
use proptest::prelude::*;

use super::tests::{expected, on_disk};
use super::*;

const ALG: HashAlgorithm = HashAlgorithm::Blake3;

/// A tree as the model sees it.
#[derive(Debug, Clone)]
enum Model {
    File(Vec<u8>),
    Exec(Vec<u8>),
    Link(Vec<u8>),
    Dir(BTreeMap<String, Model>),
}

/// Three names and one-byte contents, so two random trees collide often:
/// the same path holds another type, or the same type with other bytes,
/// at every depth.
fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from)
}

fn model() -> impl Strategy<Value = BTreeMap<String, Model>> {
    let bytes = prop::collection::vec(prop::sample::select(vec![b'x', b'y']), 0..2);
    let leaf = prop_oneof![
        bytes.clone().prop_map(Model::File),
        bytes.prop_map(Model::Exec),
        prop::sample::select(vec![&b"a"[..], b"../b", b"/nowhere"])
            .prop_map(|t| Model::Link(t.to_vec())),
    ];
    let node = leaf.prop_recursive(4, 40, 3, |inner| {
        prop::collection::btree_map(name(), inner, 0..3).prop_map(Model::Dir)
    });
    prop::collection::btree_map(name(), node, 0..4)
}

fn edits(dir: &RepoPath, entries: &BTreeMap<String, Model>, out: &mut Vec<Edit>) {
    for (name, node) in entries {
        let path = dir.join(Name::new(name.as_bytes()).unwrap());
        match node {
            Model::File(b) => out.push(Edit::file(path, b.clone())),
            Model::Exec(b) => out.push(Edit::executable(path, b.clone())),
            Model::Link(t) => out.push(Edit::symlink(path, t.clone())),
            Model::Dir(children) if children.is_empty() => out.push(Edit::make_dir(path)),
            Model::Dir(children) => edits(&path, children, out),
        }
    }
}

fn tree(model: &BTreeMap<String, Model>, store: &MemStore) -> Vst {
    let mut list = Vec::new();
    edits(&RepoPath::root(), model, &mut list);
    let vst = Vst::new(ALG).apply(&list).unwrap();
    let new = vst.unpersisted_objects();
    for o in new.objects.into_iter().chain(new.chunks) {
        store.put(o.hash, o.encoded).unwrap();
    }
    new.marker.mark_persisted();
    vst
}

fn no_progress(_: u64, _: u64) {}

/// A fresh directory holding `tree`, with its state file.
fn checked_out(tmp: &Path, tree: &Vst, store: &MemStore) -> (std::path::PathBuf, StateFile) {
    let dir = tmp.join("wd");
    let state = StateFile::new(tmp.join("wd.state"));
    Checkout {
        from: None,
        to: tree,
        blobs: store,
        dir: &dir,
        state: &state,
    }
    .run(&CheckoutOptions::default(), &no_progress)
    .unwrap();
    assert_eq!(on_disk(&dir, &[]), expected(tree, store));
    (dir, state)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Fast path and full scan, from each tree to the other.
    #[test]
    fn checkout_between_any_two_trees_equals_materialize(a in model(), b in model()) {
        let store = MemStore::new(ALG);
        let (ta, tb) = (tree(&a, &store), tree(&b, &store));
        for (from, to) in [(&ta, &tb), (&tb, &ta)] {
            for full in [false, true] {
                let tmp = tempfile::tempdir().unwrap();
                let (dir, state) = checked_out(tmp.path(), from, &store);
                let options = CheckoutOptions { full, ..CheckoutOptions::default() };
                Checkout { from: Some(from), to, blobs: &store, dir: &dir, state: &state }.run(&options, &no_progress)
                    .unwrap_or_else(|e| panic!("full={full}: {e}"));
                prop_assert_eq!(on_disk(&dir, &[]), expected(to, &store), "full={}", full);
            }
        }
    }

    /// A checkout that fails after any number of operations leaves a
    /// directory that the next checkout to the same target finishes, even
    /// when the caller still names the old tree as `from`.
    #[test]
    fn a_rerun_after_a_failure_part_way_finishes_the_job(
        a in model(),
        b in model(),
        fail_after in 0u64..12,
    ) {
        let store = MemStore::new(ALG);
        let (ta, tb) = (tree(&a, &store), tree(&b, &store));
        let tmp = tempfile::tempdir().unwrap();
        let (dir, state) = checked_out(tmp.path(), &ta, &store);
        let failing = CheckoutOptions {
            fail_after_ops: Some(fail_after),
            ..CheckoutOptions::default()
        };
        match (Checkout { from: Some(&ta), to: &tb, blobs: &store, dir: &dir, state: &state }).run(&failing, &no_progress) {
            Ok(_) | Err(WorkdirError::Injected(_)) => {}
            Err(e) => panic!("{e}"),
        }
        Checkout { from: Some(&ta), to: &tb, blobs: &store, dir: &dir, state: &state }.run(&CheckoutOptions::default(), &no_progress)
            .unwrap();
        prop_assert_eq!(on_disk(&dir, &[]), expected(&tb, &store));
    }

    /// A capture of a directory holding tree `b` while its recorded state
    /// says `a` (a tool rewrote it: leaves retyped into directories and
    /// back at every depth) reads exactly `b`, on one thread or several;
    /// the parts of a parallel walk merge into the same tree and the same
    /// counts.
    #[test]
    fn a_capture_reads_the_same_tree_on_one_thread_or_many(a in model(), b in model()) {
        let store = MemStore::new(ALG);
        let (ta, tb) = (tree(&a, &store), tree(&b, &store));
        let mut reports = Vec::new();
        for walkers in [1, 2, 4] {
            let tmp = tempfile::tempdir().unwrap();
            let (dir, state) = checked_out(tmp.path(), &ta, &store);
            let elsewhere = StateFile::new(tmp.path().join("tool.state"));
            Checkout { from: None, to: &tb, blobs: &store, dir: &dir, state: &elsewhere }
                .run(&CheckoutOptions { force: true, ..CheckoutOptions::default() }, &no_progress)
                .unwrap();
            let options = CaptureOptions { walkers, ..CaptureOptions::default() };
            let captured = capture(&dir, &ta, &options, &state, &MemStore::new(ALG))
                .unwrap_or_else(|e| panic!("walkers={walkers}: {e}"));
            prop_assert_eq!(captured.tree.root_hash(), tb.root_hash(), "walkers={}", walkers);
            prop_assert_eq!(expected(&captured.tree, &store), expected(&tb, &store));
            let mut report = captured.report;
            report.state_unrecorded = false;
            reports.push(report);
        }
        prop_assert_eq!(&reports[0], &reports[1]);
        prop_assert_eq!(&reports[0], &reports[2]);
    }
}
