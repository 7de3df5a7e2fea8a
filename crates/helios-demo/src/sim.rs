//! The demo's search shape without its slow parts: the same actions and
//! edits and the same code reward, but scored from a table of each site's
//! variants (measured once with the real checker) and with a working
//! directory that is never written. It answers, in seconds, how many nodes
//! a configuration can make before it runs out of actions.

use std::path::{Path, PathBuf};

use helios_engine::{EngineConfig, HeliosEngine};
use helios_types::{Blob, Hash, SnapshotId};
use helios_vst::{Vst, parse_path};

use helios_mcts::{
    Environment, Mcts, MctsResult, Proposal, Score, StateView, SwitchStats, Workdir,
};

use crate::env::{DemoAction, DemoEnv};
use crate::workspace::{SITES, Site, check_count, passes};
use crate::{DemoConfig, workspace_edits};

/// Scores by table: per site, the blob hash of each variant and the checks
/// it passes.
struct TableEnv {
    inner: DemoEnv,
    table: Vec<Vec<(Hash, usize)>>,
    scale: f64,
}

impl TableEnv {
    fn new(engine: &HeliosEngine, scale: f64) -> Self {
        let alg = engine.algorithm();
        let pickers: [fn(&Site) -> &'static str; 4] =
            [|s| s.correct, |s| s.defect, |s| s.wrong_a, |s| s.wrong_b];
        let counts: Vec<Vec<usize>> = pickers.iter().map(|p| passes(p)).collect();
        let table = SITES
            .iter()
            .enumerate()
            .map(|(i, s)| {
                pickers
                    .iter()
                    .zip(&counts)
                    .map(|(p, c)| (Blob::hash_of(alg, &s.source(p(s))), c[i]))
                    .collect()
            })
            .collect();
        TableEnv {
            inner: DemoEnv::new(alg, "python3", scale),
            table,
            scale,
        }
    }
}

impl Environment for TableEnv {
    type Action = DemoAction;

    fn actions(&self, state: &StateView<'_, DemoAction>) -> MctsResult<Vec<Proposal<DemoAction>>> {
        self.inner.actions(state)
    }

    fn edits(&self, vst: &Vst, action: &DemoAction) -> MctsResult<Vec<helios_vst::Edit>> {
        self.inner.edits(vst, action)
    }

    fn score(&self, _dir: &Path, vst: &Vst) -> MctsResult<Score> {
        let mut passed = 0;
        for (site, variants) in SITES.iter().zip(&self.table) {
            let hash = vst.get(&parse_path(site.path())?)?.map(|e| e.hash);
            passed += variants
                .iter()
                .find(|(h, _)| Some(*h) == hash)
                .map_or(0, |(_, n)| *n);
        }
        Ok(Score {
            code_reward: self.scale * passed as f64 / check_count() as f64,
            solved: passed == check_count(),
        })
    }
}

/// A working directory that is never written.
struct NoDir(PathBuf);

impl Workdir for NoDir {
    fn switch_to(&mut self, _id: &SnapshotId, _vst: &Vst) -> MctsResult<SwitchStats> {
        Ok(SwitchStats::default())
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

/// Runs `config`'s search shape in memory: (nodes made, the first solved
/// node's number).
pub(crate) fn simulate(config: &DemoConfig) -> MctsResult<(usize, Option<usize>)> {
    let engine = HeliosEngine::in_memory(EngineConfig::small())?;
    let root = engine.empty_tree().apply(&workspace_edits(config)?)?;
    let env = TableEnv::new(&engine, config.reward_scale);
    let mut search = Mcts::new(
        &engine,
        env,
        NoDir(PathBuf::from("/nonexistent")),
        root,
        config.search.clone(),
    )?;
    search.run(&|_, _| {})?;
    let first_solved = search.nodes().iter().position(|n| n.solved);
    Ok((search.created(), first_solved))
}

/// The default demo must make the nodes it is asked for: twice the
/// default 1,000, for two seeds, with a solved node inside the first 1,000.
#[test]
fn the_default_demo_does_not_run_out_of_actions() {
    for seed in [1, 2] {
        let mut config = DemoConfig {
            files: 16,
            ..DemoConfig::default()
        };
        config.search.max_nodes = 2000;
        config.search.seed = seed;
        let (made, first_solved) = simulate(&config).unwrap();
        assert_eq!(made, 2000, "seed {seed}");
        assert!(
            first_solved.is_some_and(|n| n < 1000),
            "seed {seed}: {first_solved:?}"
        );
    }
}
