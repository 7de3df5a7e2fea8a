//! `helios mount`, edits, `helios commit --workdir` of the mount: each a
//! separate process, as a harness runs them.

use std::fs;
use std::path::Path;

use crate::common::{contents, helios, last_line, ok, setup};

/// `helios commit --workdir dir`: the new id and the counts its note gives
/// (files read, new objects).
fn commit_counts(store: &Path, dir: &Path) -> (String, u64, u64) {
    let out = helios(store, dir, &["commit", "--workdir", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // "N files scanned, K read; M new objects (B bytes) in T"
    let number_before = |word: &str| -> u64 {
        let at = err
            .find(word)
            .unwrap_or_else(|| panic!("{word:?} in {err}"));
        let digits: String = err[..at]
            .trim_end()
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.chars().rev().collect::<String>().parse().unwrap()
    };
    let id = last_line(&String::from_utf8_lossy(&out.stdout));
    (id, number_before(" read;"), number_before(" new objects"))
}

#[test]
fn a_commit_of_a_mount_reads_only_the_upper_layer_on_top_of_the_mounted_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, w) = setup(tmp.path());
    for i in 0..300 {
        let dir = w.join(format!("d{}", i % 10));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("f{i}")), format!("file {i}\n")).unwrap();
    }
    let (a, read, _) = commit_counts(&store, &w);
    assert_eq!(read, 300);
    let m = tmp.path().join("m");
    let mount = helios(&store, tmp.path(), &["mount", &a, m.to_str().unwrap()]);
    assert!(mount.status.success(), "{mount:?}");
    if !String::from_utf8_lossy(&mount.stdout).contains("(overlay)") {
        eprintln!(
            "SKIPPED: overlay mounts are not allowed here: {}",
            String::from_utf8_lossy(&mount.stderr).trim()
        );
        return;
    }

    fs::write(m.join("d7/f7"), "changed\n").unwrap();
    fs::remove_file(m.join("d9/f9")).unwrap();
    fs::create_dir(m.join("new")).unwrap();
    fs::write(m.join("new/x"), "added\n").unwrap();
    let (b, read, new_objects) = commit_counts(&store, &m);
    assert_eq!(read, 2, "only the changed and the added file are read");
    // Two blobs, the trees on their paths (d7, d9, new, the root), the record.
    assert!(new_objects <= 7, "{new_objects} new objects");
    let show = ok(&store, tmp.path(), &["show", &b]);
    assert!(show.contains(&format!("parent   {a}")), "{show}");

    // What was committed is what the mount shows, checked out elsewhere.
    let c = tmp.path().join("c");
    ok(
        &store,
        tmp.path(),
        &["checkout", &b, "--workdir", c.to_str().unwrap()],
    );
    assert_eq!(contents(&c), contents(&m));

    // gc keeps the mounted snapshot (the lower layer's tree) alive, so the
    // next commit of the mount still reads the upper layer only.
    ok(&store, tmp.path(), &["gc"]);
    fs::write(m.join("d3/f3"), "changed too\n").unwrap();
    let (d, _, new_objects) = commit_counts(&store, &m);
    assert!(new_objects <= 5, "{new_objects} new objects");
    let show = ok(&store, tmp.path(), &["show", &d]);
    assert!(show.contains(&format!("parent   {b}")), "{show}");
    let e = tmp.path().join("e");
    ok(
        &store,
        tmp.path(),
        &["checkout", &d, "--workdir", e.to_str().unwrap()],
    );
    assert_eq!(contents(&e), contents(&m));

    // Unmounted, the directory is empty and a checkout fills it again.
    ok(&store, tmp.path(), &["umount", m.to_str().unwrap()]);
    assert!(fs::read_dir(&m).unwrap().next().is_none());
    ok(
        &store,
        tmp.path(),
        &["checkout", &d, "--workdir", m.to_str().unwrap()],
    );
    assert_eq!(contents(&m), contents(&e));
}

#[test]
fn fork_prepares_several_directories_at_one_snapshot_each_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, w) = setup(tmp.path());
    for i in 0..40 {
        fs::write(w.join(format!("f{i}")), format!("file {i}\n")).unwrap();
    }
    let out = helios(&store, &w, &["commit", "--workdir", w.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let a = last_line(&String::from_utf8_lossy(&out.stdout));
    let dirs: Vec<_> = (0..3)
        .map(|i| tmp.path().join(format!("fork{i}")))
        .collect();
    let mut args = vec!["fork", a.as_str()];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    let printed = ok(&store, tmp.path(), &args);
    assert_eq!(printed.lines().count(), 3, "{printed}");
    let overlay = printed.contains("(overlay)");
    if !overlay {
        eprintln!("SKIPPED overlay part of the fork test (plain checkouts tested): {printed}");
    }
    for d in &dirs {
        assert_eq!(contents(d), contents(&w), "{}", d.display());
    }
    // An edit in one fork is in no other, and commits on top of the fork.
    fs::write(dirs[0].join("f1"), "mine\n").unwrap();
    assert_eq!(contents(&dirs[1]), contents(&w));
    let (b, _, _) = commit_counts(&store, &dirs[0]);
    let show = ok(&store, tmp.path(), &["show", &b]);
    assert!(show.contains(&format!("parent   {a}")), "{show}");
    if overlay {
        for d in &dirs {
            ok(&store, tmp.path(), &["umount", d.to_str().unwrap()]);
        }
    }
    // No directory is a usage error.
    let bad = helios(&store, tmp.path(), &["fork", &a]);
    assert!(!bad.status.success());
}
