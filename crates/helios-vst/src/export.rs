//! Export of the objects edits created and no store holds yet: the engine
//! writes exactly these down its pipeline and counts them as
//! `CommitMetrics.new_objects`.
//!
//! The walk visits only directories not marked persisted. Loaded (cold)
//! directories start persisted, and marking is shared by every fork, so the
//! cost follows what changed since the last export, not the tree.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use helios_types::file;
use helios_types::{Hash, HashAlgorithm, ObjectKind};

use crate::node::{DirNode, Node, Pending, PendingBlob};

/// One encoded object ready for a store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewObject {
    /// Its hash with the tree's algorithm.
    pub hash: Hash,
    /// Blob (a small file or one chunk), chunk list or tree.
    pub kind: ObjectKind,
    /// The canonical encoding (what `ObjectStore::write` takes).
    pub encoded: Vec<u8>,
}

impl fmt::Debug for NewObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NewObject({} {:?}, {} bytes)",
            self.kind,
            self.hash,
            self.encoded.len()
        )
    }
}

/// The unpersisted objects of a tree, children before their parents, each
/// hash once. Objects are new to this tree's lineage since the last marking;
/// the store may already hold some (equal content written by another path).
#[derive(Debug, Default)]
pub struct NewObjects {
    /// The objects, in an order a store can write them (children first).
    pub objects: Vec<NewObject>,
    /// The chunks of large files written from bytes. The store may hold
    /// many already (a large file edited in memory shares most chunks with
    /// its previous version): the engine writes those it lacks with
    /// `objects` and counts the others as `reused`.
    pub chunks: Vec<NewObject>,
    /// What the new trees point at without creating it: objects persisted
    /// earlier (or loaded from the store) that this export relies on the
    /// store still holding. With the root, when it is not new.
    pub reused: Vec<Hash>,
    /// Marks exactly these objects persisted once the engine has written them.
    pub marker: PersistMarker,
}

impl NewObjects {
    /// Bytes of encoded objects (chunks not yet sorted out included).
    pub fn encoded_bytes(&self) -> u64 {
        let objects = self.objects.iter().chain(&self.chunks);
        objects.map(|o| o.encoded.len() as u64).sum()
    }
}

/// Handles on the exported nodes. Marking them persisted makes later
/// exports (of this tree and of every fork sharing the nodes) skip them and
/// drops the pending file bytes they held.
#[derive(Default)]
pub struct PersistMarker {
    dirs: Vec<Arc<DirNode>>,
    blobs: Vec<Arc<PendingBlob>>,
}

impl fmt::Debug for PersistMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PersistMarker({} trees, {} blobs)",
            self.dirs.len(),
            self.blobs.len()
        )
    }
}

impl PersistMarker {
    /// Records that every exported object is now in the store. Call it only
    /// once they are (for a `Sync` commit: after the batch is durable).
    pub fn mark_persisted(self) {
        // Blobs first, then directories children-first (the order they
        // were pushed), so a concurrent export never sees a persisted
        // directory above an unpersisted one.
        for blob in &self.blobs {
            blob.mark_persisted();
        }
        for dir in &self.dirs {
            dir.mark_persisted();
        }
    }
}

/// Adds the objects of a file written from `bytes` (its blob, or its
/// chunk list and chunks), each hash once.
fn push_file(
    alg: HashAlgorithm,
    hash: Hash,
    bytes: &[u8],
    seen: &mut HashSet<Hash>,
    out: &mut NewObjects,
) {
    for (object, kind, encoded) in file::encode(alg, bytes, Some(hash)) {
        let new = NewObject {
            hash: object,
            kind,
            encoded,
        };
        if object == hash {
            out.objects.push(new);
        } else if seen.insert(object) {
            out.chunks.push(new);
        }
    }
}

/// Collects the unpersisted objects beneath (and including) `root`.
pub(crate) fn export(root: &Arc<DirNode>, alg: HashAlgorithm) -> NewObjects {
    let mut out = NewObjects::default();
    let mut seen = HashSet::new();
    if root.is_persisted() {
        out.reused.push(root.hash(alg));
    }
    visit(root, alg, &mut seen, &mut out);
    out
}

fn visit(dir: &Arc<DirNode>, alg: HashAlgorithm, seen: &mut HashSet<Hash>, out: &mut NewObjects) {
    if dir.is_persisted() {
        return;
    }
    for node in dir.entries.values() {
        match node {
            Node::Leaf(leaf) => {
                let Some((pending, content)) =
                    leaf.pending.as_ref().and_then(|p| Some((p, p.get()?)))
                else {
                    out.reused.push(leaf.hash);
                    continue;
                };
                out.marker.blobs.push(pending.clone());
                match content {
                    Pending::Bytes(bytes) => {
                        if seen.insert(leaf.hash) {
                            push_file(alg, leaf.hash, &bytes, seen, out);
                        }
                    }
                    // Stored while it was read: the new tree relies on the
                    // store still holding the chunk list and every chunk.
                    Pending::Stored(chunks) => {
                        out.reused.push(leaf.hash);
                        out.reused.extend(chunks.iter().copied());
                    }
                }
            }
            Node::Dir(child) if child.is_persisted() => out.reused.push(child.hash(alg)),
            Node::Dir(child) => visit(child, alg, seen, out),
            // Cold directories came from the store.
            Node::Lazy(lazy) => out.reused.push(lazy.hash),
        }
    }
    let mut encoded = Vec::new();
    dir.encode_into(alg, &mut encoded);
    let hash = match dir.memo_hash() {
        Some(hash) => hash,
        None => {
            let hash = alg.digest(&encoded);
            dir.set_hash(hash);
            hash
        }
    };
    out.marker.dirs.push(dir.clone());
    if seen.insert(hash) {
        out.objects.push(NewObject {
            hash,
            kind: ObjectKind::Tree,
            encoded,
        });
    }
}
