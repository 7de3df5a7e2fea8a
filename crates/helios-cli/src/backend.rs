//! Where a command's work happens: [`Backend::Local`], the store opened by
//! this process, or [`Backend::Served`], the server (`helios serve`) that
//! owns it. Commands fetch through it and print the same output, with the
//! same exit codes, either way.

use std::path::Path;

use anyhow::Context as _;
use helios_engine::HeliosEngine;
use helios_server::Client;

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

    /// Ends a command that wrote: a store opened here is closed (queued
    /// writes reach the disk); a server keeps going.
    pub(crate) fn finish(&self) -> anyhow::Result<()> {
        if let Backend::Local(engine) = self {
            engine.close()?;
        }
        Ok(())
    }
}
