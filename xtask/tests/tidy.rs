//! Tidy checks: the project's structural rules, written as ordinary tests so
//! `cargo test` (and so `cargo xtask ci`) enforces them. Each names the
//! offending file so the fix is obvious.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `.rs` file under the given top-level directories.
fn rust_files(dirs: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for d in dirs {
        walk(&root().join(d), &mut out);
    }
    assert!(!out.is_empty(), "no Rust files found under {dirs:?}");
    out.sort();
    out
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The part of a source file that ships: everything before its unit tests.
fn shipped_part(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

fn library_crates() -> Vec<PathBuf> {
    let mut crates: Vec<_> = fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("src/lib.rs").exists())
        .collect();
    crates.sort();
    crates
}

fn crate_name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let missing: Vec<_> = rust_files(&["crates", "xtask", "benches", "fuzz/fuzz_targets"])
        .into_iter()
        .filter(|p| !read(p).trim_start().starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "files that do not open with a `//!` module doc: {missing:#?}"
    );
}

#[test]
fn no_stubs_in_shipped_code() {
    let stubs: Vec<_> = rust_files(&["crates", "xtask/src"])
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "src"))
        .filter(|p| {
            let text = read(p);
            let shipped = shipped_part(&text);
            shipped.contains(concat!("todo", "!("))
                || shipped.contains(concat!("unimplemented", "!("))
        })
        .collect();
    assert!(stubs.is_empty(), "stubs in library code: {stubs:#?}");
}

#[test]
fn ignored_tests_say_why() {
    let bare: Vec<_> = rust_files(&["crates", "xtask"])
        .into_iter()
        .filter(|p| {
            read(p)
                .lines()
                .any(|l| l.trim() == concat!("#[", "ignore]"))
        })
        .collect();
    assert!(
        bare.is_empty(),
        "ignored tests without a reason (and the command that runs it): {bare:#?}"
    );
}

#[test]
fn only_helios_objstore_links_rocksdb() {
    for dir in fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
    {
        if crate_name(&dir) == "helios-objstore" {
            continue;
        }
        let manifest = read(&dir.join("Cargo.toml"));
        assert!(
            !manifest
                .lines()
                .any(|l| l.trim_start().starts_with("rocksdb")),
            "{} depends on rocksdb; only helios-objstore may",
            dir.display()
        );
    }
    for file in rust_files(&["crates"]) {
        if file.starts_with(root().join("crates/helios-objstore")) {
            continue;
        }
        assert!(
            !read(&file).contains("rocksdb::"),
            "{} names a rocksdb type",
            file.display()
        );
    }
}

#[test]
fn helios_vst_does_no_io() {
    for file in rust_files(&["crates/helios-vst/src"]) {
        let text = read(&file);
        for banned in [
            "std::fs",
            "std::net",
            "std::process",
            "std::io::Write",
            "File::",
        ] {
            assert!(
                !shipped_part(&text).contains(banned),
                "{} uses {banned}",
                file.display()
            );
        }
    }
}

#[test]
fn only_helios_engine_spawns_threads() {
    // Test support that ships behind a feature for other crates' tests.
    let test_support = root().join("crates/helios-types/src/store/conformance.rs");
    for file in rust_files(&["crates"]) {
        if file.starts_with(root().join("crates/helios-engine"))
            || !file.to_string_lossy().contains("/src/")
            || file == test_support
        {
            continue;
        }
        let text = read(&file);
        let shipped = shipped_part(&text);
        for banned in ["thread::spawn", "thread::Builder", "thread::scope"] {
            assert!(
                !shipped.contains(banned),
                "{} spawns threads ({banned})",
                file.display()
            );
        }
    }
}

#[test]
fn library_crates_forbid_unsafe_and_require_docs() {
    for dir in library_crates() {
        let lib = read(&dir.join("src/lib.rs"));
        assert!(
            lib.contains("#![forbid(unsafe_code)]"),
            "{}: add #![forbid(unsafe_code)]",
            dir.display()
        );
        assert!(
            lib.contains("#![deny(missing_docs)]"),
            "{}: add #![deny(missing_docs)]",
            dir.display()
        );
        let manifest = read(&dir.join("Cargo.toml"));
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "{}: inherit [workspace.lints]",
            dir.display()
        );
    }
}

#[test]
fn layers_depend_only_downwards() {
    // The allowed helios-* dependencies of each crate (normal dependencies;
    // dev-dependencies may reach sideways for tests).
    let allowed: &[(&str, &[&str])] = &[
        ("helios-types", &[]),
        ("helios-vst", &["helios-types"]),
        ("helios-l1cache", &["helios-types"]),
        ("helios-objstore", &["helios-types"]),
        (
            "helios-engine",
            &[
                "helios-types",
                "helios-vst",
                "helios-l1cache",
                "helios-objstore",
            ],
        ),
        (
            "helios-mcts",
            &["helios-types", "helios-vst", "helios-engine"],
        ),
    ];
    for (krate, deps) in allowed {
        let manifest = read(&root().join("crates").join(krate).join("Cargo.toml"));
        let normal = manifest.split("[dev-dependencies]").next().unwrap();
        for line in normal.lines().map(str::trim) {
            if let Some(dep) = line
                .split(['.', ' ', '='])
                .next()
                .filter(|d| d.starts_with("helios-"))
            {
                assert!(deps.contains(&dep), "{krate} may not depend on {dep}");
            }
        }
    }
}

#[test]
fn im_is_not_in_the_dependency_tree() {
    let lock = read(&root().join("Cargo.lock"));
    for banned in ["im", "sized-chunks", "bitmaps"] {
        assert!(
            !lock.contains(&format!("name = \"{banned}\"\n")),
            "{banned} carries unfixed security advisories; use imbl"
        );
    }
}
