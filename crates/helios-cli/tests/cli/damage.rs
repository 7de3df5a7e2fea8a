//! Bad input and damage: unknown ids, a missing store or workdir, an
//! object damaged on disk, an unreadable file. Each gives one clear line
//! on stderr and a non-zero exit, and loses nothing that was good.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;

use helios_objstore::{RocksConfig, RocksStore};
use helios_types::Blob;
use helios_types::store::ObjectStore;

use crate::common::{command, fails, helios, last_line, ok};

#[test]
fn bad_input_gives_one_clear_error_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let out = helios(&store, tmp.path(), &["log"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no store at") && err.contains("helios init"),
        "{err}"
    );
    assert!(!store.exists(), "a failed command created the store");

    ok(&store, tmp.path(), &["init"]);
    for args in [
        &["show", "deadbeef"][..],
        &["checkout", "0000"],
        &["commit", "--workdir", "/nonexistent/dir"],
        &["cat", "zz", "a"],
    ] {
        fails(&store, tmp.path(), args);
    }
    assert!(
        ok(&store, tmp.path(), &["log"]).is_empty(),
        "nothing was committed"
    );
}

/// The hash of `name` in snapshot `id`'s root directory.
fn hash_in(store: &Path, dir: &Path, id: &str, name: &str) -> String {
    let ls: serde_json::Value =
        serde_json::from_str(&ok(store, dir, &["ls", id, "--json"])).unwrap();
    ls.as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {ls}"))["hash"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_damaged_object_is_named_and_never_written_into_a_workdir() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let store = tmp.path().join("store");
    fs::create_dir(&work).unwrap();
    fs::write(work.join("a.txt"), b"alpha\n").unwrap();
    fs::write(work.join("b.txt"), b"bravo\n").unwrap();
    ok(&store, &work, &["init"]);
    let damaged_id = last_line(&ok(&store, &work, &["commit", "-m", "a"]));
    fs::write(work.join("a.txt"), b"alpha, edited\n").unwrap();
    let good_id = last_line(&ok(&store, &work, &["commit", "-m", "b"]));
    let victim = hash_in(&store, &work, &damaged_id, "a.txt");

    // Behind the engine's back: a valid object under the wrong hash.
    {
        let raw = RocksStore::open(&store, &RocksConfig::default()).unwrap();
        raw.put(
            victim.parse().unwrap(),
            Blob::new(&b"not alpha\n"[..]).encode(),
        )
        .unwrap();
    }

    let out = helios(&store, &work, &["fsck"]);
    assert!(!out.status.success(), "fsck passed a damaged store");
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        report.contains(&format!("DAMAGED {damaged_id}")) && report.contains(&victim),
        "fsck must name the snapshot and the object: {report}"
    );
    assert!(report.contains("2 snapshots, 1 damaged"), "{report}");

    let err = fails(&store, &work, &["cat", &damaged_id, "a.txt"]);
    assert!(err.contains(&victim), "{err}");
    assert_eq!(
        ok(&store, &work, &["cat", &damaged_id, "b.txt"]),
        "bravo\n",
        "undamaged objects still read"
    );

    // Checkout verifies each file before it replaces the old one: the
    // working directory never receives the wrong bytes.
    let err = fails(&store, &work, &["checkout", &damaged_id]);
    assert!(err.contains(&victim), "{err}");
    assert_eq!(fs::read(work.join("a.txt")).unwrap(), b"alpha, edited\n");
    assert_eq!(fs::read(work.join("b.txt")).unwrap(), b"bravo\n");
    ok(&store, &work, &["checkout", &good_id]);
    assert_eq!(fs::read(work.join("a.txt")).unwrap(), b"alpha, edited\n");
}

/// Files the running user may not read. Root reads everything, so as root
/// the commands run as `nobody` over a tree that user owns.
struct Unprivileged {
    as_nobody: bool,
}

impl Unprivileged {
    const NOBODY: u32 = 65534;

    fn new() -> Self {
        let euid = fs::metadata("/proc/self").unwrap().uid();
        Unprivileged {
            as_nobody: euid == 0,
        }
    }

    /// Hands `path` to the user the commands run as.
    fn own(&self, path: &Path) {
        if self.as_nobody {
            std::os::unix::fs::chown(path, Some(Self::NOBODY), Some(Self::NOBODY)).unwrap();
        }
    }

    fn run(&self, store: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
        let mut cmd = command(store, dir, args);
        if self.as_nobody {
            cmd.uid(Self::NOBODY).gid(Self::NOBODY);
            // Under coverage the binary writes its profile at exit, by
            // default into the target directory, which `nobody` cannot.
            if std::env::var_os("LLVM_PROFILE_FILE").is_some() {
                cmd.env("LLVM_PROFILE_FILE", store.with_extension("%p.profraw"));
            }
        }
        cmd.output().unwrap()
    }
}

#[test]
fn an_unreadable_file_stops_the_commit_and_names_the_file() {
    let user = Unprivileged::new();
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let store = tmp.path().join("store");
    fs::create_dir(&work).unwrap();
    fs::write(work.join("open.txt"), b"anyone may read this\n").unwrap();
    fs::write(work.join("secret.txt"), b"nobody may read this\n").unwrap();
    for p in [
        tmp.path(),
        &work,
        &work.join("open.txt"),
        &work.join("secret.txt"),
    ] {
        user.own(p);
    }
    fs::set_permissions(work.join("secret.txt"), fs::Permissions::from_mode(0o000)).unwrap();

    let init = user.run(&store, &work, &["init"]);
    assert!(init.status.success(), "{init:?}");
    let out = user.run(&store, &work, &["commit", "-m", "x"]);
    assert!(!out.status.success(), "committed an unreadable file");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("helios: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(
        err.contains("secret.txt") && err.matches("ermission denied").count() == 1,
        "the path and the reason, once: {err}"
    );
    let log = user.run(&store, &work, &["log"]);
    assert!(log.status.success() && log.stdout.is_empty(), "{log:?}");

    // Readable again: the same directory commits whole.
    fs::set_permissions(work.join("secret.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    let out = user.run(&store, &work, &["commit", "-m", "x"]);
    assert!(out.status.success(), "{out:?}");
    let id = last_line(&String::from_utf8(out.stdout).unwrap());
    let cat = user.run(&store, &work, &["cat", &id, "secret.txt"]);
    assert_eq!(cat.stdout, b"nobody may read this\n");
}
