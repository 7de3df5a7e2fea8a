//! [`Catalog`]: where each object of a remote lies, from the indexes of
//! its packs. Packs never change once stored, so a catalog grows by
//! reading the indexes of packs it has not seen ([`Catalog::refresh`]).

use std::collections::HashMap;
use std::sync::Arc;

use helios_types::Hash;

use crate::error::RemoteError;
use crate::pack::{IndexEntry, PackIndex};
use crate::remote::Remote;

/// Each object's pack and entry, and each pack's index.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    indexes: HashMap<Hash, Arc<PackIndex>>,
    places: HashMap<Hash, (Hash, IndexEntry)>,
}

impl Catalog {
    /// The catalog of every pack the remote holds now.
    pub(crate) fn read(remote: &Remote) -> Result<Catalog, RemoteError> {
        let mut catalog = Catalog::default();
        catalog.refresh(remote)?;
        Ok(catalog)
    }

    /// Adds the packs stored since the catalog was read: one listing, and
    /// the indexes of the new packs read together (none from the remote
    /// for those in its index cache).
    pub(crate) fn refresh(&mut self, remote: &Remote) -> Result<(), RemoteError> {
        let new: Vec<Hash> = remote
            .pack_ids()?
            .into_iter()
            .filter(|id| !self.indexes.contains_key(id))
            .collect();
        for (id, index) in new.iter().zip(remote.indexes(&new)?) {
            for entry in index.entries() {
                self.places.insert(entry.hash, (*id, *entry));
            }
            self.indexes.insert(*id, Arc::new(index));
        }
        Ok(())
    }

    /// Whether the remote holds `hash`.
    pub(crate) fn holds(&self, hash: &Hash) -> bool {
        self.places.contains_key(hash)
    }

    /// The pack that holds `hash`, its index, and the object's entry there.
    pub(crate) fn place(&self, hash: &Hash) -> Option<(Hash, Arc<PackIndex>, IndexEntry)> {
        let (pack, entry) = self.places.get(hash)?;
        Some((*pack, Arc::clone(&self.indexes[pack]), *entry))
    }
}
