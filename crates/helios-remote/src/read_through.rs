//! [`ReadThrough`]: a remote as the L3 of a store cloned from it. A store
//! that reads through holds only what it has used: a checkout, a read or
//! a `show` asks the remote for what the store lacks, one object at a time
//! (a ranged read of the pack that holds it), and the engine keeps it.
//!
//! One request per object would make a lazy checkout cost a round trip
//! per file (and on some servers a 40 ms delayed-ACK stall every other
//! request). So a miss reads the objects around the one asked for too —
//! [`READ_AHEAD`] bytes of its pack, one ranged request — and holds them
//! until the engine asks: a push writes a snapshot's new objects together
//! (a node expansion's whole delta is usually one small pack, read in one
//! request), children before the trees that name them, so neighbours in a
//! pack are what a checkout asks for next. Every object is rehashed
//! against its index entry when read, and again by the engine.
//!
//! The remote is opened at the first miss, not before: a command that
//! finds everything here pays nothing for it. Where each object lies comes
//! from the pack indexes (kept in the store's index cache); an object the
//! catalog does not know makes it read the listing again once, since
//! another machine may have pushed it since, and read the small packs it
//! has never seen whole, beside their indexes ([`Catalog::refresh`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use helios_types::Hash;
use helios_types::store::{ObjectSource, StoreError, StoreResult};

use crate::catalog::Catalog;
use crate::error::RemoteError;
use crate::pack::{IndexEntry, PackIndex};
use crate::remote::Remote;

/// Bytes of a pack read with a missing object: those before it and after
/// it, half each (the whole pack when it is smaller).
pub(crate) const READ_AHEAD: u64 = 1 << 20;

/// At most this many bytes of objects read ahead are held, waiting to be
/// asked for; past it, what waits is dropped (and read again if asked).
const READ_AHEAD_HELD: usize = 64 << 20;

/// A remote read through, opened at the first miss.
#[derive(Debug)]
pub struct ReadThrough {
    url: String,
    index_cache: Option<PathBuf>,
    remote: Mutex<Option<Arc<Remote>>>,
    /// What the remote held when last listed, and how many listings read
    /// so far (a miss lists again only if no listing began after it).
    catalog: RwLock<(Catalog, u64)>,
    /// Objects read ahead, not yet asked for, and their total size.
    ahead: Mutex<(HashMap<Hash, Vec<u8>>, usize)>,
}

impl ReadThrough {
    /// Reads through to the remote at `url`, keeping its pack indexes in
    /// `index_cache` if given.
    pub fn new(url: &str, index_cache: Option<PathBuf>) -> ReadThrough {
        ReadThrough {
            url: url.to_owned(),
            index_cache,
            remote: Mutex::new(None),
            catalog: RwLock::new((Catalog::default(), 0)),
            ahead: Mutex::new((HashMap::new(), 0)),
        }
    }

    /// The remote, opened now if this is the first call.
    fn remote(&self) -> Result<Arc<Remote>, RemoteError> {
        let mut slot = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(remote) = &*slot {
            return Ok(Arc::clone(remote));
        }
        let mut remote = Remote::open(&self.url)?;
        if let Some(dir) = &self.index_cache {
            remote = remote.with_index_cache(dir.clone());
        }
        let remote = Arc::new(remote);
        *slot = Some(Arc::clone(&remote));
        Ok(remote)
    }

    /// Object `hash`: read ahead already, or from the remote with its
    /// neighbours, checked against its pack's index.
    fn read(&self, hash: &Hash) -> Result<Option<Vec<u8>>, RemoteError> {
        if let Some(bytes) = self.take_ahead(hash) {
            return Ok(Some(bytes));
        }
        let remote = self.remote()?;
        let (place, listings) = {
            let catalog = self.catalog.read().unwrap_or_else(|e| e.into_inner());
            (catalog.0.place(hash), catalog.1)
        };
        let place = match place {
            Some(place) => place,
            None => {
                let mut catalog = self.catalog.write().unwrap_or_else(|e| e.into_inner());
                if catalog.1 == listings {
                    self.list_again(&mut catalog, &remote)?;
                }
                if let Some(bytes) = self.take_ahead(hash) {
                    return Ok(Some(bytes));
                }
                match catalog.0.place(hash) {
                    Some(place) => place,
                    // An empty remote (a mount gone, a bucket emptied)
                    // holds nothing this store lacks: say so instead of
                    // "missing". Checked only now, not at every opening:
                    // a request less on the path every lazy read takes.
                    None if remote.algorithm()?.is_none() => {
                        return Err(RemoteError::NotARemote(self.url.clone()));
                    }
                    None => return Ok(None),
                }
            }
        };
        let (pack, index, entry) = place;
        let window = neighbours(index.entries(), &entry);
        let read = remote.read_objects(&pack, &index, &window)?;
        let mut wanted = None;
        let mut neighbours = Vec::with_capacity(window.len());
        for (entry, bytes) in window.iter().zip(read) {
            if entry.hash == *hash {
                wanted = Some(bytes);
            } else {
                neighbours.push((entry.hash, bytes));
            }
        }
        self.hold_ahead(neighbours);
        Ok(wanted)
    }

    /// Lists the remote's packs again, counts the listing, and holds the
    /// objects of the small unseen packs the refresh read whole.
    fn list_again(&self, catalog: &mut (Catalog, u64), remote: &Remote) -> Result<(), RemoteError> {
        let whole = catalog.0.refresh(remote, READ_AHEAD)?;
        catalog.1 += 1;
        self.hold_ahead(whole);
        Ok(())
    }

    /// Holds `objects`, read ahead, until asked for (within
    /// [`READ_AHEAD_HELD`]: past it, what was held is dropped).
    fn hold_ahead(&self, objects: Vec<(Hash, Vec<u8>)>) {
        let mut ahead = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
        for (hash, bytes) in objects {
            if ahead.1 + bytes.len() > READ_AHEAD_HELD {
                ahead.0.clear();
                ahead.1 = 0;
            }
            ahead.1 += bytes.len();
            if let Some(old) = ahead.0.insert(hash, bytes) {
                ahead.1 -= old.len();
            }
        }
    }

    /// Reads the objects of `hashes` (those the catalog places, within
    /// half of [`READ_AHEAD_HELD`]) together: one ranged read per pack,
    /// all under way at once, and holds them until asked for. An object
    /// the catalog does not know makes it list once, as a miss does.
    fn read_many(&self, hashes: &[Hash]) -> Result<(), RemoteError> {
        let remote = self.remote()?;
        let mut catalog = self.catalog.write().unwrap_or_else(|e| e.into_inner());
        if hashes.iter().any(|hash| !catalog.0.holds(hash)) {
            self.list_again(&mut catalog, &remote)?;
        }
        let mut budget = READ_AHEAD_HELD / 2;
        let mut packs: HashMap<Hash, (Arc<PackIndex>, Vec<IndexEntry>)> = HashMap::new();
        {
            let ahead = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
            for hash in hashes {
                if ahead.0.contains_key(hash) {
                    continue;
                }
                let Some((pack, index, entry)) = catalog.0.place(hash) else {
                    continue;
                };
                let Some(left) = budget.checked_sub(entry.len as usize) else {
                    break;
                };
                budget = left;
                packs
                    .entry(pack)
                    .or_insert_with(|| (index, Vec::new()))
                    .1
                    .push(entry);
            }
        }
        drop(catalog);
        let reads: Vec<_> = packs
            .into_iter()
            .map(|(pack, (index, entries))| {
                (remote.start_read(&pack, entries.clone()), index, entries)
            })
            .collect();
        for (read, index, entries) in reads {
            let objects = remote.finish_read(read, &index)?;
            self.hold_ahead(entries.iter().map(|e| e.hash).zip(objects).collect());
        }
        Ok(())
    }

    fn take_ahead(&self, hash: &Hash) -> Option<Vec<u8>> {
        let mut ahead = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = ahead.0.remove(hash)?;
        ahead.1 -= bytes.len();
        Some(bytes)
    }
}

/// The entries of a pack (`entries`, in hash order) that lie within
/// [`READ_AHEAD`] / 2 bytes before or after `entry`, `entry` included.
fn neighbours(entries: &[IndexEntry], entry: &IndexEntry) -> Vec<IndexEntry> {
    let start = entry.offset.saturating_sub(READ_AHEAD / 2);
    let end = entry.range().end.saturating_add(READ_AHEAD / 2);
    entries
        .iter()
        .filter(|e| e.offset >= start && e.range().end <= end)
        .copied()
        .collect()
}

impl ObjectSource for ReadThrough {
    fn prefetch(&self, hashes: &[Hash]) -> StoreResult<()> {
        self.read_many(hashes)
            .map_err(|source| StoreError::backend("reading ahead from a remote", source))
    }

    fn fetch(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        self.read(hash).map_err(|source| {
            StoreError::backend(
                "reading through to a remote",
                RemoteError::Object {
                    hash: *hash,
                    source: Box::new(source),
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, offset: u64, len: u32) -> IndexEntry {
        IndexEntry {
            hash: Hash::from_bytes([n; 32]),
            offset,
            len,
        }
    }

    #[test]
    fn a_miss_reads_the_objects_within_half_a_window_either_side() {
        let half = READ_AHEAD / 2;
        let wanted = entry(5, 10 * half, 100);
        let entries = [
            entry(1, 0, 100),            // far before
            entry(2, 9 * half, 100),     // inside, before
            entry(3, 9 * half - 1, 100), // starts too early
            wanted,
            entry(6, 11 * half + 1, 100),    // ends too late
            entry(7, 10 * half + 100, 4096), // inside, after
            entry(8, 11 * half, 100),        // ends exactly at the edge
        ];
        let mut got: Vec<u8> = neighbours(&entries, &wanted)
            .iter()
            .map(|e| e.hash.as_bytes()[0])
            .collect();
        got.sort_unstable();
        assert_eq!(got, [2, 5, 7, 8]);
    }

    #[test]
    fn a_small_pack_is_read_whole() {
        let entries: Vec<IndexEntry> = (0..50)
            .map(|n| entry(n, u64::from(n) * 1000, 1000))
            .collect();
        assert_eq!(neighbours(&entries, &entries[49]).len(), 50);
        assert_eq!(neighbours(&entries, &entries[0]).len(), 50);
    }
}

#[cfg(test)]
mod prefetch_tests {
    use helios_types::HashAlgorithm;

    use super::*;
    use crate::test_packs::{file_remote, store_blobs};

    /// A remote in `dir` holding one pack of `n` distinct 64 KiB blobs;
    /// its URL and their hashes.
    fn remote_with_blobs(dir: &std::path::Path, n: usize) -> (String, Vec<Hash>) {
        let (url, remote) = file_remote(dir);
        (url, store_blobs(&remote, 0x5a, n, 64 << 10).1)
    }

    #[test]
    fn what_was_prefetched_is_served_without_the_remote() {
        let tmp = tempfile::tempdir().unwrap();
        // 4 MiB in one pack: more than one miss's window reads.
        let (url, hashes) = remote_with_blobs(tmp.path(), 64);
        let source = ReadThrough::new(&url, None);
        source.prefetch(&hashes).unwrap();
        std::fs::rename(tmp.path().join("remote"), tmp.path().join("gone")).unwrap();
        for hash in &hashes {
            let bytes = source
                .fetch(hash)
                .unwrap()
                .expect("held since the prefetch");
            assert_eq!(HashAlgorithm::Blake3.digest(&bytes), *hash);
        }
    }

    #[test]
    fn without_a_prefetch_a_miss_reads_only_its_window() {
        let tmp = tempfile::tempdir().unwrap();
        let (url, hashes) = remote_with_blobs(tmp.path(), 64);
        let source = ReadThrough::new(&url, None);
        assert!(source.fetch(&hashes[0]).unwrap().is_some());
        std::fs::rename(tmp.path().join("remote"), tmp.path().join("gone")).unwrap();
        let beyond = hashes.iter().filter(|h| source.fetch(h).is_err()).count();
        assert!(beyond > 0, "every object came with the first window");
    }
}
