//! Conversions at the boundary: durability names, tree paths, entry kinds,
//! times. Snapshot ids cross as lowercase hex strings; paths inside a tree
//! as `str` (or `bytes`), `/`-separated, relative to the tree's root.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::time::Duration;

use helios_engine::Durability;
use helios_types::{EntryKind, RepoPath};
use pyo3::prelude::*;

use crate::errors::{InvalidInput, name_error};

/// A path inside a tree as Python gives it: `str` (encoded as the file
/// system encodes names, so `os.fsdecode`d names round-trip) or `bytes`.
#[derive(FromPyObject)]
pub(crate) enum PathArg {
    /// A `str`.
    Text(OsString),
    /// A `bytes`.
    Bytes(Vec<u8>),
}

impl PathArg {
    /// The tree path, or [`InvalidInput`] for an empty name, `.`, `..` or
    /// a NUL.
    pub(crate) fn repo_path(&self) -> PyResult<RepoPath> {
        let bytes = match self {
            PathArg::Text(s) => s.as_bytes(),
            PathArg::Bytes(b) => b.as_slice(),
        };
        RepoPath::parse(bytes).map_err(|e| name_error(&String::from_utf8_lossy(bytes), e))
    }
}

/// A tree path as Python sees it: a `str`, decoded as the file system
/// decodes names.
pub(crate) fn path_text(path: &RepoPath) -> OsString {
    OsString::from_vec(path.to_bytes())
}

/// A name inside a directory, as [`path_text`].
pub(crate) fn name_text(name: &[u8]) -> OsString {
    std::ffi::OsStr::from_bytes(name).to_os_string()
}

/// `"memory"`, `"async"` or `"sync"`.
pub(crate) fn durability(name: &str) -> PyResult<Durability> {
    match name {
        "memory" => Ok(Durability::Memory),
        "async" => Ok(Durability::Async),
        "sync" => Ok(Durability::Sync),
        other => Err(InvalidInput::new_err(format!(
            "durability {other:?}: expected \"memory\", \"async\" or \"sync\""
        ))),
    }
}

/// The kind names `helios ls --json` prints.
pub(crate) fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Executable => "exec",
        EntryKind::Symlink => "link",
        EntryKind::Dir => "dir",
    }
}

/// Seconds as a float, the unit of `time.perf_counter()`.
pub(crate) fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}
