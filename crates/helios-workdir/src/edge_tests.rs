//! The filesystem's edges: special files, symlinked directories, limits
//! checked before anything is written, the umask, and one operation per
//! directory at a time.

use std::fs;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::Path;
use std::time::Duration;

use helios_types::store::MemStore;
use helios_types::{HashAlgorithm, RepoPath};
use helios_vst::{Edit, Vst};

use super::tests::{expected, on_disk};
use super::*;

const ALG: HashAlgorithm = HashAlgorithm::Blake3;

fn p(s: &str) -> RepoPath {
    RepoPath::parse(s).unwrap()
}

fn capture_fresh(dir: &Path, tmp: &Path) -> Result<Captured, WorkdirError> {
    let state = StateFile::new(tmp.join("state"));
    capture(
        dir,
        &Vst::new(ALG),
        &CaptureOptions::default(),
        &state,
        &MemStore::new(ALG),
    )
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

#[test]
fn a_fifo_is_never_opened_so_capture_never_hangs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("file"), b"x").unwrap();
    let state = StateFile::new(tmp.path().join("state"));
    let first = capture(
        &dir,
        &Vst::new(ALG),
        &CaptureOptions::default(),
        &state,
        &MemStore::new(ALG),
    )
    .unwrap();
    // The tracked file becomes a FIFO with no writer: opening it for reading
    // would block forever.
    fs::remove_file(dir.join("file")).unwrap();
    mkfifo(&dir.join("file"));
    mkfifo(&dir.join("untracked-fifo"));
    let (tx, rx) = std::sync::mpsc::channel();
    let (d, t) = (dir.clone(), first.tree.clone());
    let path = tmp.path().join("state");
    std::thread::spawn(move || {
        let state = StateFile::new(path);
        let _ = tx.send(capture(
            &d,
            &t,
            &CaptureOptions::default(),
            &state,
            &MemStore::new(ALG),
        ));
    });
    let captured = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("capture hung on a FIFO")
        .unwrap();
    assert!(
        captured.tree.files().unwrap().is_empty(),
        "FIFOs are not captured"
    );
}

#[test]
fn a_symlinked_directory_is_captured_as_a_link_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"not yours").unwrap();
    let dir = tmp.path().join("w");
    fs::create_dir(&dir).unwrap();
    symlink(&outside, dir.join("a")).unwrap();
    let captured = capture_fresh(&dir, tmp.path()).unwrap();
    let files = captured.tree.files().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].0, p("a"));
    assert_eq!(files[0].1.kind, helios_types::EntryKind::Symlink);
}

#[test]
fn a_directory_deeper_than_the_cap_is_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w");
    let mut deep = dir.clone();
    for _ in 0..=helios_vst::MAX_DEPTH {
        deep.push("d");
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("f"), b"x").unwrap();
    let err = capture_fresh(&dir, tmp.path()).unwrap_err();
    assert!(matches!(err, WorkdirError::TooDeep { .. }), "{err}");
}

#[test]
fn a_name_too_long_for_the_filesystem_is_refused_before_anything_is_written() {
    let store = MemStore::new(ALG);
    let long = "n".repeat(300);
    let tree = Vst::new(ALG)
        .apply(&[
            Edit::file(p("a-first"), &b"1"[..]),
            Edit::file(p(&format!("sub/{long}")), &b"2"[..]),
        ])
        .unwrap();
    super::tests::persist(&tree, &store);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w");
    let state = StateFile::new(tmp.path().join("state"));
    let err = Checkout {
        from: None,
        to: &tree,
        blobs: &store,
        dir: &dir,
        state: &state,
    }
    .run(&CheckoutOptions::default(), &|_, _| {})
    .unwrap_err();
    assert!(matches!(err, WorkdirError::NameTooLong { .. }), "{err}");
    assert!(on_disk(&dir, &[]).is_empty(), "nothing was written");
}

/// The process umask, as the kernel reports it.
fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
}

#[test]
fn files_are_created_with_the_umask_applied_to_group_and_other() {
    let store = MemStore::new(ALG);
    let tree = Vst::new(ALG)
        .apply(&[
            Edit::file(p("plain"), &b"1"[..]),
            Edit::executable(p("run"), &b"2"[..]),
        ])
        .unwrap();
    super::tests::persist(&tree, &store);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w");
    materialize(&tree, &store, &dir, &|_| true, &|_, _| {}).unwrap();
    let mask = umask() & 0o077;
    for (name, base) in [("plain", 0o644), ("run", 0o755)] {
        let mode = fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, base & !mask, "{name}: umask {mask:o}");
    }
    assert_eq!(on_disk(&dir, &[]), expected(&tree, &store));
}

#[test]
fn a_second_operation_on_the_same_directory_waits_then_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w");
    fs::create_dir(&dir).unwrap();
    let root = fsx::open_root(&dir).unwrap();
    let held = apply::lock(std::os::fd::AsFd::as_fd(&root), &dir, Duration::ZERO).unwrap();
    let options = CaptureOptions {
        lock_timeout: Duration::from_millis(50),
        ..CaptureOptions::default()
    };
    let state = StateFile::new(tmp.path().join("state"));
    let err = capture(&dir, &Vst::new(ALG), &options, &state, &MemStore::new(ALG)).unwrap_err();
    assert!(matches!(err, WorkdirError::Busy { .. }), "{err}");
    drop(held);
    capture(&dir, &Vst::new(ALG), &options, &state, &MemStore::new(ALG)).unwrap();
}

#[test]
fn gc_folds_a_directory_state_only_while_no_operation_holds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("a"), "1").unwrap();
    let store = MemStore::new(ALG);
    let state = StateFile::new(tmp.path().join("state"));
    let options = CaptureOptions::default();
    let first = capture(&dir, &Vst::new(ALG), &options, &state, &store).unwrap();
    fs::write(dir.join("b"), "2").unwrap();
    let second = capture(&dir, &first.tree, &options, &state, &store).unwrap();
    assert!(state.journal_path().exists(), "a small capture appends");
    let before = state.read().unwrap();

    let root = fsx::open_root(&dir).unwrap();
    let held = apply::lock(std::os::fd::AsFd::as_fd(&root), &dir, Duration::ZERO).unwrap();
    assert!(
        !crate::fold_state(&dir, &state).unwrap(),
        "busy: left alone"
    );
    assert!(state.journal_path().exists());
    drop(held);

    assert!(crate::fold_state(&dir, &state).unwrap());
    assert!(!state.journal_path().exists());
    assert_eq!(state.read().unwrap(), before);
    assert_eq!(state.holds().unwrap(), Some(second.tree.root_hash()));
    assert!(
        !crate::fold_state(&dir, &state).unwrap(),
        "nothing left to fold"
    );
}
