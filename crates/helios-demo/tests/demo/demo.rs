//! The demo end to end on RocksDB.

use std::collections::HashSet;

use helios_demo::{BEST_REF, DemoConfig, DemoSearch, run_demo, waste_experiment};
use helios_mcts::{CostWeights, MctsError};

use crate::common::{rocks, small_demo};

/// The default demo over `dir`, but with `nodes` nodes and `files` files.
fn demo_defaults(dir: &std::path::Path, nodes: usize, files: usize) -> DemoConfig {
    let mut config = DemoConfig {
        files,
        workdir: Some(dir.join("work")),
        store: dir.join("store"),
        ..DemoConfig::default()
    };
    config.search.max_nodes = nodes;
    config
}

#[test]
fn thousand_node_search_on_rocksdb_finds_the_fix_and_every_pin_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    // The default action space (defects, depth, children kept), which must
    // hold 1,000 nodes even under a tighter pin cap than the default's.
    let mut config = demo_defaults(dir.path(), 1000, 400);
    config.search.max_live_nodes = Some(300);
    config.search.gc_every = Some(200);
    let mut demo = DemoSearch::start(&engine, &config).unwrap();
    let calls = std::cell::Cell::new(0usize);
    demo.run(&|done, total| {
        assert_eq!(total, 1000);
        assert!(done <= total);
        calls.set(calls.get() + 1);
    })
    .unwrap();
    let report = demo.report().unwrap();
    assert_eq!(report.nodes, 1000, "{}", report.render());
    assert!(!report.exhausted);
    assert_eq!(calls.get(), 1000);
    assert!(report.solved, "{}", report.render());
    assert!(report.best_code_reward >= 100.0 - 1e-9);
    assert!(report.dedup_ratio > 0.5, "{}", report.dedup_ratio);
    assert!(report.telemetry.gc_runs >= 5);

    // Every pinned node verifies from L2 and restores to the tree it holds.
    let search = &demo.search;
    let pinned: Vec<_> = search.nodes().iter().filter(|n| n.pinned).collect();
    assert!(
        !pinned.is_empty() && pinned.len() <= 300,
        "{} pinned",
        pinned.len()
    );
    for node in &pinned {
        let v = engine
            .verify(&node.snapshot)
            .unwrap_or_else(|e| panic!("node {}: {e}", node.id));
        assert!(v.trees > 0 && v.blobs > 0);
        let vst = engine.restore(&node.snapshot).unwrap();
        assert_eq!(vst.root_hash(), node.root_hash);
        assert_eq!(node.vst().map(|t| t.root_hash()), Some(node.root_hash));
    }
    // The best node and its ancestors are all live.
    let best = search.best();
    for id in search.path_to(best).unwrap() {
        assert!(
            search.node(id).unwrap().pinned,
            "best path node {id} was pruned"
        );
    }
    let best_node = search.node(best).unwrap();
    assert!(best_node.solved);
    let best_snapshot = best_node.snapshot;

    demo.finish().unwrap();
    let best_id = engine.get_ref(BEST_REF).unwrap().expect("best ref");
    assert_eq!(best_id, best_snapshot);
    engine.verify(&best_id).unwrap();
}

#[test]
fn run_demo_reports_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    let mut config = small_demo(dir.path(), 80, 120);
    config.workdir = None;
    let report = run_demo(&engine, &config, &|_, _| {}).unwrap();
    assert_eq!((report.nodes, report.nodes_requested), (80, 80));
    assert!(!report.exhausted);
    assert!(!report.best_path.is_empty() && report.best_path.len() <= config.search.max_depth);
    assert!(report.bytes_stored > 0, "RocksDB files on disk");
    assert!(report.bytes_logical > report.bytes_new);
    assert!(report.wall_seconds > 0.0);
    assert!(!report.render().is_empty());
    // Released: the search holds no pin; only the best ref is left.
    assert!(engine.get_ref(BEST_REF).unwrap().is_some());
    let gc = engine.gc().unwrap();
    assert!(gc.objects_reclaimed > 0, "{gc:?}");
    // The temporary working directory is gone.
    let leftovers: HashSet<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("helios-demo-{}-", std::process::id())))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_missing_interpreter_is_a_scorer_error_naming_it_before_any_commit() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    let config = DemoConfig {
        python: dir.path().join("no-such-interpreter"),
        ..small_demo(dir.path(), 10, 40)
    };
    let err = DemoSearch::start(&engine, &config).unwrap_err();
    assert!(matches!(err, MctsError::Scorer(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("no-such-interpreter"), "{text}");
    assert!(text.contains("python3"), "{text}");
    // Checked first: nothing was committed and no directory was made.
    assert!(engine.list_snapshots().unwrap().is_empty());
    assert!(!dir.path().join("work").exists());
}

#[test]
fn a_search_that_runs_out_of_actions_reports_the_shortfall() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    // One defect and one step deep: the root offers four actions, and no
    // node below it offers any.
    let mut config = DemoConfig {
        defects: 1,
        ..small_demo(dir.path(), 50, 40)
    };
    config.search.max_depth = 1;
    let report = run_demo(&engine, &config, &|_, _| {}).unwrap();
    assert_eq!(report.nodes, 4, "{}", report.render());
    assert_eq!(report.nodes_requested, 50);
    assert!(report.exhausted);
    assert!(
        report
            .render()
            .contains("exhausted its actions after 4 of 50 nodes"),
        "{}",
        report.render()
    );
}

#[test]
fn a_waste_experiment_with_the_cost_off_already_is_refused_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    let mut config = small_demo(dir.path(), 10, 40);
    config.search.weights = CostWeights::OFF;
    let runs = std::cell::Cell::new(0);
    let err =
        waste_experiment(&engine, &config, &[1, 2], &|_, _| runs.set(runs.get() + 1)).unwrap_err();
    assert!(matches!(err, MctsError::Config(_)), "{err}");
    assert!(err.to_string().contains("off already"), "{err}");
    assert_eq!(runs.get(), 0);
    assert!(engine.list_snapshots().unwrap().is_empty());
}
