//! `L1Cache` over `MemStore`: miss fill, write-through, delete eviction,
//! pass-through of metadata, and refusal of corrupt data from the inner
//! store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use helios_l1cache::{ConfigError, L1Cache, L1Config};
use helios_types::store::{
    MemStore, MetaIter, ObjectIter, ObjectStore, StoreError, StoreResult, WriteBatch, WriteMode,
};
use helios_types::{Blob, Hash, HashAlgorithm, ObjectKind};
use helios_workload::{SplitMix64, source_like};

/// Forwards to a `MemStore`, counting reads, optionally lying about what
/// it holds, failing writes, or running a hook in the middle of a read.
#[derive(Default)]
struct Probe {
    mem: MemStore,
    gets: AtomicUsize,
    fail_writes: bool,
    /// Bytes returned instead of the stored ones, without verification.
    lie: Option<Vec<u8>>,
    /// Runs after the inner read, before the bytes are returned.
    hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl ObjectStore for Probe {
    fn algorithm(&self) -> HashAlgorithm {
        self.mem.algorithm()
    }
    fn get(&self, hash: &Hash) -> StoreResult<Option<Vec<u8>>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let found = self.mem.get(hash)?;
        if let Some(hook) = self.hook.lock().unwrap().take() {
            hook();
        }
        Ok(match (&self.lie, found) {
            (Some(lie), Some(_)) => Some(lie.clone()),
            (_, found) => found,
        })
    }
    fn contains(&self, hash: &Hash) -> StoreResult<bool> {
        self.mem.contains(hash)
    }
    fn write(&self, batch: WriteBatch, mode: WriteMode) -> StoreResult<()> {
        if self.fail_writes {
            return Err(StoreError::backend("write", "injected failure"));
        }
        self.mem.write(batch, mode)
    }
    fn objects(&self, kind: Option<ObjectKind>) -> StoreResult<ObjectIter<'_>> {
        self.mem.objects(kind)
    }
    fn get_meta(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.mem.get_meta(key)
    }
    fn meta_with_prefix(&self, prefix: &[u8]) -> StoreResult<MetaIter<'_>> {
        self.mem.meta_with_prefix(prefix)
    }
    fn sync(&self) -> StoreResult<()> {
        self.mem.sync()
    }
}

fn config() -> L1Config {
    L1Config {
        capacity: 1 << 20,
        shards: 4,
        ..L1Config::default()
    }
}

fn blob(rng: &mut SplitMix64, len: usize) -> (Hash, Vec<u8>) {
    let encoded = Blob::new(source_like(rng, len)).encode();
    (HashAlgorithm::Blake3.digest(&encoded), encoded)
}

#[test]
fn a_miss_reads_the_inner_store_once_and_fills_the_arena() {
    let cache = L1Cache::new(Probe::default(), config()).unwrap();
    let (h, b) = blob(&mut SplitMix64::new(1), 4096);
    cache.inner().mem.put(h, b.clone()).unwrap();
    assert_eq!(cache.get(&h).unwrap(), Some(b.clone()));
    assert_eq!(cache.get(&h).unwrap(), Some(b.clone()));
    assert_eq!(cache.get(&h).unwrap(), Some(b));
    assert_eq!(
        cache.inner().gets.load(Ordering::SeqCst),
        1,
        "later reads are hits"
    );
    let s = cache.stats();
    assert_eq!((s.misses, s.hits, s.insertions), (1, 2, 1));
    let absent = Hash::from_bytes([9; 32]);
    assert_eq!(cache.get(&absent).unwrap(), None);
    assert!(!cache.cache().contains(&absent));
}

#[test]
fn writes_go_through_to_the_inner_store_and_into_the_arena() {
    let cache = L1Cache::new(Probe::default(), config()).unwrap();
    let (h, b) = blob(&mut SplitMix64::new(2), 4096);
    cache.put(h, b.clone()).unwrap();
    assert_eq!(
        cache.inner().mem.get(&h).unwrap(),
        Some(b.clone()),
        "inner store written"
    );
    assert!(cache.cache().contains(&h), "arena written");
    assert_eq!(cache.get(&h).unwrap(), Some(b));
    assert_eq!(
        cache.inner().gets.load(Ordering::SeqCst),
        0,
        "served from the arena"
    );
    assert!(cache.contains(&h).unwrap());
}

#[test]
fn objects_not_admitted_are_written_around_the_arena() {
    let cache = L1Cache::new(Probe::default(), config()).unwrap();
    let mut rng = SplitMix64::new(3);
    let (hot, hot_bytes) = blob(&mut rng, 4096);
    let (bulk, bulk_bytes) = blob(&mut rng, 4096);
    cache.put(bulk, bulk_bytes.clone()).unwrap();
    assert!(cache.cache().contains(&bulk));
    let mut batch = WriteBatch::new();
    batch.put_object(hot, hot_bytes);
    batch.put_object(bulk, bulk_bytes.clone());
    cache
        .write_admitting(batch, WriteMode::Buffered, &|h| *h != bulk)
        .unwrap();
    assert!(cache.cache().contains(&hot), "admitted: cached");
    assert!(
        !cache.cache().contains(&bulk),
        "not admitted: the old copy is dropped too"
    );
    assert_eq!(
        cache.get(&bulk).unwrap(),
        Some(bulk_bytes),
        "read from the store"
    );
}

#[test]
fn a_failed_inner_write_leaves_the_arena_untouched() {
    let probe = Probe {
        fail_writes: true,
        ..Probe::default()
    };
    let cache = L1Cache::new(probe, config()).unwrap();
    let (h, b) = blob(&mut SplitMix64::new(3), 100);
    assert!(matches!(cache.put(h, b), Err(StoreError::Backend { .. })));
    assert!(!cache.cache().contains(&h));
    assert_eq!(cache.stats().insertions, 0);
}

#[test]
fn deletes_evict_from_the_arena() {
    let cache = L1Cache::new(Probe::default(), config()).unwrap();
    let mut rng = SplitMix64::new(4);
    let (h1, b1) = blob(&mut rng, 500);
    let (h2, b2) = blob(&mut rng, 500);
    cache.put(h1, b1).unwrap();
    cache.put(h2, b2.clone()).unwrap();
    cache.delete_objects(&[h1]).unwrap();
    assert!(!cache.cache().contains(&h1));
    assert_eq!(cache.get(&h1).unwrap(), None);
    assert!(!cache.contains(&h1).unwrap());
    // A batch that deletes and puts the same object keeps it, like the store.
    let mut batch = WriteBatch::new();
    batch.object_deletes.push(h2);
    batch.put_object(h2, b2.clone());
    cache.write(batch, WriteMode::Sync).unwrap();
    assert_eq!(cache.inner().mem.get(&h2).unwrap(), Some(b2.clone()));
    assert_eq!(cache.get(&h2).unwrap(), Some(b2));
}

#[test]
fn corrupt_inner_data_is_an_error_and_never_cached() {
    let cache = L1Cache::new(Probe::default(), config()).unwrap();
    let (h, b) = blob(&mut SplitMix64::new(5), 1000);
    cache.inner().mem.put(h, b).unwrap();
    cache.inner().mem.corrupt(h, b"garbage".to_vec());
    for _ in 0..2 {
        assert!(matches!(cache.get(&h), Err(StoreError::Corrupt { hash, .. }) if hash == h));
    }
    assert!(!cache.cache().contains(&h));
    assert_eq!(cache.stats().insertions, 0);
    assert!(cache.get_many(&[h]).is_err());
}

#[test]
fn an_inner_store_that_returns_wrong_bytes_is_caught_by_fill_verification() {
    let mut rng = SplitMix64::new(6);
    let (h, b) = blob(&mut rng, 1000);
    let probe = Probe {
        lie: Some(b"not the object".to_vec()),
        ..Probe::default()
    };
    probe.mem.put(h, b).unwrap();
    let cache = L1Cache::new(probe, config()).unwrap();
    assert!(matches!(cache.get(&h), Err(StoreError::Corrupt { .. })));
    assert!(!cache.cache().contains(&h));
}

#[test]
fn a_delete_racing_a_fill_is_not_undone_by_the_fill() {
    type Wrapped = L1Cache<Arc<Probe>>;
    let probe = Arc::new(Probe::default());
    let cache: Arc<Wrapped> = Arc::new(L1Cache::new(Arc::clone(&probe), config()).unwrap());
    let (h, b) = blob(&mut SplitMix64::new(7), 1000);
    probe.mem.put(h, b.clone()).unwrap();
    // While the miss is reading the inner store, another caller deletes the
    // object through the cache.
    let weak: Weak<Wrapped> = Arc::downgrade(&cache);
    *probe.hook.lock().unwrap() = Some(Box::new(move || {
        weak.upgrade().unwrap().delete_objects(&[h]).unwrap();
    }));
    assert_eq!(
        cache.get(&h).unwrap(),
        Some(b),
        "the read began before the delete"
    );
    assert!(
        !cache.cache().contains(&h),
        "the fill must not resurrect a deleted object"
    );
    assert_eq!(cache.get(&h).unwrap(), None);
}

#[test]
fn get_many_mixes_hits_misses_and_absent_objects() {
    let cache = L1Cache::new(Probe::default(), config()).unwrap();
    let mut rng = SplitMix64::new(8);
    let (h1, b1) = blob(&mut rng, 300);
    let (h2, b2) = blob(&mut rng, 300);
    let absent = Hash::from_bytes([3; 32]);
    cache.put(h1, b1.clone()).unwrap();
    cache.inner().mem.put(h2, b2.clone()).unwrap();
    let got = cache.get_many(&[h1, absent, h2]).unwrap();
    assert_eq!(got, vec![Some(b1), None, Some(b2)]);
    assert!(cache.cache().contains(&h2), "the miss was filled");
}

#[test]
fn metadata_iteration_and_sync_pass_through() {
    let cache = L1Cache::new(MemStore::new(HashAlgorithm::Sha256), config()).unwrap();
    assert_eq!(cache.algorithm(), HashAlgorithm::Sha256);
    let mut batch = WriteBatch::new();
    batch
        .put_meta(b"ref/main".to_vec(), b"a".to_vec())
        .put_meta(b"ref/dev".to_vec(), b"b".to_vec());
    let encoded = Blob::new(&b"hello"[..]).encode();
    let h = HashAlgorithm::Sha256.digest(&encoded);
    batch.put_object(h, encoded.clone());
    cache.write(batch, WriteMode::Sync).unwrap();
    assert_eq!(cache.get_meta(b"ref/main").unwrap(), Some(b"a".to_vec()));
    let refs: Vec<_> = cache
        .meta_with_prefix(b"ref/")
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(refs.len(), 2);
    let objs: Vec<_> = cache
        .objects(Some(ObjectKind::Blob))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(objs, vec![(h, encoded)]);
    cache.sync().unwrap();
    assert_eq!(cache.into_inner().len(), 1);
}

#[test]
fn hit_verification_must_use_the_store_algorithm() {
    let config = L1Config {
        verify_hits: Some(HashAlgorithm::Blake3),
        ..config()
    };
    let err = L1Cache::new(MemStore::new(HashAlgorithm::Sha256), config).unwrap_err();
    assert_eq!(
        err,
        ConfigError::AlgorithmMismatch {
            configured: HashAlgorithm::Blake3,
            store: HashAlgorithm::Sha256
        }
    );
    let bad = L1Config {
        shards: 3,
        ..L1Config::default()
    };
    assert!(matches!(
        L1Cache::new(MemStore::default(), bad),
        Err(ConfigError::ShardsNotPowerOfTwo(3))
    ));
}

#[test]
fn the_wrapper_over_a_small_arena_serves_every_object_correctly() {
    // Far more data than the arena: every get is a hit or a verified fill.
    let config = L1Config {
        capacity: 16 << 10,
        shards: 2,
        ..L1Config::default()
    };
    let cache = L1Cache::new(MemStore::new(HashAlgorithm::Blake3), config).unwrap();
    let mut rng = SplitMix64::new(9);
    let objs: Vec<(Hash, Vec<u8>)> = (0..200).map(|i| blob(&mut rng, 100 + i * 13)).collect();
    for (h, b) in &objs {
        cache.put(*h, b.clone()).unwrap();
    }
    for round in 0..3 {
        for (h, b) in &objs {
            assert_eq!(cache.get(h).unwrap().as_ref(), Some(b), "round {round}");
        }
    }
    let s = cache.stats();
    assert!(s.evictions > 0 && s.arena_used <= s.capacity, "{s:?}");
}

#[test]
fn a_write_of_bytes_that_do_not_match_their_hash_is_not_served_from_the_arena() {
    let cache = L1Cache::new(Probe::default(), config()).unwrap();
    let (h, b) = blob(&mut SplitMix64::new(10), 2000);
    cache.put(h, b.clone()).unwrap();
    assert!(
        cache.cache().contains(&h),
        "verified bytes are written through"
    );
    // A re-put of wrong bytes replaces them in the store: the arena must
    // let go of the right ones, so the read reports the damage.
    cache.put(h, b"wrong".to_vec()).unwrap();
    assert!(!cache.cache().contains(&h));
    assert!(matches!(cache.get(&h), Err(StoreError::Corrupt { .. })));
    cache.put(h, b.clone()).unwrap();
    assert_eq!(cache.get(&h).unwrap(), Some(b), "a re-put repairs");
    assert_eq!(
        cache.inner().gets.load(Ordering::SeqCst),
        1,
        "served from the arena again"
    );
}

#[test]
fn without_fill_verification_the_last_put_of_a_hash_wins_in_the_arena() {
    let trusting = L1Config {
        verify_fills: false,
        ..config()
    };
    let cache = L1Cache::new(Probe::default(), trusting).unwrap();
    let (h, first) = blob(&mut SplitMix64::new(11), 1500);
    let second = b"other bytes under the same hash".to_vec();
    cache.put(h, first).unwrap();
    cache.put(h, second.clone()).unwrap();
    assert_eq!(
        cache.get(&h).unwrap(),
        Some(second.clone()),
        "replaced, not kept"
    );
    let mut batch = WriteBatch::new();
    batch
        .put_object(h, b"one".to_vec())
        .put_object(h, b"two".to_vec());
    cache.write(batch, WriteMode::Sync).unwrap();
    assert_eq!(
        cache.get(&h).unwrap(),
        Some(b"two".to_vec()),
        "the batch's last put"
    );
    assert_eq!(
        cache.inner().gets.load(Ordering::SeqCst),
        0,
        "all from the arena"
    );
    assert_eq!(cache.stats().entries, 1);
}
