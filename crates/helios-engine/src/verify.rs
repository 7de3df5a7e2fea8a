//! Verification: reread every object beneath a snapshot from L2 (not from
//! memory or L1), rehash it, decode it, and check that sizes add up.
//!
//! In a store that reads through to a remote, what L2 lacks is the
//! remote's: a tree or a file not (wholly) held here is counted
//! ([`VerifyReport::remote`]) and not descended into, never reported as
//! damage. What the store does hold is checked as anywhere else.

use std::collections::HashSet;

use helios_types::file::{FileError, StoredFile};
use helios_types::store::ObjectStore;
use helios_types::{EntryKind, Hash, RepoPath, SnapshotId, Tree};

use crate::VerifyReport;
use crate::error::{EngineError, EngineResult};
use crate::layers::Layers;
use crate::queue::WriteQueue;
use crate::snapshots::Snapshots;

/// What [`HeliosEngine::fsck`](crate::HeliosEngine::fsck) found.
#[derive(Debug, Default)]
pub struct FsckReport {
    /// Snapshots in the store.
    pub snapshots: u64,
    /// What the undamaged snapshots' checks read (objects shared between
    /// snapshots count once per snapshot).
    pub checked: VerifyReport,
    /// Each damaged snapshot with what its check found.
    pub damaged: Vec<(SnapshotId, EngineError)>,
}

pub(crate) fn run(
    layers: &Layers,
    queue: &WriteQueue,
    snapshots: &Snapshots,
    id: &SnapshotId,
) -> EngineResult<VerifyReport> {
    let _span = tracing::info_span!("verify", %id).entered();
    // Queued writes should be checked too; while the store refuses writes,
    // what it holds is still worth verifying.
    if let Err(e) = queue.flush() {
        tracing::warn!(error = %e, "verifying without the queued writes");
    }
    let snapshot = match snapshots.stored(id)? {
        Some(s) => s,
        None if snapshots.is_hot(id) => return Err(EngineError::NotDurable(*id)),
        None => return Err(EngineError::SnapshotNotFound(*id)),
    };
    let l2 = layers.l2();
    let lazy = layers.reads_through();
    let mut report = VerifyReport::default();
    let mut seen: HashSet<Hash> = HashSet::new();
    let mut stack = vec![(snapshot.root, None, RepoPath::root())];
    while let Some((hash, expected_size, path)) = stack.pop() {
        if !seen.insert(hash) {
            continue;
        }
        let Some(bytes) = l2.get(&hash)? else {
            if lazy {
                report.remote += 1;
                continue;
            }
            return Err(EngineError::MissingObject(hash));
        };
        let tree = Tree::decode(&bytes).map_err(|e| EngineError::corrupt(hash, e))?;
        report.trees += 1;
        report.bytes += bytes.len() as u64;
        if expected_size.is_some_and(|s| s != tree.total_size()) {
            return Err(EngineError::Corrupt {
                hash,
                reason: format!(
                    "holds {} bytes, its parent says {expected_size:?}",
                    tree.total_size()
                ),
            });
        }
        for entry in tree.entries() {
            let child = path.join(entry.name.clone());
            if entry.kind == EntryKind::Dir {
                stack.push((entry.hash, Some(entry.size), child));
            } else if seen.insert(entry.hash) {
                match verify_file(l2, entry.hash, entry.size, &mut report) {
                    Err(FileError::Missing { .. }) if lazy => report.remote += 1,
                    checked => checked.map_err(|source| EngineError::File {
                        path: child,
                        source: Box::new(source),
                    })?,
                }
            }
        }
    }
    Ok(report)
}

/// Rereads a file's content chunk by chunk: every object is checked
/// against its hash by the store, every chunk's length against its list,
/// and the file's length against its tree entry.
fn verify_file(
    l2: &dyn ObjectStore,
    hash: Hash,
    size: u64,
    report: &mut VerifyReport,
) -> Result<(), FileError> {
    let file = StoredFile::open_sized(l2, hash, size)?;
    file.for_each_piece(l2, 0..size, &mut |_| Ok::<(), FileError>(()))?;
    match file.chunk_list() {
        None => report.blobs += 1,
        Some(list) => {
            report.chunk_lists += 1;
            report.blobs += list.chunks().len() as u64;
        }
    }
    report.bytes += size;
    Ok(())
}
