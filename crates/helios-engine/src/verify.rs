//! Verification: reread every object beneath a snapshot from L2 (not from
//! memory or L1), rehash it, decode it, and check that sizes add up.

use std::collections::HashSet;

use helios_types::{Blob, EntryKind, Hash, SnapshotId, Tree};

use crate::engine::{HeliosEngine, StateManager, VerifyReport, read};
use crate::error::{EngineError, EngineResult};

pub(crate) fn run(engine: &HeliosEngine, id: &SnapshotId) -> EngineResult<VerifyReport> {
    let _span = tracing::info_span!("verify", %id).entered();
    // Queued writes should be checked too; after a write failure the queue
    // is stopped and what L2 holds is still worth verifying.
    if let Err(e) = engine.flush() {
        tracing::warn!(error = %e, "verifying without the queued writes");
    }
    let snapshot = match engine.stored_snapshot(id)? {
        Some(s) => s,
        None if read(&engine.hot).contains_key(id) => return Err(EngineError::NotDurable(*id)),
        None => return Err(EngineError::SnapshotNotFound(*id)),
    };
    let l2 = engine.layers.l2();
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
