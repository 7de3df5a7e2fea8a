//! Seeded generators of code-like workspaces and a latency recorder: the
//! one home of the workload every Helios measurement and test generates.
//!
//! - [`SplitMix64`], a small deterministic generator, so a workload (and a
//!   search's random choices) is the same on every run and machine for one
//!   seed, without a dependency;
//! - [`source_like`] (compressible, code-like bytes), [`noise`]
//!   (incompressible bytes) and [`source_paths`] (a source tree's layout);
//! - [`Latency`], per-operation percentiles (criterion reports per-sample
//!   means, which hide tails).
//!
//! The crate depends on no other crate, so the shipped `helios` binary
//! (`helios bench`), the search, the benches and any layer's tests can use
//! it without reaching above themselves. It does no I/O and prints nothing:
//! the benches' reporting and real-source corpus stay in `helios-benches`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::time::{Duration, Instant};

/// Latency distribution of one operation.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Operations sampled.
    pub samples: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest sample.
    pub max: Duration,
}

impl Latency {
    /// Summarises individual operation timings (nearest-rank percentiles).
    pub fn from_samples(mut samples: Vec<Duration>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        // Nearest rank for a quantile in per mille, in integers.
        let rank = |permille: usize| {
            let idx = (samples.len() * permille)
                .div_ceil(1000)
                .clamp(1, samples.len())
                - 1;
            samples[idx]
        };
        Latency {
            samples: samples.len(),
            p50: rank(500),
            p90: rank(900),
            p99: rank(990),
            max: samples[samples.len() - 1],
        }
    }

    /// Times `op` once per call, `n` times after `n / 10` warm-up calls.
    pub fn measure(n: usize, mut op: impl FnMut()) -> Self {
        for _ in 0..n / 10 {
            op();
        }
        let samples = (0..n)
            .map(|_| {
                let start = Instant::now();
                op();
                start.elapsed()
            })
            .collect();
        Self::from_samples(samples)
    }

    /// One report line: `name  P50 .. P99 .. max ..`.
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<48} P50 {:>10.2?}  P90 {:>10.2?}  P99 {:>10.2?}  max {:>10.2?}  (n={})",
            self.p50, self.p90, self.p99, self.max, self.samples
        )
    }
}

/// A small deterministic PRNG (SplitMix64): fast and statistically sound
/// for simulation, never for secrets.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

/// SplitMix64's increment, the golden ratio in 64 bits.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    /// Seeds the generator: `seed` is its state.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Seeds the generator with `seed ^ 0x9E37_79B9_7F4A_7C15`: how the
    /// search and the demo seed it, so that one seed names one search and
    /// one demo workspace (their sequences differ from [`new`](Self::new)'s
    /// for the same seed).
    pub fn mixed(seed: u64) -> Self {
        SplitMix64(seed ^ GAMMA)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` for `n = 0`), by remainder: one draw, with a
    /// relative bias of at most `n / 2⁶⁴` (nothing, for generated data).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An index in `0..len` by remainder, as [`below`](Self::below).
    pub fn index(&mut self, len: usize) -> usize {
        // The remainder is below `len`, so it fits a usize.
        usize::try_from(self.below(len as u64)).unwrap_or(0)
    }

    /// Uniform in `0..n` (`n > 0`), by rejection so there is no bias: for
    /// the choices of a search, whose statistics must not lean.
    pub fn uniform(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                // x % n < n, and n came from a usize.
                return usize::try_from(x % n).unwrap_or(0);
            }
        }
    }

    /// Fisher–Yates shuffle, with [`uniform`](Self::uniform) choices.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.uniform(i + 1);
            v.swap(i, j);
        }
    }
}

/// Source-like file contents of about `len` bytes: repetitive identifiers
/// and keywords, as code is, so compression ratios are realistic.
pub fn source_like(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "fn", "let", "mut", "self", "return", "match", "impl", "pub", "struct", "use", "if",
        "else", "for", "in", "while", "Some", "None", "Ok", "Err", "value", "index", "buffer",
        "result", "config", "state", "node", "tree", "hash", "{", "}", "(", ")", ";", "=", "->",
        "&", "0", "1",
    ];
    let mut out = Vec::with_capacity(len + 16);
    let mut col = 0;
    while out.len() < len {
        let w = WORDS[rng.index(WORDS.len())];
        out.extend_from_slice(w.as_bytes());
        col += w.len() + 1;
        if col > 60 {
            out.push(b'\n');
            col = 0;
        } else {
            out.push(b' ');
        }
    }
    out.truncate(len);
    out
}

/// `len` bytes of raw generator output: incompressible, like binaries and
/// already-compressed files.
pub fn noise(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Paths of a source-like layout with `files` files: directories about
/// four deep, a few dozen entries each, e.g. `m00/d03/s17/f012.rs`.
pub fn source_paths(files: usize) -> Vec<String> {
    const FANOUT: usize = 24;
    (0..files)
        .map(|i| {
            let f = i % FANOUT;
            let d1 = (i / FANOUT) % FANOUT;
            let d2 = (i / FANOUT / FANOUT) % FANOUT;
            let d3 = i / FANOUT / FANOUT / FANOUT;
            format!("m{d3:02}/d{d2:02}/s{d1:02}/f{f:03}.rs")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples = (1..=100).map(Duration::from_micros).collect();
        let l = Latency::from_samples(samples);
        assert_eq!(l.p50, Duration::from_micros(50));
        assert_eq!(l.p99, Duration::from_micros(99));
        assert_eq!(l.max, Duration::from_micros(100));
        assert!(l.line("x").contains("P99"));
    }

    #[test]
    fn generators_are_deterministic_and_paths_unique() {
        let a = source_like(&mut SplitMix64::new(1), 4096);
        let b = source_like(&mut SplitMix64::new(1), 4096);
        assert_eq!(a, b);
        assert_eq!(a.len(), 4096);
        let paths = source_paths(20_000);
        let unique: std::collections::HashSet<_> = paths.iter().collect();
        assert_eq!(unique.len(), paths.len());
    }

    #[test]
    fn noise_is_deterministic_and_of_the_length_asked() {
        let a = noise(&mut SplitMix64::new(3), 1001);
        assert_eq!(a, noise(&mut SplitMix64::new(3), 1001));
        assert_eq!(a.len(), 1001);
        let distinct: std::collections::HashSet<u8> = a.iter().copied().collect();
        assert!(
            distinct.len() > 200,
            "spread over byte values: {}",
            distinct.len()
        );
    }

    #[test]
    fn seeded_and_in_range() {
        let (mut a, mut b) = (SplitMix64::mixed(7), SplitMix64::mixed(7));
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(
            SplitMix64::mixed(7).next_u64(),
            SplitMix64::mixed(8).next_u64()
        );
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            seen[a.uniform(5)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
    }
}
