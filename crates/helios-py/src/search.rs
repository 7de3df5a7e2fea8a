//! `helios.mcts.Search`: the Rust search (`helios_mcts::Mcts`) driving a
//! Python environment ([`PyEnv`]) over plain working directories, one per
//! evaluation worker.
//!
//! `Mcts` borrows the engine for its lifetime, so a `Search` holds its
//! configuration and runs one whole search inside `run` (GIL released,
//! taken back for each callback); what the search found comes back as a
//! `SearchResult` of plain records. Left out, and why: overlay mode (the
//! search's `OverlayWorkdir` needs mount rights; plain mode works
//! everywhere), resuming a search after `run` returns (the tree of
//! `Mcts` cannot outlive the call without a self-referential type), and
//! a custom `is_terminal` (a state is terminal when solved or at
//! `max_depth`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use helios_engine::HeliosEngine;
use helios_mcts::{
    CostScope, CostWeights, Distribution, FsWorkdir, Mcts, Node, Policy, SearchConfig, Telemetry,
};
use helios_vst::Vst;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{durability as parse_durability, seconds};
use crate::env::{ErrorSlot, PyAction, PyEnv, keep_error};
use crate::errors::{InvalidInput, engine_error, mcts_error};
use crate::records::CommitMetrics;
use crate::store::Store;
use crate::tree::Tree;

/// Where a search starts: a tree, or a snapshot name.
#[derive(FromPyObject)]
enum RootArg<'py> {
    Tree(PyRef<'py, Tree>),
    Name(String),
}

/// A Monte Carlo Tree Search whose nodes are snapshots of this store.
#[pyclass(frozen, module = "helios.mcts")]
pub(crate) struct Search {
    engine: Arc<HeliosEngine>,
    env: Py<PyAny>,
    root: Vst,
    workdir: PathBuf,
    config: SearchConfig,
    ran: AtomicBool,
}

#[pymethods]
impl Search {
    /// A search of `env` from `root` (a `Tree` or a snapshot name), scoring
    /// every node in `workdir` (created if missing; it must be empty). With
    /// `workers` above 1, that many threads score nodes at once, each in a
    /// subdirectory `worker-N` of `workdir`, calling `env.score` from
    /// several threads (each takes the GIL for the call; a scorer that
    /// runs a subprocess or releases the GIL runs in parallel). The
    /// reward of a node is `code_reward - engine_cost` with `engine_cost =
    /// commit latency (µs) × cost_per_us + new objects × cost_per_object`,
    /// summed along the path (`cost_scope="path"`) or for the node's own
    /// commit (`"node"`).
    #[new]
    #[pyo3(signature = (
        store, env, root, workdir, *,
        max_nodes = 100, max_depth = 8, policy = "uct", exploration = std::f64::consts::SQRT_2,
        cost_per_us = 0.01, cost_per_object = 0.1, cost_scope = "path", durability = "async",
        keep_best_children = Some(4), prune_min_visits = 2, max_live_nodes = Some(400),
        gc_every = Some(250), cache_scores = true, seed = 0, workers = 1,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store: &Store,
        env: Py<PyAny>,
        root: RootArg<'_>,
        workdir: PathBuf,
        max_nodes: usize,
        max_depth: usize,
        policy: &str,
        exploration: f64,
        cost_per_us: f64,
        cost_per_object: f64,
        cost_scope: &str,
        durability: &str,
        keep_best_children: Option<usize>,
        prune_min_visits: u64,
        max_live_nodes: Option<usize>,
        gc_every: Option<usize>,
        cache_scores: bool,
        seed: u64,
        workers: usize,
    ) -> PyResult<Search> {
        let engine = Arc::clone(store.engine());
        let policy = match policy {
            "uct" => Policy::Uct { exploration },
            "puct" => Policy::Puct { exploration },
            other => {
                return Err(InvalidInput::new_err(format!(
                    "policy {other:?}: expected \"uct\" or \"puct\""
                )));
            }
        };
        let cost_scope = match cost_scope {
            "path" => CostScope::Path,
            "node" => CostScope::Node,
            other => {
                return Err(InvalidInput::new_err(format!(
                    "cost_scope {other:?}: expected \"path\" or \"node\""
                )));
            }
        };
        let config = SearchConfig {
            max_nodes,
            policy,
            weights: CostWeights {
                per_latency_us: cost_per_us,
                per_new_object: cost_per_object,
            },
            cost_scope,
            durability: parse_durability(durability)?,
            max_depth,
            keep_best_children,
            prune_min_visits,
            max_live_nodes,
            gc_every,
            cache_scores,
            seed,
            workers,
        };
        config.validate().map_err(mcts_error)?;
        let root = match root {
            RootArg::Tree(tree) => tree.snapshot_state().vst,
            RootArg::Name(name) => py
                .detach(|| engine.restore(&engine.resolve_name(&name)?))
                .map_err(engine_error)?,
        };
        Ok(Search {
            engine,
            env,
            root,
            workdir,
            config,
            ran: AtomicBool::new(false),
        })
    }

    /// Runs the search until `max_nodes` nodes were made or nothing is
    /// left to try; once per `Search`. `progress(done, total)` is called
    /// after each node. Ctrl-C, or an exception from the environment or
    /// `progress`, stops it between two nodes and is raised here.
    /// `release=True` unpins every node at the end (as `helios demo`
    /// does), so the next gc reclaims them: pin or ref what you keep.
    #[pyo3(signature = (progress = None, release = true))]
    fn run(
        &self,
        py: Python<'_>,
        progress: Option<Py<PyAny>>,
        release: bool,
    ) -> PyResult<SearchResult> {
        if self.ran.swap(true, Ordering::SeqCst) {
            return Err(InvalidInput::new_err(
                "this search has run; make a new Search to search again",
            ));
        }
        let error: ErrorSlot = Arc::new(Mutex::new(None));
        let env = PyEnv::new(
            self.env.clone_ref(py),
            Arc::clone(&self.engine),
            Arc::clone(&error),
        );
        let outcome = py.detach(|| self.search(env, progress.as_ref(), &error, release));
        if let Some(e) = error.lock().unwrap_or_else(PoisonError::into_inner).take() {
            return Err(e);
        }
        outcome
    }
}

impl Search {
    /// The whole search, without the GIL.
    fn search(
        &self,
        env: PyEnv,
        progress: Option<&Py<PyAny>>,
        error: &ErrorSlot,
        release: bool,
    ) -> PyResult<SearchResult> {
        let workdirs = match self.config.workers {
            1 => vec![FsWorkdir::new(&self.engine, &self.workdir)],
            n => (0..n)
                .map(|i| FsWorkdir::new(&self.engine, self.workdir.join(format!("worker-{i}"))))
                .collect(),
        };
        let workdirs = workdirs
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(mcts_error)?;
        let mut mcts = Mcts::with_workdirs(
            &self.engine,
            env,
            workdirs,
            self.root.clone(),
            self.config.clone(),
        )
        .map_err(mcts_error)?;
        let report = |done: usize, total: usize| {
            if let Some(callback) = progress {
                Python::attach(|py| {
                    if let Err(e) = callback.call1(py, (done, total)) {
                        keep_error(error, e);
                    }
                });
            }
        };
        let stop = || {
            Python::attach(|py| {
                if let Err(e) = py.check_signals() {
                    keep_error(error, e);
                }
            });
            error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some()
        };
        let ran = mcts.run_until(&report, &stop);
        let result = Python::attach(|py| SearchResult::of(py, &mcts));
        if release {
            mcts.release().map_err(mcts_error)?;
        }
        ran.map_err(mcts_error)?;
        result
    }
}

/// One node of a finished search.
#[pyclass(frozen, get_all, module = "helios.mcts", name = "Node")]
pub(crate) struct SearchNode {
    /// Its index (the root is 0).
    id: usize,
    /// Its parent's index (None for the root).
    parent: Option<usize>,
    /// The action that made it (None for the root).
    action: Option<Py<PyAny>>,
    /// Actions from the root.
    depth: usize,
    /// The snapshot committed for it, hex.
    snapshot: String,
    /// What its commit cost.
    commit: CommitMetrics,
    /// The engine cost in its reward.
    engine_cost: f64,
    /// The environment's score.
    code_reward: f64,
    /// `code_reward - engine_cost`.
    total_reward: f64,
    /// The environment said the task is done.
    solved: bool,
    /// No action is taken from it.
    terminal: bool,
    /// Times a reward was backed up through it.
    visits: u64,
    /// Mean backed-up reward.
    mean: f64,
    /// Seconds to switch the working directory to it.
    switch_latency: f64,
    /// Seconds the scorer ran (None when the score came from the cache).
    scorer_latency: Option<f64>,
    /// Still pinned by the search (False once pruned or released).
    pinned: bool,
}

impl SearchNode {
    fn of(py: Python<'_>, n: &Node<PyAction>, pinned: bool) -> Self {
        SearchNode {
            id: n.id.0,
            parent: n.parent.map(|p| p.0),
            action: n.action.as_ref().map(|a| a.object.clone_ref(py)),
            depth: n.depth,
            snapshot: n.snapshot.to_hex(),
            commit: CommitMetrics::of_tree(&n.commit),
            engine_cost: n.engine_cost,
            code_reward: n.code_reward,
            total_reward: n.total_reward,
            solved: n.solved,
            terminal: n.terminal,
            visits: n.visits,
            mean: n.mean(),
            switch_latency: seconds(n.switch_latency),
            scorer_latency: n.scorer_latency.map(seconds),
            pinned,
        }
    }
}

#[pymethods]
impl SearchNode {
    fn __repr__(&self) -> String {
        format!(
            "Node(id={}, depth={}, total_reward={:.3}, solved={})",
            self.id,
            self.depth,
            self.total_reward,
            if self.solved { "True" } else { "False" }
        )
    }
}

/// What a search found.
#[pyclass(frozen, get_all, module = "helios.mcts")]
pub(crate) struct SearchResult {
    /// Every node made, live or pruned, by id.
    nodes: Vec<Py<SearchNode>>,
    /// The node with the highest total reward (earliest on ties).
    best: Py<SearchNode>,
    /// Nodes from the root to `best`.
    best_path: Vec<Py<SearchNode>>,
    /// What the search measured (per-node distributions, totals).
    telemetry: Py<PyDict>,
    /// The same, as the report `helios demo` prints.
    summary: String,
}

impl SearchResult {
    fn of(py: Python<'_>, mcts: &Mcts<'_, PyEnv, FsWorkdir<'_>>) -> PyResult<SearchResult> {
        let nodes = mcts
            .nodes()
            .iter()
            .map(|n| Py::new(py, SearchNode::of(py, n, n.pinned)))
            .collect::<PyResult<Vec<_>>>()?;
        let best = mcts.best();
        let best_path = mcts
            .path_to(best)
            .map_err(mcts_error)?
            .iter()
            .map(|id| nodes[id.0].clone_ref(py))
            .collect();
        let telemetry = mcts.telemetry();
        Ok(SearchResult {
            best: nodes[best.0].clone_ref(py),
            nodes,
            best_path,
            telemetry: telemetry_dict(py, &telemetry)?.unbind(),
            summary: telemetry.render(),
        })
    }
}

#[pymethods]
impl SearchResult {
    /// The actions from the root to the best node.
    #[getter]
    fn best_actions(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        self.best_path
            .iter()
            .filter_map(|n| n.get().action.as_ref().map(|a| a.clone_ref(py)))
            .collect()
    }

    /// Whether any node solved the task.
    #[getter]
    fn solved(&self) -> bool {
        self.best.get().solved
    }

    fn __repr__(&self) -> String {
        let best = self.best.get();
        format!(
            "SearchResult(nodes={}, best={}, total_reward={:.3}, solved={})",
            self.nodes.len(),
            best.id,
            best.total_reward,
            if best.solved { "True" } else { "False" }
        )
    }
}

fn telemetry_dict<'py>(py: Python<'py>, t: &Telemetry) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (key, value) in [
        ("nodes", t.nodes),
        ("iterations", t.iterations),
        ("scorer_runs", t.scorer_runs),
        ("score_cache_hits", t.score_cache_hits),
        ("live_nodes", t.live_nodes),
        ("peak_live_nodes", t.peak_live_nodes),
        ("pruned_nodes", t.pruned_nodes),
        ("gc_runs", t.gc_runs),
        ("gc_objects_reclaimed", t.gc_objects_reclaimed),
        ("gc_bytes_reclaimed", t.gc_bytes_reclaimed),
    ] {
        d.set_item(key, value)?;
    }
    d.set_item("wall_seconds", t.wall_seconds)?;
    d.set_item("workers", t.workers)?;
    d.set_item("nodes_per_second", t.nodes_per_second())?;
    d.set_item("engine_cost_share", t.engine_cost_share)?;
    for (key, dist) in [
        ("commit_latency_us", &t.commit_latency_us),
        ("new_objects", &t.new_objects),
        ("new_bytes", &t.new_bytes),
        ("switch_latency_us", &t.switch_latency_us),
        ("switch_files", &t.switch_files),
        ("scorer_latency_us", &t.scorer_latency_us),
        ("engine_cost", &t.engine_cost),
        ("code_reward", &t.code_reward),
    ] {
        d.set_item(key, distribution_dict(py, dist)?)?;
    }
    Ok(d)
}

fn distribution_dict<'py>(py: Python<'py>, x: &Distribution) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("count", x.count)?;
    for (key, value) in [
        ("p50", x.p50),
        ("p90", x.p90),
        ("p99", x.p99),
        ("max", x.max),
        ("mean", x.mean),
        ("sum", x.sum),
    ] {
        d.set_item(key, value)?;
    }
    Ok(d)
}
