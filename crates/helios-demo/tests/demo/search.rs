//! The search under the demo's workload: pruning and gc bound the pins
//! and reclaim the store.

use helios_demo::DemoSearch;
use helios_mcts::NodeId;

use crate::common::{rocks, small_demo};

#[test]
fn pruning_and_gc_bound_pins_and_reclaim_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    let cap = 50;
    let mut config = small_demo(dir.path(), 400, 60);
    config.search.max_live_nodes = Some(cap);
    config.search.keep_best_children = Some(3);
    config.search.gc_every = Some(40);
    let mut demo = DemoSearch::start(&engine, &config).unwrap();
    demo.run(&|_, _| {}).unwrap();
    demo.search.collect().unwrap();
    let t = demo.search.telemetry();
    // Closing pruned actions may exhaust the tree before the budget.
    assert!(t.nodes > 2 * cap as u64, "{} nodes", t.nodes);
    assert!(
        t.peak_live_nodes <= cap as u64 + 1,
        "peak {}",
        t.peak_live_nodes
    );
    assert!(t.live_nodes <= cap as u64, "live {}", t.live_nodes);
    assert!(
        t.pruned_nodes >= t.nodes + 1 - cap as u64,
        "pruned {}",
        t.pruned_nodes
    );
    // One gc per 40 new nodes, plus the explicit collect above. The node
    // count itself varies with timing (commit latency is in the reward).
    assert_eq!(t.gc_runs, t.nodes / 40 + 1, "{t:?}");
    // Every pruned node's snapshot record, and nothing else, was reclaimed.
    assert_eq!(t.gc_snapshots_reclaimed, t.pruned_nodes, "{t:?}");
    assert!(
        t.gc_bytes_reclaimed > 0 && t.gc_objects_reclaimed > 0,
        "{t:?}"
    );

    let nodes = demo.search.nodes();
    assert_eq!(
        nodes.iter().filter(|n| n.pinned).count() as u64,
        t.live_nodes
    );
    for n in nodes {
        if n.pinned {
            engine.verify(&n.snapshot).unwrap();
            assert!(n.vst().is_some());
        } else {
            // Pruned: unpinned, tree dropped, snapshot reclaimed by gc.
            assert!(n.vst().is_none());
            assert!(
                engine.snapshot(&n.snapshot).is_err(),
                "pruned node {} still stored",
                n.id
            );
        }
    }
    // The live nodes form a tree hanging from the root.
    for n in nodes.iter().filter(|n| n.pinned && n.id != NodeId::ROOT) {
        assert!(
            nodes[n.parent.unwrap().0].pinned,
            "live node {} has a pruned parent",
            n.id
        );
    }
    demo.finish().unwrap();
}
