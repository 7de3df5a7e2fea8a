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

use std::collections::BTreeMap;
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
        let (mut lo, mut hi) = (0, self.offsets.len());
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

    /// A cache of `entries`, sorted by path with no path twice (a scan's
    /// finds), encoded as a loaded snapshot is: one pass, one allocation,
    /// instead of a map of 100,000 keys.
    pub(crate) fn from_sorted(entries: &[(Vec<u8>, StatEntry)]) -> StatCache {
        let len = entries
            .iter()
            .map(|(path, _)| 4 + path.len() + ENTRY_FIXED_LEN)
            .sum();
        let mut bytes = Vec::with_capacity(len);
        for (path, entry) in entries {
            encode_entry(&mut bytes, path, entry);
        }
        match StatCache::from_encoded(bytes, 0, entries.len() as u64) {
            Ok((cache, _)) => cache,
            // Unsorted or repeated paths: a bug of the caller's. Correct,
            // only slower, through the map.
            Err(_) => {
                debug_assert!(false, "stat cache entries out of order");
                StatCache::from(entries.iter().cloned().collect::<BTreeMap<_, _>>())
            }
        }
    }

    /// The entry recorded for the leaf at `path`.
    pub fn get(&self, path: &[u8]) -> Option<StatEntry> {
        if let Some(changed) = self.delta.get(path) {
            return *changed;
        }
        self.base.find(path).ok().and_then(|i| self.base.entry(i))
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
    use helios_types::{EntryKind, Hash};
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
