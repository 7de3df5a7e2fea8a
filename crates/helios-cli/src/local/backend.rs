//! Where a command's work happens: [`Backend::Local`], the store opened by
//! this process, or [`Backend::Served`], the server (`helios serve`) that
//! owns it. Commands fetch through it and print the same output, with the
//! same exit codes, either way; for the everyday commands it is a
//! [`Store`] like the front end's client.

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use anyhow::Context as _;
use helios_cli::served::Store;
use helios_client::Client;
use helios_engine::{CommitMeta, Durability, HeliosEngine, WorkdirCommit};
use helios_types::{Name, RepoPath, Snapshot, SnapshotId};
use helios_vst::{Change, Entry};
use helios_workdir::{CaptureOptions, CheckoutOptions, Report};

pub(crate) enum Backend {
    /// The store, opened by this process.
    Local(Box<HeliosEngine>),
    /// The server that owns the store.
    Served(Box<Client>),
}

impl Backend {
    /// The server of `store`, if one answers (and `no_server` is not set).
    pub(crate) fn server(store: &Path, no_server: bool) -> anyhow::Result<Option<Client>> {
        if no_server {
            return Ok(None);
        }
        Client::connect(store)
            .with_context(|| format!("reaching the server of {}", store.display()))
    }

    /// The server when there is one, else the store opened by `open`.
    pub(crate) fn new(
        server: Option<Client>,
        store: &Path,
        open: fn(&Path) -> anyhow::Result<HeliosEngine>,
    ) -> anyhow::Result<Backend> {
        Ok(match server {
            Some(client) => Backend::Served(Box::new(client)),
            None => Backend::Local(Box::new(open(store)?)),
        })
    }
}

impl Store for Backend {
    fn commit_workdir(
        &self,
        workdir: &Path,
        message: &str,
        durability: Durability,
        gitignore: bool,
    ) -> anyhow::Result<WorkdirCommit> {
        match self {
            Backend::Local(engine) => {
                let options = CaptureOptions {
                    gitignore,
                    ..CaptureOptions::default()
                };
                let meta = CommitMeta::child_of(None, message);
                Ok(engine.commit_workdir(workdir, &options, durability, meta)?)
            }
            Backend::Served(client) => {
                Store::commit_workdir(client.as_ref(), workdir, message, durability, gitignore)
            }
        }
    }

    fn checkout(
        &self,
        name: &str,
        workdir: &Path,
        full: bool,
        force: bool,
        progress: &dyn Fn(u64, u64),
    ) -> anyhow::Result<(SnapshotId, Report)> {
        match self {
            Backend::Local(engine) => {
                let id = engine.resolve_name(name)?;
                let options = CheckoutOptions {
                    full,
                    force,
                    ..CheckoutOptions::default()
                };
                Ok((id, engine.checkout(&id, workdir, &options, progress)?))
            }
            Backend::Served(client) => {
                Store::checkout(client.as_ref(), name, workdir, full, force, progress)
            }
        }
    }

    fn diff(&self, a: &str, b: &str) -> anyhow::Result<Vec<Change>> {
        match self {
            Backend::Local(engine) => {
                Ok(engine.diff(&engine.resolve_name(a)?, &engine.resolve_name(b)?)?)
            }
            Backend::Served(client) => Store::diff(client.as_ref(), a, b),
        }
    }

    fn log(
        &self,
        start: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<(SnapshotId, Snapshot)>> {
        match (self, start) {
            (Backend::Local(engine), Some(name)) => {
                Ok(engine.log(&engine.resolve_name(name)?, limit)?)
            }
            (Backend::Local(engine), None) => Ok(engine.newest_snapshots(limit)?),
            (Backend::Served(client), start) => Store::log(client.as_ref(), start, limit),
        }
    }

    fn show(&self, name: &str) -> anyhow::Result<(SnapshotId, Snapshot)> {
        match self {
            Backend::Local(engine) => {
                let id = engine.resolve_name(name)?;
                Ok((id, engine.snapshot(&id)?))
            }
            Backend::Served(client) => Store::show(client.as_ref(), name),
        }
    }

    fn ls(&self, name: &str, path: &str) -> anyhow::Result<Vec<(Name, Entry)>> {
        match self {
            Backend::Local(engine) => {
                let vst = engine.restore(&engine.resolve_name(name)?)?;
                Ok(vst.list(&RepoPath::parse(path)?)?)
            }
            Backend::Served(client) => Store::ls(client.as_ref(), name, path),
        }
    }

    fn read_into(
        &self,
        name: &str,
        path: &str,
        range: Range<u64>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        match self {
            Backend::Local(engine) => {
                let vst = engine.restore(&engine.resolve_name(name)?)?;
                engine.read_file_into(&vst, &RepoPath::parse(path)?, range, out)?;
                Ok(())
            }
            Backend::Served(client) => Store::read_into(client.as_ref(), name, path, range, out),
        }
    }

    fn set_ref(&self, name: &str, target: &str) -> anyhow::Result<SnapshotId> {
        match self {
            Backend::Local(engine) => {
                let id = engine.resolve_name(target)?;
                engine.set_ref(name, &id)?;
                Ok(id)
            }
            Backend::Served(client) => Store::set_ref(client.as_ref(), name, target),
        }
    }

    fn get_ref(&self, name: &str) -> anyhow::Result<Option<SnapshotId>> {
        match self {
            Backend::Local(engine) => Ok(engine.get_ref(name)?),
            Backend::Served(client) => Store::get_ref(client.as_ref(), name),
        }
    }

    fn server(&self) -> Option<&Client> {
        match self {
            Backend::Local(_) => None,
            Backend::Served(client) => Some(client),
        }
    }

    fn finish(&self) -> anyhow::Result<()> {
        if let Backend::Local(engine) = self {
            engine.close()?;
        }
        Ok(())
    }
}
