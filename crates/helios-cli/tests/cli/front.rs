//! The two binaries: `helios`, the front end every script calls, answers
//! the everyday commands through a running server without starting an
//! engine (it links no RocksDB, so it starts in about a millisecond), and
//! hands everything else to `helios-local` beside it, which opens the store
//! itself. Which one answered must not show: same output, same exit codes.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::{commit, fails, helios, ok, setup};

/// Whether the file at `path` holds `needle` (grep reads a debug build's
/// hundreds of megabytes at disk speed).
fn holds(path: &Path, needle: &str) -> bool {
    let status = Command::new("grep")
        .args(["-q", "-a", "-F", needle])
        .arg(path)
        .status()
        .expect("run grep");
    assert!(
        status.code().is_some_and(|c| c <= 1),
        "grep failed: {status}"
    );
    status.success()
}

#[test]
fn the_front_end_links_no_rocksdb_and_the_local_binary_does() {
    // A mangled C++ name in RocksDB's namespace: its static constructors
    // are what a process pays for before `main` (docs/BENCHMARKS.md).
    let rocksdb = "_ZN7rocksdb";
    assert!(
        !holds(Path::new(env!("CARGO_BIN_EXE_helios")), rocksdb),
        "the front end links RocksDB"
    );
    assert!(holds(
        Path::new(env!("CARGO_BIN_EXE_helios-local")),
        rocksdb
    ));
}

#[test]
fn what_the_front_end_does_not_answer_itself_is_answered_by_helios_local() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, work) = setup(tmp.path());
    fs::write(work.join("a.txt"), "a\n").unwrap();
    let id = commit(&store, &work);

    // Help and version describe every command, not only the front end's.
    let help = ok(&store, tmp.path(), &["--help"]);
    for command in ["commit", "checkout", "serve", "demo", "bench", "gc"] {
        assert!(help.contains(command), "{command} missing from\n{help}");
    }
    let version = ok(&store, tmp.path(), &["--version"]);
    assert_eq!(
        version.trim(),
        format!("helios {}", env!("CARGO_PKG_VERSION"))
    );
    // Usage errors come from the full parser, as one would expect.
    let out = helios(&store, tmp.path(), &["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-command"));
    // Without a server every command runs in process, as before.
    assert!(ok(&store, tmp.path(), &["log"]).contains(&id[..12]));
    let err = fails(&store, tmp.path(), &["show", "feedface"]);
    assert!(err.contains("feedface"), "{err}");
}

#[test]
fn a_front_end_without_its_local_binary_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _work) = setup(tmp.path());
    let alone = tmp.path().join("bin");
    fs::create_dir(&alone).unwrap();
    fs::copy(env!("CARGO_BIN_EXE_helios"), alone.join("helios")).unwrap();
    let out = Command::new(alone.join("helios"))
        .args(["log"])
        .env("HELIOS_STORE", &store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("helios: "), "{err}");
    assert!(err.contains("helios-local"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
