//! Parallel evaluation: workers score nodes at once, each in a directory
//! of its own that holds exactly its node (a fork never sees a sibling's
//! edits), every node is backed up once, transpositions share one
//! evaluation, nodes out for evaluation are never pruned, and a panicking
//! scorer stops the search with an error.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use helios_engine::{Durability, EngineConfig, HeliosEngine};
use helios_mcts::{
    Environment, FsWorkdir, Mcts, MctsError, MctsResult, NodeId, Policy, Proposal, Score,
    SearchConfig, StateView,
};
use helios_types::{Hash, RepoPath};
use helios_vst::{Edit, Vst};
use proptest::prelude::*;

use crate::common::rocks;
use crate::search::{Counter, Step, counter_root};
use crate::workdir::on_disk;

/// The counter environment, audited: every score first checks that the
/// directory holds exactly the node's tree, byte for byte, and nothing
/// else; it counts the scorer's runs per tree and the most runs at once.
struct Audited<'e> {
    counter: Counter,
    engine: &'e HeliosEngine,
    /// Hold the first score after the root's (which is scored alone, as
    /// the search starts) until a second one runs beside it (up to a
    /// generous timeout), so that a search that never scores two nodes at
    /// once is seen, whatever the machine's load.
    rendezvous: bool,
    calls: AtomicUsize,
    /// Panic when scoring a state with this code reward (10 × counter).
    panic_at: Option<f64>,
    running: AtomicUsize,
    peak: AtomicUsize,
    runs: Mutex<HashMap<Hash, usize>>,
}

impl<'e> Audited<'e> {
    fn new(engine: &'e HeliosEngine, target: i64) -> Self {
        Audited {
            counter: Counter { target },
            engine,
            rendezvous: false,
            calls: AtomicUsize::new(0),
            panic_at: None,
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            runs: Mutex::new(HashMap::new()),
        }
    }
}

impl Environment for Audited<'_> {
    type Action = Step;

    fn actions(&self, state: &StateView<'_, Step>) -> MctsResult<Vec<Proposal<Step>>> {
        self.counter.actions(state)
    }

    fn edits(&self, vst: &Vst, action: &Step) -> MctsResult<Vec<Edit>> {
        self.counter.edits(vst, action)
    }

    fn score(&self, dir: &Path, vst: &Vst) -> MctsResult<Score> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let start = Instant::now();
        while self.rendezvous
            && call == 2
            && self.peak.load(Ordering::SeqCst) < 2
            && start.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let result = self.audit(dir, vst);
        self.running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl Audited<'_> {
    fn audit(&self, dir: &Path, vst: &Vst) -> MctsResult<Score> {
        let mut want = std::collections::BTreeMap::new();
        for (path, entry) in vst.files()? {
            let bytes = self.engine.read_file(vst, &path, 0..entry.size)?;
            want.insert(path.to_string(), bytes);
        }
        let have = on_disk(dir);
        if have != want {
            let mut extra: Vec<_> = have.keys().filter(|k| !want.contains_key(*k)).collect();
            let mut missing: Vec<_> = want.keys().filter(|k| !have.contains_key(*k)).collect();
            extra.sort();
            missing.sort();
            return Err(MctsError::Scorer(format!(
                "{} does not hold the node's tree: extra {extra:?}, missing {missing:?}",
                dir.display()
            )));
        }
        *self
            .runs
            .lock()
            .unwrap()
            .entry(vst.root_hash())
            .or_default() += 1;
        let score = self.counter.score(dir, vst)?;
        assert_ne!(
            Some(score.code_reward),
            self.panic_at,
            "the scorer's planted panic"
        );
        Ok(score)
    }
}

/// `n` plain working directories `dir/w0`, `dir/w1`, ….
fn workdirs<'e>(engine: &'e HeliosEngine, dir: &Path, n: usize) -> Vec<FsWorkdir<'e>> {
    (0..n)
        .map(|i| FsWorkdir::new(engine, dir.join(format!("w{i}"))).unwrap())
        .collect()
}

fn config(workers: usize) -> SearchConfig {
    SearchConfig {
        max_nodes: 150,
        policy: Policy::Puct { exploration: 1.5 },
        max_depth: 6,
        workers,
        weights: helios_mcts::CostWeights {
            per_latency_us: 0.0,
            per_new_object: 0.1,
        },
        // Tight, so pruning runs while nodes are out (at least
        // (3 + 1) · 6 + 1 = 25).
        max_live_nodes: Some(30),
        keep_best_children: Some(3),
        gc_every: Some(10),
        seed: 3,
        ..SearchConfig::default()
    }
}

#[test]
fn workers_evaluate_at_once_and_every_node_is_backed_up_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    let mut env = Audited::new(&engine, 4);
    env.rendezvous = true;
    let wds = workdirs(&engine, dir.path(), 3);
    let mut mcts =
        Mcts::with_workdirs(&engine, env, wds, counter_root(&engine), config(3)).unwrap();
    let reports = AtomicUsize::new(0);
    mcts.run(&|_, _| {
        reports.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();

    let made = mcts.created();
    // A line closed by pruning stays closed: the tight cap may exhaust the
    // tree before the budget.
    let exhausted = mcts.node(NodeId::ROOT).unwrap().is_exhausted();
    assert!(made == 150 || exhausted, "{made} nodes");
    assert!(made >= 30, "{made} nodes");
    assert_eq!(
        reports.load(Ordering::SeqCst),
        made,
        "progress once per node"
    );
    assert!(
        mcts.env().peak.load(Ordering::SeqCst) >= 2,
        "never two scores at once"
    );
    assert!(mcts.nodes().iter().all(|n| !n.is_pending()));
    // Each node's reward reached the root exactly once (the root's own
    // score is its first visit).
    let root = mcts.node(NodeId::ROOT).unwrap();
    assert_eq!(root.visits, 1 + made as u64);
    let t = mcts.telemetry();
    assert_eq!(t.workers, 3);
    assert_eq!(t.scorer_runs + t.score_cache_hits, 1 + made as u64);
    assert!(t.pruned_nodes > 0, "the cap pruned while nodes were out");
    assert!(t.gc_runs > 0);
    // The transposition table: the scorer ran once per distinct tree.
    let runs = mcts.env().runs.lock().unwrap();
    assert!(runs.values().all(|&n| n == 1), "{runs:?}");
    assert_eq!(runs.len() as u64, t.scorer_runs);
    drop(runs);
    // Every live node reads back exactly after gc.
    for node in mcts.nodes().iter().filter(|n| n.pinned) {
        let tree = engine.restore(&node.snapshot).unwrap();
        assert_eq!(tree.root_hash(), node.root_hash);
    }
    let best = mcts.node(mcts.best()).unwrap();
    assert!(best.solved, "{:?}", mcts.actions_to(best.id));
    // The directories came back to the search.
    assert_eq!(mcts.workdirs().len(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Whatever the seed and the number of workers, every scorer sees its
    /// own node's tree exactly, never a sibling's edits (the audit fails
    /// the search otherwise).
    #[test]
    fn a_fork_never_sees_a_siblings_edits_under_concurrency(seed in 0u64..1000, workers in 2usize..=4) {
        let dir = tempfile::tempdir().unwrap();
        let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
        let env = Audited::new(&engine, 3);
        let wds = workdirs(&engine, dir.path(), workers);
        let config = SearchConfig {
            max_nodes: 40,
            seed,
            durability: Durability::Memory,
            max_live_nodes: None,
            gc_every: None,
            ..config(workers)
        };
        let mut mcts = Mcts::with_workdirs(&engine, env, wds, counter_root(&engine), config).unwrap();
        let ran = mcts.run(&|_, _| {});
        prop_assert!(ran.is_ok(), "{ran:?}");
        prop_assert!(mcts.nodes().iter().all(|n| !n.is_pending()));
    }
}

/// Two actions of the root that make the same tree: the second waits for
/// the first's score instead of running the scorer again.
struct Twins {
    runs: AtomicUsize,
}

impl Environment for Twins {
    type Action = &'static str;

    fn actions(
        &self,
        state: &StateView<'_, &'static str>,
    ) -> MctsResult<Vec<Proposal<&'static str>>> {
        Ok(if state.depth() == 0 {
            vec![Proposal::uniform("a"), Proposal::uniform("b")]
        } else {
            Vec::new()
        })
    }

    fn edits(&self, _vst: &Vst, _action: &&'static str) -> MctsResult<Vec<Edit>> {
        Ok(vec![Edit::file(
            RepoPath::parse("x").unwrap(),
            b"the same\n".to_vec(),
        )])
    }

    fn score(&self, dir: &Path, _vst: &Vst) -> MctsResult<Score> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Score {
            code_reward: if dir.join("x").exists() { 1.0 } else { 0.0 },
            solved: false,
        })
    }
}

#[test]
fn a_transposition_in_flight_shares_its_twins_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let engine = rocks(dir.path());
    let env = Twins {
        runs: AtomicUsize::new(0),
    };
    let config = SearchConfig {
        max_nodes: 2,
        max_depth: 1,
        workers: 2,
        ..SearchConfig::default()
    };
    let wds = workdirs(&engine, dir.path(), 2);
    let mut mcts = Mcts::with_workdirs(&engine, env, wds, engine.empty_tree(), config).unwrap();
    mcts.run(&|_, _| {}).unwrap();
    assert_eq!(mcts.created(), 2);
    // The root, then one of the twins.
    assert_eq!(mcts.env().runs.load(Ordering::SeqCst), 2);
    let (a, b) = (mcts.node(NodeId(1)).unwrap(), mcts.node(NodeId(2)).unwrap());
    assert_eq!(a.root_hash, b.root_hash);
    assert_eq!((a.code_reward, b.code_reward), (1.0, 1.0));
    assert!(a.scorer_latency.is_some());
    // The waiter's directory was never switched for it.
    assert_eq!((b.scorer_latency, b.switch_latency), (None, Duration::ZERO));
    let t = mcts.telemetry();
    assert_eq!((t.scorer_runs, t.score_cache_hits), (2, 1));
    assert_eq!(mcts.node(NodeId::ROOT).unwrap().visits, 3);
}

#[test]
fn a_panicking_scorer_stops_the_search_with_an_error() {
    for workers in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        let engine = rocks(dir.path());
        let mut env = Audited::new(&engine, 99);
        env.panic_at = Some(20.0);
        let wds = workdirs(&engine, dir.path(), workers);
        let config = SearchConfig {
            max_nodes: 200,
            ..config(workers)
        };
        let mut mcts =
            Mcts::with_workdirs(&engine, env, wds, counter_root(&engine), config).unwrap();
        let err = mcts.run(&|_, _| {}).unwrap_err();
        let MctsError::EvaluatorPanicked { node, message } = &err else {
            panic!("{workers} workers: {err}");
        };
        assert!(message.contains("planted panic"), "{message}");
        assert!(mcts.node(*node).is_ok());
        assert!(mcts.created() < 200, "{workers} workers");
        // The evaluations in flight were waited for: nothing is left out,
        // and the working directories came back.
        assert!(mcts.nodes().iter().all(|n| !n.is_pending()));
        assert_eq!(mcts.workdirs().len(), workers);
    }
}

#[test]
fn each_worker_needs_a_directory_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let engine = HeliosEngine::in_memory(EngineConfig::small()).unwrap();
    let wd = FsWorkdir::new(&engine, dir.path().join("w")).unwrap();
    let config = SearchConfig {
        workers: 2,
        ..SearchConfig::default()
    };
    let err = Mcts::new(
        &engine,
        Counter { target: 1 },
        wd,
        counter_root(&engine),
        config,
    )
    .unwrap_err();
    assert!(
        matches!(&err, MctsError::Config(m) if m.contains("1 working directories for 2 workers")),
        "{err}"
    );
    let zero = SearchConfig {
        workers: 0,
        ..SearchConfig::default()
    };
    assert!(matches!(zero.validate(), Err(MctsError::Config(_))));
    // The pin cap grows with the paths the workers hold.
    let cramped = SearchConfig {
        workers: 4,
        max_depth: 8,
        max_live_nodes: Some(40),
        ..SearchConfig::default()
    };
    let err = cramped.validate().unwrap_err();
    assert!(err.to_string().contains("= 41"), "{err}");
}
