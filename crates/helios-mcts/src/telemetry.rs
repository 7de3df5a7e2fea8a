//! What a search measured: distributions per node and totals, as data and
//! as a human-readable report.

use std::fmt::{self, Write as _};

/// Percentiles of one quantity over a set of samples (nearest rank on the
/// exact sorted samples).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Distribution {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sum of the samples.
    pub sum: f64,
}

impl Distribution {
    /// The distribution of `samples` (NaNs are ignored).
    pub fn of(samples: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = samples.into_iter().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Distribution::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        // Nearest rank: the smallest sample with at least p% of the samples
        // at or below it, in integer arithmetic.
        let rank = |p: usize| v[(p * n).div_ceil(100).clamp(1, n) - 1];
        let sum: f64 = v.iter().sum();
        Distribution {
            count: n as u64,
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: v[n - 1],
            mean: sum / n as f64,
            sum,
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {} · p90 {} · p99 {} · max {} (n={})",
            short(self.p50),
            short(self.p90),
            short(self.p99),
            short(self.max),
            self.count
        )
    }
}

fn short(x: f64) -> String {
    if x.abs() >= 100.0 || x == x.trunc() {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// Everything a search measured. Per-node distributions cover the nodes the
/// search created by actions (the root's commit of the whole workspace and
/// its first checkout are reported apart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Telemetry {
    /// Nodes created by actions (root excluded).
    pub nodes: u64,
    /// Selection–expansion–evaluation–backup rounds run.
    pub iterations: u64,
    /// Scorer runs (cache misses).
    pub scorer_runs: u64,
    /// Evaluations answered from the score cache (equal root hash).
    pub score_cache_hits: u64,
    /// Scores held in the (bounded) score cache at the end.
    pub score_cache_entries: u64,
    /// Scores the cache evicted to stay within its capacity.
    pub score_cache_evictions: u64,
    /// Nodes pinned at the end.
    pub live_nodes: u64,
    /// Most nodes pinned at once.
    pub peak_live_nodes: u64,
    /// Nodes unpinned by pruning.
    pub pruned_nodes: u64,
    /// Commit latency per node, µs.
    pub commit_latency_us: Distribution,
    /// Objects created per commit.
    pub new_objects: Distribution,
    /// Encoded bytes created per commit.
    pub new_bytes: Distribution,
    /// Working-directory switch latency per node, µs.
    pub switch_latency_us: Distribution,
    /// Files written per switch.
    pub switch_files: Distribution,
    /// Scorer latency per run (cache misses only), µs.
    pub scorer_latency_us: Distribution,
    /// Engine cost per node, as it entered the reward.
    pub engine_cost: Distribution,
    /// Code reward per node.
    pub code_reward: Distribution,
    /// The share of reward engine cost took, over the whole search:
    /// Σ per-commit cost / Σ |code reward| over the nodes created, each
    /// commit counted once whatever the [`crate::CostScope`] (under the
    /// path scope a commit weighs on many rewards; it is not added up once
    /// per descendant here). 0 when costs are off or every code reward is
    /// 0; above 1 when cost outweighs the code reward.
    pub engine_cost_share: f64,
    /// The same share node by node: the cost that entered the node's
    /// reward (by the scope: its own commit, or its path's) / |its code
    /// reward|, over the nodes whose code reward is not 0.
    pub engine_cost_share_per_node: Distribution,
    /// The root's commit (the whole workspace), µs.
    pub root_commit_us: f64,
    /// The root's first checkout into an empty directory, µs.
    pub initial_switch_us: f64,
    /// Objects the root's commit created.
    pub root_new_objects: u64,
    /// gc runs.
    pub gc_runs: u64,
    /// Objects gc deleted, summed over runs.
    pub gc_objects_reclaimed: u64,
    /// Bytes gc deleted, summed over runs.
    pub gc_bytes_reclaimed: u64,
    /// Snapshot records gc deleted.
    pub gc_snapshots_reclaimed: u64,
    /// gc wall time per run, µs.
    pub gc_latency_us: Distribution,
    /// Wall time of the search, seconds.
    pub wall_seconds: f64,
    /// Evaluation workers (threads with a working directory each).
    pub workers: u64,
}

impl Telemetry {
    /// Nodes created per second of the search's wall time (0 before it ran).
    pub fn nodes_per_second(&self) -> f64 {
        if self.wall_seconds > 0.0 {
            self.nodes as f64 / self.wall_seconds
        } else {
            0.0
        }
    }

    /// A multi-line report for a terminal.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "search: {} nodes in {:.2} s ({:.1}/s, {} worker{}; {} iterations), {} scorer runs, \
             {} score-cache hits ({} held, {} evicted)",
            self.nodes,
            self.wall_seconds,
            self.nodes_per_second(),
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            self.iterations,
            self.scorer_runs,
            self.score_cache_hits,
            self.score_cache_entries,
            self.score_cache_evictions
        );
        let _ = writeln!(
            s,
            "pins:   {} live at the end, peak {}, {} pruned",
            self.live_nodes, self.peak_live_nodes, self.pruned_nodes
        );
        let _ = writeln!(s, "commit latency (µs)     {}", self.commit_latency_us);
        let _ = writeln!(s, "new objects per node    {}", self.new_objects);
        let _ = writeln!(s, "new bytes per node      {}", self.new_bytes);
        let _ = writeln!(s, "switch latency (µs)     {}", self.switch_latency_us);
        let _ = writeln!(s, "files written / switch  {}", self.switch_files);
        let _ = writeln!(s, "scorer latency (µs)     {}", self.scorer_latency_us);
        let _ = writeln!(s, "engine cost per node    {}", self.engine_cost);
        let _ = writeln!(
            s,
            "engine cost share of reward: {:.1}% (Σ commit cost / Σ |code reward|)",
            self.engine_cost_share * 100.0
        );
        let _ = writeln!(
            s,
            "  per node (cost in reward / |code reward|)  {}",
            self.engine_cost_share_per_node
        );
        let _ = writeln!(
            s,
            "root: commit {:.0} µs ({} objects), first checkout {:.0} µs",
            self.root_commit_us, self.root_new_objects, self.initial_switch_us
        );
        let _ = writeln!(
            s,
            "gc: {} runs, {} objects / {} bytes / {} snapshots reclaimed; run time (µs) {}",
            self.gc_runs,
            self.gc_objects_reclaimed,
            self.gc_bytes_reclaimed,
            self.gc_snapshots_reclaimed,
            self.gc_latency_us
        );
        s
    }
}

impl fmt::Display for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let d = Distribution::of((1..=100).map(f64::from));
        assert_eq!(
            (d.count, d.p50, d.p90, d.p99, d.max),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        assert!((d.mean - 50.5).abs() < 1e-9);
        let one = Distribution::of([7.0]);
        assert_eq!((one.p50, one.p99, one.max), (7.0, 7.0, 7.0));
        assert_eq!(Distribution::of([]), Distribution::default());
    }
}
