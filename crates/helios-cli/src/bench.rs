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
            let tree = mount.capture(&capture)?.tree;
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
    let capture = CaptureOptions::default();
    let root = engine.capture(hdir, &capture)?.tree;
    let (root_id, _) = engine.commit(&root, Durability::Async, CommitMeta::default())?;
    engine.record_head(hdir, &root_id)?;
    git(gdir, &["init", "-q"])?;
    git(gdir, &["add", "-A"])?;
    git(gdir, &["commit", "-q", "-m", "root"])?;
    let mut h_ids: Vec<SnapshotId> = vec![root_id];
    let mut g_ids: Vec<String> = vec![git(gdir, &["rev-parse", "HEAD"])?];
    let (mut h_snap, mut h_switch, mut g_snap, mut g_switch) = (vec![], vec![], vec![], vec![]);
    // Switches that wrote or removed 1 to 5 leaves: the size the switch
    // target is set for (a switch to a distant ancestor rewrites more).
    let (mut h_small, mut g_small) = (vec![], vec![]);
    let bar = progress("nodes");
    bar.set_length(steps.len() as u64);
    for step in &steps {
        let (report, d) = timed(|| {
            Ok(engine.checkout(
                &h_ids[step.parent],
                hdir,
                &CheckoutOptions::default(),
                &|_, _| {},
            )?)
        })?;
        h_switch.push(d);
        let small = (1..=5).contains(&(report.files_written + report.removed));
        if small {
            h_small.push(d);
        }
        apply(hdir, &step.edits)?;
        let (id, d) = timed(|| {
            let tree = engine.capture(hdir, &capture)?.tree;
            let (id, _) = engine.commit(
                &tree,
                Durability::Async,
                CommitMeta::child_of(Some(h_ids[step.parent]), ""),
            )?;
            engine.record_head(hdir, &id)?;
            Ok(id)
        })?;
        h_snap.push(d);
        h_ids.push(id);

        let ((), d) = timed(|| git(gdir, &["checkout", "-q", &g_ids[step.parent]]).map(|_| ()))?;
        g_switch.push(d);
        if small {
            g_small.push(d);
        }
        apply(gdir, &step.edits)?;
        let (sha, d) = timed(|| {
            git(gdir, &["add", "-A"])?;
            git(gdir, &["commit", "-q", "--allow-empty", "-m", "node"])?;
            git(gdir, &["rev-parse", "HEAD"])
        })?;
        g_snap.push(d);
        g_ids.push(sha);
        bar.inc(1);
    }
    bar.finish_and_clear();
    engine.flush()?;

    // Byte-exact: a sample of nodes checked out both ways must match.
    let mut rng = SplitMix64::new(seed ^ 0x5EED);
    let mut checked = 0;
    for _ in 0..5.min(h_ids.len()) {
        let i = rng.index(h_ids.len());
        engine.checkout(&h_ids[i], hdir, &CheckoutOptions::default(), &|_, _| {})?;
        git(gdir, &["checkout", "-q", &g_ids[i]])?;
        if read_tree(hdir, ".helios")? != read_tree(gdir, ".git")? {
            bail!("node {i}: the Helios checkout differs from git's");
        }
        checked += 1;
    }
    let overlay = overlay_run(&engine, &tmp.join("overlay"), &h_ids, &steps)?;
    let stats = engine.stats();
    engine.close()?;
    let (hs, hw, gs, gw) = (
        Latency::from_samples(h_snap),
        Latency::from_samples(h_switch),
        Latency::from_samples(g_snap),
        Latency::from_samples(g_switch),
    );
    let small = (!h_small.is_empty()).then(|| {
        (
            Latency::from_samples(h_small),
            Latency::from_samples(g_small),
        )
    });
    let (h_bytes, g_bytes) = (dir_bytes(store), dir_bytes(&gdir.join(".git")));
    if json {
        output::json(&json!({
            "files": files, "nodes": h_ids.len(), "seed": seed,
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
            "dedup_ratio": stats.dedup_ratio(), "restores_checked_byte_exact": checked,
            "overlay": match &overlay {
                Ok(o) => json!({
                    "steps": o.capture.samples,
                    "mount_p50_us": us(o.mount.p50), "mount_p99_us": us(o.mount.p99),
                    "capture_p50_us": us(o.capture.p50), "capture_p99_us": us(o.capture.p99),
                }),
                Err(reason) => json!({"unavailable": reason}),
            },
        }));
    } else {
        line(&format!(
            "{files} files, {} nodes, seed {seed} (same trace through both)",
            h_ids.len()
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
            "bytes on disk: helios {h_bytes}, git {g_bytes}; dedup ratio {:.4}",
            stats.dedup_ratio()
        ));
        line(&format!(
            "{checked} sampled nodes byte-exact between helios and git"
        ));
        match &overlay {
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
    Ok(std::process::ExitCode::SUCCESS)
}
