//! The standalone arena: configuration errors, round trips, the exact
//! byte bound, eviction order, statistics and concurrent use.

use std::sync::Arc;

use helios_l1cache::{
    CacheStats, ConfigError, EvictionPolicy, InsertOutcome, L1Config, MAX_CAPACITY, MAX_SHARDS,
    MIN_SHARD_CAPACITY, ObjectCache, RECORD_HEADER_LEN,
};
use helios_types::{Hash, HashAlgorithm};
use helios_workload::{SplitMix64, noise, source_like};

use crate::key_of;

fn one_shard(capacity: usize, policy: EvictionPolicy) -> L1Config {
    L1Config {
        capacity,
        shards: 1,
        max_object_len: Some(capacity - RECORD_HEADER_LEN),
        policy,
        ..L1Config::default()
    }
}

/// Checks the accounting against what the cache reports per entry.
pub(crate) fn assert_exact_accounting(cache: &ObjectCache, held: &[Hash]) -> CacheStats {
    let s = cache.stats();
    let infos: Vec<_> = held.iter().filter_map(|h| cache.entry_info(h)).collect();
    assert_eq!(s.entries, infos.len() as u64, "entry count");
    assert_eq!(
        s.stored_bytes,
        infos.iter().map(|i| i.stored_len as u64).sum::<u64>(),
        "stored bytes"
    );
    assert_eq!(
        s.raw_bytes,
        infos.iter().map(|i| i.raw_len as u64).sum::<u64>(),
        "raw bytes"
    );
    let floor = s.stored_bytes + s.entries * RECORD_HEADER_LEN as u64;
    assert!(
        floor <= s.arena_used,
        "live records {floor} above ring use {}",
        s.arena_used
    );
    assert!(
        s.arena_used <= s.capacity,
        "ring use {} above capacity {}",
        s.arena_used,
        s.capacity
    );
    assert!(s.capacity <= cache.config().capacity as u64);
    s
}

#[test]
fn invalid_configurations_are_typed_errors() {
    let base = L1Config::with_capacity(1 << 20);
    let cases = [
        (
            L1Config {
                capacity: 0,
                ..base.clone()
            },
            ConfigError::ZeroCapacity,
        ),
        (
            L1Config {
                capacity: MAX_CAPACITY + 1,
                ..base.clone()
            },
            ConfigError::CapacityTooLarge {
                capacity: MAX_CAPACITY + 1,
                max: MAX_CAPACITY,
            },
        ),
        (
            L1Config {
                shards: 0,
                ..base.clone()
            },
            ConfigError::ZeroShards,
        ),
        (
            L1Config {
                shards: 12,
                ..base.clone()
            },
            ConfigError::ShardsNotPowerOfTwo(12),
        ),
        (
            L1Config {
                capacity: 1 << 40,
                shards: MAX_SHARDS * 2,
                ..base.clone()
            },
            ConfigError::TooManyShards {
                shards: MAX_SHARDS * 2,
                max: MAX_SHARDS,
            },
        ),
        (
            L1Config {
                capacity: 64 << 10,
                shards: 32,
                ..base.clone()
            },
            ConfigError::ShardTooSmall {
                shard_capacity: 2048,
                min: MIN_SHARD_CAPACITY,
            },
        ),
        (
            L1Config {
                max_object_len: Some(0),
                ..base.clone()
            },
            ConfigError::ZeroMaxObjectLen,
        ),
        (
            L1Config {
                max_object_len: Some(1 << 20),
                ..base.clone()
            },
            ConfigError::MaxObjectLenTooLarge {
                max_object_len: 1 << 20,
                limit: (1 << 20) / 16 - RECORD_HEADER_LEN,
            },
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(
            ObjectCache::new(config.clone()).unwrap_err(),
            expected,
            "{config:?}"
        );
        assert!(!expected.to_string().is_empty());
    }
    assert!(ObjectCache::new(base).is_ok());
    L1Config::default()
        .validate()
        .expect("the default configuration is valid");
    assert_eq!(L1Config::default().capacity, 256 << 20);
}

#[test]
fn an_arena_the_system_will_not_grant_is_a_typed_error_not_an_abort() {
    // The largest valid capacity in one ring. Where the kernel refuses a
    // reservation this large (Linux's default overcommit heuristic refuses
    // more than RAM + swap in one go) the constructor must say so; where it
    // grants it, pages are only committed as the ring fills, so the cache
    // must work.
    let config = L1Config {
        capacity: MAX_CAPACITY,
        shards: 1,
        max_object_len: Some(1 << 20),
        ..L1Config::default()
    };
    match ObjectCache::new(config) {
        Err(ConfigError::ArenaAllocation { bytes, .. }) => {
            assert_eq!(bytes, MAX_CAPACITY, "the error names the size refused");
        }
        Err(other) => panic!("wrong error for an ungranted arena: {other}"),
        Ok(cache) => {
            let obj = source_like(&mut SplitMix64::new(11), 4096);
            assert_eq!(cache.insert(key_of(&obj), &obj), InsertOutcome::Inserted);
            assert_eq!(cache.get(&key_of(&obj)), Some(obj));
            assert!(cache.stats().arena_used < 8192);
        }
    }
}

#[test]
fn incompressible_compressible_and_empty_objects_round_trip() {
    let cache = ObjectCache::new(L1Config::with_capacity(1 << 20)).unwrap();
    let mut rng = SplitMix64::new(1);
    let noise = noise(&mut rng, 4096);
    let text = source_like(&mut rng, 4096);
    let empty = Vec::new();
    let tiny = b"x".to_vec();
    for obj in [&noise, &text, &empty, &tiny] {
        assert_eq!(cache.insert(key_of(obj), obj), InsertOutcome::Inserted);
    }
    for obj in [&noise, &text, &empty, &tiny] {
        assert_eq!(cache.get(&key_of(obj)).as_ref(), Some(obj));
    }
    let n = cache.entry_info(&key_of(&noise)).unwrap();
    assert!(
        !n.compressed && n.stored_len == 4096,
        "noise stored raw, not grown: {n:?}"
    );
    let t = cache.entry_info(&key_of(&text)).unwrap();
    assert!(
        t.compressed && t.stored_len * 4 < 4096 * 3,
        "text compressed: {t:?}"
    );
    let e = cache.entry_info(&key_of(&empty)).unwrap();
    assert_eq!((e.stored_len, e.raw_len, e.compressed), (0, 0, false));
    let s = assert_exact_accounting(&cache, &[noise, text, empty, tiny].map(|o| key_of(&o)));
    assert_eq!((s.hits, s.misses, s.insertions), (4, 0, 4));
    assert_eq!(cache.get(&key_of(b"absent")), None);
    assert_eq!(cache.stats().misses, 1);
}

#[test]
fn fifo_fills_to_the_exact_bound_then_evicts_the_oldest() {
    let rec = RECORD_HEADER_LEN + 1000;
    let cache = ObjectCache::new(one_shard(10 * rec, EvictionPolicy::Fifo)).unwrap();
    let mut rng = SplitMix64::new(2);
    let objs: Vec<Vec<u8>> = (0..12).map(|_| noise(&mut rng, 1000)).collect();
    let keys: Vec<Hash> = objs.iter().map(|o| key_of(o)).collect();
    for (k, o) in keys.iter().zip(&objs).take(10) {
        cache.insert(*k, o);
    }
    let s = assert_exact_accounting(&cache, &keys);
    assert_eq!(
        (s.entries, s.arena_used, s.evictions),
        (10, 10 * rec as u64, 0),
        "exactly full"
    );
    cache.insert(keys[10], &objs[10]);
    assert!(!cache.contains(&keys[0]), "oldest evicted");
    assert!((1..=10).all(|i| cache.contains(&keys[i])));
    let s = assert_exact_accounting(&cache, &keys);
    assert_eq!((s.entries, s.evictions), (10, 1));
    cache.get(&keys[1]);
    cache.insert(keys[11], &objs[11]);
    assert!(!cache.contains(&keys[1]), "FIFO ignores reads");
}

#[test]
fn second_chance_keeps_recently_read_entries() {
    let rec = RECORD_HEADER_LEN + 1000;
    let cache = ObjectCache::new(one_shard(10 * rec, EvictionPolicy::SecondChance)).unwrap();
    let mut rng = SplitMix64::new(3);
    let objs: Vec<Vec<u8>> = (0..11).map(|_| noise(&mut rng, 1000)).collect();
    let keys: Vec<Hash> = objs.iter().map(|o| key_of(o)).collect();
    for (k, o) in keys.iter().zip(&objs).take(10) {
        cache.insert(*k, o);
    }
    assert_eq!(cache.get(&keys[0]).as_ref(), Some(&objs[0]));
    cache.insert(keys[10], &objs[10]);
    assert_eq!(
        cache.get(&keys[0]).as_ref(),
        Some(&objs[0]),
        "read entry got a second chance"
    );
    assert!(
        !cache.contains(&keys[1]),
        "the next unread entry was evicted"
    );
    assert_exact_accounting(&cache, &keys);
}

#[test]
fn the_bound_holds_for_every_operation_of_a_mixed_workload() {
    for policy in [EvictionPolicy::Fifo, EvictionPolicy::SecondChance] {
        let cache = ObjectCache::new(L1Config {
            capacity: 32 << 10,
            shards: 2,
            max_object_len: Some(6000),
            policy,
            ..L1Config::default()
        })
        .unwrap();
        let mut rng = SplitMix64::new(4);
        let mut keys = Vec::new();
        for step in 0..3000u64 {
            let len = usize::try_from(rng.below(7000)).unwrap();
            let obj = if step % 3 == 0 {
                noise(&mut rng, len)
            } else {
                source_like(&mut rng, len)
            };
            let k = key_of(&obj);
            let outcome = cache.insert(k, &obj);
            assert_eq!(outcome == InsertOutcome::TooLarge, len > 6000);
            if outcome == InsertOutcome::Inserted {
                assert_eq!(cache.get(&k), Some(obj), "a fresh insert is readable");
            }
            keys.push(k);
            if step % 7 == 0 {
                let victim = keys[usize::try_from(rng.below(keys.len() as u64)).unwrap()];
                cache.remove(&victim);
            }
            if step % 50 == 0 {
                assert_exact_accounting(&cache, &keys);
            }
        }
        let s = assert_exact_accounting(&cache, &keys);
        assert!(s.evictions > 0 && s.rejected > 0, "{s:?}");
        cache.clear();
        let s = cache.stats();
        assert_eq!(
            (s.entries, s.stored_bytes, s.raw_bytes, s.arena_used),
            (0, 0, 0, 0)
        );
        assert!(cache.is_empty());
    }
}

#[test]
fn oversized_objects_are_rejected_and_counted() {
    let config = L1Config {
        capacity: 64 << 10,
        shards: 4,
        ..L1Config::default()
    };
    let cache = ObjectCache::new(config).unwrap();
    assert_eq!(
        cache.max_object_len(),
        (16 << 10) / 4,
        "a quarter shard by default"
    );
    let big = noise(&mut SplitMix64::new(5), cache.max_object_len() + 1);
    assert_eq!(cache.insert(key_of(&big), &big), InsertOutcome::TooLarge);
    assert!(!cache.contains(&key_of(&big)));
    let fits = &big[..cache.max_object_len()];
    assert_eq!(cache.insert(key_of(fits), fits), InsertOutcome::Inserted);
    let s = cache.stats();
    assert_eq!((s.rejected, s.insertions), (1, 1));
}

#[test]
fn re_put_is_a_no_op_and_remove_forgets() {
    let cache = ObjectCache::new(L1Config::with_capacity(1 << 20)).unwrap();
    let obj = source_like(&mut SplitMix64::new(6), 1000);
    let k = key_of(&obj);
    assert_eq!(cache.insert(k, &obj), InsertOutcome::Inserted);
    assert_eq!(cache.insert(k, &obj), InsertOutcome::AlreadyPresent);
    assert_eq!(cache.stats().insertions, 1);
    assert!(cache.remove(&k));
    assert!(!cache.remove(&k));
    assert_eq!(cache.get(&k), None);
    assert_eq!(cache.len(), 0);
}

#[test]
fn hit_verification_refuses_bytes_put_under_a_wrong_hash() {
    let config = L1Config {
        verify_hits: Some(HashAlgorithm::Blake3),
        ..L1Config::with_capacity(1 << 20)
    };
    let cache = ObjectCache::new(config).unwrap();
    let good = b"the right bytes".to_vec();
    let k = key_of(&good);
    cache.insert(k, b"other bytes");
    assert_eq!(cache.get(&k), None, "mismatching bytes are never returned");
    assert!(!cache.contains(&k), "and the entry is dropped");
    cache.insert(k, &good);
    assert_eq!(cache.get(&k), Some(good));
    let s = cache.stats();
    assert_eq!((s.integrity_failures, s.hits, s.misses), (1, 1, 1));
}

#[test]
fn statistics_report_ratio_and_hit_rate() {
    let cache = ObjectCache::new(L1Config::with_capacity(1 << 20)).unwrap();
    let mut rng = SplitMix64::new(7);
    let objs: Vec<Vec<u8>> = (0..20).map(|_| source_like(&mut rng, 4096)).collect();
    for o in &objs {
        cache.insert(key_of(o), o);
    }
    for o in &objs[..15] {
        assert!(cache.get(&key_of(o)).is_some());
    }
    for i in 0..5u8 {
        assert!(cache.get(&Hash::from_bytes([i; 32])).is_none());
    }
    let s = cache.stats();
    assert_eq!(s.hit_rate(), 0.75);
    assert_eq!(s.raw_bytes, 20 * 4096);
    assert!(
        s.compression_ratio() > 1.5,
        "text compresses: {}",
        s.compression_ratio()
    );
    assert_eq!(CacheStats::default().hit_rate(), 0.0);
    assert_eq!(CacheStats::default().compression_ratio(), 1.0);
}

#[test]
fn concurrent_put_get_remove_under_eviction_pressure_returns_only_true_bytes() {
    // 64 KiB over 4 shards for ~1.3 MB of distinct objects: constant eviction.
    let config = L1Config {
        capacity: 64 << 10,
        shards: 4,
        max_object_len: Some(8 << 10),
        ..L1Config::default()
    };
    let cache = Arc::new(ObjectCache::new(config).unwrap());
    let mut rng = SplitMix64::new(8);
    let pool: Arc<Vec<(Hash, Vec<u8>)>> = Arc::new(
        (0..600)
            .map(|i| {
                let len = usize::try_from(rng.below(5000)).unwrap();
                let obj = if i % 2 == 0 {
                    noise(&mut rng, len)
                } else {
                    source_like(&mut rng, len)
                };
                (key_of(&obj), obj)
            })
            .collect(),
    );
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (cache, pool) = (Arc::clone(&cache), Arc::clone(&pool));
            std::thread::spawn(move || {
                let mut rng = SplitMix64::new(100 + t);
                let mut hits = 0u64;
                for _ in 0..20_000 {
                    // Skewed: most operations touch the first 60 objects.
                    let n = if rng.below(4) == 0 { pool.len() } else { 60 };
                    let (k, obj) = &pool[usize::try_from(rng.below(n as u64)).unwrap()];
                    match rng.below(10) {
                        0..=3 => {
                            cache.insert(*k, obj);
                        }
                        4 => {
                            cache.remove(k);
                        }
                        _ => {
                            if let Some(bytes) = cache.get(k) {
                                assert_eq!(key_of(&bytes), *k, "returned bytes hash to their key");
                                hits += 1;
                            }
                        }
                    }
                }
                hits
            })
        })
        .collect();
    let hits: u64 = threads
        .into_iter()
        .map(|t| t.join().expect("worker panicked"))
        .sum();
    let keys: Vec<Hash> = pool.iter().map(|(k, _)| *k).collect();
    let s = assert_exact_accounting(&cache, &keys);
    assert_eq!(s.hits, hits);
    assert!(s.hits > 0 && s.evictions > 0, "{s:?}");
    assert_eq!(s.integrity_failures, 0);
}
