//! Where a working directory's [`WorkdirState`] lives, and the decoded copy
//! kept between operations, so that a checkout of a few files costs a few
//! files and not the whole stat cache.
//!
//! # Files
//!
//! - `<path>`: a snapshot of the state (see [`state`](super::state)) with a
//!   generation number, written whole to a temporary sibling and renamed
//!   over the old one.
//! - `<path>.journal`: the changes since that snapshot, appended one record
//!   per save:
//!
//!   ```text
//!   header: magic "HWDJ" | version u8 | generation u64
//!   record: body_len u32 | change set (body_len bytes)
//!           | checksum: BLAKE3 of body_len and the body (32 bytes)
//!   ```
//!
//!   A save appends the paths it changed; when the journal would pass half
//!   the snapshot's size (and [`FOLD_MIN_BYTES`]), the save folds it: a new
//!   snapshot of the next generation is renamed into place, then the
//!   journal is removed. `helios gc` folds every journal the same way
//!   ([`StateFile::fold_journal`]), so that a store at rest keeps each
//!   directory's state in one snapshot. A journal whose generation is not
//!   the snapshot's is stale (a crash between those two steps) and
//!   ignored. Replay stops
//!   at the first record that is cut short or fails its checksum (a write
//!   killed half-way); the next save then folds, so nothing is ever
//!   appended after a damaged record.
//! - `<path>.progress`: the "checkout in progress" marker, a small
//!   snapshot holding only `in_progress`.
//!
//! # The decoded copy
//!
//! A [`StateFile`] keeps the state it last loaded or saved, with the
//! identity (inode, length, mtime) of the snapshot and journal it matches.
//! [`StateFile::load`] lends that copy out when both files are still as
//! they were; otherwise (another process, a restore from backup, a failed
//! operation that never gave the copy back) it decodes them again.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use helios_types::{HASH_LEN, Hash, HashAlgorithm};

use super::error::{Result, WorkdirError};
use super::state::WorkdirState;

const JOURNAL_MAGIC: &[u8; 4] = b"HWDJ";
const JOURNAL_VERSION: u8 = 1;
const JOURNAL_HEADER_LEN: usize = JOURNAL_MAGIC.len() + 1 + 8;

/// A journal may grow to half its snapshot's size, and to at least this
/// many bytes, before a save folds it into a new snapshot.
const FOLD_MIN_BYTES: u64 = 64 * 1024;

/// The state files of one working directory and the decoded copy.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The files as this value last read or wrote them; `None` when
    /// unknown (the next save then writes a fresh snapshot).
    files: Option<Files>,
    /// The state the files hold, when not lent out by [`StateFile::load`].
    decoded: Option<WorkdirState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Files {
    generation: u64,
    snapshot: Identity,
    /// `None` when there is no journal.
    journal: Option<Identity>,
    /// The journal holds only whole records of `generation`, so a save may
    /// append to it.
    appendable: bool,
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    ino: u64,
    len: u64,
    mtime_ns: i64,
}

impl Identity {
    fn of(md: &fs::Metadata) -> Self {
        Identity {
            ino: md.ino(),
            len: md.len(),
            mtime_ns: md
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(md.mtime_nsec()),
        }
    }

    /// The identity of the file at `path`, `None` when there is none.
    fn at(path: &Path) -> Result<Option<Self>> {
        match fs::metadata(path) {
            Ok(md) => Ok(Some(Identity::of(&md))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(WorkdirError::io("stat state", path, e)),
        }
    }
}

impl StateFile {
    /// The state kept at `path` (and its siblings `.journal`, `.progress`).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateFile {
            path: path.into(),
            inner: Mutex::default(),
        }
    }

    /// The snapshot's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.as_os_str().to_os_string();
        name.push(suffix);
        name.into()
    }

    /// The journal's path.
    pub fn journal_path(&self) -> PathBuf {
        self.sibling(".journal")
    }

    /// The "checkout in progress" marker's path.
    pub fn marker_path(&self) -> PathBuf {
        self.sibling(".progress")
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, for an operation that will [`save`](StateFile::save) it:
    /// the decoded copy when the files did not change since, else read from
    /// disk. Missing files give an empty state; damaged ones are logged and
    /// give an empty state too (the directory's content is then unknown).
    pub fn load(&self) -> Result<WorkdirState> {
        let mut inner = self.inner();
        let snapshot = Identity::at(&self.path)?;
        let journal = Identity::at(&self.journal_path())?;
        let unchanged = inner
            .files
            .is_some_and(|f| Some(f.snapshot) == snapshot && f.journal == journal);
        let mut state = match inner.decoded.take() {
            Some(state) if unchanged => state,
            _ => match self.read_files() {
                Ok((state, files)) => {
                    inner.files = files;
                    state
                }
                Err(WorkdirError::StateCorrupt { path, reason }) => {
                    tracing::warn!(path = %path.display(), reason, "ignoring damaged working-directory state");
                    inner.files = None;
                    WorkdirState::default()
                }
                Err(e) => return Err(e),
            },
        };
        drop(inner);
        match self.read_marker() {
            Ok(Some(in_progress)) => {
                state.in_progress = Some(in_progress);
                state.holds = None;
            }
            Ok(None) => {}
            Err(WorkdirError::StateCorrupt { path, reason }) => {
                // Unreadable, it still says a checkout started (to an
                // unknown target, which no tree hashes to).
                tracing::warn!(path = %path.display(), reason, "damaged checkout marker");
                state.in_progress = Some((None, Hash::from_bytes([0; HASH_LEN])));
                state.holds = None;
            }
            Err(e) => return Err(e),
        }
        Ok(state)
    }

    /// The tree the directory holds, as [`load`](StateFile::load) would
    /// say, without decoding the stat cache: the decoded copy's when it is
    /// current, else the snapshot's header and the journal's last word.
    /// `None` when no state says (or a checkout was interrupted, or the
    /// files are damaged): the caller then loads the state as usual. What
    /// lets a checkout to the tree a directory already holds cost O(1).
    pub fn holds(&self) -> Result<Option<Hash>> {
        if self.marker_path().exists() {
            return Ok(None);
        }
        {
            let inner = self.inner();
            if let (Some(files), Some(decoded)) = (inner.files, &inner.decoded)
                && Some(files.snapshot) == Identity::at(&self.path)?
                && files.journal == Identity::at(&self.journal_path())?
            {
                return Ok(decoded.holds);
            }
        }
        let Some(header) = read_prefix(&self.path, WorkdirState::HEADER_MAX_LEN)? else {
            return Ok(None);
        };
        let Ok((mut holds, generation)) = WorkdirState::decode_header(&header) else {
            return Ok(None);
        };
        if let Some(journal) = read_if_exists(&self.journal_path())? {
            let (records, whole) = journal_records(generation, &journal);
            if !whole {
                return Ok(None);
            }
            for body in records {
                match WorkdirState::change_set_holds(body) {
                    Ok(h) => holds = h,
                    Err(_) => return Ok(None),
                }
            }
        }
        Ok(holds)
    }

    /// The state as the files hold it, read strictly: `Ok(None)` when there
    /// are none, an error naming the file when one is damaged. The decoded
    /// copy is neither used nor changed.
    pub fn read(&self) -> Result<Option<WorkdirState>> {
        let (mut state, files) = self.read_files()?;
        let marker = self.read_marker()?;
        if files.is_none() && marker.is_none() {
            return Ok(None);
        }
        if let Some(in_progress) = marker {
            state.in_progress = Some(in_progress);
            state.holds = None;
        }
        Ok(Some(state))
    }

    /// Reads the snapshot and replays its journal; `files` is `None` when
    /// there is no snapshot.
    fn read_files(&self) -> Result<(WorkdirState, Option<Files>)> {
        let corrupt = |path: &Path, reason| WorkdirError::StateCorrupt {
            path: path.to_path_buf(),
            reason,
        };
        let Some(bytes) = read_if_exists(&self.path)? else {
            return Ok((WorkdirState::default(), None));
        };
        let snapshot = Identity::at(&self.path)?.ok_or_else(|| corrupt(&self.path, "vanished"))?;
        let (mut state, generation) =
            WorkdirState::decode(bytes).map_err(|reason| corrupt(&self.path, reason))?;
        let journal_path = self.journal_path();
        let journal_bytes = read_if_exists(&journal_path)?;
        let journal = Identity::at(&journal_path)?;
        let appendable = match &journal_bytes {
            None => true,
            Some(bytes) => replay(&mut state, generation, bytes),
        };
        if !appendable {
            tracing::debug!(path = %journal_path.display(), "journal stale or cut short; the next save folds it");
        }
        let files = Files {
            generation,
            snapshot,
            journal,
            appendable,
        };
        Ok((state, Some(files)))
    }

    fn read_marker(&self) -> Result<Option<(Option<Hash>, Hash)>> {
        let path = self.marker_path();
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let (marker, _) =
            WorkdirState::decode(bytes).map_err(|reason| WorkdirError::StateCorrupt {
                path: path.clone(),
                reason,
            })?;
        match marker.in_progress {
            Some(in_progress) => Ok(Some(in_progress)),
            None => Err(WorkdirError::StateCorrupt {
                path,
                reason: "marker without a checkout",
            }),
        }
    }

    /// Saves `state` and keeps it as the decoded copy: the paths it changed
    /// are appended to the journal, or the journal is folded into a new
    /// snapshot (see the module docs). A killed process leaves the old or
    /// the new state. With `durable`, what was written is also fsynced
    /// (power loss). The in-progress marker is not touched.
    pub fn save(&self, mut state: WorkdirState, durable: bool) -> Result<()> {
        let mut inner = self.inner();
        // Whatever happens next, the files may no longer match a copy.
        let files = inner.files.take();
        inner.decoded = None;
        state.in_progress = None;
        let body = state.take_changes();
        let files = match files {
            Some(f) if f.appendable && fits(f, body.len()) => self.append(f, &body, durable)?,
            _ => self.fold(&state, files, durable)?,
        };
        inner.files = Some(files);
        inner.decoded = Some(state);
        Ok(())
    }

    /// Folds the journal into a new snapshot now, rather than when it
    /// passes its budget, so that the state takes the least room: what
    /// `helios gc` does for each working directory. True when it folded;
    /// false when there was no journal to fold or a checkout is marked in
    /// progress (its recovery must see the files as they are). A damaged
    /// snapshot is an error and is left as it is. The caller holds the
    /// directory's lock, so no save runs meanwhile in any process.
    pub fn fold_journal(&self, durable: bool) -> Result<bool> {
        let mut inner = self.inner();
        if Identity::at(&self.journal_path())?.is_none() || self.marker_path().exists() {
            return Ok(false);
        }
        let (state, files) = self.read_files()?;
        inner.files = None;
        inner.decoded = None;
        let files = self.fold(&state, files, durable)?;
        inner.files = Some(files);
        inner.decoded = Some(state);
        Ok(true)
    }

    /// Appends one record holding `body` to the journal of `files`.
    fn append(&self, files: Files, body: &[u8], durable: bool) -> Result<Files> {
        let path = self.journal_path();
        let len = u32::try_from(body.len()).map_err(|_| {
            WorkdirError::io("append state", &path, io::ErrorKind::FileTooLarge.into())
        })?;
        let mut bytes = Vec::with_capacity(JOURNAL_HEADER_LEN + 4 + body.len() + HASH_LEN);
        let fresh = files.journal.is_none();
        if fresh {
            bytes.extend_from_slice(JOURNAL_MAGIC);
            bytes.push(JOURNAL_VERSION);
            bytes.extend_from_slice(&files.generation.to_le_bytes());
        }
        let record_start = bytes.len();
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(body);
        let sum = HashAlgorithm::Blake3.digest(&bytes[record_start..]);
        bytes.extend_from_slice(sum.as_bytes());
        let io_err = |e| WorkdirError::io("append state", &path, e);
        let mut options = fs::OpenOptions::new();
        if fresh {
            options.write(true).create(true).truncate(true);
        } else {
            options.append(true);
        }
        let mut file = options.open(&path).map_err(io_err)?;
        // One write: a killed process leaves a prefix of it, which replay
        // recognises as cut short.
        file.write_all(&bytes).map_err(io_err)?;
        if durable {
            file.sync_data().map_err(io_err)?;
            if fresh {
                sync_parent(&path)?;
            }
        }
        let journal = Identity::of(&file.metadata().map_err(io_err)?);
        Ok(Files {
            journal: Some(journal),
            ..files
        })
    }

    /// Writes `state` as a new snapshot, one generation past any journal
    /// on disk, then removes the journal.
    fn fold(&self, state: &WorkdirState, known: Option<Files>, durable: bool) -> Result<Files> {
        let journal_path = self.journal_path();
        let on_disk = read_prefix(&journal_path, JOURNAL_HEADER_LEN)?
            .and_then(|header| journal_generation(&header))
            .unwrap_or(0);
        let generation = known
            .map_or(0, |f| f.generation)
            .max(on_disk)
            .wrapping_add(1);
        write_atomic(&self.path, &state.encode(generation), durable)?;
        match fs::remove_file(&journal_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(WorkdirError::io("remove journal", &journal_path, e)),
        }
        let snapshot = Identity::at(&self.path)?.ok_or_else(|| {
            WorkdirError::io("stat state", &self.path, io::ErrorKind::NotFound.into())
        })?;
        Ok(Files {
            generation,
            snapshot,
            journal: None,
            appendable: true,
        })
    }

    /// Records durably-enough (see [`StateFile::save`]) that a checkout
    /// from `from` to `to` has started, without rewriting the stat cache.
    pub fn mark_in_progress(&self, from: Option<Hash>, to: Hash, durable: bool) -> Result<()> {
        let mut marker = WorkdirState::default();
        marker.in_progress = Some((from, to));
        write_atomic(&self.marker_path(), &marker.encode(0), durable)
    }

    /// Forgets everything recorded about the directory but the
    /// in-progress marker: the next operation scans it. Removing files
    /// needs no space, so this works where [`save`](StateFile::save) fails
    /// on a full disk.
    pub fn forget(&self) -> Result<()> {
        let mut inner = self.inner();
        inner.files = None;
        inner.decoded = None;
        for path in [self.path.clone(), self.journal_path()] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(WorkdirError::io("remove state", path, e)),
            }
        }
        Ok(())
    }

    /// Removes the in-progress marker (after the final state is saved).
    pub fn clear_in_progress(&self) -> Result<()> {
        let marker = self.marker_path();
        match fs::remove_file(&marker) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(WorkdirError::io("remove state marker", marker, e)),
        }
    }
}

/// True when a record of `body_len` bytes keeps the journal of `files`
/// within half its snapshot's size (or [`FOLD_MIN_BYTES`]).
fn fits(files: Files, body_len: usize) -> bool {
    let journal = files.journal.map_or(JOURNAL_HEADER_LEN as u64, |j| j.len);
    let record = (4 + body_len + HASH_LEN) as u64;
    journal + record <= (files.snapshot.len / 2).max(FOLD_MIN_BYTES)
}

/// The generation a journal's header names, if it has a whole header.
fn journal_generation(bytes: &[u8]) -> Option<u64> {
    let header = bytes.get(..JOURNAL_HEADER_LEN)?;
    if &header[..4] != JOURNAL_MAGIC || header[4] != JOURNAL_VERSION {
        return None;
    }
    Some(u64::from_le_bytes(header[5..].try_into().ok()?))
}

/// Applies the journal's whole records to `state`; true when the journal
/// belongs to `generation` and holds nothing but whole, intact records.
fn replay(state: &mut WorkdirState, generation: u64, bytes: &[u8]) -> bool {
    let (records, whole) = journal_records(generation, bytes);
    for body in records {
        if state.apply_changes(body).is_err() {
            return false;
        }
    }
    whole
}

/// The change sets of the journal's intact records, in order, up to the
/// first that is cut short or fails its checksum; and whether the journal
/// belongs to `generation` and holds nothing else. A journal of another
/// generation gives no records.
fn journal_records(generation: u64, bytes: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut records = Vec::new();
    if journal_generation(bytes) != Some(generation) {
        return (records, false);
    }
    let mut rest = &bytes[JOURNAL_HEADER_LEN..];
    while !rest.is_empty() {
        let Some(len) = rest
            .get(..4)
            .and_then(|b| Some(u32::from_le_bytes(b.try_into().ok()?)))
            .and_then(|len| usize::try_from(len).ok())
        else {
            return (records, false);
        };
        let Some(record) = rest.get(..4 + len + HASH_LEN) else {
            return (records, false);
        };
        let (checked, sum) = record.split_at(4 + len);
        if HashAlgorithm::Blake3.digest(checked).as_bytes() != sum {
            return (records, false);
        }
        records.push(&checked[4..]);
        rest = &rest[record.len()..];
    }
    (records, true)
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(WorkdirError::io("read state", path, e)),
    }
}

/// The first `len` bytes of the file at `path` (fewer when it is
/// shorter), `None` when there is no file.
fn read_prefix(path: &Path, len: usize) -> Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(WorkdirError::io("read state", path, e)),
    };
    let mut prefix = Vec::with_capacity(len);
    file.take(len as u64)
        .read_to_end(&mut prefix)
        .map_err(|e| WorkdirError::io("read state", path, e))?;
    Ok(Some(prefix))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_parent(path: &Path) -> Result<()> {
    let parent = parent_of(path);
    fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| WorkdirError::io("sync state directory", parent, e))
}

/// Writes `bytes` to a temporary sibling renamed over `path`, so a killed
/// process leaves the old or the new file; with `durable`, the file and
/// its directory are fsynced too.
fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = parent_of(path).join(tmp_name);
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
        sync_parent(path)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "state_file_tests.rs"]
mod tests;
