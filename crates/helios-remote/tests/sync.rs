//! Two stores (RocksDB, each in its own directory) sharing snapshots
//! through a remote in a real directory: one pushes, the other fetches,
//! as two machines of a search would.

use helios_engine::{CommitMeta, Durability, EngineConfig, EngineError, HeliosEngine};
use helios_remote::{FormatError, Remote, RemoteError, fetch, push};
use helios_types::{RepoPath, SnapshotId};
use helios_vst::{Edit, Vst};

fn engine(dir: &std::path::Path, name: &str) -> HeliosEngine {
    HeliosEngine::open(dir.join(name), EngineConfig::small()).unwrap()
}

fn path(p: &str) -> RepoPath {
    RepoPath::parse(p).unwrap()
}

fn remote(dir: &std::path::Path) -> Remote {
    Remote::open(&format!("file://{}", dir.join("remote").display())).unwrap()
}

/// Every file of snapshot `id` with its bytes.
fn contents(engine: &HeliosEngine, id: &SnapshotId) -> Vec<(String, Vec<u8>)> {
    let vst = engine.restore(id).unwrap();
    vst.files()
        .unwrap()
        .into_iter()
        .map(|(p, _)| {
            let bytes = engine.read_file(&vst, &p, 0..u64::MAX).unwrap();
            (p.to_string(), bytes)
        })
        .collect()
}

fn commit(engine: &HeliosEngine, vst: &Vst, parent: Option<SnapshotId>, label: &str) -> SnapshotId {
    engine
        .commit(vst, Durability::Sync, CommitMeta::child_of(parent, label))
        .unwrap()
        .0
}

/// A workspace: source files in nested directories and one large file,
/// stored as chunks.
fn workspace(engine: &HeliosEngine) -> Vst {
    let mut edits: Vec<Edit> = (0..60)
        .map(|i| {
            Edit::file(
                path(&format!("src/m{}/d{}/f{i}.rs", i % 4, i % 3)),
                format!("fn f{i}() {{}}\n").into_bytes(),
            )
        })
        .collect();
    let large: Vec<u8> = (0..6u32 << 20)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect();
    edits.push(Edit::file(path("data/model.bin"), large));
    engine.empty_tree().apply(&edits).unwrap()
}

#[test]
fn a_snapshot_pushed_by_one_store_is_fetched_whole_with_its_history_by_another() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (engine(tmp.path(), "a"), engine(tmp.path(), "b"));
    let first_tree = workspace(&a);
    let first = commit(&a, &first_tree, None, "first");
    let second_tree = first_tree
        .apply(&[Edit::file(path("src/m1/d1/f1.rs"), b"changed\n".to_vec())])
        .unwrap();
    let second = commit(&a, &second_tree, Some(first), "second");

    let pushed = push(&a, &remote(tmp.path()), second, Some("main"), false).unwrap();
    assert!(pushed.ref_moved);
    assert!(pushed.packs >= 1 && pushed.objects > 60, "{pushed:?}");

    let fetched = fetch(&b, &remote(tmp.path()), "main").unwrap();
    assert_eq!(fetched.id, second);
    assert_eq!(fetched.objects, pushed.objects);
    assert_eq!(contents(&b, &second), contents(&a, &second));
    assert_eq!(contents(&b, &first), contents(&a, &first));
    let history: Vec<_> = b
        .log(&second, 10)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(history, [second, first]);
    b.verify(&second).unwrap();

    // Durable: a reopened store still has it.
    b.close().unwrap();
    drop(b);
    let b = engine(tmp.path(), "b");
    assert_eq!(contents(&b, &second), contents(&a, &second));
}

#[test]
fn pushing_again_sends_nothing_and_an_edit_sends_only_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (engine(tmp.path(), "a"), engine(tmp.path(), "b"));
    let tree = workspace(&a);
    let base = commit(&a, &tree, None, "base");
    push(&a, &remote(tmp.path()), base, Some("main"), false).unwrap();
    fetch(&b, &remote(tmp.path()), "main").unwrap();

    let again = push(&a, &remote(tmp.path()), base, Some("main"), false).unwrap();
    assert_eq!((again.objects, again.packs, again.ref_moved), (0, 0, false));

    let edited = tree
        .apply(&[Edit::file(path("src/m2/d2/f2.rs"), b"edited\n".to_vec())])
        .unwrap();
    let next = commit(&a, &edited, Some(base), "edit");
    let pushed = push(&a, &remote(tmp.path()), next, Some("main"), false).unwrap();
    // The record, the root, src, src/m2, src/m2/d2 and the file.
    assert_eq!(pushed.objects, 6, "{pushed:?}");
    let fetched = fetch(&b, &remote(tmp.path()), "main").unwrap();
    assert_eq!((fetched.id, fetched.objects), (next, 6));
    assert_eq!(contents(&b, &next), contents(&a, &next));
}

#[test]
fn a_push_that_would_drop_another_machines_work_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (engine(tmp.path(), "a"), engine(tmp.path(), "b"));
    let tree = workspace(&a);
    let base = commit(&a, &tree, None, "base");
    push(&a, &remote(tmp.path()), base, Some("main"), false).unwrap();
    fetch(&b, &remote(tmp.path()), "main").unwrap();

    // Both machines build on the base.
    let on_a = commit(
        &a,
        &tree
            .apply(&[Edit::file(path("a.txt"), b"a\n".to_vec())])
            .unwrap(),
        Some(base),
        "a",
    );
    let b_tree = b.restore(&base).unwrap();
    let on_b = commit(
        &b,
        &b_tree
            .apply(&[Edit::file(path("b.txt"), b"b\n".to_vec())])
            .unwrap(),
        Some(base),
        "b",
    );
    push(&a, &remote(tmp.path()), on_a, Some("main"), false).unwrap();
    let err = push(&b, &remote(tmp.path()), on_b, Some("main"), false).unwrap_err();
    assert!(
        matches!(&err, RemoteError::NotFastForward { now, .. } if *now == on_a),
        "{err}"
    );
    assert_eq!(
        remote(tmp.path()).get_ref("main").unwrap().unwrap().id,
        on_a
    );
    // Under another name, or forced, it goes.
    push(&b, &remote(tmp.path()), on_b, Some("b/main"), false).unwrap();
    push(&b, &remote(tmp.path()), on_b, Some("main"), true).unwrap();
    assert_eq!(
        remote(tmp.path()).get_ref("main").unwrap().unwrap().id,
        on_b
    );
    // A fetched child of a snapshot the fetcher has reads only the new part.
    let fetched = fetch(&a, &remote(tmp.path()), "main").unwrap();
    assert_eq!(fetched.id, on_b);
    assert!(fetched.objects <= 3, "{fetched:?}");
}

#[test]
fn a_damaged_remote_is_an_error_naming_the_object_and_nothing_is_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (engine(tmp.path(), "a"), engine(tmp.path(), "b"));
    let id = commit(&a, &workspace(&a), None, "base");
    push(&a, &remote(tmp.path()), id, Some("main"), false).unwrap();
    // Flip a byte in the middle of every pack.
    for entry in std::fs::read_dir(tmp.path().join("remote/packs")).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_some_and(|e| e == "pack") {
            let mut bytes = std::fs::read(&file).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x40;
            std::fs::write(&file, bytes).unwrap();
        }
    }
    let err = fetch(&b, &remote(tmp.path()), "main").unwrap_err();
    assert!(
        matches!(
            &err,
            RemoteError::Format {
                source: FormatError::HashMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        b.snapshot(&id),
        Err(EngineError::SnapshotNotFound(_))
    ));
    // A ref the remote lacks is named.
    assert!(matches!(
        fetch(&b, &remote(tmp.path()), "nothing"),
        Err(RemoteError::NoSuchRef { .. })
    ));
}

#[test]
fn an_unchanged_push_costs_the_same_few_requests_however_much_the_tree_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut costs = Vec::new();
    for (n, files) in [(0, 60usize), (1, 600)] {
        let a = engine(tmp.path(), &format!("a{n}"));
        let edits: Vec<Edit> = (0..files)
            .map(|i| {
                Edit::file(
                    path(&format!("d{}/f{i}", i % 9)),
                    format!("{i}").into_bytes(),
                )
            })
            .collect();
        let id = commit(&a, &a.empty_tree().apply(&edits).unwrap(), None, "t");
        let url = format!("file://{}", tmp.path().join(format!("remote{n}")).display());
        let cache = tmp.path().join(format!("cache{n}"));
        let first = Remote::open(&url).unwrap().with_index_cache(cache.clone());
        let pushed = push(&a, &first, id, Some("main"), false).unwrap();
        assert!(pushed.objects > files as u64, "{pushed:?}");
        let again = Remote::open(&url).unwrap().with_index_cache(cache);
        let pushed = push(&a, &again, id, Some("main"), false).unwrap();
        assert_eq!(pushed.objects, 0);
        costs.push(again.requests());
    }
    // The marker, the ref's listing and entry, the packs' listing.
    assert_eq!(costs[0], costs[1], "{costs:?}");
    assert!(costs[0] <= 4, "{costs:?}");
}
