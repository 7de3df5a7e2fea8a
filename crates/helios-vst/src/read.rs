//! Reads: look up a path, list a directory, walk every file in order.
//! Cold directories on the way are loaded (and memoised) through the loader.

use std::sync::Arc;

use helios_types::{EntryKind, Hash, Name, RepoPath};

use crate::MAX_DEPTH;
use crate::error::VstError;
use crate::loader::Ctx;
use crate::node::{DirNode, Node};

/// What a path holds, as a tree entry would describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// File, executable, symlink or directory.
    pub kind: EntryKind,
    /// The blob or tree hash.
    pub hash: Hash,
    /// A leaf's length, or the total bytes beneath a directory.
    pub size: u64,
}

/// Counts over a whole tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeStats {
    /// Files, executables and symlinks.
    pub files: u64,
    /// Directories, not counting the root.
    pub dirs: u64,
    /// Bytes of every leaf.
    pub bytes: u64,
}

impl Node {
    pub(crate) fn entry(&self, ctx: Ctx<'_>) -> Entry {
        Entry {
            kind: self.entry_kind(),
            hash: self.hash(ctx.alg),
            size: self.size(),
        }
    }

    /// The directory behind a `Dir` or `Lazy` node, loading a cold one.
    pub(crate) fn as_dir<'n>(
        &'n self,
        ctx: Ctx<'_>,
        path: impl FnOnce() -> RepoPath,
    ) -> Result<Option<&'n Arc<DirNode>>, VstError> {
        match self {
            Node::Leaf(_) => Ok(None),
            Node::Dir(d) => Ok(Some(d)),
            Node::Lazy(lazy) => ctx.load(lazy, path).map(Some),
        }
    }
}

fn prefix(path: &RepoPath, depth: usize) -> RepoPath {
    RepoPath::from_names(path.names()[..=depth].iter().cloned())
}

/// The node at a non-root `path`, or `None` when nothing is there. The root
/// has no node of its own: callers handle it first.
pub(crate) fn lookup<'a>(
    root: &'a DirNode,
    path: &RepoPath,
    ctx: Ctx<'_>,
) -> Result<Option<&'a Node>, VstError> {
    if path.names().len() > MAX_DEPTH {
        return Err(VstError::TooDeep { path: path.clone() });
    }
    let mut dir = root;
    let names = path.names();
    for (depth, name) in names.iter().enumerate() {
        let Some(node) = dir.entries.get(name) else {
            return Ok(None);
        };
        if depth + 1 == names.len() {
            return Ok(Some(node));
        }
        match node.as_dir(ctx, || prefix(path, depth))? {
            Some(d) => dir = d,
            None => {
                return Err(VstError::NotADirectory {
                    path: prefix(path, depth),
                });
            }
        }
    }
    Ok(None)
}

/// The directory at `path` (the root for the root path).
pub(crate) fn dir_at<'a>(
    root: &'a DirNode,
    path: &RepoPath,
    ctx: Ctx<'_>,
) -> Result<&'a DirNode, VstError> {
    if path.is_root() {
        return Ok(root);
    }
    match lookup(root, path, ctx)? {
        None => Err(VstError::NotFound { path: path.clone() }),
        Some(node) => match node.as_dir(ctx, || path.clone())? {
            Some(d) => Ok(d),
            None => Err(VstError::NotADirectory { path: path.clone() }),
        },
    }
}

/// Calls `f` for every leaf beneath `dir`, in path order, and counts
/// directories. `names` holds the path of `dir`.
pub(crate) fn walk(
    dir: &DirNode,
    names: &mut Vec<Name>,
    ctx: Ctx<'_>,
    f: &mut dyn FnMut(&[Name], &Entry),
    dirs: &mut u64,
) -> Result<(), VstError> {
    if names.len() >= MAX_DEPTH {
        return Err(VstError::TooDeep {
            path: RepoPath::from_names(names.iter().cloned()),
        });
    }
    for (name, node) in dir.entries.iter() {
        names.push(name.clone());
        match node {
            Node::Leaf(_) => f(names, &node.entry(ctx)),
            Node::Dir(_) | Node::Lazy(_) => {
                *dirs += 1;
                let child = node.as_dir(ctx, || RepoPath::from_names(names.iter().cloned()))?;
                if let Some(child) = child {
                    walk(child, names, ctx, f, dirs)?;
                }
            }
        }
        names.pop();
    }
    Ok(())
}
