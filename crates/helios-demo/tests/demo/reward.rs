//! The reward under the demo's workload is `code_reward − engine_cost`
//! with engine cost exactly as configured, rechecked from the metrics
//! recorded on every node, and the code reward is what the checker says
//! about the working directory.

use helios_demo::{DemoAction, DemoEnv, DemoSearch};
use helios_mcts::reward::latency_us;
use helios_mcts::{CostScope, CostWeights, Node};

use crate::common::{rocks, small_demo};

fn recheck(nodes: &[Node<DemoAction>], w: CostWeights, scope: CostScope) {
    assert!(nodes.len() > 100);
    let root = &nodes[0];
    assert_eq!(
        (root.commit_cost, root.path_cost, root.engine_cost),
        (0.0, 0.0, 0.0)
    );
    assert_eq!(root.total_reward, root.code_reward);
    // Objects the store lacked: some for a tree no earlier node made, none
    // for one it already holds (two paths to the same fix, say).
    let mut made = std::collections::HashSet::from([root.root_hash]);
    for n in &nodes[1..] {
        let want = latency_us(n.commit.commit_latency) * w.per_latency_us
            + n.commit.new_objects as f64 * w.per_new_object;
        assert!(
            (n.commit_cost - want).abs() < 1e-9,
            "node {}: {} vs {want}",
            n.id,
            n.commit_cost
        );
        let parent = &nodes[n.parent.unwrap().0];
        assert!((n.path_cost - (parent.path_cost + n.commit_cost)).abs() < 1e-9);
        let cost = match scope {
            CostScope::Path => n.path_cost,
            CostScope::Node => n.commit_cost,
        };
        assert!((n.engine_cost - cost).abs() < 1e-9);
        assert!((n.total_reward - (n.code_reward - n.engine_cost)).abs() < 1e-9);
        assert_eq!(
            n.commit.new_objects > 0,
            made.insert(n.root_hash),
            "node {}: a commit creates objects exactly when its tree is new",
            n.id
        );
        if w.is_off() {
            assert_eq!(n.engine_cost, 0.0);
        } else {
            assert!(n.engine_cost > 0.0);
        }
    }
}

#[test]
fn reward_includes_engine_cost_exactly_as_configured() {
    let cases = [
        (
            CostWeights {
                per_latency_us: 0.02,
                per_new_object: 0.3,
            },
            CostScope::Path,
        ),
        (CostWeights::default(), CostScope::Node),
        (CostWeights::OFF, CostScope::Path),
    ];
    for (i, (weights, scope)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let engine = rocks(dir.path());
        let mut config = small_demo(dir.path(), 120, 60);
        config.search.weights = weights;
        config.search.cost_scope = scope;
        config.search.seed = 11 + i as u64;
        let mut demo = DemoSearch::start(&engine, &config).unwrap();
        demo.run(&|_, _| {}).unwrap();
        recheck(demo.search.nodes(), weights, scope);
        let t = demo.search.telemetry();
        if weights.is_off() {
            assert_eq!(t.engine_cost_share, 0.0);
        } else {
            assert!(t.engine_cost_share > 0.0);
        }

        // The code reward is what the checker says about the directory: the
        // working directory holds the last node; run the checker again.
        let last = demo.search.nodes().last().unwrap();
        let env = DemoEnv::new(engine.algorithm(), "python3", config.reward_scale);
        let (passed, total, ok) = env.run_checker(demo.workdir()).unwrap();
        assert!((last.code_reward - 100.0 * f64::from(passed) / f64::from(total)).abs() < 1e-9);
        assert_eq!(ok, last.solved);
        demo.finish().unwrap();
    }
}
