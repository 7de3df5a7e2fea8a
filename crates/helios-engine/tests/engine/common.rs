//! Helpers shared by the engine tests: engines on temporary stores and
//! small generated trees.

use helios_engine::{EngineConfig, HeliosEngine};
use helios_types::RepoPath;
use helios_vst::{Edit, Vst};

pub(crate) fn path(p: &str) -> RepoPath {
    RepoPath::parse(p).unwrap()
}

/// A RocksDB-backed engine in a fresh temporary directory.
pub(crate) fn rocks_engine() -> (tempfile::TempDir, HeliosEngine) {
    let dir = tempfile::tempdir().unwrap();
    let engine = HeliosEngine::open(dir.path().join("store"), EngineConfig::small()).unwrap();
    (dir, engine)
}

/// A tree of `files` small source files in a few directories.
pub(crate) fn tree(engine: &HeliosEngine, files: usize, salt: &str) -> Vst {
    let edits: Vec<Edit> = (0..files)
        .map(|i| {
            Edit::file(
                path(&format!("d{}/s{}/f{i}.rs", i % 7, i % 3)),
                format!("{salt} file {i}\n").into_bytes(),
            )
        })
        .collect();
    engine.empty_tree().apply(&edits).unwrap()
}

/// Every file of a tree with its bytes, read through the engine (stored
/// content, chunked or not, or the tree's pending bytes).
pub(crate) fn contents(engine: &HeliosEngine, vst: &Vst) -> Vec<(String, Vec<u8>)> {
    vst.files()
        .unwrap()
        .into_iter()
        .map(|(p, _)| {
            let bytes = engine.read_file(vst, &p, 0..u64::MAX).unwrap();
            (p.to_string(), bytes)
        })
        .collect()
}

/// Every file under `dir` with its bytes, sorted by path (relative).
pub(crate) fn on_disk(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
