//! The generic search: pruning and gc bound pins and store; PUCT; a tree
//! that runs out of actions ends the search early. (Pruning and gc under
//! the demo's workload are tested in helios-demo.)

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;

use helios_engine::{Durability, EngineConfig, HeliosEngine};
use helios_mcts::{
    Environment, FsWorkdir, Mcts, MctsError, MctsResult, NodeId, OverlayWorkdir, Policy, Proposal,
    Score, SearchConfig, StateView, Workdir,
};
use helios_types::RepoPath;
use helios_types::store::{MemStore, ObjectStore};
use helios_vst::{Edit, Vst};

use crate::workdir::skip;

/// A counter in one file: `+1`, `-1`, or `+1` with a junk file; the reward
/// is the counter, solved at `target`.
pub(crate) struct Counter {
    pub(crate) target: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Step {
    Up,
    Down,
    UpWithJunk,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

fn read_counter(dir: &Path) -> i64 {
    std::fs::read_to_string(dir.join("counter"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

impl Environment for Counter {
    type Action = Step;

    fn actions(&self, state: &StateView<'_, Step>) -> MctsResult<Vec<Proposal<Step>>> {
        let _ = state.vst;
        Ok(vec![
            Proposal {
                action: Step::Up,
                prior: 0.6,
            },
            Proposal {
                action: Step::Down,
                prior: 0.1,
            },
            Proposal {
                action: Step::UpWithJunk,
                prior: 0.3,
            },
        ])
    }

    fn edits(&self, vst: &Vst, action: &Step) -> MctsResult<Vec<Edit>> {
        let path = RepoPath::parse("counter").unwrap();
        // The value is also the name of a marker file, so edits need no
        // store read.
        let current = vst
            .list(&RepoPath::parse("value").unwrap())?
            .first()
            .map(|(n, _)| {
                String::from_utf8_lossy(n.as_bytes())
                    .parse::<i64>()
                    .unwrap()
            })
            .unwrap();
        let next = match action {
            Step::Up | Step::UpWithJunk => current + 1,
            Step::Down => current - 1,
        };
        let mut edits = vec![
            Edit::file(path, format!("{next}\n").into_bytes()),
            Edit::delete(RepoPath::parse(format!("value/{current}")).unwrap()),
            Edit::file(
                RepoPath::parse(format!("value/{next}")).unwrap(),
                Vec::new(),
            ),
        ];
        if *action == Step::UpWithJunk {
            // Waste: bytes no other state has (they name the state they
            // came from), so the store holds them nowhere yet and the
            // commit pays for every one.
            let from = vst.root_hash().to_hex();
            for i in 0..20 {
                edits.push(Edit::file(
                    RepoPath::parse(format!("junk/{next}/{i}")).unwrap(),
                    format!("{from} {i}\n").repeat(30).into_bytes(),
                ));
            }
        }
        Ok(edits)
    }

    fn score(&self, dir: &Path, _vst: &Vst) -> MctsResult<Score> {
        let v = read_counter(dir);
        Ok(Score {
            code_reward: 10.0 * v as f64,
            solved: v == self.target,
        })
    }
}

pub(crate) fn counter_root(engine: &HeliosEngine) -> Vst {
    engine
        .empty_tree()
        .apply(&[
            Edit::file(RepoPath::parse("counter").unwrap(), b"0\n".to_vec()),
            Edit::file(RepoPath::parse("value/0").unwrap(), Vec::new()),
        ])
        .unwrap()
}

/// The cost of junk steered the search to the junk-free tree at `target`:
/// the one `target` steps up from the root make (the path there may wander,
/// since revisiting a tree the store holds costs nothing), with no junk
/// step on the way.
fn assert_clean_solution<W: Workdir>(
    engine: &HeliosEngine,
    mcts: &Mcts<'_, Counter, W>,
    best: NodeId,
    target: i64,
) {
    let env = Counter { target };
    let mut clean = counter_root(engine);
    for _ in 0..target {
        clean = clean.apply(&env.edits(&clean, &Step::Up).unwrap()).unwrap();
    }
    let actions = mcts.actions_to(best).unwrap();
    assert!(!actions.contains(&Step::UpWithJunk), "{actions:?}");
    assert_eq!(
        mcts.node(best).unwrap().root_hash,
        clean.root_hash(),
        "{actions:?}"
    );
}

/// A search for `target` on the counter environment from [`counter_root`],
/// evaluated in a plain directory `dir/w`.
fn counter_search<'e>(
    engine: &'e HeliosEngine,
    dir: &Path,
    target: i64,
    config: SearchConfig,
) -> MctsResult<Mcts<'e, Counter, FsWorkdir<'e>>> {
    let wd = FsWorkdir::new(engine, dir.join("w"))?;
    Mcts::new(engine, Counter { target }, wd, counter_root(engine), config)
}

#[test]
fn puct_solves_and_cost_steers_away_from_junk() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = SearchConfig {
        max_nodes: 150,
        policy: Policy::Puct { exploration: 1.5 },
        max_depth: 6,
        seed: 5,
        // Objects only: latency is noise on a loaded machine, and a zero
        // weight must turn its term off.
        weights: helios_mcts::CostWeights {
            per_latency_us: 0.0,
            per_new_object: 0.1,
        },
        ..SearchConfig::default()
    };
    let mut mcts = counter_search(&engine, dir.path(), 4, config).unwrap();
    mcts.run(&|_, _| {}).unwrap();
    let best = mcts.node(mcts.best()).unwrap();
    assert!(best.solved, "{:?}", mcts.actions_to(best.id));
    assert_clean_solution(&engine, &mcts, best.id, 4);
    // The directory holds exactly what the scorer read for the last node.
    let last = mcts.nodes().last().unwrap();
    assert_eq!(
        10.0 * read_counter(mcts.workdir().path()) as f64,
        last.code_reward
    );
    assert!(
        mcts.telemetry().score_cache_hits > 0,
        "transpositions reuse scores"
    );
    let pinned_before = mcts.pinned().len();
    assert!(pinned_before > 1);
    assert_eq!(mcts.release().unwrap(), pinned_before as u64);
    assert!(mcts.pinned().is_empty());
}

#[test]
fn an_exhausted_tree_ends_the_search_early() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = SearchConfig {
        max_nodes: 1000,
        max_depth: 2,
        durability: Durability::Memory,
        keep_best_children: None,
        max_live_nodes: None,
        gc_every: None,
        ..SearchConfig::default()
    };
    let mut mcts = counter_search(&engine, dir.path(), 99, config).unwrap();
    mcts.run(&|_, _| {}).unwrap();
    // 3 children of the root, 3 under each: 12 nodes, then nothing is left.
    assert_eq!(mcts.created(), 12);
    assert!(mcts.nodes().iter().all(|n| n.depth <= 2));
    let t = mcts.telemetry();
    assert_eq!(t.nodes, 12);
    assert_eq!(t.live_nodes, 13);
    assert_eq!(t.pruned_nodes, 0);
    // Memory-only snapshots are pinned but have no stored form to verify.
    assert!(
        engine
            .verify(&mcts.node(NodeId(1)).unwrap().snapshot)
            .is_err()
    );
    assert!(!t.render().is_empty());
}

#[test]
fn bad_configurations_are_refused() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let bad = [
        SearchConfig {
            max_depth: 0,
            ..SearchConfig::default()
        },
        SearchConfig {
            keep_best_children: Some(0),
            ..SearchConfig::default()
        },
        SearchConfig {
            gc_every: Some(0),
            ..SearchConfig::default()
        },
        // The best and the current path alone could hold 2 · 8 + 1 pins.
        SearchConfig {
            max_depth: 8,
            max_live_nodes: Some(16),
            ..SearchConfig::default()
        },
        SearchConfig {
            weights: helios_mcts::CostWeights {
                per_latency_us: -1.0,
                per_new_object: 0.1,
            },
            ..SearchConfig::default()
        },
        SearchConfig {
            policy: Policy::Uct {
                exploration: f64::NAN,
            },
            ..SearchConfig::default()
        },
    ];
    for (i, config) in bad.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let err = counter_search(&engine, dir.path(), 1, config)
            .err()
            .unwrap_or_else(|| panic!("case {i} accepted"));
        assert!(
            matches!(err, helios_mcts::MctsError::Config(_)),
            "case {i}: {err}"
        );
    }
}

/// What a node's evaluation and statistics were, comparable across runs.
fn outcome<W: Workdir>(mcts: &Mcts<'_, Counter, W>) -> Vec<String> {
    mcts.nodes()
        .iter()
        .map(|n| {
            format!(
                "{} {:?} {:?} {} code {} total {} solved {} objects {} visits {} pinned {}",
                n.id,
                n.parent,
                n.action,
                n.root_hash,
                n.code_reward,
                n.total_reward,
                n.solved,
                n.commit.new_objects,
                n.visits,
                n.pinned
            )
        })
        .collect()
}

#[test]
fn a_search_evaluated_in_overlay_mode_finds_what_plain_mode_finds() {
    let config = SearchConfig {
        max_nodes: 120,
        max_depth: 5,
        seed: 9,
        // Objects only: commit latency differs between runs, object counts
        // do not, so both runs see the same rewards.
        weights: helios_mcts::CostWeights {
            per_latency_us: 0.0,
            per_new_object: 0.1,
        },
        max_live_nodes: Some(40),
        gc_every: Some(30),
        ..SearchConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();

    // Each mode on its own engine: object counts depend on what the store
    // already holds.
    let plain_engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let wd = FsWorkdir::new(&plain_engine, dir.path().join("plain")).unwrap();
    let root = counter_root(&plain_engine);
    let mut plain = Mcts::new(
        &plain_engine,
        Counter { target: 3 },
        wd,
        root,
        config.clone(),
    )
    .unwrap();
    plain.run(&|_, _| {}).unwrap();

    let overlay_engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let root = counter_root(&overlay_engine);
    let wd = match OverlayWorkdir::new(&overlay_engine, dir.path().join("overlay"), &root) {
        Ok(wd) => wd,
        Err(MctsError::OverlayUnavailable { reason }) => return skip(&reason),
        Err(e) => panic!("{e}"),
    };
    let mut overlay = Mcts::new(&overlay_engine, Counter { target: 3 }, wd, root, config).unwrap();
    overlay.run(&|_, _| {}).unwrap();

    // Pruning closes actions, so the tree may run out before the budget.
    assert!(plain.created() > 50, "{} nodes", plain.created());
    assert!(plain.telemetry().pruned_nodes > 0, "pruning is exercised");
    assert_eq!(outcome(&overlay), outcome(&plain));
    assert_eq!(overlay.best(), plain.best());
    let best = overlay.best();
    assert!(overlay.node(best).unwrap().solved);
    assert_clean_solution(&overlay_engine, &overlay, best, 3);
    // The overlay directory holds exactly what the scorer read last.
    let last = overlay.nodes().last().unwrap();
    assert_eq!(
        10.0 * read_counter(overlay.workdir().path()) as f64,
        last.code_reward
    );
}

/// Eight slot files; an action rewrites one with a value that names the
/// depth, so states keep coming (a long search never runs out) while some
/// lines meet again (transpositions). Switching costs a file or two.
struct Slots;

const SLOTS: u8 = 8;

fn slots_root(engine: &HeliosEngine) -> Vst {
    let edits: Vec<Edit> = (0..SLOTS)
        .map(|i| {
            Edit::file(
                RepoPath::parse(format!("slots/{i}")).unwrap(),
                b"0\n".to_vec(),
            )
        })
        .collect();
    engine.empty_tree().apply(&edits).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct SetSlot {
    slot: u8,
    depth: usize,
}

impl std::fmt::Display for SetSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "slot{} = {}", self.slot, self.depth)
    }
}

impl Environment for Slots {
    type Action = SetSlot;

    fn actions(&self, state: &StateView<'_, SetSlot>) -> MctsResult<Vec<Proposal<SetSlot>>> {
        let depth = state.depth() + 1;
        Ok((0..SLOTS)
            .map(|slot| {
                Proposal::uniform(SetSlot {
                    slot,
                    depth: depth / 2,
                })
            })
            .collect())
    }

    fn edits(&self, _vst: &Vst, a: &SetSlot) -> MctsResult<Vec<Edit>> {
        Ok(vec![Edit::file(
            RepoPath::parse(format!("slots/{}", a.slot)).unwrap(),
            format!("{}\n", a.depth).into_bytes(),
        )])
    }

    fn score(&self, dir: &Path, _vst: &Vst) -> MctsResult<Score> {
        // A pure function of the files: the slots' values, weighted.
        let mut reward = 0.0;
        for slot in 0..SLOTS {
            let text = std::fs::read_to_string(dir.join(format!("slots/{slot}"))).unwrap();
            let value: f64 = text.trim().parse().unwrap();
            reward += value * f64::from(slot % 3);
        }
        Ok(Score {
            code_reward: reward,
            solved: false,
        })
    }
}

/// Objects and encoded bytes in a store.
fn store_size(store: &MemStore) -> (u64, u64) {
    store
        .objects(None)
        .unwrap()
        .fold((0, 0), |(n, bytes), item| {
            let (_, encoded) = item.unwrap();
            (n + 1, bytes + encoded.len() as u64)
        })
}

#[test]
fn a_long_search_keeps_pins_score_cache_and_store_bounded() {
    const NODES: usize = 3000;
    const CAP: usize = 100;
    const GC_EVERY: usize = 100;
    const CACHE: usize = 64;
    let store = Arc::new(MemStore::new(
        EngineConfig::small().algorithm.unwrap_or_default(),
    ));
    let l2: Arc<dyn ObjectStore> = store.clone();
    let engine = HeliosEngine::over_store(l2, EngineConfig::small()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wd = FsWorkdir::new(&engine, dir.path().join("w")).unwrap();
    let config = SearchConfig {
        max_nodes: NODES,
        // Never solved: the tree does not run out. The cap must hold the
        // best and the current path (2 · 40 + 1 nodes).
        max_depth: 40,
        seed: 21,
        keep_best_children: Some(3),
        max_live_nodes: Some(CAP),
        gc_every: Some(GC_EVERY),
        ..SearchConfig::default()
    };
    let mut mcts = Mcts::new(&engine, Slots, wd, slots_root(&engine), config).unwrap();
    mcts.set_score_cache_capacity(CACHE).unwrap();

    // The store's peak over the run, sampled every 50 nodes (between gc
    // runs too, where garbage waits for the next one).
    let peak_objects = Cell::new(0u64);
    let peak_bytes = Cell::new(0u64);
    mcts.run(&|done, _| {
        if done % 50 == 0 {
            let (n, bytes) = store_size(&store);
            peak_objects.set(peak_objects.get().max(n));
            peak_bytes.set(peak_bytes.get().max(bytes));
        }
    })
    .unwrap();
    mcts.collect().unwrap();
    engine.flush().unwrap();
    let t = mcts.telemetry();
    assert_eq!(t.nodes, NODES as u64, "the tree ran out early");

    // Pins: never more than the cap (one over while a new node waits for
    // the pruning of its iteration).
    assert!(
        t.peak_live_nodes <= CAP as u64 + 1,
        "peak {}",
        t.peak_live_nodes
    );
    assert_eq!(mcts.pinned().len() as u64, t.live_nodes);
    assert!(t.live_nodes <= CAP as u64);
    // The engine holds trees in memory only for snapshots gc has not
    // reclaimed: after the last gc, only the live ones.
    assert!(
        engine.stats().hot_snapshots <= CAP as u64 + 1,
        "{} hot snapshots",
        engine.stats().hot_snapshots
    );

    // The score cache: at its capacity, not at the number of states.
    assert!(mcts.score_cache_len() <= CACHE);
    assert!(t.score_cache_entries <= CACHE as u64);
    assert!(t.score_cache_evictions > 0, "{t:?}");
    assert!(t.scorer_runs > CACHE as u64, "{t:?}");

    // Pruned records keep no tree, no untried actions, no children.
    let pruned: Vec<_> = mcts.nodes().iter().filter(|n| !n.pinned).collect();
    assert!(pruned.len() >= NODES - CAP);
    assert!(
        pruned
            .iter()
            .all(|n| n.vst().is_none() && n.children().is_empty())
    );

    // The store: the root's objects plus what the live nodes (and, between
    // gc runs, the nodes made since the last one) added; nothing that
    // grows with the number of nodes.
    let nodes = mcts.nodes();
    let root_objects = nodes[0].commit.new_objects;
    let per_node = nodes[1..]
        .iter()
        .map(|n| n.commit.new_objects)
        .max()
        .unwrap();
    let created: u64 = nodes[1..].iter().map(|n| n.commit.new_objects).sum();
    let bound = root_objects + (CAP + GC_EVERY + 1) as u64 * per_node;
    assert!(
        created > 4 * bound,
        "a bound of {bound} would not show anything"
    );
    let (objects, bytes) = store_size(&store);
    assert!(
        objects <= root_objects + (CAP as u64 + 1) * per_node,
        "{objects} objects after gc"
    );
    assert!(
        peak_objects.get() <= bound,
        "peak {} > {bound}",
        peak_objects.get()
    );
    let per_byte = nodes
        .iter()
        .map(|n| n.commit.new_objects_size)
        .max()
        .unwrap();
    assert!(
        bytes <= (CAP as u64 + 2) * per_byte,
        "{bytes} bytes after gc"
    );
    assert!(peak_bytes.get() <= (CAP + GC_EVERY + 2) as u64 * per_byte);
    // Every pruned snapshot was reclaimed.
    assert_eq!(t.gc_snapshots_reclaimed, t.pruned_nodes, "{t:?}");
}

#[test]
fn a_node_id_the_search_never_made_is_a_typed_error() {
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = SearchConfig {
        max_nodes: 5,
        ..SearchConfig::default()
    };
    let mut mcts = counter_search(&engine, dir.path(), 99, config).unwrap();
    mcts.run(&|_, _| {}).unwrap();
    let last = NodeId(mcts.created());
    assert_eq!(mcts.node(last).unwrap().id, last);
    let path = mcts.path_to(last).unwrap();
    assert_eq!(path.first(), Some(&NodeId::ROOT));
    assert_eq!(path.last(), Some(&last));
    assert_eq!(
        mcts.actions_to(last).unwrap().len(),
        mcts.node(last).unwrap().depth
    );
    assert!(mcts.actions_to(NodeId::ROOT).unwrap().is_empty());

    let stranger = NodeId(mcts.created() + 1);
    for err in [
        mcts.node(stranger).map(|_| ()).unwrap_err(),
        mcts.path_to(stranger).map(|_| ()).unwrap_err(),
        mcts.actions_to(stranger).map(|_| ()).unwrap_err(),
    ] {
        assert!(
            matches!(err, MctsError::UnknownNode { id, nodes: 6 } if id == stranger),
            "{err}"
        );
        assert!(err.to_string().contains("#6"), "{err}");
    }
}
