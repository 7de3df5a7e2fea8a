//! SIGTERM and SIGINT, sent for real to a running `helios demo`: the search
//! stops between two nodes, the engine closes (queued `Async` commits are
//! written), and the process exits with 128 + the signal, saying so. The
//! store is whole afterwards.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{command, helios, ok};

fn interrupt_the_demo(signal: &str, status: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let mut child = command(
        &store,
        tmp.path(),
        &["demo", "--nodes", "100000", "--files", "16", "--json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Well into the search: the store exists and snapshots are landing.
    let start = Instant::now();
    while !store.join("CURRENT").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the demo never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Until a node beyond the root is committed, however loaded the
    // machine (a read-only `log` works beside the demo's writes).
    loop {
        let log = helios(&store, tmp.path(), &["--json", "log", "-n", "2"]);
        let listed: Option<serde_json::Value> = serde_json::from_slice(&log.stdout).ok();
        if listed.is_some_and(|l| l.as_array().is_some_and(|a| a.len() >= 2)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "no node committed in 3 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the demo ended by itself"
    );
    let sent = std::process::Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let signalled = Instant::now();
    let out = child.wait_with_output().unwrap();
    let waited = signalled.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{signal}: {stderr}");
    assert!(
        stderr.contains(&format!("interrupted by {signal}")),
        "{stderr}"
    );
    assert!(
        waited < Duration::from_secs(30),
        "{signal}: took {waited:?} to stop"
    );
    // It still reports what it made, and the store holds all of it.
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let nodes = report["nodes"].as_u64().unwrap();
    assert!(nodes > 0 && nodes < 100_000, "{report}");
    let fsck = ok(&store, tmp.path(), &["fsck"]);
    assert!(fsck.contains("0 damaged"), "{fsck}");
    let best = ok(&store, tmp.path(), &["ref", "demo/best"]);
    assert_eq!(best.trim().len(), 64, "the best node is named: {best}");
}

#[test]
fn sigterm_stops_the_demo_cleanly() {
    interrupt_the_demo("SIGTERM", 143);
}

#[test]
fn sigint_stops_the_demo_cleanly() {
    interrupt_the_demo("SIGINT", 130);
}
