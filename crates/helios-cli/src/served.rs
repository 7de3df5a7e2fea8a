//! The everyday commands ([`ServedCommand`]) over any [`Store`]: the
//! store's server ([`Client`], in the `helios` front end) or the store
//! opened in process (helios-local's backend). Each fetches through the
//! store, prints text or JSON, and returns the exit code; the printing is
//! here once, so both binaries say the same.

use std::io::Write as _;
use std::ops::Range;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use helios_client::Client;
use helios_types::api::Durability;
use helios_types::{EntryKind, Name, Snapshot, SnapshotId};
use helios_vst::{Change, Entry};
use helios_workdir::{Report, WorkdirCommit};
use serde_json::{Value, json};

use crate::args::{DurabilityArg, Global, ServedCommand};
use crate::output::{self, line, note, progress, reporter};

/// What the everyday commands need of a store. Names are snapshot ids,
/// unique id prefixes or ref names, resolved by the store.
pub trait Store {
    /// Snapshots a working directory.
    fn commit_workdir(
        &self,
        workdir: &Path,
        message: &str,
        durability: Durability,
        gitignore: bool,
    ) -> anyhow::Result<WorkdirCommit>;
    /// Makes `workdir` hold snapshot `name`, reporting `(done, total)`.
    fn checkout(
        &self,
        name: &str,
        workdir: &Path,
        full: bool,
        force: bool,
        progress: &dyn Fn(u64, u64),
    ) -> anyhow::Result<(SnapshotId, Report)>;
    /// What changed from `a` to `b`.
    fn diff(&self, a: &str, b: &str) -> anyhow::Result<Vec<Change>>;
    /// Up to `limit` snapshots: first parents from `start`, or the newest.
    fn log(&self, start: Option<&str>, limit: usize)
    -> anyhow::Result<Vec<(SnapshotId, Snapshot)>>;
    /// A snapshot's record.
    fn show(&self, name: &str) -> anyhow::Result<(SnapshotId, Snapshot)>;
    /// The entries of directory `path` (`""`: the root) of a snapshot.
    fn ls(&self, name: &str, path: &str) -> anyhow::Result<Vec<(Name, Entry)>>;
    /// Writes bytes `range` of file `path` of a snapshot to `out`.
    fn read_into(
        &self,
        name: &str,
        path: &str,
        range: Range<u64>,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<()>;
    /// Points ref `name` at `target`; returns the id it now names.
    fn set_ref(&self, name: &str, target: &str) -> anyhow::Result<SnapshotId>;
    /// What ref `name` names, if it exists.
    fn get_ref(&self, name: &str) -> anyhow::Result<Option<SnapshotId>>;
    /// The server answering, if one does: watchers live only there.
    fn server(&self) -> Option<&Client>;
    /// Ends a command that wrote: a store opened in process is closed
    /// (queued writes reach the disk); a server keeps going.
    fn finish(&self) -> anyhow::Result<()>;
}

impl Store for Client {
    fn commit_workdir(
        &self,
        workdir: &Path,
        message: &str,
        durability: Durability,
        gitignore: bool,
    ) -> anyhow::Result<WorkdirCommit> {
        Ok(Client::commit_workdir(
            self, workdir, message, durability, gitignore,
        )?)
    }

    fn checkout(
        &self,
        name: &str,
        workdir: &Path,
        full: bool,
        force: bool,
        progress: &dyn Fn(u64, u64),
    ) -> anyhow::Result<(SnapshotId, Report)> {
        Ok(Client::checkout(
            self, name, workdir, full, force, progress,
        )?)
    }

    fn diff(&self, a: &str, b: &str) -> anyhow::Result<Vec<Change>> {
        Ok(Client::diff(self, a, b)?)
    }

    fn log(
        &self,
        start: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<(SnapshotId, Snapshot)>> {
        Ok(Client::log(self, start, limit)?)
    }

    fn show(&self, name: &str) -> anyhow::Result<(SnapshotId, Snapshot)> {
        Ok(Client::show(self, name)?)
    }

    fn ls(&self, name: &str, path: &str) -> anyhow::Result<Vec<(Name, Entry)>> {
        Ok(Client::ls(self, name, path)?)
    }

    fn read_into(
        &self,
        name: &str,
        path: &str,
        range: Range<u64>,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<()> {
        Client::read_into(self, name, path, range, out)?;
        Ok(())
    }

    fn set_ref(&self, name: &str, target: &str) -> anyhow::Result<SnapshotId> {
        Ok(Client::set_ref(self, name, target)?)
    }

    fn get_ref(&self, name: &str) -> anyhow::Result<Option<SnapshotId>> {
        Ok(Client::get_ref(self, name)?)
    }

    fn server(&self) -> Option<&Client> {
        Some(self)
    }

    fn finish(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Runs one of the everyday commands against `store`.
pub fn run(
    global: &Global,
    command: ServedCommand,
    store: &impl Store,
) -> anyhow::Result<ExitCode> {
    let json = global.json;
    match command {
        ServedCommand::Commit {
            workdir,
            message,
            durability,
            gitignore,
        } => commit(store, &workdir, &message, durability, gitignore),
        ServedCommand::Checkout {
            id,
            workdir,
            full,
            force,
        } => checkout(store, &id, &workdir, full, force, json),
        ServedCommand::Diff { a, b } => diff(store, &a, &b, json),
        ServedCommand::Log { id, limit } => log(store, id.as_deref(), limit, json),
        ServedCommand::Show { id } => show(store, &id, json),
        ServedCommand::Ls { id, path } => ls(store, &id, path.as_deref(), json),
        ServedCommand::Cat { id, path, range } => cat(store, &id, &path, range),
        ServedCommand::Ref { name, id } => reference(store, &name, id.as_deref(), json),
        ServedCommand::Watch { workdir } => watch(global, store.server(), &workdir, true),
        ServedCommand::Unwatch { workdir } => watch(global, store.server(), &workdir, false),
    }
}

fn commit(
    store: &impl Store,
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
    let committed = store.commit_workdir(workdir, message, durability, gitignore)?;
    store.finish()?;
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
    store: &impl Store,
    name: &str,
    workdir: &Path,
    full: bool,
    force: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let bar = progress("checkout");
    let checked_out = store.checkout(name, workdir, full, force, &reporter(&bar));
    bar.finish_and_clear();
    let (id, report) = checked_out?;
    store.finish()?;
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

fn diff(store: &impl Store, a: &str, b: &str, json: bool) -> anyhow::Result<ExitCode> {
    let changes = store.diff(a, b)?;
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
    store: &impl Store,
    start: Option<&str>,
    limit: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let entries = store.log(start, limit)?;
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

fn show(store: &impl Store, name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (id, s) = store.show(name)?;
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

fn ls(store: &impl Store, name: &str, path: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let entries = store.ls(name, path.unwrap_or(""))?;
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
    store: &impl Store,
    name: &str,
    path: &str,
    range: Option<Range<u64>>,
) -> anyhow::Result<ExitCode> {
    let range = range.unwrap_or(0..u64::MAX);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    store.read_into(name, path, range, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn reference(
    store: &impl Store,
    name: &str,
    target: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(target) = target {
        let id = store.set_ref(name, target)?;
        store.finish()?;
        line(&id.to_hex());
        return Ok(ExitCode::SUCCESS);
    }
    let id = store
        .get_ref(name)?
        .with_context(|| format!("no ref named `{name}`"))?;
    if json {
        output::json(&json!({ "name": name, "id": id.to_hex() }));
    } else {
        line(&id.to_hex());
    }
    Ok(ExitCode::SUCCESS)
}

/// Why `helios watch` / `helios unwatch` cannot run without a server.
pub fn no_server_to_watch(store: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "no server runs for {}: a watcher lives in the process that keeps it; \
         start one with `helios serve --store {}`",
        store.display(),
        store.display()
    )
}

/// `helios watch` / `helios unwatch`: only a server outlives the call
/// that would start a watcher.
fn watch(
    global: &Global,
    server: Option<&Client>,
    workdir: &Path,
    start: bool,
) -> anyhow::Result<ExitCode> {
    let Some(client) = server else {
        return Err(no_server_to_watch(&global.store));
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
