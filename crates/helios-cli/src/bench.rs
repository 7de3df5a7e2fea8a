//! `helios bench`: the macro benchmark. A source-like workspace, a seeded
//! search-like trace (each node picks a parent, edits 1–5 files, sometimes
//! adds or deletes one), replayed side by side through Helios (capture +
//! commit, incremental checkout) and through git (`git add -A && git
//! commit`, `git checkout`), with the same edits in the same order. Where
//! this process may mount overlayfs, the same steps are then replayed in
//! overlay mode too: mount a node over one shared base copy, edit, capture
//! the upper layer and commit.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_types::SnapshotId;
use helios_workdir::{CaptureOptions, CheckoutOptions, OverlayBase, WorkdirError};
use helios_workload::{Latency, SplitMix64, source_like, source_paths};
use serde_json::json;

use crate::output::{self, line, progress};

/// One node of the trace: its parent and the files it changes (`None`
/// deletes).
struct Step {
    parent: usize,
    edits: Vec<(String, Option<Vec<u8>>)>,
}

fn trace(files: usize, nodes: usize, seed: u64) -> (BTreeMap<String, Vec<u8>>, Vec<Step>) {
    let mut rng = SplitMix64::new(seed);
    let paths = source_paths(files);
    let base: BTreeMap<String, Vec<u8>> = paths
        .iter()
        .map(|p| {
            let len = 512 + rng.index(4096);
            (p.clone(), source_like(&mut rng, len))
        })
        .collect();
    let steps = (1..nodes)
        .map(|i| {
            let parent = if i == 1 { 0 } else { rng.index(i) };
            let mut edits: Vec<_> = (0..1 + rng.index(5))
                .map(|_| {
                    (
                        paths[rng.index(paths.len())].clone(),
                        Some(source_like(&mut rng, 2048)),
                    )
                })
                .collect();
            match rng.index(10) {
                0 => edits.push((format!("new/n{i}.rs"), Some(source_like(&mut rng, 1024)))),
                1 => edits.push((paths[rng.index(paths.len())].clone(), None)),
                _ => {}
            }
            Step { parent, edits }
        })
        .collect();
    (base, steps)
}

fn write_tree(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> anyhow::Result<()> {
    for (path, bytes) in files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().expect("relative paths have parents"))?;
        fs::write(p, bytes)?;
    }
    Ok(())
}

fn apply(dir: &Path, edits: &[(String, Option<Vec<u8>>)]) -> anyhow::Result<()> {
    for (path, bytes) in edits {
        let p = dir.join(path);
        match bytes {
            Some(b) => {
                fs::create_dir_all(p.parent().expect("relative paths have parents"))?;
                fs::write(&p, b)?;
            }
            None => {
                let _ = fs::remove_file(&p);
            }
        }
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@localhost")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@localhost")
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    let value = f()?;
    Ok((value, start.elapsed()))
}

fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Every file under `dir` (skipping `skip`), with its bytes.
fn read_tree(dir: &Path, skip: &str) -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            if e.file_name() == skip {
                continue;
            }
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                out.insert(
                    e.path().strip_prefix(dir)?.to_path_buf(),
                    fs::read(e.path())?,
                );
            }
        }
    }
    Ok(out)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub(crate) fn bench(
    files: usize,
    nodes: usize,
    seed: u64,
    json: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let tmp = std::env::temp_dir().join(format!("helios-bench-{}", std::process::id()));
    let result = run(&tmp, files, nodes, seed, json);
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// Overlay mode over the same trace: each step mounts its parent over the
/// base copy (cost: the parent's difference from the base), applies the
/// step's edits in the mount, then captures the upper layer and commits.
struct OverlayRun {
    mount: Latency,
    capture: Latency,
}

/// At most this many steps are replayed in overlay mode (a mount each).
const OVERLAY_STEPS: usize = 200;

fn overlay_run(
    engine: &HeliosEngine,
    scratch: &Path,
    h_ids: &[SnapshotId],
    steps: &[Step],
) -> anyhow::Result<Result<OverlayRun, String>> {
    let root = engine.restore(&h_ids[0])?;
    let (lower, probe) = (scratch.join("lower"), scratch.join("probe"));
    let base = match OverlayBase::new(&root, engine.objects(), &lower, &probe, &|_, _| {}) {
        Ok(base) => base,
        Err(WorkdirError::OverlayUnavailable { reason }) => return Ok(Err(reason)),
        Err(e) => return Err(e.into()),
    };
    let capture = CaptureOptions::default();
    let (mut mounts, mut captures) = (vec![], vec![]);
    for (i, step) in steps.iter().take(OVERLAY_STEPS).enumerate() {
        let node = engine.restore(&h_ids[step.parent])?;
        let merged = scratch.join(format!("m{i}"));
        let start = Instant::now();
        let mount = match base.mount(
            &node,
            engine.objects(),
            &scratch.join(format!("s{i}")),
            &merged,
        ) {
            Ok(m) => m,
            Err(WorkdirError::OverlayUnavailable { reason }) => return Ok(Err(reason)),
            Err(e) => return Err(e.into()),
        };
        mounts.push(start.elapsed());
        apply(&merged, &step.edits)?;
        let ((), d) = timed(|| {
            let tree = engine.capture_mount(&mount, &capture)?.tree;
            engine.commit(
                &tree,
                Durability::Async,
                CommitMeta::child_of(Some(h_ids[step.parent]), ""),
            )?;
            Ok(())
        })?;
        captures.push(d);
        mount.unmount()?;
    }
    Ok(Ok(OverlayRun {
        mount: Latency::from_samples(mounts),
        capture: Latency::from_samples(captures),
    }))
}

/// One tool's timings over the replay, a sample per step.
#[derive(Default)]
struct Timings {
    snapshot: Vec<Duration>,
    switch: Vec<Duration>,
    /// Switches that wrote or removed 1 to 5 leaves: the size the switch
    /// target is set for (a switch to a distant ancestor rewrites more).
    small_switch: Vec<Duration>,
}

impl Timings {
    fn record_switch(&mut self, took: Duration, small: bool) {
        self.switch.push(took);
        if small {
            self.small_switch.push(took);
        }
    }
}

/// The trace replayed through Helios and git side by side: both working
/// directories, the id each tool gave every node so far (index `i` is node
/// `i`, the root first) and what each step took.
struct Replay<'a> {
    engine: &'a HeliosEngine,
    helios_dir: &'a Path,
    git_dir: &'a Path,
    capture: CaptureOptions,
    helios_ids: Vec<SnapshotId>,
    git_ids: Vec<String>,
    helios: Timings,
    git: Timings,
}

impl<'a> Replay<'a> {
    /// Commits the base tree, already written to both directories, as
    /// node 0 of each tool.
    fn start(
        engine: &'a HeliosEngine,
        helios_dir: &'a Path,
        git_dir: &'a Path,
    ) -> anyhow::Result<Self> {
        let capture = CaptureOptions::default();
        let root = engine.capture(helios_dir, &capture)?.tree;
        let (root_id, _) = engine.commit(&root, Durability::Async, CommitMeta::default())?;
        engine.record_head(helios_dir, &root_id)?;
        git(git_dir, &["init", "-q"])?;
        git(git_dir, &["add", "-A"])?;
        git(git_dir, &["commit", "-q", "-m", "root"])?;
        let git_root = git(git_dir, &["rev-parse", "HEAD"])?;
        Ok(Replay {
            engine,
            helios_dir,
            git_dir,
            capture,
            helios_ids: vec![root_id],
            git_ids: vec![git_root],
            helios: Timings::default(),
            git: Timings::default(),
        })
    }

    /// Plays every step through both tools, with a progress bar.
    fn play(&mut self, steps: &[Step]) -> anyhow::Result<()> {
        let bar = progress("nodes");
        bar.set_length(steps.len() as u64);
        for step in steps {
            let small = self.helios_step(step)?;
            self.git_step(step, small)?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(())
    }

    /// Switches the Helios directory to the step's parent, applies its
    /// edits, captures and commits. Returns whether the switch was small
    /// (1 to 5 leaves).
    fn helios_step(&mut self, step: &Step) -> anyhow::Result<bool> {
        let parent = self.helios_ids[step.parent];
        let (touched, took) = timed(|| self.helios_checkout(&parent))?;
        let small = (1..=5).contains(&touched);
        self.helios.record_switch(took, small);
        apply(self.helios_dir, &step.edits)?;
        let (id, took) = timed(|| {
            let tree = self.engine.capture(self.helios_dir, &self.capture)?.tree;
            let (id, _) = self.engine.commit(
                &tree,
                Durability::Async,
                CommitMeta::child_of(Some(parent), ""),
            )?;
            self.engine.record_head(self.helios_dir, &id)?;
            Ok(id)
        })?;
        self.helios.snapshot.push(took);
        self.helios_ids.push(id);
        Ok(small)
    }

    /// The same step through git: `git checkout` of the parent, the edits,
    /// `git add -A && git commit`. git does not say how many files its
    /// checkout wrote, so `small` is Helios's count for the same switch.
    fn git_step(&mut self, step: &Step, small: bool) -> anyhow::Result<()> {
        let parent = &self.git_ids[step.parent];
        let ((), took) = timed(|| self.git_checkout(parent))?;
        self.git.record_switch(took, small);
        let dir = self.git_dir;
        apply(dir, &step.edits)?;
        let (sha, took) = timed(|| {
            git(dir, &["add", "-A"])?;
            git(dir, &["commit", "-q", "--allow-empty", "-m", "node"])?;
            git(dir, &["rev-parse", "HEAD"])
        })?;
        self.git.snapshot.push(took);
        self.git_ids.push(sha);
        Ok(())
    }

    /// Checks out Helios snapshot `id`; returns the leaves it wrote or
    /// removed.
    fn helios_checkout(&self, id: &SnapshotId) -> anyhow::Result<u64> {
        let options = CheckoutOptions::default();
        let report = self
            .engine
            .checkout(id, self.helios_dir, &options, &|_, _| {})?;
        Ok(report.files_written + report.removed)
    }

    fn git_checkout(&self, sha: &str) -> anyhow::Result<()> {
        git(self.git_dir, &["checkout", "-q", sha]).map(|_| ())
    }

    /// Byte-exact: a seeded sample of nodes checked out both ways must
    /// match. Returns how many were compared.
    fn check_byte_exact(&self, seed: u64) -> anyhow::Result<usize> {
        let mut rng = SplitMix64::new(seed ^ 0x5EED);
        let sampled = 5.min(self.helios_ids.len());
        for _ in 0..sampled {
            let i = rng.index(self.helios_ids.len());
            self.helios_checkout(&self.helios_ids[i])?;
            self.git_checkout(&self.git_ids[i])?;
            if read_tree(self.helios_dir, ".helios")? != read_tree(self.git_dir, ".git")? {
                bail!("node {i}: the Helios checkout differs from git's");
            }
        }
        Ok(sampled)
    }
}

/// What the bench measured, for either rendering. Each rendering takes
/// it apart whole (no `..`), so a field added here cannot be left out of
/// one of them unnoticed.
struct Report {
    files: usize,
    nodes: usize,
    seed: u64,
    helios_snapshot: Latency,
    helios_switch: Latency,
    git_snapshot: Latency,
    git_switch: Latency,
    /// Helios's and git's switches of 1 to 5 files (`None`: the trace had
    /// none).
    small_switch: Option<(Latency, Latency)>,
    helios_bytes: u64,
    git_bytes: u64,
    dedup_ratio: f64,
    checked: usize,
    overlay: Result<OverlayRun, String>,
}

impl Report {
    fn print_json(&self) {
        let Report {
            files,
            nodes,
            seed,
            helios_snapshot: hs,
            helios_switch: hw,
            git_snapshot: gs,
            git_switch: gw,
            small_switch: small,
            helios_bytes: h_bytes,
            git_bytes: g_bytes,
            dedup_ratio,
            checked,
            overlay,
        } = self;
        output::json(&json!({
            "files": files, "nodes": nodes, "seed": seed,
            "helios_snapshot_p50_us": us(hs.p50), "helios_snapshot_p99_us": us(hs.p99),
            "helios_switch_p50_us": us(hw.p50), "helios_switch_p99_us": us(hw.p99),
            "git_snapshot_p50_us": us(gs.p50), "git_snapshot_p99_us": us(gs.p99),
            "git_switch_p50_us": us(gw.p50), "git_switch_p99_us": us(gw.p99),
            "switch_1_to_5_files": small.map(|(h, g)| json!({
                "steps": h.samples,
                "helios_p50_us": us(h.p50), "helios_p99_us": us(h.p99),
                "git_p50_us": us(g.p50), "git_p99_us": us(g.p99),
            })),
            "helios_bytes_on_disk": h_bytes, "git_bytes_on_disk": g_bytes,
            "dedup_ratio": dedup_ratio, "restores_checked_byte_exact": checked,
            "overlay": match overlay {
                Ok(o) => json!({
                    "steps": o.capture.samples,
                    "mount_p50_us": us(o.mount.p50), "mount_p99_us": us(o.mount.p99),
                    "capture_p50_us": us(o.capture.p50), "capture_p99_us": us(o.capture.p99),
                }),
                Err(reason) => json!({"unavailable": reason}),
            },
        }));
    }

    fn print_text(&self) {
        let Report {
            files,
            nodes,
            seed,
            helios_snapshot: hs,
            helios_switch: hw,
            git_snapshot: gs,
            git_switch: gw,
            small_switch: small,
            helios_bytes: h_bytes,
            git_bytes: g_bytes,
            dedup_ratio,
            checked,
            overlay,
        } = self;
        line(&format!(
            "{files} files, {nodes} nodes, seed {seed} (same trace through both)"
        ));
        line(&hs.line("helios snapshot (capture + commit)"));
        line(&gs.line("git snapshot (add -A + commit)"));
        line(&hw.line("helios switch (checkout)"));
        line(&gw.line("git switch (checkout)"));
        if let Some((h, g)) = small {
            line(&h.line("helios switch of 1-5 files"));
            line(&g.line("git switch, same steps"));
        }
        line(&format!(
            "bytes on disk: helios {h_bytes}, git {g_bytes}; dedup ratio {dedup_ratio:.4}"
        ));
        line(&format!(
            "{checked} sampled nodes byte-exact between helios and git"
        ));
        match overlay {
            Ok(o) => {
                line(
                    &o.mount
                        .line("helios overlay mount (parent over the base copy)"),
                );
                line(
                    &o.capture
                        .line("helios overlay snapshot (capture upper + commit)"),
                );
            }
            Err(reason) => line(&format!("overlay mode not measured: {reason}")),
        }
    }
}

fn run(
    tmp: &Path,
    files: usize,
    nodes: usize,
    seed: u64,
    json: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let (hdir, gdir, store) = (&tmp.join("helios"), &tmp.join("git"), &tmp.join("store"));
    let (base, steps) = trace(files, nodes.max(2), seed);
    for d in [hdir, gdir] {
        fs::create_dir_all(d)?;
        write_tree(d, &base)?;
    }
    let engine = HeliosEngine::open(store, EngineConfig::default())?;
    let mut replay = Replay::start(&engine, hdir, gdir)?;
    replay.play(&steps)?;
    engine.flush()?;
    let checked = replay.check_byte_exact(seed)?;
    let overlay = overlay_run(&engine, &tmp.join("overlay"), &replay.helios_ids, &steps)?;
    let dedup_ratio = engine.stats().dedup_ratio();
    engine.close()?;
    let small_switch = (!replay.helios.small_switch.is_empty()).then(|| {
        (
            Latency::from_samples(replay.helios.small_switch),
            Latency::from_samples(replay.git.small_switch),
        )
    });
    let report = Report {
        files,
        nodes: replay.helios_ids.len(),
        seed,
        helios_snapshot: Latency::from_samples(replay.helios.snapshot),
        helios_switch: Latency::from_samples(replay.helios.switch),
        git_snapshot: Latency::from_samples(replay.git.snapshot),
        git_switch: Latency::from_samples(replay.git.switch),
        small_switch,
        helios_bytes: dir_bytes(store),
        git_bytes: dir_bytes(&gdir.join(".git")),
        dedup_ratio,
        checked,
        overlay,
    };
    if json {
        report.print_json();
    } else {
        report.print_text();
    }
    Ok(std::process::ExitCode::SUCCESS)
}
