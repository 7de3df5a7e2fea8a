//! The remote tier: snapshots shared between machines through object
//! storage that exists already (S3 and its compatibles, or a directory
//! every machine mounts), instead of a distributed store of our own.
//!
//! - [`pack`]: the format in which objects travel (many per remote object,
//!   never one request per object, every object rehashed when read);
//! - [`Remote`]: one remote's packs and refs, with ref updates that never
//!   lose one (create-if-absent entries, see [`remote`]);
//! - [`push`] and [`fetch`]: snapshots between an engine and a remote,
//!   sending and reading only what the other side lacks ([`sync`]);
//! - [`Remotes`]: the remotes a store knows by name ([`config`]).
//!
//! `spec/remote-format.md` is the normative layout. Not built yet (issue
//! 20): the lazy read-through of missing objects, `helios clone`, push and
//! fetch through a server, and S3 URLs.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
mod error;
pub mod pack;
pub mod remote;
pub mod sync;

pub use config::{ConfigError, Remotes};
pub use error::{FormatError, RemoteError};
pub use pack::{IndexEntry, PackBuilder, PackIndex};
pub use remote::{RefEntry, Remote};
pub use sync::{Fetched, Pushed, fetch, push};
