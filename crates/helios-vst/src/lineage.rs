//! [`Lineage`]: what a tree and every tree derived from it share, so that a
//! store can say when it last vouched for the stored objects they reuse.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Shared by a tree, its forks and every tree edited from them; a tree made
/// by [`Vst::new`](crate::Vst::new) or [`Vst::restore`](crate::Vst::restore)
/// starts a new one.
///
/// It carries one number, a *stamp*, that only goes down: the store's own
/// clock (the engine uses its count of garbage collections) at the oldest
/// moment the store vouched that what the lineage reuses was stored. The
/// tree itself never reads it.
#[derive(Clone, Debug)]
pub struct Lineage(Arc<AtomicU64>);

/// A [`Lineage`] that does not keep it alive: a store can tell which
/// stamps are still held by any tree.
#[derive(Clone, Debug)]
pub struct WeakLineage(Weak<AtomicU64>);

impl Lineage {
    /// The stamp of a lineage nothing has vouched for yet.
    pub const UNSTAMPED: u64 = u64::MAX;

    pub(crate) fn new() -> Self {
        Lineage(Arc::new(AtomicU64::new(Self::UNSTAMPED)))
    }

    /// The oldest stamp given.
    pub fn stamp(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Lowers the stamp to `stamp` if it is older than the current one;
    /// returns the stamp before.
    pub fn stamp_at_most(&self, stamp: u64) -> u64 {
        self.0.fetch_min(stamp, Ordering::AcqRel)
    }

    /// A handle that does not keep the lineage alive.
    pub fn downgrade(&self) -> WeakLineage {
        WeakLineage(Arc::downgrade(&self.0))
    }
}

impl WeakLineage {
    /// The lineage's stamp, or `None` once no tree holds it.
    pub fn stamp(&self) -> Option<u64> {
        self.0.upgrade().map(|s| s.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_only_goes_down_and_a_weak_handle_sees_the_end() {
        let lineage = Lineage::new();
        assert_eq!(lineage.stamp(), Lineage::UNSTAMPED);
        assert_eq!(lineage.stamp_at_most(5), Lineage::UNSTAMPED);
        assert_eq!(lineage.stamp_at_most(7), 5);
        assert_eq!(lineage.clone().stamp(), 5);
        let weak = lineage.downgrade();
        assert_eq!(weak.stamp(), Some(5));
        drop(lineage);
        assert_eq!(weak.stamp(), None);
    }
}
