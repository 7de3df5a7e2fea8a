//! Two stores sharing snapshots through a remote in a directory, through
//! the real binary: `helios remote add`, `push`, `fetch`, then a checkout
//! of what was fetched; `helios clone`, whose store reads what it lacks
//! from the remote as it is used.

use std::fs;

use crate::common::{checkout_new, commit, contents, fails, helios, last_line, ok, setup};

#[test]
fn a_snapshot_pushed_from_one_store_is_fetched_and_checked_out_from_another() {
    let tmp = tempfile::tempdir().unwrap();
    let (store_a, work_a) = setup(tmp.path());
    fs::create_dir_all(work_a.join("src/deep")).unwrap();
    fs::write(work_a.join("src/deep/lib.rs"), "fn lib() {}\n").unwrap();
    fs::write(work_a.join("README"), "read me\n").unwrap();
    let first = commit(&store_a, &work_a);
    ok(&store_a, tmp.path(), &["ref", "main", &first]);
    let url = format!("file://{}", tmp.path().join("shared").display());

    let added = ok(&store_a, tmp.path(), &["remote", "add", "origin", &url]);
    assert!(added.contains("origin"), "{added}");
    assert_eq!(
        ok(&store_a, tmp.path(), &["remote", "list"]).trim(),
        format!("origin {url}")
    );
    let pushed = ok(&store_a, tmp.path(), &["push", "origin", "main"]);
    assert_eq!(last_line(&pushed), first);

    // Another store, another directory.
    let store_b = tmp.path().join("b");
    let work_b = tmp.path().join("wb");
    fs::create_dir(&work_b).unwrap();
    ok(&store_b, tmp.path(), &["init"]);
    ok(&store_b, tmp.path(), &["remote", "add", "origin", &url]);
    let fetched = ok(&store_b, tmp.path(), &["fetch", "origin", "main"]);
    assert_eq!(last_line(&fetched), first);
    assert_eq!(
        last_line(&ok(&store_b, tmp.path(), &["ref", "origin/main"])),
        first
    );
    let dir = work_b.to_str().unwrap();
    ok(
        &store_b,
        tmp.path(),
        &["checkout", "origin/main", "--workdir", dir],
    );
    assert_eq!(contents(&work_b), contents(&work_a));

    // A's next snapshot goes forward; B's own, from the old one, does not.
    fs::write(work_a.join("README"), "read me again\n").unwrap();
    let second = commit(&store_a, &work_a);
    ok(&store_a, tmp.path(), &["ref", "main", &second]);
    let json = ok(&store_a, tmp.path(), &["--json", "push", "origin", "main"]);
    let v: serde_json::Value = serde_json::from_str(last_line(&json).as_str()).unwrap();
    assert_eq!(v["id"], second.as_str());
    assert_eq!(v["ref_moved"], true);
    // The record, the root and the README's blob.
    assert_eq!(v["objects"], 3, "{v}");

    fs::write(work_b.join("mine.txt"), "b's work\n").unwrap();
    let on_b = commit(&store_b, &work_b);
    let err = fails(
        &store_b,
        tmp.path(),
        &["push", "origin", &on_b, "--to", "main"],
    );
    assert!(err.contains("fetch"), "{err}");
    // An id without --to moves no ref: another machine reads it by id.
    let pushed = helios(&store_b, tmp.path(), &["push", "origin", &on_b]);
    let note = String::from_utf8_lossy(&pushed.stderr);
    assert!(
        pushed.status.success() && note.contains("no ref moved"),
        "{note}"
    );
    ok(
        &store_b,
        tmp.path(),
        &["push", "origin", &on_b, "--to", "b/work"],
    );
    let fetched = ok(&store_a, tmp.path(), &["fetch", "origin", "b/work"]);
    assert_eq!(last_line(&fetched), on_b);
}

#[test]
fn remotes_with_bad_names_unknown_names_or_bad_urls_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _work) = setup(tmp.path());
    let url = format!("file://{}", tmp.path().join("r").display());
    let err = fails(&store, tmp.path(), &["remote", "add", "a b", &url]);
    assert!(err.contains("remote name"), "{err}");
    let err = fails(&store, tmp.path(), &["remote", "add", "x", "relative/dir"]);
    assert!(err.contains("relative/dir"), "{err}");
    let err = fails(&store, tmp.path(), &["remote", "add", "x", "s3://"]);
    assert!(err.contains("s3://BUCKET"), "{err}");
    let err = fails(&store, tmp.path(), &["fetch", "nowhere", "main"]);
    assert!(err.contains("nowhere"), "{err}");
    ok(&store, tmp.path(), &["remote", "add", "origin", &url]);
    let err = fails(&store, tmp.path(), &["remote", "add", "origin", &url]);
    assert!(err.contains("exists"), "{err}");
    let err = fails(&store, tmp.path(), &["fetch", "origin", "main"]);
    assert!(err.contains("no ref `main`"), "{err}");
    // A full id the remote never received.
    let absent = "ab".repeat(32);
    let err = fails(&store, tmp.path(), &["fetch", "origin", &absent]);
    assert!(err.contains(&absent[..12]), "{err}");
    assert!(err.contains("no snapshot"), "{err}");
    ok(&store, tmp.path(), &["remote", "remove", "origin"]);
    let out = helios(&store, tmp.path(), &["remote", "list"]);
    assert!(out.status.success() && out.stdout.is_empty());
}

/// Twenty files in each of `dirs` under `work`, each naming itself.
fn tree(work: &std::path::Path, dirs: &[&str]) {
    for dir in dirs {
        fs::create_dir_all(work.join(dir)).unwrap();
        for i in 0..20 {
            fs::write(work.join(dir).join(format!("f{i}")), format!("{dir} {i}\n")).unwrap();
        }
    }
}

#[test]
fn a_lazy_clone_reads_only_what_it_uses_keeps_it_and_refuses_wrong_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (store_a, work_a) = setup(tmp.path());
    tree(&work_a, &["a", "b", "c/d"]);
    let first = commit(&store_a, &work_a);
    ok(&store_a, tmp.path(), &["ref", "main", &first]);
    let shared = tmp.path().join("shared");
    let url = format!("file://{}", shared.display());
    ok(&store_a, tmp.path(), &["remote", "add", "origin", &url]);
    ok(&store_a, tmp.path(), &["push", "origin", "main"]);

    let store_b = tmp.path().join("b");
    let cloned = ok(&store_b, tmp.path(), &["clone", &url]);
    assert!(cloned.contains(&format!("{first} origin/main")), "{cloned}");
    let listed = ok(&store_b, tmp.path(), &["remote", "list"]);
    assert_eq!(listed.trim(), format!("origin {url} (read through)"));
    // A second clone into the same store is refused.
    assert!(fails(&store_b, tmp.path(), &["clone", &url]).contains("already holds a store"));

    // One file read: its record, trees and blob come through, and stay.
    assert_eq!(
        ok(&store_b, tmp.path(), &["cat", "origin/main", "a/f3"]),
        "a 3\n"
    );
    // fsck checks what is here and counts the rest as the remote's, not
    // as damage.
    let fsck = ok(&store_b, tmp.path(), &["fsck", "--json"]);
    let fsck: serde_json::Value = serde_json::from_str(&fsck).unwrap();
    assert_eq!(fsck["damaged"].as_array().unwrap().len(), 0, "{fsck}");
    assert!(fsck["remote_unchecked"].as_u64().unwrap() > 0, "{fsck}");
    assert!(fsck["trees_checked"].as_u64().unwrap() >= 2, "{fsck}");
    let away = tmp.path().join("away");
    fs::rename(&shared, &away).unwrap();
    assert_eq!(
        ok(&store_b, tmp.path(), &["cat", "origin/main", "a/f3"]),
        "a 3\n"
    );
    // What was never read is not here: without the remote it cannot be.
    let err = fails(&store_b, tmp.path(), &["cat", "origin/main", "b/f3"]);
    assert!(err.contains("remote"), "{err}");
    fs::rename(&away, &shared).unwrap();

    // A whole checkout reads the rest through; gc there needs no remote
    // and loses nothing.
    let work_b = checkout_new(&store_b, tmp.path(), "origin/main", "wb");
    let dir_b = work_b.to_str().unwrap();
    assert_eq!(contents(&work_b), contents(&work_a));
    ok(&store_b, tmp.path(), &["gc"]);
    let fsck = ok(&store_b, tmp.path(), &["fsck"]);
    assert!(fsck.contains("0 damaged"), "{fsck}");
    assert!(
        !fsck.contains("the remote's"),
        "all of it is here now: {fsck}"
    );

    // A snapshot pushed by id only is checked out by id, reading only
    // what differs.
    fs::write(work_a.join("c/d/f7"), "edited on a\n").unwrap();
    let second = commit(&store_a, &work_a);
    ok(&store_a, tmp.path(), &["push", "origin", &second]);
    ok(
        &store_b,
        tmp.path(),
        &["checkout", &second, "--workdir", dir_b],
    );
    assert_eq!(contents(&work_b), contents(&work_a));

    // A remote that serves wrong bytes: an error naming the object, and the
    // directory keeps what it held.
    let packs_before: Vec<_> = fs::read_dir(shared.join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    fs::write(work_a.join("a/f1"), "edited again\n").unwrap();
    let third = commit(&store_a, &work_a);
    ok(&store_a, tmp.path(), &["push", "origin", &third]);
    for entry in fs::read_dir(shared.join("packs")).unwrap() {
        let path = entry.unwrap().path();
        if packs_before.contains(&path) || path.extension().is_none_or(|e| e != "pack") {
            continue;
        }
        let mut bytes = fs::read(&path).unwrap();
        for b in &mut bytes {
            *b ^= 0x55;
        }
        fs::write(&path, bytes).unwrap();
    }
    let err = fails(
        &store_b,
        tmp.path(),
        &["checkout", &third, "--workdir", dir_b],
    );
    assert!(err.contains("hash to"), "{err}");
    assert_eq!(fs::read_to_string(work_b.join("a/f1")).unwrap(), "a 1\n");
}

#[test]
fn a_fetch_into_a_lazy_store_brings_all_that_a_snapshot_it_partly_holds_reaches() {
    let tmp = tempfile::tempdir().unwrap();
    let (store_a, work_a) = setup(tmp.path());
    tree(&work_a, &["a", "b", "c/d"]);
    let id = commit(&store_a, &work_a);
    let shared = tmp.path().join("shared");
    let url = format!("file://{}", shared.display());
    ok(&store_a, tmp.path(), &["remote", "add", "origin", &url]);
    ok(&store_a, tmp.path(), &["push", "origin", &id]);

    let store_b = tmp.path().join("b");
    ok(&store_b, tmp.path(), &["clone", &url]);
    // The record, the root and a/ come through; b/ and c/ stay remote.
    assert_eq!(ok(&store_b, tmp.path(), &["cat", &id, "a/f3"]), "a 3\n");
    let fetched = ok(&store_b, tmp.path(), &["fetch", "origin", &id, "--json"]);
    let fetched: serde_json::Value = serde_json::from_str(&fetched).unwrap();
    assert!(fetched["objects"].as_u64().unwrap() >= 40, "{fetched}");
    let fsck = ok(&store_b, tmp.path(), &["fsck", "--json"]);
    let fsck: serde_json::Value = serde_json::from_str(&fsck).unwrap();
    assert_eq!(fsck["remote_unchecked"], 0, "all of it is here: {fsck}");

    // Whole without the remote.
    fs::rename(&shared, tmp.path().join("away")).unwrap();
    let work_b = checkout_new(&store_b, tmp.path(), &id, "wb");
    assert_eq!(contents(&work_b), contents(&work_a));
}
