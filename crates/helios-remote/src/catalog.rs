//! [`Catalog`]: where each object of a remote lies, from the indexes of
//! its packs. Packs never change once stored, so a catalog grows by
//! reading the indexes of packs it has not seen ([`Catalog::refresh`]).
//!
//! A refresh may also read small new packs whole, beside their indexes: a
//! reader that lists again because it missed an object most likely wants
//! one just pushed, and a small pack read with its index costs one round
//! trip where index, then object, cost two (a lazy switch to a snapshot
//! another machine just pushed is one small pack).

use std::collections::HashMap;
use std::sync::Arc;

use helios_types::Hash;

use crate::error::RemoteError;
use crate::pack::{IndexEntry, PackIndex};
use crate::remote::{Remote, WholePackRead};

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
        catalog.refresh(remote, 0)?;
        Ok(catalog)
    }

    /// Adds the packs stored since the catalog was read: one listing, and
    /// the indexes of the new packs read together (none from the remote
    /// for those in its index cache). Packs this store has never seen
    /// (their index not in the cache) are read whole beside their indexes,
    /// the newest first, while they fit in `whole` bytes together; their
    /// objects, checked, are returned.
    pub(crate) fn refresh(
        &mut self,
        remote: &Remote,
        whole: u64,
    ) -> Result<Vec<(Hash, Vec<u8>)>, RemoteError> {
        let new: Vec<_> = remote
            .packs()?
            .into_iter()
            .filter(|pack| !self.indexes.contains_key(&pack.id))
            .collect();
        let mut budget = whole;
        let reads: Vec<WholePackRead> = new
            .iter()
            .filter_map(|pack| {
                let size = pack.size.filter(|&size| size <= budget)?;
                if remote.has_cached_index(&pack.id) {
                    return None;
                }
                budget -= size;
                Some(remote.start_whole_read(&pack.id, size))
            })
            .collect();
        let ids: Vec<Hash> = new.iter().map(|pack| pack.id).collect();
        for (id, index) in ids.iter().zip(remote.indexes(&ids)?) {
            for entry in index.entries() {
                self.places.insert(entry.hash, (*id, *entry));
            }
            self.indexes.insert(*id, Arc::new(index));
        }
        let mut objects = Vec::new();
        for read in reads {
            let index = Arc::clone(&self.indexes[read.id()]);
            objects.extend(remote.finish_whole_read(read, &index)?);
        }
        Ok(objects)
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

#[cfg(test)]
mod tests {
    use helios_types::HashAlgorithm;

    use super::*;
    use crate::test_packs::{file_remote, store_blobs};

    #[test]
    fn a_refresh_reads_whole_only_the_unseen_packs_that_fit_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let (url, writer) = file_remote(dir.path());
        let (seen, _) = store_blobs(&writer, 1, 4, 1000);
        let (small, small_objects) = store_blobs(&writer, 2, 4, 1000);
        let (large, _) = store_blobs(&writer, 3, 40, 1000);

        let reader = Remote::open(&url)
            .unwrap()
            .with_index_cache(dir.path().join("cache"));
        reader.index(&seen).unwrap();
        let mut catalog = Catalog::default();
        let whole = catalog.refresh(&reader, 10_000).unwrap();

        let mut got: Vec<Hash> = whole.iter().map(|(hash, _)| *hash).collect();
        got.sort();
        let mut want = small_objects;
        want.sort();
        assert_eq!(got, want, "only the unseen pack within the budget");
        for (hash, encoded) in &whole {
            assert_eq!(HashAlgorithm::Blake3.digest(encoded), *hash);
        }
        for id in [seen, small, large] {
            assert!(catalog.indexes.contains_key(&id), "every pack catalogued");
        }
        assert!(catalog.refresh(&reader, u64::MAX).unwrap().is_empty());
    }

    #[test]
    fn without_a_budget_nothing_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (_, remote) = file_remote(dir.path());
        let (_, hashes) = store_blobs(&remote, 1, 4, 100);
        let catalog = Catalog::read(&remote).unwrap();
        assert!(hashes.iter().all(|h| catalog.holds(h)));
        let requests = remote.requests();
        let mut again = Catalog::default();
        assert!(again.refresh(&remote, 0).unwrap().is_empty());
        assert_eq!(remote.requests() - requests, 2, "a listing and an index");
    }
}
