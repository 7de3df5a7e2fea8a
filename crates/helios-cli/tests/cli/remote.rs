//! Two stores sharing snapshots through a remote in a directory, through
//! the real binary: `helios remote add`, `push`, `fetch`, then a checkout
//! of what was fetched.

use std::fs;

use crate::common::{commit, contents, fails, helios, last_line, ok, setup};

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
    // An id needs a remote ref name.
    let err = fails(&store_b, tmp.path(), &["push", "origin", &on_b]);
    assert!(err.contains("--to"), "{err}");
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
    let err = fails(&store, tmp.path(), &["fetch", "nowhere", "main"]);
    assert!(err.contains("nowhere"), "{err}");
    ok(&store, tmp.path(), &["remote", "add", "origin", &url]);
    let err = fails(&store, tmp.path(), &["remote", "add", "origin", &url]);
    assert!(err.contains("exists"), "{err}");
    let err = fails(&store, tmp.path(), &["fetch", "origin", "main"]);
    assert!(err.contains("no ref `main`"), "{err}");
    ok(&store, tmp.path(), &["remote", "remove", "origin"]);
    let out = helios(&store, tmp.path(), &["remote", "list"]);
    assert!(out.status.success() && out.stdout.is_empty());
}
