//! A checkout killed with SIGKILL part-way leaves a directory the next
//! checkout finishes: after the rerun it is exactly the target snapshot.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use crate::common::{command, last_line, ok};

/// Everything a snapshot fixes about a directory, path by path (the store
/// excluded): file bytes and executable bit, symlink targets, directories.
fn contents(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if rel == Path::new(".helios") {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let what = if meta.is_dir() {
                stack.push(path);
                "dir".to_owned()
            } else if meta.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&path).unwrap().display())
            } else {
                let exec = meta.permissions().mode() & 0o111 != 0;
                format!(
                    "{exec} {}",
                    String::from_utf8_lossy(&fs::read(&path).unwrap())
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

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

    let mut interrupted = 0;
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
        interrupted > 0,
        "no kill landed part-way through a checkout ({full:?} each)"
    );
    let fsck = ok(&store, &work, &["fsck"]);
    assert!(fsck.contains("0 damaged"), "{fsck}");
}
