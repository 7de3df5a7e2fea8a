//! [`Vst`]: one immutable state of a workspace. Cloning it is a fork.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use helios_types::{EntryKind, Hash, HashAlgorithm, Name, RepoPath};

use crate::diff::{Change, Sides, diff_dirs};
use crate::edit::{Edit, apply_batch};
use crate::error::VstError;
use crate::export::{NewObjects, export};
use crate::lineage::Lineage;
use crate::loader::{Ctx, TreeLoader};
use crate::node::{DirNode, Node};
use crate::read::{Entry, TreeStats, dir_at, lookup, walk};

/// An immutable, structurally shared workspace tree with a lazily computed
/// Merkle root.
///
/// `clone` is the fork: two pointer copies. Edits return a new `Vst` that
/// shares every directory off the edited paths with the old one, which is
/// never changed. A `Vst` is `Send + Sync`; cold directories are loaded
/// through its [`TreeLoader`] on first access and memoised for every fork.
#[derive(Clone)]
pub struct Vst {
    alg: HashAlgorithm,
    root: Arc<DirNode>,
    loader: Option<Arc<dyn TreeLoader>>,
    lineage: Lineage,
}

impl fmt::Debug for Vst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only what is known without hashing: Debug must stay cheap.
        f.debug_struct("Vst")
            .field("alg", &self.alg)
            .field("root", &self.root.memo_hash())
            .field("size", &self.root.size)
            .field("lazy", &self.loader.is_some())
            .finish()
    }
}

impl Vst {
    /// An empty tree hashed with `alg`.
    pub fn new(alg: HashAlgorithm) -> Self {
        Vst {
            alg,
            root: Arc::new(DirNode::empty()),
            loader: None,
            lineage: Lineage::new(),
        }
    }

    /// A tree whose content lives in a store: the root tree is loaded now,
    /// every directory beneath it on first access.
    pub fn restore(
        alg: HashAlgorithm,
        root: Hash,
        loader: Arc<dyn TreeLoader>,
    ) -> Result<Self, VstError> {
        let root_node = Ctx {
            alg,
            loader: Some(&*loader),
        }
        .fetch(root, None, RepoPath::root)?;
        Ok(Vst {
            alg,
            root: Arc::new(root_node),
            loader: Some(loader),
            lineage: Lineage::new(),
        })
    }

    /// What this tree shares with the trees it derives from and that derive
    /// from it (see [`Lineage`]).
    pub fn lineage(&self) -> &Lineage {
        &self.lineage
    }

    /// The same tree as the first of a new lineage: for a store that has
    /// just vouched for everything this tree reuses, while older forks keep
    /// the stamp they had.
    pub fn in_new_lineage(&self) -> Vst {
        Vst {
            lineage: Lineage::new(),
            ..self.clone()
        }
    }

    /// The hash algorithm of every hash in the tree.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.alg
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            alg: self.alg,
            loader: self.loader.as_deref(),
        }
    }

    /// The Merkle root: the hash of the root `Tree` helios-types encodes for
    /// this content. Only directories changed since the last call are hashed.
    pub fn root_hash(&self) -> Hash {
        self.root.hash(self.alg)
    }

    /// Bytes of every file and symlink in the tree.
    pub fn total_size(&self) -> u64 {
        self.root.size
    }

    /// True when both are the same state by pointer (a fork not yet edited).
    pub fn ptr_eq(&self, other: &Vst) -> bool {
        Arc::ptr_eq(&self.root, &other.root)
    }

    /// Applies edits in order, all or none: on error `self` is unchanged
    /// (it always is) and no new tree is returned.
    pub fn apply(&self, edits: &[Edit]) -> Result<Vst, VstError> {
        if edits.is_empty() {
            return Ok(self.clone());
        }
        let root = apply_batch(&self.root, edits, self.ctx())?;
        Ok(Vst {
            alg: self.alg,
            root: Arc::new(root),
            loader: self.loader.clone(),
            lineage: self.lineage.clone(),
        })
    }

    /// Applies one edit.
    pub fn edit(&self, edit: Edit) -> Result<Vst, VstError> {
        self.apply(std::slice::from_ref(&edit))
    }

    /// The entry at `path`; the root path gives the root directory.
    pub fn get(&self, path: &RepoPath) -> Result<Option<Entry>, VstError> {
        if path.is_root() {
            return Ok(Some(Entry {
                kind: EntryKind::Dir,
                hash: self.root_hash(),
                size: self.root.size,
            }));
        }
        Ok(lookup(&self.root, path, self.ctx())?.map(|n| n.entry(self.ctx())))
    }

    /// The bytes of a leaf written by an edit and not yet persisted (after
    /// persisting, read them from the store by the entry's hash).
    pub fn pending_bytes(&self, path: &RepoPath) -> Result<Option<Arc<[u8]>>, VstError> {
        match lookup(&self.root, path, self.ctx())? {
            Some(Node::Leaf(leaf)) => Ok(leaf.pending.as_ref().and_then(|p| p.bytes())),
            _ => Ok(None),
        }
    }

    /// The entries of the directory at `path`, sorted by name.
    pub fn list(&self, path: &RepoPath) -> Result<Vec<(Name, Entry)>, VstError> {
        let ctx = self.ctx();
        let dir = dir_at(&self.root, path, ctx)?;
        Ok(dir
            .entries
            .iter()
            .map(|(name, node)| (name.clone(), node.entry(ctx)))
            .collect())
    }

    /// Every file, executable and symlink, in path order.
    pub fn files(&self) -> Result<Vec<(RepoPath, Entry)>, VstError> {
        let mut out = Vec::new();
        self.for_each_file(|path, entry| {
            out.push((RepoPath::from_names(path.iter().cloned()), *entry))
        })?;
        Ok(out)
    }

    /// Calls `f` with every leaf's path components and entry, in path order.
    pub fn for_each_file(&self, mut f: impl FnMut(&[Name], &Entry)) -> Result<(), VstError> {
        let mut dirs = 0;
        walk(&self.root, &mut Vec::new(), self.ctx(), &mut f, &mut dirs)
    }

    /// Counts files, directories and bytes (walks, and so loads, the tree).
    pub fn stats(&self) -> Result<TreeStats, VstError> {
        let mut stats = TreeStats {
            bytes: self.root.size,
            ..TreeStats::default()
        };
        let mut files = 0;
        walk(
            &self.root,
            &mut Vec::new(),
            self.ctx(),
            &mut |_, _| files += 1,
            &mut stats.dirs,
        )?;
        stats.files = files;
        Ok(stats)
    }

    /// What changes turn `self` into `target`, in path order. Shared or
    /// equal-hash subtrees are skipped without being visited or loaded.
    pub fn diff(&self, target: &Vst) -> Result<Vec<Change>, VstError> {
        if self.alg != target.alg {
            return Err(VstError::AlgorithmMismatch {
                left: self.alg,
                right: target.alg,
            });
        }
        let sides = Sides {
            base: self.ctx(),
            target: target.ctx(),
        };
        let mut out = Vec::new();
        diff_dirs(&self.root, &target.root, &mut Vec::new(), &sides, &mut out)?;
        Ok(out)
    }

    /// Applies a diff made against this tree (leaves by stored hash).
    pub fn apply_diff(&self, changes: &[Change]) -> Result<Vst, VstError> {
        let mut edits = Vec::with_capacity(changes.len());
        for change in changes {
            change.edits(&mut edits);
        }
        self.apply(&edits)
    }

    /// The trees and blobs edits created that are not yet marked persisted,
    /// children before parents. Visits only unpersisted directories. Also
    /// memoises the root hash.
    pub fn unpersisted_objects(&self) -> NewObjects {
        export(&self.root, self.alg)
    }

    /// Marks every object of this tree persisted (shorthand for exporting
    /// and marking; prefer the marker of the export the engine wrote).
    pub fn mark_persisted(&self) {
        self.unpersisted_objects().marker.mark_persisted();
    }

    /// Directory nodes of `self` that `base` does not share, for checking
    /// and measuring structural sharing. Walks `base` whole.
    pub fn dir_nodes_not_in(&self, base: &Vst) -> usize {
        fn collect(dir: &Arc<DirNode>, set: &mut HashSet<*const DirNode>) {
            if !set.insert(Arc::as_ptr(dir)) {
                return;
            }
            for node in dir.entries.values() {
                match node {
                    Node::Dir(d) => collect(d, set),
                    Node::Lazy(l) => {
                        if let Some(d) = l.loaded.get() {
                            collect(d, set);
                        }
                    }
                    Node::Leaf(_) => {}
                }
            }
        }
        fn count(dir: &Arc<DirNode>, shared: &HashSet<*const DirNode>) -> usize {
            if shared.contains(&Arc::as_ptr(dir)) {
                return 0;
            }
            1 + dir
                .entries
                .values()
                .map(|node| match node {
                    Node::Dir(d) => count(d, shared),
                    _ => 0,
                })
                .sum::<usize>()
        }
        let mut shared = HashSet::new();
        collect(&base.root, &mut shared);
        count(&self.root, &shared)
    }
}
