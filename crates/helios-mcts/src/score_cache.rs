//! The score cache: scores of trees already evaluated, by root hash, so a
//! transposition (the same tree reached by another path) does not run the
//! scorer again. Bounded: past its capacity the least recently used entry
//! is evicted, so a long search holds at most `capacity` scores whatever
//! the number of states it visits.

use std::collections::{BTreeMap, HashMap};

use helios_types::Hash;

use crate::env::Score;

/// A least-recently-used map from root hash to score.
#[derive(Debug)]
pub(crate) struct ScoreCache {
    capacity: usize,
    /// Stamp of the next use; stamps only grow.
    tick: u64,
    entries: HashMap<Hash, (Score, u64)>,
    /// Entries by the stamp of their last use, oldest first.
    by_use: BTreeMap<u64, Hash>,
    evictions: u64,
}

impl ScoreCache {
    /// An empty cache holding at most `capacity` (at least 1) scores.
    pub(crate) fn new(capacity: usize) -> Self {
        ScoreCache {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            evictions: 0,
        }
    }

    fn stamp(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The score of `hash`, marking it used.
    pub(crate) fn get(&mut self, hash: &Hash) -> Option<Score> {
        let stamp = self.stamp();
        let (score, used) = self.entries.get_mut(hash)?;
        self.by_use.remove(used);
        *used = stamp;
        self.by_use.insert(stamp, *hash);
        Some(*score)
    }

    /// Records the score of `hash`, evicting the least recently used
    /// entries beyond the capacity.
    pub(crate) fn insert(&mut self, hash: Hash, score: Score) {
        let stamp = self.stamp();
        if let Some((_, used)) = self.entries.insert(hash, (score, stamp)) {
            self.by_use.remove(&used);
        }
        self.by_use.insert(stamp, hash);
        self.shrink();
    }

    /// Changes the capacity (at least 1), evicting what no longer fits.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        self.shrink();
    }

    fn shrink(&mut self) {
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
            self.evictions += 1;
        }
    }

    /// Scores held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries evicted so far.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Drops every entry (evictions are not counted).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.by_use.clear();
    }
}

#[cfg(test)]
mod tests {
    use helios_types::HashAlgorithm;

    use super::*;

    fn h(i: u32) -> Hash {
        HashAlgorithm::Blake3.digest(&i.to_le_bytes())
    }

    fn score(x: f64) -> Score {
        Score {
            code_reward: x,
            solved: false,
        }
    }

    #[test]
    fn evicts_the_least_recently_used_beyond_capacity() {
        let mut c = ScoreCache::new(3);
        for i in 0..3 {
            c.insert(h(i), score(f64::from(i)));
        }
        // Using 0 makes 1 the oldest.
        assert_eq!(c.get(&h(0)), Some(score(0.0)));
        c.insert(h(3), score(3.0));
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&h(1)), None);
        assert_eq!(c.get(&h(0)), Some(score(0.0)));
        assert_eq!(c.evictions(), 1);
        // Re-inserting a held hash replaces it without evicting.
        c.insert(h(2), score(9.0));
        assert_eq!((c.len(), c.evictions()), (3, 1));
        assert_eq!(c.get(&h(2)), Some(score(9.0)));
        // Shrinking keeps the most recently used.
        c.set_capacity(1);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&h(2)), Some(score(9.0)));
        assert_eq!(c.evictions(), 3);
        c.clear();
        assert_eq!(c.len(), 0);
        assert_eq!(c.get(&h(2)), None);
    }
}
