//! Watching a working directory between captures (Linux inotify), so that
//! a capture in a long-lived process re-examines only what changed.
//!
//! A [`Watcher`] holds one inotify instance with a watch on every directory
//! of the working directory (protected paths aside). It runs no thread:
//! the kernel queues events between captures, and [`Watcher::capture`]
//! reads them, under the directory's lock, up to a *sync token* — a
//! one-byte write to a file outside the directory (the "cookie", watched
//! by the same instance). inotify reports a change from within the system
//! call that makes it, and one instance keeps one queue in order, so once
//! the token's event is read, every change that finished before the
//! capture began has been read too (git's fsmonitor and watchman sync the
//! same way). The capture then walks only the reported paths, beside the
//! base tree, with the same code as the full walk (a reported directory is
//! walked whole; see `Scan::paths`).
//!
//! # When it scans everything instead
//!
//! The changes are relative to the tree of the last capture through the
//! watcher; any doubt makes the capture walk the whole directory, as
//! [`capture`](crate::capture) does, and says why in
//! [`Report::fallback`](crate::Report::fallback):
//!
//! - the kernel's queue overflowed (`fs.inotify.max_queued_events`), the
//!   token was not delivered, a watched file system was unmounted, the
//!   mount table changed at or beneath the directory (inotify does not
//!   report a mount over a watched directory), the directory itself was
//!   removed or moved, a new directory could not be watched: events may be
//!   lost, so the watches are rebuilt before the walk;
//! - the first capture, other capture options than last time, a failed
//!   capture, or a base tree that differs from the watcher's on a path no
//!   event covers (another process checked a different tree out without
//!   this engine seeing it, say).
//!
//! A base that differs from the watcher's only on reported paths is fine:
//! an engine's checkout writes exactly its diff, and every write is
//! reported, so the capture after a checkout re-examines what the
//! checkout wrote against the tree it checked out.
//!
//! # Rules that keep it exact
//!
//! - A directory is watched before it is listed (by descriptor, through
//!   `/proc/self/fd`, after an `O_NOFOLLOW` walk): what changes after the
//!   watch is reported, what changed before is in the listing.
//! - Where a directory appeared, left or moved, the watches are settled
//!   against the disk once the events are read (every directory there
//!   watched under its path now, every watch no longer there dropped), and
//!   the path is reported whole, so the capture walks all of it. Events
//!   are read after the fact, and the disk may have moved on from what any
//!   one of them says; inotify itself keeps reporting a renamed
//!   directory's events under its watch, whose name only the walk knows.
//! - A change to a `.heliosignore` or `.gitignore` reports its whole
//!   directory, whose ignored set it may change.
//! - Leaves with more than one hard link are re-examined at every capture:
//!   a write through another link is reported under that link's name.
//!
//! What inotify cannot see and no watcher of its kind can: writes through
//! a shared writable `mmap`, changes made by another machine to a network
//! file system, and a write through a hard link from outside the
//! directory to a file that had one link when last examined. A caller who
//! may meet those captures without the watcher.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use helios_types::{Name, RepoPath};
use helios_vst::{MAX_DEPTH, Vst};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

use super::content::ChunkStore;
use super::error::{Result, WorkdirError};
use super::scan::{GITIGNORE, HELIOSIGNORE, is_protected};
use super::state_file::StateFile;
use super::{CaptureOptions, Captured, fsx};

/// What every directory watch reports. `ONLYDIR`: a watch is only ever
/// placed on a directory; `EXCL_UNLINK`: nothing is reported for a file
/// after it is unlinked.
const DIR_EVENTS: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MODIFY)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::ONLYDIR)
    .union(WatchFlags::EXCL_UNLINK);

/// How long a sync waits for its token. The kernel queues the event before
/// the write returns, so this is only a bound on the impossible.
const SYNC_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes read from the inotify descriptor at once (an event is 16 bytes
/// plus its name).
const READ_BUFFER: usize = 64 * 1024;

/// The directory's capture options that change what a capture holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OptionsKey {
    gitignore: bool,
    protected: Vec<RepoPath>,
}

impl OptionsKey {
    fn of(options: &CaptureOptions) -> Self {
        let mut protected = options.protected.clone();
        protected.sort();
        protected.dedup();
        OptionsKey {
            gitignore: options.gitignore,
            protected,
        }
    }
}

/// How a capture through a watcher reads the directory.
#[derive(Debug)]
pub(crate) enum Plan {
    /// The whole directory, for the reason given (`None`: no watcher).
    Full(Option<&'static str>),
    /// Only these paths (sorted, none beneath another).
    Paths(Vec<RepoPath>),
}

/// A working directory watched between captures: see the
/// [module documentation](self).
#[derive(Debug)]
pub struct Watcher {
    /// The directory, canonical (mount points are compared with it).
    root: PathBuf,
    /// The file whose write is the sync token.
    cookie: PathBuf,
    /// Never watched, never reported: the protected paths of the last
    /// capture (the store directory, when it lies inside).
    protected: Vec<RepoPath>,
    /// The inotify instance with its watches and what it reported, or why
    /// it could not be built.
    live: std::result::Result<Live, &'static str>,
    /// The tree the reported changes are relative to (the last capture
    /// through this watcher) and the options it was captured with.
    base: Option<(Vst, OptionsKey)>,
    /// Leaves with more than one link at the last look.
    linked: BTreeSet<RepoPath>,
}

impl Watcher {
    /// Starts watching `dir` (every directory beneath it, except at or
    /// beneath `protected` paths). `cookie` is a file the watcher may
    /// create and write, outside `dir` or beneath a protected path (the
    /// engine keeps it beside the directory's state file); it is removed
    /// when the watcher is dropped. The first capture walks everything.
    ///
    /// Fails with [`WorkdirError::WatchUnavailable`] where inotify refuses
    /// (no instance or watch left) or `/proc` is missing.
    pub fn new(dir: &Path, cookie: &Path, protected: &[RepoPath]) -> Result<Watcher> {
        let root = dir
            .canonicalize()
            .map_err(|e| WorkdirError::io("resolve", dir, e))?;
        let protected = OptionsKey::of(&CaptureOptions {
            protected: protected.to_vec(),
            ..CaptureOptions::default()
        })
        .protected;
        let live = Live::start(&root, cookie, &protected)?;
        Ok(Watcher {
            root,
            cookie: cookie.to_path_buf(),
            protected,
            live: Ok(live),
            base: None,
            linked: BTreeSet::new(),
        })
    }

    /// The watched directory (canonical).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The tree of the last capture through this watcher, which what it
    /// reports is relative to; `None` before the first one, or when the
    /// next capture must read everything anyway.
    pub fn base(&self) -> Option<&Vst> {
        self.base.as_ref().map(|(tree, _)| tree)
    }

    /// Reads the directory into a tree, as [`capture`](crate::capture)
    /// does (same arguments, same result), but re-examines only the paths
    /// reported changed since the last capture through this watcher, when
    /// it can be sure that is everything (see the module documentation);
    /// [`Report::fast_path`](crate::Report::fast_path) says it could.
    pub fn capture(
        &mut self,
        base: &Vst,
        options: &CaptureOptions,
        state: &StateFile,
        store: &dyn ChunkStore,
    ) -> Result<Captured> {
        let root = self.root.clone();
        super::capture_with(&root, base, options, state, store, Some(self))
    }

    /// Syncs with the kernel and says how the capture about to run against
    /// `base` must read the directory. Called with the directory locked.
    /// `root` is the directory as the capture opened it.
    pub(crate) fn plan(
        &mut self,
        root: BorrowedFd<'_>,
        base: &Vst,
        options: &CaptureOptions,
    ) -> Plan {
        let key = OptionsKey::of(options);
        if key.protected != self.protected {
            // Watch exactly what may be captured.
            self.protected.clone_from(&key.protected);
            self.base = None;
            self.rebuild();
            return Plan::Full(Some("the capture options changed"));
        }
        let synced = match &mut self.live {
            Ok(live) => live.sync(root, &self.protected),
            Err(reason) => return Plan::Full(Some(*reason)),
        };
        if let Err(reason) = synced {
            tracing::info!(dir = %self.root.display(), reason, "watcher lost events; rebuilding it and scanning");
            self.base = None;
            self.rebuild();
            return Plan::Full(Some(reason));
        }
        let Ok(live) = &mut self.live else {
            return Plan::Full(Some("the directory could not be watched"));
        };
        let changed = std::mem::take(&mut live.changed);
        let Some((watched, watched_key)) = &self.base else {
            return Plan::Full(Some("the first capture with this watcher"));
        };
        if *watched_key != key {
            return Plan::Full(Some("the capture options changed"));
        }
        let mut reported = changed;
        reported.extend(self.linked.iter().cloned());
        let cover = outermost(reported);
        if cover.first().is_some_and(RepoPath::is_root) {
            return Plan::Full(Some("an ignore file at the top changed"));
        }
        if !watched.ptr_eq(base) && watched.root_hash() != base.root_hash() {
            let covered = match watched.diff(base) {
                Ok(changes) => changes.iter().all(|c| covers(&cover, c.path())),
                Err(_) => false,
            };
            if !covered {
                return Plan::Full(Some(
                    "the base tree differs from the watcher's where no change was reported",
                ));
            }
        }
        Plan::Paths(cover)
    }

    /// Records a capture that succeeded: `tree` is the new base, `linked`
    /// the leaves with several links among those it examined.
    pub(crate) fn captured(
        &mut self,
        tree: &Vst,
        options: &CaptureOptions,
        plan: &Plan,
        linked: Vec<RepoPath>,
    ) {
        match plan {
            Plan::Full(_) => self.linked.clear(),
            Plan::Paths(paths) => self
                .linked
                .retain(|p| !paths.iter().any(|q| p.names().starts_with(q.names()))),
        }
        self.linked.extend(linked);
        self.base = Some((tree.clone(), OptionsKey::of(options)));
    }

    /// After a capture that failed: the changes it took are in no base.
    pub(crate) fn forget_base(&mut self) {
        self.base = None;
    }

    /// Replaces the inotify instance with a fresh one, watches and all.
    fn rebuild(&mut self) {
        self.live = Err("the directory could not be watched");
        match Live::start(&self.root, &self.cookie, &self.protected) {
            Ok(live) => self.live = Ok(live),
            Err(err) => {
                tracing::warn!(dir = %self.root.display(), %err, "cannot watch the directory; every capture scans it");
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // The watches go with the descriptor; the cookie is ours to remove.
        if let Err(e) = std::fs::remove_file(&self.cookie)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::debug!(path = %self.cookie.display(), %e, "watcher's sync file not removed");
        }
    }
}

/// The paths of `paths` that no other lies above, in order.
fn outermost(paths: BTreeSet<RepoPath>) -> Vec<RepoPath> {
    let mut out: Vec<RepoPath> = Vec::with_capacity(paths.len());
    for path in paths {
        // In name order a path's descendants follow it directly.
        if out
            .last()
            .is_some_and(|last| path.names().starts_with(last.names()))
        {
            continue;
        }
        out.push(path);
    }
    out
}

/// Whether `path` is one of `cover` (sorted, none beneath another) or lies
/// beneath one.
fn covers(cover: &[RepoPath], path: &RepoPath) -> bool {
    // The greatest element not after `path` is its ancestor if any is.
    let at = cover.partition_point(|p| p <= path);
    at > 0 && path.names().starts_with(cover[at - 1].names())
}

/// One event as read, owned.
struct RawEvent {
    wd: i32,
    mask: ReadFlags,
    name: Option<Vec<u8>>,
}

/// One inotify instance: the watches, the sync file, and what was read.
#[derive(Debug)]
struct Live {
    inotify: OwnedFd,
    /// The watched directory, open: directories are reached from it
    /// without following symlinks.
    root_fd: OwnedFd,
    /// Its device and inode.
    root_id: (u64, u64),
    root_wd: i32,
    cookie: File,
    cookie_wd: i32,
    cookies_written: u64,
    cookies_seen: u64,
    /// Each watch's directory, as of the end of the last sync.
    by_wd: HashMap<i32, RepoPath>,
    by_path: BTreeMap<RepoPath, i32>,
    /// Paths where a directory appeared, left or moved during this sync:
    /// their watches are settled against the disk once it is read.
    moved: BTreeSet<RepoPath>,
    /// Paths reported since the last sync was taken.
    changed: BTreeSet<RepoPath>,
    /// Why events may have been lost, once they may have.
    lost: Option<&'static str>,
    /// `/proc/self/mountinfo`, polled for a change of the mount table, and
    /// the mount points at or beneath the directory it last listed.
    mountinfo: File,
    mounts: Vec<Vec<u8>>,
    root: PathBuf,
    buf: Vec<MaybeUninit<u8>>,
}

impl Live {
    fn start(root: &Path, cookie: &Path, protected: &[RepoPath]) -> Result<Live> {
        let unavailable = |op, path: &Path, source| WorkdirError::WatchUnavailable {
            op,
            path: path.to_path_buf(),
            source,
        };
        // Mounts first: a change after this point is seen by the poll,
        // one before it by the listing.
        let mountinfo = File::open("/proc/self/mountinfo")
            .map_err(|e| unavailable("open", Path::new("/proc/self/mountinfo"), e))?;
        let mounts = mounts_beneath(root).map_err(|e| unavailable("read", root, e))?;
        let inotify = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)
            .map_err(|e| unavailable("inotify_init1", root, e.into()))?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(cookie)
            .map_err(|e| unavailable("create sync file", cookie, e))?;
        let cookie_wd = inotify::add_watch(&inotify, cookie, WatchFlags::MODIFY)
            .map_err(|e| unavailable("inotify_add_watch", cookie, e.into()))?;
        let root_fd = fsx::open_root(root).map_err(|e| WorkdirError::io("open", root, e))?;
        let st =
            rustix::fs::fstat(&root_fd).map_err(|e| WorkdirError::io("stat", root, e.into()))?;
        let mut live = Live {
            inotify,
            root_fd,
            root_id: identity(&st),
            root_wd: -1,
            cookie: file,
            cookie_wd,
            cookies_written: 0,
            cookies_seen: 0,
            by_wd: HashMap::new(),
            by_path: BTreeMap::new(),
            moved: BTreeSet::new(),
            changed: BTreeSet::new(),
            lost: None,
            mountinfo,
            mounts,
            root: root.to_path_buf(),
            buf: vec![MaybeUninit::uninit(); READ_BUFFER],
        };
        let top =
            rustix::io::dup(&live.root_fd).map_err(|e| WorkdirError::io("open", root, e.into()))?;
        live.root_wd = live
            .add_dir(top, RepoPath::root(), protected, &mut HashSet::new())
            .map_err(|(op, e)| unavailable(op, root, e))?;
        Ok(live)
    }

    /// Reads events up to a new sync token; `Err` says why events may have
    /// been lost.
    fn sync(
        &mut self,
        root: BorrowedFd<'_>,
        protected: &[RepoPath],
    ) -> std::result::Result<(), &'static str> {
        if let Some(reason) = self.lost {
            return Err(reason);
        }
        // A directory removed while something holds it open (this
        // watcher, a shell in it) reports nothing: compare what the
        // capture opened with what is watched.
        let st = rustix::fs::fstat(root).map_err(|_| "the directory could not be examined")?;
        if identity(&st) != self.root_id {
            return Err("the directory was replaced");
        }
        self.check_mounts()?;
        self.cookie
            .write_at(&[0], 0)
            .map_err(|_| "the sync file could not be written")?;
        self.cookies_written += 1;
        let deadline = Instant::now() + SYNC_TIMEOUT;
        while self.cookies_seen < self.cookies_written {
            let events = self
                .read()
                .map_err(|_| "the event queue could not be read")?;
            if events.is_empty() {
                if Instant::now() >= deadline {
                    return Err("the sync token was not delivered in time");
                }
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            for event in events {
                self.event(event, protected);
            }
            if let Some(reason) = self.lost {
                return Err(reason);
            }
        }
        self.settle(protected);
        match self.lost {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// The events one `read` returns; none when none are queued.
    fn read(&mut self) -> io::Result<Vec<RawEvent>> {
        let mut reader = inotify::Reader::new(&self.inotify, &mut self.buf);
        let mut out = Vec::new();
        loop {
            match reader.next() {
                Ok(e) => out.push(RawEvent {
                    wd: e.wd(),
                    mask: e.events(),
                    name: e.file_name().map(|n| n.to_bytes().to_vec()),
                }),
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            if reader.is_buffer_empty() {
                break;
            }
        }
        Ok(out)
    }

    fn lose(&mut self, reason: &'static str) {
        self.lost.get_or_insert(reason);
    }

    fn event(&mut self, event: RawEvent, protected: &[RepoPath]) {
        let mask = event.mask;
        if mask.contains(ReadFlags::QUEUE_OVERFLOW) {
            return self.lose("the kernel's event queue overflowed");
        }
        if event.wd == self.cookie_wd {
            if mask.contains(ReadFlags::MODIFY) {
                self.cookies_seen += 1;
            } else if mask.intersects(ReadFlags::IGNORED | ReadFlags::DELETE_SELF) {
                self.lose("the sync file was removed");
            }
            return;
        }
        if mask.contains(ReadFlags::UNMOUNT) {
            return self.lose("a file system in the directory was unmounted");
        }
        if mask.contains(ReadFlags::IGNORED) {
            if event.wd == self.root_wd {
                return self.lose("the directory was removed");
            }
            return self.unmap(event.wd);
        }
        if event.wd == self.root_wd
            && mask.intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF)
        {
            return self.lose("the directory was removed or moved");
        }
        // A watched directory's own deletion or move is also reported, by
        // name, to its parent's watch.
        let Some(raw) = event.name else { return };
        // A watch dropped (its directory left the tree) reports nothing.
        let Some(dir) = self.by_wd.get(&event.wd).cloned() else {
            return;
        };
        if raw.starts_with(fsx::TMP_PREFIX) {
            return;
        }
        let Ok(name) = Name::new(&raw) else {
            // The walk of the directory reports the name it cannot store.
            self.changed.insert(dir);
            return;
        };
        let path = dir.join(name);
        if is_protected(protected, path.names()) {
            return;
        }
        let structure =
            ReadFlags::CREATE | ReadFlags::DELETE | ReadFlags::MOVED_FROM | ReadFlags::MOVED_TO;
        if mask.contains(ReadFlags::ISDIR) {
            if !mask.intersects(structure) {
                // A directory's own metadata is not captured; what happens
                // in it is reported by its own watch.
                return;
            }
            self.moved.insert(path.clone());
        }
        if raw == HELIOSIGNORE.as_bytes() || raw == GITIGNORE.as_bytes() {
            self.changed.insert(dir);
        }
        self.changed.insert(path);
    }

    /// Makes the watches where directories appeared, left or moved match
    /// the disk as it is now: every directory there watched under its
    /// path, every watch that is no longer there dropped.
    ///
    /// Events are read after the fact, so the disk may have moved on from
    /// what any one of them says (a directory renamed away and another
    /// made in its place before either event is read); only a walk of the
    /// disk is exact. Every such path is also reported, so the capture
    /// walks it whole; a watch whose directory moved elsewhere in the tree
    /// is found where it arrived, since that place was reported too.
    fn settle(&mut self, protected: &[RepoPath]) {
        let places = outermost(std::mem::take(&mut self.moved));
        let mut unconfirmed: HashSet<i32> = HashSet::new();
        for place in &places {
            unconfirmed.extend(self.beneath(place).into_iter().map(|(_, wd)| wd));
        }
        for place in &places {
            match fsx::walk_dirs(self.root_fd.as_fd(), place.names(), false) {
                Ok(Some(fd)) => {
                    if let Err((op, err)) =
                        self.add_dir(fd, place.clone(), protected, &mut unconfirmed)
                    {
                        tracing::warn!(%place, op, %err, "directory not watched");
                        self.lose("a new directory could not be watched");
                    }
                }
                // Gone, or not a directory: nothing to watch there.
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(%place, %err, "directory not opened");
                    self.lose("a new directory could not be opened");
                }
            }
        }
        for wd in unconfirmed {
            // The kernel may have dropped it already (directory deleted).
            let _ = inotify::remove_watch(&self.inotify, wd);
            self.unmap(wd);
        }
    }

    /// Watches the directory open as `fd` (at `path`), then what it holds,
    /// confirming each watch (taking it out of `unconfirmed`); returns its
    /// watch.
    fn add_dir(
        &mut self,
        fd: OwnedFd,
        path: RepoPath,
        protected: &[RepoPath],
        unconfirmed: &mut HashSet<i32>,
    ) -> std::result::Result<i32, (&'static str, io::Error)> {
        // Exactly the directory walked to: through its descriptor. Watched
        // before it is listed, so a change after the listing is reported.
        let by_fd = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let wd = inotify::add_watch(&self.inotify, by_fd.as_str(), DIR_EVENTS)
            .map_err(|e| ("inotify_add_watch", io::Error::from(e)))?;
        unconfirmed.remove(&wd);
        self.map(wd, path.clone());
        if path.names().len() >= MAX_DEPTH {
            // The walk refuses it (TooDeep); nothing beneath to watch.
            return Ok(wd);
        }
        let names = fsx::list_dir(fd.as_fd()).map_err(|e| ("read directory", e))?;
        for raw in names {
            if raw.starts_with(fsx::TMP_PREFIX) {
                continue;
            }
            // A name no tree can hold fails the walk; nothing to watch.
            let Ok(name) = Name::new(&raw) else { continue };
            let child = path.join(name);
            if is_protected(protected, child.names()) {
                continue;
            }
            let Some(st) = fsx::lstat_at(fd.as_fd(), &raw).map_err(|e| ("stat", e))? else {
                continue;
            };
            if !fsx::is_dir(&st) {
                continue;
            }
            // Replaced since the listing: reported, and settled then.
            if let Some(sub) =
                fsx::open_dir_like(fd.as_fd(), &raw, &st).map_err(|e| ("open directory", e))?
            {
                self.add_dir(sub, child, protected, unconfirmed)?;
            }
        }
        Ok(wd)
    }

    /// Watch `wd` is the directory at `path` now.
    fn map(&mut self, wd: i32, path: RepoPath) {
        if let Some(old) = self.by_wd.insert(wd, path.clone())
            && old != path
            && self.by_path.get(&old) == Some(&wd)
        {
            self.by_path.remove(&old);
        }
        // A watch this one displaces belongs to a directory that left;
        // it is dropped as unconfirmed, or by the kernel (IN_IGNORED).
        self.by_path.insert(path, wd);
    }

    /// The watches at `path` and beneath it.
    fn beneath(&self, path: &RepoPath) -> Vec<(RepoPath, i32)> {
        self.by_path
            .range(path.clone()..)
            .take_while(|(p, _)| p.names().starts_with(path.names()))
            .map(|(p, wd)| (p.clone(), *wd))
            .collect()
    }

    /// Watch `wd` is gone.
    fn unmap(&mut self, wd: i32) {
        if let Some(path) = self.by_wd.remove(&wd)
            && self.by_path.get(&path) == Some(&wd)
        {
            self.by_path.remove(&path);
        }
    }

    /// Fails when a file system was mounted or unmounted at or beneath the
    /// directory since the last look: inotify reports neither.
    fn check_mounts(&mut self) -> std::result::Result<(), &'static str> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&self.mountinfo, PollFlags::PRI)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        rustix::event::poll(&mut fds, Some(&now))
            .map_err(|_| "the mount table could not be polled")?;
        if !fds[0].revents().intersects(PollFlags::PRI | PollFlags::ERR) {
            return Ok(());
        }
        // Some mount changed somewhere; only those here matter.
        let mounts = mounts_beneath(&self.root).map_err(|_| "the mount table could not be read")?;
        if mounts != self.mounts {
            return Err("a file system was mounted or unmounted in the directory");
        }
        Ok(())
    }
}

/// A directory's device and inode.
#[allow(
    clippy::useless_conversion,
    reason = "field widths differ between targets"
)]
fn identity(st: &rustix::fs::Stat) -> (u64, u64) {
    (u64::from(st.st_dev), u64::from(st.st_ino))
}

/// The mount points at or beneath `root` (canonical), in mount order.
fn mounts_beneath(root: &Path) -> io::Result<Vec<Vec<u8>>> {
    let table = std::fs::read("/proc/self/mountinfo")?;
    let root = root.as_os_str().as_bytes();
    let mut out = Vec::new();
    for line in table.split(|&b| b == b'\n') {
        // Fields: id, parent, major:minor, root, mount point, ...
        let Some(point) = line.split(|&b| b == b' ').nth(4) else {
            continue;
        };
        let point = unescape(point);
        let beneath = point
            .strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.first() == Some(&b'/') || root == b"/");
        if beneath {
            out.push(point);
        }
    }
    Ok(out)
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && let Some(digits) = field.get(i + 1..i + 4)
            && digits.iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let value = digits
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(u8::try_from(value).unwrap_or(b'?'));
            i += 4;
            continue;
        }
        out.push(field[i]);
        i += 1;
    }
    out
}
