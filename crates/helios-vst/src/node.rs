//! The trie's nodes: directories (a persistent map plus a memoised hash),
//! leaves (kind, hash, size, and bytes not yet persisted) and cold
//! directories known only by hash until a loader fills them.
//!
//! A directory's hash is the hash of the helios-types [`Tree`] built from
//! its entries, so the VST's Merkle root is by construction the root a
//! store of encoded trees would give; the byte layout lives only in
//! helios-types.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use helios_types::{EntryKind, EntryRef, Hash, HashAlgorithm, Name, Tree};
use imbl::OrdMap;

/// The kinds of entry that hold a blob: everything but a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeafKind {
    /// A regular file.
    File,
    /// A regular file with the executable bit.
    Executable,
    /// A symbolic link; its blob holds the target.
    Symlink,
}

impl LeafKind {
    /// The tree entry kind this leaf is encoded as.
    pub const fn entry_kind(self) -> EntryKind {
        match self {
            LeafKind::File => EntryKind::File,
            LeafKind::Executable => EntryKind::Executable,
            LeafKind::Symlink => EntryKind::Symlink,
        }
    }

    /// The leaf kind of a tree entry kind; `None` for a directory.
    pub const fn from_entry_kind(kind: EntryKind) -> Option<Self> {
        match kind {
            EntryKind::File => Some(LeafKind::File),
            EntryKind::Executable => Some(LeafKind::Executable),
            EntryKind::Symlink => Some(LeafKind::Symlink),
            EntryKind::Dir => None,
        }
    }
}

/// What a leaf written by an edit holds until it is persisted.
#[derive(Clone)]
pub(crate) enum Pending {
    /// Its bytes, stored by the commit that exports them.
    Bytes(Arc<[u8]>),
    /// A large file already stored while it was read: the chunk hashes its
    /// chunk list names, which the commit relies on the store still holding.
    Stored(Arc<[Hash]>),
}

/// What an edit supplied that the tree's lineage has not committed yet.
/// Shared by every leaf (in every fork) that was cloned from the edit, so
/// marking it persisted once is seen by all of them; persisting drops the
/// content, which frees the memory and is the persisted flag at the same
/// time.
pub(crate) struct PendingBlob {
    pending: Mutex<Option<Pending>>,
}

impl PendingBlob {
    pub(crate) fn new(pending: Pending) -> Self {
        PendingBlob {
            pending: Mutex::new(Some(pending)),
        }
    }

    /// The pending content, or `None` once persisted.
    pub(crate) fn get(&self) -> Option<Pending> {
        // A poisoned lock only means another thread panicked while holding
        // it; the `Option` inside is still whole.
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The pending bytes, if the leaf was written from bytes and is not
    /// persisted yet.
    pub(crate) fn bytes(&self) -> Option<Arc<[u8]>> {
        match self.get()? {
            Pending::Bytes(bytes) => Some(bytes),
            Pending::Stored(_) => None,
        }
    }

    pub(crate) fn mark_persisted(&self) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// A file, executable or symlink.
#[derive(Clone)]
pub(crate) struct Leaf {
    pub(crate) kind: LeafKind,
    pub(crate) size: u64,
    pub(crate) hash: Hash,
    /// Set when the leaf was written from bytes by an edit.
    pub(crate) pending: Option<Arc<PendingBlob>>,
}

/// A directory known by hash and size, filled on first access.
pub(crate) struct LazyDir {
    pub(crate) hash: Hash,
    pub(crate) size: u64,
    pub(crate) loaded: OnceLock<Arc<DirNode>>,
}

/// One entry of a directory.
#[derive(Clone)]
pub(crate) enum Node {
    Leaf(Leaf),
    Dir(Arc<DirNode>),
    Lazy(Arc<LazyDir>),
}

/// Identity as `imbl`'s map diff needs it: equal leaves by content, equal
/// directories only when the same node (or the same cold hash). Unequal
/// directories are then compared by hash in `diff`, so this never reports
/// two equal trees as different in the final result.
impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Node::Leaf(a), Node::Leaf(b)) => {
                a.kind == b.kind && a.hash == b.hash && a.size == b.size
            }
            (Node::Dir(a), Node::Dir(b)) => Arc::ptr_eq(a, b),
            (Node::Lazy(a), Node::Lazy(b)) => Arc::ptr_eq(a, b) || a.hash == b.hash,
            _ => false,
        }
    }
}

impl Node {
    /// Bytes of content beneath (or in) this entry.
    pub(crate) fn size(&self) -> u64 {
        match self {
            Node::Leaf(l) => l.size,
            Node::Dir(d) => d.size,
            Node::Lazy(l) => l.size,
        }
    }

    /// The entry's hash, computing a directory's (memoised) if needed.
    pub(crate) fn hash(&self, alg: HashAlgorithm) -> Hash {
        match self {
            Node::Leaf(l) => l.hash,
            Node::Dir(d) => d.hash(alg),
            Node::Lazy(l) => l.hash,
        }
    }

    /// The entry's hash by reference (a directory's is memoised in it).
    pub(crate) fn hash_ref(&self, alg: HashAlgorithm) -> &Hash {
        match self {
            Node::Leaf(l) => &l.hash,
            Node::Dir(d) => d.hash_ref(alg),
            Node::Lazy(l) => &l.hash,
        }
    }

    /// The hash when it is known without hashing anything.
    pub(crate) fn known_hash(&self) -> Option<Hash> {
        match self {
            Node::Leaf(l) => Some(l.hash),
            Node::Dir(d) => d.memo_hash(),
            Node::Lazy(l) => Some(l.hash),
        }
    }

    pub(crate) fn entry_kind(&self) -> EntryKind {
        match self {
            Node::Leaf(l) => l.kind.entry_kind(),
            Node::Dir(_) | Node::Lazy(_) => EntryKind::Dir,
        }
    }
}

thread_local! {
    /// Reused for every directory this thread hashes.
    static ENCODE_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A directory: its entries in a persistent sorted map (so a fork shares
/// them and an edit copies only the B-tree path it touches), the total size
/// beneath it kept exact on every edit, and its hash computed on demand.
pub(crate) struct DirNode {
    pub(crate) entries: OrdMap<Name, Node>,
    pub(crate) size: u64,
    hash: OnceLock<Hash>,
    /// True once this tree object and everything beneath it is in the
    /// store: the export walk stops here.
    persisted: AtomicBool,
}

/// A copy is a new, unhashed, unpersisted directory with the same entries:
/// only edits copy directories, and an edited directory is a new object.
impl Clone for DirNode {
    fn clone(&self) -> Self {
        DirNode::with_entries(self.entries.clone(), self.size)
    }
}

impl DirNode {
    pub(crate) fn empty() -> Self {
        DirNode::with_entries(OrdMap::new(), 0)
    }

    fn with_entries(entries: OrdMap<Name, Node>, size: u64) -> Self {
        DirNode {
            entries,
            size,
            hash: OnceLock::new(),
            persisted: AtomicBool::new(false),
        }
    }

    /// A directory filled from a stored tree whose hash was checked: it is
    /// persisted, its hash is known, and its subdirectories stay cold.
    pub(crate) fn from_tree(tree: &Tree, hash: Hash) -> Self {
        let entries = tree
            .entries()
            .iter()
            .map(|e| {
                let node = match LeafKind::from_entry_kind(e.kind) {
                    Some(kind) => Node::Leaf(Leaf {
                        kind,
                        size: e.size,
                        hash: e.hash,
                        pending: None,
                    }),
                    None => Node::Lazy(Arc::new(LazyDir {
                        hash: e.hash,
                        size: e.size,
                        loaded: OnceLock::new(),
                    })),
                };
                (e.name.clone(), node)
            })
            .collect();
        DirNode {
            entries,
            size: tree.total_size(),
            hash: OnceLock::from(hash),
            persisted: AtomicBool::new(true),
        }
    }

    pub(crate) fn memo_hash(&self) -> Option<Hash> {
        self.hash.get().copied()
    }

    /// This directory's tree hash, computed once. Only directories created
    /// by edits since the last hash are visited.
    pub(crate) fn hash(&self, alg: HashAlgorithm) -> Hash {
        *self.hash_ref(alg)
    }

    /// [`DirNode::hash`] by reference.
    pub(crate) fn hash_ref(&self, alg: HashAlgorithm) -> &Hash {
        self.hash.get_or_init(|| {
            // Children first (recursion happens outside the buffer borrow),
            // then one encoding into this thread's reused buffer: hashing a
            // directory allocates nothing.
            for node in self.entries.values() {
                node.hash(alg);
            }
            ENCODE_BUF.with_borrow_mut(|buf| {
                self.encode_into(alg, buf);
                alg.digest(buf)
            })
        })
    }

    /// Records a hash computed elsewhere from this node's own encoding.
    pub(crate) fn set_hash(&self, hash: Hash) {
        let _ = self.hash.set(hash);
    }

    /// This directory's canonical tree encoding, written into `out` by
    /// helios-types (the one implementation of the format). Names come
    /// from a map (sorted, unique, validated) and sizes are kept with
    /// checked arithmetic, which are the invariants it relies on.
    pub(crate) fn encode_into(&self, alg: HashAlgorithm, out: &mut Vec<u8>) {
        let entries = self.entries.iter().map(|(name, node)| EntryRef {
            name: name.as_bytes(),
            kind: node.entry_kind(),
            hash: node.hash_ref(alg),
            size: node.size(),
        });
        Tree::encode_sorted_into(self.size, entries, out);
    }

    pub(crate) fn is_persisted(&self) -> bool {
        self.persisted.load(Ordering::Acquire)
    }

    pub(crate) fn mark_persisted(&self) {
        self.persisted.store(true, Ordering::Release);
    }
}
