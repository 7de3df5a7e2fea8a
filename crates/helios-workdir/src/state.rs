//! What the engine remembers about a working directory: which tree it holds,
//! whether a checkout was interrupted, and the stat cache that lets capture
//! skip unchanged files. This module is the value and its encodings; the
//! files it lives in (a snapshot, a journal of changes, a marker) are
//! [`StateFile`](super::state_file::StateFile)'s.
//!
//! # Encodings (all integers little-endian)
//!
//! ```text
//! snapshot (version 2):
//!   magic "HWDS" | version u8 | flags u8 (bit0 holds, bit1 in-progress, bit2 from)
//!   | generation u64
//!   [holds 32] [from 32] [to 32]          -- present when their flag is set
//!   count u64 | count × entry
//!   checksum: BLAKE3 of everything above (32 bytes)
//! entry:
//!   path_len u32 | path bytes | kind u8 | mode u32 | size u64
//!   | mtime_ns i64 | ctime_ns i64 | ino u64 | dev u64 | recorded_ns i64 | hash 32
//! change set (a journal record's body):
//!   flags u8 (bit0 holds) | [holds 32] | count u64
//!   | count × ( 1 u8 | entry  or  0 u8 | path_len u32 | path bytes )
//! ```
//!
//! Entries are sorted by path bytes, so equal states encode equally and a
//! loaded snapshot is searched in place ([`StatCache`]). The generation
//! ties a journal to the snapshot it continues.

use std::collections::BTreeSet;
use std::fs;

use helios_types::{EntryKind, HASH_LEN, Hash, HashAlgorithm, RepoPath};

use super::stat_cache::CacheUpdate;
pub use super::stat_cache::StatCache;

const MAGIC: &[u8; 4] = b"HWDS";
const VERSION: u8 = 2;
const PUT: u8 = 1;
const REMOVE: u8 = 0;

/// Nanoseconds of slack granted to file-system timestamps: a file whose
/// mtime or ctime is this close to (or after) the moment its stat was
/// recorded could change again within the same timestamp tick unseen, so
/// its cache entry is not trusted ("racily clean", as git calls it). Linux
/// timestamps come from a clock that advances once per scheduler tick
/// (at most 10 ms).
pub(crate) const RACY_NS: i64 = 20_000_000;

/// The `lstat` fields that identify one version of a file, plus what it hashed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatEntry {
    /// File, executable or symlink (never a directory).
    pub kind: EntryKind,
    /// The file as `lstat` saw it.
    pub stat: FileStat,
    /// When the stat was taken (before it was taken), nanoseconds since the epoch.
    pub recorded_ns: i64,
    /// The blob hash of the content.
    pub hash: Hash,
}

/// A stat snapshot without the hash, as read from the file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// `st_mode`.
    pub mode: u32,
    /// `st_size`.
    pub size: u64,
    /// Modification time in nanoseconds.
    pub mtime_ns: i64,
    /// Status-change time in nanoseconds.
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// Device number.
    pub dev: u64,
}

impl FileStat {
    /// From `std` metadata (obtained with `symlink_metadata`).
    pub fn from_metadata(md: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        FileStat {
            mode: md.mode(),
            size: md.size(),
            mtime_ns: md
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(md.mtime_nsec()),
            ctime_ns: md
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(md.ctime_nsec()),
            ino: md.ino(),
            dev: md.dev(),
        }
    }

    /// From a `rustix` stat.
    #[allow(
        clippy::useless_conversion,
        reason = "field widths differ between targets"
    )]
    pub fn from_rustix(st: &rustix::fs::Stat) -> Self {
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        FileStat {
            mode: st.st_mode,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_ns: ns(
                i64::from(st.st_mtime),
                i64::try_from(st.st_mtime_nsec).unwrap_or(0),
            ),
            ctime_ns: ns(
                i64::from(st.st_ctime),
                i64::try_from(st.st_ctime_nsec).unwrap_or(0),
            ),
            ino: u64::from(st.st_ino),
            dev: u64::from(st.st_dev),
        }
    }
}

impl StatEntry {
    /// True when `now` equals the recorded stat.
    pub fn matches(&self, now: &FileStat) -> bool {
        self.stat == *now
    }

    /// True when the recorded stat was taken long enough after the file's
    /// last change that a later change must show in mtime or ctime.
    pub fn is_settled(&self) -> bool {
        let limit = self.recorded_ns.saturating_sub(RACY_NS);
        self.stat.mtime_ns < limit && self.stat.ctime_ns < limit
    }
}

/// The recorded state of one working directory.
///
/// The stat cache is changed only through methods, which remember the
/// paths they touched: a save appends just those to the journal.
#[derive(Debug, Clone, Default)]
pub struct WorkdirState {
    /// Root hash of the tree the directory held after the last completed
    /// checkout or capture; `None` when unknown.
    pub holds: Option<Hash>,
    /// A checkout that started and did not finish: (from, to) root hashes.
    /// While set, the directory's content is unknown.
    pub in_progress: Option<(Option<Hash>, Hash)>,
    /// Path bytes (`a/b/c`) → stat and hash of each leaf last seen or written.
    cache: StatCache,
    /// Paths put or removed since the state was loaded or last saved.
    changed: BTreeSet<Vec<u8>>,
}

/// Equal when they describe the same directory (pending changes aside).
impl PartialEq for WorkdirState {
    fn eq(&self, other: &Self) -> bool {
        self.holds == other.holds
            && self.in_progress == other.in_progress
            && self.cache == other.cache
    }
}

impl Eq for WorkdirState {}

impl WorkdirState {
    /// The stat cache: path bytes (`a/b/c`) → stat and hash of each leaf.
    pub fn cache(&self) -> &StatCache {
        &self.cache
    }

    /// Records `entry` for the leaf at `path`.
    pub fn put(&mut self, path: Vec<u8>, entry: StatEntry) {
        self.changed.insert(path.clone());
        self.cache.insert(path, entry);
    }

    /// Drops cache entries at `path` and beneath it.
    pub(crate) fn forget(&mut self, path: &[u8]) {
        if self.cache.remove(path) {
            self.changed.insert(path.to_vec());
        }
        let mut prefix = path.to_vec();
        prefix.push(b'/');
        for k in self.cache.paths_with_prefix(&prefix) {
            self.cache.remove(&k);
            self.changed.insert(k);
        }
    }

    /// Moves the recorded moment of the entry at `path` (if any) to `recorded_ns`.
    pub(crate) fn restamp(&mut self, path: &[u8], recorded_ns: i64) {
        if let Some(mut entry) = self.cache.get(path) {
            entry.recorded_ns = recorded_ns;
            self.cache.insert(path.to_vec(), entry);
            self.changed.insert(path.to_vec());
        }
    }

    /// Applies what a scan found: drops the entries it did not meet within
    /// what it walked (the whole directory, or `within` each of `paths`
    /// and beneath), then records its new and changed entries. Remembers
    /// only the paths whose entries differ.
    pub(crate) fn update_cache(&mut self, update: CacheUpdate, paths: Option<&[RepoPath]>) {
        let gone = match paths {
            None => self.cache.unmet(&update.met, None),
            Some(paths) => paths
                .iter()
                .flat_map(|p| self.cache.unmet(&update.met, Some(&p.to_bytes())))
                .collect(),
        };
        for path in gone {
            self.cache.remove(&path);
            self.changed.insert(path);
        }
        for (path, entry) in update.puts {
            self.changed.insert(path.clone());
            self.cache.insert(path, entry);
        }
        self.cache.fold_changes_when_many();
    }

    /// Replaces the whole cache with `new`, as a full scan finding those
    /// entries would.
    #[cfg(test)]
    pub(crate) fn replace_cache(&mut self, new: &[(Vec<u8>, StatEntry)]) {
        let mut update = CacheUpdate::default();
        for (path, entry) in new {
            update.found(path, *entry, self.cache.lookup(path));
        }
        self.update_cache(update, None);
    }

    /// Encodes the changed paths (their entries, or their removal) and the
    /// held tree as a change set, and forgets them.
    pub(crate) fn take_changes(&mut self) -> Vec<u8> {
        let changed = std::mem::take(&mut self.changed);
        let mut out = Vec::with_capacity(64 + changed.len() * 120);
        out.push(u8::from(self.holds.is_some()));
        if let Some(h) = self.holds {
            out.extend_from_slice(h.as_bytes());
        }
        out.extend_from_slice(&(changed.len() as u64).to_le_bytes());
        for path in &changed {
            match self.cache.get(path) {
                Some(entry) => {
                    out.push(PUT);
                    encode_entry(&mut out, path, &entry);
                }
                None => {
                    out.push(REMOVE);
                    encode_path(&mut out, path);
                }
            }
        }
        out
    }

    /// Applies a change set made by [`WorkdirState::take_changes`].
    pub(crate) fn apply_changes(&mut self, body: &[u8]) -> std::result::Result<(), &'static str> {
        let mut r = Reader::at(body, 0);
        let holds = decode_holds(&mut r)?;
        let count = r.u64()?;
        let mut puts = Vec::new();
        let mut removes = Vec::new();
        for _ in 0..count {
            match r.u8()? {
                PUT => puts.push(decode_entry(&mut r)?),
                REMOVE => removes.push(r.path()?),
                _ => return Err("unknown change"),
            }
        }
        if r.pos != body.len() {
            return Err("trailing bytes");
        }
        // Decoded whole before anything is applied: a bad record changes nothing.
        self.holds = holds;
        for path in removes {
            self.cache.remove(path);
        }
        for (path, entry) in puts {
            self.cache.insert(path.to_vec(), entry);
        }
        Ok(())
    }

    /// Bytes enough to hold any snapshot's header (see
    /// [`WorkdirState::decode_header`]).
    pub(crate) const HEADER_MAX_LEN: usize = MAGIC.len() + 2 + 8 + 3 * HASH_LEN;

    /// The held tree and generation from the first bytes of a snapshot,
    /// without its stat cache or checksum (which cover the whole file).
    pub(crate) fn decode_header(
        prefix: &[u8],
    ) -> std::result::Result<(Option<Hash>, u64), &'static str> {
        let mut r = Reader::at(prefix, 0);
        let (generation, holds, in_progress) = decode_header(&mut r)?;
        Ok((holds.filter(|_| in_progress.is_none()), generation))
    }

    /// The held tree a change set (a journal record's body) records.
    pub(crate) fn change_set_holds(body: &[u8]) -> std::result::Result<Option<Hash>, &'static str> {
        decode_holds(&mut Reader::at(body, 0))
    }

    /// Encodes the state as a snapshot of `generation` (see the module docs).
    pub fn encode(&self, generation: u64) -> Vec<u8> {
        let entries: Vec<(&[u8], StatEntry)> = self.cache.iter().collect();
        let mut out = Vec::with_capacity(64 + entries.len() * 120);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        let from = self.in_progress.and_then(|(from, _)| from);
        let flags = u8::from(self.holds.is_some())
            | (u8::from(self.in_progress.is_some()) << 1)
            | (u8::from(from.is_some()) << 2);
        out.push(flags);
        out.extend_from_slice(&generation.to_le_bytes());
        if let Some(h) = self.holds {
            out.extend_from_slice(h.as_bytes());
        }
        if let Some((_, to)) = self.in_progress {
            if let Some(f) = from {
                out.extend_from_slice(f.as_bytes());
            }
            out.extend_from_slice(to.as_bytes());
        }
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for (path, e) in &entries {
            encode_entry(&mut out, path, e);
        }
        let sum = HashAlgorithm::Blake3.digest(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Decodes a snapshot into the state and its generation; any damage is
    /// an error naming what is wrong.
    pub fn decode(bytes: impl Into<Vec<u8>>) -> std::result::Result<(Self, u64), &'static str> {
        let mut bytes = bytes.into();
        if bytes.len() < MAGIC.len() + 2 + 8 + 8 + HASH_LEN {
            return Err("too short");
        }
        let body_len = bytes.len() - HASH_LEN;
        let (body, sum) = bytes.split_at(body_len);
        if HashAlgorithm::Blake3.digest(body).as_bytes() != sum {
            return Err("checksum mismatch");
        }
        let mut r = Reader::at(body, 0);
        let (generation, holds, in_progress) = decode_header(&mut r)?;
        let count = r.u64()?;
        let start = r.pos();
        bytes.truncate(body_len);
        // The entries stay encoded: a lookup decodes the one it finds.
        let (cache, end) = StatCache::from_encoded(bytes, start, count)?;
        if end != body_len {
            return Err("trailing bytes");
        }
        let state = WorkdirState {
            holds,
            in_progress,
            cache,
            changed: BTreeSet::new(),
        };
        Ok((state, generation))
    }
}

/// What a snapshot holds before its stat cache: generation, held tree,
/// interrupted checkout.
type Header = (u64, Option<Hash>, Option<(Option<Hash>, Hash)>);

fn decode_header(r: &mut Reader<'_>) -> std::result::Result<Header, &'static str> {
    if r.take(4)? != MAGIC {
        return Err("bad magic");
    }
    if r.u8()? != VERSION {
        return Err("unknown version");
    }
    let flags = r.u8()?;
    if flags & !0b111 != 0 {
        return Err("unknown flags");
    }
    let generation = r.u64()?;
    let holds = if flags & 1 != 0 {
        Some(r.hash()?)
    } else {
        None
    };
    let in_progress = if flags & 2 != 0 {
        let from = if flags & 4 != 0 {
            Some(r.hash()?)
        } else {
            None
        };
        Some((from, r.hash()?))
    } else if flags & 4 != 0 {
        return Err("from without in-progress");
    } else {
        None
    };
    Ok((generation, holds, in_progress))
}

/// The `holds` field of a change set: a flag byte, then the hash if set.
fn decode_holds(r: &mut Reader<'_>) -> std::result::Result<Option<Hash>, &'static str> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.hash()?)),
        _ => Err("unknown flags"),
    }
}

fn encode_path(out: &mut Vec<u8>, path: &[u8]) {
    // Paths are at most MAX_DEPTH names of at most 64 KiB each, far below
    // u32::MAX.
    let len = u32::try_from(path.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(path);
}

pub(crate) fn encode_entry(out: &mut Vec<u8>, path: &[u8], e: &StatEntry) {
    encode_path(out, path);
    out.push(e.kind.tag());
    let st = &e.stat;
    out.extend_from_slice(&st.mode.to_le_bytes());
    out.extend_from_slice(&st.size.to_le_bytes());
    out.extend_from_slice(&st.mtime_ns.to_le_bytes());
    out.extend_from_slice(&st.ctime_ns.to_le_bytes());
    out.extend_from_slice(&st.ino.to_le_bytes());
    out.extend_from_slice(&st.dev.to_le_bytes());
    out.extend_from_slice(&e.recorded_ns.to_le_bytes());
    out.extend_from_slice(e.hash.as_bytes());
}

/// Bytes of an entry after its path: kind, mode, six 8-byte stat and time
/// fields, hash.
pub(crate) const ENTRY_FIXED_LEN: usize = 1 + 4 + 6 * 8 + HASH_LEN;

/// The leaf kind an entry's tag names (never a directory).
pub(crate) fn check_entry_kind(tag: u8) -> std::result::Result<EntryKind, &'static str> {
    match EntryKind::from_tag(tag).ok_or("unknown entry kind")? {
        EntryKind::Dir => Err("directory in stat cache"),
        kind => Ok(kind),
    }
}

pub(crate) fn decode_entry<'a>(
    r: &mut Reader<'a>,
) -> std::result::Result<(&'a [u8], StatEntry), &'static str> {
    let path = r.path()?;
    let kind = check_entry_kind(r.u8()?)?;
    let entry = StatEntry {
        kind,
        stat: FileStat {
            mode: r.u32()?,
            size: r.u64()?,
            mtime_ns: r.i64()?,
            ctime_ns: r.i64()?,
            ino: r.u64()?,
            dev: r.u64()?,
        },
        recorded_ns: r.i64()?,
        hash: r.hash()?,
    };
    Ok((path, entry))
}

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn at(bytes: &'a [u8], pos: usize) -> Self {
        Reader { bytes, pos }
    }
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
    pub(crate) fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("truncated")?;
        let out = self.bytes.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], &'static str> {
        self.take(N)?.try_into().map_err(|_| "truncated")
    }
    pub(crate) fn u8(&mut self) -> std::result::Result<u8, &'static str> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> std::result::Result<u32, &'static str> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> std::result::Result<u64, &'static str> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> std::result::Result<i64, &'static str> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn hash(&mut self) -> std::result::Result<Hash, &'static str> {
        Ok(Hash::from_bytes(self.array()?))
    }
    pub(crate) fn path(&mut self) -> std::result::Result<&'a [u8], &'static str> {
        let len = usize::try_from(self.u32()?).map_err(|_| "path too long")?;
        self.take(len)
    }
}

/// Nanoseconds since the epoch now (0 if the clock is before 1970).
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
