//! Search configuration: plain data with defaults, validated
//! when a search starts.

use helios_engine::Durability;

use crate::error::{MctsError, MctsResult};
use crate::reward::{CostScope, CostWeights};

/// How a node picks the child to descend into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// UCT (UCB1 on trees): every action is tried once, in random order,
    /// before any is tried twice; then `Q + c·sqrt(ln N / n)`.
    Uct {
        /// The exploration constant `c` (on rewards normalised to 0..1).
        exploration: f64,
    },
    /// PUCT (AlphaZero style): `Q + c·P·sqrt(N) / (1 + n)`, where `P` is the
    /// environment's prior; an untried action starts from its parent's value.
    Puct {
        /// The exploration constant `c`.
        exploration: f64,
    },
}

impl Default for Policy {
    fn default() -> Self {
        Policy::Uct {
            exploration: std::f64::consts::SQRT_2,
        }
    }
}

/// Everything a search is told.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    /// Nodes to create by actions (the root is not counted). Each is a commit.
    pub max_nodes: usize,
    /// Selection policy.
    pub policy: Policy,
    /// Engine-cost weights; [`CostWeights::OFF`] turns engine cost off.
    pub weights: CostWeights,
    /// Which commits a node's reward pays for.
    pub cost_scope: CostScope,
    /// Durability of every node's commit.
    pub durability: Durability,
    /// States this many actions from the root are leaves.
    pub max_depth: usize,
    /// Once a node has tried every action and each child has
    /// `prune_min_visits` visits, keep only its best `k` children (by mean
    /// reward) and prune the rest. `None`: never.
    pub keep_best_children: Option<usize>,
    /// Visits every child needs before its siblings are ranked for pruning.
    pub prune_min_visits: u64,
    /// Most nodes pinned at once: beyond it, the worst leaf off the best
    /// path is pruned. At least `(workers + 1) · max_depth + 1`, what the
    /// best path and the paths of the nodes being evaluated (never pruned)
    /// can hold. `None`: no cap.
    pub max_live_nodes: Option<usize>,
    /// Run `gc()` after every this many nodes. `None`: never.
    pub gc_every: Option<usize>,
    /// Reuse a score for a tree with the same root hash (transpositions)
    /// instead of running the scorer again. The directory is still switched.
    pub cache_scores: bool,
    /// Seed of the search's random choices.
    pub seed: u64,
    /// Nodes evaluated at once, each by a worker thread with a working
    /// directory of its own (switch and score; selection, commits and
    /// backpropagation stay on the search's thread). 1 evaluates inline,
    /// on the search's thread, in the order a sequential search would.
    pub workers: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            max_nodes: 1000,
            policy: Policy::default(),
            weights: CostWeights::default(),
            cost_scope: CostScope::default(),
            durability: Durability::Async,
            max_depth: 8,
            keep_best_children: Some(4),
            prune_min_visits: 2,
            max_live_nodes: Some(400),
            gc_every: Some(250),
            cache_scores: true,
            seed: 0,
            workers: 1,
        }
    }
}

impl SearchConfig {
    /// Checks the values a search cannot run with.
    pub fn validate(&self) -> MctsResult<()> {
        self.weights.validate().map_err(MctsError::Config)?;
        let c = match self.policy {
            Policy::Uct { exploration } | Policy::Puct { exploration } => exploration,
        };
        if !c.is_finite() || c < 0.0 {
            return Err(MctsError::Config(format!(
                "exploration {c} must be finite and >= 0"
            )));
        }
        if self.max_depth == 0 {
            return Err(MctsError::Config("max_depth must be at least 1".into()));
        }
        if self.keep_best_children == Some(0) {
            return Err(MctsError::Config(
                "keep_best_children must be at least 1".into(),
            ));
        }
        if self.workers == 0 {
            return Err(MctsError::Config("workers must be at least 1".into()));
        }
        // The best path and the paths of the nodes in evaluation are never
        // pruned: a cap below what they can hold together would be
        // exceeded, not enforced.
        let protected = (self.workers + 1) * self.max_depth + 1;
        if let Some(cap) = self.max_live_nodes.filter(|&n| n < protected) {
            return Err(MctsError::Config(format!(
                "max_live_nodes = {cap} must be at least (workers + 1) · max_depth + 1 = \
                 {protected} (the best path and the paths being evaluated are never pruned)"
            )));
        }
        if self.gc_every == Some(0) {
            return Err(MctsError::Config("gc_every must be at least 1".into()));
        }
        Ok(())
    }
}
