//! The demo's environment: fix actions on the seeded defect sites, scored by
//! running the workspace's checker (a real `python3` process) in the
//! working directory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use helios_types::{Blob, Hash, HashAlgorithm};
use helios_vst::{Edit, Vst, parse_path};

use helios_mcts::{Environment, MctsError, MctsResult, Proposal, Score, StateView};

use crate::workspace::{SITES, WASTE_FILE_BYTES, WASTE_FILES, check_count, waste};

/// What an action does to a defect site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixKind {
    /// The correct fix.
    Correct,
    /// A plausible fix that still fails some checks.
    WrongA,
    /// Another wrong fix.
    WrongB,
    /// The correct fix plus a few hundred KB of generated files nobody needs.
    Wasteful,
}

/// One demo action: a kind of fix applied to one site. Only [`DemoEnv`]
/// makes them, so the site always exists (its fields are private: an
/// action built by hand with a wrong index would be a panic waiting in
/// `edits` and `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DemoAction {
    site: usize,
    kind: FixKind,
}

impl DemoAction {
    /// Index of the site (module) it edits.
    pub fn site(&self) -> usize {
        self.site
    }

    /// What it writes there.
    pub fn kind(&self) -> FixKind {
        self.kind
    }

    /// True for the wasteful variant.
    pub fn is_wasteful(&self) -> bool {
        self.kind == FixKind::Wasteful
    }
}

impl fmt::Display for DemoAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let site = &SITES[self.site];
        let target = format!("{}.{}", site.module, site.function);
        match self.kind {
            FixKind::Correct => write!(f, "fix {target}"),
            FixKind::WrongA => write!(f, "wrong fix A {target}"),
            FixKind::WrongB => write!(f, "wrong fix B {target}"),
            FixKind::Wasteful => write!(
                f,
                "wasteful fix {target} (+{WASTE_FILES} generated files, {} KB)",
                WASTE_FILES * WASTE_FILE_BYTES / 1000
            ),
        }
    }
}

/// The demo environment.
#[derive(Debug)]
pub struct DemoEnv {
    alg: HashAlgorithm,
    python: PathBuf,
    reward_scale: f64,
    /// Blob hash of each site's correct module.
    correct: Vec<Hash>,
}

impl DemoEnv {
    /// An environment for trees hashed with `alg`, running the checker with
    /// `python`; a state scores `reward_scale × checks passed / checks`.
    pub fn new(alg: HashAlgorithm, python: impl Into<PathBuf>, reward_scale: f64) -> Self {
        let correct = SITES
            .iter()
            .map(|s| Blob::hash_of(alg, &s.source(s.correct)))
            .collect();
        DemoEnv {
            alg,
            python: python.into(),
            reward_scale,
            correct,
        }
    }

    fn body(site: usize, kind: FixKind) -> &'static str {
        let s = &SITES[site];
        match kind {
            FixKind::Correct | FixKind::Wasteful => s.correct,
            FixKind::WrongA => s.wrong_a,
            FixKind::WrongB => s.wrong_b,
        }
    }

    /// The scorer error for an interpreter that could not be started: it
    /// says that the demo needs python3, since that is what to install.
    fn cannot_start(&self, e: &std::io::Error) -> MctsError {
        MctsError::Scorer(format!(
            "cannot run the checker's interpreter `{}` (the demo needs python3 on PATH): {e}",
            self.python.display()
        ))
    }

    /// Checks that the interpreter starts and is Python 3, before a search
    /// commits anything.
    pub fn check_interpreter(&self) -> MctsResult<()> {
        let out = Command::new(&self.python)
            .args([
                "-I",
                "-S",
                "-c",
                "import sys; sys.exit(sys.version_info[0] != 3)",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.cannot_start(&e))?;
        if !out.status.success() {
            return Err(MctsError::Scorer(format!(
                "`{}` is not a working python3 ({}): {}",
                self.python.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// Runs the checker in `dir`: (checks passed, checks, exit status 0).
    pub fn run_checker(&self, dir: &Path) -> MctsResult<(u32, u32, bool)> {
        // -B: no bytecode files (a stale .pyc could survive a same-size,
        // same-second rewrite); -I -S: no user site, no environment.
        let out = Command::new(&self.python)
            .args(["-B", "-I", "-S", "tests/check.py"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.cannot_start(&e))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("passed "))
            .ok_or_else(|| {
                MctsError::Scorer(format!(
                    "checker printed no `passed X/Y` line (status {}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            })?;
        let parse = || -> Option<(u32, u32)> {
            let (x, y) = last.strip_prefix("passed ")?.split_once('/')?;
            Some((x.trim().parse().ok()?, y.trim().parse().ok()?))
        };
        let (passed, total) =
            parse().ok_or_else(|| MctsError::Scorer(format!("cannot parse `{last}`")))?;
        Ok((passed, total, out.status.success()))
    }
}

impl Environment for DemoEnv {
    type Action = DemoAction;

    fn actions(&self, state: &StateView<'_, DemoAction>) -> MctsResult<Vec<Proposal<DemoAction>>> {
        let mut out = Vec::new();
        for (site, s) in SITES.iter().enumerate() {
            let current = state.vst.get(&parse_path(s.path())?)?.map(|e| e.hash);
            if current == Some(self.correct[site]) {
                continue;
            }
            for kind in [
                FixKind::Correct,
                FixKind::WrongA,
                FixKind::WrongB,
                FixKind::Wasteful,
            ] {
                let same =
                    current == Some(Blob::hash_of(self.alg, &s.source(Self::body(site, kind))));
                if kind == FixKind::Wasteful || !same {
                    out.push(Proposal::uniform(DemoAction { site, kind }));
                }
            }
        }
        Ok(out)
    }

    fn edits(&self, _vst: &Vst, action: &DemoAction) -> MctsResult<Vec<Edit>> {
        let site = &SITES[action.site];
        let mut edits = vec![Edit::file(
            parse_path(site.path())?,
            site.source(Self::body(action.site, action.kind)),
        )];
        if action.kind == FixKind::Wasteful {
            for (path, bytes) in waste(action.site) {
                edits.push(Edit::file(parse_path(path)?, bytes));
            }
        }
        Ok(edits)
    }

    fn score(&self, dir: &Path, _vst: &Vst) -> MctsResult<Score> {
        let (passed, total, ok) = self.run_checker(dir)?;
        if total == 0 || usize::try_from(total).ok() != Some(check_count()) {
            return Err(MctsError::Scorer(format!(
                "the checker ran {total} checks, the workspace has {}",
                check_count()
            )));
        }
        Ok(Score {
            code_reward: self.reward_scale * f64::from(passed) / f64::from(total),
            solved: ok && passed == total,
        })
    }
}
