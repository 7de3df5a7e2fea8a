//! What the engine remembers about a working directory: which tree it holds,
//! whether a checkout was interrupted, and the stat cache that lets capture
//! skip unchanged files.
//!
//! # File format (version 1, all integers little-endian)
//!
//! ```text
//! magic "HWDS" | version u8 | flags u8 (bit0 holds, bit1 in-progress, bit2 from)
//! [holds 32] [from 32] [to 32]          -- present when their flag is set
//! count u64
//! count × ( path_len u32 | path bytes | kind u8 | mode u32 | size u64
//!           | mtime_ns i64 | ctime_ns i64 | ino u64 | dev u64
//!           | recorded_ns i64 | hash 32 )
//! checksum: BLAKE3 of everything above (32 bytes)
//! ```
//!
//! Entries are sorted by path bytes (a `BTreeMap`), so equal states encode
//! equally. The file is written to a temporary sibling, fsynced and renamed
//! over the old one, so a crash leaves the old or the new state, never half.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use helios_types::{EntryKind, HASH_LEN, Hash, HashAlgorithm};

use super::error::{Result, WorkdirError};

const MAGIC: &[u8; 4] = b"HWDS";
const VERSION: u8 = 1;

/// Nanoseconds of slack granted to file-system timestamps: a file whose
/// mtime or ctime is this close to (or after) the moment its stat was
/// recorded could change again within the same timestamp tick unseen, so
/// its cache entry is not trusted ("racily clean", as git calls it). Linux
/// timestamps come from a clock that advances once per scheduler tick
/// (at most 10 ms).
pub const RACY_NS: i64 = 20_000_000;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkdirState {
    /// Root hash of the tree the directory held after the last completed
    /// checkout or capture; `None` when unknown.
    pub holds: Option<Hash>,
    /// A checkout that started and did not finish: (from, to) root hashes.
    /// While set, the directory's content is unknown.
    pub in_progress: Option<(Option<Hash>, Hash)>,
    /// Path bytes (`a/b/c`) → stat and hash of each leaf last seen or written.
    pub cache: BTreeMap<Vec<u8>, StatEntry>,
}

impl WorkdirState {
    /// Encodes the state (see the module docs for the layout).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.cache.len() * 100);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        let from = self.in_progress.and_then(|(from, _)| from);
        let flags = u8::from(self.holds.is_some())
            | (u8::from(self.in_progress.is_some()) << 1)
            | (u8::from(from.is_some()) << 2);
        out.push(flags);
        if let Some(h) = self.holds {
            out.extend_from_slice(h.as_bytes());
        }
        if let Some((_, to)) = self.in_progress {
            if let Some(f) = from {
                out.extend_from_slice(f.as_bytes());
            }
            out.extend_from_slice(to.as_bytes());
        }
        out.extend_from_slice(&(self.cache.len() as u64).to_le_bytes());
        for (path, e) in &self.cache {
            // Paths are at most MAX_DEPTH names of at most 64 KiB each,
            // far below u32::MAX.
            let len = u32::try_from(path.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(path);
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
        let sum = HashAlgorithm::Blake3.digest(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Decodes a state; any damage is an error naming what is wrong.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, &'static str> {
        if bytes.len() < MAGIC.len() + 2 + 8 + HASH_LEN {
            return Err("too short");
        }
        let (body, sum) = bytes.split_at(bytes.len() - HASH_LEN);
        if HashAlgorithm::Blake3.digest(body).as_bytes() != sum {
            return Err("checksum mismatch");
        }
        let mut r = Reader {
            bytes: body,
            pos: 0,
        };
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
        let count = r.u64()?;
        let mut cache = BTreeMap::new();
        for _ in 0..count {
            let len = usize::try_from(r.u32()?).map_err(|_| "path too long")?;
            let path = r.take(len)?.to_vec();
            let kind = EntryKind::from_tag(r.u8()?).ok_or("unknown entry kind")?;
            if kind == EntryKind::Dir {
                return Err("directory in stat cache");
            }
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
            if cache.insert(path, entry).is_some() {
                return Err("duplicate path");
            }
        }
        if r.pos != body.len() {
            return Err("trailing bytes");
        }
        Ok(WorkdirState {
            holds,
            in_progress,
            cache,
        })
    }

    /// Reads the state at `path`: `Ok(None)` when there is no file, an error
    /// when it cannot be read or does not decode.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let main = Self::load_one(path)?;
        match Self::load_one(&Self::marker_path(path))? {
            Some(marker) if marker.in_progress.is_some() => {
                let mut state = main.unwrap_or_default();
                state.in_progress = marker.in_progress;
                state.holds = None;
                Ok(Some(state))
            }
            Some(_) => Err(WorkdirError::StateCorrupt {
                path: Self::marker_path(path),
                reason: "marker without a checkout",
            }),
            None => Ok(main),
        }
    }

    fn load_one(path: &Path) -> Result<Option<Self>> {
        match fs::read(path) {
            Ok(bytes) => WorkdirState::decode(&bytes).map(Some).map_err(|reason| {
                WorkdirError::StateCorrupt {
                    path: path.to_path_buf(),
                    reason,
                }
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(WorkdirError::io("read state", path, e)),
        }
    }

    /// Like [`WorkdirState::load`], but a missing or damaged file gives an
    /// empty state (the directory's content is then treated as unknown).
    pub fn load_or_default(path: &Path) -> Result<Self> {
        match WorkdirState::load(path) {
            Ok(state) => Ok(state.unwrap_or_default()),
            Err(WorkdirError::StateCorrupt { path, reason }) => {
                tracing::warn!(path = %path.display(), reason, "ignoring damaged working-directory state");
                Ok(WorkdirState::default())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the state atomically: a temporary sibling renamed over
    /// `path`, so a killed process leaves the old or the new state. With
    /// `durable`, the file and its directory are also fsynced (power loss).
    pub fn save(&self, path: &Path, durable: bool) -> Result<()> {
        write_atomic(path, &self.encode(), durable)
    }

    /// The path of the small "checkout in progress" marker kept beside the
    /// state file at `path`, so starting a checkout does not rewrite the
    /// whole stat cache.
    pub fn marker_path(path: &Path) -> std::path::PathBuf {
        let mut name = path.as_os_str().to_os_string();
        name.push(".progress");
        name.into()
    }

    /// Records durably-enough (see [`WorkdirState::save`]) that a checkout
    /// from `from` to `to` has started in the directory whose state is at `path`.
    pub fn mark_in_progress(
        path: &Path,
        from: Option<Hash>,
        to: Hash,
        durable: bool,
    ) -> Result<()> {
        let marker = WorkdirState {
            holds: None,
            in_progress: Some((from, to)),
            cache: BTreeMap::new(),
        };
        write_atomic(&Self::marker_path(path), &marker.encode(), durable)
    }

    /// Removes the in-progress marker (after the final state is saved).
    pub fn clear_in_progress(path: &Path) -> Result<()> {
        let marker = Self::marker_path(path);
        match fs::remove_file(&marker) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(WorkdirError::io("remove state marker", marker, e)),
        }
    }

    /// Drops cache entries at `path` and beneath it.
    pub(crate) fn forget(&mut self, path: &[u8]) {
        self.cache.remove(path);
        let mut prefix = path.to_vec();
        prefix.push(b'/');
        let doomed: Vec<Vec<u8>> = self
            .cache
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.cache.remove(&k);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("truncated")?;
        let out = self.bytes.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], &'static str> {
        self.take(N)?.try_into().map_err(|_| "truncated")
    }
    fn u8(&mut self) -> std::result::Result<u8, &'static str> {
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
}

fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = parent.join(tmp_name);
    let write = || -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| WorkdirError::io("write state", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| WorkdirError::io("rename state", path, e))?;
    if durable {
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| WorkdirError::io("sync state directory", parent, e))?;
    }
    Ok(())
}

/// Nanoseconds since the epoch now (0 if the clock is before 1970).
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
