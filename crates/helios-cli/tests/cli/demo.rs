//! `helios demo` end to end: the JSON line the issue asks for, the waste
//! experiment's table and JSON, and flags refused before a store exists.

use serde_json::Value;

use crate::common::{fails, helios, last_line, ok};

/// The last stdout line parsed as one JSON object.
fn json_line(stdout: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_str(&last_line(stdout)).expect("the last line is JSON") {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn num(o: &serde_json::Map<String, Value>, key: &str) -> f64 {
    o.get(key)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{key} is not a number in {o:?}"))
}

#[test]
fn demo_json_is_one_line_with_every_required_key() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let out = ok(
        &store,
        tmp.path(),
        &["demo", "--nodes", "50", "--files", "16", "--json"],
    );
    assert_eq!(
        out.lines().count(),
        1,
        "--json prints only the object: {out}"
    );
    let o = json_line(&out);
    for key in [
        "nodes",
        "solved",
        "best_reward",
        "dedup_ratio",
        "commit_p50_us",
        "commit_p99_us",
        "switch_p50_us",
        "switch_p99_us",
        "bytes_stored",
        "bytes_logical",
        "gc_reclaimed_bytes",
        "wall_seconds",
    ] {
        assert!(o.contains_key(key), "{key} missing from {o:?}");
    }
    assert_eq!(o["nodes"], 50);
    assert_eq!(o["nodes_requested"], 50);
    assert_eq!(o["exhausted"], false);
    assert!(o["solved"].is_boolean());
    // The code reward is 0..=100 and engine cost only takes from it.
    assert!(num(&o, "best_reward") <= 100.0);
    assert!((0.0..1.0).contains(&num(&o, "dedup_ratio")), "{o:?}");
    for (p50, p99) in [
        ("commit_p50_us", "commit_p99_us"),
        ("switch_p50_us", "switch_p99_us"),
    ] {
        assert!(
            0.0 < num(&o, p50) && num(&o, p50) <= num(&o, p99),
            "{p50} {p99}: {o:?}"
        );
    }
    assert!(num(&o, "bytes_stored") > 0.0, "RocksDB files on disk");
    assert!(num(&o, "bytes_logical") > num(&o, "bytes_new"));
    assert!(num(&o, "gc_reclaimed_bytes") >= 0.0);
    assert!(num(&o, "wall_seconds") > 0.0);
    assert_eq!(o["files"], 16);
    assert!(o["best_path"].is_array());

    // The store it made is a store like any other: the best node has a
    // ref, and every snapshot left verifies.
    ok(&store, tmp.path(), &["ref", "demo/best"]);
    ok(&store, tmp.path(), &["fsck"]);
}

#[test]
fn waste_experiment_prints_the_readme_table_or_one_json_object() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let text = ok(
        &store,
        tmp.path(),
        &[
            "demo",
            "--waste-experiment",
            "2",
            "--seed",
            "5",
            "--nodes",
            "10",
            "--files",
            "16",
        ],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..2],
        [
            "| seed | best path wasteful, cost on | best path wasteful, cost off | solved (on / off) |",
            "|---|---|---|---|",
        ],
        "{text}"
    );
    assert!(lines[2].starts_with("| 5 | "), "{text}");
    assert!(lines[3].starts_with("| 6 | "), "{text}");
    assert!(lines[4].starts_with("| **all** | **"), "{text}");
    assert!(
        text.contains("2 seeds, 10 nodes each, 16-file workspace"),
        "{text}"
    );

    let out = ok(
        &store,
        tmp.path(),
        &[
            "demo",
            "--waste-experiment",
            "1",
            "--nodes",
            "10",
            "--files",
            "16",
            "--cost-per-object",
            "0.5",
            "--json",
        ],
    );
    let o = json_line(&out);
    assert_eq!(
        (o["seeds"].clone(), o["nodes"].clone()),
        (1.into(), 10.into())
    );
    assert_eq!(num(&o, "cost_per_object"), 0.5);
    let rows = o["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["seed"], 1);
    for side in ["on", "off"] {
        assert_eq!(rows[0][side]["nodes"], 10, "{out}");
        assert!(rows[0][side]["wasteful"].is_boolean());
    }
}

#[test]
fn bad_demo_flags_fail_in_one_line_before_a_store_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    for (args, says) in [
        (&["demo", "--files", "3"][..], "files = 3 is below 16"),
        (&["demo", "--defects", "6"], "defects = 6 is outside 1..=5"),
        (&["demo", "--cost-per-us=-1"], "must be finite and >= 0"),
        (&["demo", "--waste-experiment", "0"], "at least one seed"),
        (
            &[
                "demo",
                "--seed",
                "18446744073709551615",
                "--waste-experiment",
                "2",
            ],
            "run past the largest seed",
        ),
    ] {
        let err = fails(&store, tmp.path(), args);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!store.exists(), "{args:?} made a store");
    }
    // Engine cost off leaves the experiment nothing to compare: clap says so.
    let out = helios(
        &store,
        tmp.path(),
        &["demo", "--cost-off", "--waste-experiment", "2"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be used with"), "{err}");
    assert!(!store.exists());
}
