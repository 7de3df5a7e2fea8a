//! A Python object as the search's [`Environment`]: the Rust search calls
//! back into it, taking the GIL for each call and nothing longer.
//!
//! The protocol (see `helios.mcts.Environment` in the stubs):
//!
//! - `actions(tree, history) -> iterable` of actions, or of
//!   `helios.mcts.Proposal(action, prior)` for PUCT priors. An action is
//!   any Python object; `str(action)` labels its commit.
//! - `edits(tree, action) -> {path: bytes | None}`: bytes write a file,
//!   None deletes.
//! - `score(workdir, tree) -> float | (float, bool)`: the code reward of
//!   the directory `workdir`, which holds exactly `tree`, and whether the
//!   task is solved. Equal trees must score equally (scores are cached by
//!   root hash).
//!
//! A callback that raises stops the search between nodes; the exception
//! itself is kept and re-raised to the caller of `Search.run`, so a
//! harness sees its own error, not a translation.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use helios_engine::HeliosEngine;
use helios_mcts::{Environment, MctsError, MctsResult, Proposal as MctsProposal, Score, StateView};
use helios_vst::{Edit, Vst};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyMapping};

use crate::tree::{Tree, edits_of};

/// An action a Python environment offered: the object itself, shared so
/// the search can clone it without the GIL, and its label, taken once.
#[derive(Clone)]
pub(crate) struct PyAction {
    pub(crate) object: Arc<Py<PyAny>>,
    label: String,
}

impl fmt::Debug for PyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PyAction({})", self.label)
    }
}

impl fmt::Display for PyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// An action with its prior weight, for PUCT (UCT ignores priors).
#[pyclass(frozen, get_all, module = "helios.mcts")]
pub(crate) struct Proposal {
    /// The action.
    action: Py<PyAny>,
    /// Its relative prior weight, >= 0.
    prior: f64,
}

#[pymethods]
impl Proposal {
    #[new]
    #[pyo3(signature = (action, prior = 1.0))]
    fn new(action: Py<PyAny>, prior: f64) -> Self {
        Proposal { action, prior }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Proposal({}, prior={})",
            self.action.bind(py).repr()?,
            self.prior
        ))
    }
}

/// The first exception a callback raised, kept for the caller.
pub(crate) type ErrorSlot = Arc<Mutex<Option<PyErr>>>;

/// Keeps `e` unless an earlier exception is kept already.
pub(crate) fn keep_error(slot: &ErrorSlot, e: PyErr) {
    slot.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert(e);
}

/// A Python object driven as an [`Environment`].
pub(crate) struct PyEnv {
    object: Py<PyAny>,
    engine: Arc<HeliosEngine>,
    error: ErrorSlot,
}

impl PyEnv {
    pub(crate) fn new(object: Py<PyAny>, engine: Arc<HeliosEngine>, error: ErrorSlot) -> Self {
        PyEnv {
            object,
            engine,
            error,
        }
    }

    /// Runs one callback with the GIL held; an exception is kept for the
    /// caller and stops the search as an environment error.
    fn call<T>(
        &self,
        what: &'static str,
        f: impl for<'py> FnOnce(Python<'py>, &Bound<'py, PyAny>) -> PyResult<T>,
    ) -> MctsResult<T> {
        Python::attach(|py| {
            f(py, self.object.bind(py)).map_err(|e| {
                let message = format!("{what} raised {e}");
                keep_error(&self.error, e);
                MctsError::Environment(message)
            })
        })
    }

    /// `vst` as a Python `Tree` (O(1)): the environment may read or fork
    /// it; its edits never reach the search.
    fn tree<'py>(&self, py: Python<'py>, vst: &Vst) -> PyResult<Bound<'py, Tree>> {
        Bound::new(py, Tree::new(Arc::clone(&self.engine), vst.clone(), None))
    }
}

impl Environment for PyEnv {
    type Action = PyAction;

    fn actions(&self, state: &StateView<'_, PyAction>) -> MctsResult<Vec<MctsProposal<PyAction>>> {
        self.call("env.actions", |py, env| {
            let history = PyList::new(py, state.history.iter().map(|a| a.object.clone_ref(py)))?;
            let offered = env.call_method1("actions", (self.tree(py, state.vst)?, history))?;
            let mut proposals = Vec::new();
            for item in offered.try_iter()? {
                let item = item?;
                let (action, prior) = match item.cast::<Proposal>() {
                    Ok(p) => (p.get().action.clone_ref(py).into_bound(py), p.get().prior),
                    Err(_) => (item, 1.0),
                };
                let label = action.str()?.to_string();
                proposals.push(MctsProposal {
                    action: PyAction {
                        object: Arc::new(action.unbind()),
                        label,
                    },
                    prior,
                });
            }
            Ok(proposals)
        })
    }

    fn edits(&self, vst: &Vst, action: &PyAction) -> MctsResult<Vec<Edit>> {
        self.call("env.edits", |py, env| {
            let edits =
                env.call_method1("edits", (self.tree(py, vst)?, action.object.clone_ref(py)))?;
            edits_of(edits.cast::<PyMapping>()?)
        })
    }

    fn score(&self, dir: &Path, vst: &Vst) -> MctsResult<Score> {
        self.call("env.score", |py, env| {
            let score = env.call_method1("score", (dir, self.tree(py, vst)?))?;
            let (code_reward, solved) = match score.extract::<(f64, bool)>() {
                Ok(pair) => pair,
                Err(_) => (score.extract::<f64>()?, false),
            };
            Ok(Score {
                code_reward,
                solved,
            })
        })
    }
}
