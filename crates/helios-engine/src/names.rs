//! What keeps snapshots alive: refs (durable names) and pins (nested holds
//! against gc, in this process and stored for later ones).
//!
//! Updates travel through the write queue, behind the snapshot records
//! they name, so a ref or pin never lands in the store before its snapshot.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use helios_types::SnapshotId;
use helios_types::store::ObjectStore;

use crate::error::EngineResult;
use crate::keys;
use crate::layers::Layers;
use crate::pipeline::StoreWrite;
use crate::queue::WriteQueue;
use crate::snapshots::Snapshots;
use crate::sync::lock;

/// Named refs, each a durable pointer to a durable snapshot.
pub(crate) struct Refs {
    layers: Arc<Layers>,
    queue: Arc<WriteQueue>,
    snapshots: Arc<Snapshots>,
    /// Serializes read-modify-write of refs (compare-and-swap).
    update: Mutex<()>,
}

impl Refs {
    pub(crate) fn new(
        layers: Arc<Layers>,
        queue: Arc<WriteQueue>,
        snapshots: Arc<Snapshots>,
    ) -> Self {
        Refs {
            layers,
            queue,
            snapshots,
            update: Mutex::default(),
        }
    }

    pub(crate) fn get(&self, name: &str) -> EngineResult<Option<SnapshotId>> {
        let key = keys::ref_key(name)?;
        Ok(self
            .layers
            .get_meta(&key)?
            .and_then(|v| SnapshotId::from_slice(&v)))
    }

    pub(crate) fn all(&self) -> EngineResult<BTreeMap<String, SnapshotId>> {
        let mut out = BTreeMap::new();
        for item in self.layers.meta_with_prefix(keys::REF)? {
            let (key, value) = item?;
            let name = String::from_utf8_lossy(&key[keys::REF.len()..]).into_owned();
            if let Some(id) = SnapshotId::from_slice(&value) {
                out.insert(name, id);
            }
        }
        Ok(out)
    }

    pub(crate) fn set(&self, name: &str, id: &SnapshotId) -> EngineResult<()> {
        let _serial = lock(&self.update);
        self.write(name, id)
    }

    pub(crate) fn compare_and_swap(
        &self,
        name: &str,
        expected: Option<SnapshotId>,
        new: &SnapshotId,
    ) -> EngineResult<bool> {
        let _serial = lock(&self.update);
        if self.get(name)? != expected {
            return Ok(false);
        }
        self.write(name, new)?;
        Ok(true)
    }

    pub(crate) fn delete(&self, name: &str) -> EngineResult<bool> {
        let _serial = lock(&self.update);
        let key = keys::ref_key(name)?;
        if self.layers.get_meta(&key)?.is_none() {
            return Ok(false);
        }
        self.queue.submit_and_wait(StoreWrite {
            meta_deletes: vec![key],
            sync: true,
            ..StoreWrite::default()
        })?;
        Ok(true)
    }

    fn write(&self, name: &str, id: &SnapshotId) -> EngineResult<()> {
        let key = keys::ref_key(name)?;
        self.snapshots.require_durable(id)?;
        self.queue.submit_and_wait(StoreWrite {
            meta_puts: vec![(key, id.as_bytes().to_vec())],
            sync: true,
            ..StoreWrite::default()
        })
    }
}

/// Pins: counted in this process, stored once per snapshot for later ones.
pub(crate) struct Pins {
    layers: Arc<Layers>,
    queue: Arc<WriteQueue>,
    snapshots: Arc<Snapshots>,
    counts: Mutex<HashMap<SnapshotId, u32>>,
}

impl Pins {
    pub(crate) fn new(
        layers: Arc<Layers>,
        queue: Arc<WriteQueue>,
        snapshots: Arc<Snapshots>,
    ) -> Self {
        Pins {
            layers,
            queue,
            snapshots,
            counts: Mutex::default(),
        }
    }

    /// Counts a pin without storing it: for a commit that stores its pin in
    /// the same write as its record.
    pub(crate) fn count(&self, id: SnapshotId) {
        *lock(&self.counts).entry(id).or_insert(0) += 1;
    }

    pub(crate) fn pin(&self, id: &SnapshotId) -> EngineResult<()> {
        let durable = self.snapshots.is_durable(id)?;
        if !durable && !self.snapshots.is_hot(id) {
            return Err(crate::EngineError::SnapshotNotFound(*id));
        }
        let first = {
            let mut counts = lock(&self.counts);
            let count = counts.entry(*id).or_insert(0);
            *count += 1;
            *count == 1
        };
        if first && durable {
            self.queue.submit(StoreWrite {
                meta_puts: vec![(keys::pin(id), Vec::new())],
                ..StoreWrite::default()
            })?;
        }
        Ok(())
    }

    pub(crate) fn unpin(&self, id: &SnapshotId) -> EngineResult<()> {
        let last = {
            let mut counts = lock(&self.counts);
            match counts.get_mut(id) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => {
                    counts.remove(id);
                    true
                }
                // Pinned by an earlier process: the stored pin is the only one.
                None => true,
            }
        };
        if last {
            self.queue.submit(StoreWrite {
                meta_deletes: vec![keys::pin(id)],
                ..StoreWrite::default()
            })?;
        }
        Ok(())
    }

    /// Every pinned snapshot: pinned in this process, or stored by an
    /// earlier one.
    pub(crate) fn all(&self) -> EngineResult<HashSet<SnapshotId>> {
        let mut out: HashSet<SnapshotId> = lock(&self.counts).keys().copied().collect();
        for item in self.layers.meta_with_prefix(keys::PIN)? {
            let (key, _) = item?;
            out.extend(keys::id_suffix(&key, keys::PIN));
        }
        Ok(out)
    }
}
