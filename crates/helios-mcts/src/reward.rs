//! Engine cost in the reward: `engine_cost = commit_latency_µs × w_latency
//! + new_objects × w_objects`, `total_reward = code_reward − engine_cost`.
//!
//! The cost of a node is what its own commit cost the engine. Which commits
//! a node's reward pays for is the [`CostScope`]: by default the whole path
//! from the root (what it cost the engine to reach this state), so a
//! wasteful edit early in a line keeps weighing on every state below it.

use std::time::Duration;

use helios_engine::CommitMetrics;

/// The two cost weights. Zero turns a term off; both zero turns engine cost
/// off entirely.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostWeights {
    /// Reward taken per microsecond of commit latency.
    pub per_latency_us: f64,
    /// Reward taken per object the commit created.
    pub per_new_object: f64,
}

impl Default for CostWeights {
    /// The plan's weights: 0.01 per µs, 0.1 per new object.
    fn default() -> Self {
        CostWeights {
            per_latency_us: 0.01,
            per_new_object: 0.1,
        }
    }
}

impl CostWeights {
    /// Weights that make engine cost zero.
    pub const OFF: CostWeights = CostWeights {
        per_latency_us: 0.0,
        per_new_object: 0.0,
    };

    /// True when both weights are zero.
    pub fn is_off(&self) -> bool {
        self.per_latency_us == 0.0 && self.per_new_object == 0.0
    }

    /// Rejects negative or non-finite weights.
    pub fn validate(&self) -> Result<(), String> {
        for (name, w) in [
            ("per_latency_us", self.per_latency_us),
            ("per_new_object", self.per_new_object),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(format!("cost weight {name} = {w} must be finite and >= 0"));
            }
        }
        Ok(())
    }

    /// The cost of one commit: `latency_µs × per_latency_us + new_objects ×
    /// per_new_object`, latency in (fractional) microseconds.
    pub fn commit_cost(&self, metrics: &CommitMetrics) -> f64 {
        latency_us(metrics.commit_latency) * self.per_latency_us
            + metrics.new_objects as f64 * self.per_new_object
    }
}

/// Microseconds, with the nanoseconds kept as a fraction.
pub fn latency_us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Which commits a node's reward pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostScope {
    /// Every commit on the path from the root (root excluded) to the node,
    /// the node included: the cost of reaching this state.
    #[default]
    Path,
    /// The node's own commit only.
    Node,
}
