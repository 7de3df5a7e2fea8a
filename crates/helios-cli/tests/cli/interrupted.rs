//! A checkout killed with SIGKILL part-way leaves a directory the next
//! checkout finishes: after the rerun it is exactly the target snapshot.
//! A commit in between is refused rather than snapshot a half-switched
//! directory.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use crate::common::{command, contents, helios, last_line, ok};

/// Two snapshots of 2,000 files that differ everywhere: every file
/// rewritten, one directory in ten deleted, new ones added.
fn write_version(work: &Path, version: usize) {
    for d in 0..40 {
        let dir = work.join(format!("d{d}"));
        if d % 10 == version {
            if dir.exists() {
                fs::remove_dir_all(&dir).unwrap();
            }
            continue;
        }
        fs::create_dir_all(&dir).unwrap();
        for f in 0..50 {
            let body = format!("version {version}, file {d}/{f}\n").repeat(8);
            fs::write(dir.join(format!("f{f}.rs")), body).unwrap();
        }
    }
}

#[test]
fn a_killed_checkout_is_finished_by_the_next_one() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let store = work.join(".helios");
    fs::create_dir(&work).unwrap();
    ok(&store, &work, &["init"]);
    let mut ids = Vec::new();
    let mut expected = Vec::new();
    for version in 0..2 {
        write_version(&work, version);
        ids.push(last_line(&ok(&store, &work, &["commit"])));
        expected.push(contents(&work));
    }
    assert_ne!(expected[0], expected[1]);

    // How long one uninterrupted checkout takes here, to aim the kills.
    let start = Instant::now();
    ok(&store, &work, &["checkout", &ids[0]]);
    let full = start.elapsed();
    assert_eq!(contents(&work), expected[0]);

    let (mut interrupted, mut refused) = (0, 0);
    for round in 1..=8u32 {
        let target = usize::try_from(round % 2).unwrap();
        let mut child = command(&store, &work, &["checkout", &ids[target]])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills from a fifth of the way to just past the end.
        std::thread::sleep(full.mul_f64(0.1 + 0.12 * f64::from(round)));
        let running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // A commit now must not snapshot a half-switched directory: it is
        // refused while the checkout's marker is there.
        let commit = helios(&store, &work, &["commit"]);
        if commit.status.success() {
            assert!(
                expected.contains(&contents(&work)),
                "round {round}: a commit captured a half-switched directory"
            );
        } else {
            let err = String::from_utf8_lossy(&commit.stderr);
            assert!(err.contains("interrupted"), "round {round}: {err}");
            refused += 1;
        }

        let rerun: serde_json::Value =
            serde_json::from_str(&ok(&store, &work, &["checkout", &ids[target], "--json"]))
                .unwrap();
        assert_eq!(
            contents(&work),
            expected[target],
            "round {round}: the rerun did not finish the job"
        );
        if running && rerun["fast_path"] == false {
            interrupted += 1;
        }
    }
    assert!(
        interrupted > 0 && refused > 0,
        "no kill landed part-way through a checkout ({full:?} each)"
    );
    let fsck = ok(&store, &work, &["fsck"]);
    assert!(fsck.contains("0 damaged"), "{fsck}");
}
