//! Tidy checks: the project's structural rules, written as ordinary tests so
//! `cargo test` (and so `cargo xtask ci`) enforces them. Each names the
//! offending file so the fix is obvious.
//!
//! Rust is parsed with `syn`, so comments and literals are never code. `use`
//! trees are expanded (`use std::{fs, thread}`) and a path's first segment is
//! resolved through the file's imports (`spawn(..)` after
//! `use std::thread::spawn`), so the way an import is written never hides
//! what it brings in. Imports are resolved file-wide, not per scope, and a
//! macro's body is read as tokens. "Shipped" code is the file without its
//! `#[cfg(test)]` items (see [`Code::shipped_only`]). Dependencies come from
//! `cargo metadata`, Cargo's own reading of every manifest form. The unit
//! tests at the end show each check failing on a bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use proc_macro2::{TokenStream, TokenTree};
use serde::Deserialize;
use syn::ext::IdentExt;
use syn::visit::{self, Visit};
use syn::{Attribute, Ident, ImplItem, Item, ItemFn, Meta, TraitItem, UseTree};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file under the given directories (`target` and hidden
/// directories skipped).
fn rust_files(dirs: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let (path, name) = (entry.path(), entry.file_name());
            let name = name.to_string_lossy();
            if name == "target" || name.starts_with('.') {
                continue;
            } else if path.is_dir() {
                walk(&path, out);
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        walk(&root().join(dir), &mut out);
    }
    assert!(!out.is_empty(), "no files found under {dirs:?}");
    out.sort();
    out
}

/// `conformance.rs` is test support that ships behind a feature for other
/// crates' tests; its concurrency case runs threads.
fn is_test_support(file: &Path) -> bool {
    file == root().join("crates/helios-types/src/store/conformance.rs") || is_unit_test_file(file)
}

/// A `tests.rs` or `*_tests.rs` file under `src/`: by convention a module
/// its parent declares `#[cfg(test)]` (checked by
/// `unit_test_files_are_compiled_for_tests_only`).
fn is_unit_test_file(file: &Path) -> bool {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    file.to_string_lossy().contains("/src/") && (name == "tests.rs" || name.ends_with("_tests.rs"))
}

/// The shipped source files of every crate but `owner`.
fn shipped_files_outside(owner: &str) -> Vec<PathBuf> {
    let owner = root().join("crates").join(owner);
    let shipped = |f: &PathBuf| f.to_string_lossy().contains("/src/") && !is_test_support(f);
    let files = rust_files(&["crates"]).into_iter();
    files
        .filter(|f| !f.starts_with(&owner) && shipped(f))
        .collect()
}

/// Asserts that `check` finds nothing in any of `files`, read whole or
/// (`shipped`) without their `#[cfg(test)]` items.
fn assert_clean(files: Vec<PathBuf>, shipped: bool, what: &str, check: fn(&Code) -> Vec<String>) {
    for file in files {
        let code = Code::scan(&read(&file), shipped);
        let found = check(&code.unwrap_or_else(|e| panic!("{}: {e}", file.display())));
        assert!(found.is_empty(), "{} {what}: {found:?}", file.display());
    }
}

/// Asserts that no package but those in the `exempt` directories has a
/// dependency that `bad` accepts.
fn assert_no_dependency(exempt: &[&str], what: &str, bad: fn(&Dependency) -> bool) {
    for package in packages() {
        let manifest = &package.manifest_path;
        if exempt
            .iter()
            .any(|e| *manifest == root().join(e).join("Cargo.toml"))
        {
            continue;
        }
        let found: Vec<_> = package.dependencies.iter().filter(|d| bad(d)).collect();
        assert!(found.is_empty(), "{} {what}: {found:?}", manifest.display());
    }
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
    let files = rust_files(&["crates", "xtask/src"]).into_iter();
    let files = files.filter(|p| p.components().any(|c| c.as_os_str() == "src"));
    assert_clean(files.collect(), true, "has stubs", stubs);
}

/// The `todo!` and `unimplemented!` calls in code.
fn stubs(code: &Code) -> Vec<String> {
    let stub = |m: &&String| *m == "todo" || *m == "unimplemented";
    code.macros.iter().filter(stub).cloned().collect()
}

#[test]
fn ignored_tests_say_why() {
    let what = "has ignored tests without a reason (and the command that runs them)";
    let bare = |c: &Code| c.bare_ignores.clone();
    assert_clean(rust_files(&["crates", "xtask"]), false, what, bare);
}

#[test]
fn only_helios_objstore_links_rocksdb() {
    let what = "depends on RocksDB; only helios-objstore may (use it through helios-objstore)";
    assert_no_dependency(&["crates/helios-objstore"], what, links_rocksdb);
    let objstore = root().join("crates/helios-objstore");
    let files = rust_files(&["crates", "benches", "xtask", "fuzz/fuzz_targets"]).into_iter();
    let files = files.filter(|f| !f.starts_with(&objstore)).collect();
    let rocksdb = |c: &Code| banned_paths(c, &["rocksdb", "librocksdb_sys"]);
    assert_clean(files, false, "names RocksDB", rocksdb);
}

/// RocksDB's own file names are known only to helios-objstore: the layers
/// above ask it (`RocksStore::exists`) instead of looking for them.
#[test]
fn no_rocksdb_file_names_above_helios_objstore() {
    const NAMES: &[&str] = &[
        "\"CURRENT\"",
        "\"MANIFEST",
        ".sst\"",
        "\"OPTIONS-",
        ".log\"",
    ];
    for file in shipped_files_outside("helios-objstore") {
        let text = read(&file);
        let found: Vec<_> = NAMES.iter().filter(|n| text.contains(**n)).collect();
        assert!(
            found.is_empty(),
            "{} names RocksDB files: {found:?}",
            file.display()
        );
    }
}

/// Whether a dependency brings in RocksDB (the crate, its `-sys` crate or a
/// fork), under whatever name the manifest gives it.
fn links_rocksdb(dep: &Dependency) -> bool {
    dep.name.contains("rocksdb") || dep.rename.as_ref().is_some_and(|r| r.contains("rocksdb"))
}

#[test]
fn helios_types_does_no_io() {
    let files = rust_files(&["crates/helios-types/src"]);
    assert_clean(files, true, "does I/O", io_uses);
}

/// Every hashed byte is laid out by `codec.rs`: no other file of
/// helios-types, nor helios-vst (which hashes trees through
/// `Tree::encode_sorted_into`), writes integers as bytes or hashes through
/// `std::hash`, and helios-types depends on no serialization crate.
#[test]
fn hashed_bytes_are_laid_out_only_in_codec() {
    let codec = root().join("crates/helios-types/src/codec.rs");
    let files = rust_files(&["crates/helios-types/src", "crates/helios-vst/src"]).into_iter();
    let files = files.filter(|f| *f != codec && !is_test_support(f));
    let what = "lays out bytes outside codec.rs";
    assert_clean(files.collect(), true, what, byte_layout);
    let serializers: Vec<_> = (package("helios-types").dependencies.iter())
        .filter(|d| d.ships() && SERIALIZERS.iter().any(|s| d.name.starts_with(s)))
        .collect();
    assert!(
        serializers.is_empty(),
        "helios-types must not hash through a serializer: {serializers:?}"
    );
}

/// Integer-to-bytes conversions and `std::hash` in code.
fn byte_layout(code: &Code) -> Vec<String> {
    let mut found = banned_paths(code, &["std::hash", "core::hash"]);
    let layout = code
        .idents
        .iter()
        .filter(|i| LAYOUT_FNS.contains(&i.as_str()));
    found.extend(layout.cloned());
    found
}

const LAYOUT_FNS: &[&str] = &[
    "to_le_bytes",
    "to_be_bytes",
    "to_ne_bytes",
    "from_le_bytes",
    "from_be_bytes",
    "from_ne_bytes",
];
const SERIALIZERS: &[&str] = &["serde", "bincode", "postcard", "rmp", "ciborium", "borsh"];

#[test]
fn helios_vst_does_no_io() {
    let files = rust_files(&["crates/helios-vst/src"]);
    assert_clean(files, true, "does I/O", io_uses);
}

/// What a crate can use to do I/O: the std modules that reach the file
/// system, network, processes, environment and terminal, and the printing
/// macros.
const IO_PATHS: &[&str] = &[
    "std::fs",
    "std::io",
    "std::net",
    "std::process",
    "std::os",
    "std::env",
];
const IO_MACROS: &[&str] = &["print", "println", "eprint", "eprintln", "dbg"];

/// Every way code can do I/O.
fn io_uses(code: &Code) -> Vec<String> {
    let mut found = banned_paths(code, IO_PATHS);
    let printing = code
        .macros
        .iter()
        .filter(|m| IO_MACROS.contains(&m.as_str()));
    found.extend(printing.map(|m| format!("{m}!")));
    found
}

/// helios-engine is components with narrow interfaces (the write queue,
/// the snapshot table, refs and pins, gc state, tombstones, verify) that
/// `engine/` wires into `HeliosEngine`. A component that named the engine
/// would reach past those interfaces into its fields.
#[test]
fn only_engine_modules_know_helios_engine() {
    let src = root().join("crates/helios-engine/src");
    let components: Vec<PathBuf> = rust_files(&["crates/helios-engine/src"])
        .into_iter()
        .filter(|f| !f.starts_with(src.join("engine")) && *f != src.join("lib.rs"))
        .filter(|f| !is_test_support(f))
        .collect();
    assert!(components.iter().any(|f| f.ends_with("queue.rs")));
    assert_clean(components, true, "names HeliosEngine", |code| {
        let found = code.idents.iter().filter(|i| *i == "HeliosEngine");
        found.cloned().collect()
    });
}

/// The engine's writer and capture threads, and the search's evaluation
/// workers (helios-mcts `evaluators.rs`, issue 19: one place, scoped
/// threads that own a working directory each). Nothing else starts one,
/// but the parallel scan and the server.
#[test]
fn only_the_engine_the_search_evaluators_the_parallel_scan_and_the_server_spawn_threads() {
    // helios-workdir's `walk.rs`: a full scan's `lstat`s on every core, on
    // scoped threads that live for one scan.
    let walk = root().join("crates/helios-workdir/src/walk.rs");
    // helios-server: tokio's runtime drives the connections, and its
    // blocking pool runs the engine's calls; helios-client's runtime is one
    // thread, the caller's.
    let server = root().join("crates/helios-server");
    let client = root().join("crates/helios-client");
    // helios-remote: object_store's calls run on a runtime of one worker
    // per remote, whose blocking pool serves the local-file backend.
    let remote = root().join("crates/helios-remote");
    assert_clean(
        outside_engine_and_evaluators()
            .into_iter()
            .filter(|f| {
                *f != walk
                    && !f.starts_with(&server)
                    && !f.starts_with(&client)
                    && !f.starts_with(&remote)
            })
            .collect(),
        true,
        "spawns threads",
        spawns,
    );
}

/// Shipped files but the engine's and the search's `evaluators.rs`.
fn outside_engine_and_evaluators() -> Vec<PathBuf> {
    let evaluators = root().join("crates/helios-mcts/src/evaluators.rs");
    shipped_files_outside("helios-engine")
        .into_iter()
        .filter(|f| *f != evaluators)
        .collect()
}

fn spawns(code: &Code) -> Vec<String> {
    banned_paths(code, THREAD_PATHS)
}

/// What starts a thread: std's spawning functions and the crates that run
/// thread pools.
const THREAD_PATHS: &[&str] = &[
    "std::thread::spawn",
    "std::thread::Builder",
    "std::thread::scope",
    "crossbeam::scope",
    "crossbeam::thread",
    "crossbeam_utils::thread",
    "rayon",
    "tokio",
];

/// The engine's write queue, and the jobs and results between the search
/// and its evaluation workers (helios-mcts `evaluators.rs`); besides them,
/// only the stream that carries a long server call's progress to its
/// client (helios-server `progress.rs`).
#[test]
fn only_helios_engine_the_search_evaluators_and_server_progress_own_channels() {
    let progress = root().join("crates/helios-server/src/progress.rs");
    assert_clean(
        outside_engine_and_evaluators()
            .into_iter()
            .filter(|f| *f != progress)
            .collect(),
        true,
        "makes channels",
        channels,
    );
    let what = "depends on a channel crate";
    let channel_crate = |d: &Dependency| d.ships() && CHANNEL_CRATES.contains(&d.name.as_str());
    assert_no_dependency(
        &["crates/helios-engine", "crates/helios-mcts"],
        what,
        channel_crate,
    );
}

fn channels(code: &Code) -> Vec<String> {
    banned_paths(code, CHANNEL_PATHS)
}

/// What makes a channel.
const CHANNEL_PATHS: &[&str] = &[
    "std::sync::mpsc",
    "crossbeam_channel",
    "crossbeam::channel",
    "flume",
    "async_channel",
    "tokio::sync::mpsc",
];
const CHANNEL_CRATES: &[&str] = &["crossbeam-channel", "crossbeam", "flume", "async-channel"];

#[test]
fn only_helios_cli_and_xtask_use_anyhow() {
    let what = "is a library crate: return typed errors, not anyhow";
    let anyhow = |d: &Dependency| d.ships() && d.name == "anyhow";
    assert_no_dependency(&["xtask", "crates/helios-cli"], what, anyhow);
}

#[test]
fn library_crates_forbid_unsafe_and_require_docs() {
    let crates = fs::read_dir(root().join("crates")).unwrap().flatten();
    for dir in crates
        .map(|e| e.path())
        .filter(|p| p.join("src/lib.rs").exists())
    {
        for (file, needed) in [
            ("src/lib.rs", "#![forbid(unsafe_code)]"),
            ("src/lib.rs", "#![deny(missing_docs)]"),
            ("Cargo.toml", "[lints]\nworkspace = true"),
        ] {
            let text = read(&dir.join(file));
            assert!(
                text.contains(needed),
                "{}/{file}: add {needed}",
                dir.display()
            );
        }
    }
}

/// The helios-* crates each crate under `crates/` may depend on in shipped
/// code (dev-dependencies may reach sideways for tests). Every crate there
/// needs a rule, so a new one starts with one; the benches, xtask and fuzz
/// targets ship nothing and have none.
const LAYERS: &[(&str, &[&str])] = &[
    ("helios-types", &[]),
    // Seeded workloads and percentiles: beside the layers, depending on
    // none, for the search, `helios bench` and any layer's tests. No
    // storage layer ships it.
    ("helios-workload", &[]),
    // A real Garage cluster on loopback for the remote tier's tests and
    // bench: beside the layers too, shipped by none.
    ("helios-testcluster", &[]),
    ("helios-vst", &["helios-types"]),
    ("helios-l1cache", &["helios-types"]),
    ("helios-objstore", &["helios-types"]),
    ("helios-workdir", &["helios-types", "helios-vst"]),
    (
        "helios-engine",
        &[
            "helios-types",
            "helios-vst",
            "helios-l1cache",
            "helios-objstore",
            "helios-workdir",
        ],
    ),
    (
        "helios-mcts",
        &[
            "helios-types",
            "helios-vst",
            "helios-workdir",
            "helios-engine",
            "helios-workload",
        ],
    ),
    // One environment of the search; the search never depends on it.
    (
        "helios-demo",
        &[
            "helios-types",
            "helios-vst",
            "helios-engine",
            "helios-mcts",
            "helios-workload",
        ],
    ),
    // Python bindings (`import helios`): the engine's public API, the
    // search, and the types their signatures name (plus helios-objstore
    // for `OpenError`, which `EngineError::Open` carries).
    (
        "helios-py",
        &[
            "helios-types",
            "helios-vst",
            "helios-objstore",
            "helios-workdir",
            "helios-engine",
            "helios-mcts",
        ],
    ),
    // The client of `helios serve`: the engine's API over gRPC, with the
    // types its signatures name, and never the engine itself (the front
    // end links it to start without RocksDB).
    (
        "helios-client",
        &["helios-types", "helios-vst", "helios-workdir"],
    ),
    // The remote tier: packs and refs on object storage.
    ("helios-remote", &["helios-types", "helios-engine"]),
    // `helios serve`: the engine behind that API (reading through to the
    // store's remote, if it has one).
    (
        "helios-server",
        &[
            "helios-types",
            "helios-vst",
            "helios-workdir",
            "helios-engine",
            "helios-client",
            "helios-remote",
        ],
    ),
    // The shipped binary: everything above, never the benches.
    (
        "helios-cli",
        &[
            "helios-types",
            "helios-vst",
            "helios-workdir",
            "helios-engine",
            "helios-mcts",
            "helios-demo",
            "helios-workload",
            "helios-client",
            "helios-remote",
            "helios-server",
        ],
    ),
];

#[test]
fn layers_depend_only_downwards() {
    for (krate, _) in LAYERS {
        package(krate);
    }
    let found = layer_violations(packages(), LAYERS);
    assert!(found.is_empty(), "{found:#?}");
}

/// What breaks `rules`: a package under `crates/` without a rule, and a
/// shipped dependency on a helios-* crate its rule does not list.
fn layer_violations(packages: &[Package], rules: &[(&str, &[&str])]) -> Vec<String> {
    let crates = root().join("crates");
    let mut found = Vec::new();
    for package in packages
        .iter()
        .filter(|p| p.manifest_path.starts_with(&crates))
    {
        let Some((_, allowed)) = rules.iter().find(|(k, _)| *k == package.name) else {
            found.push(format!("{} has no layering rule", package.name));
            continue;
        };
        let helios = |d: &&Dependency| d.ships() && d.name.starts_with("helios-");
        for dep in package.dependencies.iter().filter(helios) {
            if !allowed.contains(&dep.name.as_str()) {
                found.push(format!("{} may not depend on {}", package.name, dep.name));
            }
        }
    }
    found
}

#[test]
fn unit_test_files_are_compiled_for_tests_only() {
    for file in rust_files(&["crates"])
        .into_iter()
        .filter(|f| is_unit_test_file(f))
    {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap()
            .to_owned();
        let dir = file.parent().unwrap();
        let siblings = rust_files(&[dir.strip_prefix(root()).unwrap().to_str().unwrap()]);
        // `#[cfg(test)]` on the declaration, possibly above a `#[path]`.
        let declarations = [format!("mod {stem};"), format!("#[path = \"{stem}.rs\"]")];
        let declared = siblings.iter().any(|parent| {
            let text = read(parent);
            let mut at = declarations
                .iter()
                .flat_map(|d| text.match_indices(d.as_str()));
            at.any(|(at, _)| {
                let before = &text[..at];
                let attrs = &before[before.len().saturating_sub(80)..];
                attrs.contains("#[cfg(test)]")
            })
        });
        assert!(
            declared,
            "{}: declare it `#[cfg(test)] mod {stem};`",
            file.display()
        );
    }
}

#[test]
fn only_helios_workdir_mounts_or_walks_working_directories() {
    let what =
        "depends on rustix or ignore; only helios-workdir works on directories at that level";
    let bad = |d: &Dependency| d.ships() && matches!(d.name.as_str(), "rustix" | "ignore");
    assert_no_dependency(&["crates/helios-workdir"], what, bad);
    let mounts = |c: &Code| banned_paths(c, &["rustix::mount", "nix::mount", "sys_mount"]);
    assert_clean(
        shipped_files_outside("helios-workdir"),
        true,
        "mounts",
        mounts,
    );
}

/// The `String` fields of `name`'s variants (or fields), by variant.
fn string_fields(file: &syn::File, name: &str) -> Vec<String> {
    let is_string = |ty: &syn::Type| quote_type(ty).contains("String");
    let mut out = Vec::new();
    for item in &file.items {
        match item {
            Item::Enum(e) if e.ident == name => {
                for v in &e.variants {
                    if v.fields.iter().any(|f| is_string(&f.ty)) {
                        out.push(v.ident.to_string());
                    }
                }
            }
            Item::Type(t) if t.ident == name && is_string(&t.ty) => out.push(name.to_owned()),
            _ => {}
        }
    }
    out
}

fn quote_type(ty: &syn::Type) -> String {
    let mut tokens = TokenStream::new();
    quote::ToTokens::to_tokens(ty, &mut tokens);
    tokens.to_string()
}

/// Errors stay typed where components meet: no engine error variant and no
/// writer acknowledgement carries an error as text. The `String`s allowed
/// hold what the user typed (an id, a ref name) or mirror the store's own
/// corruption report.
#[test]
fn engine_errors_and_acks_carry_no_error_text() {
    const USER_INPUT: &[&str] = &[
        "NotAnId",
        "UnknownPrefix",
        "AmbiguousId",
        "BadRefName",
        "Corrupt",
    ];
    let error = syn::parse_file(&read(&root().join("crates/helios-engine/src/error.rs"))).unwrap();
    let texts: Vec<_> = string_fields(&error, "EngineError")
        .into_iter()
        .filter(|v| !USER_INPUT.contains(&v.as_str()))
        .collect();
    assert!(
        texts.is_empty(),
        "EngineError variants carrying text: {texts:?}"
    );
    let pipeline =
        syn::parse_file(&read(&root().join("crates/helios-engine/src/pipeline.rs"))).unwrap();
    for alias in ["Ack", "WriteError"] {
        assert!(
            string_fields(&pipeline, alias).is_empty(),
            "{alias} carries text"
        );
    }
}

#[test]
fn string_fields_finds_text_payloads() {
    let file = syn::parse_file(
        "enum E { A(String), B { why: Option<String> }, C(u64) } type Ack = Sender<Result<(), String>>;",
    )
    .unwrap();
    assert_eq!(string_fields(&file, "E"), ["A", "B"]);
    assert_eq!(string_fields(&file, "Ack"), ["Ack"]);
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

// ---------------------------------------------------------------------------
// Reading Rust: a `syn` visitor that records what a file names.

/// What one file's code names.
#[derive(Default)]
struct Code {
    /// Leave out every item marked `#[cfg(test)]`: the test module, a
    /// test-only function or impl at any depth, and test-only items of
    /// impls and traits. (A test module in its own file, `mod tests;`, is
    /// read like any other file.)
    shipped_only: bool,
    imports: Vec<Import>,
    /// Every other path as written: in expressions, types, patterns and
    /// macro names, and each `a::b` in a macro's body.
    written: Vec<Vec<String>>,
    /// The last segment of every macro called (`println`, `todo`).
    macros: Vec<String>,
    /// Every identifier, method names included.
    idents: Vec<String>,
    /// The functions marked `#[ignore]` without a reason.
    bare_ignores: Vec<String>,
}

/// One import: the path it names (ending in `*` for a glob) and the name it
/// binds (none for a glob or `as _`).
struct Import {
    path: Vec<String>,
    binding: Option<String>,
}

impl Code {
    fn scan(text: &str, shipped_only: bool) -> syn::Result<Code> {
        let file = syn::parse_file(text)?;
        let mut code = Code {
            shipped_only,
            ..Code::default()
        };
        if !(shipped_only && test_only(&file.attrs)) {
            code.visit_file(&file);
        }
        Ok(code)
    }

    /// Every path the code names: each import, and each other path with its
    /// first segment resolved through the imports (`thread::spawn` after
    /// `use std::thread` is `std::thread::spawn`). A single name that no
    /// import binds is a local or a prelude item, and is left out.
    fn paths(&self) -> Vec<Vec<String>> {
        let mut paths: Vec<_> = self.imports.iter().map(|i| i.path.clone()).collect();
        for path in &self.written {
            let import = self
                .imports
                .iter()
                .find(|i| i.binding.as_ref() == Some(&path[0]));
            match import {
                Some(import) => paths.push([&import.path[..], &path[1..]].concat()),
                None if path.len() > 1 => paths.push(path.clone()),
                None => {}
            }
        }
        paths
    }

    /// Records the imports of a use tree below `path`.
    fn import(&mut self, tree: &UseTree, mut path: Vec<String>) {
        let (last, rename) = match tree {
            UseTree::Path(p) => {
                path.push(name(&p.ident));
                return self.import(&p.tree, path);
            }
            UseTree::Group(g) => {
                for tree in &g.items {
                    self.import(tree, path.clone());
                }
                return;
            }
            UseTree::Glob(_) => ("*".to_owned(), None),
            UseTree::Name(n) => (name(&n.ident), None),
            UseTree::Rename(r) => (name(&r.ident), Some(name(&r.rename))),
        };
        // `a::{self}` names `a` itself.
        if last != "self" {
            path.push(last);
        }
        let binding = rename.or_else(|| path.last().cloned());
        self.bind(path, binding);
    }

    /// Records that `binding` names `path`; globs and `_` bind nothing.
    fn bind(&mut self, path: Vec<String>, binding: Option<String>) {
        let binding = binding.filter(|b| b != "_" && b != "*");
        self.imports.push(Import { path, binding });
    }

    /// A macro's body is tokens, not syntax, until the macro is expanded:
    /// read the paths (`a::b`), macro calls (`a!`) and identifiers in it.
    fn tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let ident = |k: usize| match tokens.get(k) {
            Some(TokenTree::Ident(i)) => Some(name(i)),
            _ => None,
        };
        let punct =
            |k: usize, ch| matches!(tokens.get(k), Some(TokenTree::Punct(p)) if p.as_char() == ch);
        let mut k = 0;
        while k < tokens.len() {
            if let TokenTree::Group(g) = &tokens[k] {
                self.tokens(g.stream());
            }
            let mut path = Vec::new();
            while let Some(segment) = ident(k) {
                path.push(segment);
                k += 1;
                if !(punct(k, ':') && punct(k + 1, ':') && ident(k + 2).is_some()) {
                    break;
                }
                k += 2;
            }
            match path.last() {
                None => k += 1,
                Some(last) => {
                    if punct(k, '!') {
                        self.macros.push(last.clone());
                    }
                    self.idents.extend(path.iter().cloned());
                    self.written.push(path);
                }
            }
        }
    }
}

/// The attributes of a node of the syntax enum `$ty`, for the `$kind`s that
/// can carry `#[cfg(test)]`.
macro_rules! attrs {
    ($node:expr, $ty:ident: $($kind:ident)*) => {
        match $node { $($ty::$kind(i) => &i.attrs[..],)* _ => &[] }
    };
}

impl<'ast> Visit<'ast> for Code {
    fn visit_item(&mut self, item: &'ast Item) {
        let attrs = attrs!(item, Item: Const Enum ExternCrate Fn ForeignMod Impl Macro Mod Static
            Struct Trait TraitAlias Type Union Use);
        if self.shipped_only && test_only(attrs) {
            return;
        }
        match item {
            Item::Use(u) => self.import(&u.tree, Vec::new()),
            // `extern crate a as b;` binds `b` to `a`.
            Item::ExternCrate(e) => {
                let binding = e.rename.as_ref().map_or(&e.ident, |(_, r)| r);
                self.bind(vec![name(&e.ident)], Some(name(binding)));
            }
            _ => visit::visit_item(self, item),
        }
    }

    fn visit_impl_item(&mut self, item: &'ast ImplItem) {
        if !(self.shipped_only && test_only(attrs!(item, ImplItem: Const Fn Type Macro))) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast TraitItem) {
        if !(self.shipped_only && test_only(attrs!(item, TraitItem: Const Fn Type Macro))) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast ItemFn) {
        let bare = |a: &Attribute| a.path().is_ident("ignore") && matches!(a.meta, Meta::Path(_));
        if f.attrs.iter().any(bare) {
            self.bare_ignores.push(name(&f.sig.ident));
        }
        visit::visit_item_fn(self, f);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments = path.segments.iter().map(|s| name(&s.ident));
        self.written.push(segments.collect());
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let last = mac.path.segments.last();
        self.macros.extend(last.map(|s| name(&s.ident)));
        self.tokens(mac.tokens.clone());
        visit::visit_macro(self, mac);
    }

    fn visit_ident(&mut self, ident: &'ast Ident) {
        self.idents.push(name(ident));
    }
}

/// An identifier without its `r#`.
fn name(ident: &Ident) -> String {
    ident.unraw().to_string()
}

/// Whether the attributes include `#[cfg(test)]`.
fn test_only(attrs: &[Attribute]) -> bool {
    let test = |a: &Attribute| a.parse_args::<Ident>().is_ok_and(|p| p == "test");
    attrs.iter().any(|a| a.path().is_ident("cfg") && test(a))
}

/// The paths under `banned` that code names, as `a::b::c` strings; a glob
/// (`a::*`) that may import one of them counts.
fn banned_paths(code: &Code, banned: &[&str]) -> Vec<String> {
    let reaches = |path: &Vec<String>, banned: &str| {
        let banned: Vec<&str> = banned.split("::").collect();
        let glob = path.last().is_some_and(|s| s == "*");
        path.iter().zip(&banned).all(|(p, b)| p == b || p == "*")
            && (path.len() >= banned.len() || glob)
    };
    let mut found: Vec<String> = code
        .paths()
        .iter()
        .filter(|p| banned.iter().any(|b| reaches(p, b)))
        .map(|p| p.join("::"))
        .collect();
    found.dedup();
    found
}

// ---------------------------------------------------------------------------
// Reading manifests: `cargo metadata`, Cargo's own reading of them
// (`[dependencies.a]`, `package = "a"`, `workspace = true`, target tables).

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    dependencies: Vec<Dependency>,
}

/// One dependency a manifest declares, in `cargo metadata`'s words.
#[derive(Debug, Deserialize)]
struct Dependency {
    /// The package it is.
    name: String,
    /// The name the crate uses for it, if another (`a = { package = "b" }`).
    rename: Option<String>,
    /// `None` for a normal dependency, else `dev` or `build`.
    kind: Option<String>,
    /// The `[target.'..']` table it is declared in, if any.
    target: Option<String>,
}

impl Dependency {
    /// Whether the crate's shipped code can use it (not a dev-dependency).
    fn ships(&self) -> bool {
        self.kind.as_deref() != Some("dev")
    }
}

/// Every package of the workspace and of `fuzz/`, a workspace of its own so
/// that `cargo fuzz` builds it apart.
fn packages() -> &'static [Package] {
    static PACKAGES: OnceLock<Vec<Package>> = OnceLock::new();
    PACKAGES.get_or_init(|| {
        let mut packages = metadata(&root().join("Cargo.toml"));
        packages.extend(metadata(&root().join("fuzz/Cargo.toml")));
        packages
    })
}

fn package(name: &str) -> &'static Package {
    let found = packages().iter().find(|p| p.name == name);
    found.unwrap_or_else(|| panic!("no package {name}"))
}

/// The packages of the workspace whose root manifest is `manifest`.
/// `--no-deps` resolves nothing (so it needs no network), and leaves out
/// `[workspace.dependencies]`, which only define versions for members.
fn metadata(manifest: &Path) -> Vec<Package> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = Command::new(cargo);
    command.args(["metadata", "--no-deps", "--format-version=1"]);
    let out = command
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", manifest.display());
    let metadata: Metadata = serde_json::from_slice(&out.stdout).unwrap();
    metadata.packages
}

// ---------------------------------------------------------------------------
// The readers on small inputs: every check above fails on the bad input
// here, and passes on the look-alikes that are not violations.

fn all(src: &str) -> Code {
    Code::scan(src, false).unwrap()
}

fn shipped(src: &str) -> Code {
    Code::scan(src, true).unwrap()
}

/// The dependencies `cargo metadata` reads from a throw-away package whose
/// manifest ends with `tables`. Its `[workspace.dependencies]` define
/// `rocksdb` and `crossbeam-channel` for `workspace = true`.
fn dependencies(tables: &str) -> Vec<Dependency> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tidy-{}-{n}", std::process::id()));
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("src/lib.rs"), "").unwrap();
    let manifest = format!(
        "[package]\nname = \"fixture\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
         [workspace.dependencies]\nrocksdb = \"0.25\"\ncrossbeam-channel = \"0.5\"\n\n{tables}"
    );
    fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    let packages = metadata(&dir.join("Cargo.toml"));
    fs::remove_dir_all(&dir).unwrap();
    packages.into_iter().next().unwrap().dependencies
}

#[test]
fn comments_and_literals_are_not_code() {
    let src = "/// Reads std::fs::read.\nfn f() {\n    let a = \"std::fs\"; // std::fs\n    \
               /* std::fs /* nested */ std::fs */ std::io::stdin();\n    \
               let c = '\"'; let r = r#\"std::fs \"quoted\"\"#; println!(\"std::fs\");\n}\n\
               fn g<'a>(x: &'a str) {}\n";
    assert!(banned_paths(&all(src), &["std::fs"]).is_empty());
    // The code after a char literal holding a quote is still read.
    assert_eq!(banned_paths(&all(src), &["std::io"]), ["std::io::stdin"]);
}

#[test]
fn shipped_code_leaves_out_cfg_test_items() {
    let src = "impl A {\n    #[cfg(test)]\n    fn check(&self) { todo!() }\n    \
               fn late(&self) { unimplemented!() }\n}\n\
               #[cfg(test)]\nfn helper() { std::fs::write(\"y\", b\"\"); }\n\
               fn shipped() { std::fs::read(\"x\"); }\n\
               #[cfg(test)]\n#[allow(dead_code)]\nmod tests {\n    \
               fn t() { std::thread::spawn(|| {}); }\n}\n";
    // Only the stub after the test-only method is seen.
    assert_eq!(stubs(&shipped(src)), ["unimplemented"]);
    assert_eq!(io_uses(&shipped(src)), ["std::fs::read"]);
    assert!(spawns(&shipped(src)).is_empty());
    assert_eq!(spawns(&all(src)), ["std::thread::spawn"]);
    for stubbed in [
        // A test module in its own file is read as a file; its declaration
        // hides nothing after it.
        "#[cfg(test)]\nmod tests;\nfn f() { todo!() }\n",
        "fn f() { vec![todo!()]; }",
    ] {
        assert!(!stubs(&shipped(stubbed)).is_empty(), "{stubbed:?}");
    }
    for fine in [
        "fn f() {}\n#[cfg(test)]\nmod tests { fn t() { todo!() } }\n",
        "#![cfg(test)]\nfn f() { todo!() }\n",
        "// todo!() later\nfn f() -> &'static str { \"todo!()\" }\n",
    ] {
        assert!(stubs(&shipped(fine)).is_empty(), "{fine:?}");
    }
}

#[test]
fn use_trees_are_expanded_and_paths_resolved_through_imports() {
    // Each case is `source => the paths it names`.
    for case in [
        "use std::{fs, io::{self, Read as _}, os::*}; => std::fs std::io std::io::Read std::os::*",
        "use std::thread as t; fn f() { t::scope(|s| {}); } => std::thread std::thread::scope",
        "use std::thread::spawn; fn f() { spawn(g); } => std::thread::spawn std::thread::spawn",
        "use std::io; fn f() -> io::Result<()> { Ok(()) } => std::io std::io::Result",
        "fn f() { ::std::net::TcpStream::connect(a); } => std::net::TcpStream::connect",
        "fn f() { <X as core::fmt::Debug>::fmt; } => core::fmt::Debug::fmt",
        "fn f() { assert!(std::fs::exists(p)); } => std::fs::exists",
        "extern crate rocksdb as db; fn f() { db::DB::open(); } => rocksdb rocksdb::DB::open",
    ] {
        let (src, named) = case.split_once(" => ").unwrap();
        let paths: Vec<_> = all(src).paths().iter().map(|p| p.join("::")).collect();
        assert_eq!(paths.join(" "), named, "{src:?}");
    }
}

#[test]
fn io_check_sees_every_spelling_of_io() {
    for bad in [
        "use std::{fs, thread};",
        "use std::fs::File; fn f() { File::open(\"x\"); }",
        "fn f() { std::fs::write(\"x\", b\"\"); }",
        "fn f() -> std::io::Result<()> { Ok(()) }",
        "use std::io::{self, Write};",
        "use std as s;\nfn f() { s::process::exit(1) }",
        "use std::*;",
        "fn f() { let _ = std::env::var(\"HOME\"); }",
        "fn f() { println!(\"{}\", 1); }",
        "fn f() { eprintln!(\"x\"); }",
        "fn f() { dbg!(1); }",
    ] {
        assert!(!io_uses(&shipped(bad)).is_empty(), "missed I/O in {bad:?}");
    }
    for fine in [
        "use std::fmt;\nuse std::sync::Arc;",
        "//! Never touches std::fs.\nfn f() -> &'static str { \"std::io\" }",
        "fn f() -> String { format!(\"std::io::stdin\") }",
        "use crate::io::Reader;",
        "#[cfg(test)]\nmod tests { use std::fs; }",
    ] {
        assert!(io_uses(&shipped(fine)).is_empty(), "{fine:?}");
    }
}

#[test]
fn thread_check_sees_grouped_and_renamed_spawns() {
    for bad in [
        "use std::thread::spawn;\nfn f() { spawn(|| {}); }",
        "use std::thread;\nfn f() { thread::spawn(|| {}); }",
        "use std::{fs, thread};\nfn f() { thread::scope(|s| {}); }",
        "use std::thread::{self, Builder};",
        "use std::thread::*;",
        "fn f() { std::thread::Builder::new(); }",
        "fn f() { rayon::spawn(|| {}); }",
        "fn f() { let _v = vec![std::thread::spawn(g)]; }",
        "use std::thread;\nmacro_rules! go { () => { thread::spawn(|| {}) } }",
    ] {
        assert!(
            !spawns(&shipped(bad)).is_empty(),
            "missed a spawn in {bad:?}"
        );
    }
    for fine in [
        "thread_local! { static X: u8 = 0; }",
        "fn f() { std::thread::sleep(d); std::thread::current(); }",
        "use std::thread;\nfn f() { thread::yield_now(); }",
    ] {
        assert!(spawns(&shipped(fine)).is_empty(), "{fine:?}");
    }
}

#[test]
fn channel_check_sees_std_and_crossbeam_channels() {
    for bad in [
        "use std::sync::mpsc;",
        "use std::sync::{Arc, mpsc::channel};",
        "fn f() { let (tx, rx) = crossbeam_channel::bounded(1); }",
        "use crossbeam::channel::unbounded;",
        "use crossbeam_channel as cc;",
    ] {
        assert!(
            !channels(&shipped(bad)).is_empty(),
            "missed a channel in {bad:?}"
        );
    }
    assert!(channels(&shipped("use std::sync::{Arc, Mutex};")).is_empty());
    let deps = dependencies("[dependencies]\ncrossbeam-channel.workspace = true\n");
    let channel_crate = |d: &Dependency| CHANNEL_CRATES.contains(&d.name.as_str());
    assert!(deps.iter().any(|d| d.ships() && channel_crate(d)));
}

#[test]
fn manifest_reader_finds_dependencies_in_every_form() {
    let deps = dependencies(
        "[dependencies]\nrocksdb.workspace = true\n\
         db = { package = \"rocksdb\", version = \"0.25\" }\nanyhow = \"1\"\n\n\
         [dependencies.helios-engine]\nversion = \"0.1\"\n\n\
         [dev-dependencies]\nrocksdb = \"0.25\"\nanyhow = \"1\"\n\n\
         [build-dependencies.sys]\npackage = \"librocksdb-sys\"\nversion = \"0.17\"\n\n\
         [target.'cfg(unix)'.dependencies]\nlibrocksdb-sys = \"0.17\"\n",
    );
    // Each as `kind package rename target`.
    let mut read = Vec::new();
    for d in &deps {
        let kind = d.kind.as_deref().unwrap_or("normal");
        let rename = d.rename.as_deref().unwrap_or("-");
        let target = d.target.as_deref().unwrap_or("-");
        read.push(format!("{kind} {} {rename} {target}", d.name));
    }
    read.sort();
    assert_eq!(
        read,
        [
            "build librocksdb-sys sys -",
            "dev anyhow - -",
            "dev rocksdb - -",
            "normal anyhow - -",
            "normal helios-engine - -",
            "normal librocksdb-sys - cfg(unix)",
            "normal rocksdb - -",
            "normal rocksdb db -",
        ]
    );
    assert_eq!(deps.iter().filter(|d| links_rocksdb(d)).count(), 5);
    let shipped_anyhow = deps.iter().filter(|d| d.name == "anyhow" && d.ships());
    assert_eq!(shipped_anyhow.count(), 1, "a dev-dependency does not ship");
    // A feature, a comment and `[workspace.dependencies]` are not dependencies.
    let look_alikes = dependencies(
        "[features]\nrocksdb = []\n\n\
         [dependencies]\nhelios-objstore = \"0.1\"\n# rocksdb = \"0.25\"\n",
    );
    assert!(!look_alikes.iter().any(links_rocksdb));
}

#[test]
fn byte_layout_check_sees_integer_encoding_and_std_hash() {
    for case in [
        "fn f(n: u64) -> [u8; 8] { n.to_le_bytes() } => to_le_bytes",
        "fn f(b: [u8; 8]) -> u64 { u64::from_be_bytes(b) } => from_be_bytes",
        "use std::hash::{Hash, Hasher}; => std::hash::Hash std::hash::Hasher",
    ] {
        let (src, found) = case.split_once(" => ").unwrap();
        assert_eq!(byte_layout(&shipped(src)).join(" "), found, "{src:?}");
    }
    assert!(byte_layout(&shipped("#[derive(Hash)]\nstruct A;\n// to_le_bytes\n")).is_empty());
}

#[test]
fn ignored_tests_are_found_without_a_reason() {
    let src = "#[test]\n#[ignore]\nfn bare() {}\n\
               #[test]\n#[ignore = \"slow: cargo test -- --ignored\"]\nfn said() {}\n\
               // #[ignore]\nconst S: &str = \"#[ignore]\";\n";
    assert_eq!(all(src).bare_ignores, ["bare"]);
}

#[test]
fn layering_check_sees_upward_and_unruled_crates() {
    let dep = |name: &str, kind: Option<&str>| Dependency {
        name: name.to_owned(),
        rename: None,
        kind: kind.map(str::to_owned),
        target: None,
    };
    let package = |dir: &str, name: &str, dependencies| Package {
        name: name.to_owned(),
        manifest_path: root().join(dir).join(name).join("Cargo.toml"),
        dependencies,
    };
    let rules: &[(&str, &[&str])] = &[("helios-low", &[]), ("helios-high", &["helios-low"])];
    let packages = [
        package(
            "crates",
            "helios-low",
            vec![dep("helios-high", None), dep("helios-high", Some("dev"))],
        ),
        package(
            "crates",
            "helios-high",
            vec![dep("helios-low", None), dep("helios-new", Some("dev"))],
        ),
        package(
            "crates",
            "helios-new",
            vec![dep("helios-low", Some("build"))],
        ),
        // Outside `crates/`: ships nothing, needs no rule.
        package("benches", "helios-benches", vec![dep("helios-high", None)]),
    ];
    assert_eq!(
        layer_violations(&packages, rules),
        [
            "helios-low may not depend on helios-high",
            "helios-new has no layering rule",
        ]
    );
}
