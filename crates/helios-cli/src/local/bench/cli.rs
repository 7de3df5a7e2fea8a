//! `helios bench --via cli`: the Helios side as a user touches it. Every
//! operation spawns the `helios` binary this process runs from, exactly as
//! a script or an agent harness would — `helios --store S commit --workdir
//! W -m node` (the id is the last stdout line), `helios --store S --json
//! checkout ID --workdir W` — so each pays a process start, a store open
//! and a close. git runs as plumbing beside it ([`GIT_SNAPSHOT`],
//! [`GIT_SWITCH`]), one process per command too.
//!
//! The history sweep (`--history`) measures what every call pays whatever
//! it does, `helios log -n 1`, on a store after N commits, to show whether
//! that cost grows with the history (state left behind per process, scans
//! of every snapshot).

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use helios_engine::{EngineConfig, HeliosEngine};
use helios_workdir::CaptureOptions;
use helios_workload::{Latency, SplitMix64, source_like};
use serde_json::{Value, json};

use super::{DiskUsage, InProcess, Tool, disk_usage, mib, stdout_of, timed, us, write_tree};
use helios_cli::output::progress;

/// What git's snapshot is in this mode: the index refreshed and the tree
/// written, the fastest git records a directory.
pub(super) const GIT_SNAPSHOT: &str = "git add -A && git write-tree";
/// What git's switch is in this mode: index and files made the tree's.
pub(super) const GIT_SWITCH: &str = "git read-tree -u --reset";

/// Helios as a harness calls it: one process of the `helios` binary per
/// operation, on one store.
pub(super) struct Spawned {
    exe: PathBuf,
    store: PathBuf,
    dir: PathBuf,
    ids: Vec<String>,
    /// `helios serve` on the store, when the run goes through a server.
    server: Option<Child>,
}

impl Spawned {
    /// `helios init` of a new store for the working directory `dir`.
    pub(super) fn init(store: &Path, dir: &Path) -> anyhow::Result<Self> {
        // The front end beside this binary, as scripts and harnesses call
        // it (it hands to this binary what no server answers).
        let exe = std::env::current_exe()
            .context("finding the helios binary to spawn")?
            .with_file_name("helios");
        let spawned = Spawned {
            exe,
            store: store.to_path_buf(),
            dir: dir.to_path_buf(),
            ids: vec![],
            server: None,
        };
        spawned.run(&[OsStr::new("init")])?;
        Ok(spawned)
    }

    /// Starts `helios serve` on the store (returning once it says it is
    /// ready) and, if `watch`, has it watch the working directory.
    pub(super) fn serve(&mut self, watch: bool) -> anyhow::Result<()> {
        let mut child = Command::new(&self.exe)
            .arg("--store")
            .arg(&self.store)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting helios serve")?;
        let mut ready = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut ready)?;
        }
        self.server = Some(child);
        if !ready.starts_with("ready") {
            bail!("helios serve did not start: {ready:?}");
        }
        if watch {
            self.run(&["watch".as_ref(), "--workdir".as_ref(), self.dir.as_os_str()])?;
        }
        Ok(())
    }

    /// The store's size after `helios gc`, which collects and compacts,
    /// every node kept by a ref (gc drops what nothing reaches), as
    /// [`super::Git::repacked_bytes`] keeps git's.
    pub(super) fn collected_bytes(&self) -> anyhow::Result<DiskUsage> {
        for (i, id) in self.ids.iter().enumerate() {
            let name = format!("bench/n{i}");
            self.run(&["ref".as_ref(), name.as_ref(), id.as_ref()])?;
        }
        self.run(&["gc".as_ref()])?;
        Ok(disk_usage(&self.store))
    }

    /// `helios --store S ARGS`; its stdout.
    fn run(&self, args: &[&OsStr]) -> anyhow::Result<String> {
        let mut command = Command::new(&self.exe);
        command.arg("--store").arg(&self.store).args(args);
        stdout_of(command, &format!("helios {args:?}"))
    }
}

impl Drop for Spawned {
    /// Stops the server the way an operator does (SIGTERM: it drains and
    /// writes what is queued).
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let stopped = Command::new("kill")
                .args(["-s", "TERM", &server.id().to_string()])
                .status();
            if !stopped.is_ok_and(|s| s.success()) {
                let _ = server.kill();
            }
            let _ = server.wait();
        }
    }
}

impl Tool for Spawned {
    /// The parent is the snapshot the directory holds, which `helios
    /// commit` knows itself.
    fn snapshot(&mut self, _parent: Option<usize>) -> anyhow::Result<()> {
        let out = self.run(&[
            "commit".as_ref(),
            "--workdir".as_ref(),
            self.dir.as_os_str(),
            "-m".as_ref(),
            "node".as_ref(),
        ])?;
        let id = out
            .lines()
            .last()
            .context("helios commit printed no snapshot id")?;
        self.ids.push(id.to_owned());
        Ok(())
    }

    fn switch(&mut self, node: usize) -> anyhow::Result<Option<u64>> {
        let out = self.run(&[
            "--json".as_ref(),
            "checkout".as_ref(),
            self.ids[node].as_ref(),
            "--workdir".as_ref(),
            self.dir.as_os_str(),
        ])?;
        let report: Value = serde_json::from_str(&out)
            .with_context(|| format!("helios checkout --json printed {out:?}"))?;
        let count = |key: &str| {
            report[key]
                .as_u64()
                .with_context(|| format!("no {key} in helios checkout's {report}"))
        };
        Ok(Some(count("files_written")? + count("removed")?))
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Files of the history sweep's workspace: few, so that a commit costs
/// little beside the per-call cost the sweep is about.
const HISTORY_FILES: usize = 100;
/// Untimed `helios log -n 1` calls before the timed ones at each point.
const HISTORY_WARMUP: usize = 3;
/// Timed `helios log -n 1` calls at each point.
const HISTORY_CALLS: usize = 30;
/// Commits made one `helios` process each: the largest point,
/// 10,000, at about 12 ms a process (release build, 100 files). Past this
/// many, the rest are made by one engine in this process on the same
/// store, closed before anything is measured, so that larger points stay
/// within minutes.
const HISTORY_CLI_COMMITS: usize = 10_000;

/// The per-call cost after `commits` commits.
pub(super) struct HistoryPoint {
    commits: usize,
    /// How many of the commits were `helios commit` processes; the rest
    /// were made in this process.
    via_cli: usize,
    log: Latency,
    /// Entries in the store directory (RocksDB's files: what a process
    /// may leave behind).
    store_files: usize,
    store_bytes: u64,
}

impl HistoryPoint {
    pub(super) fn json(&self) -> Value {
        json!({
            "commits": self.commits,
            "commits_via_cli": self.via_cli,
            "commits_in_process": self.commits - self.via_cli,
            "log_calls": self.log.samples,
            "log_p50_us": us(self.log.p50), "log_p99_us": us(self.log.p99),
            "store_files": self.store_files, "store_bytes": self.store_bytes,
        })
    }
}

/// The sweep's lines of the text report (none without a sweep).
pub(super) fn history_table(points: &[HistoryPoint]) -> Vec<String> {
    if points.is_empty() {
        return vec![];
    }
    let mut out = vec![
        String::new(),
        format!(
            "per-call cost: `helios log -n 1` after N commits of a one-file edit \
             ({HISTORY_FILES}-file workspace), {HISTORY_CALLS} calls each"
        ),
        String::new(),
        "| commits | log -n 1 P50 / P99 | store files | store MiB | commits made |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];
    for p in points {
        let in_process = p.commits - p.via_cli;
        let made = if in_process == 0 {
            format!("{} via cli", p.via_cli)
        } else {
            format!("{} via cli + {in_process} in process", p.via_cli)
        };
        out.push(format!(
            "| {} | {:.2?} / {:.2?} | {} | {:.1} | {made} |",
            p.commits,
            p.log.p50,
            p.log.p99,
            p.store_files,
            mib(p.store_bytes)
        ));
    }
    if points.iter().any(|p| p.via_cli < p.commits) {
        out.push(format!(
            "commits past the first {HISTORY_CLI_COMMITS} were made by one engine in the bench's \
             process on the same store, closed before measuring (a process each would take \
             minutes)"
        ));
    }
    out
}

/// The history sweep in `tmp`: one store, commits of a one-file edit up to
/// each of `points` in turn, `helios log -n 1` timed at each.
pub(super) fn history(
    tmp: &Path,
    points: &[usize],
    seed: u64,
) -> anyhow::Result<Vec<HistoryPoint>> {
    let mut points = points.to_vec();
    points.sort_unstable();
    points.dedup();
    let Some(&last) = points.last() else {
        return Ok(vec![]);
    };
    let (store, dir) = (tmp.join("store"), tmp.join("w"));
    let (base, _) = super::trace(HISTORY_FILES, 0, seed);
    fs::create_dir_all(&dir)?;
    write_tree(&dir, &base)?;
    let paths: Vec<&String> = base.keys().collect();
    let mut rng = SplitMix64::mixed(seed);
    let mut edit = || {
        let path = paths[rng.index(paths.len())];
        fs::write(dir.join(path), source_like(&mut rng, 512))
    };
    let mut helios = Spawned::init(&store, &dir)?;
    let bar = progress("commits");
    bar.set_length(last as u64);
    let (mut made, mut via_cli, mut out) = (0, 0, vec![]);
    for n in points {
        while made < n.min(HISTORY_CLI_COMMITS) {
            edit()?;
            helios.snapshot(None)?;
            (made, via_cli) = (made + 1, via_cli + 1);
            bar.inc(1);
        }
        if made < n {
            let engine = HeliosEngine::open(&store, EngineConfig::default())?;
            let mut in_process = InProcess {
                engine: &engine,
                dir: dir.clone(),
                capture: CaptureOptions::default(),
                ids: engine.workdir_head(&dir)?.into_iter().collect(),
            };
            while made < n {
                edit()?;
                in_process.snapshot(in_process.ids.len().checked_sub(1))?;
                made += 1;
                bar.inc(1);
            }
            engine.close()?;
        }
        let log = [OsStr::new("log"), "-n".as_ref(), "1".as_ref()];
        let mut samples: Vec<Duration> = Vec::with_capacity(HISTORY_CALLS);
        for i in 0..HISTORY_WARMUP + HISTORY_CALLS {
            let (_, took) = timed(|| helios.run(&log))?;
            if i >= HISTORY_WARMUP {
                samples.push(took);
            }
        }
        out.push(HistoryPoint {
            commits: n,
            via_cli,
            log: Latency::from_samples(samples),
            store_files: fs::read_dir(&store)?.count(),
            store_bytes: disk_usage(&store).apparent,
        });
    }
    bar.finish_and_clear();
    Ok(out)
}
