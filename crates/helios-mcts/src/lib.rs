//! Monte Carlo Tree Search whose states are Helios snapshots and whose
//! reward includes the engine's own cost.
//!
//! - [`Mcts`] runs UCT (or PUCT with priors) over an [`Environment`]: an
//!   action edits the parent's tree and is committed; the node is checked
//!   out into a real [`Workdir`] (plain mode, [`FsWorkdir`], or overlay
//!   mode, [`OverlayWorkdir`], where mounting is allowed) and scored there; `total_reward =
//!   code_reward − engine_cost` ([`reward`]).
//! - The search pins the nodes it holds, unpins subtrees it prunes and runs
//!   `gc()` periodically, so pins, memory and store stay bounded.
//! - [`Telemetry`] holds the distributions it measured.
//!
//! The demonstration behind `helios demo` is one environment of this
//! search, in its own crate (helios-demo).
//!
//! The crate prints nothing: it returns data and strings for the CLI.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod env;
mod error;
mod evaluators;
pub mod reward;
mod score_cache;
mod search;
mod telemetry;
mod workdir;

pub use config::{Policy, SearchConfig};
pub use env::{Environment, Proposal, Score, StateView};
pub use error::{MctsError, MctsResult};
pub use reward::{CostScope, CostWeights};
pub use search::{Mcts, Node, NodeId};
pub use telemetry::{Distribution, Telemetry};
pub use workdir::{FsWorkdir, OverlayWorkdir, SwitchStats, Workdir};
