//! One shard's arena: a fixed-size byte ring of records plus the index from
//! hash to record. No locking here; [`crate::cache`] puts each ring behind
//! its own lock.
//!
//! # Layout
//!
//! Positions are logical byte offsets that only grow (`u64`); the physical
//! offset is `pos % cap`. The live window is `[head, tail)` with
//! `tail - head <= cap`. A record is a 40-byte header — the object's full
//! hash, the stored length and the raw length, little-endian `u32`s — and
//! then the stored payload (LZ4 block when `stored < raw`, the raw bytes
//! when `stored == raw`). A record never straddles the physical end of the
//! buffer: when it would, the rest of the buffer is skipped as padding,
//! marked by a header whose stored length is [`PAD`] (or left unmarked
//! when fewer than 40 bytes remain, since no record fits there).
//!
//! The ring is self-describing, so eviction reads the header at `head` to
//! learn which object it is. A record is *live* when the index maps its
//! hash to its start position; removed or superseded records stay in the
//! ring as dead bytes until the head passes them.
//!
//! # Invariants (checked by `check_invariants` in tests)
//!
//! 1. `tail - head <= cap`: the arena never holds more than its capacity.
//! 2. Every index entry points at a record inside `[head, tail)` whose
//!    header names the same hash and lengths.
//! 3. `stored_bytes` and `raw_bytes` are exactly the sums of the live
//!    entries' stored and raw lengths.

use std::collections::{HashMap, TryReserveError};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};

use helios_types::{HASH_LEN, Hash};

use crate::config::EvictionPolicy;

/// Bytes of record header in front of every payload.
pub(crate) const HEADER_LEN: usize = HASH_LEN + 8;

/// Stored-length marker of a padding header.
const PAD: u32 = u32::MAX;

/// Where a live object sits and how it is stored.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Logical position of the record header.
    start: u64,
    /// Payload length in the ring.
    stored: u32,
    /// Length of the object as put.
    raw: u32,
    /// Set by reads; cleared when the record is given its second chance.
    referenced: AtomicBool,
}

/// A hasher for keys that are already uniformly distributed digests: it
/// takes eight bytes of the digest instead of running SipHash over 32.
#[derive(Default, Clone, Copy)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        if let Some(word) = bytes.get(8..16) {
            // Bytes 8..16: bytes 0..8 already chose the shard.
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.0 ^= u64::from_le_bytes(w);
        } else {
            for &b in bytes {
                self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
            }
        }
    }

    fn write_usize(&mut self, _len: usize) {
        // The only usize a `Hash` feeds is its constant length prefix.
    }

    fn finish(&self) -> u64 {
        // Keys are caller-supplied in tests (e.g. `[i; 32]`); a final mix
        // keeps the table's tag and bucket bits spread for those too.
        let x = self.0 ^ (self.0 >> 29);
        x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 32)
    }
}

type Index = HashMap<Hash, Slot, BuildHasherDefault<DigestHasher>>;

/// What a read of one entry found.
pub(crate) enum Read {
    /// The object's bytes, exactly as put.
    Hit(Vec<u8>),
    /// Not held.
    Miss,
    /// Held, but the record failed its header or length check; the caller
    /// must drop the entry (a bug or a poisoned shard, never expected).
    Damaged,
}

/// Result of placing a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// Written; `evicted` live entries left to make room.
    New {
        /// Live entries evicted.
        evicted: u64,
    },
    /// The hash was already held; its reference bit is now set.
    Present,
}

/// One shard's ring and index.
#[derive(Debug)]
pub(crate) struct Ring {
    buf: Vec<u8>,
    cap: u64,
    head: u64,
    tail: u64,
    index: Index,
    stored_bytes: u64,
    raw_bytes: u64,
    policy: EvictionPolicy,
}

fn widen(n: usize) -> u64 {
    // usize is at most 64 bits on every supported target.
    n as u64
}

impl Ring {
    /// An empty ring of `cap` bytes, or the allocator's refusal. The
    /// buffer's capacity is reserved here, in one allocation that is never
    /// moved, but its length grows only as records are written (see
    /// [`Ring::span_mut`]): the kernel commits pages as the ring fills, and
    /// an absurd capacity is a returned error rather than an abort.
    pub(crate) fn new(cap: usize, policy: EvictionPolicy) -> Result<Self, TryReserveError> {
        assert!(
            cap >= 2 * HEADER_LEN,
            "ring capacity {cap} below two headers"
        );
        let mut buf = Vec::new();
        buf.try_reserve_exact(cap)?;
        Ok(Ring {
            buf,
            cap: widen(cap),
            head: 0,
            tail: 0,
            index: Index::default(),
            stored_bytes: 0,
            raw_bytes: 0,
            policy,
        })
    }

    /// The buffer bytes at physical offsets `p..p + n`, for writing. Bytes
    /// past the buffer's length are zero-filled first: that stays within
    /// the capacity reserved by [`Ring::new`] (`p + n <= cap`), so the
    /// buffer is never reallocated and never grows past `cap`.
    fn span_mut(&mut self, p: usize, n: usize) -> &mut [u8] {
        let end = p + n;
        debug_assert!(widen(end) <= self.cap, "write past the ring's end");
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        &mut self.buf[p..end]
    }

    fn phys(&self, pos: u64) -> usize {
        // `pos % cap < cap <= buf.len()`, so the value fits usize.
        usize::try_from(pos % self.cap).unwrap_or(usize::MAX)
    }

    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Sum of the stored payload lengths of live entries.
    pub(crate) fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// Sum of the raw lengths of live entries.
    pub(crate) fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Bytes of the ring in use: live and dead records, headers, padding.
    pub(crate) fn used(&self) -> u64 {
        self.tail - self.head
    }

    /// Whether `hash` is held; a hit sets the reference bit when `touch`.
    pub(crate) fn contains(&self, hash: &Hash, touch: bool) -> bool {
        match self.index.get(hash) {
            Some(slot) => {
                if touch {
                    mark(slot);
                }
                true
            }
            None => false,
        }
    }

    /// `(stored, raw)` lengths of a held entry.
    pub(crate) fn lengths(&self, hash: &Hash) -> Option<(u32, u32)> {
        self.index.get(hash).map(|s| (s.stored, s.raw))
    }

    /// Reads an entry: checks the record header against the index, then
    /// copies or decompresses the payload and checks its length.
    pub(crate) fn read(&self, hash: &Hash) -> Read {
        let Some(slot) = self.index.get(hash) else {
            return Read::Miss;
        };
        mark(slot);
        let p = self.phys(slot.start);
        let (stored, raw) = (slot.stored as usize, slot.raw as usize);
        let Some(record) = self.buf.get(p..p + HEADER_LEN + stored) else {
            return Read::Damaged;
        };
        let (header, payload) = record.split_at(HEADER_LEN);
        if parse_header(header) != (*hash, slot.stored, slot.raw) {
            return Read::Damaged;
        }
        if stored == raw {
            return Read::Hit(payload.to_vec());
        }
        let mut out = vec![0; raw];
        match lz4_flex::block::decompress_into(payload, &mut out) {
            Ok(n) if n == raw => Read::Hit(out),
            _ => Read::Damaged,
        }
    }

    /// Places a record for `hash` with `payload` (compressed when shorter
    /// than `raw_len`), evicting from the head as needed. The caller has
    /// checked that `HEADER_LEN + payload.len() <= cap`.
    pub(crate) fn insert(&mut self, hash: Hash, payload: &[u8], raw_len: u32) -> Placed {
        if self.contains(&hash, true) {
            return Placed::Present;
        }
        let stored = u32::try_from(payload.len()).unwrap_or(PAD);
        debug_assert!(stored != PAD && stored <= raw_len);
        let need = widen(HEADER_LEN + payload.len());
        assert!(
            need <= self.cap,
            "record of {need} bytes in a ring of {}",
            self.cap
        );
        let mut evicted = 0;
        let start = loop {
            if let Some(start) = self.reserve(need) {
                break start;
            }
            evicted += self.pop_head();
        };
        let p = self.phys(start);
        let record = self.span_mut(p, HEADER_LEN + payload.len());
        let (header, body) = record.split_at_mut(HEADER_LEN);
        write_header(header, &hash, stored, raw_len);
        body.copy_from_slice(payload);
        let slot = Slot {
            start,
            stored,
            raw: raw_len,
            referenced: AtomicBool::new(false),
        };
        self.index.insert(hash, slot);
        self.stored_bytes += u64::from(stored);
        self.raw_bytes += u64::from(raw_len);
        Placed::New { evicted }
    }

    /// Drops an entry; its bytes become dead until the head passes them.
    pub(crate) fn remove(&mut self, hash: &Hash) -> bool {
        match self.index.remove(hash) {
            Some(slot) => {
                self.stored_bytes -= u64::from(slot.stored);
                self.raw_bytes -= u64::from(slot.raw);
                true
            }
            None => false,
        }
    }

    /// Drops every entry and empties the ring.
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.head = self.tail;
        self.stored_bytes = 0;
        self.raw_bytes = 0;
    }

    /// Claims `need` contiguous bytes at the tail, padding to the physical
    /// end first when the record would straddle it. `None` when the free
    /// space is short (the caller pops the head and retries).
    fn reserve(&mut self, need: u64) -> Option<u64> {
        if self.head == self.tail {
            // Empty: restart at a physical offset of zero, so that any
            // record up to the capacity fits without padding.
            let aligned = self.tail.next_multiple_of(self.cap);
            self.head = aligned;
            self.tail = aligned;
        }
        let to_end = self.cap - self.tail % self.cap;
        let pad = if to_end < need { to_end } else { 0 };
        let free = self.cap - (self.tail - self.head);
        if free < pad + need {
            return None;
        }
        if pad >= widen(HEADER_LEN) {
            let p = self.phys(self.tail);
            write_header(
                self.span_mut(p, HEADER_LEN),
                &Hash::from_bytes([0; HASH_LEN]),
                PAD,
                0,
            );
        }
        self.tail += pad;
        let start = self.tail;
        self.tail += need;
        Some(start)
    }

    /// Retires the record at the head: skips padding and dead records,
    /// moves a referenced live record to the tail (second chance), or
    /// evicts it. Returns the number of live entries evicted (0 or 1).
    fn pop_head(&mut self) -> u64 {
        debug_assert!(self.head < self.tail, "pop from an empty ring");
        let p = self.phys(self.head);
        let to_end = self.cap - widen(p);
        if to_end < widen(HEADER_LEN) {
            self.head += to_end;
            return 0;
        }
        // Every position the head reaches was written as a record or a
        // padding header; an unreadable one is skipped like padding.
        let Some(header) = self.buf.get(p..p + HEADER_LEN) else {
            self.head += to_end;
            return 0;
        };
        let (hash, stored, _raw) = parse_header(header);
        if stored == PAD {
            self.head += to_end;
            return 0;
        }
        let start = self.head;
        let len = widen(HEADER_LEN) + u64::from(stored);
        self.head += len;
        let referenced = match self.index.get(&hash) {
            Some(slot) if slot.start == start => slot.referenced.swap(false, Ordering::Relaxed),
            _ => return 0, // dead record
        };
        if referenced
            && self.policy == EvictionPolicy::SecondChance
            && let Some(dst) = self.reserve(len)
        {
            // Source and destination may overlap: `copy_within` is a
            // memmove. The padding header `reserve` may have written
            // lies before the destination and, because the free space
            // covered padding plus record, after the source's end.
            let (src, to) = (p, self.phys(dst));
            let n = HEADER_LEN + stored as usize;
            self.span_mut(to, n);
            self.buf.copy_within(src..src + n, to);
            if let Some(slot) = self.index.get_mut(&hash) {
                slot.start = dst;
            }
            return 0;
        }
        if let Some(slot) = self.index.remove(&hash) {
            self.stored_bytes -= u64::from(slot.stored);
            self.raw_bytes -= u64::from(slot.raw);
        }
        1
    }

    /// Checks the module's invariants; panics naming the broken one.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        assert!(self.tail - self.head <= self.cap, "window above capacity");
        let (mut stored, mut raw) = (0u64, 0u64);
        for (hash, slot) in &self.index {
            assert!(
                slot.start >= self.head && slot.start < self.tail,
                "entry outside window"
            );
            let end = slot.start + widen(HEADER_LEN) + u64::from(slot.stored);
            assert!(end <= self.tail, "entry runs past tail");
            let p = self.phys(slot.start);
            assert!(
                p + HEADER_LEN + slot.stored as usize <= self.buf.len(),
                "entry straddles end"
            );
            assert_eq!(
                parse_header(&self.buf[p..p + HEADER_LEN]),
                (*hash, slot.stored, slot.raw)
            );
            stored += u64::from(slot.stored);
            raw += u64::from(slot.raw);
        }
        assert_eq!(stored, self.stored_bytes, "stored byte count drifted");
        assert_eq!(raw, self.raw_bytes, "raw byte count drifted");
    }
}

fn mark(slot: &Slot) {
    // Load first: a hot entry's bit is already set, and skipping the store
    // keeps its cache line shared between reading cores.
    if !slot.referenced.load(Ordering::Relaxed) {
        slot.referenced.store(true, Ordering::Relaxed);
    }
}

fn write_header(out: &mut [u8], hash: &Hash, stored: u32, raw: u32) {
    out[..HASH_LEN].copy_from_slice(hash.as_bytes());
    out[HASH_LEN..HASH_LEN + 4].copy_from_slice(&stored.to_le_bytes());
    out[HASH_LEN + 4..HEADER_LEN].copy_from_slice(&raw.to_le_bytes());
}

fn parse_header(h: &[u8]) -> (Hash, u32, u32) {
    let mut hash = [0u8; HASH_LEN];
    hash.copy_from_slice(&h[..HASH_LEN]);
    let mut stored = [0u8; 4];
    stored.copy_from_slice(&h[HASH_LEN..HASH_LEN + 4]);
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&h[HASH_LEN + 4..HEADER_LEN]);
    (
        Hash::from_bytes(hash),
        u32::from_le_bytes(stored),
        u32::from_le_bytes(raw),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> Hash {
        let mut b = [0u8; HASH_LEN];
        b[..4].copy_from_slice(&i.to_le_bytes());
        b[8..12].copy_from_slice(&i.to_le_bytes());
        Hash::from_bytes(b)
    }

    fn payload(i: u32, len: usize) -> Vec<u8> {
        (0..len)
            .map(|j| (i as usize * 31 + j * 7).to_le_bytes()[0])
            .collect()
    }

    fn put(r: &mut Ring, i: u32, len: usize) -> Placed {
        let p = payload(i, len);
        r.insert(key(i), &p, u32::try_from(len).unwrap())
    }

    fn hit(r: &Ring, i: u32) -> Option<Vec<u8>> {
        match r.read(&key(i)) {
            Read::Hit(b) => Some(b),
            Read::Miss => None,
            Read::Damaged => panic!("damaged record for {i}"),
        }
    }

    #[test]
    fn fifo_evicts_exactly_the_oldest_when_full() {
        let rec = HEADER_LEN + 100;
        let mut r = Ring::new(rec * 10, EvictionPolicy::Fifo).unwrap();
        for i in 0..10 {
            assert_eq!(put(&mut r, i, 100), Placed::New { evicted: 0 });
        }
        assert_eq!(r.used(), r.cap, "ten records fill the ring exactly");
        assert_eq!(put(&mut r, 10, 100), Placed::New { evicted: 1 });
        assert_eq!(hit(&r, 0), None);
        for i in 1..=10 {
            assert_eq!(hit(&r, i), Some(payload(i, 100)));
        }
        r.check_invariants();
    }

    #[test]
    fn second_chance_keeps_a_read_entry_and_evicts_the_next() {
        let rec = HEADER_LEN + 100;
        let mut r = Ring::new(rec * 10, EvictionPolicy::SecondChance).unwrap();
        for i in 0..10 {
            put(&mut r, i, 100);
        }
        assert!(hit(&r, 0).is_some());
        assert_eq!(put(&mut r, 10, 100), Placed::New { evicted: 1 });
        assert_eq!(
            hit(&r, 0),
            Some(payload(0, 100)),
            "referenced entry moved, not evicted"
        );
        assert_eq!(hit(&r, 1), None, "next oldest evicted instead");
        r.check_invariants();
    }

    #[test]
    fn wrap_pads_and_never_straddles_the_end() {
        let mut r = Ring::new(1000, EvictionPolicy::SecondChance).unwrap();
        for i in 0..200u32 {
            let len = 37 + (i as usize * 53) % 300;
            put(&mut r, i, len);
            if i % 3 == 0 {
                hit(&r, i / 2);
            }
            r.check_invariants();
            assert_eq!(hit(&r, i), Some(payload(i, len)), "newest entry readable");
        }
    }

    #[test]
    fn remove_and_clear_keep_counts_exact() {
        let mut r = Ring::new(4096, EvictionPolicy::Fifo).unwrap();
        put(&mut r, 1, 10);
        put(&mut r, 2, 20);
        assert_eq!((r.stored_bytes(), r.raw_bytes(), r.len()), (30, 30, 2));
        assert!(r.remove(&key(1)));
        assert!(!r.remove(&key(1)));
        assert_eq!((r.stored_bytes(), r.len()), (20, 1));
        assert_eq!(
            r.used(),
            2 * (HEADER_LEN as u64) + 30,
            "dead bytes stay until the head passes"
        );
        r.clear();
        assert_eq!(
            (r.stored_bytes(), r.raw_bytes(), r.len(), r.used()),
            (0, 0, 0, 0)
        );
        r.check_invariants();
    }

    #[test]
    fn a_record_of_the_whole_capacity_fits_after_any_wrap() {
        let cap = 512;
        let mut r = Ring::new(cap, EvictionPolicy::Fifo).unwrap();
        put(&mut r, 1, 100);
        assert_eq!(put(&mut r, 2, cap - HEADER_LEN), Placed::New { evicted: 1 });
        assert_eq!(hit(&r, 2), Some(payload(2, cap - HEADER_LEN)));
        r.check_invariants();
    }

    #[test]
    fn an_unaddressable_capacity_is_an_error_not_an_abort() {
        // Half the 64-bit space: beyond any address space, so no allocator
        // grants it, whatever the overcommit policy.
        assert!(Ring::new(usize::MAX / 2, EvictionPolicy::Fifo).is_err());
    }

    #[test]
    fn the_buffer_is_written_lazily_and_never_reallocated() {
        let cap = 64 << 10;
        let mut r = Ring::new(cap, EvictionPolicy::SecondChance).unwrap();
        assert_eq!(r.buf.len(), 0, "nothing is zero-filled up front");
        assert!(r.buf.capacity() >= cap);
        let base = r.buf.as_ptr();
        put(&mut r, 0, 1000);
        assert_eq!(
            r.buf.len() as u64,
            r.used(),
            "only written bytes are touched"
        );
        for i in 1..500u32 {
            put(&mut r, i, 100 + (i as usize * 97) % 3000);
            if i % 4 == 0 {
                hit(&r, i / 2);
            }
            assert!(r.buf.len() <= cap);
        }
        assert_eq!(r.buf.as_ptr(), base, "the arena never moved");
        r.check_invariants();
    }

    #[test]
    fn an_index_entry_is_the_56_bytes_the_docs_quote() {
        // `L1Config::capacity` and the crate docs give the index's cost
        // outside the bound from this size (plus a control byte a bucket).
        assert_eq!(std::mem::size_of::<(Hash, Slot)>(), 56);
        // And the most entries a ring can hold: one header each.
        let mut r = Ring::new(400, EvictionPolicy::Fifo).unwrap();
        for i in 0..25 {
            put(&mut r, i, 0);
        }
        assert_eq!(
            r.len(),
            400 / HEADER_LEN,
            "empty objects fill the ring by headers"
        );
        r.check_invariants();
    }

    #[test]
    fn digest_hasher_spreads_sequential_keys() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<DigestHasher>::default();
        let hashes: std::collections::HashSet<u64> = (0..=255u8)
            .map(|i| b.hash_one(Hash::from_bytes([i; 32])) >> 57)
            .collect();
        assert!(hashes.len() > 64, "top bits vary: {}", hashes.len());
    }
}
