//! Tree diff that costs the size of the difference: identical directories
//! (same node, or same hash when it is known) are skipped whole, and inside
//! a directory `imbl`'s map diff skips B-tree nodes both sides share.
//!
//! Granularity, chosen so that applying a diff rebuilds the target exactly:
//! an added directory is listed as its leaves (plus any empty directory
//! inside it), a deleted directory as one `Deleted` entry, and a leaf that
//! became a directory (or back) as one `TypeChanged` followed by the new
//! directory's contents as `Added`.

use helios_types::{EntryKind, Name, RepoPath};

use crate::MAX_DEPTH;
use crate::edit::Edit;
use crate::error::VstError;
use crate::loader::Ctx;
use crate::node::LeafKind;
use crate::node::{DirNode, Node};
use crate::read::Entry;

/// One difference between a base tree and a target tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A leaf, or an empty directory, exists only in the target.
    Added {
        /// Where.
        path: RepoPath,
        /// The target's entry.
        entry: Entry,
    },
    /// An entry (a whole directory counts once) exists only in the base.
    Deleted {
        /// Where.
        path: RepoPath,
        /// The base's entry.
        entry: Entry,
    },
    /// A leaf of the same kind whose content differs.
    Modified {
        /// Where.
        path: RepoPath,
        /// The base's entry.
        old: Entry,
        /// The target's entry.
        new: Entry,
    },
    /// The entry's kind differs (file, executable, symlink, directory).
    TypeChanged {
        /// Where.
        path: RepoPath,
        /// The base's entry.
        old: Entry,
        /// The target's entry.
        new: Entry,
    },
}

impl Change {
    /// The path the change concerns.
    pub fn path(&self) -> &RepoPath {
        match self {
            Change::Added { path, .. }
            | Change::Deleted { path, .. }
            | Change::Modified { path, .. }
            | Change::TypeChanged { path, .. } => path,
        }
    }

    /// The edits that make this change (by stored hash: the blobs exist).
    pub(crate) fn edits(&self, out: &mut Vec<Edit>) {
        let write = |path: &RepoPath, e: &Entry| match LeafKind::from_entry_kind(e.kind) {
            Some(kind) => Edit::stored(path.clone(), kind, e.hash, e.size),
            None => Edit::make_dir(path.clone()),
        };
        match self {
            Change::Added { path, entry }
            | Change::Modified {
                path, new: entry, ..
            } => out.push(write(path, entry)),
            Change::Deleted { path, .. } => out.push(Edit::delete_tree(path.clone())),
            Change::TypeChanged { path, new, .. } => {
                out.push(Edit::delete_tree(path.clone()));
                out.push(write(path, new));
            }
        }
    }
}

/// The two sides of a diff.
pub(crate) struct Sides<'a> {
    pub(crate) base: Ctx<'a>,
    pub(crate) target: Ctx<'a>,
}

fn here(names: &[Name]) -> RepoPath {
    RepoPath::from_names(names.iter().cloned())
}

/// Appends the differences between two directories at path `names`.
pub(crate) fn diff_dirs(
    a: &DirNode,
    b: &DirNode,
    names: &mut Vec<Name>,
    sides: &Sides<'_>,
    out: &mut Vec<Change>,
) -> Result<(), VstError> {
    if std::ptr::eq(a, b) {
        return Ok(());
    }
    if let (Some(ha), Some(hb)) = (a.memo_hash(), b.memo_hash())
        && ha == hb
    {
        return Ok(());
    }
    if names.len() >= MAX_DEPTH {
        return Err(VstError::TooDeep { path: here(names) });
    }
    for item in a.entries.diff(&b.entries) {
        match item {
            imbl::ordmap::DiffItem::Remove(name, old) => {
                names.push(name.clone());
                out.push(Change::Deleted {
                    path: here(names),
                    entry: old.entry(sides.base),
                });
                names.pop();
            }
            imbl::ordmap::DiffItem::Add(name, new) => {
                names.push(name.clone());
                added(new, names, sides.target, out)?;
                names.pop();
            }
            imbl::ordmap::DiffItem::Update {
                old: (name, old),
                new: (_, new),
            } => {
                names.push(name.clone());
                updated(old, new, names, sides, out)?;
                names.pop();
            }
        }
    }
    Ok(())
}

fn updated(
    old: &Node,
    new: &Node,
    names: &mut Vec<Name>,
    sides: &Sides<'_>,
    out: &mut Vec<Change>,
) -> Result<(), VstError> {
    let (old_kind, new_kind) = (old.entry_kind(), new.entry_kind());
    if old_kind == EntryKind::Dir && new_kind == EntryKind::Dir {
        // Compare hashes before loading: hashing the hot side is far cheaper
        // than fetching a cold one, and equal hashes end the walk.
        if old.known_hash().is_some() || new.known_hash().is_some() {
            let (ho, hn) = (old.hash(sides.base.alg), new.hash(sides.target.alg));
            if ho == hn {
                return Ok(());
            }
        }
        let a = old.as_dir(sides.base, || here(names))?;
        let b = new.as_dir(sides.target, || here(names))?;
        if let (Some(a), Some(b)) = (a, b) {
            diff_dirs(a, b, names, sides, out)?;
        }
        return Ok(());
    }
    let (o, n) = (old.entry(sides.base), new.entry(sides.target));
    if old_kind == new_kind {
        out.push(Change::Modified {
            path: here(names),
            old: o,
            new: n,
        });
        return Ok(());
    }
    out.push(Change::TypeChanged {
        path: here(names),
        old: o,
        new: n,
    });
    if let Some(dir) = new.as_dir(sides.target, || here(names))? {
        added_children(dir, names, sides.target, out)?;
    }
    Ok(())
}

/// Lists an entry that exists only in the target.
fn added(
    node: &Node,
    names: &mut Vec<Name>,
    ctx: Ctx<'_>,
    out: &mut Vec<Change>,
) -> Result<(), VstError> {
    match node.as_dir(ctx, || here(names))? {
        None => out.push(Change::Added {
            path: here(names),
            entry: node.entry(ctx),
        }),
        Some(dir) if dir.entries.is_empty() => out.push(Change::Added {
            path: here(names),
            entry: node.entry(ctx),
        }),
        Some(dir) => added_children(dir, names, ctx, out)?,
    }
    Ok(())
}

fn added_children(
    dir: &DirNode,
    names: &mut Vec<Name>,
    ctx: Ctx<'_>,
    out: &mut Vec<Change>,
) -> Result<(), VstError> {
    if names.len() >= MAX_DEPTH {
        return Err(VstError::TooDeep { path: here(names) });
    }
    for (name, child) in dir.entries.iter() {
        names.push(name.clone());
        added(child, names, ctx, out)?;
        names.pop();
    }
    Ok(())
}
