//! `helios.Tree`: an in-memory tree (the engine's L0 `Vst`) that Python
//! edits as bytes and commits without touching a directory — the fastest
//! path for agents that apply edits as patches.
//!
//! A `Tree` is mutable from Python (`write`, `delete` replace its `Vst`
//! with the edited one); `fork` is a clone of the `Vst`, O(1), sharing
//! every directory until one side edits it. The `Vst` sits behind a mutex
//! so one `Tree` may be used from several threads; edits run with the GIL
//! released, since hashing a large write costs its bytes.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use helios_engine::HeliosEngine;
use helios_types::{RepoPath, SnapshotId};
use helios_vst::{Edit, Vst};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMapping};

use crate::convert::{PathArg, name_text, path_text};
use crate::errors::{engine_error, vst_error};
use crate::records::{Change, Entry};

/// What a `Tree` holds: the tree, and the snapshot it was last restored
/// from or committed as (the parent of its next commit).
#[derive(Clone)]
pub(crate) struct TreeState {
    pub(crate) vst: Vst,
    pub(crate) base: Option<SnapshotId>,
}

/// An in-memory tree of files, forked in O(1) and edited as bytes.
#[pyclass(frozen, module = "helios")]
pub(crate) struct Tree {
    engine: Arc<HeliosEngine>,
    state: Mutex<TreeState>,
}

impl Tree {
    pub(crate) fn new(engine: Arc<HeliosEngine>, vst: Vst, base: Option<SnapshotId>) -> Self {
        Tree {
            engine,
            state: Mutex::new(TreeState { vst, base }),
        }
    }

    /// The tree and its base now (a clone: O(1)).
    pub(crate) fn snapshot_state(&self) -> TreeState {
        self.lock().clone()
    }

    /// Makes the tree's base `id` (after it was committed as `id`),
    /// unless it was edited meanwhile.
    pub(crate) fn committed_as(&self, committed: &Vst, id: SnapshotId) {
        let mut state = self.lock();
        if state.vst.ptr_eq(committed) {
            state.base = Some(id);
        }
    }

    /// Whether `engine` is the store this tree belongs to.
    pub(crate) fn belongs_to(&self, engine: &Arc<HeliosEngine>) -> bool {
        Arc::ptr_eq(&self.engine, engine)
    }

    fn lock(&self) -> MutexGuard<'_, TreeState> {
        // Every critical section only swaps a value in: a panic cannot
        // leave the state half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn vst(&self) -> Vst {
        self.lock().vst.clone()
    }

    /// Applies `edits` as one all-or-nothing batch, without the GIL.
    fn edit(&self, py: Python<'_>, edits: Vec<Edit>) -> PyResult<()> {
        py.detach(|| {
            let mut state = self.lock();
            state.vst = state.vst.apply(&edits)?;
            Ok::<_, helios_vst::VstError>(())
        })
        .map_err(vst_error)
    }
}

/// The edits a mapping of `path -> bytes | None` makes: bytes write a
/// regular file (creating parents), None deletes the entry and anything
/// beneath it.
pub(crate) fn edits_of(mapping: &Bound<'_, PyMapping>) -> PyResult<Vec<Edit>> {
    let items = mapping.items()?;
    let mut edits = Vec::with_capacity(items.len());
    for item in items.iter() {
        let (key, value): (PathArg, Bound<'_, PyAny>) = item.extract()?;
        let path = key.repo_path()?;
        if value.is_none() {
            edits.push(Edit::delete_tree(path));
        } else {
            edits.push(Edit::file(path, value.extract::<Vec<u8>>()?));
        }
    }
    Ok(edits)
}

#[pymethods]
impl Tree {
    /// A copy of this tree, in O(1): the two share every directory until
    /// one of them is edited. Edits to either never show in the other.
    fn fork(&self) -> Tree {
        Tree {
            engine: Arc::clone(&self.engine),
            state: Mutex::new(self.snapshot_state()),
        }
    }

    /// Writes a regular file (`executable=True`: with the executable bit),
    /// creating missing parent directories and replacing a file there.
    #[pyo3(signature = (path, data, executable = false))]
    fn write(&self, py: Python<'_>, path: PathArg, data: &[u8], executable: bool) -> PyResult<()> {
        let path = path.repo_path()?;
        let edit = if executable {
            Edit::executable(path, data)
        } else {
            Edit::file(path, data)
        };
        self.edit(py, vec![edit])
    }

    /// Makes a symlink at `path` pointing at `target`.
    fn symlink(&self, py: Python<'_>, path: PathArg, target: PathArg) -> PyResult<()> {
        let path = path.repo_path()?;
        let target = match target {
            PathArg::Text(t) => t.into_encoded_bytes(),
            PathArg::Bytes(b) => b,
        };
        self.edit(py, vec![Edit::symlink(path, target)])
    }

    /// Creates a directory and its missing parents (an existing one is
    /// left as it is).
    fn mkdir(&self, py: Python<'_>, path: PathArg) -> PyResult<()> {
        let path = path.repo_path()?;
        self.edit(py, vec![Edit::make_dir(path)])
    }

    /// Deletes a file, symlink or directory (with everything beneath it);
    /// `helios.NotFound` if nothing is there.
    fn delete(&self, py: Python<'_>, path: PathArg) -> PyResult<()> {
        let path = path.repo_path()?;
        self.edit(py, vec![Edit::delete_tree(path)])
    }

    /// Applies `{path: bytes | None}` as one batch, all or nothing: bytes
    /// write a regular file, None deletes. One call for many edits.
    fn apply(&self, py: Python<'_>, edits: &Bound<'_, PyMapping>) -> PyResult<()> {
        let edits = edits_of(edits)?;
        self.edit(py, edits)
    }

    /// The content of the file (or symlink target) at `path`.
    fn read<'py>(&self, py: Python<'py>, path: PathArg) -> PyResult<Bound<'py, PyBytes>> {
        self.read_range(py, path, 0, u64::MAX)
    }

    /// Bytes `start..end` of the file at `path` (clamped to its end);
    /// only the chunks of a large file that the range touches are read.
    fn read_range<'py>(
        &self,
        py: Python<'py>,
        path: PathArg,
        start: u64,
        end: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let path = path.repo_path()?;
        let vst = self.vst();
        let bytes = py
            .detach(|| self.engine.read_file(&vst, &path, start..end.max(start)))
            .map_err(engine_error)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The entry at `path`, or None when nothing is there.
    fn stat(&self, path: PathArg) -> PyResult<Option<Entry>> {
        let path = path.repo_path()?;
        let entry = self.vst().get(&path).map_err(vst_error)?;
        Ok(entry.map(|e| Entry::new(path_text(&path), &e)))
    }

    fn __contains__(&self, path: PathArg) -> PyResult<bool> {
        Ok(self.stat(path)?.is_some())
    }

    /// The entries of the directory at `path` (the root by default), by
    /// name.
    #[pyo3(signature = (path = None))]
    fn ls(&self, path: Option<PathArg>) -> PyResult<Vec<Entry>> {
        let path = match path {
            Some(p) => p.repo_path()?,
            None => RepoPath::root(),
        };
        let entries = self.vst().list(&path).map_err(vst_error)?;
        Ok(entries
            .iter()
            .map(|(name, e)| Entry::new(name_text(name.as_bytes()), e))
            .collect())
    }

    /// Every file, executable and symlink path, in order.
    fn files(&self, py: Python<'_>) -> PyResult<Vec<std::ffi::OsString>> {
        let vst = self.vst();
        let files = py.detach(|| vst.files()).map_err(vst_error)?;
        Ok(files.iter().map(|(p, _)| path_text(p)).collect())
    }

    /// What changed from this tree to `other`.
    fn diff(&self, py: Python<'_>, other: &Tree) -> PyResult<Vec<Change>> {
        let (a, b) = (self.vst(), other.vst());
        let changes = py.detach(|| a.diff(&b)).map_err(vst_error)?;
        Ok(changes.iter().map(Change::from).collect())
    }

    /// The root tree's hash, hex: equal trees have equal roots.
    #[getter]
    fn root(&self, py: Python<'_>) -> String {
        let vst = self.vst();
        py.detach(|| vst.root_hash().to_hex())
    }

    /// Bytes of every file in the tree.
    #[getter]
    fn size(&self) -> u64 {
        self.vst().total_size()
    }

    /// The snapshot this tree was restored from or last committed as
    /// (hex), the parent of its next commit; None for a new tree.
    #[getter]
    fn base(&self) -> Option<String> {
        self.lock().base.map(|id| id.to_hex())
    }

    fn __eq__(&self, py: Python<'_>, other: &Tree) -> bool {
        let (a, b) = (self.vst(), other.vst());
        py.detach(|| a.ptr_eq(&b) || a.root_hash() == b.root_hash())
    }

    fn __repr__(&self) -> String {
        let state = self.lock();
        format!(
            "Tree(base={}, size={})",
            state
                .base
                .map_or_else(|| "None".to_owned(), |id| format!("{:?}", id.to_hex())),
            state.vst.total_size()
        )
    }
}
