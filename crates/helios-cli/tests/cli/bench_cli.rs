//! `helios bench --via cli`: the Helios side spawns the binary once per
//! operation beside git plumbing; its JSON line, its table, and the
//! history sweep.

use serde_json::Value;

use crate::common::{fails, last_line, ok};

/// `helios bench ARGS` in a fresh directory; its stdout.
fn bench(args: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let args: Vec<&str> = ["bench"].iter().chain(args).copied().collect();
    ok(tmp.path(), tmp.path(), &args)
}

fn positive(v: &Value, key: &str) -> f64 {
    let x = v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"));
    assert!(x > 0.0 && x.is_finite(), "{key} = {x} in {v}");
    x
}

#[test]
fn bench_via_cli_reports_both_tools_ratios_and_bytes() {
    let out = bench(&["--via", "cli", "--files", "200", "--nodes", "5", "--json"]);
    assert_eq!(
        out.lines().count(),
        1,
        "--json prints only the object: {out}"
    );
    let r: Value = serde_json::from_str(&last_line(&out)).unwrap();
    assert_eq!(r["via"], "cli");
    assert_eq!(r["nodes"], 5);
    assert_eq!(r["files"], 200);
    assert_eq!(r["restores_checked_byte_exact"], 5);
    assert_eq!(r["git_snapshot_is"], "git add -A && git write-tree");
    assert_eq!(r["git_switch_is"], "git read-tree -u --reset");
    for tool in ["helios", "git"] {
        for op in ["snapshot", "switch"] {
            let p50 = positive(&r, &format!("{tool}_{op}_p50_us"));
            assert!(p50 <= positive(&r, &format!("{tool}_{op}_p99_us")), "{r}");
        }
    }
    for op in ["snapshot", "switch"] {
        let steps = r[format!("helios_{op}_steps_us")].as_array().cloned();
        let steps = steps.unwrap_or_else(|| panic!("no helios_{op}_steps_us: {r}"));
        assert_eq!(
            steps.len(),
            4,
            "one time per step after the first node: {r}"
        );
    }
    // Every step checks its new node out where it already is.
    let noop = &r["noop_checkout"];
    assert_eq!(noop["steps"], 4, "{r}");
    for key in ["helios_p50_us", "helios_p99_us", "git_p50_us", "git_p99_us"] {
        positive(noop, key);
    }
    // Each step's time, in trace order: the slowest of 4 is their P99.
    let steps: Vec<f64> = noop["helios_steps_us"]
        .as_array()
        .unwrap_or_else(|| panic!("no helios_steps_us: {r}"))
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert_eq!(steps.len(), 4, "{r}");
    let slowest = steps.iter().copied().fold(0.0, f64::max);
    assert!(
        (slowest - positive(noop, "helios_p99_us")).abs() < 1e-6,
        "{r}"
    );
    let ratios = &r["ratios_git_over_helios"];
    for key in [
        "snapshot_p50",
        "snapshot_p99",
        "switch_p50",
        "switch_p99",
        "noop_checkout_p50",
        "noop_checkout_p99",
    ] {
        positive(ratios, key);
    }
    // The ratio is git's time over Helios's, from the same samples.
    let expected =
        r["git_switch_p50_us"].as_f64().unwrap() / r["helios_switch_p50_us"].as_f64().unwrap();
    assert!(
        (positive(ratios, "switch_p50") - expected).abs() < 1e-9 * expected,
        "{r}"
    );
    for key in [
        "helios_bytes_on_disk",
        "git_bytes_on_disk",
        "git_repacked_bytes_on_disk",
        "helios_bytes_du",
        "git_bytes_du",
        "git_repacked_bytes_du",
        "helios_gc_bytes_on_disk",
        "helios_gc_bytes_du",
    ] {
        positive(&r, key);
    }
    // Loose objects take a block each, more than their lengths.
    assert!(
        r["git_bytes_du"].as_u64() > r["git_bytes_on_disk"].as_u64(),
        "{r}"
    );
    assert_eq!(r["history"], Value::Array(vec![]), "no sweep asked for");
}

#[test]
fn the_history_sweep_measures_each_point_once_in_order() {
    let out = bench(&[
        "--via",
        "cli",
        "--files",
        "16",
        "--nodes",
        "2",
        "--history",
        "5,2,5",
        "--json",
    ]);
    let r: Value = serde_json::from_str(&last_line(&out)).unwrap();
    let history = r["history"].as_array().unwrap();
    let commits: Vec<_> = history.iter().map(|p| p["commits"].as_u64()).collect();
    assert_eq!(commits, [Some(2), Some(5)], "{r}");
    for p in history {
        assert_eq!(
            p["commits_via_cli"], p["commits"],
            "few commits: all spawned"
        );
        assert_eq!(p["commits_in_process"], 0);
        assert_eq!(p["log_calls"], 30);
        assert!(
            positive(p, "log_p50_us") <= positive(p, "log_p99_us"),
            "{p}"
        );
        positive(p, "store_files");
        positive(p, "store_bytes");
    }
}

#[test]
fn bench_via_cli_prints_a_table_by_default() {
    let out = bench(&[
        "--via",
        "cli",
        "--files",
        "16",
        "--nodes",
        "3",
        "--history",
        "1",
    ]);
    for expected in [
        "| operation | helios P50 / P99 | git P50 / P99 | git/helios P50 / P99 |",
        "| snapshot: commit vs git add -A && git write-tree (n=2) |",
        "| switch: checkout vs git read-tree -u --reset (n=2) |",
        "| no-op checkout, same commands (n=2) |",
        "bytes on disk, files' lengths: helios ",
        "bytes on disk, blocks (du): helios ",
        "3 sampled nodes byte-exact between helios and git",
        "| commits | log -n 1 P50 / P99 | store files | store MiB | commits made |",
        " | 1 via cli |",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
}

#[test]
fn the_history_sweep_needs_the_cli_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let err = fails(tmp.path(), tmp.path(), &["bench", "--history", "10"]);
    assert!(err.contains("--via cli"), "{err}");
}

#[test]
fn leaving_the_watcher_off_needs_a_server() {
    let tmp = tempfile::tempdir().unwrap();
    let err = fails(
        tmp.path(),
        tmp.path(),
        &["bench", "--via", "cli", "--no-watch"],
    );
    assert!(err.contains("--server"), "{err}");
}
