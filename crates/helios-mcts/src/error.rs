//! The crate's one error type.

use std::path::PathBuf;

use helios_engine::EngineError;
use helios_vst::VstError;

use crate::search::NodeId;

/// Everything a search can fail with. Variants name the operation and the
/// path or snapshot concerned and keep the lower layer's error as the source.
#[derive(Debug, thiserror::Error)]
pub enum MctsError {
    /// An engine call (commit, pin, gc, read) failed.
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// A tree operation (edit, diff, lookup) failed.
    #[error("tree: {0}")]
    Vst(#[from] VstError),
    /// A file-system operation in a working directory failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("write", "remove", "create directory"...).
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A node id this search never made (from another search, or made up).
    #[error("no node {id} in this search (it has {nodes} nodes)")]
    UnknownNode {
        /// The id asked for.
        id: NodeId,
        /// Nodes the search holds (ids `#0` up to this, exclusive).
        nodes: usize,
    },
    /// This process may not mount overlayfs here (no permission, or no
    /// overlayfs in the kernel): evaluate in plain mode ([`crate::FsWorkdir`])
    /// instead.
    #[error("overlay mode unavailable: {reason}")]
    OverlayUnavailable {
        /// One line saying why, from the engine.
        reason: String,
    },
    /// The environment's scorer failed (a checker that could not run, or
    /// printed something unexpected).
    #[error("scorer: {0}")]
    Scorer(String),
    /// The environment refused an action or a state.
    #[error("environment: {0}")]
    Environment(String),
    /// An evaluation worker panicked while switching to or scoring a node
    /// (a bug in a scorer or a working directory): the search stops with
    /// this error instead of losing the worker silently.
    #[error("evaluating node {node} panicked: {message}")]
    EvaluatorPanicked {
        /// The node being evaluated.
        node: NodeId,
        /// The panic's message, where it had one.
        message: String,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl MctsError {
    /// An I/O error on `path` during `op`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MctsError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result of a search call.
pub type MctsResult<T> = Result<T, MctsError>;
