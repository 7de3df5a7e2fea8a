//! Tombstones: what collections deleted, kept only while a tree that could
//! still point at it is alive.
//!
//! A tree held in memory marks the subtrees it has stored as persisted and
//! does not export them again. If a collection deletes one of them (it was
//! unreachable from every root), committing that tree, or an edit of it,
//! would store a snapshot that points at nothing. Each collection that
//! deletes objects publishes them as a tombstone set under a new
//! *generation*, and admission refuses a commit that reuses one.
//!
//! Trees carry a [`Lineage`] (shared with their forks and edits) that the
//! engine stamps with the generation at which it last vouched for what the
//! lineage reuses: when it restored the tree, or admitted a commit of it.
//! A commit is checked against the sets published after its lineage's
//! stamp only, and a set is dropped once no live lineage is older than it:
//! tombstones live as long as the trees that need them, not as long as the
//! process. A lineage no one has stamped (a new tree given stored hashes
//! directly) is checked against every set and against the store itself.

use std::collections::{HashSet, VecDeque};

use helios_types::Hash;
use helios_vst::{Lineage, WeakLineage};

/// The sets still needed, oldest first, and the lineages that may need them.
#[derive(Default)]
pub(crate) struct Tombstones {
    /// Collections that deleted objects: generation and what they deleted
    /// that has not been written again since.
    sets: VecDeque<(u64, HashSet<Hash>)>,
    /// The last generation published.
    generation: u64,
    /// Lineages the engine stamped, to learn which generations are still
    /// needed; dead ones are dropped when the list is walked.
    lineages: Vec<WeakLineage>,
    /// Length of `lineages` at which it is next cleaned.
    clean_at: usize,
}

impl Tombstones {
    /// The generation a tree vouched for now would be stamped with.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Publishes what a collection is about to delete as a new generation.
    pub(crate) fn publish(&mut self, deleted: impl IntoIterator<Item = Hash>) {
        let set: HashSet<Hash> = deleted.into_iter().collect();
        if set.is_empty() {
            return;
        }
        self.generation += 1;
        self.sets.push_back((self.generation, set));
    }

    /// Objects written again are live again.
    pub(crate) fn revive<'a>(&mut self, written: impl IntoIterator<Item = &'a Hash>) {
        if self.sets.is_empty() {
            return;
        }
        for hash in written {
            for (_, set) in &mut self.sets {
                set.remove(hash);
            }
        }
    }

    /// The first of `reused` that a collection deleted after `lineage`'s
    /// stamp (after any, for an unstamped lineage).
    pub(crate) fn reclaimed<'a>(
        &self,
        lineage: &Lineage,
        reused: impl IntoIterator<Item = &'a Hash>,
    ) -> Option<Hash> {
        let stamp = lineage.stamp();
        let newer: Vec<&HashSet<Hash>> = self
            .sets
            .iter()
            .filter(|(generation, _)| stamp == Lineage::UNSTAMPED || *generation > stamp)
            .filter(|(_, set)| !set.is_empty())
            .map(|(_, set)| set)
            .collect();
        if newer.is_empty() {
            return None;
        }
        reused
            .into_iter()
            .find(|h| newer.iter().any(|set| set.contains(h)))
            .copied()
    }

    /// Stamps `lineage` with `generation` (never raising its stamp) and
    /// remembers it, the first time, as a lineage that may need tombstones.
    pub(crate) fn stamp(&mut self, lineage: &Lineage, generation: u64) {
        if lineage.stamp_at_most(generation) != Lineage::UNSTAMPED {
            return;
        }
        self.lineages.push(lineage.downgrade());
        if self.lineages.len() >= self.clean_at {
            self.forget_dead_lineages();
        }
    }

    /// Drops the lineages no tree holds any more; the list is walked again
    /// once it has doubled.
    fn forget_dead_lineages(&mut self) {
        self.lineages.retain(|l| l.stamp().is_some());
        self.clean_at = (self.lineages.len() * 2).max(1024);
    }

    /// Drops the sets no live lineage is older than. Call once the
    /// deletions of every published set are stored: from then on a tree
    /// whose lineage is unstamped is checked against the store itself.
    pub(crate) fn prune(&mut self) {
        self.forget_dead_lineages();
        let oldest = self
            .lineages
            .iter()
            .filter_map(WeakLineage::stamp)
            .min()
            .unwrap_or(self.generation);
        self.sets.retain(|(generation, _)| *generation > oldest);
    }

    /// Whether no set is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Tombstones held, over every set.
    pub(crate) fn len(&self) -> usize {
        self.sets.iter().map(|(_, set)| set.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use helios_types::HashAlgorithm;
    use helios_vst::Vst;

    use super::*;

    fn h(i: u8) -> Hash {
        HashAlgorithm::Blake3.digest(&[i])
    }

    #[test]
    fn a_lineage_sees_only_later_sets_and_sets_outlive_no_lineage() {
        let mut t = Tombstones::default();
        let old = Vst::new(HashAlgorithm::Blake3);
        t.stamp(old.lineage(), t.generation());
        t.publish([h(1)]);
        let young = Vst::new(HashAlgorithm::Blake3);
        t.stamp(young.lineage(), t.generation());
        t.publish([h(2)]);

        assert_eq!(t.reclaimed(old.lineage(), &[h(1), h(2)]), Some(h(1)));
        assert_eq!(
            t.reclaimed(young.lineage(), &[h(1)]),
            None,
            "deleted before it was vouched for"
        );
        assert_eq!(t.reclaimed(young.lineage(), &[h(2)]), Some(h(2)));
        let unstamped = Vst::new(HashAlgorithm::Blake3);
        assert_eq!(t.reclaimed(unstamped.lineage(), &[h(1)]), Some(h(1)));

        t.prune();
        assert_eq!(t.len(), 2, "the old lineage still needs both sets");
        drop(old);
        t.prune();
        assert_eq!(t.len(), 1, "only the young one's set is left");
        t.revive(&[h(2)]);
        assert_eq!(t.reclaimed(young.lineage(), &[h(2)]), None, "written again");
        drop(young);
        t.prune();
        assert_eq!(t.len(), 0);
    }
}
