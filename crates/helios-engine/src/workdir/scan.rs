//! Reading a directory back into a tree: the stat-cache-driven walk behind
//! [`capture`](super::capture) and the full-scan path of
//! [`checkout`](super::checkout), plus the ignore-rule stack both share with
//! overlay capture.
//!
//! The walk goes directory by directory beside the base tree's listing of
//! the same directory, so it emits edits only for what differs: a leaf whose
//! `lstat` equals its settled cache entry and whose cached hash equals the
//! base's entry is neither read nor hashed, and produces no edit.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::sync::Arc;

use helios_types::{Blob, EntryKind, Hash, HashAlgorithm, Name, RepoPath};
use helios_vst::{Content, Edit, Entry, LeafKind, Vst};
use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rustix::fs::{Mode, OFlags};

use super::error::{Result, WorkdirError};
use super::state::{FileStat, StatEntry};
use super::{CaptureOptions, Report};

/// Name of the Helios ignore file, read in every directory.
pub const HELIOSIGNORE: &str = ".heliosignore";
/// Name of git's ignore file, read when [`CaptureOptions::gitignore`] is set.
pub const GITIGNORE: &str = ".gitignore";

/// The ignore matchers of the directories from the root down to the one
/// being walked; deeper files win, `.heliosignore` before `.gitignore`.
#[derive(Default)]
pub(crate) struct IgnoreStack {
    levels: Vec<Vec<Gitignore>>,
}

impl IgnoreStack {
    /// Loads the ignore files of directory `dir` (absolute) that exist.
    pub(crate) fn push(&mut self, dir: &Path, helios: bool, git: bool) {
        let mut level = Vec::new();
        for (present, file) in [(helios, HELIOSIGNORE), (git, GITIGNORE)] {
            if !present {
                continue;
            }
            let path = dir.join(file);
            let mut builder = GitignoreBuilder::new(dir);
            if let Some(err) = builder.add(&path) {
                tracing::warn!(path = %path.display(), %err, "ignore file partly unreadable");
            }
            match builder.build() {
                Ok(gi) => level.push(gi),
                Err(err) => tracing::warn!(path = %path.display(), %err, "ignore file ignored"),
            }
        }
        self.levels.push(level);
    }

    pub(crate) fn pop(&mut self) {
        self.levels.pop();
    }

    /// Whether `path` (absolute, beneath the root the stack was built for)
    /// is ignored.
    pub(crate) fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        for level in self.levels.iter().rev() {
            for gi in level {
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

/// True when `path` is a protected path or lies beneath one.
pub(crate) fn is_protected(protected: &[RepoPath], path: &RepoPath) -> bool {
    protected.iter().any(|p| {
        path.names().len() >= p.names().len() && path.names()[..p.names().len()] == *p.names()
    })
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

/// Reads a leaf's bytes without following a final symlink.
pub(crate) fn read_leaf(path: &Path, kind: LeafKind) -> std::io::Result<Vec<u8>> {
    if kind == LeafKind::Symlink {
        return Ok(fs::read_link(path)?.as_os_str().as_bytes().to_vec());
    }
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut out = Vec::new();
    fs::File::from(fd).read_to_end(&mut out)?;
    Ok(out)
}

/// The leaf kind of an `lstat`, `None` for directories and special files.
pub(crate) fn leaf_kind(md: &fs::Metadata) -> Option<LeafKind> {
    use std::os::unix::fs::PermissionsExt as _;
    let ft = md.file_type();
    if ft.is_symlink() {
        Some(LeafKind::Symlink)
    } else if ft.is_file() {
        Some(if md.permissions().mode() & 0o100 != 0 {
            LeafKind::Executable
        } else {
            LeafKind::File
        })
    } else {
        None
    }
}

/// One entry of a directory listing: its name, its type as `readdir`
/// reported it, and the entry itself, which `lstat`s relative to the open
/// directory.
struct Listed {
    name: Vec<u8>,
    file_type: fs::FileType,
    entry: fs::DirEntry,
}

/// One walk of a working directory against a base tree.
pub(crate) struct Scan<'a> {
    pub(crate) root: &'a Path,
    pub(crate) options: &'a CaptureOptions,
    pub(crate) old_cache: &'a BTreeMap<Vec<u8>, StatEntry>,
    pub(crate) new_cache: BTreeMap<Vec<u8>, StatEntry>,
    /// Emit found leaves by hash only (for checkout's diff) instead of
    /// with their bytes, and trust settled cache entries even when the
    /// base differs.
    pub(crate) hash_only: bool,
    pub(crate) alg: HashAlgorithm,
    pub(crate) started_ns: i64,
    pub(crate) report: Report,
    pub(crate) edits: Vec<Edit>,
    pub(crate) ignores: IgnoreStack,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(
        root: &'a Path,
        options: &'a CaptureOptions,
        old_cache: &'a BTreeMap<Vec<u8>, StatEntry>,
        hash_only: bool,
        alg: HashAlgorithm,
    ) -> Self {
        Scan {
            root,
            options,
            old_cache,
            new_cache: BTreeMap::new(),
            hash_only,
            alg,
            started_ns: super::state::now_ns(),
            report: Report::default(),
            edits: Vec::new(),
            ignores: IgnoreStack::default(),
        }
    }

    /// Walks the whole directory against `base` and returns `base` with the
    /// edits applied.
    pub(crate) fn run(&mut self, base: &Vst) -> Result<Vst> {
        fs::symlink_metadata(self.root).map_err(|e| WorkdirError::io("stat", self.root, e))?;
        let listing = base.list(&RepoPath::root())?;
        self.dir(base, &mut Vec::new(), Some(listing))?;
        let edits = std::mem::take(&mut self.edits);
        self.report.edits = edits.len() as u64;
        Ok(base.apply(&edits)?)
    }

    /// Scans one directory; returns how many entries were captured in it.
    fn dir(
        &mut self,
        base: &Vst,
        names: &mut Vec<Name>,
        base_listing: Option<Vec<(Name, Entry)>>,
    ) -> Result<u64> {
        let disk = super::fsx::disk_path(self.root, &RepoPath::from_names(names.iter().cloned()));
        let mut entries = Vec::new();
        let read = fs::read_dir(&disk).map_err(|e| WorkdirError::io("read directory", &disk, e))?;
        for entry in read {
            let entry = entry.map_err(|e| WorkdirError::io("read directory", &disk, e))?;
            let ft = entry
                .file_type()
                .map_err(|e| WorkdirError::io("stat", entry.path(), e))?;
            entries.push(Listed {
                name: entry.file_name().as_bytes().to_vec(),
                file_type: ft,
                entry,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let has = |n: &str| {
            entries
                .iter()
                .any(|l| l.name == n.as_bytes() && l.file_type.is_file())
        };
        self.ignores.push(
            &disk,
            has(HELIOSIGNORE),
            self.options.gitignore && has(GITIGNORE),
        );
        let result = self.entries(base, names, &disk, entries, base_listing);
        self.ignores.pop();
        result
    }

    fn entries(
        &mut self,
        base: &Vst,
        names: &mut Vec<Name>,
        disk: &Path,
        entries: Vec<Listed>,
        base_listing: Option<Vec<(Name, Entry)>>,
    ) -> Result<u64> {
        let mut base_map: BTreeMap<Name, Entry> =
            base_listing.unwrap_or_default().into_iter().collect();
        let mut captured = 0;
        for listed in entries {
            let full = disk.join(std::ffi::OsStr::from_bytes(&listed.name));
            let name = Name::new(&listed.name).map_err(|source| WorkdirError::BadName {
                path: full.clone(),
                source,
            })?;
            names.push(name.clone());
            let rel = RepoPath::from_names(names.iter().cloned());
            let keep = !is_protected(&self.options.protected, &rel)
                && !self.ignores.ignored(&full, listed.file_type.is_dir());
            let base_entry = if keep { base_map.remove(&name) } else { None };
            if keep {
                captured += u64::from(self.entry(base, names, &rel, &full, &listed, base_entry)?);
            }
            names.pop();
        }
        // What the base has and the disk does not (or no longer captures).
        let prefix = RepoPath::from_names(names.iter().cloned());
        for name in base_map.into_keys() {
            self.edits.push(Edit::delete_tree(prefix.join(name)));
        }
        Ok(captured)
    }

    /// Captures one entry; false when it was skipped (a special file).
    fn entry(
        &mut self,
        base: &Vst,
        names: &mut Vec<Name>,
        rel: &RepoPath,
        full: &Path,
        listed: &Listed,
        base_entry: Option<Entry>,
    ) -> Result<bool> {
        if listed.file_type.is_dir() {
            let base_dir = base_entry.is_some_and(|e| e.kind == EntryKind::Dir);
            let listing = if base_dir {
                Some(base.list(rel)?)
            } else {
                if base_entry.is_some() {
                    self.edits.push(Edit::delete_tree(rel.clone()));
                }
                None
            };
            let inside = self.dir(base, names, listing)?;
            if inside == 0 && !base_dir {
                self.edits.push(Edit::make_dir(rel.clone()));
            }
            return Ok(true);
        }
        // `fstatat` relative to the open directory: no walk of the full
        // path from the root for each of 100K files.
        let md = listed
            .entry
            .metadata()
            .map_err(|e| WorkdirError::io("stat", full, e))?;
        let Some(kind) = leaf_kind(&md) else {
            self.report.skipped += 1;
            tracing::warn!(path = %full.display(), "special file not captured");
            return Ok(false);
        };
        if base_entry.is_some_and(|e| e.kind == EntryKind::Dir) {
            self.edits.push(Edit::delete_tree(rel.clone()));
        }
        self.leaf(rel, full, kind, FileStat::from_metadata(&md), base_entry)?;
        Ok(true)
    }

    fn leaf(
        &mut self,
        rel: &RepoPath,
        full: &Path,
        kind: LeafKind,
        stat: FileStat,
        base: Option<Entry>,
    ) -> Result<()> {
        self.report.files_scanned += 1;
        let key = rel.to_bytes();
        let same_as_base =
            |hash: Hash| base.is_some_and(|b| b.kind == kind.entry_kind() && b.hash == hash);
        let cached = self
            .old_cache
            .get(&key)
            .filter(|c| c.kind == kind.entry_kind() && c.matches(&stat) && c.is_settled())
            .copied();
        // The base already holds this content (perhaps under another kind):
        // refer to its blob instead of carrying the bytes again.
        let blob_in_base =
            |hash: Hash| base.is_some_and(|b| b.kind != EntryKind::Dir && b.hash == hash);
        if let Some(c) = cached
            && (blob_in_base(c.hash) || self.hash_only)
        {
            if !same_as_base(c.hash) {
                self.edits
                    .push(Edit::stored(rel.clone(), kind, c.hash, c.stat.size));
            }
            self.new_cache.insert(key, c);
            return Ok(());
        }
        let bytes = read_leaf(full, kind).map_err(|e| WorkdirError::io("read", full, e))?;
        self.report.files_hashed += 1;
        self.report.bytes_hashed += bytes.len() as u64;
        let hash = Blob::hash_of(self.alg, &bytes);
        self.new_cache.insert(
            key,
            StatEntry {
                kind: kind.entry_kind(),
                stat,
                hash,
                recorded_ns: self.started_ns,
            },
        );
        if same_as_base(hash) {
            return Ok(());
        }
        self.edits.push(if self.hash_only || blob_in_base(hash) {
            Edit::stored(rel.clone(), kind, hash, bytes.len() as u64)
        } else {
            Edit::write(rel.clone(), kind, Content::Bytes(Arc::from(bytes)))
        });
        Ok(())
    }
}
