//! `helios remote`, `helios push`, `helios fetch`: the store's remotes
//! (helios-remote), with the engine opened in this process: read-only for
//! a push (it works beside a server), for writing for a fetch.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use helios_cli::output::{self, line, note};
use helios_remote::{Remote, Remotes};
use serde_json::json;

use crate::RemoteCommand;
use crate::commands::{open, open_read_only};

pub(crate) fn remote(store: &Path, command: RemoteCommand, json: bool) -> anyhow::Result<ExitCode> {
    let mut remotes = Remotes::load(store)?;
    match command {
        RemoteCommand::Add { name, url } => {
            let engine = open_read_only(store)?;
            let remote = Remote::open(&url)?;
            remote.init(engine.algorithm())?;
            remotes.add(&name, &url)?;
            line(&format!("remote {name} is {url}"));
        }
        RemoteCommand::List if json => {
            output::json(&json!(remotes.all()));
        }
        RemoteCommand::List => {
            for (name, url) in remotes.all() {
                line(&format!("{name} {url}"));
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
    let remotes = Remotes::load(store)?;
    let remote = Remote::open(remotes.url(name)?)?;
    Ok(remote.with_index_cache(Remotes::index_cache(store, name)))
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
        Some(to) => to.to_owned(),
        None if engine.get_ref(what)?.is_some() => what.to_owned(),
        None => bail!("`{what}` is not a ref: name the remote ref with --to REF"),
    };
    let pushed = helios_remote::push(&engine, &target, id, Some(&name), force)
        .with_context(|| format!("pushing {} to {remote}", &id.to_hex()[..12]))?;
    if json {
        output::json(&json!({
            "id": id.to_hex(),
            "ref": name,
            "objects": pushed.objects,
            "bytes": pushed.bytes,
            "packs": pushed.packs,
            "ref_moved": pushed.ref_moved,
        }));
    } else {
        note(&format!(
            "sent {} objects ({} bytes) in {} packs; {remote}/{name} {}",
            pushed.objects,
            pushed.bytes,
            pushed.packs,
            if pushed.ref_moved {
                "moved"
            } else {
                "was there already"
            }
        ));
        line(&id.to_hex());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn fetch(
    store: &Path,
    remote: &str,
    name: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let engine = open(store)?;
    let source = open_remote(store, remote)?;
    let fetched = helios_remote::fetch(&engine, &source, name)
        .with_context(|| format!("fetching {remote}/{name}"))?;
    let local = format!("{remote}/{name}");
    engine.set_ref(&local, &fetched.id)?;
    engine.close()?;
    if json {
        output::json(&json!({
            "id": fetched.id.to_hex(),
            "ref": local,
            "objects": fetched.objects,
            "bytes": fetched.bytes,
        }));
    } else {
        note(&format!(
            "received {} objects ({} bytes); {local} names it",
            fetched.objects, fetched.bytes
        ));
        line(&fetched.id.to_hex());
    }
    Ok(ExitCode::SUCCESS)
}
