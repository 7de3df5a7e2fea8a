//! Engine cost in the reward.
//!
//! Per commit: `engine_cost = commit_latency_µs ×
//! 0.01 + new_objects × 0.1` ([`CostWeights::commit_cost`]; the default
//! weights are those two numbers, zero turns a term off), and
//! `total_reward = code_reward − engine_cost`.
//!
//! Which commits a node's reward pays for is the [`CostScope`]:
//!
//! - [`CostScope::Node`]: its own commit only, exactly the formula above.
//! - [`CostScope::Path`] (the default): the sum of that per-commit cost
//!   over every commit from the root (excluded) to the node, what it cost
//!   the engine to reach this state.
//!
//! Why the path is the default: MCTS backs up the reward of the node it
//! just created, never its ancestors' again. Under the node scope a
//! wasteful commit is charged once, when it is made; every later visit
//! below it backs up leaves that do not carry it, so its weight in the
//! subtree's mean decays as 1/visits and the search soon stops seeing it.
//! Under the path scope every state below a wasteful commit carries its
//! cost, so the subtree's mean keeps it: a fix that drags in large
//! generated files loses to the same fix without them however deep the
//! search goes. Each commit is still counted once per reward; it is the
//! rewards of different nodes that share it.

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

/// Which commits a node's reward pays for (see the module documentation
/// for why the path is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostScope {
    /// The sum of [`CostWeights::commit_cost`] over every commit on the
    /// path from the root (root excluded) to the node, the node included:
    /// the cost of reaching this state. A wasteful ancestor weighs on every
    /// state below it.
    #[default]
    Path,
    /// The node's own commit only: the per-commit formula above.
    Node,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_weights_are_the_issues_per_commit_formula() {
        let w = CostWeights::default();
        assert_eq!((w.per_latency_us, w.per_new_object), (0.01, 0.1));
        let m = CommitMetrics {
            commit_latency: Duration::from_nanos(1_234_500),
            new_objects: 7,
            new_objects_size: 99_999,
        };
        // 1234.5 µs × 0.01 + 7 × 0.1; bytes are not in the formula.
        assert!((w.commit_cost(&m) - 13.045).abs() < 1e-12);
        assert_eq!(CostWeights::OFF.commit_cost(&m), 0.0);
        let objects_only = CostWeights {
            per_latency_us: 0.0,
            ..w
        };
        assert!((objects_only.commit_cost(&m) - 0.7).abs() < 1e-12);
        assert!(CostWeights::OFF.is_off() && !objects_only.is_off());
    }
}
