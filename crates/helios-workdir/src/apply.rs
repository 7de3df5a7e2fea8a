//! Writing trees into directories: [`materialize`](super::materialize) into
//! an empty directory and [`Checkout`](super::Checkout) of the difference
//! between what a directory holds and a target tree.

use std::cell::OnceCell;
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use helios_types::store::ObjectStore;
use helios_types::{EntryKind, Hash, Name, RepoPath};
use helios_vst::{Change, Entry, LeafKind, Vst};

use super::content::{content_error, leaf_content};
use super::error::{Result, WorkdirError};
use super::fsx;
use super::guard::Known;
use super::scan::{Scan, touches_protected};
use super::state::{StatEntry, WorkdirState, now_ns};
use super::state_file::StateFile;
use super::{CheckoutOptions, Report};

/// A directory of the target that is created only when something is
/// written into it (so a filter that selects nothing below it leaves no
/// empty directory behind).
struct DirSlot<'p> {
    parent: Option<(&'p DirSlot<'p>, &'p Name)>,
    fd: OnceCell<OwnedFd>,
}

impl DirSlot<'_> {
    fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd.as_fd());
        }
        let Some((parent, name)) = self.parent else {
            return Err(io::Error::other("root directory descriptor missing"));
        };
        let pfd = parent.fd()?;
        match rustix::fs::mkdirat(pfd, name.as_bytes(), rustix::fs::Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let fd = fsx::open_dir_at(pfd, name.as_bytes())?;
        Ok(self.fd.get_or_init(|| fd).as_fd())
    }
}

struct Materializer<'a> {
    vst: &'a Vst,
    blobs: &'a dyn ObjectStore,
    dir: &'a Path,
    filter: &'a dyn Fn(&RepoPath) -> bool,
    progress: &'a dyn Fn(u64, u64),
    total: u64,
    report: Report,
}

impl Materializer<'_> {
    fn dir(&mut self, slot: &DirSlot<'_>, path: &RepoPath) -> Result<()> {
        let listing = self.vst.list(path)?;
        for (name, entry) in &listing {
            let child = path.join(name.clone());
            let io_err = |op, e| WorkdirError::io(op, fsx::disk_path(self.dir, &child), e);
            match LeafKind::from_entry_kind(entry.kind) {
                None => {
                    let sub = DirSlot {
                        parent: Some((slot, name)),
                        fd: OnceCell::new(),
                    };
                    self.dir(&sub, &child)?;
                    if sub.fd.get().is_none()
                        && entry.size == 0
                        && self.vst.list(&child)?.is_empty()
                        && (self.filter)(&child)
                    {
                        sub.fd().map_err(|e| io_err("create directory", e))?;
                    }
                    if sub.fd.get().is_some() {
                        self.report.dirs_created += 1;
                    }
                }
                Some(kind) => {
                    if !(self.filter)(&child) {
                        continue;
                    }
                    let content = leaf_content(self.vst, self.blobs, &child, entry)?;
                    let fd = slot.fd().map_err(|e| io_err("create directory", e))?;
                    fsx::create_leaf(fd, name.as_bytes(), kind, &content).map_err(|e| {
                        content_error("write", &child, fsx::disk_path(self.dir, &child), e)
                    })?;
                    self.report.files_written += 1;
                    self.report.bytes_written += content.len();
                    (self.progress)(self.report.files_written, self.total);
                }
            }
        }
        Ok(())
    }
}

/// Creates `dir` (and its parents) if missing and refuses it with
/// [`WorkdirError::NotEmpty`] unless it is empty: what [`materialize`], an
/// overlay's upper and work directories, and any working directory made
/// from nothing start from.
pub fn empty_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| WorkdirError::io("create directory", dir, e))?;
    let mut read = fs::read_dir(dir).map_err(|e| WorkdirError::io("read directory", dir, e))?;
    if read.next().is_some() {
        return Err(WorkdirError::NotEmpty {
            path: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Writes `vst` (the leaves and empty directories `filter` selects) into
/// `dir`, which must be empty or missing.
pub fn materialize(
    vst: &Vst,
    blobs: &dyn ObjectStore,
    dir: &Path,
    filter: &dyn Fn(&RepoPath) -> bool,
    progress: &dyn Fn(u64, u64),
) -> Result<Report> {
    let _span = tracing::info_span!("materialize", dir = %dir.display()).entered();
    empty_dir(dir)?;
    let root = fsx::open_root(dir).map_err(|e| WorkdirError::io("open", dir, e))?;
    let total = vst.stats()?.files;
    let mut m = Materializer {
        vst,
        blobs,
        dir,
        filter,
        progress,
        total,
        report: Report::default(),
    };
    let slot = DirSlot {
        parent: None,
        fd: OnceCell::from(root),
    };
    m.dir(&slot, &RepoPath::root())?;
    Ok(m.report)
}

/// Applies diff changes to a directory through descriptors, counting
/// operations for progress and fault injection, and keeping the stat cache.
pub(crate) struct Applier<'a> {
    pub(crate) root: BorrowedFd<'a>,
    pub(crate) dir: &'a Path,
    pub(crate) to: &'a Vst,
    pub(crate) blobs: &'a dyn ObjectStore,
    pub(crate) fail_after_ops: Option<u64>,
    pub(crate) progress: &'a dyn Fn(u64, u64),
    pub(crate) report: Report,
    pub(crate) ops: u64,
    /// Stat-cache keys of the leaves written.
    pub(crate) written: Vec<Vec<u8>>,
    /// Rewrite modified files in place (see [`fsx::rewrite_in_place`]).
    /// Not through an overlay, where writing to a lower file copies it up
    /// first, which costs more than writing a new one.
    pub(crate) rewrite_in_place: bool,
}

impl Applier<'_> {
    fn parent(&self, path: &RepoPath, create: bool) -> Result<Option<OwnedFd>> {
        let names = path.names();
        fsx::walk_dirs(self.root, &names[..names.len().saturating_sub(1)], create).map_err(|e| {
            WorkdirError::io(
                "open directory",
                fsx::disk_path(self.dir, &path.parent()),
                e,
            )
        })
    }

    fn tick(&mut self, total: u64) -> Result<()> {
        if let Some(n) = self.fail_after_ops
            && self.ops >= n
        {
            return Err(WorkdirError::Injected(n));
        }
        self.ops += 1;
        (self.progress)(self.ops, total);
        Ok(())
    }

    fn remove(&mut self, path: &RepoPath, cache: Option<&mut WorkdirState>) -> Result<()> {
        let Some(name) = path.file_name() else {
            return Ok(());
        };
        if let Some(parent) = self.parent(path, false)? {
            fsx::remove_tree_at(parent.as_fd(), name.as_bytes())
                .map_err(|e| WorkdirError::io("remove", fsx::disk_path(self.dir, path), e))?;
            self.report.removed += 1;
        }
        if let Some(state) = cache {
            state.forget(&path.to_bytes());
        }
        Ok(())
    }

    /// Writes the leaf or directory `entry` at `path`. `modified`: the path
    /// holds an older version of the leaf, which may be rewritten in place.
    fn write(
        &mut self,
        path: &RepoPath,
        entry: &Entry,
        modified: bool,
        cache: Option<&mut WorkdirState>,
    ) -> Result<()> {
        let Some(name) = path.file_name() else {
            return Ok(());
        };
        let parent = self.parent(path, true)?.ok_or_else(|| {
            WorkdirError::io(
                "open directory",
                fsx::disk_path(self.dir, path),
                io::ErrorKind::NotFound.into(),
            )
        })?;
        let io_err = |op, e| WorkdirError::io(op, fsx::disk_path(self.dir, path), e);
        match LeafKind::from_entry_kind(entry.kind) {
            None => {
                fsx::ensure_dir(parent.as_fd(), name.as_bytes())
                    .map_err(|e| io_err("create directory", e))?;
                self.report.dirs_created += 1;
            }
            Some(kind) => {
                let content = leaf_content(self.to, self.blobs, path, entry)?;
                let recorded = now_ns();
                let (parent, name) = (parent.as_fd(), name.as_bytes());
                let write_err = |e| content_error("write", path, fsx::disk_path(self.dir, path), e);
                let rewritten = if modified && self.rewrite_in_place {
                    fsx::rewrite_in_place(parent, name, kind, &content).map_err(write_err)?
                } else {
                    None
                };
                let stat = match rewritten {
                    Some(stat) => stat,
                    None => fsx::replace_leaf(parent, name, kind, &content).map_err(write_err)?,
                };
                self.report.files_written += 1;
                self.report.bytes_written += content.len();
                if let Some(state) = cache {
                    self.written.push(path.to_bytes());
                    state.forget(&path.to_bytes());
                    state.put(
                        path.to_bytes(),
                        StatEntry {
                            kind: kind.entry_kind(),
                            stat,
                            hash: entry.hash,
                            recorded_ns: recorded,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Applies `changes` in order (the order `Vst::diff` gives).
    pub(crate) fn apply(
        &mut self,
        changes: &[Change],
        mut cache: Option<&mut WorkdirState>,
    ) -> Result<()> {
        self.prefetch(changes);
        let total = changes.len() as u64;
        for change in changes {
            self.tick(total)?;
            match change {
                Change::Deleted { path, .. } => self.remove(path, cache.as_deref_mut())?,
                Change::TypeChanged { path, new, .. } => {
                    self.remove(path, cache.as_deref_mut())?;
                    self.write(path, new, false, cache.as_deref_mut())?;
                }
                Change::Added { path, entry } => {
                    self.write(path, entry, false, cache.as_deref_mut())?;
                }
                Change::Modified { path, new, .. } => {
                    self.write(path, new, true, cache.as_deref_mut())?;
                }
            }
        }
        Ok(())
    }
}

impl Applier<'_> {
    /// Tells the store which files are about to be written: one that reads
    /// through to a remote then brings what it lacks in a few large reads,
    /// where each file would otherwise miss on its own (a first checkout
    /// of a lazy clone). A hint: if it fails, each read fetches its own.
    fn prefetch(&self, changes: &[Change]) {
        let content: Vec<Hash> = changes
            .iter()
            .filter_map(|change| match change {
                Change::Added { entry, .. }
                | Change::Modified { new: entry, .. }
                | Change::TypeChanged { new: entry, .. } => {
                    (entry.kind != EntryKind::Dir).then_some(entry.hash)
                }
                Change::Deleted { .. } => None,
            })
            .collect();
        if let Err(e) = self.blobs.prefetch(&content) {
            tracing::debug!(error = %e, "prefetch failed; each file reads its own");
        }
    }
}

/// Why the fast path cannot be used, or `None` when every path the diff
/// touches is on disk as the stat cache recorded it and every directory it
/// removes holds only what `from` has there (ignored files aside).
fn fast_path_blocker(
    root: BorrowedFd<'_>,
    dir: &Path,
    from: &Vst,
    changes: &[Change],
    state: &WorkdirState,
    options: &CheckoutOptions,
) -> Result<Option<&'static str>> {
    for change in changes {
        let path = change.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        let parent_path = path.parent();
        let io_err = |e| WorkdirError::io("stat", fsx::disk_path(dir, path), e);
        let parent = fsx::walk_dirs(root, parent_path.names(), false).map_err(io_err)?;
        let st = match parent {
            Some(parent) => fsx::lstat_at(parent.as_fd(), name.as_bytes()).map_err(io_err)?,
            None if is_dir_in(from, &parent_path)? => {
                return Ok(Some("a directory on the way is missing or not a directory"));
            }
            // `from` has a leaf (or nothing) on the way: an earlier change
            // of this diff replaces it with the directory.
            None => None,
        };
        let old = match change {
            Change::Added { .. } => {
                if st.is_some() {
                    return Ok(Some("a path the target adds already exists"));
                }
                continue;
            }
            Change::Deleted { entry, .. } => entry,
            Change::Modified { old, .. } | Change::TypeChanged { old, .. } => old,
        };
        let Some(st) = st else {
            return Ok(Some("a path the directory should hold is missing"));
        };
        if old.kind == EntryKind::Dir {
            if !fsx::is_dir(&st) {
                return Ok(Some("a directory was replaced"));
            }
            let cache = state.cache();
            let mut scan = Scan::new(dir, &options.capture, cache, true, None, from.algorithm());
            if scan.differs_beneath(root, from, path)? {
                return Ok(Some(
                    "a directory the target removes holds untracked or changed files",
                ));
            }
            continue;
        }
        let now = super::state::FileStat::from_rustix(&st);
        let ok = state
            .cache()
            .get(&path.to_bytes())
            .is_some_and(|c| c.kind == old.kind && c.hash == old.hash && c.matches(&now));
        if !ok {
            return Ok(Some("a file the diff touches changed on disk"));
        }
    }
    Ok(None)
}

/// Whether `tree` has a directory at `path` (false when a leaf stands on the way).
fn is_dir_in(tree: &Vst, path: &RepoPath) -> Result<bool> {
    match tree.get(path) {
        Ok(entry) => Ok(entry.is_some_and(|e| e.kind == EntryKind::Dir)),
        Err(helios_vst::VstError::NotADirectory { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Refuses, before anything is written, changes that would touch a
/// protected path or write a name the file system cannot hold.
fn check_writable(
    root: BorrowedFd<'_>,
    dir: &Path,
    changes: &[Change],
    options: &CheckoutOptions,
) -> Result<()> {
    let name_max = fsx::name_max(root).map_err(|e| WorkdirError::io("statvfs", dir, e))?;
    for change in changes {
        let path = change.path();
        if touches_protected(&options.capture.protected, path) {
            return Err(WorkdirError::Protected { path: path.clone() });
        }
        if matches!(change, Change::Deleted { .. }) {
            continue;
        }
        if let Some(long) = path
            .names()
            .iter()
            .find(|n| n.as_bytes().len() as u64 > name_max)
        {
            return Err(WorkdirError::NameTooLong {
                path: path.clone(),
                len: long.as_bytes().len(),
                max: name_max,
            });
        }
    }
    Ok(())
}

/// Takes the directory's lock (see [`fsx::DirLock`]) for one operation.
pub(crate) fn lock(
    root: BorrowedFd<'_>,
    dir: &Path,
    timeout: std::time::Duration,
) -> Result<fsx::DirLock> {
    fsx::DirLock::acquire(root, timeout)
        .map_err(|e| WorkdirError::io("lock", dir, e))?
        .ok_or_else(|| WorkdirError::Busy {
            path: dir.to_path_buf(),
        })
}

/// Runs a write of the state files; on a full disk, forgets the state
/// instead (removing files needs no space), so the next operation scans
/// rather than trusting a stale record. Returns false when it had to.
pub(crate) fn record_or_forget(
    state_file: &StateFile,
    write: impl FnOnce() -> Result<()>,
) -> Result<bool> {
    match write() {
        Ok(()) => Ok(true),
        Err(WorkdirError::Io { source, .. }) if source.kind() == io::ErrorKind::StorageFull => {
            tracing::warn!(path = %state_file.path().display(), "no space to record the working directory's state; forgetting it");
            state_file.forget()?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// One switch of a working directory to a target tree, its inputs named.
#[derive(Clone, Copy)]
pub struct Checkout<'a> {
    /// What the caller believes the directory holds; `None` when it does
    /// not know (the directory is then scanned).
    pub from: Option<&'a Vst>,
    /// The tree the directory must hold.
    pub to: &'a Vst,
    /// Where file contents are read from.
    pub blobs: &'a dyn ObjectStore,
    /// The working directory.
    pub dir: &'a Path,
    /// Its state file: stat cache, what it holds, the in-progress marker.
    pub state: &'a StateFile,
}

/// What a checkout will do, decided before anything is written.
struct Plan<'a> {
    changes: Vec<Change>,
    /// What a scan found the directory to hold (when one ran).
    scanned: Option<Vst>,
    /// Temporary files of a killed checkout, found by the scan.
    leftovers: Vec<RepoPath>,
    report: Report,
    state: WorkdirState,
    interrupted: bool,
    root: &'a OwnedFd,
}

impl Checkout<'_> {
    /// Makes `dir` hold exactly `to` (outside ignored and protected paths).
    ///
    /// `from` is the tree the caller believes the directory holds. Files that
    /// the switch would delete or overwrite and that neither `from` nor (after
    /// an interrupted checkout) the store knows are refused with
    /// [`WorkdirError::WouldLoseFiles`] unless [`CheckoutOptions::force`].
    pub fn run(&self, options: &CheckoutOptions, progress: &dyn Fn(u64, u64)) -> Result<Report> {
        let dir = self.dir;
        let _span = tracing::info_span!("checkout", dir = %dir.display()).entered();
        fs::create_dir_all(dir).map_err(|e| WorkdirError::io("create directory", dir, e))?;
        let root = fsx::open_root(dir).map_err(|e| WorkdirError::io("open", dir, e))?;
        let _lock = lock(root.as_fd(), dir, options.capture.lock_timeout)?;
        if self.already_held(options)? {
            return Ok(Report {
                fast_path: true,
                ..Report::default()
            });
        }
        let plan = self.plan(&root, options)?;
        check_writable(root.as_fd(), dir, &plan.changes, options)?;
        if !options.force {
            self.refuse_to_lose_files(&plan)?;
        }
        self.apply(plan, options, progress)
    }

    /// Whether the directory already holds the target, as far as the fast
    /// path would trust it: the caller says it holds `to` and the state
    /// says so too, with no interrupted checkout. Decided from the state's
    /// header, without its stat cache, so such a checkout costs O(1); like
    /// the fast path, it does not look for edits made behind the store's
    /// back (a capture does).
    fn already_held(&self, options: &CheckoutOptions) -> Result<bool> {
        let target = self.to.root_hash();
        if options.full || self.from.map(Vst::root_hash) != Some(target) {
            return Ok(false);
        }
        Ok(self.state.holds()? == Some(target))
    }

    /// Diffs `from` against the target when the recorded state vouches
    /// for it (the fast path), or scans the directory and diffs what it
    /// holds.
    fn plan<'r>(&self, root: &'r OwnedFd, options: &CheckoutOptions) -> Result<Plan<'r>> {
        let state = self.state.load()?;
        let interrupted = state.in_progress.is_some();
        let mut fallback = if options.full {
            Some("a full scan was requested")
        } else if interrupted {
            Some("an earlier checkout was interrupted")
        } else if self.from.is_none() {
            Some("the caller does not know what the directory holds")
        } else if state.holds.is_none() || state.holds != self.from.map(Vst::root_hash) {
            Some("the recorded state does not say the directory holds `from`")
        } else {
            None
        };
        let mut changes = Vec::new();
        if let (None, Some(from)) = (fallback, self.from) {
            changes = from.diff(self.to)?;
            fallback = fast_path_blocker(root.as_fd(), self.dir, from, &changes, &state, options)?;
        }
        let mut plan = Plan {
            changes,
            scanned: None,
            leftovers: Vec::new(),
            report: Report::default(),
            state,
            interrupted,
            root,
        };
        if let Some(reason) = fallback {
            tracing::debug!(reason, "checkout scans the directory");
            let to = self.to;
            let mut scan = Scan::new(
                self.dir,
                &options.capture,
                plan.state.cache(),
                true,
                None,
                to.algorithm(),
            );
            let actual = scan.run(root.as_fd(), to)?;
            plan.leftovers = std::mem::take(&mut scan.leftovers);
            plan.report = std::mem::take(&mut scan.report);
            plan.state
                .update_cache(std::mem::take(&mut scan.cache_update), None);
            plan.changes = actual.diff(to)?;
            plan.scanned = Some(actual);
        }
        plan.report.fast_path = fallback.is_none();
        plan.report.fallback = fallback;
        Ok(plan)
    }

    /// The directory holds something the record does not vouch for:
    /// refuses to destroy what only the user has.
    fn refuse_to_lose_files(&self, plan: &Plan<'_>) -> Result<()> {
        let Some(actual) = &plan.scanned else {
            return Ok(());
        };
        let known = Known {
            held: self.from,
            interrupted: plan.interrupted,
            store: self.blobs,
        };
        let paths = known.at_risk(actual, &plan.changes)?;
        if paths.is_empty() {
            Ok(())
        } else {
            Err(WorkdirError::WouldLoseFiles {
                dir: self.dir.to_path_buf(),
                paths,
            })
        }
    }

    /// Marks the directory in progress, writes the changes, and records
    /// what it holds.
    fn apply(
        &self,
        plan: Plan<'_>,
        options: &CheckoutOptions,
        progress: &dyn Fn(u64, u64),
    ) -> Result<Report> {
        let Plan {
            changes,
            leftovers,
            report,
            mut state,
            root,
            ..
        } = plan;
        let (dir, state_file, to_root) = (self.dir, self.state, self.to.root_hash());
        let marked = record_or_forget(state_file, || {
            state_file.mark_in_progress(state.holds.take(), to_root, options.sync)
        })?;
        let mut applier = Applier {
            root: root.as_fd(),
            dir,
            to: self.to,
            blobs: self.blobs,
            #[cfg(test)]
            fail_after_ops: options.fail_after_ops,
            #[cfg(not(test))]
            fail_after_ops: None,
            progress,
            report,
            ops: 0,
            written: Vec::new(),
            rewrite_in_place: true,
        };
        for leftover in &leftovers {
            // Temporary files of a killed checkout: ours, never a user's.
            if let (Some(name), Some(parent)) =
                (leftover.file_name(), applier.parent(leftover, false)?)
            {
                fsx::remove_tree_at(parent.as_fd(), name.as_bytes())
                    .map_err(|e| WorkdirError::io("remove", fsx::disk_path(dir, leftover), e))?;
            }
        }
        applier.apply(&changes, Some(&mut state))?;
        if options.sync {
            rustix::fs::syncfs(root).map_err(|e| WorkdirError::io("sync", dir, e.into()))?;
        }
        // Entries written here were statted as they were written; nobody
        // else writes into the directory during a checkout (the engine owns
        // it), so their racy window is measured from now, not from each
        // write.
        let end = now_ns();
        for key in &applier.written {
            state.restamp(key, end);
        }
        state.in_progress = None;
        state.holds = Some(to_root);
        let saved = record_or_forget(state_file, || state_file.save(state, options.sync))?;
        state_file.clear_in_progress()?;
        let mut report = applier.report;
        report.state_unrecorded = !(marked && saved);
        Ok(report)
    }
}
