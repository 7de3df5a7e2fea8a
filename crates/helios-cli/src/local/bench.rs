//! `helios bench`: the macro benchmark. A source-like workspace, a seeded
//! search-like trace (each node picks a parent, edits 1–5 files, sometimes
//! adds or deletes one), replayed side by side through Helios and through
//! git, with the same edits in the same order.
//!
//! Two ways to run the Helios side (`--via`):
//! - `engine` (the default): in this process (capture + commit,
//!   incremental checkout), beside git's porcelain (`git add -A && git
//!   commit`, `git checkout`). Where this process may mount overlayfs, the
//!   same steps are then replayed in overlay mode too: mount a node over
//!   one shared base copy, edit, capture the upper layer and commit.
//! - `cli`: one `helios` process per operation, exactly as a script or an
//!   agent harness calls it (see [`cli`]), beside git's plumbing, the
//!   fastest git is at the same jobs.
//!
//! Ratios are git's time over Helios's, in the same run: above 1, Helios
//! is faster.

mod cli;

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
use serde_json::{Value, json};

use crate::{BenchArgs, Via};
use helios_cli::output::{self, line, note, progress};

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

/// Runs a tool to completion; its trimmed stdout, or an error with its
/// stderr.
fn stdout_of(mut command: Command, what: &str) -> anyhow::Result<String> {
    let out = command
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@localhost")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@localhost");
    stdout_of(command, &format!("git {args:?} (is git installed?)"))
}

fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    let value = f()?;
    Ok((value, start.elapsed()))
}

/// What a directory takes, two ways.
#[derive(Clone, Copy, Default)]
struct DiskUsage {
    /// The files' lengths summed (the figure earlier reports print as
    /// "bytes on disk").
    apparent: u64,
    /// The blocks allocated to files and directories, what `du` counts: a
    /// 300-byte loose git object takes a whole block, a preallocated log
    /// all it reserved.
    du: u64,
}

impl std::ops::Add for DiskUsage {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        DiskUsage {
            apparent: self.apparent + other.apparent,
            du: self.du + other.du,
        }
    }
}

fn disk_usage(dir: &Path) -> DiskUsage {
    use std::os::unix::fs::MetadataExt as _;
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let Ok(meta) = e.metadata() else {
                return DiskUsage::default();
            };
            let own = DiskUsage {
                apparent: if meta.is_dir() { 0 } else { meta.len() },
                // st_blocks counts 512-byte units whatever the block size.
                du: meta.blocks() * 512,
            };
            if meta.is_dir() {
                own + disk_usage(&e.path())
            } else {
                own
            }
        })
        .fold(DiskUsage::default(), std::ops::Add::add)
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

fn mib(bytes: u64) -> f64 {
    // Display only: a byte count fits an f64 to well below a byte.
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / f64::from(1 << 20)
}

/// git's time over Helios's: above 1, Helios is faster. Infinite when
/// Helios took no measurable time (JSON prints it as `null`).
fn ratio(git: Duration, helios: Duration) -> f64 {
    git.as_secs_f64() / helios.as_secs_f64()
}

pub(crate) fn bench(args: &BenchArgs, json: bool) -> anyhow::Result<std::process::ExitCode> {
    if !args.history.is_empty() && args.via != Via::Cli {
        bail!("--history measures the `helios` binary: pass --via cli with it");
    }
    if args.no_watch && !args.server {
        bail!("--no-watch leaves a server's watcher off: pass --server with it");
    }
    if args.server && args.via != Via::Cli {
        bail!(
            "--server puts a server between the `helios` binary and the store: pass --via cli with it"
        );
    }
    let tmp = std::env::temp_dir().join(format!("helios-bench-{}", std::process::id()));
    let result = run(&tmp, args, json);
    if args.keep {
        note(&format!("kept {}", tmp.display()));
    } else {
        let _ = fs::remove_dir_all(&tmp);
    }
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

/// One side of the replay: a tool that snapshots a working directory and
/// switches it between the nodes it snapshotted (node `i` is the `i`th
/// snapshot it took, the root first).
trait Tool {
    /// Snapshots the directory as a child of node `parent` (`None`: the
    /// root) and records the new node.
    fn snapshot(&mut self, parent: Option<usize>) -> anyhow::Result<()>;
    /// Makes the directory hold node `node`. Returns the leaves written or
    /// removed, when the tool says.
    fn switch(&mut self, node: usize) -> anyhow::Result<Option<u64>>;
    /// The working directory.
    fn dir(&self) -> &Path;
}

/// Helios in this process: capture + commit, incremental checkout.
struct InProcess<'a> {
    engine: &'a HeliosEngine,
    dir: PathBuf,
    capture: CaptureOptions,
    ids: Vec<SnapshotId>,
}

impl Tool for InProcess<'_> {
    fn snapshot(&mut self, parent: Option<usize>) -> anyhow::Result<()> {
        let parent = parent.map(|p| self.ids[p]);
        let tree = self.engine.capture(&self.dir, &self.capture)?.tree;
        let (id, _) =
            self.engine
                .commit(&tree, Durability::Async, CommitMeta::child_of(parent, ""))?;
        self.engine.record_head(&self.dir, &id)?;
        self.ids.push(id);
        Ok(())
    }

    fn switch(&mut self, node: usize) -> anyhow::Result<Option<u64>> {
        let options = CheckoutOptions::default();
        let report = self
            .engine
            .checkout(&self.ids[node], &self.dir, &options, &|_, _| {})?;
        Ok(Some(report.files_written + report.removed))
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}

/// git's side. Porcelain is git as a person uses it: `git add -A && git
/// commit`, `git checkout`. Plumbing is the fastest git is at the same
/// jobs, what a harness built on git would call: `git add -A && git
/// write-tree` (a node is its tree), `git read-tree -u --reset`.
struct Git {
    dir: PathBuf,
    plumbing: bool,
    ids: Vec<String>,
}

impl Git {
    fn init(dir: &Path, plumbing: bool) -> anyhow::Result<Self> {
        git(dir, &["init", "-q"])?;
        Ok(Git {
            dir: dir.to_path_buf(),
            plumbing,
            ids: vec![],
        })
    }

    /// `.git`'s size after `git gc --aggressive`, every node kept by a ref
    /// (gc drops what no ref reaches, and plumbing nodes have none).
    fn repacked_bytes(&self) -> anyhow::Result<DiskUsage> {
        for (i, id) in self.ids.iter().enumerate() {
            git(&self.dir, &["update-ref", &format!("refs/bench/n{i}"), id])?;
        }
        git(&self.dir, &["gc", "--aggressive", "--quiet"])?;
        Ok(disk_usage(&self.dir.join(".git")))
    }
}

impl Tool for Git {
    fn snapshot(&mut self, _parent: Option<usize>) -> anyhow::Result<()> {
        let dir = &self.dir;
        git(dir, &["add", "-A"])?;
        let id = if self.plumbing {
            git(dir, &["write-tree"])?
        } else {
            git(dir, &["commit", "-q", "--allow-empty", "-m", "node"])?;
            git(dir, &["rev-parse", "HEAD"])?
        };
        self.ids.push(id);
        Ok(())
    }

    /// git does not say how many files its checkout wrote.
    fn switch(&mut self, node: usize) -> anyhow::Result<Option<u64>> {
        let id = &self.ids[node];
        if self.plumbing {
            git(&self.dir, &["read-tree", "-u", "--reset", id])?;
        } else {
            git(&self.dir, &["checkout", "-q", id])?;
        }
        Ok(None)
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One tool's timings over the replay, a sample per step.
#[derive(Default)]
struct Timings {
    snapshot: Vec<Duration>,
    switch: Vec<Duration>,
    /// Switches that wrote or removed 1 to 5 leaves: the size the switch
    /// target is set for (a switch to a distant ancestor rewrites more).
    small_switch: Vec<Duration>,
    /// A checkout of the node the directory already holds, right after
    /// its snapshot (only when the replay asks for it).
    noop: Vec<Duration>,
}

impl Timings {
    fn record_switch(&mut self, took: Duration, small: bool) {
        self.switch.push(took);
        if small {
            self.small_switch.push(took);
        }
    }
}

/// The same operation's latencies through Helios and through git.
struct Versus {
    helios: Latency,
    git: Latency,
    /// Helios's times in the order taken: where in the trace a tail sits.
    helios_steps: Vec<Duration>,
}

impl Versus {
    /// `None` when there are no samples (say, no switch of 1 to 5 files).
    fn of(helios: Vec<Duration>, git: Vec<Duration>) -> Option<Self> {
        (!helios.is_empty() && !git.is_empty()).then(|| Versus {
            helios: Latency::from_samples(helios.clone()),
            git: Latency::from_samples(git),
            helios_steps: helios,
        })
    }

    fn ratio_p50(&self) -> f64 {
        ratio(self.git.p50, self.helios.p50)
    }

    fn ratio_p99(&self) -> f64 {
        ratio(self.git.p99, self.helios.p99)
    }

    /// Both tools' P50/P99 under `helios_*` / `git_*` keys, the step
    /// count, and Helios's time of each step in trace order.
    fn json(&self) -> Value {
        let (h, g) = (&self.helios, &self.git);
        json!({
            "steps": h.samples,
            "helios_p50_us": us(h.p50), "helios_p99_us": us(h.p99),
            "git_p50_us": us(g.p50), "git_p99_us": us(g.p99),
            "helios_steps_us": self.steps_us(),
        })
    }

    /// Helios's time of each step, in trace order, in microseconds.
    fn steps_us(&self) -> Vec<f64> {
        self.helios_steps.iter().copied().map(us).collect()
    }

    /// One row of the `--via cli` table.
    fn row(&self, what: &str) -> String {
        let (h, g) = (&self.helios, &self.git);
        format!(
            "| {what} (n={}) | {:.2?} / {:.2?} | {:.2?} / {:.2?} | {:.2}x / {:.2}x |",
            h.samples,
            h.p50,
            h.p99,
            g.p50,
            g.p99,
            self.ratio_p50(),
            self.ratio_p99()
        )
    }
}

/// The trace replayed through Helios and git side by side: each tool, the
/// number of nodes so far and what each step took.
struct Replay<H, G> {
    helios: H,
    git: G,
    nodes: usize,
    /// Also time a no-op checkout after each snapshot.
    noop: bool,
    helios_t: Timings,
    git_t: Timings,
}

impl<H: Tool, G: Tool> Replay<H, G> {
    /// Snapshots the base tree, already written to both directories, as
    /// node 0 of each tool.
    fn start(mut helios: H, mut git: G, noop: bool) -> anyhow::Result<Self> {
        helios.snapshot(None)?;
        git.snapshot(None)?;
        Ok(Replay {
            helios,
            git,
            nodes: 1,
            noop,
            helios_t: Timings::default(),
            git_t: Timings::default(),
        })
    }

    /// Plays every step through both tools, with a progress bar. A switch
    /// counts as small (1 to 5 leaves) for both when Helios's did.
    fn play(&mut self, steps: &[Step]) -> anyhow::Result<()> {
        let bar = progress("nodes");
        bar.set_length(steps.len() as u64);
        for step in steps {
            let small = Self::step(&mut self.helios, &mut self.helios_t, step, None, self.noop)?;
            Self::step(&mut self.git, &mut self.git_t, step, Some(small), self.noop)?;
            self.nodes += 1;
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(())
    }

    /// One step through one tool: switch to the parent, apply the edits,
    /// snapshot, then (`noop`) check the new node out where it already
    /// is. `small` is whether the switch counts as small when the tool
    /// does not say; returns whether it did.
    fn step(
        tool: &mut impl Tool,
        timings: &mut Timings,
        step: &Step,
        small: Option<bool>,
        noop: bool,
    ) -> anyhow::Result<bool> {
        let (touched, took) = timed(|| tool.switch(step.parent))?;
        let small = small.unwrap_or_else(|| touched.is_some_and(|n| (1..=5).contains(&n)));
        timings.record_switch(took, small);
        apply(tool.dir(), &step.edits)?;
        let ((), took) = timed(|| tool.snapshot(Some(step.parent)))?;
        timings.snapshot.push(took);
        if noop {
            // The node just made is the last one.
            let node = timings.snapshot.len();
            let (_, took) = timed(|| tool.switch(node))?;
            timings.noop.push(took);
        }
        Ok(small)
    }

    /// Byte-exact: a seeded sample of nodes checked out both ways must
    /// match. Returns how many were compared.
    fn check_byte_exact(&mut self, seed: u64) -> anyhow::Result<usize> {
        let mut rng = SplitMix64::new(seed ^ 0x5EED);
        let sampled = 5.min(self.nodes);
        for _ in 0..sampled {
            let i = rng.index(self.nodes);
            self.helios.switch(i)?;
            self.git.switch(i)?;
            if read_tree(self.helios.dir(), ".helios")? != read_tree(self.git.dir(), ".git")? {
                bail!("node {i}: the Helios checkout differs from git's");
            }
        }
        Ok(sampled)
    }

    /// Both tools' latencies, per operation.
    fn versus(self) -> Measured<H, G> {
        let (h, g) = (self.helios_t, self.git_t);
        let both = "every step snapshots and switches";
        Measured {
            snapshot: Versus::of(h.snapshot, g.snapshot).expect(both),
            switch: Versus::of(h.switch, g.switch).expect(both),
            small_switch: Versus::of(h.small_switch, g.small_switch),
            noop: Versus::of(h.noop, g.noop),
            helios: self.helios,
            git: self.git,
        }
    }
}

/// A finished replay: the latencies, and the tools (for their ids).
struct Measured<H, G> {
    snapshot: Versus,
    switch: Versus,
    small_switch: Option<Versus>,
    noop: Option<Versus>,
    helios: H,
    git: G,
}

/// What the mode adds to the common report.
enum ModeReport {
    Engine {
        dedup_ratio: f64,
        overlay: Result<OverlayRun, String>,
    },
    Cli {
        /// `.git` after `git gc --aggressive`.
        git_repacked_bytes: DiskUsage,
        /// The store after `helios gc` (which compacts), every node kept.
        helios_gc_bytes: DiskUsage,
        history: Vec<cli::HistoryPoint>,
        /// Every call went through `helios serve` (`--server`).
        server: bool,
        /// The server watched the working directory (not `--no-watch`).
        watched: bool,
    },
}

/// What the bench measured, for either rendering. Each rendering takes
/// it apart whole (no `..`), so a field added here cannot be left out of
/// one of them unnoticed.
struct Report {
    files: usize,
    nodes: usize,
    seed: u64,
    snapshot: Versus,
    switch: Versus,
    /// Switches of 1 to 5 files (`None`: the trace had none).
    small_switch: Option<Versus>,
    /// No-op checkouts (measured with `--via cli` only).
    noop: Option<Versus>,
    helios_bytes: DiskUsage,
    git_bytes: DiskUsage,
    checked: usize,
    mode: ModeReport,
}

impl Report {
    fn print_json(&self) {
        let Report {
            files,
            nodes,
            seed,
            snapshot,
            switch,
            small_switch,
            noop,
            helios_bytes: h_bytes,
            git_bytes: g_bytes,
            checked,
            mode,
        } = self;
        let (hs, gs, hw, gw) = (&snapshot.helios, &snapshot.git, &switch.helios, &switch.git);
        let mut ratios = json!({
            "snapshot_p50": snapshot.ratio_p50(), "snapshot_p99": snapshot.ratio_p99(),
            "switch_p50": switch.ratio_p50(), "switch_p99": switch.ratio_p99(),
        });
        for (name, v) in [
            ("switch_1_to_5_files", small_switch),
            ("noop_checkout", noop),
        ] {
            if let Some(v) = v {
                ratios[format!("{name}_p50")] = json!(v.ratio_p50());
                ratios[format!("{name}_p99")] = json!(v.ratio_p99());
            }
        }
        let mut report = json!({
            "files": files, "nodes": nodes, "seed": seed,
            "helios_snapshot_p50_us": us(hs.p50), "helios_snapshot_p99_us": us(hs.p99),
            "helios_switch_p50_us": us(hw.p50), "helios_switch_p99_us": us(hw.p99),
            "git_snapshot_p50_us": us(gs.p50), "git_snapshot_p99_us": us(gs.p99),
            "git_switch_p50_us": us(gw.p50), "git_switch_p99_us": us(gw.p99),
            "helios_snapshot_steps_us": snapshot.steps_us(),
            "helios_switch_steps_us": switch.steps_us(),
            "switch_1_to_5_files": small_switch.as_ref().map(Versus::json),
            "ratios_git_over_helios": ratios,
            "helios_bytes_on_disk": h_bytes.apparent, "git_bytes_on_disk": g_bytes.apparent,
            "helios_bytes_du": h_bytes.du, "git_bytes_du": g_bytes.du,
            "restores_checked_byte_exact": checked,
        });
        match mode {
            ModeReport::Engine {
                dedup_ratio,
                overlay,
            } => {
                report["via"] = json!("engine");
                report["dedup_ratio"] = json!(dedup_ratio);
                report["overlay"] = match overlay {
                    Ok(o) => json!({
                        "steps": o.capture.samples,
                        "mount_p50_us": us(o.mount.p50), "mount_p99_us": us(o.mount.p99),
                        "capture_p50_us": us(o.capture.p50), "capture_p99_us": us(o.capture.p99),
                    }),
                    Err(reason) => json!({"unavailable": reason}),
                };
            }
            ModeReport::Cli {
                git_repacked_bytes,
                helios_gc_bytes,
                history,
                server,
                watched,
            } => {
                report["via"] = json!("cli");
                report["server"] = json!(server);
                report["watched"] = json!(watched);
                report["git_snapshot_is"] = json!(cli::GIT_SNAPSHOT);
                report["git_switch_is"] = json!(cli::GIT_SWITCH);
                report["noop_checkout"] = json!(noop.as_ref().map(Versus::json));
                report["git_repacked_bytes_on_disk"] = json!(git_repacked_bytes.apparent);
                report["git_repacked_bytes_du"] = json!(git_repacked_bytes.du);
                report["helios_gc_bytes_on_disk"] = json!(helios_gc_bytes.apparent);
                report["helios_gc_bytes_du"] = json!(helios_gc_bytes.du);
                report["history"] =
                    Value::Array(history.iter().map(cli::HistoryPoint::json).collect());
            }
        }
        output::json(&report);
    }

    fn print_text(&self) {
        let Report {
            files,
            nodes,
            seed,
            snapshot,
            switch,
            small_switch,
            noop,
            helios_bytes: h_bytes,
            git_bytes: g_bytes,
            checked,
            mode,
        } = self;
        match mode {
            ModeReport::Engine {
                dedup_ratio,
                overlay,
            } => {
                line(&format!(
                    "{files} files, {nodes} nodes, seed {seed} (same trace through both)"
                ));
                line(&snapshot.helios.line("helios snapshot (capture + commit)"));
                line(&snapshot.git.line("git snapshot (add -A + commit)"));
                line(&switch.helios.line("helios switch (checkout)"));
                line(&switch.git.line("git switch (checkout)"));
                if let Some(small) = small_switch {
                    line(&small.helios.line("helios switch of 1-5 files"));
                    line(&small.git.line("git switch, same steps"));
                }
                line(&format!(
                    "bytes on disk: helios {}, git {} (du: {} / {}); dedup ratio {dedup_ratio:.4}",
                    h_bytes.apparent, g_bytes.apparent, h_bytes.du, g_bytes.du
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
            ModeReport::Cli {
                git_repacked_bytes,
                helios_gc_bytes,
                history,
                server,
                watched,
            } => {
                let through = match (*server, *watched) {
                    (true, true) => ", each through `helios serve` with the directory watched",
                    (true, false) => {
                        ", each through `helios serve`, the directory unwatched (every snapshot scans it)"
                    }
                    (false, _) => "",
                };
                let mut table = vec![
                    format!(
                        "{files} files, {nodes} nodes, seed {seed}: one `helios` process per \
                         operation{through} beside git plumbing, same trace"
                    ),
                    String::new(),
                    "| operation | helios P50 / P99 | git P50 / P99 | git/helios P50 / P99 |"
                        .to_owned(),
                    "|---|---|---|---|".to_owned(),
                    snapshot.row(&format!("snapshot: commit vs {}", cli::GIT_SNAPSHOT)),
                    switch.row(&format!("switch: checkout vs {}", cli::GIT_SWITCH)),
                ];
                table.extend(small_switch.as_ref().map(|v| v.row("switch of 1-5 files")));
                table.extend(
                    noop.as_ref()
                        .map(|v| v.row("no-op checkout, same commands")),
                );
                table.push(String::new());
                table.push(format!(
                    "bytes on disk, files' lengths: helios {:.1} MiB ({:.1} after helios gc), \
                     git loose {:.1} MiB ({:.1} after git gc --aggressive)",
                    mib(h_bytes.apparent),
                    mib(helios_gc_bytes.apparent),
                    mib(g_bytes.apparent),
                    mib(git_repacked_bytes.apparent)
                ));
                table.push(format!(
                    "bytes on disk, blocks (du): helios {:.1} MiB ({:.1} after helios gc), \
                     git loose {:.1} MiB ({:.1} after git gc --aggressive)",
                    mib(h_bytes.du),
                    mib(helios_gc_bytes.du),
                    mib(g_bytes.du),
                    mib(git_repacked_bytes.du)
                ));
                table.push(format!(
                    "{checked} sampled nodes byte-exact between helios and git"
                ));
                table.extend(cli::history_table(history));
                output::lines(&table.join("\n"));
            }
        }
    }
}

fn run(tmp: &Path, args: &BenchArgs, json: bool) -> anyhow::Result<std::process::ExitCode> {
    let (hdir, gdir, store) = (&tmp.join("helios"), &tmp.join("git"), &tmp.join("store"));
    let (base, steps) = trace(args.files, args.nodes.max(2), args.seed);
    for d in [hdir, gdir] {
        fs::create_dir_all(d)?;
        write_tree(d, &base)?;
    }
    let report = match args.via {
        Via::Engine => {
            let engine = HeliosEngine::open(store, EngineConfig::default())?;
            let helios = InProcess {
                engine: &engine,
                dir: hdir.clone(),
                capture: CaptureOptions::default(),
                ids: vec![],
            };
            let mut replay = Replay::start(helios, Git::init(gdir, false)?, false)?;
            replay.play(&steps)?;
            engine.flush()?;
            let checked = replay.check_byte_exact(args.seed)?;
            let nodes = replay.nodes;
            let m = replay.versus();
            let overlay = overlay_run(&engine, &tmp.join("overlay"), &m.helios.ids, &steps)?;
            let dedup_ratio = engine.stats().dedup_ratio();
            engine.close()?;
            Report {
                files: args.files,
                nodes,
                seed: args.seed,
                snapshot: m.snapshot,
                switch: m.switch,
                small_switch: m.small_switch,
                noop: m.noop,
                helios_bytes: disk_usage(store),
                git_bytes: disk_usage(&gdir.join(".git")),
                checked,
                mode: ModeReport::Engine {
                    dedup_ratio,
                    overlay,
                },
            }
        }
        Via::Cli => {
            let mut helios = cli::Spawned::init(store, hdir)?;
            if args.server {
                helios.serve(!args.no_watch)?;
            }
            let mut replay = Replay::start(helios, Git::init(gdir, true)?, true)?;
            replay.play(&steps)?;
            let checked = replay.check_byte_exact(args.seed)?;
            let nodes = replay.nodes;
            let m = replay.versus();
            let (helios_bytes, git_bytes) = (disk_usage(store), disk_usage(&gdir.join(".git")));
            let git_repacked_bytes = m.git.repacked_bytes()?;
            let helios_gc_bytes = m.helios.collected_bytes()?;
            let history = cli::history(&tmp.join("history"), &args.history, args.seed)?;
            Report {
                files: args.files,
                nodes,
                seed: args.seed,
                snapshot: m.snapshot,
                switch: m.switch,
                small_switch: m.small_switch,
                noop: m.noop,
                helios_bytes,
                git_bytes,
                checked,
                mode: ModeReport::Cli {
                    git_repacked_bytes,
                    helios_gc_bytes,
                    history,
                    server: args.server,
                    watched: args.server && !args.no_watch,
                },
            }
        }
    };
    if json {
        report.print_json();
    } else {
        report.print_text();
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser as _;

    use super::{Versus, ratio};
    use crate::{BenchArgs, Cli, Command, Via};

    #[test]
    fn ratios_are_git_over_helios() {
        let ms = Duration::from_millis;
        assert!((ratio(ms(50), ms(10)) - 5.0).abs() < 1e-9);
        assert!((ratio(ms(10), ms(40)) - 0.25).abs() < 1e-9);
        assert!(ratio(ms(1), Duration::ZERO).is_infinite());
        let v = Versus::of(vec![ms(10), ms(20), ms(30)], vec![ms(40), ms(60), ms(300)]).unwrap();
        assert!((v.ratio_p50() - 3.0).abs() < 1e-9, "{}", v.ratio_p50());
        assert!((v.ratio_p99() - 10.0).abs() < 1e-9, "{}", v.ratio_p99());
        assert!(Versus::of(vec![], vec![ms(1)]).is_none());
    }

    #[test]
    fn bench_flags_parse() {
        let parse = |args: &[&str]| -> Result<BenchArgs, clap::Error> {
            let cli = Cli::try_parse_from(["helios", "bench"].iter().chain(args))?;
            match cli.command {
                Command::Bench(b) => Ok(b),
                other => panic!("{other:?}"),
            }
        };
        let default = parse(&[]).unwrap();
        assert_eq!(default.via, Via::Engine);
        assert!(default.history.is_empty());
        let b = parse(&["--via", "cli", "--history", "100,1000,10000"]).unwrap();
        assert_eq!(b.via, Via::Cli);
        assert_eq!(b.history, [100, 1000, 10_000]);
        assert!(parse(&["--via", "git"]).is_err());
        assert!(parse(&["--history", "10,ten"]).is_err());
    }
}
