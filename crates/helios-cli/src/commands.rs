//! One function per command. Each gets the store through a [`Backend`]
//! (its server, or the store opened here), does its work, prints text or
//! JSON, and returns the exit code.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use helios_engine::{
    CommitMeta, Durability, EngineConfig, EngineError, GcReport, HeliosEngine, WorkdirCommit,
};
use helios_server::{Client, FsckSummary, ServeOptions, Stopped};
use helios_types::{EntryKind, RepoPath, Snapshot, SnapshotId};
use helios_vst::Change;
use helios_workdir::{CaptureOptions, CheckoutOptions, Report};
use serde_json::{Value, json};

use crate::backend::Backend;
use crate::output::{self, line, note, progress, reporter};
use crate::signals::Interrupt;
use crate::{Cli, Command, DemoArgs, DurabilityArg};

pub(crate) fn run(cli: Cli, interrupt: &Interrupt) -> anyhow::Result<ExitCode> {
    let store = cli.store.as_path();
    let json = cli.json;
    // Commands that open the store themselves, or run one, never go
    // through a server.
    let served = match cli.command {
        Command::Init { .. } | Command::Serve { .. } | Command::Bench(_) | Command::Demo(_) => None,
        _ => Backend::server(store, cli.no_server)?,
    };
    // The server when one answers, else the store opened by `$open`.
    macro_rules! backend {
        ($open:expr) => {
            Backend::new(served, store, $open)?
        };
    }
    match cli.command {
        Command::Init { algorithm } => init(store, algorithm),
        Command::Commit {
            workdir,
            message,
            durability,
            gitignore,
        } => commit(&backend!(open), &workdir, &message, durability, gitignore),
        Command::Checkout {
            id,
            workdir,
            full,
            force,
        } => checkout(
            &backend!(open_for_checkout),
            &id,
            &workdir,
            full,
            force,
            json,
        ),
        Command::Diff { a, b } => diff(&backend!(open_read_only), &a, &b, json),
        Command::Log { id, limit } => log(&backend!(open_read_only), id.as_deref(), limit, json),
        Command::Show { id } => show(&backend!(open_read_only), &id, json),
        Command::Ls { id, path } => ls(&backend!(open_read_only), &id, path.as_deref(), json),
        Command::Cat { id, path, range } => cat(&backend!(open_read_only), &id, &path, range),
        Command::Ref { name, id: None } => reference(&backend!(open_read_only), &name, None, json),
        Command::Ref { name, id } => reference(&backend!(open), &name, id.as_deref(), json),
        Command::Mount { id, dir } => crate::mount::mount(&backend!(open), &id, &dir),
        Command::Fork { id, dirs } => crate::mount::fork(&backend!(open), &id, &dirs),
        Command::Umount { dir } => crate::mount::umount(&backend!(open), &dir),
        Command::Serve { metrics, check } => serve(store, metrics, check),
        Command::Watch { workdir } => watch(served, store, &workdir, true),
        Command::Unwatch { workdir } => watch(served, store, &workdir, false),
        Command::Gc => gc(&backend!(open), json),
        Command::Fsck => fsck(&backend!(open_read_only), json),
        Command::Stats => stats(&backend!(open_read_only), json),
        Command::Bench(args) => crate::bench::bench(&args, json),
        Command::Demo(args) => demo(store, &args, json, interrupt),
    }
}

/// Opens an existing store for a command that only reads it: no lock (it
/// works while another process writes), no file created or changed.
fn open_read_only(store: &Path) -> anyhow::Result<HeliosEngine> {
    open_with(store, true)
}

/// Opens an existing store; a missing one is an error that says how to
/// make it.
fn open(store: &Path) -> anyhow::Result<HeliosEngine> {
    open_with(store, false)
}

/// Opens the store for a checkout: for writing, to record what the
/// directory holds; on a full disk, where RocksDB cannot open for writing
/// at all (it persists an options file first), read-only, with a note:
/// every snapshot stays readable, and only that record (a hint, see
/// `HeliosEngine::record_head`) is skipped.
fn open_for_checkout(store: &Path) -> anyhow::Result<HeliosEngine> {
    match open_with(store, false) {
        Err(e)
            if e.downcast_ref::<EngineError>()
                .is_some_and(EngineError::is_no_space) =>
        {
            note(&format!(
                "the store's disk is full ({e:#}); checking out from it read-only"
            ));
            open_with(store, true)
        }
        other => other,
    }
}

fn open_with(store: &Path, read_only: bool) -> anyhow::Result<HeliosEngine> {
    if !store.exists() {
        bail!(
            "no store at {} (run `helios init` or pass --store)",
            store.display()
        );
    }
    // One process per command: L1 pays off only within the call, so it is
    // small (16 MiB), and so are RocksDB's memtables (two of 32 MiB at
    // most): a commit of a 4 GiB file then peaks near 256 MiB instead of
    // over 300 (docs/BENCHMARKS.md, "Large files").
    let mut config = EngineConfig {
        create_if_missing: false,
        ..EngineConfig::small()
    };
    config.rocks.write_buffer_bytes = 32 << 20;
    config.rocks.read_only = read_only;
    HeliosEngine::open(store, config).map_err(|e| {
        let e = anyhow::Error::new(e).context(format!("opening {}", store.display()));
        match Client::connect(store) {
            Ok(Some(_)) => e.context(format!(
                "a server (`helios serve`) owns {}: drop --no-server to go through it",
                store.display()
            )),
            _ => e,
        }
    })
}

fn init(store: &Path, algorithm: helios_types::HashAlgorithm) -> anyhow::Result<ExitCode> {
    if HeliosEngine::store_exists(store)? {
        bail!("{} already holds a store", store.display());
    }
    let config = EngineConfig {
        algorithm: Some(algorithm),
        create_if_missing: true,
        ..EngineConfig::default()
    };
    let engine = HeliosEngine::open(store, config)?;
    engine.close()?;
    line(&format!(
        "initialized an empty {algorithm} store in {}",
        store.display()
    ));
    Ok(ExitCode::SUCCESS)
}

fn commit(
    backend: &Backend,
    workdir: &Path,
    message: &str,
    durability: DurabilityArg,
    gitignore: bool,
) -> anyhow::Result<ExitCode> {
    if !workdir.is_dir() {
        bail!("working directory {} does not exist", workdir.display());
    }
    let durability = match durability {
        DurabilityArg::Sync => Durability::Sync,
        DurabilityArg::Async => Durability::Async,
    };
    let committed: WorkdirCommit = match backend {
        Backend::Local(engine) => {
            let options = CaptureOptions {
                gitignore,
                ..CaptureOptions::default()
            };
            let meta = CommitMeta::child_of(None, message);
            engine.commit_workdir(workdir, &options, durability, meta)?
        }
        Backend::Served(client) => {
            client.commit_workdir(workdir, message, durability, gitignore)?
        }
    };
    backend.finish()?;
    // A large file's chunks were stored as capture read it: new objects
    // too, though the commit did not write them.
    let (report, metrics) = (&committed.report, &committed.metrics);
    note(&format!(
        "{} files scanned, {} read; {} new objects ({} bytes) in {:.2?}",
        report.files_scanned,
        report.files_hashed,
        metrics.new_objects + report.objects_stored,
        metrics.new_objects_size + report.bytes_stored,
        metrics.commit_latency
    ));
    line(&committed.id.to_hex());
    Ok(ExitCode::SUCCESS)
}

fn checkout(
    backend: &Backend,
    name: &str,
    workdir: &Path,
    full: bool,
    force: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let bar = progress("checkout");
    let checked_out: anyhow::Result<(SnapshotId, Report)> = match backend {
        Backend::Local(engine) => engine
            .resolve_name(name)
            .map_err(Into::into)
            .and_then(|id| {
                let options = CheckoutOptions {
                    full,
                    force,
                    ..CheckoutOptions::default()
                };
                let report = engine.checkout(&id, workdir, &options, &reporter(&bar))?;
                Ok((id, report))
            }),
        Backend::Served(client) => client
            .checkout(name, workdir, full, force, &reporter(&bar))
            .map_err(Into::into),
    };
    bar.finish_and_clear();
    let (id, report) = checked_out?;
    backend.finish()?;
    if json {
        output::json(&json!({
            "id": id.to_hex(),
            "files_written": report.files_written,
            "removed": report.removed,
            "dirs_created": report.dirs_created,
            "fast_path": report.fast_path,
        }));
    } else {
        line(&format!(
            "{} now holds {}: {} written, {} removed{}",
            workdir.display(),
            &id.to_hex()[..12],
            report.files_written,
            report.removed,
            if report.fast_path { "" } else { " (full scan)" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn change_json(c: &Change) -> Value {
    let (kind, path) = match c {
        Change::Added { path, .. } => ("added", path),
        Change::Deleted { path, .. } => ("deleted", path),
        Change::Modified { path, .. } => ("modified", path),
        Change::TypeChanged { path, .. } => ("type_changed", path),
    };
    json!({ "change": kind, "path": path.to_string() })
}

fn diff(backend: &Backend, a: &str, b: &str, json: bool) -> anyhow::Result<ExitCode> {
    let changes = match backend {
        Backend::Local(engine) => {
            engine.diff(&engine.resolve_name(a)?, &engine.resolve_name(b)?)?
        }
        Backend::Served(client) => client.diff(a, b)?,
    };
    if json {
        output::json(&Value::Array(changes.iter().map(change_json).collect()));
    } else {
        for c in &changes {
            let tag = match c {
                Change::Added { .. } => 'A',
                Change::Deleted { .. } => 'D',
                Change::Modified { .. } => 'M',
                Change::TypeChanged { .. } => 'T',
            };
            line(&format!("{tag} {}", c.path()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn snapshot_json(id: &SnapshotId, s: &Snapshot) -> Value {
    json!({
        "id": id.to_hex(),
        "root": s.root.to_hex(),
        "parents": s.parents.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
        "time_micros": s.time_micros,
        "label": s.label,
        "metadata": s.metadata,
    })
}

fn log(
    backend: &Backend,
    start: Option<&str>,
    limit: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let entries = match (backend, start) {
        (Backend::Local(engine), Some(name)) => engine.log(&engine.resolve_name(name)?, limit)?,
        (Backend::Local(engine), None) => engine.newest_snapshots(limit)?,
        (Backend::Served(client), start) => client.log(start, limit)?,
    };
    if json {
        output::json(&Value::Array(
            entries.iter().map(|(id, s)| snapshot_json(id, s)).collect(),
        ));
    } else {
        for (id, s) in &entries {
            line(&format!("{}  {}", &id.to_hex()[..12], s.label));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(backend: &Backend, name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (id, s) = match backend {
        Backend::Local(engine) => {
            let id = engine.resolve_name(name)?;
            (id, engine.snapshot(&id)?)
        }
        Backend::Served(client) => client.show(name)?,
    };
    if json {
        output::json(&snapshot_json(&id, &s));
    } else {
        line(&format!("snapshot {id}"));
        line(&format!("root     {}", s.root));
        for p in &s.parents {
            line(&format!("parent   {p}"));
        }
        line(&format!("time     {} µs since the epoch", s.time_micros));
        line(&format!("label    {}", s.label));
        for (k, v) in &s.metadata {
            line(&format!("meta     {k} = {v}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Executable => "exec",
        EntryKind::Symlink => "link",
        EntryKind::Dir => "dir",
    }
}

fn ls(backend: &Backend, name: &str, path: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let path = path.unwrap_or("");
    let entries = match backend {
        Backend::Local(engine) => {
            let vst = engine.restore(&engine.resolve_name(name)?)?;
            vst.list(&RepoPath::parse(path)?)?
        }
        Backend::Served(client) => client.ls(name, path)?,
    };
    if json {
        output::json(&Value::Array(
            entries
                .iter()
                .map(|(n, e)| json!({"name": n.to_string(), "kind": kind_name(e.kind), "size": e.size, "hash": e.hash.to_hex()}))
                .collect(),
        ));
    } else {
        for (n, e) in &entries {
            let slash = if e.kind == EntryKind::Dir { "/" } else { "" };
            line(&format!(
                "{:<5} {:>10}  {n}{slash}",
                kind_name(e.kind),
                e.size
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cat(
    backend: &Backend,
    name: &str,
    path: &str,
    range: Option<std::ops::Range<u64>>,
) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let range = range.unwrap_or(0..u64::MAX);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match backend {
        Backend::Local(engine) => {
            let vst = engine.restore(&engine.resolve_name(name)?)?;
            engine.read_file_into(&vst, &RepoPath::parse(path)?, range, &mut out)?;
        }
        Backend::Served(client) => {
            client.read_into(name, path, range, &mut out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn reference(
    backend: &Backend,
    name: &str,
    target: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(target) = target {
        let id = match backend {
            Backend::Local(engine) => {
                let id = engine.resolve_name(target)?;
                engine.set_ref(name, &id)?;
                id
            }
            Backend::Served(client) => client.set_ref(name, target)?,
        };
        backend.finish()?;
        line(&id.to_hex());
        return Ok(ExitCode::SUCCESS);
    }
    let id = match backend {
        Backend::Local(engine) => engine.get_ref(name)?,
        Backend::Served(client) => client.get_ref(name)?,
    };
    let id = id.with_context(|| format!("no ref named `{name}`"))?;
    if json {
        output::json(&json!({ "name": name, "id": id.to_hex() }));
    } else {
        line(&id.to_hex());
    }
    Ok(ExitCode::SUCCESS)
}

/// `helios serve`, or `helios serve --check`.
fn serve(
    store: &Path,
    metrics: Option<std::net::SocketAddr>,
    check: bool,
) -> anyhow::Result<ExitCode> {
    if check {
        return Ok(match Client::connect(store)? {
            Some(client) => {
                let status = client.status()?;
                line(&format!(
                    "a server (pid {}, version {}, up {} s) answers for {} on {}",
                    status.pid,
                    status.version,
                    status.uptime_seconds,
                    status.store,
                    client.socket().display()
                ));
                ExitCode::SUCCESS
            }
            None => {
                note(&format!("no server answers for {}", store.display()));
                ExitCode::FAILURE
            }
        });
    }
    if !store.exists() {
        bail!(
            "no store at {} (run `helios init` or pass --store)",
            store.display()
        );
    }
    // A long-lived owner: the default caches (L1 pays off across calls).
    let config = EngineConfig {
        create_if_missing: false,
        ..EngineConfig::default()
    };
    let options = ServeOptions { metrics };
    let stopped = helios_server::serve(store, config, &options, |ready| {
        let metrics = ready
            .metrics
            .map(|a| format!("; metrics on http://{a}/metrics"))
            .unwrap_or_default();
        line(&format!(
            "ready: serving {} on {}{metrics}",
            store.display(),
            ready.socket.display()
        ));
    })
    .with_context(|| format!("serving {}", store.display()))?;
    let signal = match stopped {
        Stopped::Terminated => "SIGTERM",
        Stopped::Interrupted => "SIGINT",
    };
    note(&format!(
        "stopped by {signal}: calls in flight finished, queued commits written, socket removed"
    ));
    Ok(ExitCode::SUCCESS)
}

/// `helios watch` / `helios unwatch`: only a server outlives the call
/// that would start a watcher.
fn watch(
    served: Option<Client>,
    store: &Path,
    workdir: &Path,
    start: bool,
) -> anyhow::Result<ExitCode> {
    let Some(client) = served else {
        bail!(
            "no server runs for {}: a watcher lives in the process that keeps it; start one with              `helios serve --store {}`",
            store.display(),
            store.display()
        );
    };
    if !workdir.is_dir() {
        bail!("working directory {} does not exist", workdir.display());
    }
    let changed = if start {
        client.watch(workdir)?
    } else {
        client.unwatch(workdir)?
    };
    line(&match (start, changed) {
        (true, true) => format!("watching {}", workdir.display()),
        (true, false) => format!("{} was watched already", workdir.display()),
        (false, true) => format!("stopped watching {}", workdir.display()),
        (false, false) => format!("{} was not watched", workdir.display()),
    });
    Ok(ExitCode::SUCCESS)
}

fn gc(backend: &Backend, json: bool) -> anyhow::Result<ExitCode> {
    let report: GcReport = match backend {
        Backend::Local(engine) => {
            let spinner = progress("gc");
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let report = engine.gc()?;
            // Deleted objects leave the disk, and everything settles under
            // the bottommost level's stronger compression.
            spinner.set_message("compacting");
            engine.compact()?;
            spinner.finish_and_clear();
            report
        }
        Backend::Served(client) => client.gc(true)?,
    };
    backend.finish()?;
    if json {
        output::json(&json!({
            "marked": report.marked,
            "objects_reclaimed": report.objects_reclaimed,
            "bytes_reclaimed": report.bytes_reclaimed,
            "snapshots_reclaimed": report.snapshots_reclaimed,
        }));
    } else {
        line(&format!(
            "kept {} objects; reclaimed {} objects ({} bytes) and {} snapshots",
            report.marked,
            report.objects_reclaimed,
            report.bytes_reclaimed,
            report.snapshots_reclaimed
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn fsck(backend: &Backend, json: bool) -> anyhow::Result<ExitCode> {
    let bar = progress("fsck");
    let checked: anyhow::Result<FsckSummary> = match backend {
        Backend::Local(engine) => engine
            .fsck(&reporter(&bar))
            .map(Into::into)
            .map_err(Into::into),
        Backend::Served(client) => client.fsck(&reporter(&bar)).map_err(Into::into),
    };
    bar.finish_and_clear();
    let report = checked?;
    let (checked, damaged) = (&report.checked, &report.damaged);
    if json {
        output::json(&json!({
            "snapshots": report.snapshots,
            "trees_checked": checked.trees,
            "blobs_checked": checked.blobs,
            "bytes_checked": checked.bytes,
            "damaged": damaged.iter().map(|(id, e)| json!({"id": id.to_hex(), "error": e})).collect::<Vec<_>>(),
        }));
    } else {
        for (id, e) in damaged {
            line(&format!("DAMAGED {id}: {e}"));
        }
        line(&format!(
            "{} snapshots, {} damaged; {} tree and {} blob reads, {} bytes checked",
            report.snapshots,
            damaged.len(),
            checked.trees,
            checked.blobs,
            checked.bytes
        ));
    }
    Ok(if damaged.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn stats(backend: &Backend, json: bool) -> anyhow::Result<ExitCode> {
    let (s, live) = match backend {
        Backend::Local(engine) => (helios_server::stats(engine)?, false),
        Backend::Served(client) => (client.stats()?, true),
    };
    if json {
        let mut out = json!({
            "snapshots": s.snapshots,
            "refs": s.refs,
            "l2_objects_estimate": s.l2_objects_estimate,
            "l2_disk_bytes": s.l2_disk_bytes,
            "algorithm": s.algorithm,
        });
        if live {
            out["server"] = json!({
                "uptime_seconds": s.uptime_seconds,
                "connected_clients": s.connected_clients,
                "requests": s.requests,
                "commits": s.commits,
                "restores": s.restores,
                "new_objects": s.new_objects,
                "new_bytes": s.new_bytes,
                "commit_p50_micros": s.commit_p50_micros,
                "commit_p99_micros": s.commit_p99_micros,
                "queue_wait_p99_micros": s.queue_wait_p99_micros,
                "in_flight": s.in_flight,
                "l1_hits": s.l1_hits,
                "l1_misses": s.l1_misses,
            });
        }
        output::json(&out);
        return Ok(ExitCode::SUCCESS);
    }
    line(&format!("store        {}", s.store));
    line(&format!("algorithm    {}", s.algorithm));
    line(&format!("snapshots    {}", s.snapshots));
    line(&format!("refs         {}", s.refs));
    line(&format!(
        "objects      ~{} (RocksDB estimate)",
        s.l2_objects_estimate
    ));
    line(&format!("disk bytes   {}", s.l2_disk_bytes));
    if live {
        let lookups = s.l1_hits + s.l1_misses;
        let hit_rate = if lookups == 0 {
            0.0
        } else {
            100.0 * s.l1_hits as f64 / lookups as f64
        };
        line(&format!(
            "server       up {} s, {} clients connected, {} calls",
            s.uptime_seconds, s.connected_clients, s.requests
        ));
        line(&format!(
            "commits      {} (P50 {} µs, P99 {} µs); {} new objects, {} new bytes",
            s.commits, s.commit_p50_micros, s.commit_p99_micros, s.new_objects, s.new_bytes
        ));
        line(&format!(
            "queue        {} objects in flight; wait P99 {} µs",
            s.in_flight, s.queue_wait_p99_micros
        ));
        line(&format!(
            "L1           {hit_rate:.1} % hits ({} of {lookups} lookups); {} restores",
            s.l1_hits, s.restores
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn demo(
    store: &Path,
    args: &DemoArgs,
    json: bool,
    interrupt: &Interrupt,
) -> anyhow::Result<ExitCode> {
    use helios_demo::{DemoConfig, experiment_seeds, run_demo_until, waste_experiment};
    use helios_mcts::{CostWeights, SearchConfig};
    let defaults = DemoConfig::default();
    let config = DemoConfig {
        search: SearchConfig {
            max_nodes: args.nodes,
            seed: args.seed,
            workers: args.workers,
            weights: if args.cost_off {
                CostWeights::OFF
            } else {
                CostWeights {
                    per_latency_us: args.cost_per_us,
                    per_new_object: args.cost_per_object,
                }
            },
            ..defaults.search
        },
        files: args.files,
        defects: args.defects,
        store: store.to_path_buf(),
        ..defaults
    };
    // Bad flags fail before a store is created.
    config.validate()?;
    let seeds = args
        .waste_experiment
        .map(|count| experiment_seeds(args.seed, count))
        .transpose()?;
    let engine = HeliosEngine::open(store, EngineConfig::default())
        .with_context(|| format!("opening or creating {}", store.display()))?;
    if let Some(seeds) = seeds {
        let bar = progress("runs");
        let report = reporter(&bar);
        let table = waste_experiment(&engine, &config, &seeds, &|done, total| {
            report(done as u64, total as u64);
        })?;
        bar.finish_and_clear();
        engine.close()?;
        if table.exhausted_runs() > 0 {
            note(&format!(
                "{} of {} runs exhausted their actions before {} nodes",
                table.exhausted_runs(),
                2 * table.rows.len(),
                table.nodes
            ));
        }
        if json {
            output::json(&experiment_json(&table));
        } else {
            output::lines(table.render().trim_end());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let bar = progress("nodes");
    let report = reporter(&bar);
    let demo = run_demo_until(
        &engine,
        &config,
        &|done, total| report(done as u64, total as u64),
        &|| interrupt.requested(),
    )?;
    bar.finish_and_clear();
    engine.close()?;
    if demo.exhausted {
        note(&demo.shortfall());
    }
    if json {
        output::json(&demo_json(&demo));
    } else {
        output::lines(demo.render().trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

/// `helios demo --json`: the report's scalar fields and the best path.
fn demo_json(r: &helios_demo::DemoReport) -> Value {
    json!({
        "nodes": r.nodes,
        "nodes_requested": r.nodes_requested,
        "exhausted": r.exhausted,
        "solved": r.solved,
        "best_reward": r.best_reward,
        "best_code_reward": r.best_code_reward,
        "best_engine_cost": r.best_engine_cost,
        "best_path": r.best_path,
        "best_path_wasteful": r.best_path_wasteful,
        "wasteful_node_share": r.wasteful_node_share,
        "dedup_ratio": r.dedup_ratio,
        "commit_p50_us": r.commit_p50_us,
        "commit_p99_us": r.commit_p99_us,
        "switch_p50_us": r.switch_p50_us,
        "switch_p99_us": r.switch_p99_us,
        "bytes_stored": r.bytes_stored,
        "bytes_new": r.bytes_new,
        "bytes_logical": r.bytes_logical,
        "gc_reclaimed_bytes": r.gc_reclaimed_bytes,
        "engine_cost_share": r.engine_cost_share,
        "files": r.files,
        "seed": r.seed,
        "wall_seconds": r.wall_seconds,
        "workers": r.telemetry.workers,
        "search_seconds": r.telemetry.wall_seconds,
        "nodes_per_second": r.telemetry.nodes_per_second(),
    })
}

/// `helios demo --waste-experiment N --json`: the settings, one row per
/// seed with both runs, and the counts of the README's total row.
fn experiment_json(t: &helios_demo::WasteExperiment) -> Value {
    let outcome = |o: &helios_demo::WasteOutcome| {
        json!({
            "solved": o.solved,
            "wasteful": o.wasteful,
            "best_reward": o.best_reward,
            "wasteful_node_share": o.wasteful_node_share,
            "bytes_new": o.bytes_new,
            "nodes": o.nodes,
            "exhausted": o.exhausted,
        })
    };
    let count =
        |pick: fn(&helios_demo::WasteRow) -> bool| t.rows.iter().filter(|r| pick(r)).count();
    json!({
        "seeds": t.rows.len(),
        "nodes": t.nodes,
        "files": t.files,
        "cost_per_us": t.weights.per_latency_us,
        "cost_per_object": t.weights.per_new_object,
        "wasteful_on": count(|r| r.on.wasteful),
        "wasteful_off": count(|r| r.off.wasteful),
        "solved_on": count(|r| r.on.solved),
        "solved_off": count(|r| r.off.solved),
        "rows": t.rows.iter().map(|r| json!({
            "seed": r.seed,
            "on": outcome(&r.on),
            "off": outcome(&r.off),
        })).collect::<Vec<_>>(),
    })
}
