//! `commit`: a tree becomes a snapshot.
//!
//! In order: check the tree against the store (algorithm, value sizes),
//! make the record, let gc admit the new objects (refusing a tree that
//! points at reclaimed objects), hold the snapshot in memory, and for a
//! durable commit queue its objects and record as one write — waiting for
//! it with `Sync`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use helios_types::store::ObjectStore as _;
use helios_types::{Hash, Snapshot, SnapshotId};
use helios_vst::{NewObjects, Vst};

use super::HeliosEngine;
use crate::error::{EngineError, EngineResult};
use crate::keys;
use crate::pipeline::StoreWrite;
use crate::queue::Pending;
use crate::{CommitMetrics, Durability};

/// What a commit records besides the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitMeta {
    /// The snapshots this one derives from.
    pub parents: Vec<SnapshotId>,
    /// A short human label.
    pub label: String,
    /// Free-form key/value data (reward, action...).
    pub metadata: BTreeMap<String, String>,
    /// Pin the new snapshot as part of the commit, so that no collection
    /// can fall between the commit and a separate `pin`.
    pub pin: bool,
}

impl CommitMeta {
    /// A label and one parent, the common case.
    pub fn child_of(parent: Option<SnapshotId>, label: impl Into<String>) -> Self {
        CommitMeta {
            parents: parent.into_iter().collect(),
            label: label.into(),
            ..Self::default()
        }
    }
}

impl HeliosEngine {
    /// Records `vst` as a new snapshot.
    pub fn commit(
        &self,
        vst: &Vst,
        durability: Durability,
        meta: CommitMeta,
    ) -> EngineResult<(SnapshotId, CommitMetrics)> {
        let start = Instant::now();
        let _span = tracing::debug_span!("commit", ?durability).entered();
        self.queue.check_open()?;
        let mut new = vst.unpersisted_objects();
        self.sort_out_chunks(&mut new)?;
        self.check_storable(vst, &new)?;
        let pin = meta.pin;
        let snapshot = Snapshot {
            root: vst.root_hash(),
            parents: meta.parents,
            time_micros: now_micros(),
            label: meta.label,
            metadata: meta.metadata,
        };
        let record = snapshot.encode();
        let id = SnapshotId::from_bytes(*self.algorithm().digest(&record).as_bytes());
        let time_micros = snapshot.time_micros;
        let (new_objects, new_bytes) = self.new_to_store(&new)?;

        let gate = self.gc.commit_gate();
        if pin {
            // Counted before `admit`: a collection that has not yet read
            // the pins will see it; one that has is protecting this commit.
            self.pins.count(id);
        }
        self.gc.admit(&new, vst.lineage(), id, &*self.layers)?;
        let durable = durability != Durability::Memory;
        if durable {
            self.queue.retry_if_stalled()?;
        }
        self.snapshots.remember(id, snapshot, vst.clone(), durable);
        let pending = if durable {
            let sync = durability == Durability::Sync;
            let write = self.queue_write(new, id, record, time_micros, pin, sync)?;
            drop(gate);
            write
        } else {
            None
        };
        if let Some(pending) = pending {
            pending.wait()?;
        }

        let metrics = CommitMetrics {
            commit_latency: start.elapsed(),
            new_objects,
            new_objects_size: new_bytes,
        };
        self.counters.commit(&metrics, vst.total_size());
        Ok((id, metrics))
    }

    /// Moves the chunks of large files written from bytes into `objects`
    /// when the store lacks them, into `reused` when it holds them: an edit
    /// of a large file in memory writes only the chunks around the edit.
    fn sort_out_chunks(&self, new: &mut NewObjects) -> EngineResult<()> {
        for chunk in std::mem::take(&mut new.chunks) {
            if self.layers.contains(&chunk.hash)? {
                new.reused.push(chunk.hash);
            } else {
                new.objects.push(chunk);
            }
        }
        Ok(())
    }

    /// How many of the objects a commit writes the store lacks, and their
    /// encoded bytes: what the commit adds, whatever the tree's history (an
    /// unchanged file read again from a directory without recorded state,
    /// or a tree rebuilt from an overlay's upper layer, adds nothing). The
    /// others are written again all the same: a re-put costs less than
    /// the care it would take to skip it while gc may delete the copy.
    fn new_to_store(&self, new: &NewObjects) -> EngineResult<(u64, u64)> {
        let (mut objects, mut bytes) = (0, 0);
        for object in &new.objects {
            if !self.layers.contains(&object.hash)? {
                objects += 1;
                bytes += object.encoded.len() as u64;
            }
        }
        Ok((objects, bytes))
    }

    /// Refuses a tree the store cannot take: another hash algorithm, or an
    /// object larger than the store's largest value.
    fn check_storable(&self, vst: &Vst, new: &NewObjects) -> EngineResult<()> {
        if vst.algorithm() != self.algorithm() {
            return Err(EngineError::AlgorithmMismatch {
                tree: vst.algorithm(),
                store: self.algorithm(),
            });
        }
        let max = self.layers.l2().max_value_len();
        match new.objects.iter().find(|o| o.encoded.len() as u64 > max) {
            Some(o) => Err(EngineError::ObjectTooLarge {
                hash: o.hash,
                len: o.encoded.len() as u64,
                max,
            }),
            None => Ok(()),
        }
    }

    /// Queues a durable commit's objects, record and the record's place in
    /// time (`keys::by_time`) as one write; returns what to wait for when
    /// `sync`.
    fn queue_write(
        &self,
        new: NewObjects,
        id: SnapshotId,
        record: Vec<u8>,
        time_micros: u64,
        pin: bool,
        sync: bool,
    ) -> EngineResult<Option<Pending>> {
        let objects: Vec<(Hash, Arc<[u8]>)> = new
            .objects
            .into_iter()
            .map(|o| (o.hash, Arc::from(o.encoded)))
            .collect();
        // Readable at once from the in-flight table; L1 takes them through
        // its own wrapper when the writer stores them.
        self.layers.add_inflight(&objects);
        let mut meta_puts = vec![
            (keys::snapshot(&id), record),
            (keys::by_time(&id, time_micros), Vec::new()),
        ];
        if pin {
            meta_puts.push((keys::pin(&id), Vec::new()));
        }
        meta_puts.extend(self.snapshots.take_index_mark());
        let write = StoreWrite {
            objects,
            meta_puts,
            sync,
            ..StoreWrite::default()
        };
        let pending = if sync {
            Some(self.queue.submit_acked(write)?)
        } else {
            self.queue.submit(write)?;
            None
        };
        // Queued is enough for the lineage: later commits of this tree need
        // not export these objects again, because the queue writes in order
        // and keeps a failed write as backlog ahead of everything later
        // (see `pipeline::Writer`).
        new.marker.mark_persisted();
        Ok(pending)
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
