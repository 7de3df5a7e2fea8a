//! `helios remote`, `helios clone`, `helios push`, `helios fetch`: the
//! store's remotes (helios-remote), with the engine opened in this process:
//! read-only for a push (it works beside a server), for writing for a
//! fetch.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use helios_cli::output::{self, line, note};
use helios_client::FetchSummary;
use helios_engine::{EngineConfig, HeliosEngine};
use helios_remote::{Remote, Remotes};
use serde_json::json;

use crate::RemoteCommand;
use crate::backend::Backend;
use crate::commands::open_read_only;

pub(crate) fn remote(store: &Path, command: RemoteCommand, json: bool) -> anyhow::Result<ExitCode> {
    let mut remotes = Remotes::load(store)?;
    match command {
        RemoteCommand::Add {
            name,
            url,
            read_through,
        } => {
            let engine = open_read_only(store)?;
            let remote = Remote::open(&url)?;
            remote.init(engine.algorithm())?;
            if read_through && let Some((other, _)) = remotes.read_through() {
                bail!("this store reads through remote {other} already (one remote per store)");
            }
            remotes.add(&name, &url)?;
            if read_through {
                remotes.set_read_through(Some(&name))?;
            }
            line(&format!("remote {name} is {url}"));
        }
        RemoteCommand::List if json => {
            let read_through = remotes.read_through().map(|(name, _)| name);
            output::json(&json!({
                "remotes": remotes.all(),
                "read_through": read_through,
            }));
        }
        RemoteCommand::List => {
            let read_through = remotes.read_through().map(|(name, _)| name);
            for (name, url) in remotes.all() {
                if read_through == Some(name.as_str()) {
                    line(&format!("{name} {url} (read through)"));
                } else {
                    line(&format!("{name} {url}"));
                }
            }
        }
        RemoteCommand::Remove { name } => {
            remotes.remove(&name)?;
            line(&format!("forgot remote {name}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open_remote(store: &Path, name: &str) -> anyhow::Result<Remote> {
    Ok(helios_remote::open_named(store, name)?)
}

pub(crate) fn push(
    store: &Path,
    remote: &str,
    what: &str,
    to: Option<&str>,
    force: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let engine = open_read_only(store)?;
    let target = open_remote(store, remote)?;
    let id = engine.resolve_name(what)?;
    let name = match to {
        Some(to) => Some(to.to_owned()),
        None if engine.get_ref(what)?.is_some() => Some(what.to_owned()),
        None => None,
    };
    let pushed = helios_remote::push(&engine, &target, id, name.as_deref(), force)
        .with_context(|| format!("pushing {} to {remote}", &id.to_hex()[..12]))?;
    if json {
        output::json(&json!({
            "id": id.to_hex(),
            "ref": name,
            "objects": pushed.objects,
            "bytes": pushed.bytes,
            "packs": pushed.packs,
            "ref_moved": pushed.ref_moved,
            "requests": target.requests(),
        }));
    } else {
        let sent = format!(
            "sent {} objects ({} bytes) in {} packs",
            pushed.objects, pushed.bytes, pushed.packs
        );
        match name {
            Some(name) if pushed.ref_moved => note(&format!("{sent}; {remote}/{name} moved")),
            Some(name) => note(&format!("{sent}; {remote}/{name} was there already")),
            None => note(&format!("{sent}; no ref moved (read it by id)")),
        }
        line(&id.to_hex());
    }
    Ok(ExitCode::SUCCESS)
}

/// `helios fetch`: through the store's server when one runs (it owns the
/// store), else in this process.
pub(crate) fn fetch(
    store: &Path,
    backend: &Backend,
    remote: &str,
    what: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let fetched = match backend {
        Backend::Served(client) => client
            .fetch(remote, what)
            .with_context(|| format!("fetching {what} from {remote}"))?,
        Backend::Local(engine) => {
            let source = open_remote(store, remote)?;
            let (fetched, local_ref) = helios_remote::fetch_named(engine, &source, remote, what)
                .with_context(|| format!("fetching {what} from {remote}"))?;
            engine.close()?;
            FetchSummary {
                id: fetched.id,
                local_ref,
                objects: fetched.objects,
                bytes: fetched.bytes,
                requests: source.requests(),
            }
        }
    };
    if json {
        output::json(&json!({
            "id": fetched.id.to_hex(),
            "ref": fetched.local_ref,
            "objects": fetched.objects,
            "bytes": fetched.bytes,
            "requests": fetched.requests,
        }));
    } else {
        let received = format!(
            "received {} objects ({} bytes)",
            fetched.objects, fetched.bytes
        );
        match &fetched.local_ref {
            Some(local) => note(&format!("{received}; {local} names it")),
            None => note(&format!(
                "{received}; no ref names it (gc keeps it once one does: helios ref NAME ID)"
            )),
        }
        line(&fetched.id.to_hex());
    }
    Ok(ExitCode::SUCCESS)
}

/// The remote a clone names `origin`.
const ORIGIN: &str = "origin";

pub(crate) fn clone(store: &Path, url: &str, full: bool, json: bool) -> anyhow::Result<ExitCode> {
    if HeliosEngine::store_exists(store)? {
        bail!(
            "{} already holds a store: clone into a new one (--store DIR)",
            store.display()
        );
    }
    let remote = Remote::open(url)?;
    let algorithm = remote
        .algorithm()?
        .ok_or_else(|| helios_remote::RemoteError::NotARemote(url.to_owned()))?;
    let refs = remote.refs()?;
    let remote = remote.with_index_cache(Remotes::index_cache(store, ORIGIN));
    let config = EngineConfig {
        algorithm: Some(algorithm),
        create_if_missing: true,
        ..EngineConfig::default()
    };
    let engine = HeliosEngine::open(store, config)
        .with_context(|| format!("creating {}", store.display()))?;
    let mut remotes = Remotes::load(store)?;
    remotes.add(ORIGIN, url)?;
    let (mut objects, mut bytes) = (0, 0);
    if full {
        for name in refs.keys() {
            let fetched = helios_remote::fetch(&engine, &remote, name)
                .with_context(|| format!("fetching {ORIGIN}/{name}"))?;
            objects += fetched.objects;
            bytes += fetched.bytes;
        }
    } else {
        remotes.set_read_through(Some(ORIGIN))?;
        helios_remote::attach_read_through(&engine, store)?;
    }
    // Lazily, naming a snapshot reads its record through (one object).
    for (name, entry) in &refs {
        engine.set_ref(&format!("{ORIGIN}/{name}"), &entry.id)?;
    }
    engine.close()?;
    if json {
        output::json(&json!({
            "store": store.display().to_string(),
            "remote": url,
            "refs": refs.iter().map(|(name, e)| (format!("{ORIGIN}/{name}"), e.id.to_hex())).collect::<std::collections::BTreeMap<_, _>>(),
            "read_through": !full,
            "objects": objects,
            "bytes": bytes,
        }));
    } else {
        for (name, entry) in &refs {
            line(&format!("{} {ORIGIN}/{name}", entry.id.to_hex()));
        }
        if full {
            note(&format!(
                "cloned {url} into {}: {} refs, {objects} objects ({bytes} bytes)",
                store.display(),
                refs.len()
            ));
        } else {
            note(&format!(
                "cloned {url} into {}: {} refs; objects are read from {ORIGIN} as they are used",
                store.display(),
                refs.len()
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
