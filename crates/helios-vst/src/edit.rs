//! Edits and their all-or-nothing application.
//!
//! A batch works on a private copy of the root: the first edit that touches
//! a shared directory copies it (`Arc::make_mut`, an O(1) map clone), later
//! edits of the same batch mutate that copy in place, so five edits in one
//! directory copy its path once. A failing edit drops the copy, leaving the
//! original tree exactly as it was.

use std::fmt;
use std::sync::Arc;

use helios_types::{Hash, Name, RepoPath};

use crate::MAX_DEPTH;
use crate::error::VstError;
use crate::loader::Ctx;
use crate::node::{DirNode, Leaf, LeafKind, Node, Pending, PendingBlob};

/// The content of a file or symlink being written.
#[derive(Clone)]
pub enum Content {
    /// Bytes not yet stored anywhere: hashed with the tree's algorithm when
    /// the edit applies, and kept until exported and marked persisted.
    Bytes(Arc<[u8]>),
    /// Content the store already holds (a blob or a chunk list) and that
    /// some committed tree names, so nothing collects it.
    Stored {
        /// The blob's or chunk list's hash.
        hash: Hash,
        /// Its length in bytes.
        size: u64,
    },
    /// A large file written to the store while it was read, which no
    /// committed tree names yet: the commit checks that garbage collection
    /// reclaimed none of its objects meanwhile.
    Chunked {
        /// The chunk list's hash.
        hash: Hash,
        /// The file's length in bytes.
        size: u64,
        /// Every distinct chunk the chunk list names.
        chunks: Arc<[Hash]>,
    },
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Content::Stored { hash, size } => write!(f, "Stored({hash:?}, {size} bytes)"),
            Content::Chunked { hash, size, chunks } => {
                write!(
                    f,
                    "Chunked({hash:?}, {size} bytes, {} chunks)",
                    chunks.len()
                )
            }
        }
    }
}

/// One change to a tree.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Writes a file, executable or symlink, replacing a leaf already there.
    Write {
        /// Where.
        path: RepoPath,
        /// What kind of leaf.
        kind: LeafKind,
        /// Its content.
        content: Content,
        /// Create missing parent directories instead of failing.
        create_parents: bool,
    },
    /// Sets or clears the executable bit of a regular file.
    SetExecutable {
        /// The file.
        path: RepoPath,
        /// Executable or not.
        executable: bool,
    },
    /// Deletes a file or symlink (a directory is an error: use `DeleteTree`).
    Delete {
        /// The leaf to delete.
        path: RepoPath,
    },
    /// Deletes any entry, a directory with everything beneath it. The root
    /// path empties the whole tree.
    DeleteTree {
        /// The entry to delete.
        path: RepoPath,
    },
    /// Creates a directory; an existing directory is left as it is.
    MakeDir {
        /// The directory.
        path: RepoPath,
        /// Create missing parent directories instead of failing.
        create_parents: bool,
    },
}

impl Edit {
    /// Writes a regular file from bytes, creating parents.
    pub fn file(path: RepoPath, bytes: impl Into<Arc<[u8]>>) -> Self {
        Edit::write(path, LeafKind::File, Content::Bytes(bytes.into()))
    }

    /// Writes an executable file from bytes, creating parents.
    pub fn executable(path: RepoPath, bytes: impl Into<Arc<[u8]>>) -> Self {
        Edit::write(path, LeafKind::Executable, Content::Bytes(bytes.into()))
    }

    /// Makes a symlink to `target`, creating parents.
    pub fn symlink(path: RepoPath, target: impl Into<Arc<[u8]>>) -> Self {
        Edit::write(path, LeafKind::Symlink, Content::Bytes(target.into()))
    }

    /// Writes a leaf whose blob is already stored, creating parents.
    pub fn stored(path: RepoPath, kind: LeafKind, hash: Hash, size: u64) -> Self {
        Edit::write(path, kind, Content::Stored { hash, size })
    }

    /// Writes a leaf, creating parents.
    pub fn write(path: RepoPath, kind: LeafKind, content: Content) -> Self {
        Edit::Write {
            path,
            kind,
            content,
            create_parents: true,
        }
    }

    /// Deletes a file or symlink.
    pub fn delete(path: RepoPath) -> Self {
        Edit::Delete { path }
    }

    /// Deletes an entry and everything beneath it.
    pub fn delete_tree(path: RepoPath) -> Self {
        Edit::DeleteTree { path }
    }

    /// Creates a directory and its missing parents.
    pub fn make_dir(path: RepoPath) -> Self {
        Edit::MakeDir {
            path,
            create_parents: true,
        }
    }

    /// Sets the executable bit of a regular file.
    pub fn set_executable(path: RepoPath, executable: bool) -> Self {
        Edit::SetExecutable { path, executable }
    }

    /// The same edit, failing with [`VstError::MissingParent`] instead of
    /// creating parents (no effect on edits that never create).
    pub fn without_parents(mut self) -> Self {
        if let Edit::Write { create_parents, .. } | Edit::MakeDir { create_parents, .. } = &mut self
        {
            *create_parents = false;
        }
        self
    }

    /// The path the edit applies to.
    pub fn path(&self) -> &RepoPath {
        match self {
            Edit::Write { path, .. }
            | Edit::SetExecutable { path, .. }
            | Edit::Delete { path }
            | Edit::DeleteTree { path }
            | Edit::MakeDir { path, .. } => path,
        }
    }

    fn creates_parents(&self) -> bool {
        matches!(
            self,
            Edit::Write {
                create_parents: true,
                ..
            } | Edit::MakeDir {
                create_parents: true,
                ..
            }
        )
    }

    fn creates(&self) -> bool {
        matches!(self, Edit::Write { .. } | Edit::MakeDir { .. })
    }
}

fn prefix(path: &RepoPath, depth: usize) -> RepoPath {
    RepoPath::from_names(path.names()[..=depth].iter().cloned())
}

/// Applies `edits` in order to a copy of `root`.
pub(crate) fn apply_batch(
    root: &DirNode,
    edits: &[Edit],
    ctx: Ctx<'_>,
) -> Result<DirNode, VstError> {
    let mut root = root.clone();
    for edit in edits {
        apply_one(&mut root, edit, ctx)?;
    }
    Ok(root)
}

fn apply_one(root: &mut DirNode, edit: &Edit, ctx: Ctx<'_>) -> Result<(), VstError> {
    let path = edit.path();
    if path.names().len() > MAX_DEPTH {
        return Err(VstError::TooDeep { path: path.clone() });
    }
    if path.is_root() {
        return match edit {
            Edit::DeleteTree { .. } => {
                *root = DirNode::empty();
                Ok(())
            }
            Edit::MakeDir { .. } => Ok(()),
            Edit::Write { .. } => Err(VstError::Root { op: "write" }),
            Edit::SetExecutable { .. } => Err(VstError::Root { op: "chmod" }),
            Edit::Delete { .. } => Err(VstError::Root {
                op: "delete (use DeleteTree)",
            }),
        };
    }
    descend(root, 0, edit, ctx)
}

/// Walks to the parent of the edited entry, copying shared directories on
/// the way and keeping each directory's total size exact. Every directory
/// it mutates is a copy (`DirNode::clone` starts unhashed and unpersisted)
/// or was created empty by this batch, so no stale hash memo survives.
fn descend(dir: &mut DirNode, depth: usize, edit: &Edit, ctx: Ctx<'_>) -> Result<(), VstError> {
    let path = edit.path();
    let names = path.names();
    let name = &names[depth];
    if depth + 1 == names.len() {
        return edit_entry(dir, name, edit, ctx);
    }
    match dir.entries.get(name) {
        None if edit.creates_parents() => {
            dir.entries
                .insert(name.clone(), Node::Dir(Arc::new(DirNode::empty())));
        }
        None if edit.creates() => {
            return Err(VstError::MissingParent {
                path: prefix(path, depth),
            });
        }
        None => return Err(VstError::NotFound { path: path.clone() }),
        Some(Node::Leaf(_)) => {
            return Err(VstError::NotADirectory {
                path: prefix(path, depth),
            });
        }
        Some(Node::Lazy(lazy)) => {
            let loaded = ctx.load(lazy, || prefix(path, depth))?.clone();
            dir.entries.insert(name.clone(), Node::Dir(loaded));
        }
        Some(Node::Dir(_)) => {}
    }
    // The entry is a loaded directory now; the fallback arm only keeps the
    // code free of panics.
    let child = match dir.entries.get_mut(name) {
        Some(Node::Dir(child)) => Arc::make_mut(child),
        _ => {
            return Err(VstError::NotADirectory {
                path: prefix(path, depth),
            });
        }
    };
    let old = child.size;
    descend(child, depth + 1, edit, ctx)?;
    let new = child.size;
    dir.size = resize(dir.size, old, new).ok_or_else(|| VstError::SizeOverflow {
        path: prefix(path, depth),
    })?;
    Ok(())
}

/// `total - old + new` without overflow.
fn resize(total: u64, old: u64, new: u64) -> Option<u64> {
    total.checked_sub(old)?.checked_add(new)
}

fn edit_entry(dir: &mut DirNode, name: &Name, edit: &Edit, ctx: Ctx<'_>) -> Result<(), VstError> {
    let path = edit.path();
    let existing = dir.entries.get(name);
    let is_dir = matches!(existing, Some(Node::Dir(_) | Node::Lazy(_)));
    let old_size = existing.map_or(0, Node::size);
    let replacement = match edit {
        Edit::Write { kind, content, .. } => {
            if is_dir {
                return Err(VstError::IsADirectory { path: path.clone() });
            }
            Some(Node::Leaf(new_leaf(*kind, content, ctx)))
        }
        Edit::SetExecutable { executable, .. } => match existing {
            None => return Err(VstError::NotFound { path: path.clone() }),
            Some(Node::Leaf(leaf))
                if matches!(leaf.kind, LeafKind::File | LeafKind::Executable) =>
            {
                let kind = if *executable {
                    LeafKind::Executable
                } else {
                    LeafKind::File
                };
                Some(Node::Leaf(Leaf {
                    kind,
                    ..leaf.clone()
                }))
            }
            Some(Node::Leaf(_)) => return Err(VstError::NotAFile { path: path.clone() }),
            Some(_) => return Err(VstError::IsADirectory { path: path.clone() }),
        },
        Edit::Delete { .. } => match existing {
            None => return Err(VstError::NotFound { path: path.clone() }),
            Some(Node::Leaf(_)) => None,
            Some(_) => return Err(VstError::IsADirectory { path: path.clone() }),
        },
        Edit::DeleteTree { .. } => match existing {
            None => return Err(VstError::NotFound { path: path.clone() }),
            Some(_) => None,
        },
        Edit::MakeDir { .. } => match existing {
            None => Some(Node::Dir(Arc::new(DirNode::empty()))),
            Some(Node::Leaf(_)) => return Err(VstError::NotADirectory { path: path.clone() }),
            Some(_) => return Ok(()),
        },
    };
    let new_size = replacement.as_ref().map_or(0, Node::size);
    dir.size = resize(dir.size, old_size, new_size).ok_or_else(|| VstError::SizeOverflow {
        path: path.parent(),
    })?;
    match replacement {
        Some(node) => {
            dir.entries.insert(name.clone(), node);
        }
        None => {
            dir.entries.remove(name);
        }
    }
    Ok(())
}

fn new_leaf(kind: LeafKind, content: &Content, ctx: Ctx<'_>) -> Leaf {
    match content {
        Content::Bytes(bytes) => Leaf {
            kind,
            size: bytes.len() as u64,
            hash: helios_types::file::hash_of(ctx.alg, bytes),
            pending: Some(Arc::new(PendingBlob::new(Pending::Bytes(bytes.clone())))),
        },
        Content::Stored { hash, size } => Leaf {
            kind,
            size: *size,
            hash: *hash,
            pending: None,
        },
        Content::Chunked { hash, size, chunks } => Leaf {
            kind,
            size: *size,
            hash: *hash,
            pending: Some(Arc::new(PendingBlob::new(Pending::Stored(chunks.clone())))),
        },
    }
}
