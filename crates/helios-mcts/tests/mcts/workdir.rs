//! FsWorkdir turns a real directory into a tree, touching only what differs;
//! OverlayWorkdir mounts each tree over one read-only copy of a base.

use std::collections::BTreeMap;
use std::path::Path;

use helios_engine::{CommitMeta, Durability};
use helios_mcts::{FsWorkdir, MctsError, OverlayWorkdir, Workdir};
use helios_types::RepoPath;
use helios_vst::{Edit, Vst};

use crate::common::rocks;

fn p(s: &str) -> RepoPath {
    RepoPath::parse(s).unwrap()
}

/// `n` small files spread over directories `d0`, `d1`, … (`dirs` of them).
fn spread_files(n: usize, dirs: usize) -> Vec<Edit> {
    (0..n)
        .map(|i| {
            Edit::file(
                p(&format!("d{}/f{i}.txt", i % dirs)),
                format!("file {i}\n").into_bytes(),
            )
        })
        .collect()
}

/// What makes a node from a base of [`spread_files`]: a rewrite, a delete,
/// a subtree delete and a new file in new directories.
fn node_edits() -> Vec<Edit> {
    vec![
        Edit::file(p("d1/f1.txt"), b"changed\n".to_vec()),
        Edit::delete(p("d2/f2.txt")),
        Edit::delete_tree(p("d3")),
        Edit::file(p("new/deep/file"), b"new\n".to_vec()),
    ]
}

/// Every file under `root` with its bytes, by path relative to it.
pub(crate) fn on_disk(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn in_tree(engine: &helios_engine::HeliosEngine, vst: &Vst) -> BTreeMap<String, Vec<u8>> {
    vst.files()
        .unwrap()
        .into_iter()
        .map(|(path, entry)| {
            let bytes = match vst.pending_bytes(&path).unwrap() {
                Some(b) => b.to_vec(),
                None => {
                    let enc = engine.object(&entry.hash).unwrap().unwrap();
                    helios_types::Blob::payload(&enc).unwrap().to_vec()
                }
            };
            (path.to_string(), bytes)
        })
        .collect()
}

#[test]
fn switch_writes_only_the_difference_and_reads_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    let mut edits = spread_files(200, 10);
    edits.push(Edit::executable(
        p("bin/run"),
        b"#!/bin/sh\necho hi\n".to_vec(),
    ));
    let a = engine.empty_tree().apply(&edits).unwrap();
    let (id_a, _) = engine
        .commit(&a, Durability::Sync, CommitMeta::default())
        .unwrap();
    let b = a.apply(&node_edits()).unwrap();
    let (id_b, _) = engine
        .commit(&b, Durability::Sync, CommitMeta::default())
        .unwrap();
    engine.flush().unwrap();

    let work = dir.path().join("work");
    let mut wd = FsWorkdir::new(&engine, &work).unwrap();
    let s = wd.switch_to(&id_a, &a).unwrap();
    assert_eq!(s.files_written, 201);
    assert_eq!(on_disk(&work), in_tree(&engine, &a));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(work.join("bin/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
    }

    let s = wd.switch_to(&id_b, &b).unwrap();
    assert_eq!((s.files_written, s.entries_removed), (2, 2), "{s:?}");
    assert_eq!(on_disk(&work), in_tree(&engine, &b));
    assert!(!work.join("d3").exists());

    // Back again: the bytes of A's files now come from the store.
    let s = wd.switch_to(&id_a, &a).unwrap();
    assert_eq!(s.entries_removed, 1, "{s:?}"); // new/
    assert_eq!(on_disk(&work).len(), 201);
    assert_eq!(on_disk(&work), in_tree(&engine, &a));
}

#[test]
fn a_workdir_must_start_empty() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    std::fs::create_dir_all(dir.path().join("busy")).unwrap();
    std::fs::write(dir.path().join("busy/x"), b"x").unwrap();
    assert!(FsWorkdir::new(&engine, dir.path().join("busy")).is_err());
}

/// Says why an overlay test did not run: a skip is never silent.
#[allow(clippy::print_stderr, reason = "a skipped test must say why")]
pub(crate) fn skip(reason: &str) {
    eprintln!("SKIPPED overlay test: {reason}");
}

#[test]
fn overlay_switch_mounts_each_tree_fresh_over_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    let edits = spread_files(50, 5);
    let base = engine.empty_tree().apply(&edits).unwrap();
    let (id_base, _) = engine
        .commit(&base, Durability::Sync, CommitMeta::default())
        .unwrap();
    let node = base.apply(&node_edits()).unwrap();
    let (id_node, _) = engine
        .commit(&node, Durability::Async, CommitMeta::default())
        .unwrap();

    let root = dir.path().join("overlay");
    let mut wd = match OverlayWorkdir::new(&engine, &root, &base) {
        Ok(wd) => wd,
        Err(MctsError::OverlayUnavailable { reason }) => return skip(&reason),
        Err(e) => panic!("{e}"),
    };
    let work = wd.path().to_path_buf();
    assert_eq!(on_disk(&work), in_tree(&engine, &base));

    // A switch builds the node's difference from the base, nothing else.
    let s = wd.switch_to(&id_node, &node).unwrap();
    assert_eq!((s.files_written, s.entries_removed), (2, 2), "{s:?}");
    assert_eq!(s.bytes_written, 12);
    assert_eq!(on_disk(&work), in_tree(&engine, &node));

    // What a scorer leaves behind is gone at the next switch: every node is
    // evaluated in a fresh directory.
    std::fs::write(work.join("d0/build-output"), b"stale").unwrap();
    std::fs::write(work.join("d0/f0.txt"), b"scribbled").unwrap();
    let s = wd.switch_to(&id_base, &base).unwrap();
    assert_eq!(s, Default::default(), "the base is the lower layer as is");
    assert_eq!(on_disk(&work), in_tree(&engine, &base));
    wd.switch_to(&id_node, &node).unwrap();
    assert_eq!(on_disk(&work), in_tree(&engine, &node));

    // The lower layer never changes; dropping the workdir unmounts it.
    assert_eq!(on_disk(&root.join("lower")), in_tree(&engine, &base));
    drop(wd);
    assert!(
        std::fs::read_dir(&work).unwrap().next().is_none(),
        "still mounted"
    );
}

#[test]
fn an_overlay_workdir_must_start_empty() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    std::fs::create_dir_all(dir.path().join("busy")).unwrap();
    std::fs::write(dir.path().join("busy/x"), b"x").unwrap();
    let Err(err) = OverlayWorkdir::new(&engine, dir.path().join("busy"), &engine.empty_tree())
    else {
        panic!("a busy directory was accepted");
    };
    assert!(matches!(err, MctsError::Config(_)), "{err}");
}

#[test]
#[allow(clippy::print_stderr, reason = "a skipped test must say why")]
fn a_plain_workdir_is_watched_so_a_capture_reads_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    let a = engine.empty_tree().apply(&spread_files(100, 10)).unwrap();
    let (id_a, _) = engine
        .commit(&a, Durability::Sync, CommitMeta::default())
        .unwrap();
    let b = a.apply(&node_edits()).unwrap();
    let (id_b, _) = engine
        .commit(&b, Durability::Sync, CommitMeta::default())
        .unwrap();
    let work = dir.path().join("work");
    let mut wd = FsWorkdir::new(&engine, &work).unwrap();
    if !wd.is_watched() {
        eprintln!("SKIPPED watched plain workdir test: inotify is unavailable here");
        return;
    }
    wd.switch_to(&id_a, &a).unwrap();
    let options = helios_workdir::CaptureOptions::default();
    let first = wd.capture(&options).unwrap();
    assert_eq!(first.tree.root_hash(), a.root_hash());
    // Switches write their diffs; a tool then edits one file in place.
    wd.switch_to(&id_b, &b).unwrap();
    std::fs::write(work.join("d4/f4.txt"), b"edited by a tool\n").unwrap();
    let captured = wd.capture(&options).unwrap();
    assert!(captured.report.fast_path, "{:?}", captured.report);
    let expected = b
        .edit(Edit::file(p("d4/f4.txt"), b"edited by a tool\n".to_vec()))
        .unwrap();
    assert_eq!(captured.tree.root_hash(), expected.root_hash());
    assert!(
        captured.report.files_scanned < 10,
        "only the switch's and the tool's paths: {:?}",
        captured.report
    );
    drop(wd);
    assert!(
        !engine.unwatch(&work).unwrap(),
        "dropped, no longer watched"
    );
}
