//! The remote tier: snapshots shared between machines through object
//! storage that exists already (S3 and its compatibles, or a directory
//! every machine mounts), instead of a distributed store of our own.
//!
//! This crate holds the remote's side: [`pack`], the format in which
//! objects travel (many per remote object, never one request per object,
//! every object rehashed when read), and [`Remote`], one remote's packs and
//! refs, with ref updates that never lose one (create-if-absent entries,
//! see [`remote`]). `spec/remote-format.md` is the normative layout.
//!
//! Not built yet (issue 20): push and fetch between an engine and a remote,
//! the lazy read-through of missing objects, the `helios remote`, `push`,
//! `fetch`, `pull` and `clone` commands, and S3 URLs.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod pack;
pub mod remote;

pub use error::{FormatError, RemoteError};
pub use pack::{IndexEntry, PackBuilder, PackIndex};
pub use remote::{RefEntry, Remote};
