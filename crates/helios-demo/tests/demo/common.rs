//! Shared set-up.

use std::path::Path;

use helios_demo::DemoConfig;
use helios_engine::{EngineConfig, HeliosEngine};

/// A RocksDB engine in `dir`.
pub(crate) fn rocks(dir: &Path) -> HeliosEngine {
    HeliosEngine::open(dir.join("store"), EngineConfig::small()).expect("open store")
}

/// A small, quick demo configuration over `dir`: three defects keep the
/// number of distinct states (and so checker runs) low.
pub(crate) fn small_demo(dir: &Path, nodes: usize, files: usize) -> DemoConfig {
    let mut config = DemoConfig {
        files,
        defects: 3,
        workdir: Some(dir.join("work")),
        store: dir.join("store"),
        ..DemoConfig::default()
    };
    config.search.max_nodes = nodes;
    config.search.seed = 3;
    config
}
