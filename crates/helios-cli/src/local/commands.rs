//! One function per command of helios-local's own (the everyday ones are
//! `helios_cli::served`, shared with the front end). Each gets the store
//! through a [`Backend`] (its server, or the store opened here), does its
//! work, prints text or JSON, and returns the exit code.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use helios_cli::args::ServedCommand;
use helios_cli::output::{self, line, note, progress, reporter};
use helios_cli::served;
use helios_cli::signals::Interrupt;
use helios_client::{Client, FsckSummary};
use helios_engine::{EngineConfig, EngineError, GcReport, HeliosEngine};
use helios_server::{ServeOptions, Stopped};
use serde_json::{Value, json};

use helios_cli::served::Store as _;

use crate::backend::Backend;
use crate::{Cli, Command, DemoArgs};

pub(crate) fn run(cli: Cli, interrupt: &Interrupt) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    let store = global.store.as_path();
    let json = global.json;
    // Commands that open the store themselves, or run one, never go
    // through a server.
    let served = match cli.command {
        Command::Init { .. }
        | Command::Serve { .. }
        | Command::Bench(_)
        | Command::Demo(_)
        | Command::Remote(_)
        | Command::Clone { .. }
        | Command::Push { .. } => None,
        _ => Backend::server(store, global.no_server)?,
    };
    // The server when one answers, else the store opened by `$open`.
    macro_rules! backend {
        ($open:expr) => {
            Backend::new(served, store, $open)?
        };
    }
    match cli.command {
        Command::Init { algorithm } => init(store, algorithm),
        Command::Served(command) => {
            let open = match &command {
                // A watcher lives only in a server: nothing to open.
                ServedCommand::Watch { .. } | ServedCommand::Unwatch { .. } if served.is_none() => {
                    return Err(served::no_server_to_watch(store));
                }
                ServedCommand::Commit { .. } | ServedCommand::Ref { id: Some(_), .. } => open,
                ServedCommand::Checkout { .. } => open_for_checkout,
                _ => open_read_only,
            };
            served::run(global, command, &backend!(open))
        }
        Command::Mount { id, dir } => crate::mount::mount(&backend!(open), &id, &dir),
        Command::Fork { id, dirs } => crate::mount::fork(&backend!(open), &id, &dirs),
        Command::Umount { dir } => crate::mount::umount(&backend!(open), &dir),
        Command::Serve { metrics, check } => serve(store, metrics, check),
        Command::Remote(command) => crate::remotes::remote(store, command, json),
        Command::Clone { url, full } => crate::remotes::clone(store, &url, full, json),
        Command::Push {
            remote,
            what,
            to,
            force,
        } => crate::remotes::push(store, &remote, &what, to.as_deref(), force, json),
        Command::Fetch { remote, what } => {
            crate::remotes::fetch(store, &backend!(open), &remote, &what, json)
        }
        Command::Gc => gc(&backend!(open), json),
        Command::Fsck => fsck(&backend!(open_read_only), json),
        Command::Stats => stats(&backend!(open_read_only), json),
        Command::Bench(args) => crate::bench::bench(&args, json),
        Command::Demo(args) => demo(store, &args, json, interrupt),
    }
}

/// Opens an existing store for a command that only reads it: no lock (it
/// works while another process writes), no file created or changed. A
/// store that reads through to a remote is opened for writing when it can
/// be, to keep what it reads through (read-only while another process
/// holds it: then what it reads is read again next time).
pub(crate) fn open_read_only(store: &Path) -> anyhow::Result<HeliosEngine> {
    let reads_through =
        helios_remote::Remotes::load(store).is_ok_and(|remotes| remotes.read_through().is_some());
    if reads_through && let Ok(engine) = open_with(store, false) {
        return Ok(engine);
    }
    open_with(store, true)
}

/// Opens an existing store; a missing one is an error that says how to
/// make it.
pub(crate) fn open(store: &Path) -> anyhow::Result<HeliosEngine> {
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
    // Nor does a memtable bloom filter: a command writes a handful of keys.
    config.rocks.memtable_bloom = false;
    config.rocks.read_only = read_only;
    let engine = HeliosEngine::open(store, config).map_err(|e| {
        let e = anyhow::Error::new(e).context(format!("opening {}", store.display()));
        match Client::connect(store) {
            Ok(Some(_)) => e.context(format!(
                "a server (`helios serve`) owns {}: drop --no-server to go through it",
                store.display()
            )),
            _ => e,
        }
    })?;
    helios_remote::attach_read_through(&engine, store)?;
    Ok(engine)
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
    // A long-lived owner: the default caches (L1 pays off across calls),
    // and its compactions behind the calls it serves.
    let mut config = EngineConfig {
        create_if_missing: false,
        ..EngineConfig::default()
    };
    config.rocks.low_priority_compactions = true;
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
            .map(helios_server::fsck_summary)
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
            "remote_unchecked": checked.remote,
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
        if checked.remote > 0 {
            line(&format!(
                "{} trees and files are the remote's (this store reads through and \
                 has not used them): not checked here; `helios fetch REMOTE ID` \
                 brings a snapshot whole to check it",
                checked.remote
            ));
        }
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
