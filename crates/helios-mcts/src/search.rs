//! [`Mcts`]: the search. Nodes are engine snapshots.
//!
//! One iteration:
//! 1. **Selection** descends from the root by the [`Policy`], skipping
//!    exhausted subtrees (terminal, or every action tried and every child
//!    exhausted).
//! 2. **Expansion** applies an untried action's edits to the parent's tree
//!    and commits it, pinned in the same call, with the configured durability. Its
//!    [`CommitMetrics`] are recorded on the node.
//! 3. **Evaluation** switches a working directory to the node (timed) and
//!    asks the environment to score it; scores are cached by root hash, so a
//!    transposition runs the scorer once (while its score is among the
//!    cache's most recently used: the cache is bounded). `total_reward = code_reward −
//!    engine_cost` (see [`crate::reward`]).
//! 4. **Backpropagation** adds the new node's total reward to every node on
//!    the path.
//!
//! # Parallel evaluation
//!
//! With [`SearchConfig::workers`] above 1, evaluation runs on that many
//! threads, each with a working directory of its own, while the search's
//! thread keeps selecting, committing and backing up: a node is *pending*
//! from its commit until its evaluation returns. Selection spreads the
//! workers by virtual loss: each evaluation in flight below a node counts
//! as one more visit to it, at the worst reward seen, until its real reward
//! replaces it; a pending node is never selected, and a node whose every
//! remaining choice is pending is skipped until a result comes back. A
//! transposition of a node being scored waits for that score instead of
//! running the scorer again (the shared transposition table), and is
//! backed up with it. With one worker, evaluation runs inline and the
//! search makes exactly the choices of a sequential search.
//!
//! Then pruning: a fully expanded node keeps its best `k` children, and a
//! cap on live nodes prunes the worst leaves; a pruned subtree is unpinned
//! and its trees dropped, so periodic `gc()` reclaims what only it held.
//! The path to the best node is never pruned.
//!
//! # Memory
//!
//! What grows with the number of nodes is one record per node (its
//! statistics and metrics, a few hundred bytes plus its action), kept so a
//! run can be audited. Everything heavy is bounded: trees and untried
//! actions are held only by live nodes (at most `max_live_nodes`), the
//! score cache holds at most its capacity
//! ([`Mcts::set_score_cache_capacity`]), and the store holds what live
//! nodes reach plus the garbage of the last `gc_every` nodes.
//!
//! # Invariants
//!
//! 1. A node is pinned in the engine exactly while it is live (`pinned`).
//! 2. Only live nodes are expanded, so every commit forks from a pinned
//!    snapshot whose objects gc keeps.
//! 3. Every node records the inputs of its reward: `commit_cost ==
//!    weights.commit_cost(&commit)`, `path_cost` is the parent's plus its
//!    own, and `total_reward == code_reward − engine_cost`.
//! 4. A pending node, and every node on its path, is never pruned; a node's
//!    `in_flight` is the number of pending nodes beneath it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use helios_engine::{CommitMeta, CommitMetrics, GcReport, HeliosEngine};
use helios_types::{Hash, SnapshotId};
use helios_vst::Vst;
use helios_workload::SplitMix64;

use crate::config::{Policy, SearchConfig};
use crate::env::{Environment, Proposal, Score, StateView};
use crate::error::{MctsError, MctsResult};
use crate::evaluators::{self, Evaluation, Evaluators, Job};
use crate::reward::{CostScope, latency_us};
use crate::score_cache::ScoreCache;
use crate::telemetry::{Distribution, Telemetry};
use crate::workdir::{SwitchStats, Workdir};

/// A node's index in the search; the root is `NodeId(0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

impl NodeId {
    /// The root.
    pub const ROOT: NodeId = NodeId(0);
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One node: a committed snapshot, what it cost, how it scored, and its
/// search statistics. Records of pruned nodes stay (without their trees)
/// so a run can be audited after the fact.
#[derive(Debug, Clone)]
pub struct Node<A> {
    /// Its index.
    pub id: NodeId,
    /// Its parent (`None` for the root).
    pub parent: Option<NodeId>,
    /// The action that made it from its parent (`None` for the root).
    pub action: Option<A>,
    /// Actions from the root.
    pub depth: usize,
    /// The snapshot committed for it.
    pub snapshot: SnapshotId,
    /// Its tree's root hash (equal for transpositions).
    pub root_hash: Hash,
    /// What its commit cost, as the engine measured it.
    pub commit: CommitMetrics,
    /// `weights.commit_cost(&commit)` (0 for the root).
    pub commit_cost: f64,
    /// Sum of `commit_cost` from the root to this node.
    pub path_cost: f64,
    /// The cost in its reward: `path_cost` or `commit_cost` by scope.
    pub engine_cost: f64,
    /// The environment's score of its working directory.
    pub code_reward: f64,
    /// `code_reward − engine_cost`.
    pub total_reward: f64,
    /// The scorer said the task is done.
    pub solved: bool,
    /// No action is taken from it (solved, a leaf, or at the depth cap).
    pub terminal: bool,
    /// Time to switch the working directory to it.
    pub switch_latency: Duration,
    /// What that switch touched.
    pub switch: SwitchStats,
    /// Scorer run time; `None` when the score came from the cache.
    pub scorer_latency: Option<Duration>,
    /// Times a reward was backed up through it.
    pub visits: u64,
    /// Sum of those rewards.
    pub value_sum: f64,
    /// Pinned in the engine (live); false once pruned or released.
    pub pinned: bool,
    /// Committed, its evaluation not yet back: its reward fields are unset.
    pending: bool,
    /// Pending nodes beneath it (virtual loss; see the module docs).
    in_flight: u64,
    prior: f64,
    children: Vec<NodeId>,
    untried: Option<Vec<Proposal<A>>>,
    vst: Option<Vst>,
    exhausted: bool,
}

impl<A> Node<A> {
    /// Mean backed-up reward (its own total reward before any visit).
    pub fn mean(&self) -> f64 {
        if self.visits == 0 {
            self.total_reward
        } else {
            self.value_sum / self.visits as f64
        }
    }

    /// Live children.
    pub fn children(&self) -> &[NodeId] {
        &self.children
    }

    /// The node's tree while it is live.
    pub fn vst(&self) -> Option<&Vst> {
        self.vst.as_ref()
    }

    /// Whether everything beneath this node has been explored (for the
    /// root: the search has nothing left to try).
    pub fn is_exhausted(&self) -> bool {
        self.exhausted
    }

    /// Whether its evaluation is still out (only while a search runs).
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// Its visits and mean as selection sees them: every evaluation in
    /// flight beneath it counts as a visit at `loss`, the worst reward
    /// seen (virtual loss), so that concurrent selections spread out.
    fn seen(&self, loss: f64) -> (f64, f64) {
        if self.in_flight == 0 {
            return (self.visits as f64, self.mean());
        }
        let visits = (self.visits + self.in_flight) as f64;
        let sum = self.value_sum + self.in_flight as f64 * loss;
        (visits, sum / visits)
    }
}

/// What selection does at one node.
enum Choice {
    Expand,
    Descend(NodeId),
    /// Nothing left beneath it.
    Dead,
    /// Nothing to do beneath it until a pending node's result is back.
    Blocked,
}

/// What one descent from the root produced.
enum Selected {
    /// A new pending node, committed, to evaluate.
    Node(NodeId),
    /// A dead end, now marked exhausted.
    Dead,
    /// Everything selectable waits for evaluations in flight.
    Blocked,
}

/// A Monte Carlo Tree Search over engine snapshots.
pub struct Mcts<'e, E: Environment, W: Workdir> {
    engine: &'e HeliosEngine,
    /// Shared with the worker threads while a run lasts.
    env: Arc<E>,
    /// One per worker; lent to the workers while a run lasts.
    workdirs: Vec<W>,
    config: SearchConfig,
    nodes: Vec<Node<E::Action>>,
    cache: ScoreCache,
    /// Root hashes being scored now: the node whose scorer runs, and the
    /// transpositions waiting for its score.
    scoring: HashMap<Hash, (NodeId, Vec<NodeId>)>,
    /// Nodes committed whose evaluation is not back.
    pending: usize,
    rng: SplitMix64,
    reward_min: f64,
    reward_max: f64,
    best: NodeId,
    live: u64,
    peak_live: u64,
    pruned: u64,
    iterations: u64,
    scorer_runs: u64,
    cache_hits: u64,
    gc: GcReport,
    gc_runs: u64,
    gc_latency_us: Vec<f64>,
    since_gc: usize,
    initial_switch: Duration,
    wall: Duration,
}

impl<E: Environment, W: Workdir> fmt::Debug for Mcts<'_, E, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mcts")
            .field("nodes", &self.nodes.len())
            .field("live", &self.live)
            .field("best", &self.best)
            .finish()
    }
}

impl<'e, E: Environment, W: Workdir> Mcts<'e, E, W> {
    /// Scores the cache holds unless told otherwise: a few hundred kilobytes
    /// (a hash and a score each, with the bookkeeping of recency).
    pub const DEFAULT_SCORE_CACHE_CAPACITY: usize = 4096;

    /// Starts a search at `root`: commits it (the root's own commit does
    /// not count as engine cost), pins it, checks it out into `workdir`
    /// and scores it. One working directory: `config.workers` must be 1
    /// (see [`Mcts::with_workdirs`]).
    pub fn new(
        engine: &'e HeliosEngine,
        env: E,
        workdir: W,
        root: Vst,
        config: SearchConfig,
    ) -> MctsResult<Self> {
        Self::with_workdirs(engine, env, vec![workdir], root, config)
    }

    /// [`Mcts::new`] with one working directory per evaluation worker
    /// (`workdirs.len() == config.workers`; see the module docs). The root
    /// is evaluated in the first.
    pub fn with_workdirs(
        engine: &'e HeliosEngine,
        env: E,
        mut workdirs: Vec<W>,
        root: Vst,
        config: SearchConfig,
    ) -> MctsResult<Self> {
        config.validate()?;
        if workdirs.len() != config.workers {
            return Err(MctsError::Config(format!(
                "{} working directories for {} workers: each worker needs one of its own",
                workdirs.len(),
                config.workers
            )));
        }
        let mut metadata = BTreeMap::new();
        metadata.insert("mcts.node".to_owned(), "0".to_owned());
        let meta = CommitMeta {
            parents: Vec::new(),
            label: "mcts root".into(),
            metadata,
            pin: true,
        };
        let (snapshot, commit) = engine.commit(&root, config.durability, meta)?;
        let job = Job {
            node: NodeId::ROOT,
            snapshot,
            vst: root,
            cached: None,
        };
        let evaluation = evaluators::evaluate(&env, &mut workdirs[0], &job)?;
        let (root, score, switch, initial_switch) = (
            job.vst,
            evaluation.score,
            evaluation.switch,
            evaluation.switch_latency,
        );
        let terminal = env.is_terminal(
            &StateView {
                vst: &root,
                history: &[],
            },
            &score,
        );
        let node = Node {
            id: NodeId::ROOT,
            parent: None,
            action: None,
            depth: 0,
            snapshot,
            root_hash: root.root_hash(),
            commit,
            commit_cost: 0.0,
            path_cost: 0.0,
            engine_cost: 0.0,
            code_reward: score.code_reward,
            total_reward: score.code_reward,
            solved: score.solved,
            terminal,
            switch_latency: initial_switch,
            switch,
            scorer_latency: evaluation.scorer_latency,
            visits: 1,
            value_sum: score.code_reward,
            pinned: true,
            pending: false,
            in_flight: 0,
            prior: 1.0,
            children: Vec::new(),
            untried: terminal.then(Vec::new),
            vst: Some(root),
            exhausted: terminal,
        };
        let mut cache = ScoreCache::new(Self::DEFAULT_SCORE_CACHE_CAPACITY);
        if config.cache_scores {
            cache.insert(node.root_hash, score);
        }
        let rng = SplitMix64::mixed(config.seed);
        Ok(Mcts {
            engine,
            env: Arc::new(env),
            workdirs,
            config,
            reward_min: node.total_reward,
            reward_max: node.total_reward,
            nodes: vec![node],
            cache,
            scoring: HashMap::new(),
            pending: 0,
            rng,
            best: NodeId::ROOT,
            live: 1,
            peak_live: 1,
            pruned: 0,
            iterations: 0,
            scorer_runs: 1,
            cache_hits: 0,
            gc: GcReport::default(),
            gc_runs: 0,
            gc_latency_us: Vec::new(),
            since_gc: 0,
            initial_switch,
            wall: Duration::ZERO,
        })
    }

    /// Runs until `max_nodes` nodes were created or every line is
    /// exhausted. `progress(done, total)` is called after each node.
    pub fn run(&mut self, progress: &dyn Fn(usize, usize)) -> MctsResult<()>
    where
        E: Sync,
        W: Send,
    {
        self.run_until(progress, &|| false)
    }

    /// [`run`](Mcts::run), stopping early once `stop()` says so (a
    /// caller's Ctrl-C): no new node is started, the evaluations in flight
    /// finish and are backed up, so the tree stays whole and every node in
    /// it committed and scored. On an error, too, the evaluations in
    /// flight are waited for before the first error is returned.
    pub fn run_until(
        &mut self,
        progress: &dyn Fn(usize, usize),
        stop: &dyn Fn() -> bool,
    ) -> MctsResult<()>
    where
        E: Sync,
        W: Send,
    {
        let start = Instant::now();
        let mut workdirs = std::mem::take(&mut self.workdirs);
        let env = Arc::clone(&self.env);
        let result = match workdirs.as_mut_slice() {
            [workdir] => {
                let mut inline = Evaluators::Inline {
                    env: &*env,
                    workdir,
                    done: None,
                };
                self.drive(&mut inline, progress, stop)
            }
            _ => evaluators::on_threads(&*env, &mut workdirs, |threads| {
                self.drive(threads, progress, stop)
            }),
        };
        self.workdirs = workdirs;
        self.wall += start.elapsed();
        result
    }

    /// The search loop: hands new nodes to free workers, backs up each
    /// result as it arrives, and collects garbage on schedule, until
    /// `max_nodes` are created, everything is exhausted or `stop()`; then
    /// drains what is in flight. The first error stops new work.
    fn drive(
        &mut self,
        evaluators: &mut Evaluators<'_, E, W>,
        progress: &dyn Fn(usize, usize),
        stop: &dyn Fn() -> bool,
    ) -> MctsResult<()> {
        let total = self.config.max_nodes;
        let mut failed: Option<MctsError> = None;
        loop {
            // Nodes skipped in this round because all they offer is pending.
            let mut blocked = HashSet::new();
            while failed.is_none()
                && evaluators.has_idle()
                && self.created() < total
                && !self.nodes[0].exhausted
                && !stop()
            {
                match self.select_and_expand(&mut blocked) {
                    Ok(Selected::Node(id)) => {
                        if let Some(job) = self.job_for(id)
                            && let Err(e) = evaluators.submit(job)
                        {
                            self.abandon(id);
                            failed = Some(e);
                        }
                    }
                    Ok(Selected::Dead) => {}
                    Ok(Selected::Blocked) => break,
                    Err(e) => failed = Some(e),
                }
            }
            let Some(done) = evaluators.next()? else {
                break;
            };
            let backed_up = match done.result {
                Ok(evaluation) => self.back_up(done.node, evaluation, progress),
                Err(e) => {
                    self.abandon(done.node);
                    Err(e)
                }
            };
            if let Err(e) = backed_up {
                failed.get_or_insert(e);
            }
            let gc_due = self
                .config
                .gc_every
                .is_some_and(|every| self.since_gc >= every);
            if failed.is_none()
                && gc_due
                && let Err(e) = self.collect()
            {
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Runs the engine's gc now and adds its report to the totals.
    pub fn collect(&mut self) -> MctsResult<GcReport> {
        let start = Instant::now();
        let report = self.engine.gc()?;
        self.gc_latency_us.push(latency_us(start.elapsed()));
        self.gc_runs += 1;
        self.gc.marked = report.marked;
        self.gc.objects_reclaimed += report.objects_reclaimed;
        self.gc.bytes_reclaimed += report.bytes_reclaimed;
        self.gc.snapshots_reclaimed += report.snapshots_reclaimed;
        self.since_gc = 0;
        Ok(report)
    }

    /// Unpins every live node (the search can no longer expand) and drops
    /// what only expansion needs: trees, untried actions, cached scores.
    /// Returns how many were unpinned.
    pub fn release(&mut self) -> MctsResult<u64> {
        let mut n = 0;
        for node in &mut self.nodes {
            if node.pinned {
                self.engine.unpin(&node.snapshot)?;
                node.pinned = false;
                node.vst = None;
                node.untried = Some(Vec::new());
                node.exhausted = true;
                n += 1;
                self.live -= 1;
            }
        }
        self.cache.clear();
        Ok(n)
    }

    /// Bounds the score cache to `capacity` scores (default
    /// [`Self::DEFAULT_SCORE_CACHE_CAPACITY`]); the least recently used
    /// go first. Zero is refused: turn caching off with
    /// [`SearchConfig::cache_scores`].
    pub fn set_score_cache_capacity(&mut self, capacity: usize) -> MctsResult<()> {
        if capacity == 0 {
            return Err(MctsError::Config(
                "score cache capacity must be at least 1 (cache_scores = false turns it off)"
                    .into(),
            ));
        }
        self.cache.set_capacity(capacity);
        Ok(())
    }

    /// Scores held in the cache now.
    pub fn score_cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Nodes created by actions so far (the root not counted).
    pub fn created(&self) -> usize {
        self.nodes.len() - 1
    }

    /// Every node ever created, live or pruned, by id.
    pub fn nodes(&self) -> &[Node<E::Action>] {
        &self.nodes
    }

    /// One node, or [`MctsError::UnknownNode`] for an id this search did
    /// not make.
    pub fn node(&self, id: NodeId) -> MctsResult<&Node<E::Action>> {
        self.nodes.get(id.0).ok_or(MctsError::UnknownNode {
            id,
            nodes: self.nodes.len(),
        })
    }

    /// The node with the highest total reward found (earliest on ties).
    pub fn best(&self) -> NodeId {
        self.best
    }

    /// Nodes from the root to `id`, root first, or
    /// [`MctsError::UnknownNode`] for an id this search did not make.
    pub fn path_to(&self, id: NodeId) -> MctsResult<Vec<NodeId>> {
        self.node(id)?;
        Ok(self.path_of(id))
    }

    /// The actions from the root to `id`, or [`MctsError::UnknownNode`]
    /// for an id this search did not make.
    pub fn actions_to(&self, id: NodeId) -> MctsResult<Vec<E::Action>> {
        self.node(id)?;
        Ok(self.actions_of(id))
    }

    /// [`Mcts::path_to`] for an id this search made (it holds it).
    fn path_of(&self, id: NodeId) -> Vec<NodeId> {
        // A node's parent was made before it, so every id on the way up is
        // valid once `id` is.
        let mut path = vec![id];
        let mut cur = id;
        while let Some(p) = self.nodes[cur.0].parent {
            path.push(p);
            cur = p;
        }
        path.reverse();
        path
    }

    /// [`Mcts::actions_to`] for an id this search made (it holds it).
    fn actions_of(&self, id: NodeId) -> Vec<E::Action> {
        self.path_of(id)
            .iter()
            .filter_map(|n| self.nodes[n.0].action.clone())
            .collect()
    }

    /// Snapshots pinned by the search now.
    pub fn pinned(&self) -> Vec<SnapshotId> {
        self.nodes
            .iter()
            .filter(|n| n.pinned)
            .map(|n| n.snapshot)
            .collect()
    }

    /// The configuration.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// The environment.
    pub fn env(&self) -> &E {
        &self.env
    }

    /// The first working directory (the one the root was evaluated in).
    pub fn workdir(&self) -> &W {
        &self.workdirs[0]
    }

    /// Every worker's working directory, in the order given.
    pub fn workdirs(&self) -> &[W] {
        &self.workdirs
    }

    /// What the search measured so far.
    pub fn telemetry(&self) -> Telemetry {
        let made = &self.nodes[1..];
        let root = &self.nodes[0];
        // Each commit once: `commit_cost`, not `engine_cost`, which under
        // the path scope repeats every ancestor's commit.
        let cost_sum: f64 = made.iter().map(|n| n.commit_cost).sum();
        let code_sum: f64 = made.iter().map(|n| n.code_reward.abs()).sum();
        Telemetry {
            nodes: made.len() as u64,
            iterations: self.iterations,
            scorer_runs: self.scorer_runs,
            score_cache_hits: self.cache_hits,
            score_cache_entries: self.cache.len() as u64,
            score_cache_evictions: self.cache.evictions(),
            live_nodes: self.live,
            peak_live_nodes: self.peak_live,
            pruned_nodes: self.pruned,
            commit_latency_us: Distribution::of(
                made.iter().map(|n| latency_us(n.commit.commit_latency)),
            ),
            new_objects: Distribution::of(made.iter().map(|n| n.commit.new_objects as f64)),
            new_bytes: Distribution::of(made.iter().map(|n| n.commit.new_objects_size as f64)),
            switch_latency_us: Distribution::of(made.iter().map(|n| latency_us(n.switch_latency))),
            switch_files: Distribution::of(made.iter().map(|n| n.switch.files_written as f64)),
            scorer_latency_us: Distribution::of(
                self.nodes
                    .iter()
                    .filter_map(|n| n.scorer_latency)
                    .map(latency_us),
            ),
            engine_cost: Distribution::of(made.iter().map(|n| n.engine_cost)),
            code_reward: Distribution::of(made.iter().map(|n| n.code_reward)),
            engine_cost_share: if code_sum > 0.0 {
                cost_sum / code_sum
            } else {
                0.0
            },
            engine_cost_share_per_node: Distribution::of(
                made.iter()
                    .filter(|n| n.code_reward != 0.0)
                    .map(|n| n.engine_cost / n.code_reward.abs()),
            ),
            root_commit_us: latency_us(root.commit.commit_latency),
            initial_switch_us: latency_us(self.initial_switch),
            root_new_objects: root.commit.new_objects,
            gc_runs: self.gc_runs,
            gc_objects_reclaimed: self.gc.objects_reclaimed,
            gc_bytes_reclaimed: self.gc.bytes_reclaimed,
            gc_snapshots_reclaimed: self.gc.snapshots_reclaimed,
            gc_latency_us: Distribution::of(self.gc_latency_us.iter().copied()),
            wall_seconds: self.wall.as_secs_f64(),
            workers: self.config.workers as u64,
        }
    }

    /// One descent from the root: selection, then expansion of a new
    /// pending node (committed, not yet evaluated). `blocked` holds the
    /// nodes found waiting on pending nodes only in this round; they are
    /// skipped, so the workers spread over what else is open.
    fn select_and_expand(&mut self, blocked: &mut HashSet<NodeId>) -> MctsResult<Selected> {
        self.iterations += 1;
        let mut path = vec![NodeId::ROOT];
        let mut cur = NodeId::ROOT;
        loop {
            self.ensure_actions(cur)?;
            match self.select(cur, blocked) {
                Choice::Expand => return Ok(Selected::Node(self.expand(cur)?)),
                Choice::Descend(child) => {
                    path.push(child);
                    cur = child;
                }
                Choice::Dead => {
                    self.nodes[cur.0].exhausted = true;
                    self.refresh_exhausted(&path);
                    return Ok(Selected::Dead);
                }
                Choice::Blocked if cur == NodeId::ROOT => return Ok(Selected::Blocked),
                Choice::Blocked => {
                    blocked.insert(cur);
                    path.truncate(1);
                    cur = NodeId::ROOT;
                }
            }
        }
    }

    /// The evaluation job of pending node `id`, with its score when the
    /// cache holds a transposition's; `None` when a transposition is being
    /// scored now: `id` then waits for that score (see [`Mcts::back_up`]).
    fn job_for(&mut self, id: NodeId) -> Option<Job> {
        let node = &self.nodes[id.0];
        let (hash, snapshot) = (node.root_hash, node.snapshot);
        let mut cached = None;
        if self.config.cache_scores {
            if let Some((_, waiting)) = self.scoring.get_mut(&hash) {
                waiting.push(id);
                return None;
            }
            cached = self.cache.get(&hash);
            match cached {
                Some(_) => self.cache_hits += 1,
                None => {
                    self.scoring.insert(hash, (id, Vec::new()));
                }
            }
        }
        let vst = self.nodes[id.0].vst.clone()?;
        Some(Job {
            node: id,
            snapshot,
            vst,
            cached,
        })
    }

    /// Records pending node `id`'s evaluation, and the same score for the
    /// transpositions that waited for it.
    fn back_up(
        &mut self,
        id: NodeId,
        evaluation: Evaluation,
        progress: &dyn Fn(usize, usize),
    ) -> MctsResult<()> {
        let score = evaluation.score;
        let hash = self.nodes[id.0].root_hash;
        if evaluation.scorer_latency.is_some() {
            self.scorer_runs += 1;
            if self.config.cache_scores {
                self.cache.insert(hash, score);
            }
        }
        let waiting = self.take_waiters(id);
        self.finish(id, evaluation, progress)?;
        for waiter in waiting {
            self.cache_hits += 1;
            self.finish(waiter, Evaluation::shared(score), progress)?;
        }
        Ok(())
    }

    /// Gives pending node `id` its reward, backs it up along its path
    /// (replacing the virtual loss), then prunes.
    fn finish(
        &mut self,
        id: NodeId,
        evaluation: Evaluation,
        progress: &dyn Fn(usize, usize),
    ) -> MctsResult<()> {
        let score = evaluation.score;
        let node = &self.nodes[id.0];
        let total_reward = score.code_reward - node.engine_cost;
        let terminal = node.depth >= self.config.max_depth || self.is_terminal(id, &score)?;
        self.reward_min = self.reward_min.min(total_reward);
        self.reward_max = self.reward_max.max(total_reward);
        let node = &mut self.nodes[id.0];
        node.code_reward = score.code_reward;
        node.total_reward = total_reward;
        node.solved = score.solved;
        node.terminal = terminal;
        node.switch = evaluation.switch;
        node.switch_latency = evaluation.switch_latency;
        node.scorer_latency = evaluation.scorer_latency;
        node.untried = terminal.then(Vec::new);
        node.exhausted = terminal;
        self.settle(id);

        let path = self.path_of(id);
        for n in &path {
            let n = &mut self.nodes[n.0];
            n.visits += 1;
            n.value_sum += total_reward;
        }
        if total_reward > self.nodes[self.best.0].total_reward {
            self.best = id;
        }
        self.refresh_exhausted(&path);
        self.prune(&path)?;
        self.since_gc += 1;
        progress(self.created() - self.pending, self.config.max_nodes);
        Ok(())
    }

    /// Ends pending node `id`'s evaluation without a result (it failed):
    /// the node stays committed and pinned, and is never expanded. The
    /// transpositions waiting on it are abandoned with it.
    fn abandon(&mut self, id: NodeId) {
        let node = &mut self.nodes[id.0];
        if !node.pending {
            return;
        }
        node.untried = Some(Vec::new());
        node.exhausted = true;
        self.settle(id);
        self.refresh_exhausted(&self.path_of(id));
        for waiter in self.take_waiters(id) {
            self.abandon(waiter);
        }
    }

    /// The transpositions waiting for `id`'s score, when `id` is the node
    /// whose scorer runs for its tree (see [`Mcts::job_for`]); they stop
    /// waiting.
    fn take_waiters(&mut self, id: NodeId) -> Vec<NodeId> {
        let hash = self.nodes[id.0].root_hash;
        match self.scoring.get(&hash) {
            Some((owner, _)) if *owner == id => self
                .scoring
                .remove(&hash)
                .map(|(_, w)| w)
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Marks pending node `id` as no longer pending and lifts its virtual
    /// loss from its ancestors.
    fn settle(&mut self, id: NodeId) {
        self.nodes[id.0].pending = false;
        self.pending -= 1;
        let mut cur = self.nodes[id.0].parent;
        while let Some(p) = cur {
            self.nodes[p.0].in_flight -= 1;
            cur = self.nodes[p.0].parent;
        }
    }

    /// Fills a node's untried actions the first time it is selected.
    fn ensure_actions(&mut self, id: NodeId) -> MctsResult<()> {
        if self.nodes[id.0].untried.is_some() {
            return Ok(());
        }
        let history = self.actions_of(id);
        let vst = self.live_vst(id)?;
        let mut proposals = self.env.actions(&StateView {
            vst,
            history: &history,
        })?;
        let total: f64 = proposals.iter().map(|p| p.prior.max(0.0)).sum();
        let n = proposals.len() as f64;
        for p in &mut proposals {
            p.prior = if total > 0.0 {
                p.prior.max(0.0) / total
            } else {
                1.0 / n
            };
        }
        // Random order, then (stably) by prior: the last is tried first.
        self.rng.shuffle(&mut proposals);
        proposals.sort_by(|a, b| a.prior.total_cmp(&b.prior));
        self.nodes[id.0].untried = Some(proposals);
        Ok(())
    }

    fn normalized(&self, q: f64) -> f64 {
        let span = self.reward_max - self.reward_min;
        if span > 0.0 {
            (q - self.reward_min) / span
        } else {
            0.5
        }
    }

    /// What to do at node `id`: expand it, or descend into one of its
    /// children that is neither exhausted, pending nor `blocked`, with
    /// visits and means as virtual loss shows them.
    fn select(&self, id: NodeId, blocked: &HashSet<NodeId>) -> Choice {
        let node = &self.nodes[id.0];
        let untried = node.untried.as_ref().and_then(|u| u.last());
        let (open, waiting): (Vec<NodeId>, Vec<NodeId>) = node
            .children
            .iter()
            .copied()
            .filter(|c| !self.nodes[c.0].exhausted)
            .partition(|c| !self.nodes[c.0].pending && !blocked.contains(c));
        let none_open = if waiting.is_empty() {
            Choice::Dead
        } else {
            Choice::Blocked
        };
        let loss = self.reward_min;
        let parent_visits = node.seen(loss).0.max(1.0);
        match self.config.policy {
            Policy::Uct { exploration } => {
                if untried.is_some() {
                    return Choice::Expand;
                }
                let score = |c: &Node<E::Action>| {
                    let (n, mean) = c.seen(loss);
                    self.normalized(mean) + exploration * (parent_visits.ln() / n.max(1.0)).sqrt()
                };
                self.argmax(&open, score).map_or(none_open, Choice::Descend)
            }
            Policy::Puct { exploration } => {
                let sqrt_n = parent_visits.sqrt();
                let score = |c: &Node<E::Action>| {
                    let (n, mean) = c.seen(loss);
                    self.normalized(mean) + exploration * c.prior * sqrt_n / (1.0 + n)
                };
                let best_child = self.argmax(&open, score);
                let expand_score = untried
                    .map(|p| self.normalized(node.seen(loss).1) + exploration * p.prior * sqrt_n);
                match (best_child, expand_score) {
                    (Some(c), Some(e)) if score(&self.nodes[c.0]) >= e => Choice::Descend(c),
                    (_, Some(_)) => Choice::Expand,
                    (Some(c), None) => Choice::Descend(c),
                    (None, None) => none_open,
                }
            }
        }
    }

    fn argmax(&self, ids: &[NodeId], score: impl Fn(&Node<E::Action>) -> f64) -> Option<NodeId> {
        let mut best: Option<(NodeId, f64)> = None;
        for &id in ids {
            let s = score(&self.nodes[id.0]);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((id, s));
            }
        }
        best.map(|(id, _)| id)
    }

    /// Expansion of `parent`'s next untried action: applies its edits,
    /// commits the tree (pinned) and adds the node, pending, with a virtual
    /// loss on its ancestors until its evaluation is backed up.
    fn expand(&mut self, parent_id: NodeId) -> MctsResult<NodeId> {
        let proposal = self.take_untried(parent_id)?;
        let parent_vst = self.live_vst(parent_id)?.clone();
        let parent = &self.nodes[parent_id.0];
        let (parent_snapshot, parent_path_cost, depth) =
            (parent.snapshot, parent.path_cost, parent.depth + 1);
        let id = NodeId(self.nodes.len());

        let edits = self.env.edits(&parent_vst, &proposal.action)?;
        let vst = parent_vst.apply(&edits)?;
        let (snapshot, commit) =
            self.commit_child(&vst, id, depth, parent_snapshot, &proposal.action)?;
        let commit_cost = self.config.weights.commit_cost(&commit);
        let path_cost = parent_path_cost + commit_cost;
        let engine_cost = match self.config.cost_scope {
            CostScope::Path => path_cost,
            CostScope::Node => commit_cost,
        };
        self.nodes.push(Node {
            id,
            parent: Some(parent_id),
            action: Some(proposal.action),
            depth,
            snapshot,
            root_hash: vst.root_hash(),
            commit,
            commit_cost,
            path_cost,
            engine_cost,
            // The evaluation's fields are set when it is backed up.
            code_reward: 0.0,
            total_reward: 0.0,
            solved: false,
            terminal: false,
            switch_latency: Duration::ZERO,
            switch: SwitchStats::default(),
            scorer_latency: None,
            visits: 0,
            value_sum: 0.0,
            pinned: true,
            pending: true,
            in_flight: 0,
            prior: proposal.prior,
            children: Vec::new(),
            untried: None,
            vst: Some(vst),
            exhausted: false,
        });
        self.nodes[parent_id.0].children.push(id);
        self.pending += 1;
        let mut cur = Some(parent_id);
        while let Some(p) = cur {
            self.nodes[p.0].in_flight += 1;
            cur = self.nodes[p.0].parent;
        }
        Ok(id)
    }

    /// Takes the action `id` tries next (the last: see `ensure_actions`).
    fn take_untried(&mut self, id: NodeId) -> MctsResult<Proposal<E::Action>> {
        self.nodes[id.0]
            .untried
            .as_mut()
            .and_then(Vec::pop)
            .ok_or_else(|| MctsError::Environment(format!("node {id} has no untried action")))
    }

    /// The tree of node `id`, which only a live node still holds.
    fn live_vst(&self, id: NodeId) -> MctsResult<&Vst> {
        self.nodes[id.0].vst.as_ref().ok_or_else(|| {
            MctsError::Environment(format!("node {id} was pruned and cannot be expanded"))
        })
    }

    /// Commits node `id`'s tree as a child of `parent`, pinned in the same
    /// call, and counts it live: a node is pinned exactly while it is live.
    fn commit_child(
        &mut self,
        vst: &Vst,
        id: NodeId,
        depth: usize,
        parent: SnapshotId,
        action: &E::Action,
    ) -> MctsResult<(SnapshotId, CommitMetrics)> {
        let mut metadata = BTreeMap::new();
        metadata.insert("mcts.node".to_owned(), id.0.to_string());
        metadata.insert("mcts.depth".to_owned(), depth.to_string());
        let meta = CommitMeta {
            parents: vec![parent],
            label: action.to_string(),
            metadata,
            pin: true,
        };
        let committed = self.engine.commit(vst, self.config.durability, meta)?;
        self.live += 1;
        self.peak_live = self.peak_live.max(self.live);
        Ok(committed)
    }

    /// Whether the environment calls node `id`'s state terminal given its
    /// score (the depth cap is the caller's).
    fn is_terminal(&self, id: NodeId, score: &Score) -> MctsResult<bool> {
        let history = self.actions_of(id);
        let vst = self.live_vst(id)?;
        Ok(self.env.is_terminal(
            &StateView {
                vst,
                history: &history,
            },
            score,
        ))
    }

    /// Recomputes `exhausted` bottom-up along `path`.
    fn refresh_exhausted(&mut self, path: &[NodeId]) {
        for id in path.iter().rev() {
            let node = &self.nodes[id.0];
            let done = node.terminal
                || (node.untried.as_ref().is_some_and(Vec::is_empty)
                    && node.children.iter().all(|c| self.nodes[c.0].exhausted));
            self.nodes[id.0].exhausted = done;
        }
    }

    /// What pruning leaves alone: the best path, `path`, and every
    /// pending node with its ancestors.
    fn protected(&self, path: &[NodeId]) -> HashSet<NodeId> {
        let mut keep: HashSet<NodeId> = self.path_of(self.best).into_iter().collect();
        keep.extend(path.iter().copied());
        if self.pending > 0 {
            for node in self.nodes.iter().filter(|n| n.pending) {
                keep.extend(self.path_of(node.id));
            }
        }
        keep
    }

    fn prune(&mut self, path: &[NodeId]) -> MctsResult<()> {
        let keep = self.protected(path);
        if let Some(k) = self.config.keep_best_children {
            for &id in path {
                let node = &self.nodes[id.0];
                if !node.pinned
                    || !node.untried.as_ref().is_some_and(Vec::is_empty)
                    || node.children.len() <= k
                    || node
                        .children
                        .iter()
                        .any(|c| self.nodes[c.0].visits < self.config.prune_min_visits)
                {
                    continue;
                }
                let mut ranked = node.children.clone();
                ranked.sort_by(|a, b| self.nodes[b.0].mean().total_cmp(&self.nodes[a.0].mean()));
                for &child in &ranked[k..] {
                    if !keep.contains(&child) {
                        self.prune_subtree(child)?;
                    }
                }
            }
        }
        if let Some(cap) = self.config.max_live_nodes {
            while self.live > cap as u64 {
                let victim = self
                    .nodes
                    .iter()
                    .filter(|n| n.pinned && n.children.is_empty() && !keep.contains(&n.id))
                    .min_by(|a, b| a.mean().total_cmp(&b.mean()).then(b.id.cmp(&a.id)))
                    .map(|n| n.id);
                let Some(victim) = victim else { break };
                self.prune_subtree(victim)?;
            }
        }
        Ok(())
    }

    /// Unpins `id` and everything below it, drops their trees, detaches it
    /// from its parent (whose action stays closed) and refreshes exhaustion.
    fn prune_subtree(&mut self, id: NodeId) -> MctsResult<()> {
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            let node = &mut self.nodes[n.0];
            // Taken, not drained: the record keeps no allocation.
            stack.extend(std::mem::take(&mut node.children));
            if node.pinned {
                self.engine.unpin(&node.snapshot)?;
                node.pinned = false;
                self.live -= 1;
                self.pruned += 1;
            }
            node.vst = None;
            node.untried = Some(Vec::new());
            node.exhausted = true;
        }
        if let Some(parent) = self.nodes[id.0].parent {
            self.nodes[parent.0].children.retain(|c| *c != id);
            let path = self.path_of(parent);
            self.refresh_exhausted(&path);
        }
        Ok(())
    }
}
