//! [`StatCache`]: path → [`StatEntry`] for every leaf of a working
//! directory, read lazily from the encoding a state snapshot stores.
//!
//! A switch in a fresh process (one `helios checkout` per call) looks up a
//! handful of paths in a cache of one entry per file. Decoding 100,000
//! entries into a map, to read five of them, was most of such a switch's
//! cost. So the snapshot's entries stay as they were read (they are
//! encoded sorted by path), with the offset of each; a lookup is a binary
//! search over those bytes; changes made since live in a small map on top.
//! Loading costs one pass that finds the offsets and checks the entries
//! are well formed and in order, with no allocation per entry.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use super::state::{
    ENTRY_FIXED_LEN, Reader, StatEntry, check_entry_kind, decode_entry, encode_entry,
};

/// See the module documentation.
#[derive(Clone, Default)]
pub struct StatCache {
    /// The entries of the snapshot the state was loaded from.
    base: Arc<Encoded>,
    /// What changed since: an entry put, or `None` for a path removed.
    delta: BTreeMap<Vec<u8>, Option<StatEntry>>,
}

/// Entries as a snapshot encodes them, sorted by path, with their offsets.
#[derive(Default)]
struct Encoded {
    bytes: Vec<u8>,
    offsets: Vec<usize>,
}

impl Encoded {
    fn path(&self, i: usize) -> &[u8] {
        // Every offset was checked to start a whole entry when loaded.
        let at = self.offsets[i];
        let len = u32::from_le_bytes([
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ]) as usize;
        &self.bytes[at + 4..at + 4 + len]
    }

    /// The entry at `i`; checked when loaded, so `None` never happens in
    /// practice, and would only cost a re-read of the file (a miss).
    fn entry(&self, i: usize) -> Option<StatEntry> {
        let mut r = Reader::at(&self.bytes, self.offsets[i]);
        decode_entry(&mut r).ok().map(|(_, entry)| entry)
    }

    fn find(&self, path: &[u8]) -> Result<usize, usize> {
        self.find_within(0, self.offsets.len(), path)
    }

    /// [`Encoded::find`] among the entries from `lo` to `hi` (exclusive).
    fn find_within(&self, mut lo: usize, mut hi: usize, path: &[u8]) -> Result<usize, usize> {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.path(mid).cmp(path) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }
}

impl StatCache {
    /// Takes `count` entries encoded in `bytes` from `start`, checking that
    /// each is whole and well formed and that their paths strictly
    /// increase; returns the cache and where the entries end.
    pub(crate) fn from_encoded(
        bytes: Vec<u8>,
        start: usize,
        count: u64,
    ) -> Result<(StatCache, usize), &'static str> {
        let count = usize::try_from(count).map_err(|_| "too many entries")?;
        let mut offsets = Vec::with_capacity(count.min(bytes.len() / ENTRY_FIXED_LEN));
        let mut r = Reader::at(&bytes, start);
        let mut previous: Option<&[u8]> = None;
        for _ in 0..count {
            offsets.push(r.pos());
            let path = r.path()?;
            check_entry_kind(r.u8()?)?;
            r.take(ENTRY_FIXED_LEN - 1)?;
            if previous.is_some_and(|p| p >= path) {
                return Err("paths out of order or repeated");
            }
            previous = Some(path);
        }
        let end = r.pos();
        let base = Arc::new(Encoded { bytes, offsets });
        Ok((
            StatCache {
                base,
                delta: BTreeMap::new(),
            },
            end,
        ))
    }

    /// A cache of `entries`, sorted by path with no path twice, encoded as
    /// a loaded snapshot is: one pass, one allocation, instead of a map of
    /// 100,000 keys.
    fn from_sorted<'e, I>(entries: impl Fn() -> I) -> StatCache
    where
        I: Iterator<Item = (&'e [u8], StatEntry)>,
    {
        let (count, len) = entries().fold((0, 0), |(count, len), (path, _)| {
            (count + 1, len + 4 + path.len() + ENTRY_FIXED_LEN)
        });
        let mut bytes = Vec::with_capacity(len);
        for (path, entry) in entries() {
            encode_entry(&mut bytes, path, &entry);
        }
        match StatCache::from_encoded(bytes, 0, count) {
            Ok((cache, _)) => cache,
            // Unsorted or repeated paths: a bug of the caller's. Correct,
            // only slower, through the map.
            Err(_) => {
                debug_assert!(false, "stat cache entries out of order");
                StatCache::from(
                    entries()
                        .map(|(p, e)| (p.to_vec(), e))
                        .collect::<BTreeMap<_, _>>(),
                )
            }
        }
    }

    /// Encodes the changes into the loaded entries once they are many
    /// (a long-lived process changes its cache a few entries at a time):
    /// a lookup searches the changes first.
    pub(crate) fn fold_changes_when_many(&mut self) {
        if self.delta.len() > FOLD_CHANGES_MIN && self.delta.len() * 16 > self.base.offsets.len() {
            let folded = StatCache::from_sorted(|| self.iter());
            *self = folded;
        }
    }

    /// The entry recorded for the leaf at `path`, and where it lies.
    pub(crate) fn lookup(&self, path: &[u8]) -> Option<(StatEntry, Slot)> {
        if let Some(changed) = self.delta.get(path) {
            return changed.map(|entry| (entry, Slot::Changed));
        }
        let i = self.base.find(path).ok()?;
        self.base.entry(i).map(|entry| (entry, Slot::Loaded(i)))
    }

    /// Where the entries at `prefix` (a directory's path and `/`, or empty
    /// for the root) and beneath lie, for [`StatCache::lookup_in`].
    pub(crate) fn span(&self, prefix: &[u8]) -> Span {
        let start = |p: &[u8]| match self.base.find(p) {
            Ok(i) | Err(i) => i,
        };
        let end = match prefix.split_last() {
            None => self.base.offsets.len(),
            // The first path past every path that starts with `prefix`.
            Some((&last, head)) if last < u8::MAX => start(&[head, &[last + 1]].concat()),
            Some(_) => self.base.offsets.len(),
        };
        Span {
            from: start(prefix),
            end,
        }
    }

    /// [`StatCache::lookup`] of a path within `span`, where paths are
    /// looked up in increasing order (a directory's leaves, by name): each
    /// search starts where the last one ended.
    pub(crate) fn lookup_in(&self, span: &Cell<Span>, path: &[u8]) -> Option<(StatEntry, Slot)> {
        if self.delta.contains_key(path) {
            return self.lookup(path);
        }
        let Span { from, end } = span.get();
        let found = self.base.find_within(from, end, path);
        let next = match found {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        span.set(Span { from: next, end });
        let i = found.ok()?;
        self.base.entry(i).map(|entry| (entry, Slot::Loaded(i)))
    }

    /// The paths of the entries a scan did not meet (see [`Met`]): all of
    /// them, or only those at `within` and beneath it.
    pub(crate) fn unmet(&self, met: &Met, within: Option<&[u8]>) -> Vec<Vec<u8>> {
        let Some(path) = within else {
            let loaded = (0..self.base.offsets.len())
                .filter(|&i| !met.has_loaded(i))
                .map(|i| self.base.path(i))
                .filter(|p| !self.delta.contains_key(*p));
            let changed = self
                .delta
                .iter()
                .filter(|(p, e)| e.is_some() && !met.changed.contains(*p))
                .map(|(p, _)| p.as_slice());
            return loaded.chain(changed).map(<[u8]>::to_vec).collect();
        };
        let mut beneath = path.to_vec();
        beneath.push(b'/');
        let mut candidates = self.paths_with_prefix(&beneath);
        candidates.push(path.to_vec());
        candidates.retain(|p| self.lookup(p).is_some_and(|(_, slot)| !met.has(slot, p)));
        candidates
    }

    /// The entry recorded for the leaf at `path`.
    pub fn get(&self, path: &[u8]) -> Option<StatEntry> {
        self.lookup(path).map(|(entry, _)| entry)
    }

    /// Every entry, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], StatEntry)> + '_ {
        let mut base = (0..self.base.offsets.len())
            .map(|i| (self.base.path(i), i))
            .peekable();
        let mut delta = self.delta.iter().peekable();
        std::iter::from_fn(move || {
            loop {
                let order = match (base.peek(), delta.peek()) {
                    (None, None) => return None,
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (Some((b, _)), Some((d, _))) => (*b).cmp(d.as_slice()),
                };
                if order == std::cmp::Ordering::Less {
                    let (path, i) = base.next()?;
                    match self.base.entry(i) {
                        Some(entry) => return Some((path, entry)),
                        None => continue,
                    }
                }
                if order == std::cmp::Ordering::Equal {
                    base.next();
                }
                let (path, changed) = delta.next()?;
                if let Some(entry) = changed {
                    return Some((path.as_slice(), *entry));
                }
            }
        })
    }

    /// Records `entry` for `path`.
    pub(crate) fn insert(&mut self, path: Vec<u8>, entry: StatEntry) {
        self.delta.insert(path, Some(entry));
    }

    /// Removes the entry at `path`; whether there was one.
    pub(crate) fn remove(&mut self, path: &[u8]) -> bool {
        if self.get(path).is_none() {
            return false;
        }
        if self.base.find(path).is_ok() {
            self.delta.insert(path.to_vec(), None);
        } else {
            self.delta.remove(path);
        }
        true
    }

    /// The paths with an entry that start with `prefix`, in order.
    pub(crate) fn paths_with_prefix(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        let from = match self.base.find(prefix) {
            Ok(i) | Err(i) => i,
        };
        let in_base = (from..self.base.offsets.len())
            .map(|i| self.base.path(i))
            .take_while(|p| p.starts_with(prefix))
            .filter(|p| !self.delta.contains_key(*p))
            .map(<[u8]>::to_vec);
        let in_delta = self
            .delta
            .range(prefix.to_vec()..)
            .take_while(|(p, _)| p.starts_with(prefix))
            .filter(|(_, e)| e.is_some())
            .map(|(p, _)| p.clone());
        let mut paths: Vec<Vec<u8>> = in_base.chain(in_delta).collect();
        paths.sort_unstable();
        paths
    }
}

/// Changes a long-lived process may keep on top of the loaded entries
/// before [`StatCache::fold_changes_when_many`] encodes them in (and at
/// least a sixteenth of the loaded entries).
const FOLD_CHANGES_MIN: usize = 1024;

/// A range of a cache's loaded entries: those beneath one directory, or
/// what is left of them to search.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Span {
    from: usize,
    end: usize,
}

/// Where [`StatCache::lookup`] found an entry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    /// Among the loaded entries, at this index.
    Loaded(usize),
    /// Among the changes since.
    Changed,
}

/// The entries of a cache that a scan met at their own paths (whether it
/// kept them or found the leaf changed). Within what the scan walked, an
/// entry it did not meet is of a leaf that is gone: deleted, replaced by a
/// directory, now ignored. A full scan meets almost every entry, so the
/// loaded ones are one bit each, and nothing is allocated per file.
#[derive(Debug, Default)]
pub(crate) struct Met {
    loaded: Vec<u64>,
    changed: BTreeSet<Vec<u8>>,
}

impl Met {
    fn mark(&mut self, slot: Slot, path: &[u8]) {
        match slot {
            Slot::Loaded(i) => {
                let word = i / 64;
                if self.loaded.len() <= word {
                    self.loaded.resize(word + 1, 0);
                }
                self.loaded[word] |= 1 << (i % 64);
            }
            Slot::Changed => {
                self.changed.insert(path.to_vec());
            }
        }
    }

    fn has_loaded(&self, i: usize) -> bool {
        self.loaded
            .get(i / 64)
            .is_some_and(|word| word & (1 << (i % 64)) != 0)
    }

    fn has(&self, slot: Slot, path: &[u8]) -> bool {
        match slot {
            Slot::Loaded(i) => self.has_loaded(i),
            Slot::Changed => self.changed.contains(path),
        }
    }

    /// Adds what another part of the same scan met.
    fn absorb(&mut self, other: Met) {
        if self.loaded.len() < other.loaded.len() {
            self.loaded.resize(other.loaded.len(), 0);
        }
        for (mine, theirs) in self.loaded.iter_mut().zip(other.loaded) {
            *mine |= theirs;
        }
        self.changed.extend(other.changed);
    }
}

/// What a scan found, as a change to the cache it started from: the
/// entries it met ([`Met`]) and those it recorded anew. Applied with
/// [`WorkdirState::update_cache`](super::state::WorkdirState::update_cache),
/// it costs what changed, not one entry per file.
#[derive(Debug, Default)]
pub(crate) struct CacheUpdate {
    pub(crate) met: Met,
    /// New entries, and entries that differ from the cache's.
    pub(crate) puts: Vec<(Vec<u8>, StatEntry)>,
}

impl CacheUpdate {
    /// The scan found `entry` for the leaf at `path`, where the cache held
    /// `old` (as [`StatCache::lookup`] found it).
    pub(crate) fn found(&mut self, path: &[u8], entry: StatEntry, old: Option<(StatEntry, Slot)>) {
        if let Some((old, slot)) = old {
            self.met.mark(slot, path);
            if old == entry {
                return;
            }
        }
        self.puts.push((path.to_vec(), entry));
    }

    /// Adds what another part of the same scan found.
    pub(crate) fn absorb(&mut self, other: CacheUpdate) {
        self.met.absorb(other.met);
        self.puts.extend(other.puts);
    }
}

impl From<BTreeMap<Vec<u8>, StatEntry>> for StatCache {
    fn from(map: BTreeMap<Vec<u8>, StatEntry>) -> Self {
        StatCache {
            base: Arc::default(),
            delta: map.into_iter().map(|(p, e)| (p, Some(e))).collect(),
        }
    }
}

impl PartialEq for StatCache {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for StatCache {}

impl fmt::Debug for StatCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatCache")
            .field("loaded", &self.base.offsets.len())
            .field("changed", &self.delta.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use helios_types::{EntryKind, Hash, RepoPath};
    use proptest::prelude::*;

    use super::*;
    use crate::state::{FileStat, WorkdirState};

    fn entry(seed: u8) -> StatEntry {
        StatEntry {
            kind: EntryKind::File,
            stat: FileStat {
                mode: 0o100644,
                size: u64::from(seed),
                mtime_ns: 1,
                ctime_ns: 2,
                ino: 3,
                dev: 4,
            },
            recorded_ns: 5,
            hash: Hash::from_bytes([seed; 32]),
        }
    }

    /// A cache loaded from a snapshot holding `map`, as a fresh process
    /// loads it.
    fn loaded(map: &BTreeMap<Vec<u8>, StatEntry>) -> StatCache {
        let mut state = WorkdirState::default();
        for (path, e) in map {
            state.put(path.clone(), *e);
        }
        let (state, _) = WorkdirState::decode(state.encode(1)).unwrap();
        state.cache().clone()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Vec<u8>, u8),
        Remove(Vec<u8>),
        RemovePrefix(Vec<u8>),
    }

    fn path() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'/')], 1..5)
    }

    proptest! {
        /// Loaded, then changed, the cache answers as a plain map would.
        #[test]
        fn behaves_as_a_map_over_its_loaded_entries(
            start in proptest::collection::btree_map(path(), any::<u8>(), 0..20),
            ops in proptest::collection::vec(prop_oneof![
                (path(), any::<u8>()).prop_map(|(p, s)| Op::Insert(p, s)),
                path().prop_map(Op::Remove),
                path().prop_map(Op::RemovePrefix),
            ], 0..20),
        ) {
            let mut model: BTreeMap<Vec<u8>, StatEntry> =
                start.into_iter().map(|(p, s)| (p, entry(s))).collect();
            let mut cache = loaded(&model);
            for op in ops {
                match op {
                    Op::Insert(p, s) => {
                        cache.insert(p.clone(), entry(s));
                        model.insert(p, entry(s));
                    }
                    Op::Remove(p) => {
                        prop_assert_eq!(cache.remove(&p), model.remove(&p).is_some());
                    }
                    Op::RemovePrefix(prefix) => {
                        let expected: Vec<Vec<u8>> = model
                            .keys()
                            .filter(|k| k.starts_with(&prefix))
                            .cloned()
                            .collect();
                        prop_assert_eq!(cache.paths_with_prefix(&prefix), expected);
                    }
                }
                let all: Vec<(Vec<u8>, StatEntry)> =
                    cache.iter().map(|(p, e)| (p.to_vec(), e)).collect();
                let want: Vec<(Vec<u8>, StatEntry)> = model.clone().into_iter().collect();
                prop_assert_eq!(all, want);
                for (p, e) in &model {
                    prop_assert_eq!(cache.get(p), Some(*e));
                }
                prop_assert_eq!(&loaded(&model), &cache, "equal to a fresh load");
            }
        }
    }

    proptest! {
        /// A scan's update, applied, leaves exactly the entries the scan
        /// found within what it walked (everything, or one path and what
        /// lies beneath it), and every other entry as it was; whether the
        /// old entries were loaded or changed since, and whether many
        /// changes fold into the loaded ones or not.
        #[test]
        fn an_update_leaves_what_the_scan_found(
            loaded_entries in proptest::collection::btree_map(path(), any::<u8>(), 0..20),
            changes in proptest::collection::btree_map(path(), proptest::option::of(any::<u8>()), 0..8),
            found in proptest::collection::btree_map(path(), any::<u8>(), 0..20),
            within in proptest::option::of(path()),
            padding in 0..2usize,
        ) {
            let mut model: BTreeMap<Vec<u8>, StatEntry> =
                loaded_entries.into_iter().map(|(p, s)| (p, entry(s))).collect();
            // Enough changes to fold, sometimes.
            let padding: Vec<Vec<u8>> = (0..padding * (FOLD_CHANGES_MIN + 1))
                .map(|i| format!("pad/{i:05}").into_bytes())
                .collect();
            for p in &padding {
                model.insert(p.clone(), entry(0));
            }
            let mut state = WorkdirState::default();
            for (p, e) in &model {
                state.put(p.clone(), *e);
            }
            let (mut state, _) = WorkdirState::decode(state.encode(1)).unwrap();
            for (p, change) in changes {
                match change {
                    Some(s) => {
                        state.put(p.clone(), entry(s));
                        model.insert(p, entry(s));
                    }
                    None => {
                        state.forget(&p);
                        let beneath = [p.as_slice(), b"/"].concat();
                        model.retain(|k, _| *k != p && !k.starts_with(&beneath));
                    }
                }
            }
            let in_scope = |k: &[u8]| match &within {
                None => !k.starts_with(b"pad/"),
                Some(w) => k == w.as_slice() || k.starts_with(&[w.as_slice(), b"/"].concat()),
            };
            let found: BTreeMap<Vec<u8>, StatEntry> = found
                .into_iter()
                .filter(|(p, _)| in_scope(p))
                .map(|(p, s)| (p, entry(s)))
                .collect();
            // The padding is met unchanged, as a scan meets unchanged files.
            let mut update = CacheUpdate::default();
            let met_too = padding.iter().filter(|_| within.is_none()).map(|p| (p.clone(), entry(0)));
            for (p, e) in found.clone().into_iter().chain(met_too) {
                update.found(&p, e, state.cache().lookup(&p));
            }
            let walked = within.as_ref().map(RepoPath::parse);
            match walked {
                // A path the scan could not have been given.
                Some(Err(_)) => return Ok(()),
                Some(Ok(w)) => {
                    prop_assume!(w.to_bytes() == *within.as_ref().unwrap());
                    state.update_cache(update, Some(&[w]));
                }
                None => state.update_cache(update, None),
            }
            model.retain(|k, _| !in_scope(k));
            model.extend(found);
            let all: BTreeMap<Vec<u8>, StatEntry> =
                state.cache().iter().map(|(p, e)| (p.to_vec(), e)).collect();
            prop_assert_eq!(all, model);
        }
    }

    proptest! {
        /// Looking up paths beneath a directory in increasing order, each
        /// search starting where the last ended, finds what a lookup in the
        /// whole cache finds.
        #[test]
        fn lookups_within_a_directory_find_what_lookups_find(
            start in proptest::collection::btree_map(path(), any::<u8>(), 0..30),
            changes in proptest::collection::btree_map(path(), proptest::option::of(any::<u8>()), 0..4),
            dir in proptest::option::of(path()),
            names in proptest::collection::btree_set(path(), 0..12),
        ) {
            let mut cache = loaded(&start.into_iter().map(|(p, s)| (p, entry(s))).collect());
            for (p, change) in changes {
                match change {
                    Some(s) => cache.insert(p, entry(s)),
                    None => {
                        cache.remove(&p);
                    }
                }
            }
            let prefix = dir.map(|d| [d.as_slice(), b"/"].concat()).unwrap_or_default();
            let span = Cell::new(cache.span(&prefix));
            let mut queries: Vec<Vec<u8>> =
                names.into_iter().map(|n| [prefix.as_slice(), &n].concat()).collect();
            queries.sort();
            for q in queries {
                let within = cache.lookup_in(&span, &q).map(|(e, _)| e);
                prop_assert_eq!(within, cache.get(&q), "{:?}", q);
            }
        }
    }

    #[test]
    fn entries_out_of_order_are_refused() {
        let mut state = WorkdirState::default();
        state.put(b"a".to_vec(), entry(1));
        state.put(b"b".to_vec(), entry(2));
        let mut bytes = state.encode(1);
        // Swap the one-byte paths: "b" then "a". The checksum is redone so
        // only the order is wrong.
        let a = bytes.iter().position(|&b| b == b'a').unwrap();
        let b = bytes.iter().rposition(|&b| b == b'b').unwrap();
        bytes.swap(a, b);
        let body = bytes.len() - 32;
        let sum = helios_types::HashAlgorithm::Blake3.digest(&bytes[..body]);
        bytes[body..].copy_from_slice(sum.as_bytes());
        assert_eq!(
            WorkdirState::decode(bytes).map(|_| ()),
            Err("paths out of order or repeated")
        );
    }
}
