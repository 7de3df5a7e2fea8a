//! Verification: reread every object beneath a snapshot from L2 (not from
//! memory or L1), rehash it, decode it, and check that sizes add up.

use std::collections::HashSet;

use helios_types::{Blob, EntryKind, Hash, SnapshotId, Tree};

use crate::error::{EngineError, EngineResult};
use crate::layers::Layers;
use crate::queue::WriteQueue;
use crate::snapshots::Snapshots;

/// Objects and bytes checked by [`HeliosEngine::verify`](crate::HeliosEngine::verify).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Trees read, rehashed and decoded.
    pub trees: u64,
    /// Blobs read and rehashed.
    pub blobs: u64,
    /// Encoded bytes read.
    pub bytes: u64,
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
    let mut report = VerifyReport::default();
    let mut seen: HashSet<Hash> = HashSet::new();
    let mut stack = vec![(snapshot.root, None)];
    while let Some((hash, expected_size)) = stack.pop() {
        if !seen.insert(hash) {
            continue;
        }
        let bytes = l2.get(&hash)?.ok_or(EngineError::MissingObject(hash))?;
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
            if entry.kind == EntryKind::Dir {
                stack.push((entry.hash, Some(entry.size)));
            } else if seen.insert(entry.hash) {
                let bytes = l2
                    .get(&entry.hash)?
                    .ok_or(EngineError::MissingObject(entry.hash))?;
                let payload =
                    Blob::payload(&bytes).map_err(|e| EngineError::corrupt(entry.hash, e))?;
                if payload.len() as u64 != entry.size {
                    return Err(EngineError::Corrupt {
                        hash: entry.hash,
                        reason: format!(
                            "{} bytes, its tree entry says {}",
                            payload.len(),
                            entry.size
                        ),
                    });
                }
                report.blobs += 1;
                report.bytes += bytes.len() as u64;
            }
        }
    }
    Ok(report)
}
