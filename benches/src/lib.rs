//! Shared pieces of the benchmarks: the report lines, a corpus of real
//! source files, and the workload generators and latency recorder of
//! `helios-workload` (re-exported here), which every layer's bench uses so
//! that all of them measure the same kind of data.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use helios_types::RepoPath;
use helios_vst::{Edit, Vst};
pub use helios_workload::{Latency, SplitMix64, noise, source_like, source_paths};

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

/// The release `helios` binary, built first (cargo runs benches from the
/// workspace): the benches that measure as a user meets Helios run it,
/// one process per call.
pub fn helios_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "--locked", "-p", "helios-cli"])
        .status()
        .expect("cargo build");
    assert!(status.success(), "building helios failed");
    target_dir().join("release/helios")
}

/// The target directory the benches were built in.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    )
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
}
