//! A watched working directory through the engine, on RocksDB: after the
//! first capture, each one reads only what changed — across commits, the
//! engine's own checkouts and another process's edits — and always equals
//! a full read of the directory.

use std::fs;
use std::path::Path;
use std::process::Command;

use helios_engine::{CommitMeta, Durability, EngineConfig, EngineError, HeliosEngine};
use helios_types::store::MemStore;
use helios_types::{Hash, RepoPath};
use helios_workdir::{CaptureOptions, CheckoutOptions, Report, StateFile, WorkdirError};

use crate::common::tree;

/// `work` read whole, without the engine's state or base.
fn full_read(engine: &HeliosEngine, work: &Path) -> Hash {
    let tmp = tempfile::tempdir().unwrap();
    let options = CaptureOptions {
        protected: vec![RepoPath::parse(".helios").unwrap()],
        ..CaptureOptions::default()
    };
    let state = StateFile::new(tmp.path().join("state"));
    let scratch = MemStore::new(engine.algorithm());
    helios_workdir::capture(work, &engine.empty_tree(), &options, &state, &scratch)
        .unwrap()
        .tree
        .root_hash()
}

#[test]
fn watched_captures_read_only_what_changed_and_equal_a_full_read() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let engine = HeliosEngine::open(work.join(".helios"), EngineConfig::small()).unwrap();
    let (a, _) = engine
        .commit(
            &tree(&engine, 60, "base"),
            Durability::Async,
            CommitMeta::default(),
        )
        .unwrap();
    engine
        .checkout(&a, &work, &CheckoutOptions::default(), &|_, _| {})
        .unwrap();
    match engine.watch(&work) {
        Ok(watched) => assert!(watched),
        Err(EngineError::Workdir(e @ WorkdirError::WatchUnavailable { .. })) => {
            eprintln!("SKIPPED watched capture test: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    }
    assert!(!engine.watch(&work).unwrap(), "watched once");
    let capture = |what: &str| -> (helios_vst::Vst, Report) {
        let captured = engine.capture(&work, &CaptureOptions::default()).unwrap();
        assert_eq!(
            captured.tree.root_hash(),
            full_read(&engine, &work),
            "{what}: {:?}",
            captured.report
        );
        (captured.tree, captured.report)
    };

    let (_, first) = capture("first");
    assert_eq!(first.fallback, Some("the first capture with this watcher"));

    // A tool edits two files: only they are looked at.
    fs::write(work.join("d1/s1/f1.rs"), b"fixed\n").unwrap();
    fs::write(work.join("d3/NEW.md"), b"notes\n").unwrap();
    let (edited, report) = capture("edit");
    assert!(report.fast_path, "{report:?}");
    assert_eq!(report.files_scanned, 2, "{report:?}");
    let (b, _) = engine
        .commit(
            &edited,
            Durability::Sync,
            CommitMeta::child_of(Some(a), "tool"),
        )
        .unwrap();
    engine.record_head(&work, &b).unwrap();
    let (_, quiet) = capture("nothing changed");
    assert!(quiet.fast_path && quiet.files_scanned == 0, "{quiet:?}");

    // The engine's own checkout writes its diff; the capture after it
    // starts from the tree checked out and looks at what was written.
    engine
        .checkout(&a, &work, &CheckoutOptions::default(), &|_, _| {})
        .unwrap();
    fs::write(work.join("d2/s2/f2.rs"), b"edited after the switch\n").unwrap();
    let (_, report) = capture("after a checkout");
    assert!(report.fast_path, "{report:?}");
    assert_eq!(report.files_scanned, 2, "{report:?}");

    // Another process edits, makes and removes directories.
    let script = "echo other > d4/s1/f4.rs && mkdir -p x/y && echo z > x/y/z && rm -r d5";
    let status = Command::new("sh")
        .args(["-c", script])
        .current_dir(&work)
        .status()
        .unwrap();
    assert!(status.success());
    let (_, report) = capture("another process");
    assert!(report.fast_path, "{report:?}");

    // Unwatched, the directory is read whole again.
    assert!(engine.unwatch(&work).unwrap());
    assert!(!engine.unwatch(&work).unwrap());
    fs::write(work.join("d1/s1/f1.rs"), b"again\n").unwrap();
    let (_, report) = capture("unwatched");
    assert!(!report.fast_path && report.fallback.is_none(), "{report:?}");
    engine.close().unwrap();
}
