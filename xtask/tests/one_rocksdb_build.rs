//! RocksDB's C++ is compiled once per target directory, not once per build.
//!
//! Its build script (in `librocksdb-sys`, run through bindgen) compiles
//! the C++: about 12 minutes on 2 cores. Cargo keeps one output per hash
//! of that script's unit, and the hash covers the features and profile of
//! every crate the script is built from. `cargo xtask ci` makes three
//! builds on one target directory — clippy's check build, the test build
//! and the Python wheel's — and a fresh machine used to compile RocksDB in
//! each, because those crates differed between them (see the workspace
//! Cargo.toml's `[profile.dev.build-override]` and helios-objstore's
//! build.rs). This test asks cargo for the three builds' unit graphs
//! (`--unit-graph`, which builds nothing) and checks that the script's
//! units are the same in each, so that a new dependency cannot quietly
//! bring the 24 lost minutes back. The release builds (`cargo bench`, the
//! demo's `cargo build --release`) are checked the same way.
//!
//! `--unit-graph` is unstable: it is enabled with `RUSTC_BOOTSTRAP=1` on
//! the pinned stable toolchain (rust-toolchain.toml), for this read-only
//! question alone.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// One unit, as far as its hash goes: package, target, mode, features and
/// profile (without the profile's name, which the hash leaves out).
type UnitKey = String;

/// The unit graph of `cargo ARGS` in this workspace, as JSON.
fn unit_graph(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO"))
        .args(args)
        .args(["--locked", "--unit-graph", "-Z", "unstable-options"])
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo {args:?} --unit-graph failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a unit graph is JSON")
}

fn key(unit: &Value) -> UnitKey {
    let mut profile = unit["profile"].clone();
    profile
        .as_object_mut()
        .expect("a unit has a profile")
        .remove("name");
    format!(
        "{} {} {} features={} profile={}",
        unit["pkg_id"], unit["target"]["name"], unit["mode"], unit["features"], profile
    )
}

/// The units that running RocksDB's build script depends on, itself
/// included.
fn rocksdb_script_units(graph: &Value) -> BTreeSet<UnitKey> {
    let units = graph["units"].as_array().expect("units");
    let mut stack: Vec<usize> = units
        .iter()
        .enumerate()
        .filter(|(_, u)| {
            u["mode"] == "run-custom-build"
                && u["pkg_id"]
                    .as_str()
                    .is_some_and(|p| p.contains("librocksdb-sys"))
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stack.len(), 1, "one run of RocksDB's build script");
    let mut seen = HashMap::new();
    while let Some(i) = stack.pop() {
        if seen.insert(i, key(&units[i])).is_none() {
            let deps = units[i]["dependencies"].as_array().expect("dependencies");
            stack.extend(deps.iter().map(unit_index));
        }
    }
    seen.into_values().collect()
}

/// Where a dependency's unit sits in the graph's `units`.
fn unit_index(dependency: &Value) -> usize {
    let index = dependency["index"]
        .as_u64()
        .expect("a dependency has an index");
    usize::try_from(index).expect("an index fits in usize")
}

/// Checks that every build in `builds` runs the first one's build script.
fn assert_one_script(builds: &[(&str, &[&str])]) {
    let (first_name, first_args) = builds[0];
    let first = rocksdb_script_units(&unit_graph(first_args));
    for &(name, args) in &builds[1..] {
        let other = rocksdb_script_units(&unit_graph(args));
        let only_first: Vec<_> = first.difference(&other).collect();
        let only_other: Vec<_> = other.difference(&first).collect();
        assert!(
            only_first.is_empty() && only_other.is_empty(),
            "RocksDB's build script differs between {first_name} and {name}, so a fresh \
             machine compiles RocksDB's C++ for each (12 minutes).\n\
             Only in {first_name}: {only_first:#?}\nOnly in {name}: {only_other:#?}\n\
             Pin the feature or profile that differs (Cargo.toml's build-override, \
             helios-objstore's build-dependencies)."
        );
    }
}

#[test]
fn ci_builds_share_one_rocksdb_build() {
    assert_one_script(&[
        ("clippy", &["check", "--workspace", "--all-targets"]),
        ("the tests", &["test", "--workspace", "--no-run"]),
        (
            "the wheel",
            &["build", "-p", "helios-py", "--lib", "--profile", "dev"],
        ),
        (
            "a single crate's tests",
            &["test", "-p", "helios-remote", "--no-run"],
        ),
    ]);
}

#[test]
fn release_builds_share_one_rocksdb_build() {
    assert_one_script(&[
        ("the benches", &["bench", "--workspace", "--no-run"]),
        ("the demo", &["build", "--release", "-p", "helios-cli"]),
        (
            "the released wheel",
            &["build", "--release", "-p", "helios-py", "--lib"],
        ),
    ]);
}
