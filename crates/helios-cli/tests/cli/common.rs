//! Running the real `helios` binary against a store and a directory.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `helios ARGS` with `HELIOS_STORE=store`, run in `dir`.
pub(crate) fn command(store: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_helios"));
    cmd.args(args).env("HELIOS_STORE", store).current_dir(dir);
    cmd
}

pub(crate) fn helios(store: &Path, dir: &Path, args: &[&str]) -> Output {
    command(store, dir, args).output().expect("run helios")
}

/// Runs a command that must succeed; returns its stdout.
pub(crate) fn ok(store: &Path, dir: &Path, args: &[&str]) -> String {
    let out = helios(store, dir, args);
    assert!(
        out.status.success(),
        "helios {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with one clear line on stderr; returns it.
pub(crate) fn fails(store: &Path, dir: &Path, args: &[&str]) -> String {
    let out = helios(store, dir, args);
    assert!(!out.status.success(), "helios {args:?} succeeded");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("helios: "), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "one line, no backtrace: {err}");
    err
}

/// A fresh store `s` beside a working directory `w`, in `tmp`.
pub(crate) fn setup(tmp: &Path) -> (PathBuf, PathBuf) {
    let (store, work) = (tmp.join("s"), tmp.join("w"));
    fs::create_dir(&work).unwrap();
    ok(&store, tmp, &["init"]);
    (store, work)
}

/// `helios checkout ID` into a new directory `name` under `tmp`; returns
/// the directory.
pub(crate) fn checkout_new(store: &Path, tmp: &Path, id: &str, name: &str) -> PathBuf {
    let work = tmp.join(name);
    fs::create_dir(&work).unwrap();
    ok(
        store,
        tmp,
        &["checkout", id, "--workdir", work.to_str().unwrap()],
    );
    work
}

/// `helios commit --workdir work`; returns the new snapshot's id.
pub(crate) fn commit(store: &Path, work: &Path) -> String {
    let dir = work.to_str().unwrap();
    last_line(&ok(store, work, &["commit", "--workdir", dir]))
}

pub(crate) fn last_line(s: &str) -> String {
    s.lines().last().unwrap().to_owned()
}

/// Everything a snapshot fixes about a directory, path by path (the store
/// excluded): file bytes and executable bit, symlink targets, directories.
pub(crate) fn contents(root: &Path) -> BTreeMap<PathBuf, String> {
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
