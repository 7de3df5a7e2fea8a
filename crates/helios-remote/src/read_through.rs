//! [`ReadThrough`]: a remote as the L3 of a store cloned from it. A store
//! that reads through holds only what it has used: a checkout, a read or
//! a `show` asks the remote for what the store lacks, one object at a time
//! (a ranged read of the pack that holds it), and the engine keeps it.
//!
//! The remote is opened at the first miss, not before: a command that
//! finds everything here pays nothing for it. Where each object lies comes
//! from the pack indexes (kept in the store's index cache); an object the
//! catalog does not know makes it read the listing again once, since
//! another machine may have pushed it since.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use helios_types::Hash;
use helios_types::store::{ObjectSource, StoreError, StoreResult};

use crate::catalog::Catalog;
use crate::error::RemoteError;
use crate::remote::Remote;

/// A remote read through, opened at the first miss.
#[derive(Debug)]
pub struct ReadThrough {
    url: String,
    index_cache: Option<PathBuf>,
    remote: Mutex<Option<Arc<Remote>>>,
    /// What the remote held when last listed, and how many listings read
    /// so far (a miss lists again only if no listing began after it).
    catalog: RwLock<(Catalog, u64)>,
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
        }
    }

    /// The remote, opened now if this is the first call.
    fn remote(&self) -> Result<Arc<Remote>, RemoteError> {
        let mut slot = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(remote) = &*slot {
            return Ok(Arc::clone(remote));
        }
        let mut remote = Remote::open(&self.url)?;
        // An empty remote (a mount gone, a bucket emptied) holds nothing
        // this store lacks: say so instead of "missing".
        if remote.algorithm()?.is_none() {
            return Err(RemoteError::NotARemote(self.url.clone()));
        }
        if let Some(dir) = &self.index_cache {
            remote = remote.with_index_cache(dir.clone());
        }
        let remote = Arc::new(remote);
        *slot = Some(Arc::clone(&remote));
        Ok(remote)
    }

    /// Object `hash` from the remote, checked against its pack's index.
    fn read(&self, hash: &Hash) -> Result<Option<Vec<u8>>, RemoteError> {
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
                    catalog.0.refresh(&remote)?;
                    catalog.1 += 1;
                }
                match catalog.0.place(hash) {
                    Some(place) => place,
                    None => return Ok(None),
                }
            }
        };
        let (pack, index, entry) = place;
        let mut read = remote.read_objects(&pack, &index, &[entry])?;
        Ok(read.pop())
    }
}

impl ObjectSource for ReadThrough {
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
