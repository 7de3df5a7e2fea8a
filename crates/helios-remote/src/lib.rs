//! The remote tier: snapshots shared between machines through object
//! storage that exists already (S3 and its compatibles, or a directory
//! every machine mounts), instead of a distributed store of our own.
//!
//! - [`pack`]: the format in which objects travel (many per remote object,
//!   never one request per object, every object rehashed when read);
//! - [`Remote`]: one remote's packs and refs, with ref updates that never
//!   lose one (create-if-absent entries, see [`remote`]), and small reads
//!   that are sent again when slow (`hedge.rs`);
//! - [`push`], [`fetch`] and [`fetch_id`]: snapshots between an engine
//!   and a remote, sending and reading only what the other side lacks
//!   ([`sync`]);
//! - [`ReadThrough`]: a remote as the lazy L3 of a store cloned from it
//!   (the engine asks it for what the store lacks);
//! - [`Remotes`]: the remotes a store knows by name ([`config`]), and
//!   [`attach_read_through`], which gives an engine the one its store
//!   reads through, if any.
//!
//! URLs: `file:///ABSOLUTE/DIR` and `s3://BUCKET[/PREFIX]` ([`Remote::open`]).
//! `spec/remote-format.md` is the normative layout. Not built yet: push
//! and fetch through a server (the CLI opens the store itself for them).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod catalog;
pub mod config;
mod error;
mod hedge;
pub mod pack;
mod read_through;
pub mod remote;
pub mod sync;
#[cfg(test)]
mod test_packs;

pub use config::{ConfigError, Remotes};
pub use error::{FormatError, RemoteError};
pub use pack::{IndexEntry, PackBuilder, PackIndex};
pub use read_through::ReadThrough;
pub use remote::{ListedPack, PackRead, PackUpload, RefEntry, Remote, WholePackRead};
pub use sync::{Fetched, Pushed, fetch, fetch_id, fetch_named, push};

/// The remote the store at `store` calls `name`, keeping the indexes it
/// reads in the store's cache for that remote.
pub fn open_named(store: &std::path::Path, name: &str) -> Result<Remote, RemoteError> {
    let remotes = Remotes::load(store)?;
    let remote = Remote::open(remotes.url(name)?)?;
    Ok(remote.with_index_cache(Remotes::index_cache(store, name)))
}

/// Makes `engine` (opened on the store at `store`) read through to the
/// remote the store names for it, if any: what every front end does after
/// opening a store. Opening the remote waits for the first miss; `false`
/// when the store reads through none.
pub fn attach_read_through(
    engine: &helios_engine::HeliosEngine,
    store: &std::path::Path,
) -> Result<bool, ConfigError> {
    let remotes = Remotes::load(store)?;
    let Some((name, url)) = remotes.read_through() else {
        return Ok(false);
    };
    let source = ReadThrough::new(url, Some(Remotes::index_cache(store, name)));
    Ok(engine.read_through(std::sync::Arc::new(source)))
}
