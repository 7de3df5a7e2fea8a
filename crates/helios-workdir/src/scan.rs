//! Reading a directory back into a tree: the stat-cache-driven walk behind
//! [`capture`](super::capture) and the full-scan path of
//! [`Checkout`](super::Checkout), plus the ignore-rule stack both share with
//! overlay capture.
//!
//! The walk goes directory by directory beside the base tree's listing of
//! the same directory, so it emits edits only for what differs: a leaf whose
//! `lstat` equals its settled cache entry and whose cached hash equals the
//! base's entry is neither read nor hashed, and produces no edit.
//!
//! It walks by descriptor, as checkout writes: each directory is opened
//! relative to its parent with `O_NOFOLLOW`, each entry is `lstat`ed
//! relative to its directory, and a leaf is opened with
//! `O_NOFOLLOW | O_NONBLOCK` and must be, by `fstat`, the file the `lstat`
//! saw (device, inode, type) and unchanged after it was read. A directory
//! swapped for a symlink mid-scan cannot pull files from outside, a file
//! swapped for a fifo cannot hang the walk, and a file rewritten while it
//! is read is read again (or reported, see [`WorkdirError::Changed`]).

use std::cell::Cell;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use helios_types::{EntryKind, Hash, HashAlgorithm, Name, RepoPath};
use helios_vst::{Edit, Entry, LeafKind, MAX_DEPTH, Vst};
use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::content::{self, ChunkStore, ReadLeaf};
use super::error::{Result, WorkdirError};
use super::fsx;
use super::stat_cache::{CacheUpdate, Span};
use super::state::{FileStat, StatCache, StatEntry};
use super::walk::{self, DirJob, Jobs};
use super::{CaptureOptions, Report};

/// Name of the Helios ignore file, read in every directory.
pub const HELIOSIGNORE: &str = ".heliosignore";
/// Name of git's ignore file, read when [`CaptureOptions::gitignore`] is set.
pub const GITIGNORE: &str = ".gitignore";

/// How often a leaf that changes while it is read is read again before the
/// scan gives up on it.
const READ_ATTEMPTS: u32 = 3;

/// The ignore matchers of the directories from the root down to the one
/// being walked; deeper files win, `.heliosignore` before `.gitignore`.
/// Cloned for each directory handed to another thread of a parallel walk,
/// so a level is shared, not copied.
#[derive(Default, Clone)]
pub(crate) struct IgnoreStack {
    levels: Vec<Arc<Vec<Gitignore>>>,
}

impl IgnoreStack {
    /// Loads the ignore files of the directory open as `dir_fd` (whose
    /// path, for matching, is `dir`). The files are read through the
    /// descriptor without following symlinks; a missing one counts as empty.
    /// `listing`, the directory's names sorted when the caller has them,
    /// spares opening a file that is not there.
    pub(crate) fn push(
        &mut self,
        dir_fd: BorrowedFd<'_>,
        dir: &Path,
        gitignore: bool,
        listing: Option<&[Vec<u8>]>,
    ) {
        let mut level = Vec::new();
        for (wanted, file) in [(true, HELIOSIGNORE), (gitignore, GITIGNORE)] {
            let listed = || {
                listing.is_none_or(|names| {
                    names
                        .binary_search_by(|n| n.as_slice().cmp(file.as_bytes()))
                        .is_ok()
                })
            };
            if !wanted || !listed() {
                continue;
            }
            let text = match fsx::read_small_file_at(dir_fd, file.as_bytes()) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(dir = %dir.display(), file, %err, "ignore file unreadable");
                    continue;
                }
            };
            let path = dir.join(file);
            let mut builder = GitignoreBuilder::new(dir);
            for line in String::from_utf8_lossy(&text).lines() {
                if let Err(err) = builder.add_line(Some(path.clone()), line) {
                    tracing::warn!(path = %path.display(), %err, "ignore rule skipped");
                }
            }
            match builder.build() {
                Ok(gi) => level.push(gi),
                Err(err) => tracing::warn!(path = %path.display(), %err, "ignore file ignored"),
            }
        }
        self.levels.push(Arc::new(level));
    }

    pub(crate) fn pop(&mut self) {
        self.levels.pop();
    }

    /// Pushes a level without rules, for a directory that is not there:
    /// the stack keeps one level per directory walked into.
    fn push_empty(&mut self) {
        self.levels.push(Arc::default());
    }

    /// Whether the path `path` makes (absolute, beneath the root the stack
    /// was built for) is ignored; `path` is called only where a rule might
    /// match.
    fn ignored_with(&self, path: impl FnOnce() -> PathBuf, is_dir: bool) -> bool {
        if self.levels.iter().all(|level| level.is_empty()) {
            return false;
        }
        self.ignored(&path(), is_dir)
    }

    /// Whether `path` (absolute, beneath the root the stack was built for)
    /// is ignored.
    pub(crate) fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        for level in self.levels.iter().rev() {
            for gi in level.iter() {
                match gi.matched(path, is_dir) {
                    Match::Ignore(_) => return true,
                    Match::Whitelist(_) => return false,
                    Match::None => {}
                }
            }
        }
        false
    }
}

/// True when the path of `names` is a protected path or lies beneath one.
pub(crate) fn is_protected(protected: &[RepoPath], names: &[Name]) -> bool {
    protected
        .iter()
        .any(|p| names.len() >= p.names().len() && names[..p.names().len()] == *p.names())
}

/// True when removing or replacing `path` would touch a protected path
/// (it is one, lies beneath one, or contains one).
pub(crate) fn touches_protected(protected: &[RepoPath], path: &RepoPath) -> bool {
    protected.iter().any(|p| {
        let (a, b) = (path.names(), p.names());
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    })
}

/// What the walk makes of one directory entry, from its `lstat`.
enum Found {
    Dir,
    Leaf(LeafKind),
    /// A fifo, socket or device: never captured.
    Special,
}

fn classify(st: &rustix::fs::Stat) -> Found {
    use rustix::fs::FileType;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => Found::Dir,
        FileType::Symlink => Found::Leaf(LeafKind::Symlink),
        FileType::RegularFile if st.st_mode & 0o100 != 0 => Found::Leaf(LeafKind::Executable),
        FileType::RegularFile => Found::Leaf(LeafKind::File),
        _ => Found::Special,
    }
}

/// One walk of a working directory against a base tree.
pub(crate) struct Scan<'a> {
    /// The directory's path: for error messages and ignore matching only;
    /// every access goes through descriptors.
    root: &'a Path,
    options: &'a CaptureOptions,
    old_cache: &'a StatCache,
    /// What the leaves seen change in `old_cache`.
    pub(crate) cache_update: CacheUpdate,
    /// Emit found leaves by hash only (for checkout's diff) instead of
    /// with their bytes, and trust settled cache entries even when the
    /// base differs.
    hash_only: bool,
    /// Where a large file's chunks are written as it is read (a capture);
    /// `None` when nothing is stored.
    store: Option<&'a dyn ChunkStore>,
    alg: HashAlgorithm,
    started_ns: i64,
    pub(crate) report: Report,
    edits: Vec<Edit>,
    ignores: IgnoreStack,
    /// Where a subdirectory is left for another thread, in one part of a
    /// parallel walk (see [`walk`](super::walk)).
    jobs: Option<&'a Jobs>,
    /// Temporary files an interrupted checkout left (never captured).
    pub(crate) leftovers: Vec<RepoPath>,
    /// Leaves seen with more than one hard link: a write through another
    /// link is reported (by a watcher) under that link's name only.
    pub(crate) linked: Vec<RepoPath>,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(
        root: &'a Path,
        options: &'a CaptureOptions,
        old_cache: &'a StatCache,
        hash_only: bool,
        store: Option<&'a dyn ChunkStore>,
        alg: HashAlgorithm,
    ) -> Self {
        Scan {
            root,
            options,
            old_cache,
            cache_update: CacheUpdate::default(),
            hash_only,
            store,
            alg,
            started_ns: super::state::now_ns(),
            report: Report::default(),
            edits: Vec::new(),
            ignores: IgnoreStack::default(),
            leftovers: Vec::new(),
            linked: Vec::new(),
            jobs: None,
        }
    }

    /// An empty scan like this one, for one thread of a parallel walk,
    /// starting with the ignore rules `ignores`.
    pub(crate) fn part<'j>(&self, jobs: &'j Jobs, ignores: IgnoreStack) -> Scan<'j>
    where
        'a: 'j,
    {
        Scan {
            root: self.root,
            options: self.options,
            old_cache: self.old_cache,
            cache_update: CacheUpdate::default(),
            hash_only: self.hash_only,
            store: self.store,
            alg: self.alg,
            started_ns: self.started_ns,
            report: Report::default(),
            edits: Vec::new(),
            ignores,
            leftovers: Vec::new(),
            linked: Vec::new(),
            jobs: Some(jobs),
        }
    }

    /// Takes in what the parts of a parallel walk found, sorted as one
    /// thread would have found it. Their edits are not disjoint: where a
    /// directory replaced a leaf, one part deletes the leaf and others may
    /// fill in subdirectories beneath it. So the edits go in path order, a
    /// path before what lies beneath it and a delete before anything else
    /// at its path, which is the order one thread makes them in.
    pub(crate) fn absorb(&mut self, parts: Vec<Scan<'_>>) {
        for part in parts {
            self.edits.extend(part.edits);
            self.cache_update.absorb(part.cache_update);
            self.leftovers.extend(part.leftovers);
            self.linked.extend(part.linked);
            let r = part.report;
            self.report.files_scanned += r.files_scanned;
            self.report.files_hashed += r.files_hashed;
            self.report.bytes_hashed += r.bytes_hashed;
            self.report.objects_stored += r.objects_stored;
            self.report.bytes_stored += r.bytes_stored;
            self.report.skipped += r.skipped;
        }
        self.edits.sort_by(|a, b| {
            let deletes_first =
                |e: &Edit| !matches!(e, Edit::Delete { .. } | Edit::DeleteTree { .. });
            a.path()
                .cmp(b.path())
                .then_with(|| deletes_first(a).cmp(&deletes_first(b)))
        });
        self.leftovers.sort();
        self.linked.sort();
    }

    pub(crate) fn set_ignores(&mut self, ignores: IgnoreStack) {
        self.ignores = ignores;
    }

    /// Walks the whole directory (open as `root_fd`) against `base` and
    /// returns `base` with the edits applied; on [`CaptureOptions::walkers`]
    /// threads.
    pub(crate) fn run(&mut self, root_fd: BorrowedFd<'_>, base: &Vst) -> Result<Vst> {
        let listing = base.list(&RepoPath::root())?;
        match self.options.walkers {
            0 | 1 => {
                self.dir(root_fd, base, &mut Vec::new(), Some(listing))?;
            }
            threads => walk::in_parallel(self, root_fd, base, listing, threads)?,
        }
        let edits = std::mem::take(&mut self.edits);
        self.report.edits = edits.len() as u64;
        Ok(base.apply(&edits)?)
    }

    /// Re-examines only the entries at `paths` (sorted, none beneath
    /// another) against `base`, each as the full walk would when it meets
    /// it: a directory is walked whole, a leaf compared with the stat
    /// cache, an entry that is gone (or ignored, protected, beneath
    /// something that is no longer a directory) deleted. Returns `base`
    /// with the edits applied. The ignore rules of every directory above a
    /// path apply. Costs what the paths hold, plus their ancestors.
    pub(crate) fn paths(
        &mut self,
        root_fd: BorrowedFd<'_>,
        base: &Vst,
        paths: &[RepoPath],
    ) -> Result<Vst> {
        // The directories walked into from the root down to the parent of
        // the path at hand; `None` for one that is not there to capture.
        let mut open: Vec<(Name, Option<OwnedFd>)> = Vec::new();
        self.ignores
            .push(root_fd, self.root, self.options.gitignore, None);
        let result = self.paths_from(root_fd, base, paths, &mut open);
        for _ in 0..=open.len() {
            self.ignores.pop();
        }
        result?;
        let edits = std::mem::take(&mut self.edits);
        self.report.edits = edits.len() as u64;
        Ok(base.apply(&edits)?)
    }

    fn paths_from(
        &mut self,
        root_fd: BorrowedFd<'_>,
        base: &Vst,
        paths: &[RepoPath],
        open: &mut Vec<(Name, Option<OwnedFd>)>,
    ) -> Result<()> {
        for path in paths {
            let Some((_, parents)) = path.names().split_last() else {
                continue;
            };
            let shared = open
                .iter()
                .zip(parents)
                .take_while(|((a, _), b)| a == *b)
                .count();
            while open.len() > shared {
                open.pop();
                self.ignores.pop();
            }
            while open.len() < parents.len() {
                let depth = open.len();
                let parent = match open.last() {
                    None => Some(root_fd),
                    Some((_, fd)) => fd.as_ref().map(|fd| fd.as_fd()),
                };
                let here = RepoPath::from_names(parents[..=depth].iter().cloned());
                let fd = match parent {
                    Some(parent) => self.ancestor(parent, &here)?,
                    None => None,
                };
                match &fd {
                    Some(fd) => {
                        self.ignores.push(
                            fd.as_fd(),
                            &self.disk(&here),
                            self.options.gitignore,
                            None,
                        );
                    }
                    None => self.ignores.push_empty(),
                }
                open.push((parents[depth].clone(), fd));
            }
            let parent = match open.last() {
                None => Some(root_fd),
                Some((_, fd)) => fd.as_ref().map(|fd| fd.as_fd()),
            };
            let base_entry = match base.get(path) {
                Ok(entry) => entry,
                Err(helios_vst::VstError::NotADirectory { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let had_base = base_entry.is_some();
            let captured = match parent {
                Some(parent) => {
                    let (key, dir) = (path.to_bytes(), self.disk(&path.parent()));
                    let at = At {
                        names: path.names(),
                        key: &key,
                        dir: &dir,
                        cached: &Cell::new(self.old_cache.span(b"")),
                    };
                    self.entry(parent, base, &at, base_entry)?
                }
                None => false,
            };
            // Not captured (gone, ignored, ...) where the base has it.
            if had_base && !captured {
                self.edits.push(Edit::delete_tree(path.clone()));
            }
        }
        Ok(())
    }

    /// Opens the directory at `path` (in `parent`) to walk beneath it, if
    /// the full walk would: `None` when it is protected, a leftover,
    /// ignored, gone or not a directory.
    fn ancestor(&mut self, parent: BorrowedFd<'_>, path: &RepoPath) -> Result<Option<OwnedFd>> {
        let Some(name) = path.file_name() else {
            return Ok(None);
        };
        if is_protected(&self.options.protected, path.names())
            || name.as_bytes().starts_with(fsx::TMP_PREFIX)
        {
            return Ok(None);
        }
        let full = self.disk(path);
        let Some(st) = fsx::lstat_at(parent, name.as_bytes())
            .map_err(|e| WorkdirError::io("stat", &full, e))?
        else {
            return Ok(None);
        };
        if !fsx::is_dir(&st) || self.ignores.ignored(&full, true) {
            return Ok(None);
        }
        fsx::open_dir_like(parent, name.as_bytes(), &st)
            .map_err(|e| WorkdirError::io("open directory", &full, e))
    }

    /// Walks only the directory at `path` (a directory of `base`) and says
    /// whether anything beneath it differs from `base`: a new, changed or
    /// missing leaf that is not ignored. Ignore rules of the directories
    /// above it apply. Costs what the subtree holds.
    pub(crate) fn differs_beneath(
        &mut self,
        root_fd: BorrowedFd<'_>,
        base: &Vst,
        path: &RepoPath,
    ) -> Result<bool> {
        let names = path.names();
        let mut fd: Option<OwnedFd> = None;
        for (depth, name) in names.iter().enumerate() {
            let parent = fd.as_ref().map_or(root_fd, |f| f.as_fd());
            let here = RepoPath::from_names(names[..depth].iter().cloned());
            self.ignores.push(
                parent,
                &fsx::disk_path(self.root, &here),
                self.options.gitignore,
                None,
            );
            match fsx::enter_dir(parent, name.as_bytes(), false) {
                Ok(Some(next)) => fd = Some(next),
                Ok(None) => return Ok(true),
                Err(e) => return Err(WorkdirError::io("open directory", self.disk(path), e)),
            }
        }
        let dir_fd = fd.as_ref().map_or(root_fd, |f| f.as_fd());
        let listing = base.list(path)?;
        self.dir(dir_fd, base, &mut names.to_vec(), Some(listing))?;
        Ok(!self.edits.is_empty())
    }

    fn disk(&self, path: &RepoPath) -> PathBuf {
        fsx::disk_path(self.root, path)
    }

    /// Scans a directory met as an entry, with every edit it needs (the
    /// one replacing a leaf by it too, so that what a part of a parallel
    /// walk finds stays beneath the directories it walked).
    pub(crate) fn subdir(&mut self, base: &Vst, mut job: DirJob) -> Result<()> {
        let rel = RepoPath::from_names(job.names.iter().cloned());
        if job.replaces_leaf {
            self.edits.push(Edit::delete_tree(rel.clone()));
        }
        let listing = if job.base_dir {
            Some(base.list(&rel)?)
        } else {
            None
        };
        let inside = self.dir(job.fd.as_fd(), base, &mut job.names, listing)?;
        if inside == 0 && !job.base_dir {
            self.edits.push(Edit::make_dir(rel));
        }
        Ok(())
    }

    /// Scans one directory; returns how many entries were captured in it.
    pub(crate) fn dir(
        &mut self,
        fd: BorrowedFd<'_>,
        base: &Vst,
        names: &mut Vec<Name>,
        base_listing: Option<Vec<(Name, Entry)>>,
    ) -> Result<u64> {
        let here = RepoPath::from_names(names.iter().cloned());
        if names.len() >= MAX_DEPTH {
            return Err(WorkdirError::TooDeep { path: here });
        }
        let disk = self.disk(&here);
        let mut listing =
            fsx::list_dir(fd).map_err(|e| WorkdirError::io("read directory", &disk, e))?;
        listing.sort();
        self.ignores
            .push(fd, &disk, self.options.gitignore, Some(&listing));
        let result = self.entries(fd, base, names, &disk, listing, base_listing);
        self.ignores.pop();
        result
    }

    fn entries(
        &mut self,
        fd: BorrowedFd<'_>,
        base: &Vst,
        names: &mut Vec<Name>,
        disk: &Path,
        listing: Vec<Vec<u8>>,
        base_listing: Option<Vec<(Name, Entry)>>,
    ) -> Result<u64> {
        // Both lists are sorted by name bytes: one merge pairs each entry
        // on disk with the base's entry of the same name.
        let mut base_entries = base_listing.unwrap_or_default().into_iter().peekable();
        let mut not_captured: Vec<Name> = Vec::new();
        let mut key = RepoPath::from_names(names.iter().cloned()).to_bytes();
        if !key.is_empty() {
            key.push(b'/');
        }
        let dir_key_len = key.len();
        let cached = Cell::new(self.old_cache.span(&key));
        let mut captured = 0;
        for raw in listing {
            while let Some((gone, _)) = base_entries.next_if(|(n, _)| n.as_bytes() < raw.as_slice())
            {
                not_captured.push(gone);
            }
            let (name, base_entry) =
                match base_entries.next_if(|(n, _)| n.as_bytes() == raw.as_slice()) {
                    Some((name, entry)) => (name, Some(entry)),
                    None => {
                        let name = Name::new(&raw).map_err(|source| WorkdirError::BadName {
                            path: disk.join(OsStr::from_bytes(&raw)),
                            source,
                        })?;
                        (name, None)
                    }
                };
            key.truncate(dir_key_len);
            key.extend_from_slice(&raw);
            names.push(name);
            let at = At {
                names,
                key: &key,
                dir: disk,
                cached: &cached,
            };
            let had_base = base_entry.is_some();
            let outcome = self.entry(fd, base, &at, base_entry);
            let name = names.pop().expect("pushed above");
            let was_captured = outcome?;
            if !was_captured && had_base {
                not_captured.push(name);
            }
            captured += u64::from(was_captured);
        }
        // What the base has and the disk does not (or no longer captures).
        not_captured.extend(base_entries.map(|(name, _)| name));
        let prefix = RepoPath::from_names(names.iter().cloned());
        for name in not_captured {
            self.edits.push(Edit::delete_tree(prefix.join(name)));
        }
        Ok(captured)
    }

    /// Captures one entry; false when it was not captured (gone, ignored,
    /// protected, a leftover or a special file), and then the base's entry
    /// at its path (`base_entry`) is to be deleted.
    fn entry(
        &mut self,
        fd: BorrowedFd<'_>,
        base: &Vst,
        at: &At<'_>,
        base_entry: Option<Entry>,
    ) -> Result<bool> {
        let name = at.name();
        if is_protected(&self.options.protected, at.names) {
            return Ok(false);
        }
        if name.as_bytes().starts_with(fsx::TMP_PREFIX) {
            self.leftovers.push(at.rel());
            return Ok(false);
        }
        let Some(st) = fsx::lstat_at(fd, name.as_bytes())
            .map_err(|e| WorkdirError::io("stat", at.full(), e))?
        else {
            // Gone since the listing: as if it had not been there.
            return Ok(false);
        };
        let found = classify(&st);
        if self
            .ignores
            .ignored_with(|| at.full(), matches!(found, Found::Dir))
        {
            return Ok(false);
        }
        match found {
            Found::Dir => {
                let sub = fsx::open_dir_like(fd, name.as_bytes(), &st)
                    .map_err(|e| WorkdirError::io("open directory", at.full(), e))?
                    .ok_or_else(|| WorkdirError::Changed { path: at.full() })?;
                let base_dir = base_entry.is_some_and(|e| e.kind == EntryKind::Dir);
                let job = DirJob {
                    fd: sub,
                    names: at.names.to_vec(),
                    base_dir,
                    replaces_leaf: base_entry.is_some() && !base_dir,
                };
                let mine = match self.jobs {
                    Some(jobs) => jobs.offer(job, &self.ignores),
                    None => Some(job),
                };
                if let Some(job) = mine {
                    self.subdir(base, job)?;
                }
                Ok(true)
            }
            Found::Leaf(kind) => {
                if base_entry.is_some_and(|e| e.kind == EntryKind::Dir) {
                    self.edits.push(Edit::delete_tree(at.rel()));
                }
                if st.st_nlink > 1 {
                    self.linked.push(at.rel());
                }
                let stat = FileStat::from_rustix(&st);
                self.leaf(fd, at, kind, stat, base_entry)?;
                Ok(true)
            }
            Found::Special => {
                self.report.skipped += 1;
                tracing::warn!(path = %at.full().display(), "special file not captured");
                Ok(false)
            }
        }
    }

    fn leaf(
        &mut self,
        fd: BorrowedFd<'_>,
        at: &At<'_>,
        kind: LeafKind,
        stat: FileStat,
        base: Option<Entry>,
    ) -> Result<()> {
        self.report.files_scanned += 1;
        let key = at.key;
        let same_as_base =
            |hash: Hash| base.is_some_and(|b| b.kind == kind.entry_kind() && b.hash == hash);
        let old = self.old_cache.lookup_in(at.cached, key);
        let cached = old
            .map(|(c, _)| c)
            .filter(|c| c.kind == kind.entry_kind() && c.matches(&stat) && c.is_settled());
        // The base already holds this content (perhaps under another kind):
        // refer to its blob instead of carrying the bytes again.
        let blob_in_base =
            |hash: Hash| base.is_some_and(|b| b.kind != EntryKind::Dir && b.hash == hash);
        if let Some(c) = cached
            && (blob_in_base(c.hash) || self.hash_only)
        {
            if !same_as_base(c.hash) {
                self.edits
                    .push(Edit::stored(at.rel(), kind, c.hash, c.stat.size));
            }
            self.cache_update.found(key, c, old);
            return Ok(());
        }
        if stat.size > self.options.max_file_size {
            return Err(WorkdirError::FileTooLarge {
                path: at.full(),
                size: stat.size,
                limit: self.options.max_file_size,
            });
        }
        let (read, stat) = self.read(fd, at, kind, stat)?;
        self.report.files_hashed += 1;
        self.report.bytes_hashed += read.size;
        self.report.objects_stored += read.stored.0;
        self.report.bytes_stored += read.stored.1;
        let hash = read.hash;
        let entry = StatEntry {
            kind: kind.entry_kind(),
            stat,
            hash,
            recorded_ns: self.started_ns,
        };
        self.cache_update.found(key, entry, old);
        if same_as_base(hash) {
            return Ok(());
        }
        let stored = self.hash_only || blob_in_base(hash);
        self.edits.push(read.edit(at.rel(), kind, stored));
        Ok(())
    }

    /// Reads a leaf that must still be the file `stat` describes; one that
    /// changes while it is read is read again, a few times, with a fresh
    /// `lstat`. Returns what was read and the `lstat` it belongs to. A
    /// large file's chunks go to the store as it is read (unless this scan
    /// only compares hashes).
    fn read(
        &mut self,
        fd: BorrowedFd<'_>,
        at: &At<'_>,
        kind: LeafKind,
        mut stat: FileStat,
    ) -> Result<(ReadLeaf, FileStat)> {
        let name = at.name();
        let io_err = |e: io::Error| WorkdirError::io("read", at.full(), e);
        let store = if self.hash_only { None } else { self.store };
        for _ in 0..READ_ATTEMPTS {
            let read = content::read_leaf(fd, name.as_bytes(), kind, &stat, self.alg, store)
                .map_err(|e| e.into_workdir(&at.rel(), &at.full()))?;
            if let Some(read) = read {
                return Ok((read, stat));
            }
            let Some(st) = fsx::lstat_at(fd, name.as_bytes()).map_err(io_err)? else {
                break;
            };
            match classify(&st) {
                Found::Leaf(now) if now == kind => stat = FileStat::from_rustix(&st),
                _ => break,
            }
        }
        Err(WorkdirError::Changed { path: at.full() })
    }
}

/// One directory entry's path, in the forms the walk needs. A scan meets
/// every file, so the forms that allocate are built only when used: for an
/// edit, an error, or an ignore rule to match.
struct At<'p> {
    /// Its names from the root of the working directory, its own last.
    names: &'p [Name],
    /// Its stat-cache key: the names joined with `/`.
    key: &'p [u8],
    /// The directory it is in, on disk.
    dir: &'p Path,
    /// Where its stat-cache entry may be: the directory's entries not yet
    /// passed (see [`StatCache::lookup_in`]).
    cached: &'p Cell<Span>,
}

impl At<'_> {
    fn name(&self) -> &Name {
        self.names.last().expect("an entry has a name")
    }

    fn rel(&self) -> RepoPath {
        RepoPath::from_names(self.names.iter().cloned())
    }

    fn full(&self) -> PathBuf {
        self.dir.join(OsStr::from_bytes(self.name().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> RepoPath {
        RepoPath::parse(p).unwrap()
    }

    /// Found by the checkout model test: `c/a` was a symlink and is now a
    /// directory, whose subdirectory another thread scanned. Its part came
    /// first, and its write beneath `c/a` met the symlink.
    #[test]
    fn parts_absorbed_in_any_order_apply_as_one_thread_would() {
        let alg = HashAlgorithm::Blake3;
        let base = Vst::new(alg)
            .apply(&[
                Edit::symlink(path("c/a"), b"/nowhere".to_vec()),
                Edit::file(path("c/b"), b"b".to_vec()),
            ])
            .unwrap();
        let (options, cache) = (CaptureOptions::default(), StatCache::default());
        let scan = || Scan::new(Path::new("/"), &options, &cache, true, None, alg);
        let mut deeper = scan();
        deeper
            .edits
            .push(Edit::file(path("c/a/a/b"), b"y".to_vec()));
        let mut replacing = scan();
        replacing.edits.push(Edit::delete_tree(path("c/a")));
        replacing
            .edits
            .push(Edit::file(path("c/a/x"), b"x".to_vec()));
        let mut elsewhere = scan();
        elsewhere.edits.push(Edit::delete_tree(path("c/b")));
        elsewhere.edits.push(Edit::make_dir(path("c/b")));

        let mut walk = scan();
        walk.absorb(vec![deeper, elsewhere, replacing]);
        let tree = base.apply(&walk.edits).unwrap();
        let mut files: Vec<String> = tree
            .files()
            .unwrap()
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect();
        files.sort();
        assert_eq!(files, ["c/a/a/b", "c/a/x"]);
        assert_eq!(tree.list(&path("c/b")).unwrap(), vec![]);
    }
}
