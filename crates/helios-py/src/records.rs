//! What engine calls return, as small immutable Python objects with named
//! attributes (and a `repr` that shows them): commit metrics, operation
//! reports, tree entries, changes, snapshot records, gc and verify
//! reports, mount outcomes.

use std::collections::BTreeMap;
use std::ffi::OsString;

use helios_engine::{CommitMetrics as EngineMetrics, GcReport as EngineGc, Mounted as EngineMount};
use helios_engine::{EngineStats, LatencySummary, VerifyReport as EngineVerify};
use helios_types::{Snapshot as EngineSnapshot, SnapshotId};
use helios_vst::{Change as VstChange, Entry as VstEntry};
use helios_workdir::Report as EngineReport;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{kind_name, path_text, seconds};

/// What a commit cost.
#[pyclass(frozen, get_all, module = "helios")]
#[derive(Debug, Clone)]
pub(crate) struct CommitMetrics {
    /// Wall time of the engine's commit call, in seconds.
    latency: f64,
    /// Objects the store did not hold before (with the chunks of large
    /// files a working-directory capture stored).
    new_objects: u64,
    /// Encoded bytes of those objects.
    new_bytes: u64,
    /// Seconds spent reading the working directory before the commit (0
    /// for `commit_tree`).
    capture_latency: f64,
}

impl CommitMetrics {
    /// Metrics of a tree commit.
    pub(crate) fn of_tree(m: &EngineMetrics) -> Self {
        CommitMetrics {
            latency: seconds(m.commit_latency),
            new_objects: m.new_objects,
            new_bytes: m.new_objects_size,
            capture_latency: 0.0,
        }
    }

    /// Metrics of a working-directory commit: the capture stored a large
    /// file's chunks itself, so they count as new here too.
    pub(crate) fn of_capture(m: &EngineMetrics, capture: &EngineReport, capture_s: f64) -> Self {
        CommitMetrics {
            latency: seconds(m.commit_latency),
            new_objects: m.new_objects + capture.objects_stored,
            new_bytes: m.new_objects_size + capture.bytes_stored,
            capture_latency: capture_s,
        }
    }
}

#[pymethods]
impl CommitMetrics {
    fn __repr__(&self) -> String {
        format!(
            "CommitMetrics(latency={:.6}, new_objects={}, new_bytes={}, capture_latency={:.6})",
            self.latency, self.new_objects, self.new_bytes, self.capture_latency
        )
    }
}

/// What a checkout, materialize or working-directory commit did.
#[pyclass(frozen, get_all, module = "helios")]
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// Files, executables and symlinks written.
    files_written: u64,
    /// Bytes of those.
    bytes_written: u64,
    /// Directories created.
    dirs_created: u64,
    /// Entries removed (a directory with its content counts once).
    removed: u64,
    /// Entries a scan looked at.
    files_scanned: u64,
    /// Files a scan read and hashed (the rest came from the stat cache).
    files_hashed: u64,
    /// Checkout touched only what differs from what the directory held.
    fast_path: bool,
    /// Why it scanned the whole directory instead, if it did.
    fallback: Option<&'static str>,
}

impl From<&EngineReport> for Report {
    fn from(r: &EngineReport) -> Self {
        Report {
            files_written: r.files_written,
            bytes_written: r.bytes_written,
            dirs_created: r.dirs_created,
            removed: r.removed,
            files_scanned: r.files_scanned,
            files_hashed: r.files_hashed,
            fast_path: r.fast_path,
            fallback: r.fallback,
        }
    }
}

#[pymethods]
impl Report {
    fn __repr__(&self) -> String {
        format!(
            "Report(files_written={}, bytes_written={}, dirs_created={}, removed={}, \
             files_scanned={}, files_hashed={}, fast_path={})",
            self.files_written,
            self.bytes_written,
            self.dirs_created,
            self.removed,
            self.files_scanned,
            self.files_hashed,
            if self.fast_path { "True" } else { "False" }
        )
    }
}

/// One entry of a tree: a file, executable, symlink or directory.
#[pyclass(frozen, get_all, module = "helios")]
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Its name (in a listing) or its path (from `stat` or a change).
    name: OsString,
    /// `"file"`, `"exec"`, `"link"` or `"dir"`.
    kind: &'static str,
    /// A leaf's length, or the bytes beneath a directory.
    size: u64,
    /// Its blob or tree hash, hex.
    hash: String,
}

impl Entry {
    pub(crate) fn new(name: OsString, e: &VstEntry) -> Self {
        Entry {
            name,
            kind: kind_name(e.kind),
            size: e.size,
            hash: e.hash.to_hex(),
        }
    }
}

#[pymethods]
impl Entry {
    fn __repr__(&self) -> String {
        format!(
            "Entry(name={:?}, kind={:?}, size={})",
            self.name.to_string_lossy(),
            self.kind,
            self.size
        )
    }
}

/// One difference between two trees.
#[pyclass(frozen, get_all, module = "helios")]
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// `"added"`, `"deleted"`, `"modified"` or `"type_changed"`.
    kind: &'static str,
    /// The path concerned.
    path: OsString,
    /// The base's entry (`None` when added).
    old: Option<Entry>,
    /// The target's entry (`None` when deleted).
    new: Option<Entry>,
}

impl From<&VstChange> for Change {
    fn from(c: &VstChange) -> Self {
        let path = path_text(c.path());
        let entry = |e: &VstEntry| Some(Entry::new(path.clone(), e));
        let (kind, old, new) = match c {
            VstChange::Added { entry: e, .. } => ("added", None, entry(e)),
            VstChange::Deleted { entry: e, .. } => ("deleted", entry(e), None),
            VstChange::Modified { old, new, .. } => ("modified", entry(old), entry(new)),
            VstChange::TypeChanged { old, new, .. } => ("type_changed", entry(old), entry(new)),
        };
        Change {
            kind,
            path,
            old,
            new,
        }
    }
}

#[pymethods]
impl Change {
    fn __repr__(&self) -> String {
        format!(
            "Change(kind={:?}, path={:?})",
            self.kind,
            self.path.to_string_lossy()
        )
    }
}

/// A snapshot's record.
#[pyclass(frozen, get_all, module = "helios")]
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// Its id, hex.
    id: String,
    /// Its root tree's hash, hex.
    root: String,
    /// The ids it derives from.
    parents: Vec<String>,
    /// When it was made, seconds since the Unix epoch.
    time: f64,
    /// Its label (the commit message).
    label: String,
    /// Its free-form metadata.
    metadata: BTreeMap<String, String>,
}

impl Snapshot {
    pub(crate) fn new(id: &SnapshotId, s: &EngineSnapshot) -> Self {
        Snapshot {
            id: id.to_hex(),
            root: s.root.to_hex(),
            parents: s.parents.iter().map(SnapshotId::to_hex).collect(),
            time: s.time_micros as f64 / 1e6,
            label: s.label.clone(),
            metadata: s.metadata.clone(),
        }
    }
}

#[pymethods]
impl Snapshot {
    fn __repr__(&self) -> String {
        format!(
            "Snapshot(id={:?}, label={:?}, parents={})",
            self.id,
            self.label,
            self.parents.len()
        )
    }
}

/// What a gc deleted.
#[pyclass(frozen, get_all, module = "helios")]
#[derive(Debug, Clone)]
pub(crate) struct GcReport {
    /// Objects found reachable.
    marked: u64,
    /// Objects deleted.
    objects_reclaimed: u64,
    /// Encoded bytes deleted.
    bytes_reclaimed: u64,
    /// Snapshot records deleted.
    snapshots_reclaimed: u64,
}

impl From<&EngineGc> for GcReport {
    fn from(r: &EngineGc) -> Self {
        GcReport {
            marked: r.marked,
            objects_reclaimed: r.objects_reclaimed,
            bytes_reclaimed: r.bytes_reclaimed,
            snapshots_reclaimed: r.snapshots_reclaimed,
        }
    }
}

#[pymethods]
impl GcReport {
    fn __repr__(&self) -> String {
        format!(
            "GcReport(marked={}, objects_reclaimed={}, bytes_reclaimed={}, snapshots_reclaimed={})",
            self.marked, self.objects_reclaimed, self.bytes_reclaimed, self.snapshots_reclaimed
        )
    }
}

/// What `verify` or `fsck` reread from disk and found.
#[pyclass(frozen, get_all, module = "helios")]
#[derive(Debug, Clone)]
pub(crate) struct VerifyReport {
    /// Snapshots checked.
    snapshots: u64,
    /// Trees reread, rehashed and decoded.
    trees: u64,
    /// Blobs reread and rehashed.
    blobs: u64,
    /// Bytes reread.
    bytes: u64,
    /// Trees and files a store that reads through to a remote does not
    /// (wholly) hold: the remote's, not checked here (and not damage).
    remote: u64,
    /// `(id, error message)` of every damaged snapshot (`fsck` only:
    /// `verify` raises instead).
    damaged: Vec<(String, String)>,
}

impl VerifyReport {
    /// Sums the reports of the snapshots checked.
    pub(crate) fn new(reports: &[EngineVerify], damaged: Vec<(String, String)>) -> Self {
        VerifyReport {
            snapshots: (reports.len() + damaged.len()) as u64,
            trees: reports.iter().map(|r| r.trees).sum(),
            blobs: reports.iter().map(|r| r.blobs).sum(),
            bytes: reports.iter().map(|r| r.bytes).sum(),
            remote: reports.iter().map(|r| r.remote).sum(),
            damaged,
        }
    }
}

#[pymethods]
impl VerifyReport {
    /// True when nothing was damaged.
    #[getter]
    fn ok(&self) -> bool {
        self.damaged.is_empty()
    }

    fn __repr__(&self) -> String {
        format!(
            "VerifyReport(snapshots={}, trees={}, blobs={}, bytes={}, remote={}, damaged={})",
            self.snapshots,
            self.trees,
            self.blobs,
            self.bytes,
            self.remote,
            self.damaged.len()
        )
    }
}

/// How `mount` set up a directory.
#[pyclass(frozen, get_all, module = "helios")]
#[derive(Debug, Clone)]
pub(crate) struct Mounted {
    /// True for an overlay mount; False when overlayfs was not allowed
    /// here and the snapshot was checked out instead.
    overlay: bool,
    /// Why no overlay could be mounted (`None` for an overlay).
    reason: Option<String>,
    /// What the fallback checkout wrote (`None` for an overlay).
    report: Option<Report>,
}

impl From<&EngineMount> for Mounted {
    fn from(m: &EngineMount) -> Self {
        match m {
            EngineMount::Overlay => Mounted {
                overlay: true,
                reason: None,
                report: None,
            },
            EngineMount::Checkout { reason, report } => Mounted {
                overlay: false,
                reason: Some(reason.clone()),
                report: Some(report.into()),
            },
        }
    }
}

#[pymethods]
impl Mounted {
    fn __repr__(&self) -> String {
        match &self.reason {
            None => "Mounted(overlay=True)".to_owned(),
            Some(reason) => format!("Mounted(overlay=False, reason={reason:?})"),
        }
    }
}

/// `Store.stats()`: the engine's counters as a dict (latencies in seconds).
pub(crate) fn stats_dict<'py>(py: Python<'py>, s: &EngineStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (key, value) in [
        ("commits", s.commits),
        ("restores", s.restores),
        ("cold_restores", s.cold_restores),
        ("new_objects", s.new_objects),
        ("new_bytes", s.new_bytes),
        ("logical_bytes", s.logical_bytes),
        ("l2_batches", s.l2_batches),
        ("l2_objects_written", s.l2_objects_written),
        ("l2_bytes_written", s.l2_bytes_written),
        ("write_failures", s.write_failures),
        ("in_flight", s.in_flight),
        ("hot_snapshots", s.hot_snapshots),
        ("tombstones", s.tombstones),
        ("l1_objects", s.l1_objects),
        ("l1_hits", s.l1.hits),
        ("l1_misses", s.l1.misses),
        ("l1_bytes", s.l1.arena_used),
        ("l2_objects_estimate", s.l2_objects_estimate),
        ("l2_disk_bytes", s.l2_disk_bytes),
    ] {
        d.set_item(key, value)?;
    }
    d.set_item("dedup_ratio", s.dedup_ratio())?;
    for (key, summary) in [
        ("commit_latency", &s.commit_latency),
        ("restore_latency", &s.restore_latency),
        ("queue_wait", &s.queue_wait),
        ("batch_latency", &s.batch_latency),
    ] {
        d.set_item(key, latency_dict(py, summary)?)?;
    }
    Ok(d)
}

fn latency_dict<'py>(py: Python<'py>, l: &LatencySummary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("count", l.count)?;
    d.set_item("p50", seconds(l.p50))?;
    d.set_item("p90", seconds(l.p90))?;
    d.set_item("p99", seconds(l.p99))?;
    d.set_item("max", seconds(l.max))?;
    Ok(d)
}
