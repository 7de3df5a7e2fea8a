//! `helios.Store`: the engine, embedded in the Python process.
//!
//! Every method releases the GIL while the engine works (`run`), so
//! Python threads commit, switch and read in parallel; the engine is
//! `Send + Sync` and shared behind an `Arc` by the store and its trees.
//! Snapshot arguments are names as `helios` takes them — a ref, a full
//! hex id or a unique prefix of at least 4 hex digits — resolved by the
//! engine's `resolve_name`; ids come back as full hex strings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use helios_engine::{CommitMeta, EngineConfig, EngineResult, HeliosEngine};
use helios_types::SnapshotId;
use helios_vst::Vst;
use helios_workdir::{CaptureOptions, CheckoutOptions};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::convert::{PathArg, durability as parse_durability, name_text};
use crate::errors::engine_error;
use crate::records::{
    Change, CommitMetrics, Entry, GcReport, Mounted, Report, Snapshot, VerifyReport, stats_dict,
};
use crate::tree::Tree;

/// A Helios store, opened in this process.
#[pyclass(frozen, module = "helios")]
pub(crate) struct Store {
    engine: Arc<HeliosEngine>,
}

impl Store {
    /// The engine, shared with trees and searches.
    pub(crate) fn engine(&self) -> &Arc<HeliosEngine> {
        &self.engine
    }

    /// Runs `f` on the engine with the GIL released.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&HeliosEngine) -> EngineResult<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| f(&self.engine)).map_err(engine_error)
    }
}

/// What a commit records besides the tree, from Python arguments.
fn meta(
    parents: Vec<SnapshotId>,
    message: String,
    metadata: Option<BTreeMap<String, String>>,
    pin: bool,
) -> CommitMeta {
    CommitMeta {
        parents,
        label: message,
        metadata: metadata.unwrap_or_default(),
        pin,
    }
}

#[pymethods]
impl Store {
    /// Opens the store at `path` (creating it if missing unless
    /// `create=False`). `read_only=True` takes no lock and writes nothing,
    /// beside a running writer. `cache_bytes` sizes the in-memory object
    /// cache (L1; 256 MiB by default).
    #[staticmethod]
    #[pyo3(signature = (path, create = true, read_only = false, cache_bytes = None))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        create: bool,
        read_only: bool,
        cache_bytes: Option<usize>,
    ) -> PyResult<Store> {
        let mut config = EngineConfig {
            create_if_missing: create && !read_only,
            ..EngineConfig::default()
        };
        config.rocks.read_only = read_only;
        if let Some(bytes) = cache_bytes {
            config.l1.capacity = bytes;
        }
        let engine = py
            .detach(|| HeliosEngine::open(&path, config))
            .map_err(engine_error)?;
        Ok(Store {
            engine: Arc::new(engine),
        })
    }

    /// A store held in memory only (tests, throwaway searches): everything
    /// is lost when it is closed or dropped.
    #[staticmethod]
    fn in_memory(py: Python<'_>) -> PyResult<Store> {
        let engine = py
            .detach(|| HeliosEngine::in_memory(EngineConfig::small()))
            .map_err(engine_error)?;
        Ok(Store {
            engine: Arc::new(engine),
        })
    }

    /// The store's directory (None in memory).
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.engine.path().map(PathBuf::from)
    }

    /// Writes what is queued and closes the store; later calls raise
    /// `helios.Closed`. Closing twice is harmless.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, HeliosEngine::close)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.close(py)
    }

    /// Waits until everything committed so far is durable on disk.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, HeliosEngine::flush)
    }

    /// Snapshots the working directory `workdir`: reads what changed since
    /// the snapshot it holds (stat cache) and commits it as a child of
    /// that snapshot. Returns `(id, metrics)`.
    ///
    /// `durability`: "memory" (this process only), "async" (queued to
    /// disk; the default) or "sync" (on disk, WAL synced, when it returns).
    #[pyo3(signature = (workdir, message = String::new(), durability = "async", *, pin = false, metadata = None, gitignore = false))]
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        py: Python<'_>,
        workdir: PathBuf,
        message: String,
        durability: &str,
        pin: bool,
        metadata: Option<BTreeMap<String, String>>,
        gitignore: bool,
    ) -> PyResult<(String, CommitMetrics)> {
        let durability = parse_durability(durability)?;
        self.run(py, |engine| {
            let options = CaptureOptions {
                gitignore,
                ..CaptureOptions::default()
            };
            // The parent is the snapshot the directory held.
            let meta = meta(Vec::new(), message, metadata, pin);
            let c = engine.commit_workdir(&workdir, &options, durability, meta)?;
            let capture_s = c.capture_latency.as_secs_f64();
            Ok((
                c.id.to_hex(),
                CommitMetrics::of_capture(&c.metrics, &c.report, capture_s),
            ))
        })
    }

    /// Commits an in-memory tree. Its parent is the snapshot the tree was
    /// restored from or last committed as, unless `parents` names others
    /// (`[]` for none); afterwards the tree's base is the new snapshot.
    #[pyo3(signature = (tree, message = String::new(), durability = "async", *, parents = None, pin = false, metadata = None))]
    #[allow(clippy::too_many_arguments)]
    fn commit_tree(
        &self,
        py: Python<'_>,
        tree: &Tree,
        message: String,
        durability: &str,
        parents: Option<Vec<String>>,
        pin: bool,
        metadata: Option<BTreeMap<String, String>>,
    ) -> PyResult<(String, CommitMetrics)> {
        let durability = parse_durability(durability)?;
        if !tree.belongs_to(&self.engine) {
            return Err(crate::errors::InvalidInput::new_err(
                "this tree belongs to another store",
            ));
        }
        let state = tree.snapshot_state();
        let (id, m) = self.run(py, |engine| {
            let parents = match parents {
                Some(names) => names
                    .iter()
                    .map(|n| engine.resolve_name(n))
                    .collect::<EngineResult<Vec<_>>>()?,
                None => state.base.into_iter().collect(),
            };
            engine.commit(
                &state.vst,
                durability,
                meta(parents, message, metadata, pin),
            )
        })?;
        tree.committed_as(&state.vst, id);
        Ok((id.to_hex(), CommitMetrics::of_tree(&m)))
    }

    /// The tree of snapshot `id` (O(1) for a snapshot this process holds),
    /// or a new empty tree when `id` is None.
    #[pyo3(signature = (id = None))]
    fn tree(&self, py: Python<'_>, id: Option<&str>) -> PyResult<Tree> {
        let (vst, base) = self.run(py, |engine| match id {
            Some(name) => {
                let id = engine.resolve_name(name)?;
                Ok((engine.restore(&id)?, Some(id)))
            }
            None => Ok((engine.empty_tree(), None)),
        })?;
        Ok(Tree::new(Arc::clone(&self.engine), vst, base))
    }

    /// Makes `workdir` hold exactly snapshot `id`, writing only what
    /// differs from what it held. Files the store does not know, or
    /// changed since, make it raise `helios.WouldLoseFiles` (nothing is
    /// written) unless `force=True` discards them. `full=True` scans the
    /// whole directory instead of trusting its recorded state.
    #[pyo3(signature = (id, workdir, force = false, full = false))]
    fn checkout(
        &self,
        py: Python<'_>,
        id: &str,
        workdir: PathBuf,
        force: bool,
        full: bool,
    ) -> PyResult<Report> {
        let options = CheckoutOptions {
            force,
            full,
            ..CheckoutOptions::default()
        };
        let report = self.run(py, |engine| {
            let id = engine.resolve_name(id)?;
            engine.checkout(&id, &workdir, &options, &|_, _| {})
        })?;
        Ok(Report::from(&report))
    }

    /// Writes snapshot `id` into the empty (or missing) directory `dir`.
    fn materialize(&self, py: Python<'_>, id: &str, dir: PathBuf) -> PyResult<Report> {
        let report = self.run(py, |engine| {
            let id = engine.resolve_name(id)?;
            engine.materialize(&id, &dir, &|_| true, &|_, _| {})
        })?;
        Ok(Report::from(&report))
    }

    /// What changed from snapshot `a` to snapshot `b`.
    fn diff(&self, py: Python<'_>, a: &str, b: &str) -> PyResult<Vec<Change>> {
        let changes = self.run(py, |engine| {
            engine.diff(&engine.resolve_name(a)?, &engine.resolve_name(b)?)
        })?;
        Ok(changes.iter().map(Change::from).collect())
    }

    /// Snapshot `id` and its first-parent ancestors, newest first.
    #[pyo3(signature = (id, limit = 100))]
    fn log(&self, py: Python<'_>, id: &str, limit: usize) -> PyResult<Vec<Snapshot>> {
        let entries = self.run(py, |engine| engine.log(&engine.resolve_name(id)?, limit))?;
        Ok(entries.iter().map(|(id, s)| Snapshot::new(id, s)).collect())
    }

    /// Every snapshot, stored or held in memory.
    fn snapshots(&self, py: Python<'_>) -> PyResult<Vec<Snapshot>> {
        let entries = self.run(py, HeliosEngine::list_snapshots)?;
        Ok(entries.iter().map(|(id, s)| Snapshot::new(id, s)).collect())
    }

    /// Snapshot `id`'s record.
    fn show(&self, py: Python<'_>, id: &str) -> PyResult<Snapshot> {
        let (id, s) = self.run(py, |engine| {
            let id = engine.resolve_name(id)?;
            Ok((id, engine.snapshot(&id)?))
        })?;
        Ok(Snapshot::new(&id, &s))
    }

    /// The entries of directory `path` (the root by default) in snapshot
    /// `id`.
    #[pyo3(signature = (id, path = None))]
    fn ls(&self, py: Python<'_>, id: &str, path: Option<PathArg>) -> PyResult<Vec<Entry>> {
        let dir = match path {
            Some(p) => p.repo_path()?,
            None => helios_types::RepoPath::root(),
        };
        let entries = self.run(py, |engine| {
            let vst = engine.restore(&engine.resolve_name(id)?)?;
            Ok(vst.list(&dir)?)
        })?;
        Ok(entries
            .iter()
            .map(|(n, e)| Entry::new(name_text(n.as_bytes()), e))
            .collect())
    }

    /// The content of the file at `path` in snapshot `id`.
    fn read<'py>(&self, py: Python<'py>, id: &str, path: PathArg) -> PyResult<Bound<'py, PyBytes>> {
        self.read_range(py, id, path, 0, u64::MAX)
    }

    /// Bytes `start..end` of the file at `path` in snapshot `id` (clamped
    /// to its end); of a large file only the chunks the range touches are
    /// read.
    fn read_range<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        path: PathArg,
        start: u64,
        end: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let path = path.repo_path()?;
        let bytes = self.run(py, |engine| {
            let vst: Vst = engine.restore(&engine.resolve_name(id)?)?;
            engine.read_file(&vst, &path, start..end.max(start))
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The full id a ref, id or unique id prefix names.
    fn resolve(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        Ok(self.run(py, |engine| engine.resolve_name(name))?.to_hex())
    }

    /// The snapshot working directory `workdir` holds, if the store knows.
    fn head(&self, py: Python<'_>, workdir: PathBuf) -> PyResult<Option<String>> {
        let id = self.run(py, |engine| engine.workdir_head(&workdir))?;
        Ok(id.map(|id| id.to_hex()))
    }

    /// Every ref: name -> id.
    fn refs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let refs = self.run(py, HeliosEngine::refs)?;
        let d = PyDict::new(py);
        for (name, id) in refs {
            d.set_item(name, id.to_hex())?;
        }
        Ok(d)
    }

    /// The id ref `name` points at, or None.
    fn get_ref(&self, py: Python<'_>, name: &str) -> PyResult<Option<String>> {
        let id = self.run(py, |engine| engine.get_ref(name))?;
        Ok(id.map(|id| id.to_hex()))
    }

    /// Points ref `name` at snapshot `id` (durably; the snapshot must not
    /// be memory-only).
    fn set_ref(&self, py: Python<'_>, name: &str, id: &str) -> PyResult<()> {
        self.run(py, |engine| engine.set_ref(name, &engine.resolve_name(id)?))
    }

    /// Deletes ref `name`; True if it existed.
    fn delete_ref(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        self.run(py, |engine| engine.delete_ref(name))
    }

    /// Moves ref `name` to `new` only if it still points at `expected`
    /// (None: only if it does not exist). True if it moved.
    fn compare_and_swap_ref(
        &self,
        py: Python<'_>,
        name: &str,
        expected: Option<&str>,
        new: &str,
    ) -> PyResult<bool> {
        self.run(py, |engine| {
            let expected = expected.map(|e| engine.resolve_name(e)).transpose()?;
            engine.compare_and_swap_ref(name, expected, &engine.resolve_name(new)?)
        })
    }

    /// Keeps snapshot `id` (and what it references) from gc. Pins nest.
    fn pin(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        self.run(py, |engine| engine.pin(&engine.resolve_name(id)?))
    }

    /// Undoes one `pin`.
    fn unpin(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        self.run(py, |engine| engine.unpin(&engine.resolve_name(id)?))
    }

    /// Deletes what no ref, pin or working directory reaches.
    fn gc(&self, py: Python<'_>) -> PyResult<GcReport> {
        Ok(GcReport::from(&self.run(py, HeliosEngine::gc)?))
    }

    /// Rereads and rehashes every object beneath snapshot `id` from disk;
    /// raises (`helios.Corrupt`, ...) on damage.
    fn verify(&self, py: Python<'_>, id: &str) -> PyResult<VerifyReport> {
        let report = self.run(py, |engine| engine.verify(&engine.resolve_name(id)?))?;
        Ok(VerifyReport::new(&[report], Vec::new()))
    }

    /// `verify` of every stored snapshot, as `helios fsck`: damage is
    /// listed in the report's `damaged`, not raised.
    fn fsck(&self, py: Python<'_>) -> PyResult<VerifyReport> {
        let (reports, damaged) = self.run(py, |engine| {
            let mut reports = Vec::new();
            let mut damaged = Vec::new();
            for (id, _) in engine.list_snapshots()? {
                match engine.verify(&id) {
                    Ok(r) => reports.push(r),
                    // Memory-only snapshots have nothing on disk to check.
                    Err(helios_engine::EngineError::NotDurable(_)) => {}
                    Err(e) => damaged.push((id.to_hex(), e.to_string())),
                }
            }
            Ok((reports, damaged))
        })?;
        Ok(VerifyReport::new(&reports, damaged))
    }

    /// The engine's counters and latency percentiles (seconds).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = py.detach(|| self.engine.stats());
        stats_dict(py, &stats)
    }

    /// Watches the working directory `workdir` (inotify) while the store
    /// is open, so each `commit` of it reads only what changed instead of
    /// `lstat`ing every file. False when it was watched already; raises
    /// `helios.HeliosError` where inotify is unavailable or out of watches
    /// (commits then scan, as without a watcher).
    fn watch(&self, py: Python<'_>, workdir: PathBuf) -> PyResult<bool> {
        self.run(py, |engine| engine.watch(&workdir))
    }

    /// Stops watching `workdir`; False when it was not watched.
    fn unwatch(&self, py: Python<'_>, workdir: PathBuf) -> PyResult<bool> {
        self.run(py, |engine| engine.unwatch(&workdir))
    }

    /// Makes `dir` hold snapshot `id` as an overlay mount that outlives
    /// this process (see `umount`); where overlayfs may not be mounted,
    /// checks it out instead (the result says which).
    fn mount(&self, py: Python<'_>, id: &str, dir: PathBuf) -> PyResult<Mounted> {
        let mounted = self.run(py, |engine| {
            engine.mount(&engine.resolve_name(id)?, &dir, &|_, _| {})
        })?;
        Ok(Mounted::from(&mounted))
    }

    /// Unmounts an overlay `mount` made and removes its upper layer;
    /// refuses anything else.
    fn umount(&self, py: Python<'_>, dir: PathBuf) -> PyResult<()> {
        self.run(py, |engine| engine.unmount(&dir))
    }

    fn __repr__(&self) -> String {
        match self.engine.path() {
            Some(p) => format!("Store({:?})", p.display().to_string()),
            None => "Store(in_memory)".to_owned(),
        }
    }
}
