//! Shared set-up.

use std::path::Path;

use helios_engine::{EngineConfig, HeliosEngine};

/// A RocksDB engine in `dir`.
pub(crate) fn rocks(dir: &Path) -> HeliosEngine {
    HeliosEngine::open(dir.join("store"), EngineConfig::small()).expect("open store")
}
