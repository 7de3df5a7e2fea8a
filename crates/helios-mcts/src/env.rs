//! The environment a search explores: which actions a state offers, how an
//! action edits the tree, how a working directory is scored.

use std::fmt;
use std::path::Path;

use helios_vst::{Edit, Vst};

use crate::error::MctsResult;

/// What a state looks like to the environment when it proposes actions.
#[derive(Debug)]
pub struct StateView<'a, A> {
    /// The state's tree.
    pub vst: &'a Vst,
    /// Actions from the root to this state (its depth is their number).
    pub history: &'a [A],
}

impl<A> StateView<'_, A> {
    /// Edges from the root.
    pub fn depth(&self) -> usize {
        self.history.len()
    }
}

/// An action the environment offers, with its prior probability (used by
/// PUCT; UCT ignores it). Priors need not sum to one: the search normalises.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal<A> {
    /// The action.
    pub action: A,
    /// Relative prior weight, `>= 0`.
    pub prior: f64,
}

impl<A> Proposal<A> {
    /// An action with prior weight 1.
    pub fn uniform(action: A) -> Self {
        Proposal { action, prior: 1.0 }
    }
}

/// What the scorer found in a working directory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The environment's reward for the code, before engine cost.
    pub code_reward: f64,
    /// The task is done: the state is terminal and counts as solved.
    pub solved: bool,
}

/// A task to search: states are trees, actions edit them, a scorer judges
/// the working directory a state is checked out into.
pub trait Environment {
    /// One move. Its `Display` is the label of the commit it makes.
    type Action: Clone + fmt::Debug + fmt::Display;

    /// The actions `state` offers. An empty list makes the state a leaf.
    fn actions(
        &self,
        state: &StateView<'_, Self::Action>,
    ) -> MctsResult<Vec<Proposal<Self::Action>>>;

    /// The edits `action` makes to `vst`.
    fn edits(&self, vst: &Vst, action: &Self::Action) -> MctsResult<Vec<Edit>>;

    /// Scores the working directory `dir`, which holds exactly `vst`. It may
    /// read the files or run a process there. Equal trees must score equally:
    /// the search caches scores by root hash.
    fn score(&self, dir: &Path, vst: &Vst) -> MctsResult<Score>;

    /// Whether no action should be taken from a state (default: when solved).
    fn is_terminal(&self, state: &StateView<'_, Self::Action>, score: &Score) -> bool {
        let _ = state;
        score.solved
    }
}
