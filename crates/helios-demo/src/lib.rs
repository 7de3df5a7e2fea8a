//! The demonstration behind `helios demo`: a generated workspace of
//! thousands of files holding a small Python package with seeded defects
//! and a real checker; a search over correct fixes, wrong fixes and
//! wasteful variants (a correct fix that also drags in a few hundred KB of
//! generated files); and the measured result.
//!
//! The scorer runs `python3 -B -I -S tests/check.py` in the working
//! directory; `code_reward = reward_scale × checks passed / checks`, with
//! `reward_scale = 100` by default: with the default cost weights an
//! ordinary commit (about five new objects, tens of µs) costs around one
//! point, so the code reward is kept in percent of checks passing rather
//! than a fraction, or engine cost would outweigh solving the task.
//!
//! [`run_demo`] is the whole demo; [`DemoSearch`] exposes the steps (and
//! the search's nodes) for tests; [`waste_experiment`] compares how often
//! the final best path carries a wasteful variant with the cost weights on
//! and off. Reports are plain data with text renderings; the CLI turns
//! them into JSON.
//!
//! The demo is one [`Environment`](helios_mcts::Environment) of the search
//! in helios-mcts, kept out of that crate so that it is the search alone.
//! Its errors are the search's ([`MctsError`]): a bad configuration is
//! `Config`, a checker that cannot run is `Scorer`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod env;
#[cfg(test)]
mod sim;
mod workspace;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use helios_engine::{Durability, HeliosEngine};
use helios_vst::{Edit, parse_path};

pub use env::{DemoAction, DemoEnv, FixKind};

use helios_mcts::{CostWeights, FsWorkdir, Mcts, MctsError, MctsResult, SearchConfig, Telemetry};

/// The ref a durable demo run points at its best node.
pub const BEST_REF: &str = "demo/best";

/// Fewest files a workspace can have: the package, its checker and a
/// README come first.
pub const MIN_FILES: usize = 16;

/// Functions in the package, each one a possible defect site.
pub const SITE_COUNT: usize = workspace::SITES.len();

/// Everything `helios demo` can be told: the search's configuration and
/// what only the demo has.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// The search: `max_nodes` nodes (each a commit, a checkout and a
    /// score), `seed` (also the workspace's: its filler and which sites are
    /// defective), the engine-cost weights and scope, the durability of
    /// every node's commit, the deepest line of fixes (`max_depth`),
    /// pruning and gc.
    pub search: SearchConfig,
    /// Files in the starting workspace (at least [`MIN_FILES`]).
    pub files: usize,
    /// Defective sites, 1..=[`SITE_COUNT`].
    pub defects: usize,
    /// `code_reward = reward_scale × checks passed / checks`.
    pub reward_scale: f64,
    /// The store the caller opens the engine on (`run_demo` does not open
    /// it: it is here so a CLI can keep one config).
    pub store: PathBuf,
    /// The working directory (must be empty or absent); with more than one
    /// worker ([`SearchConfig::workers`]), each works in a subdirectory of
    /// it, `worker-0`, `worker-1`, …. `None`: a fresh directory under the
    /// system temp dir, removed at the end.
    pub workdir: Option<PathBuf>,
    /// The Python interpreter that runs the checker.
    pub python: PathBuf,
    /// Leave the pins and the working directory in place at the end (for
    /// inspection); by default the search unpins every node and points
    /// [`BEST_REF`] at the best one.
    pub keep: bool,
}

impl Default for DemoConfig {
    /// The demo's defaults: [`SearchConfig::default`] (1,000 nodes, the
    /// plan's cost weights over the path, `Async` commits, UCT, depth 8, gc
    /// every 250 nodes) but for the seed, the children kept and the pin cap.
    fn default() -> Self {
        DemoConfig {
            search: SearchConfig {
                seed: 1,
                keep_best_children: Some(6),
                // The cap, more than the children kept, is what bounds how
                // many nodes a search can make: a leaf pruned at the cap
                // closes its line for good. Measured over seeds 1-5
                // (the `sim` tests): about 1,500 nodes under a 300 cap, 1,900
                // under 400, 4,000 under 1,000, the first solved node at
                // about 400 in each.
                max_live_nodes: Some(1000),
                ..SearchConfig::default()
            },
            files: 2000,
            defects: 4,
            reward_scale: 100.0,
            store: PathBuf::from(".helios"),
            workdir: None,
            python: PathBuf::from("python3"),
            keep: false,
        }
    }
}

impl DemoConfig {
    /// Checks every value before anything is generated, committed or
    /// opened: a caller can validate flags before creating a store.
    pub fn validate(&self) -> MctsResult<()> {
        if self.files < MIN_FILES {
            return Err(MctsError::Config(format!(
                "files = {} is below {MIN_FILES}",
                self.files
            )));
        }
        if !(1..=SITE_COUNT).contains(&self.defects) {
            return Err(MctsError::Config(format!(
                "defects = {} is outside 1..={SITE_COUNT}",
                self.defects
            )));
        }
        if !self.reward_scale.is_finite() || self.reward_scale <= 0.0 {
            return Err(MctsError::Config(
                "reward_scale must be finite and > 0".into(),
            ));
        }
        self.search.validate()
    }
}

/// What a demo run found and measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    /// Nodes created by the search (the root not counted).
    pub nodes: u64,
    /// Nodes the search was asked for.
    pub nodes_requested: u64,
    /// The search ran out of actions before making `nodes_requested` nodes
    /// (every line was solved, at the depth cap, or pruned).
    pub exhausted: bool,
    /// Files in the starting workspace.
    pub files: u64,
    /// Seed.
    pub seed: u64,
    /// The best node passes every check.
    pub solved: bool,
    /// Total reward of the best node.
    pub best_reward: f64,
    /// Its code reward.
    pub best_code_reward: f64,
    /// Its engine cost.
    pub best_engine_cost: f64,
    /// The actions from the root to the best node.
    pub best_path: Vec<String>,
    /// Whether one of them is a wasteful variant.
    pub best_path_wasteful: bool,
    /// Share of the nodes created by a wasteful action.
    pub wasteful_node_share: f64,
    /// The engine's dedup ratio (`1 − new_bytes / logical_bytes`).
    pub dedup_ratio: f64,
    /// Commit latency per node, P50 µs.
    pub commit_p50_us: f64,
    /// Commit latency per node, P99 µs.
    pub commit_p99_us: f64,
    /// Working-directory switch latency per node, P50 µs.
    pub switch_p50_us: f64,
    /// Working-directory switch latency per node, P99 µs.
    pub switch_p99_us: f64,
    /// Bytes of the store's files on disk (`EngineStats::l2_disk_bytes`:
    /// SST, blob files and memtables; 0 for an in-memory engine), after a
    /// flush at the end of the search.
    pub bytes_stored: u64,
    /// Encoded bytes the commits created (`EngineStats::new_bytes`).
    pub bytes_new: u64,
    /// What full copies of every committed snapshot would hold
    /// (`EngineStats::logical_bytes`).
    pub bytes_logical: u64,
    /// Bytes gc reclaimed over the run.
    pub gc_reclaimed_bytes: u64,
    /// Engine cost's share of the reward.
    pub engine_cost_share: f64,
    /// Wall time of the whole demo (workspace generation included), s.
    pub wall_seconds: f64,
    /// Everything the search measured.
    pub telemetry: Telemetry,
}

impl DemoReport {
    /// The line that says the search made fewer nodes than asked.
    pub fn shortfall(&self) -> String {
        format!(
            "the search exhausted its actions after {} of {} nodes",
            self.nodes, self.nodes_requested
        )
    }

    /// A human-readable report: what was found, the telemetry, the store.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} after {} nodes over a {}-file workspace (seed {}), {:.1} s",
            if self.solved { "SOLVED" } else { "not solved" },
            self.nodes,
            self.files,
            self.seed,
            self.wall_seconds
        );
        if self.exhausted {
            let _ = writeln!(s, "{}", self.shortfall());
        }
        let _ = writeln!(
            s,
            "best reward {:.2} = code {:.2} − engine cost {:.2}{}",
            self.best_reward,
            self.best_code_reward,
            self.best_engine_cost,
            if self.best_path_wasteful {
                "  (path carries a wasteful variant)"
            } else {
                ""
            }
        );
        for (i, a) in self.best_path.iter().enumerate() {
            let _ = writeln!(s, "  {}. {a}", i + 1);
        }
        s.push_str(&self.telemetry.render());
        let _ = writeln!(
            s,
            "store: dedup ratio {:.4}; {} bytes new of {} logical; {} bytes on disk; gc reclaimed {} bytes",
            self.dedup_ratio,
            self.bytes_new,
            self.bytes_logical,
            self.bytes_stored,
            self.gc_reclaimed_bytes
        );
        s
    }
}

/// A demo search in progress: the steps of [`run_demo`], with the search
/// open for inspection.
#[derive(Debug)]
pub struct DemoSearch<'e> {
    engine: &'e HeliosEngine,
    config: DemoConfig,
    /// The search.
    pub search: Mcts<'e, DemoEnv, FsWorkdir<'e>>,
    workdir: PathBuf,
    remove_workdir: bool,
    started: Instant,
}

/// The starting workspace's files, as edits of an empty tree.
pub fn workspace_edits(config: &DemoConfig) -> MctsResult<Vec<Edit>> {
    let seed = config.search.seed;
    let defects = workspace::defective_sites(seed, config.defects);
    workspace::generate(seed, config.files, &defects)
        .into_iter()
        .map(|(path, bytes)| Ok(Edit::file(parse_path(path)?, bytes)))
        .collect()
}

impl<'e> DemoSearch<'e> {
    /// Generates the workspace, commits and checks out the root and scores it.
    pub fn start(engine: &'e HeliosEngine, config: &DemoConfig) -> MctsResult<Self> {
        let started = Instant::now();
        config.validate()?;
        let env = DemoEnv::new(engine.algorithm(), &config.python, config.reward_scale);
        env.check_interpreter()?;
        let root = engine.empty_tree().apply(&workspace_edits(config)?)?;
        let (workdir, remove_workdir) = match &config.workdir {
            Some(dir) => (dir.clone(), false),
            None => {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let name = format!(
                    "helios-demo-{}-{}-{nanos}",
                    std::process::id(),
                    config.search.seed
                );
                (std::env::temp_dir().join(name), true)
            }
        };
        let workdirs = match config.search.workers {
            1 => vec![FsWorkdir::new(engine, &workdir)],
            n => (0..n)
                .map(|i| FsWorkdir::new(engine, workdir.join(format!("worker-{i}"))))
                .collect(),
        };
        let search = match workdirs
            .into_iter()
            .collect::<MctsResult<Vec<_>>>()
            .and_then(|wds| Mcts::with_workdirs(engine, env, wds, root, config.search.clone()))
        {
            Ok(s) => s,
            Err(e) => {
                if remove_workdir {
                    let _ = std::fs::remove_dir_all(&workdir);
                }
                return Err(e);
            }
        };
        Ok(DemoSearch {
            engine,
            config: config.clone(),
            search,
            workdir,
            remove_workdir,
            started,
        })
    }

    /// Runs the search to its node budget.
    pub fn run(&mut self, progress: &dyn Fn(usize, usize)) -> MctsResult<()> {
        self.search.run(progress)
    }

    /// [`run`](DemoSearch::run), stopping between nodes once `stop()`
    /// says so.
    pub fn run_until(
        &mut self,
        progress: &dyn Fn(usize, usize),
        stop: &dyn Fn() -> bool,
    ) -> MctsResult<()> {
        self.search.run_until(progress, stop)
    }

    /// The working directory.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// What the run found and measured so far (flushes the engine so the
    /// store's size is settled).
    pub fn report(&self) -> MctsResult<DemoReport> {
        self.engine.flush()?;
        let s = &self.search;
        let best = s.node(s.best())?;
        let actions = s.actions_to(best.id)?;
        let made = &s.nodes()[1..];
        let wasteful = made
            .iter()
            .filter(|n| n.action.is_some_and(|a| a.is_wasteful()))
            .count();
        let stats = self.engine.stats();
        let telemetry = s.telemetry();
        Ok(DemoReport {
            nodes: made.len() as u64,
            nodes_requested: self.config.search.max_nodes as u64,
            // Fewer nodes because every line was explored, not because
            // the caller stopped the search early.
            exhausted: made.len() < self.config.search.max_nodes && s.nodes()[0].is_exhausted(),
            files: self.config.files as u64,
            seed: self.config.search.seed,
            solved: best.solved,
            best_reward: best.total_reward,
            best_code_reward: best.code_reward,
            best_engine_cost: best.engine_cost,
            best_path: actions.iter().map(ToString::to_string).collect(),
            best_path_wasteful: actions.iter().any(DemoAction::is_wasteful),
            wasteful_node_share: if made.is_empty() {
                0.0
            } else {
                wasteful as f64 / made.len() as f64
            },
            dedup_ratio: stats.dedup_ratio(),
            commit_p50_us: telemetry.commit_latency_us.p50,
            commit_p99_us: telemetry.commit_latency_us.p99,
            switch_p50_us: telemetry.switch_latency_us.p50,
            switch_p99_us: telemetry.switch_latency_us.p99,
            bytes_stored: stats.l2_disk_bytes,
            bytes_new: stats.new_bytes,
            bytes_logical: stats.logical_bytes,
            gc_reclaimed_bytes: telemetry.gc_bytes_reclaimed,
            engine_cost_share: telemetry.engine_cost_share,
            wall_seconds: self.started.elapsed().as_secs_f64(),
            telemetry,
        })
    }

    /// Ends the run: unless `keep`, points [`BEST_REF`] at the best node
    /// (durable runs), unpins every node and removes a temporary working
    /// directory.
    pub fn finish(mut self) -> MctsResult<()> {
        if self.config.keep {
            return Ok(());
        }
        if self.config.search.durability != Durability::Memory {
            let best = self.search.node(self.search.best())?.snapshot;
            self.engine.set_ref(BEST_REF, &best)?;
        }
        self.search.release()?;
        if self.remove_workdir {
            std::fs::remove_dir_all(&self.workdir)
                .map_err(|e| MctsError::io("remove", &self.workdir, e))?;
        }
        Ok(())
    }
}

/// The whole demo: generate, search, report, release. `progress(done,
/// total)` is called after every node.
pub fn run_demo(
    engine: &HeliosEngine,
    config: &DemoConfig,
    progress: &dyn Fn(usize, usize),
) -> MctsResult<DemoReport> {
    run_demo_until(engine, config, progress, &|| false)
}

/// [`run_demo`], with the search stopping early once `stop()` says so; the
/// report and the release then cover the nodes made so far.
pub fn run_demo_until(
    engine: &HeliosEngine,
    config: &DemoConfig,
    progress: &dyn Fn(usize, usize),
    stop: &dyn Fn() -> bool,
) -> MctsResult<DemoReport> {
    let mut demo = DemoSearch::start(engine, config)?;
    let result = demo.run_until(progress, stop).and_then(|()| demo.report());
    let finished = demo.finish();
    let report = result?;
    finished?;
    Ok(report)
}

/// One run of the waste experiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WasteOutcome {
    /// The best node passes every check.
    pub solved: bool,
    /// The best path carries a wasteful variant.
    pub wasteful: bool,
    /// Best total reward.
    pub best_reward: f64,
    /// Share of nodes created by wasteful actions.
    pub wasteful_node_share: f64,
    /// Bytes the commits created.
    pub bytes_new: u64,
    /// Nodes the run made.
    pub nodes: u64,
    /// It ran out of actions before its node budget.
    pub exhausted: bool,
}

/// One seed, cost weights on and off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WasteRow {
    /// Seed.
    pub seed: u64,
    /// With the configured weights.
    pub on: WasteOutcome,
    /// With [`CostWeights::OFF`].
    pub off: WasteOutcome,
}

/// How often the final best path carries a wasteful variant, with engine
/// cost in the reward and without.
#[derive(Debug, Clone, PartialEq)]
pub struct WasteExperiment {
    /// The weights of the "on" runs.
    pub weights: CostWeights,
    /// Nodes asked of each run.
    pub nodes: usize,
    /// Files in each run's workspace.
    pub files: usize,
    /// One row per seed.
    pub rows: Vec<WasteRow>,
}

/// `count` consecutive seeds from `first`: the seeds of a waste experiment.
/// An empty range, or one past `u64::MAX`, is a configuration error.
pub fn experiment_seeds(first: u64, count: u64) -> MctsResult<Vec<u64>> {
    if count == 0 {
        return Err(no_seeds());
    }
    let last = first.checked_add(count - 1).ok_or_else(|| {
        MctsError::Config(format!(
            "{count} seeds from {first} run past the largest seed, {}",
            u64::MAX
        ))
    })?;
    Ok((first..=last).collect())
}

/// The error for a waste experiment without seeds.
fn no_seeds() -> MctsError {
    MctsError::Config("the waste experiment needs at least one seed".into())
}

impl WasteExperiment {
    fn count(&self, pick: impl Fn(&WasteRow) -> bool) -> usize {
        self.rows.iter().filter(|r| pick(r)).count()
    }

    fn rate(&self, pick: impl Fn(&WasteRow) -> bool) -> f64 {
        if self.rows.is_empty() {
            return 0.0;
        }
        self.count(pick) as f64 / self.rows.len() as f64
    }

    /// Share of seeds whose best path is wasteful, cost weights on.
    pub fn wasteful_rate_on(&self) -> f64 {
        self.rate(|r| r.on.wasteful)
    }

    /// Share of seeds whose best path is wasteful, cost weights off.
    pub fn wasteful_rate_off(&self) -> f64 {
        self.rate(|r| r.off.wasteful)
    }

    /// Runs that ran out of actions before their node budget.
    pub fn exhausted_runs(&self) -> usize {
        self.count(|r| r.on.exhausted) + self.count(|r| r.off.exhausted)
    }

    /// The Markdown table, one row per seed and a total, in the README's
    /// layout.
    pub fn to_markdown(&self) -> String {
        let yn = |b: bool| if b { "yes" } else { "no" };
        let mut s = String::from(
            "| seed | best path wasteful, cost on | best path wasteful, cost off | solved (on / off) |\n\
             |---|---|---|---|\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} / {} |",
                r.seed,
                yn(r.on.wasteful),
                yn(r.off.wasteful),
                yn(r.on.solved),
                yn(r.off.solved)
            );
        }
        let n = self.rows.len();
        let _ = writeln!(
            s,
            "| **all** | **{} / {n}** | **{} / {n}** | {} / {} |",
            self.count(|r| r.on.wasteful),
            self.count(|r| r.off.wasteful),
            self.count(|r| r.on.solved),
            self.count(|r| r.off.solved),
        );
        s
    }

    /// The table and a line on what it ran: seeds, nodes, files, weights,
    /// and the share of nodes made by wasteful actions either way.
    pub fn render(&self) -> String {
        let mean = |pick: fn(&WasteRow) -> f64| {
            if self.rows.is_empty() {
                0.0
            } else {
                self.rows.iter().map(pick).sum::<f64>() / self.rows.len() as f64
            }
        };
        let mut s = self.to_markdown();
        let _ = writeln!(
            s,
            "\n{} seeds, {} nodes each, {}-file workspace; cost on = {} per µs + {} per new object; \
             wasteful nodes: {:.0}% with cost on, {:.0}% off",
            self.rows.len(),
            self.nodes,
            self.files,
            self.weights.per_latency_us,
            self.weights.per_new_object,
            mean(|r| r.on.wasteful_node_share) * 100.0,
            mean(|r| r.off.wasteful_node_share) * 100.0
        );
        s
    }
}

/// Runs the demo for every seed twice, with `base.search.weights` and with the
/// weights off, and tabulates whether the final best path carries a
/// wasteful variant. Runs gc between runs. `progress(done, total)` counts
/// runs. Weights that are off already leave nothing to compare: an error.
pub fn waste_experiment(
    engine: &HeliosEngine,
    base: &DemoConfig,
    seeds: &[u64],
    progress: &dyn Fn(usize, usize),
) -> MctsResult<WasteExperiment> {
    base.validate()?;
    let weights = base.search.weights;
    if weights.is_off() {
        return Err(MctsError::Config(
            "the waste experiment compares the cost weights with weights off; they are off already"
                .into(),
        ));
    }
    if seeds.is_empty() {
        return Err(no_seeds());
    }
    let total = seeds.len() * 2;
    let mut done = 0;
    let mut run = |weights: CostWeights, seed: u64| -> MctsResult<WasteOutcome> {
        let outcome = waste_run(engine, base, weights, seed)?;
        done += 1;
        progress(done, total);
        Ok(outcome)
    };
    let mut rows = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let on = run(weights, seed)?;
        let off = run(CostWeights::OFF, seed)?;
        rows.push(WasteRow { seed, on, off });
    }
    Ok(WasteExperiment {
        weights,
        nodes: base.search.max_nodes,
        files: base.files,
        rows,
    })
}

/// One run of the waste experiment: the demo as `base` says, with `seed`
/// and `weights`. Each run gets a fresh temporary working directory (a
/// configured one is left full after a run, and the next would refuse it)
/// and releases its nodes at the end, so the gc after it reclaims what
/// only that run held.
fn waste_run(
    engine: &HeliosEngine,
    base: &DemoConfig,
    weights: CostWeights,
    seed: u64,
) -> MctsResult<WasteOutcome> {
    let config = DemoConfig {
        search: SearchConfig {
            seed,
            weights,
            ..base.search.clone()
        },
        keep: false,
        workdir: None,
        ..base.clone()
    };
    let report = run_demo(engine, &config, &|_, _| {})?;
    engine.gc()?;
    Ok(WasteOutcome {
        solved: report.solved,
        wasteful: report.best_path_wasteful,
        best_reward: report.best_reward,
        wasteful_node_share: report.wasteful_node_share,
        bytes_new: report.bytes_new,
        nodes: report.nodes,
        exhausted: report.exhausted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(wasteful: bool, solved: bool) -> WasteOutcome {
        WasteOutcome {
            solved,
            wasteful,
            best_reward: 90.0,
            wasteful_node_share: if wasteful { 0.5 } else { 0.25 },
            bytes_new: 1,
            nodes: 10,
            exhausted: false,
        }
    }

    #[test]
    fn waste_table_counts_and_renders_in_the_readme_layout() {
        let row = |seed, on, off| WasteRow { seed, on, off };
        let t = WasteExperiment {
            weights: CostWeights::default(),
            nodes: 10,
            files: 300,
            rows: vec![
                row(1, outcome(false, true), outcome(true, true)),
                row(2, outcome(false, true), outcome(false, false)),
                row(3, outcome(true, true), outcome(true, true)),
                row(4, outcome(false, true), outcome(true, true)),
            ],
        };
        assert_eq!(t.wasteful_rate_on(), 0.25);
        assert_eq!(t.wasteful_rate_off(), 0.75);
        assert_eq!(t.exhausted_runs(), 0);
        assert_eq!(
            t.to_markdown(),
            "| seed | best path wasteful, cost on | best path wasteful, cost off | solved (on / off) |\n\
             |---|---|---|---|\n\
             | 1 | no | yes | yes / yes |\n\
             | 2 | no | no | yes / no |\n\
             | 3 | yes | yes | yes / yes |\n\
             | 4 | no | yes | yes / yes |\n\
             | **all** | **1 / 4** | **3 / 4** | 4 / 3 |\n"
        );
        let text = t.render();
        assert!(text.starts_with(&t.to_markdown()), "{text}");
        assert!(
            text.contains("4 seeds, 10 nodes each, 300-file workspace; cost on = 0.01 per µs + 0.1 per new object; wasteful nodes: 31% with cost on, 44% off"),
            "{text}"
        );
    }

    /// What `helios demo` runs without flags, every value written out: a
    /// change of [`SearchConfig::default`] must not move the demo.
    #[test]
    fn the_demo_defaults_are_pinned() {
        let c = DemoConfig::default();
        assert_eq!(
            c.search,
            SearchConfig {
                max_nodes: 1000,
                policy: helios_mcts::Policy::Uct {
                    exploration: std::f64::consts::SQRT_2,
                },
                weights: CostWeights {
                    per_latency_us: 0.01,
                    per_new_object: 0.1,
                },
                cost_scope: helios_mcts::CostScope::Path,
                durability: Durability::Async,
                max_depth: 8,
                keep_best_children: Some(6),
                prune_min_visits: 2,
                max_live_nodes: Some(1000),
                gc_every: Some(250),
                cache_scores: true,
                seed: 1,
                workers: 1,
            }
        );
        assert_eq!((c.files, c.defects, c.reward_scale), (2000, 4, 100.0));
        assert_eq!(c.store, PathBuf::from(".helios"));
        c.validate().unwrap();
        assert_eq!((c.workdir, c.keep), (None, false));
        assert_eq!(c.python, PathBuf::from("python3"));
    }

    #[test]
    fn experiment_seeds_are_consecutive_and_never_overflow() {
        assert_eq!(experiment_seeds(1, 5).unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(experiment_seeds(u64::MAX, 1).unwrap(), vec![u64::MAX]);
        for (first, count) in [(u64::MAX, 2), (u64::MAX - 2, 4), (7, 0)] {
            let err = experiment_seeds(first, count).unwrap_err();
            assert!(matches!(err, MctsError::Config(_)), "{err}");
        }
    }
}
