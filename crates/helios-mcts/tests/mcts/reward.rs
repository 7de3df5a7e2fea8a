//! The reward is `code_reward − engine_cost` with engine cost exactly as
//! configured, rechecked from the metrics recorded on every node: per
//! commit the issue's `latency_µs × 0.01 + new_objects × 0.1`, and under
//! the path scope the sum of those along the path from the root.

use helios_engine::{EngineConfig, HeliosEngine};
use helios_mcts::reward::latency_us;
use helios_mcts::{CostScope, CostWeights, FsWorkdir, Mcts, Node, NodeId, SearchConfig};

use crate::search::{Counter, counter_root};

/// The issue's per-commit formula, with its constants written out.
fn issue_cost<A>(n: &Node<A>) -> f64 {
    latency_us(n.commit.commit_latency) * 0.01 + n.commit.new_objects as f64 * 0.1
}

#[test]
fn node_scope_is_the_per_commit_formula_and_path_scope_sums_it_from_the_root() {
    for scope in [CostScope::Node, CostScope::Path] {
        let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let wd = FsWorkdir::new(&engine, dir.path().join("w")).unwrap();
        let config = SearchConfig {
            max_nodes: 60,
            max_depth: 4,
            cost_scope: scope,
            // The default weights are the issue's.
            weights: CostWeights::default(),
            ..SearchConfig::default()
        };
        let root = counter_root(&engine);
        let mut mcts = Mcts::new(&engine, Counter { target: 99 }, wd, root, config).unwrap();
        mcts.run(&|_, _| {}).unwrap();
        let nodes = mcts.nodes();
        assert!(nodes.len() > 30);
        assert!(
            nodes.iter().any(|n| n.depth >= 3),
            "paths of several commits"
        );
        let root = &nodes[0];
        assert_eq!((root.commit_cost, root.engine_cost), (0.0, 0.0));
        // A commit pays for the objects the store lacked: some for a tree
        // no earlier node made, none for one it already holds.
        let mut made = std::collections::HashSet::from([root.root_hash]);
        for n in &nodes[1..] {
            let new_tree = made.insert(n.root_hash);
            assert_eq!(n.commit.new_objects > 0, new_tree, "node {}", n.id);
            let own = issue_cost(n);
            assert!((n.commit_cost - own).abs() < 1e-9, "node {}", n.id);
            // Every commit from the root (excluded) to the node, summed
            // afresh from the recorded metrics.
            let path: Vec<NodeId> = mcts.path_to(n.id).unwrap();
            assert_eq!(path.len(), n.depth + 1);
            let along: f64 = path[1..].iter().map(|id| issue_cost(&nodes[id.0])).sum();
            assert!((n.path_cost - along).abs() < 1e-9, "node {}", n.id);
            let want = match scope {
                CostScope::Node => own,
                CostScope::Path => along,
            };
            assert!(
                (n.engine_cost - want).abs() < 1e-9,
                "node {} under {scope:?}: {} vs {want}",
                n.id,
                n.engine_cost
            );
            assert!((n.total_reward - (n.code_reward - want)).abs() < 1e-9);
        }

        // The share counts each commit once, whatever the scope.
        let made = &nodes[1..];
        let cost: f64 = made.iter().map(issue_cost).sum();
        let code: f64 = made.iter().map(|n| n.code_reward.abs()).sum();
        let t = mcts.telemetry();
        assert!(
            (t.engine_cost_share - cost / code).abs() < 1e-9,
            "{scope:?}"
        );
        let per_node = t.engine_cost_share_per_node;
        let evaluated = made.iter().filter(|n| n.code_reward != 0.0).count();
        assert_eq!(per_node.count, evaluated as u64);
        let max = made
            .iter()
            .filter(|n| n.code_reward != 0.0)
            .map(|n| n.engine_cost / n.code_reward.abs())
            .fold(0.0, f64::max);
        assert!((per_node.max - max).abs() < 1e-9);
    }
}
