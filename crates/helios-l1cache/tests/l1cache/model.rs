//! Model-based property test: random operation sequences against a map of
//! what was put under each key. The cache may forget (eviction), but never
//! returns bytes other than those of the insert that created its entry,
//! and its accounting stays exact.

use std::collections::HashMap;

use helios_l1cache::{EvictionPolicy, InsertOutcome, L1Config, ObjectCache};
use helios_types::Hash;
use helios_workload::{SplitMix64, noise, source_like};
use proptest::prelude::*;

use crate::arena::assert_exact_accounting;

#[derive(Debug, Clone)]
enum Op {
    /// Insert object `obj` under key `key` (keys are not content hashes, so
    /// different bytes may be put under one key over time).
    Insert {
        key: u8,
        obj: u16,
    },
    Get {
        key: u8,
    },
    Remove {
        key: u8,
    },
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..24u8, any::<u16>()).prop_map(|(key, obj)| Op::Insert { key, obj }),
        8 => (0..24u8).prop_map(|key| Op::Get { key }),
        2 => (0..24u8).prop_map(|key| Op::Remove { key }),
        1 => Just(Op::Clear),
    ]
}

fn object(seed: u16) -> Vec<u8> {
    let mut rng = SplitMix64::new(u64::from(seed));
    let len = usize::try_from(rng.below(3000)).unwrap();
    if seed.is_multiple_of(3) {
        noise(&mut rng, len)
    } else {
        source_like(&mut rng, len)
    }
}

fn key(k: u8) -> Hash {
    let mut b = [k; 32];
    b[31] = 0x5a;
    Hash::from_bytes(b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cache_never_returns_bytes_other_than_those_put(
        ops in proptest::collection::vec(op(), 1..200),
        second_chance in any::<bool>(),
        shards in prop_oneof![Just(1usize), Just(2)],
    ) {
        let policy = if second_chance { EvictionPolicy::SecondChance } else { EvictionPolicy::Fifo };
        let config = L1Config {
            capacity: 8192 * shards,
            shards,
            max_object_len: Some(2500),
            policy,
            ..L1Config::default()
        };
        let cache = ObjectCache::new(config).unwrap();
        let mut model: HashMap<Hash, Vec<u8>> = HashMap::new();
        let keys: Vec<Hash> = (0..24).map(key).collect();
        for op in ops {
            match op {
                Op::Insert { key: k, obj } => {
                    let bytes = object(obj);
                    match cache.insert(key(k), &bytes) {
                        InsertOutcome::Inserted => {
                            prop_assert_eq!(cache.get(&key(k)), Some(bytes.clone()));
                            model.insert(key(k), bytes);
                        }
                        InsertOutcome::AlreadyPresent => prop_assert!(model.contains_key(&key(k))),
                        InsertOutcome::TooLarge => prop_assert!(bytes.len() > 2500),
                    }
                }
                Op::Get { key: k } => {
                    if let Some(got) = cache.get(&key(k)) {
                        prop_assert_eq!(Some(&got), model.get(&key(k)));
                    }
                }
                Op::Remove { key: k } => {
                    cache.remove(&key(k));
                    model.remove(&key(k));
                    prop_assert!(!cache.contains(&key(k)));
                }
                Op::Clear => {
                    cache.clear();
                    model.clear();
                    prop_assert!(cache.is_empty());
                }
            }
            assert_exact_accounting(&cache, &keys);
        }
        prop_assert_eq!(cache.stats().integrity_failures, 0);
    }
}
