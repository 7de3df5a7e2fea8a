//! `helios gc` killed with SIGKILL at points spread over its run: no
//! acknowledged snapshot is lost, `fsck` stays clean, and the next gc
//! finishes the job.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use crate::common::{command, contents, last_line, ok};

/// Version `v` of a 1,500-file directory: every file differs per version.
fn write_version(work: &Path, v: usize) {
    for d in 0..30 {
        let dir = work.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..50 {
            fs::write(
                dir.join(format!("f{f}")),
                format!("v{v} {d}/{f}\n").repeat(20),
            )
            .unwrap();
        }
    }
}

#[test]
fn a_killed_gc_loses_nothing_and_the_next_one_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let work = tmp.path().join("work");
    fs::create_dir(&work).unwrap();
    ok(&store, tmp.path(), &["init"]);
    let dir = work.to_str().unwrap();
    let mut kept = Vec::new();
    // Named versions 0, 2, 4 (4 is also what the directory holds) and
    // garbage 1, 3, made again before each round.
    let make = |v: usize| {
        write_version(&work, v);
        last_line(&ok(&store, tmp.path(), &["commit", "--workdir", dir]))
    };
    for v in 0..5 {
        let id = make(v);
        if v % 2 == 0 {
            ok(&store, tmp.path(), &["ref", &format!("keep{v}"), &id]);
            kept.push((id, contents(&work)));
        }
    }
    let start = Instant::now();
    let first: serde_json::Value =
        serde_json::from_str(&ok(&store, tmp.path(), &["--json", "gc"])).unwrap();
    let full = start.elapsed();
    assert_eq!(first["snapshots_reclaimed"], 2, "{first}");

    let mut landed = 0;
    for round in 1..=6u32 {
        // Fresh garbage for this round.
        make(10 + round as usize);
        make(4);
        let mut child = command(&store, tmp.path(), &["gc"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(0.15 * f64::from(round)));
        if child.try_wait().unwrap().is_none() {
            landed += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let fsck = ok(&store, tmp.path(), &["fsck"]);
        assert!(fsck.contains("0 damaged"), "round {round}: {fsck}");
        for (i, (id, want)) in kept.iter().enumerate() {
            let out = tmp.path().join(format!("check-{round}-{i}"));
            ok(
                &store,
                tmp.path(),
                &["checkout", id, "--workdir", out.to_str().unwrap()],
            );
            assert_eq!(&contents(&out), want, "round {round}: snapshot {id}");
            fs::remove_dir_all(&out).unwrap();
        }
    }
    assert!(landed > 0, "no kill landed during a gc ({full:?} each)");
    let last: serde_json::Value =
        serde_json::from_str(&ok(&store, tmp.path(), &["--json", "gc"])).unwrap();
    let again: serde_json::Value =
        serde_json::from_str(&ok(&store, tmp.path(), &["--json", "gc"])).unwrap();
    assert_eq!(
        again["snapshots_reclaimed"], 0,
        "the gc before finished: {last}"
    );
    let fsck = ok(&store, tmp.path(), &["fsck"]);
    assert!(fsck.contains("0 damaged"), "{fsck}");
}
