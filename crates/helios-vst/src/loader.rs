//! Cold directories: the [`TreeLoader`] trait the engine implements over
//! L1/L2, and the one place a lazy directory is filled and checked.

use std::sync::Arc;

use helios_types::{Hash, HashAlgorithm, RepoPath, Tree};

use crate::error::VstError;
use crate::node::{DirNode, LazyDir};

/// A loader's own failure (a store error, an I/O error...), kept as the
/// source of [`VstError::Load`].
pub type LoadError = Box<dyn std::error::Error + Send + Sync>;

/// Fetches directory trees by hash. The engine implements it over the L1
/// cache and the L2 store; tests use an in-memory map.
///
/// Absence is not an error here: `Ok(None)` means the store does not hold
/// the tree, and the VST reports [`VstError::TreeMissing`] with the path.
pub trait TreeLoader: Send + Sync {
    /// The decoded tree stored under `hash`, if any.
    fn load_tree(&self, hash: &Hash) -> Result<Option<Tree>, LoadError>;
}

/// What every traversal needs: the algorithm and, for cold directories,
/// the loader.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) alg: HashAlgorithm,
    pub(crate) loader: Option<&'a dyn TreeLoader>,
}

impl Ctx<'_> {
    /// The contents of a cold directory, loading them on first access. The
    /// result is memoised in the shared `LazyDir`, so every fork that holds
    /// it benefits from one load. `path` is only built on error.
    pub(crate) fn load<'l>(
        &self,
        lazy: &'l LazyDir,
        path: impl FnOnce() -> RepoPath,
    ) -> Result<&'l Arc<DirNode>, VstError> {
        if let Some(dir) = lazy.loaded.get() {
            return Ok(dir);
        }
        let node = Arc::new(self.fetch(lazy.hash, Some(lazy.size), path)?);
        // A concurrent reader may have filled it first; both are identical.
        Ok(lazy.loaded.get_or_init(|| node))
    }

    /// Loads and checks the tree `hash` (and its total size when the parent
    /// recorded one).
    pub(crate) fn fetch(
        &self,
        hash: Hash,
        size: Option<u64>,
        path: impl FnOnce() -> RepoPath,
    ) -> Result<DirNode, VstError> {
        let Some(loader) = self.loader else {
            return Err(VstError::NoLoader { path: path(), hash });
        };
        let tree = match loader.load_tree(&hash) {
            Ok(Some(tree)) => tree,
            Ok(None) => return Err(VstError::TreeMissing { path: path(), hash }),
            Err(source) => {
                return Err(VstError::Load {
                    path: path(),
                    hash,
                    source,
                });
            }
        };
        // The memoised hash of the loaded node is taken on trust from its
        // parent, so check it once here: a wrong tree would otherwise give
        // a root hash that does not describe the content.
        let actual = tree.hash(self.alg);
        if actual != hash {
            let reason = format!("its hash is {actual}");
            return Err(VstError::CorruptTree {
                path: path(),
                hash,
                reason,
            });
        }
        if let Some(size) = size
            && tree.total_size() != size
        {
            let reason = format!(
                "it holds {} bytes, its parent says {size}",
                tree.total_size()
            );
            return Err(VstError::CorruptTree {
                path: path(),
                hash,
                reason,
            });
        }
        Ok(DirNode::from_tree(&tree, hash))
    }
}
