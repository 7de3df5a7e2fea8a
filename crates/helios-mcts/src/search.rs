//! [`Mcts`]: the search. Nodes are engine snapshots.
//!
//! One iteration:
//! 1. **Selection** descends from the root by the [`Policy`], skipping
//!    exhausted subtrees (terminal, or every action tried and every child
//!    exhausted).
//! 2. **Expansion** applies an untried action's edits to the parent's tree
//!    and commits it, pinned in the same call, with the configured durability. Its
//!    [`CommitMetrics`] are recorded on the node.
//! 3. **Evaluation** switches the working directory to the node (timed) and
//!    asks the environment to score it; scores are cached by root hash, so a
//!    transposition runs the scorer once (while its score is among the
//!    cache's most recently used: the cache is bounded). `total_reward = code_reward −
//!    engine_cost` (see [`crate::reward`]).
//! 4. **Backpropagation** adds the new node's total reward to every node on
//!    the path.
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

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use helios_engine::{CommitMeta, CommitMetrics, GcReport, HeliosEngine};
use helios_types::{Hash, SnapshotId};
use helios_vst::Vst;
use helios_workload::SplitMix64;

use crate::config::{Policy, SearchConfig};
use crate::env::{Environment, Proposal, Score, StateView};
use crate::error::{MctsError, MctsResult};
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
}

enum Choice {
    Expand,
    Descend(NodeId),
    Dead,
}

/// What evaluating a new node measured: the switch of the working
/// directory to it, and its score.
struct Evaluation {
    switch: SwitchStats,
    switch_latency: Duration,
    score: Score,
    /// `None` when the score came from the cache.
    scorer_latency: Option<Duration>,
}

/// A Monte Carlo Tree Search over engine snapshots.
pub struct Mcts<'e, E: Environment, W: Workdir> {
    engine: &'e HeliosEngine,
    env: E,
    workdir: W,
    config: SearchConfig,
    nodes: Vec<Node<E::Action>>,
    cache: ScoreCache,
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
    /// and scores it.
    pub fn new(
        engine: &'e HeliosEngine,
        env: E,
        mut workdir: W,
        root: Vst,
        config: SearchConfig,
    ) -> MctsResult<Self> {
        config.validate()?;
        let mut metadata = BTreeMap::new();
        metadata.insert("mcts.node".to_owned(), "0".to_owned());
        let meta = CommitMeta {
            parents: Vec::new(),
            label: "mcts root".into(),
            metadata,
            pin: true,
        };
        let (snapshot, commit) = engine.commit(&root, config.durability, meta)?;
        let start = Instant::now();
        let switch = workdir.switch_to(&snapshot, &root)?;
        let initial_switch = start.elapsed();
        let start = Instant::now();
        let score = env.score(workdir.path(), &root)?;
        let scorer_latency = start.elapsed();
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
            scorer_latency: Some(scorer_latency),
            visits: 1,
            value_sum: score.code_reward,
            pinned: true,
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
            env,
            workdir,
            config,
            reward_min: node.total_reward,
            reward_max: node.total_reward,
            nodes: vec![node],
            cache,
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
    pub fn run(&mut self, progress: &dyn Fn(usize, usize)) -> MctsResult<()> {
        self.run_until(progress, &|| false)
    }

    /// [`run`](Mcts::run), stopping early, between two nodes, once
    /// `stop()` says so (a caller's Ctrl-C): the tree stays whole and every
    /// node in it committed.
    pub fn run_until(
        &mut self,
        progress: &dyn Fn(usize, usize),
        stop: &dyn Fn() -> bool,
    ) -> MctsResult<()> {
        let start = Instant::now();
        let total = self.config.max_nodes;
        let result = (|| {
            while self.created() < total && !self.nodes[0].exhausted && !stop() {
                let before = self.created();
                self.iterate()?;
                if self.created() > before {
                    self.since_gc += 1;
                    progress(self.created(), total);
                }
                if self
                    .config
                    .gc_every
                    .is_some_and(|every| self.since_gc >= every)
                {
                    self.collect()?;
                }
            }
            Ok(())
        })();
        self.wall += start.elapsed();
        result
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

    /// The working directory.
    pub fn workdir(&self) -> &W {
        &self.workdir
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
        }
    }

    fn iterate(&mut self) -> MctsResult<()> {
        self.iterations += 1;
        let mut path = vec![NodeId::ROOT];
        let mut cur = NodeId::ROOT;
        let leaf = loop {
            self.ensure_actions(cur)?;
            match self.select(cur) {
                Choice::Expand => break self.expand(cur)?,
                Choice::Descend(child) => {
                    path.push(child);
                    cur = child;
                }
                Choice::Dead => {
                    self.nodes[cur.0].exhausted = true;
                    self.refresh_exhausted(&path);
                    return Ok(());
                }
            }
        };
        path.push(leaf);
        let reward = self.nodes[leaf.0].total_reward;
        for id in &path {
            let n = &mut self.nodes[id.0];
            n.visits += 1;
            n.value_sum += reward;
        }
        if reward > self.nodes[self.best.0].total_reward {
            self.best = leaf;
        }
        self.refresh_exhausted(&path);
        self.prune(&path)?;
        Ok(())
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

    fn select(&mut self, id: NodeId) -> Choice {
        let node = &self.nodes[id.0];
        let untried = node.untried.as_ref().and_then(|u| u.last());
        let open: Vec<NodeId> = node
            .children
            .iter()
            .copied()
            .filter(|c| !self.nodes[c.0].exhausted)
            .collect();
        let parent_visits = node.visits.max(1) as f64;
        match self.config.policy {
            Policy::Uct { exploration } => {
                if untried.is_some() {
                    return Choice::Expand;
                }
                let score = |c: &Node<E::Action>| {
                    let n = c.visits.max(1) as f64;
                    self.normalized(c.mean()) + exploration * (parent_visits.ln() / n).sqrt()
                };
                self.argmax(&open, score)
                    .map_or(Choice::Dead, Choice::Descend)
            }
            Policy::Puct { exploration } => {
                let sqrt_n = parent_visits.sqrt();
                let score = |c: &Node<E::Action>| {
                    self.normalized(c.mean())
                        + exploration * c.prior * sqrt_n / (1.0 + c.visits as f64)
                };
                let best_child = self.argmax(&open, score);
                let expand_score =
                    untried.map(|p| self.normalized(node.mean()) + exploration * p.prior * sqrt_n);
                match (best_child, expand_score) {
                    (Some(c), Some(e)) if score(&self.nodes[c.0]) >= e => Choice::Descend(c),
                    (_, Some(_)) => Choice::Expand,
                    (Some(c), None) => Choice::Descend(c),
                    (None, None) => Choice::Dead,
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

    /// Expansion and evaluation of `parent`'s next untried action.
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
        let evaluation = self.evaluate(&snapshot, &vst)?;
        let score = evaluation.score;

        let commit_cost = self.config.weights.commit_cost(&commit);
        let path_cost = parent_path_cost + commit_cost;
        let engine_cost = match self.config.cost_scope {
            CostScope::Path => path_cost,
            CostScope::Node => commit_cost,
        };
        let total_reward = score.code_reward - engine_cost;
        self.reward_min = self.reward_min.min(total_reward);
        self.reward_max = self.reward_max.max(total_reward);

        let terminal = depth >= self.config.max_depth
            || self.child_is_terminal(parent_id, &proposal.action, &vst, &score);
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
            code_reward: score.code_reward,
            total_reward,
            solved: score.solved,
            terminal,
            switch_latency: evaluation.switch_latency,
            switch: evaluation.switch,
            scorer_latency: evaluation.scorer_latency,
            visits: 0,
            value_sum: 0.0,
            pinned: true,
            prior: proposal.prior,
            children: Vec::new(),
            untried: terminal.then(Vec::new),
            vst: Some(vst),
            exhausted: terminal,
        });
        self.nodes[parent_id.0].children.push(id);
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

    /// Switches the working directory to a new node (timed) and scores it.
    fn evaluate(&mut self, snapshot: &SnapshotId, vst: &Vst) -> MctsResult<Evaluation> {
        let start = Instant::now();
        let switch = self.workdir.switch_to(snapshot, vst)?;
        let switch_latency = start.elapsed();
        let (score, scorer_latency) = self.score_of(vst)?;
        Ok(Evaluation {
            switch,
            switch_latency,
            score,
            scorer_latency,
        })
    }

    /// The score of the tree in the working directory, from the cache when
    /// an equal tree (same root hash) was scored recently, else from the
    /// scorer, with how long it ran (`None` on a cache hit).
    fn score_of(&mut self, vst: &Vst) -> MctsResult<(Score, Option<Duration>)> {
        let root_hash = vst.root_hash();
        let cached = if self.config.cache_scores {
            self.cache.get(&root_hash)
        } else {
            None
        };
        if let Some(score) = cached {
            self.cache_hits += 1;
            return Ok((score, None));
        }
        let start = Instant::now();
        let score = self.env.score(self.workdir.path(), vst)?;
        let took = start.elapsed();
        self.scorer_runs += 1;
        if self.config.cache_scores {
            self.cache.insert(root_hash, score);
        }
        Ok((score, Some(took)))
    }

    /// Whether the environment calls the state `action` makes from
    /// `parent` terminal (the depth cap is the caller's).
    fn child_is_terminal(
        &self,
        parent: NodeId,
        action: &E::Action,
        vst: &Vst,
        score: &Score,
    ) -> bool {
        let mut history = self.actions_of(parent);
        history.push(action.clone());
        self.env.is_terminal(
            &StateView {
                vst,
                history: &history,
            },
            score,
        )
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

    fn protected(&self, path: &[NodeId]) -> HashSet<NodeId> {
        let mut keep: HashSet<NodeId> = self.path_of(self.best).into_iter().collect();
        keep.extend(path.iter().copied());
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
