//! L0, the Virtual State Tree: an immutable, structurally shared path trie
//! with a lazily memoised Merkle root, batch edits and hash-pruned diff.
//! Every MCTS node is a [`Vst`]; a fork is a clone (two pointer copies) and
//! an edit costs its path, not the tree. The crate performs no I/O and
//! spawns no threads.
//!
//! # Design
//!
//! - A [`Vst`] is a hash algorithm, an `Arc` to the root directory node and
//!   an optional [`TreeLoader`]. A directory node holds its entries in an
//!   `imbl::OrdMap<Name, Node>` (a persistent B-tree: a fork shares it, an
//!   edit copies the few B-tree nodes on its path), the exact total size
//!   beneath it, and a `OnceLock` memo of its hash.
//! - Sizes are kept eagerly (an edit adjusts each ancestor by the size it
//!   changed, with checked arithmetic) so overflow is a typed error at edit
//!   time; hashes are lazy, so a batch of edits rehashes each touched
//!   directory once, when the root hash is next asked for.
//! - A directory's hash is `helios_types::Tree::hash` of the tree built from
//!   its entries: the encoding exists only in helios-types, and the root is
//!   by construction what a store of encoded trees holds.
//! - A cold directory is known by (hash, size) and filled on first access by
//!   the loader; the filled node is memoised inside the shared cold node, so
//!   every fork benefits, and is checked against its hash.
//! - New objects are found by walking only directories not marked persisted
//!   ([`Vst::unpersisted_objects`]); loaded directories start persisted and
//!   file bytes are dropped once marked.
//!
//! # Invariants
//!
//! 1. A `Vst` never changes after it is made; edits make new ones.
//! 2. `root_hash()` depends only on content: it equals the hash of the
//!    helios-types `Tree` objects for the same files, whatever the order of
//!    the edits that produced them.
//! 3. A failed batch produces nothing; the tree it was applied to is intact.
//! 4. Every directory's `size` is the sum of its entries' sizes.
//! 5. Paths are validated `RepoPath`s no deeper than [`MAX_DEPTH`], so every
//!    recursion is bounded.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod diff;
mod edit;
mod error;
mod export;
mod lineage;
mod loader;
mod node;
mod read;
mod vst;

pub use diff::Change;
pub use edit::{Content, Edit};
pub use error::VstError;
pub use export::{NewObject, NewObjects, PersistMarker};
pub use lineage::{Lineage, WeakLineage};
pub use loader::{LoadError, TreeLoader};
pub use node::LeafKind;
pub use read::{Entry, TreeStats};
pub use vst::Vst;

/// Parses a `/`-separated workspace path, refusing hostile names
/// (`..`, NUL, empty components, absolute paths) with [`VstError::BadPath`].
pub fn parse_path(path: impl AsRef<[u8]>) -> Result<helios_types::RepoPath, VstError> {
    let bytes = path.as_ref();
    helios_types::RepoPath::parse(bytes).map_err(|source| VstError::BadPath {
        path: String::from_utf8_lossy(bytes).into_owned(),
        source,
    })
}

/// Deepest path the VST accepts, in components. Far beyond any real
/// workspace (Linux's `PATH_MAX` allows about 2,000 one-letter names) and
/// low enough that recursion over a tree cannot exhaust a thread's stack.
pub const MAX_DEPTH: usize = 256;
