//! The watcher on real files and real inotify: every watched capture must
//! equal a full walk of the same directory, whatever was done to it, and
//! every doubt must end in a full walk.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use helios_types::store::MemStore;
use helios_types::{Hash, HashAlgorithm, RepoPath};
use helios_vst::{Edit, Vst};
use proptest::prelude::*;
use tempfile::TempDir;

use super::tests::persist;
use super::*;

const ALG: HashAlgorithm = HashAlgorithm::Blake3;

#[allow(clippy::print_stderr, reason = "a skipped test must say why")]
fn skip(reason: &str) {
    eprintln!("SKIPPED watcher test: {reason}");
}

/// A watched directory and what its captures need.
struct Watched {
    tmp: TempDir,
    dir: PathBuf,
    state: StateFile,
    store: MemStore,
    watcher: Watcher,
    base: Vst,
}

impl Watched {
    /// A watched `wd` under a fresh temporary directory (the sync file and
    /// the state beside it); `None`, said why, where inotify is refused.
    fn new() -> Option<Watched> {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wd");
        fs::create_dir(&dir).unwrap();
        let watcher = match Watcher::new(&dir, &tmp.path().join("cookie"), &[]) {
            Ok(w) => w,
            Err(e @ WorkdirError::WatchUnavailable { .. }) => {
                skip(&e.to_string());
                return None;
            }
            Err(e) => panic!("{e}"),
        };
        let state = StateFile::new(tmp.path().join("state"));
        Some(Watched {
            tmp,
            dir,
            state,
            store: MemStore::new(ALG),
            watcher,
            base: Vst::new(ALG),
        })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// A capture through the watcher, from the last one; checked against a
    /// full walk of the directory.
    fn capture(&mut self) -> Report {
        let captured = self
            .watcher
            .capture(
                &self.base,
                &CaptureOptions::default(),
                &self.state,
                &self.store,
            )
            .unwrap();
        assert_eq!(
            captured.tree.root_hash(),
            full_walk(&self.dir),
            "watched capture differs from a full walk ({:?})",
            captured.report
        );
        self.base = captured.tree;
        captured.report
    }
}

/// The root hash of `dir` read whole, with no state and an empty base.
fn full_walk(dir: &Path) -> Hash {
    let tmp = tempfile::tempdir().unwrap();
    let state = StateFile::new(tmp.path().join("state"));
    let store = MemStore::new(ALG);
    capture(
        dir,
        &Vst::new(ALG),
        &CaptureOptions::default(),
        &state,
        &store,
    )
    .unwrap()
    .tree
    .root_hash()
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, bytes).unwrap();
}

#[test]
fn an_edit_is_captured_from_the_reported_paths_only() {
    let Some(mut w) = Watched::new() else { return };
    for i in 0..40 {
        write(
            &w.path(&format!("d{}/f{i}", i % 4)),
            format!("{i}").as_bytes(),
        );
    }
    let first = w.capture();
    assert_eq!(
        first.fallback,
        Some("the first capture with this watcher"),
        "{first:?}"
    );
    assert_eq!(first.files_scanned, 40);

    write(&w.path("d1/f5"), b"changed");
    write(&w.path("d2/new"), b"new");
    fs::remove_file(w.path("d3/f7")).unwrap();
    let report = w.capture();
    assert!(report.fast_path, "{report:?}");
    assert_eq!(report.files_scanned, 2, "{report:?}");
    assert_eq!(report.files_hashed, 2, "{report:?}");
    assert_eq!(report.edits, 3, "{report:?}");

    let quiet = w.capture();
    assert!(quiet.fast_path && quiet.files_scanned == 0, "{quiet:?}");
}

#[test]
fn renamed_directories_keep_their_watches_and_ones_moved_out_lose_them() {
    let Some(mut w) = Watched::new() else { return };
    write(&w.path("a/b/c/f"), b"1");
    w.capture();
    fs::rename(w.path("a"), w.path("z")).unwrap();
    let report = w.capture();
    assert!(report.fast_path, "{report:?}");
    // Events from the moved directories now name their new place.
    write(&w.path("z/b/c/g"), b"2");
    write(&w.path("z/b/f"), b"3");
    assert!(w.capture().fast_path);
    fs::rename(w.path("z/b"), w.path("b2")).unwrap();
    write(&w.path("b2/c/h"), b"4");
    assert!(w.capture().fast_path);
    // Moved out of the tree: what happens there is not this tree's.
    let outside = w.tmp.path().join("outside");
    fs::rename(w.path("b2"), &outside).unwrap();
    assert!(w.capture().fast_path);
    write(&outside.join("c/later"), b"5");
    let report = w.capture();
    assert!(report.fast_path && report.files_scanned == 0, "{report:?}");
    // And moved back in: watched again, walked whole.
    fs::rename(&outside, w.path("back")).unwrap();
    assert!(w.capture().fast_path);
    write(&w.path("back/c/again"), b"6");
    assert!(w.capture().fast_path);
}

#[test]
fn new_directories_are_watched_with_what_was_made_in_them_before() {
    let Some(mut w) = Watched::new() else { return };
    w.capture();
    // Made in one go, faster than any watch could be added.
    fs::create_dir_all(w.path("n/o/p")).unwrap();
    write(&w.path("n/o/p/q"), b"deep");
    write(&w.path("n/r"), b"shallow");
    assert!(w.capture().fast_path);
    write(&w.path("n/o/p/q"), b"deeper");
    let report = w.capture();
    assert!(report.fast_path && report.files_scanned == 1, "{report:?}");
}

#[test]
fn ignore_files_symlinks_modes_and_same_size_rewrites_are_seen() {
    let Some(mut w) = Watched::new() else { return };
    write(&w.path("src/a.rs"), b"fn a() {}");
    write(&w.path("src/build/out"), b"o");
    write(&w.path("run.sh"), b"#!/bin/sh");
    w.capture();
    write(&w.path("src/.heliosignore"), b"build/\n");
    assert!(w.capture().fast_path);
    fs::remove_file(w.path("src/.heliosignore")).unwrap();
    assert!(w.capture().fast_path);
    fs::set_permissions(w.path("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    assert!(w.capture().fast_path);
    std::os::unix::fs::symlink("/etc", w.path("src/etc")).unwrap();
    std::os::unix::fs::symlink("../run.sh", w.path("src/run")).unwrap();
    assert!(w.capture().fast_path);
    // Same size, same mtime, other bytes: only ctime and the event tell.
    let path = w.path("src/a.rs");
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    fs::write(&path, b"fn b() {}").unwrap();
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let report = w.capture();
    assert!(report.fast_path && report.files_hashed == 1, "{report:?}");
}

#[test]
fn hard_links_are_re_examined_at_every_capture() {
    let Some(mut w) = Watched::new() else { return };
    write(&w.path("inside"), b"one");
    let outside = w.tmp.path().join("outside");
    fs::hard_link(w.path("inside"), &outside).unwrap();
    w.capture();
    // Written through the other name: the directory's watch hears nothing.
    fs::OpenOptions::new()
        .append(true)
        .open(&outside)
        .unwrap()
        .write_all(b" two")
        .unwrap();
    let report = w.capture();
    assert!(report.fast_path && report.files_hashed == 1, "{report:?}");
}

#[test]
fn an_overflowed_queue_falls_back_to_a_full_walk_and_recovers() {
    let Some(mut w) = Watched::new() else { return };
    w.capture();
    let limit: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    if limit > 100_000 {
        return skip(&format!(
            "max_queued_events is {limit}: too many files to overflow it"
        ));
    }
    for i in 0..=limit {
        fs::File::create(w.path(&format!("f{i}"))).unwrap();
    }
    let report = w.capture();
    assert_eq!(
        report.fallback,
        Some("the kernel's event queue overflowed"),
        "{report:?}"
    );
    write(&w.path("f1"), b"after");
    let report = w.capture();
    assert!(report.fast_path && report.files_scanned == 1, "{report:?}");
}

#[test]
fn a_directory_removed_and_made_again_falls_back_to_a_full_walk_and_recovers() {
    let Some(mut w) = Watched::new() else { return };
    write(&w.path("f"), b"1");
    w.capture();
    fs::remove_dir_all(&w.dir).unwrap();
    write(&w.path("g"), b"2");
    let report = w.capture();
    assert_eq!(report.fallback, Some("the directory was replaced"));
    write(&w.path("g"), b"3");
    assert!(w.capture().fast_path);
}

#[test]
fn a_base_is_used_only_where_it_differs_on_reported_paths() {
    let Some(mut w) = Watched::new() else { return };
    write(&w.path("a"), b"a");
    write(&w.path("d/b"), b"b");
    w.capture();
    // A checkout writes its diff: the capture after it starts from the
    // tree checked out, and looks at what the checkout wrote.
    let from = w.base.clone();
    persist(&from, &w.store);
    let to = from
        .apply(&[
            Edit::file(RepoPath::parse("d/b").unwrap(), &b"B"[..]),
            Edit::file(RepoPath::parse("c").unwrap(), &b"c"[..]),
        ])
        .unwrap();
    persist(&to, &w.store);
    Checkout {
        from: Some(&from),
        to: &to,
        blobs: &w.store,
        dir: &w.dir,
        state: &w.state,
    }
    .run(&CheckoutOptions::default(), &|_, _| {})
    .unwrap();
    w.base = to;
    let report = w.capture();
    assert!(report.fast_path, "{report:?}");
    assert_eq!(report.files_scanned, 2, "{report:?}");
    // A base that differs where nothing was reported is not trusted.
    w.base = Vst::new(ALG)
        .apply(&[Edit::file(RepoPath::parse("other").unwrap(), &b"x"[..])])
        .unwrap();
    let report = w.capture();
    assert_eq!(
        report.fallback,
        Some("the base tree differs from the watcher's where no change was reported")
    );
}

#[test]
fn mounts_in_the_directory_fall_back_to_a_full_walk() {
    use rustix::mount::{MountFlags, UnmountFlags, mount, unmount};
    let Some(mut w) = Watched::new() else { return };
    write(&w.path("m/under"), b"hidden by the mount");
    w.capture();
    let target = w.path("m");
    if let Err(e) = mount("tmpfs", &target, "tmpfs", MountFlags::empty(), None) {
        return skip(&format!("cannot mount a tmpfs here: {e}"));
    }
    /// Unmounts even when an assertion fails, so the directory can go.
    struct Mounted<'a>(&'a Path);
    impl Drop for Mounted<'_> {
        fn drop(&mut self) {
            let _ = unmount(self.0, UnmountFlags::DETACH);
        }
    }
    let mounted = Mounted(&target);
    let report = w.capture();
    assert_eq!(
        report.fallback,
        Some("a file system was mounted or unmounted in the directory")
    );
    write(&w.path("m/on_tmpfs"), b"t");
    let on_tmpfs = w.capture();
    assert!(on_tmpfs.fast_path, "{on_tmpfs:?}");
    drop(mounted);
    let report = w.capture();
    assert!(report.fallback.is_some(), "{report:?}");
}

/// One thing done to the directory, over a few names at a few depths, so
/// that random sequences collide: files become directories, directories
/// move over each other, links point in and out.
#[derive(Debug, Clone)]
enum Op {
    Write(String, u8),
    Remove(String),
    Mkdir(String),
    Rename(String, String),
    Chmod(String, bool),
    Symlink(String, &'static str),
    SameSizeRewrite(String),
    Ignore(String, &'static str),
}

fn rel_path() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 1..4)
        .prop_map(|names| names.join("/"))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (rel_path(), any::<u8>()).prop_map(|(p, b)| Op::Write(p, b)),
        1 => rel_path().prop_map(Op::Remove),
        1 => rel_path().prop_map(Op::Mkdir),
        2 => (rel_path(), rel_path()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (rel_path(), any::<bool>()).prop_map(|(p, x)| Op::Chmod(p, x)),
        1 => (rel_path(), prop_oneof![Just("a"), Just("../b"), Just("/etc")])
            .prop_map(|(p, t)| Op::Symlink(p, t)),
        1 => rel_path().prop_map(Op::SameSizeRewrite),
        1 => (
            prop_oneof![Just(String::new()), rel_path()],
            prop_oneof![Just("b\n"), Just("c/\n"), Just("")]
        )
            .prop_map(|(d, rules)| Op::Ignore(d, rules)),
    ]
}

/// Does `op` in `dir`; whatever the file system refuses (a parent that is
/// a file, a rename onto a full directory) is simply not done.
fn apply(dir: &Path, op: &Op) {
    let at = |rel: &str| dir.join(rel);
    let mkparent = |p: &Path| p.parent().map(fs::create_dir_all);
    let _ = match op {
        Op::Write(p, byte) => {
            let path = at(p);
            let _ = mkparent(&path);
            fs::write(&path, vec![*byte; usize::from(*byte % 7)])
        }
        Op::Remove(p) => {
            let path = at(p);
            match fs::symlink_metadata(&path) {
                Ok(md) if md.is_dir() => fs::remove_dir_all(&path),
                Ok(_) => fs::remove_file(&path),
                Err(e) => Err(e),
            }
        }
        Op::Mkdir(p) => fs::create_dir_all(at(p)),
        Op::Rename(a, b) => {
            let to = at(b);
            let _ = mkparent(&to);
            fs::rename(at(a), to)
        }
        Op::Chmod(p, exec) => {
            let path = at(p);
            match fs::symlink_metadata(&path) {
                Ok(md) if md.is_file() => fs::set_permissions(
                    &path,
                    fs::Permissions::from_mode(if *exec { 0o755 } else { 0o644 }),
                ),
                _ => Ok(()),
            }
        }
        Op::Symlink(p, target) => {
            let path = at(p);
            let _ = mkparent(&path);
            std::os::unix::fs::symlink(target, path)
        }
        Op::SameSizeRewrite(p) => {
            let path = at(p);
            match fs::symlink_metadata(&path) {
                Ok(md) if md.is_file() => {
                    let mut bytes = fs::read(&path).unwrap_or_default();
                    for b in &mut bytes {
                        *b = b.wrapping_add(1);
                    }
                    fs::write(&path, &bytes).and_then(|()| {
                        fs::File::options()
                            .write(true)
                            .open(&path)?
                            .set_modified(md.modified()?)
                    })
                }
                _ => Ok(()),
            }
        }
        Op::Ignore(d, rules) => {
            let path = at(d).join(HELIOSIGNORE);
            let _ = mkparent(&path);
            fs::write(path, rules)
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// After every step of a random sequence of edits, the watched capture
    /// equals a full walk of the directory.
    #[test]
    fn watched_capture_equals_a_full_walk(
        start in proptest::collection::vec(op(), 0..8),
        steps in proptest::collection::vec(proptest::collection::vec(op(), 1..4), 1..10),
    ) {
        let Some(mut w) = Watched::new() else { return Ok(()) };
        for op in &start {
            apply(&w.dir, op);
        }
        w.capture();
        for step in &steps {
            for op in step {
                apply(&w.dir, op);
            }
            let report = w.capture();
            // Nothing here loses an event; a root ignore file's change is
            // the one reason left to walk everything.
            prop_assert!(
                report.fast_path || report.fallback == Some("an ignore file at the top changed"),
                "{:?} after {:?}", report, step
            );
        }
    }
}
