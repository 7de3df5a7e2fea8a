//! Shared pieces of the benchmarks: per-operation latency sampling with
//! P50/P99 (criterion reports per-sample means, which hide tails), and the
//! workload generators every layer's bench uses, so all of them measure the
//! same kind of data.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use helios_types::RepoPath;
use helios_vst::{Edit, Vst};

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

/// Prints a latency line to stderr so that it shows beside criterion's
/// output and in `cargo xtask bench`'s report.
pub fn report(name: &str, latency: Latency) {
    #[allow(clippy::print_stderr, reason = "benchmark report")]
    {
        eprintln!("latency: {}", latency.line(name));
    }
}

/// Prints one free-form report line (sizes, throughput) to stderr beside
/// the latency lines.
pub fn note(line: &str) {
    #[allow(clippy::print_stderr, reason = "benchmark report")]
    {
        eprintln!("note: {line}");
    }
}

/// Prints a check of a measured figure against its target, as a `note:`
/// line that starts with PASS or FAIL, so a report can be grepped for
/// misses.
pub fn target(what: &str, met: bool, measured: &str) {
    let verdict = if met { "PASS" } else { "FAIL" };
    note(&format!("{verdict} target {what}: measured {measured}"));
}

/// A small deterministic PRNG (SplitMix64) so generated workloads are the
/// same on every run and machine without a dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An index in `0..len`.
    pub fn index(&mut self, len: usize) -> usize {
        // The remainder is below `len`, so it fits a usize.
        usize::try_from(self.below(len as u64)).unwrap_or(0)
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

/// Sizes of the real source files [`registry_sources`] samples: 1 to 64
/// KiB, the range most source files fall in (smaller ones are mostly
/// `mod` lists, larger ones mostly generated tables).
pub const SOURCE_FILE_SIZES: RangeInclusive<u64> = 1024..=65536;

/// Source files for benchmarks that need real text, and where they came
/// from.
#[derive(Debug, Clone)]
pub struct SourceCorpus {
    /// File contents, in the order of their sorted paths.
    pub files: Vec<Vec<u8>>,
    /// Where the files came from, for the report.
    pub origin: String,
    /// False when the synthetic fallback was used.
    pub real: bool,
}

impl SourceCorpus {
    /// Total bytes of the files.
    pub fn bytes(&self) -> usize {
        self.files.iter().map(Vec::len).sum()
    }
}

/// Every `.rs` file under `dir`, recursively, sorted by path. Unreadable
/// directories are skipped and symbolic links are not followed.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                walk(&path, out);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// The Cargo registry's unpacked crate sources: `$CARGO_HOME/registry/src`,
/// `CARGO_HOME` defaulting to `~/.cargo`. Present on any machine that
/// built this workspace from crates.io.
fn registry_src() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    Some(home.join("registry").join("src"))
}

/// Fewest eligible registry files for the registry to be used at all.
const MIN_REGISTRY_FILES: usize = 100;

/// Up to `max` real Rust source files of [`SOURCE_FILE_SIZES`] from the
/// Cargo registry's unpacked crates, spread evenly over the sorted list of
/// eligible paths so that no one crate dominates: the same registry gives
/// the same sample on every run. When the registry is missing or holds
/// fewer than 100 such files, `max` synthetic files of 1 to 16 KiB from
/// [`source_like`] instead (deterministic; `real` is false and `origin`
/// says so).
pub fn registry_sources(max: usize) -> SourceCorpus {
    let eligible: Vec<PathBuf> = registry_src()
        .map(|dir| rust_files(&dir))
        .unwrap_or_default()
        .into_iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| SOURCE_FILE_SIZES.contains(&m.len())))
        .collect();
    if eligible.len() >= MIN_REGISTRY_FILES.min(max) && max > 0 {
        let n = max.min(eligible.len());
        let files: Vec<Vec<u8>> = (0..n)
            .filter_map(|i| std::fs::read(&eligible[i * eligible.len() / n]).ok())
            .collect();
        let origin = format!(
            "{} .rs files of 1-64 KiB, evenly spaced over the {} in {}",
            files.len(),
            eligible.len(),
            registry_src().unwrap_or_default().display()
        );
        return SourceCorpus {
            files,
            origin,
            real: true,
        };
    }
    let mut rng = SplitMix64::new(0x5eed);
    let files = (0..max)
        .map(|_| {
            let len = 1024 + rng.index(15 * 1024);
            source_like(&mut rng, len)
        })
        .collect();
    SourceCorpus {
        files,
        origin: format!(
            "SYNTHETIC fallback: {max} source_like files of 1-16 KiB (no Cargo registry sources found)"
        ),
        real: false,
    }
}

/// Paths of a source-like layout with `files` files: directories about
/// four deep, a few dozen entries each, e.g. `d03/d17/d05/f012.rs`.
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

/// One search-like step: `vst` with 1–5 of `paths` rewritten to fresh
/// source-like contents of `len` bytes.
pub fn edit_files(rng: &mut SplitMix64, paths: &[RepoPath], vst: &Vst, len: usize) -> Vst {
    let edits: Vec<Edit> = (0..1 + rng.below(5))
        .map(|_| {
            let p = &paths[rng.index(paths.len())];
            Edit::file(p.clone(), source_like(rng, len))
        })
        .collect();
    vst.apply(&edits)
        .expect("rewriting existing files cannot fail")
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
    fn rust_files_are_found_recursively_and_sorted() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let files = rust_files(dir);
        assert!(files.contains(&dir.join("src").join("lib.rs")), "{files:?}");
        assert!(files.iter().any(|p| p.starts_with(dir.join("benches"))));
        assert!(files.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        assert!(
            files
                .iter()
                .all(|p| p.extension().is_some_and(|e| e == "rs"))
        );
    }

    #[test]
    fn the_registry_sample_is_deterministic_and_within_the_size_range() {
        let a = registry_sources(50);
        let b = registry_sources(50);
        assert_eq!(a.files, b.files);
        assert_eq!(a.files.len(), 50);
        assert!(a.bytes() >= 50 * 1024);
        if a.real {
            assert!(
                a.files
                    .iter()
                    .all(|f| SOURCE_FILE_SIZES.contains(&(f.len() as u64)))
            );
        } else {
            assert!(a.origin.starts_with("SYNTHETIC"), "{}", a.origin);
        }
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
}
