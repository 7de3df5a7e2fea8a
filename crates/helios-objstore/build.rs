//! Does nothing: it exists so that the `[build-dependencies]` in
//! Cargo.toml count. They pin features of crates that RocksDB's build
//! script (through bindgen) uses on the host, so that every build of this
//! crate — clippy's, the tests', the Python wheel's, a `cargo test -p` —
//! runs one and the same RocksDB build script and compiles its C++ once
//! per target directory, not once per build.

fn main() {}
