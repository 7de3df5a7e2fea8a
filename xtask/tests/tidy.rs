//! Tidy checks: the project's structural rules, written as ordinary tests so
//! `cargo test` (and so `cargo xtask ci`) enforces them. Each names the
//! offending file so the fix is obvious.
//!
//! The checks read code, not text: comments and literals are blanked first,
//! `use` trees are expanded (`use std::{fs, thread}`) and a path's first
//! segment is resolved through the file's imports (`thread::spawn` after
//! `use std::thread`, `spawn(..)` after `use std::thread::spawn`), so the way
//! an import is written never hides what it brings in. Manifests are read in
//! every form Cargo accepts (`[dependencies.a]`, `package = "a"`). The
//! scanner's unit tests at the end show each check failing on a bad input.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every file under `dirs` that `wanted` accepts (`target` and hidden
/// directories skipped).
fn files(dirs: &[&str], wanted: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    fn walk(dir: &Path, wanted: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
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
                walk(&path, wanted, out);
            } else if wanted(&path) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for d in dirs {
        walk(&root().join(d), &wanted, &mut out);
    }
    assert!(!out.is_empty(), "no files found under {dirs:?}");
    out.sort();
    out
}

/// Every `.rs` file under the given top-level directories.
fn rust_files(dirs: &[&str]) -> Vec<PathBuf> {
    files(dirs, |p| p.extension().is_some_and(|e| e == "rs"))
}

/// Every package manifest in the repository except the workspace root's
/// (whose `[workspace.dependencies]` only defines versions).
fn manifests() -> Vec<PathBuf> {
    let top = root().join("Cargo.toml");
    files(&["crates", "benches", "xtask", "fuzz"], |p| {
        p.file_name().is_some_and(|n| n == "Cargo.toml") && p != top
    })
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

/// `conformance.rs` is test support that ships behind a feature for other
/// crates' tests; its concurrency case runs threads.
fn is_test_support(file: &Path) -> bool {
    file == root().join("crates/helios-types/src/store/conformance.rs")
}

/// The shipped source files of every crate but `owner`.
fn shipped_files_outside(owner: &str) -> Vec<PathBuf> {
    rust_files(&["crates"])
        .into_iter()
        .filter(|f| {
            !f.starts_with(root().join("crates").join(owner))
                && f.to_string_lossy().contains("/src/")
                && !is_test_support(f)
        })
        .collect()
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
        .filter(|p| has_stub(&read(p)))
        .collect();
    assert!(stubs.is_empty(), "stubs in library code: {stubs:#?}");
}

/// Whether shipped code calls `todo!` or `unimplemented!`.
fn has_stub(text: &str) -> bool {
    macros_called(&shipped_part(text))
        .into_iter()
        .any(|m| m == "todo" || m == "unimplemented")
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
    let objstore = root().join("crates/helios-objstore");
    for manifest in manifests() {
        if manifest.starts_with(&objstore) {
            continue;
        }
        let linking: Vec<_> = dependencies(&read(&manifest))
            .into_iter()
            .filter(links_rocksdb)
            .collect();
        assert!(
            linking.is_empty(),
            "{} depends on RocksDB ({linking:?}); only helios-objstore may (use it through helios-objstore)",
            manifest.display()
        );
    }
    for file in rust_files(&["crates", "benches", "xtask", "fuzz/fuzz_targets"]) {
        if file.starts_with(&objstore) {
            continue;
        }
        let named = banned_paths(&code_only(&read(&file)), &["rocksdb", "librocksdb_sys"]);
        assert!(
            named.is_empty(),
            "{} names RocksDB: {named:?}",
            file.display()
        );
    }
}

#[test]
fn helios_types_does_no_io() {
    for file in rust_files(&["crates/helios-types/src"]) {
        let io = io_uses(&read(&file));
        assert!(io.is_empty(), "{} does I/O: {io:?}", file.display());
    }
}

/// Every hashed byte is laid out by `codec.rs`: no other file of
/// helios-types, nor helios-vst (which hashes trees through
/// `Tree::encode_sorted_into`), writes integers as bytes or hashes through
/// `std::hash`, and helios-types depends on no serialization crate.
#[test]
fn hashed_bytes_are_laid_out_only_in_codec() {
    let codec = root().join("crates/helios-types/src/codec.rs");
    for file in rust_files(&["crates/helios-types/src", "crates/helios-vst/src"]) {
        if file == codec || is_test_support(&file) {
            continue;
        }
        let layout = byte_layout(&read(&file));
        assert!(
            layout.is_empty(),
            "{} lays out bytes outside codec.rs: {layout:?}",
            file.display()
        );
    }
    let manifest = read(&root().join("crates/helios-types/Cargo.toml"));
    let serializers: Vec<_> = dependencies(&manifest)
        .into_iter()
        .filter(|d| d.ships() && SERIALIZERS.iter().any(|s| d.package.starts_with(s)))
        .collect();
    assert!(
        serializers.is_empty(),
        "helios-types must not hash through a serializer: {serializers:?}"
    );
}

/// Integer-to-bytes conversions and `std::hash` in shipped code.
fn byte_layout(text: &str) -> Vec<String> {
    let code = shipped_part(text);
    let mut found = banned_paths(&code, &["std::hash", "core::hash"]);
    found.extend(tokens(&code).into_iter().filter_map(|t| match t {
        Tok::Ident(name) if LAYOUT_FNS.contains(&name) => Some(name.to_owned()),
        _ => None,
    }));
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
    for file in rust_files(&["crates/helios-vst/src"]) {
        let io = io_uses(&read(&file));
        assert!(io.is_empty(), "{} does I/O: {io:?}", file.display());
    }
}

#[test]
fn only_helios_engine_spawns_threads() {
    for file in shipped_files_outside("helios-engine") {
        let spawns = banned_paths(&shipped_part(&read(&file)), THREAD_PATHS);
        assert!(
            spawns.is_empty(),
            "{} spawns threads: {spawns:?}",
            file.display()
        );
    }
}

#[test]
fn only_helios_engine_owns_channels() {
    for file in shipped_files_outside("helios-engine") {
        let channels = banned_paths(&shipped_part(&read(&file)), CHANNEL_PATHS);
        assert!(
            channels.is_empty(),
            "{} makes channels: {channels:?}",
            file.display()
        );
    }
    let engine = root().join("crates/helios-engine");
    for manifest in manifests() {
        if manifest.starts_with(&engine) {
            continue;
        }
        let channel_deps: Vec<_> = dependencies(&read(&manifest))
            .into_iter()
            .filter(|d| d.ships() && CHANNEL_CRATES.contains(&d.package.as_str()))
            .collect();
        assert!(
            channel_deps.is_empty(),
            "{} depends on a channel crate: {channel_deps:?}",
            manifest.display()
        );
    }
}

#[test]
fn only_helios_cli_and_xtask_use_anyhow() {
    for manifest in manifests() {
        let dir = manifest.parent().unwrap();
        if dir == root().join("xtask") || dir == root().join("crates/helios-cli") {
            continue;
        }
        let anyhow: Vec<_> = dependencies(&read(&manifest))
            .into_iter()
            .filter(|d| d.ships() && d.package == "anyhow")
            .collect();
        assert!(
            anyhow.is_empty(),
            "{}: library crates return typed errors, not anyhow",
            manifest.display()
        );
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
        for dep in dependencies(&manifest) {
            if dep.ships() && dep.package.starts_with("helios-") {
                assert!(
                    deps.contains(&dep.package.as_str()),
                    "{krate} may not depend on {}",
                    dep.package
                );
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

// ---------------------------------------------------------------------------
// The scanner: just enough of Rust's and Cargo's syntax for the checks to
// see what code names, however its imports are grouped or renamed. Each
// function is tested on small strings at the end of this file, which is what
// shows that the checks built on them can fail.

/// `text` with comments and the contents of string and char literals
/// replaced by spaces (newlines kept), so a rule is never broken or met by
/// prose or by data.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if at(i) == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if at(i) == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if at(i) == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' && i + 1 < c.len() {
                    out.push(' ');
                    i += 1;
                }
                out.push(blank(c[i]));
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if at(i) == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let end = if at(i + 1) == '\\' {
                (i + 2..c.len()).find(|&k| k > i + 2 && c[k] == '\'')
            } else if at(i + 2) == '\'' {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.push('\'');
                    out.extend(c[i + 1..end].iter().map(|&ch| blank(ch)));
                    out.push('\'');
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else if is_ident(at(i)) && (i == 0 || !is_ident(c[i - 1])) {
            // A raw string (r"..", br#".."#, cr".."), or an identifier,
            // copied whole so that a string prefix is never mistaken for
            // the start of a raw string in the middle of a word.
            let r = if matches!(at(i), 'b' | 'c') && at(i + 1) == 'r' {
                i + 1
            } else {
                i
            };
            let mut q = r + 1;
            while at(q) == '#' {
                q += 1;
            }
            if at(r) == 'r' && at(q) == '"' {
                let hashes = q - r - 1;
                out.extend(&c[i..=q]);
                i = q + 1;
                while i < c.len() {
                    if c[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#') {
                        out.extend(&c[i..=i + hashes]);
                        i += hashes + 1;
                        break;
                    }
                    out.push(blank(c[i]));
                    i += 1;
                }
            } else {
                while i < c.len() && is_ident(c[i]) {
                    out.push(c[i]);
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The code of a source file that ships: [`code_only`] with the top-level
/// `#[cfg(test)] mod … { … }` blocks blanked. Test-only items elsewhere (a
/// `#[cfg(test)] fn` inside an `impl`) are kept, and so is everything after
/// them.
fn shipped_part(text: &str) -> String {
    const ATTR: &str = "#[cfg(test)]";
    let code = code_only(text);
    let bytes = code.as_bytes();
    let mut cuts = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b'#' if depth == 0 && code[i..].starts_with(ATTR) => {
                if let Some(end) = test_module_end(&code, i + ATTR.len()) {
                    cuts.push((i, end));
                    i = end;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = code.clone();
    for (start, end) in cuts.into_iter().rev() {
        let blanked: String = code[start..end]
            .chars()
            .map(|ch| if ch == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(start..end, &blanked);
    }
    out
}

/// If the item after a `#[cfg(test)]` ending at `from` is an inline module,
/// the offset just past its closing brace.
fn test_module_end(code: &str, from: usize) -> Option<usize> {
    let mut rest = code[from..].trim_start();
    // Further attributes (`#[path = ".."]`, `#[allow(..)]`) may follow.
    while let Some(attr) = rest.strip_prefix("#[") {
        rest = attr[attr.find(']')? + 1..].trim_start();
    }
    for visibility in ["pub(crate) ", "pub(super) ", "pub "] {
        if let Some(r) = rest.strip_prefix(visibility) {
            rest = r.trim_start();
        }
    }
    let after_name = rest
        .strip_prefix("mod ")?
        .trim_start()
        .trim_start_matches(|ch: char| ch.is_alphanumeric() || ch == '_');
    let body = after_name.trim_start().strip_prefix('{')?;
    let open = code.len() - body.len() - 1;
    let mut depth = 0usize;
    for (k, b) in code.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Ident(&'a str),
    /// `::`
    Sep,
    Punct(char),
}

/// The identifiers, `::` separators and punctuation of code (numbers and
/// whitespace dropped; `r#name` read as `name`).
fn tokens(code: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut it = code.char_indices().peekable();
    while let Some((i, ch)) = it.next() {
        if ch.is_alphanumeric() || ch == '_' {
            let mut end = i + ch.len_utf8();
            while let Some(&(k, n)) = it.peek() {
                if !(n.is_alphanumeric() || n == '_') {
                    break;
                }
                end = k + n.len_utf8();
                it.next();
            }
            let word = &code[i..end];
            if word == "r" && it.peek().is_some_and(|&(_, n)| n == '#') {
                it.next();
                continue;
            }
            if !ch.is_ascii_digit() {
                out.push(Tok::Ident(word));
            }
        } else if ch == ':' && it.peek().is_some_and(|&(_, n)| n == ':') {
            it.next();
            out.push(Tok::Sep);
        } else if !ch.is_whitespace() {
            out.push(Tok::Punct(ch));
        }
    }
    out
}

/// One path that code names: `segments` from the crate root when an import
/// resolved it; `glob` for `use a::b::*`, which may bring in anything below.
#[derive(Debug, Clone, PartialEq)]
struct NamedPath {
    segments: Vec<String>,
    glob: bool,
}

impl NamedPath {
    /// True if this path is `banned` or lies below it, or is a glob that
    /// may import it.
    fn reaches(&self, banned: &str) -> bool {
        let banned: Vec<&str> = banned.split("::").collect();
        let n = self.segments.len().min(banned.len());
        let common = self.segments[..n].iter().zip(&banned).all(|(a, b)| a == b);
        common && (self.segments.len() >= banned.len() || self.glob)
    }
}

/// One import: the path and the name it binds (`None` for globs and `_`).
struct Import {
    path: NamedPath,
    binding: Option<String>,
}

/// Parses one use tree at `toks[*i..]` below `prefix`, pushing what it
/// imports. Stops at the `,`, `}` or `;` that ends the tree.
fn parse_use_tree(toks: &[Tok<'_>], i: &mut usize, prefix: &[String], out: &mut Vec<Import>) {
    let mut path = prefix.to_vec();
    let mut named_self = false;
    if toks.get(*i) == Some(&Tok::Sep) {
        *i += 1;
    }
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) if *s != "as" => {
                path.push((*s).to_owned());
                *i += 1;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push(Import {
                    path: NamedPath {
                        segments: path,
                        glob: true,
                    },
                    binding: None,
                });
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while let Some(tok) = toks.get(*i) {
                    match tok {
                        Tok::Punct('}') => {
                            *i += 1;
                            break;
                        }
                        Tok::Punct(',') => *i += 1,
                        _ => {
                            let before = *i;
                            parse_use_tree(toks, i, &path, out);
                            if *i == before {
                                *i += 1;
                            }
                        }
                    }
                }
                return;
            }
            _ => break,
        }
        if toks.get(*i) == Some(&Tok::Sep) {
            *i += 1;
        } else {
            break;
        }
    }
    if path.last().is_some_and(|s| s == "self") {
        path.pop();
        named_self = true;
    }
    let mut binding = path.last().cloned();
    if toks.get(*i) == Some(&Tok::Ident("as")) {
        binding = match toks.get(*i + 1) {
            Some(Tok::Ident(alias)) if *alias != "_" => Some((*alias).to_owned()),
            _ => None,
        };
        *i += 2;
    }
    if path.len() > prefix.len() || named_self {
        out.push(Import {
            path: NamedPath {
                segments: path,
                glob: false,
            },
            binding,
        });
    }
}

/// Every path `code` names: each import with its use tree expanded
/// (`use std::{fs, thread}` names `std::fs` and `std::thread`), and each
/// path in the code with its first segment resolved through the imports
/// (`thread::spawn` after `use std::thread` names `std::thread::spawn`).
fn named_paths(code: &str) -> Vec<NamedPath> {
    let toks = tokens(code);
    let mut imports = Vec::new();
    let mut in_use = vec![false; toks.len()];
    let mut i = 0;
    while i < toks.len() {
        let start = i;
        match (&toks[i], toks.get(i + 1)) {
            (Tok::Ident("use"), _) => {
                i += 1;
                parse_use_tree(&toks, &mut i, &[], &mut imports);
            }
            // `extern crate a as b;` binds `b` to `a`.
            (Tok::Ident("extern"), Some(Tok::Ident("crate"))) => {
                i += 2;
                parse_use_tree(&toks, &mut i, &[], &mut imports);
            }
            _ => {
                i += 1;
                continue;
            }
        }
        in_use[start..i.min(toks.len())].fill(true);
    }
    let resolve = |first: &str| {
        imports
            .iter()
            .find(|imp| imp.binding.as_deref() == Some(first))
            .map(|imp| imp.path.segments.clone())
    };
    let mut out: Vec<NamedPath> = imports.iter().map(|imp| imp.path.clone()).collect();
    let mut i = 0;
    while i < toks.len() {
        if in_use[i] {
            i += 1;
            continue;
        }
        // `::std::fs` starts at the root; the `::` of `Vec::<u8>::new` or
        // `<T as Trait>::f` continues something else.
        let rooted = toks[i] == Tok::Sep
            && !(i > 0 && matches!(toks[i - 1], Tok::Ident(_) | Tok::Punct('>')));
        let mut k = i + usize::from(rooted);
        let mut segments = Vec::new();
        while let Some(Tok::Ident(s)) = toks.get(k) {
            segments.push((*s).to_owned());
            k += 1;
            if toks.get(k) == Some(&Tok::Sep) && matches!(toks.get(k + 1), Some(Tok::Ident(_))) {
                k += 1;
            } else {
                break;
            }
        }
        if segments.len() >= 2 || (rooted && !segments.is_empty()) {
            if !rooted && let Some(mut full) = resolve(&segments[0]) {
                full.extend(segments.drain(1..));
                segments = full;
            }
            out.push(NamedPath {
                segments,
                glob: false,
            });
        }
        i = k.max(i + 1);
    }
    out
}

/// The macros `code` invokes, by their last path segment (`std::println!`
/// and `println!` are both `println`).
fn macros_called(code: &str) -> Vec<&str> {
    let toks = tokens(code);
    toks.windows(2)
        .filter_map(|w| match w {
            [Tok::Ident(name), Tok::Punct('!')] => Some(*name),
            _ => None,
        })
        .collect()
}

/// The paths under `banned` that `code` names, as `a::b::c` strings.
fn banned_paths(code: &str, banned: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = named_paths(code)
        .into_iter()
        .filter(|p| banned.iter().any(|b| p.reaches(b)))
        .map(|p| p.segments.join("::") + if p.glob { "::*" } else { "" })
        .collect();
    found.dedup();
    found
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

/// Every way a file's shipped code can do I/O.
fn io_uses(text: &str) -> Vec<String> {
    let code = shipped_part(text);
    let mut found = banned_paths(&code, IO_PATHS);
    found.extend(
        macros_called(&code)
            .into_iter()
            .filter(|m| IO_MACROS.contains(m))
            .map(|m| format!("{m}!")),
    );
    found
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

/// One dependency a manifest declares.
#[derive(Debug, PartialEq)]
struct Dependency {
    /// `dependencies`, `dev-dependencies` or `build-dependencies`.
    table: String,
    /// The name the crate uses for it.
    name: String,
    /// The package it is (`package = ".."`, else the name).
    package: String,
}

impl Dependency {
    /// Whether the crate's shipped code can use it (not a dev-dependency).
    fn ships(&self) -> bool {
        self.table != "dev-dependencies"
    }
}

/// The dependencies a `Cargo.toml` declares, in every form Cargo accepts:
/// `[dependencies]` lines (`a = ".."`, `a.workspace = true`,
/// `a = { package = "b" }`), `[dependencies.a]` tables, and the same under
/// `[target.'cfg(..)'.…]`. `[workspace.dependencies]` only defines versions
/// for members and is not a dependency.
fn dependencies(manifest: &str) -> Vec<Dependency> {
    const TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    let unquote = |s: &str| s.trim().trim_matches(['"', '\'']).to_owned();
    let package_in = |s: &str| {
        let at = s.find("package")?;
        let value = s[at + "package".len()..].trim_start().strip_prefix('=')?;
        let value = value.trim_start().strip_prefix('"')?;
        Some(value[..value.find('"')?].to_owned())
    };
    let mut out = Vec::new();
    // In a `[dependencies]` table: its kind. In a `[dependencies.a]`
    // table: the index of `a` in `out`.
    let mut list: Option<String> = None;
    let mut single: Option<usize> = None;
    for line in manifest.lines() {
        let line = strip_toml_comment(line).trim();
        if let Some(header) = line.strip_prefix('[') {
            list = None;
            single = None;
            if header.starts_with('[') {
                continue;
            }
            let parts = split_toml_key(header.trim_end_matches(']'));
            if parts.first().map(String::as_str) == Some("workspace") {
                continue;
            }
            let n = parts.len();
            if n >= 1 && TABLES.contains(&parts[n - 1].as_str()) {
                list = Some(parts[n - 1].clone());
            } else if n >= 2 && TABLES.contains(&parts[n - 2].as_str()) {
                out.push(Dependency {
                    table: parts[n - 2].clone(),
                    name: parts[n - 1].clone(),
                    package: parts[n - 1].clone(),
                });
                single = Some(out.len() - 1);
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if let Some(table) = &list {
            let name = unquote(split_toml_key(key).first().map_or(key, String::as_str));
            let package = package_in(value).unwrap_or_else(|| name.clone());
            out.push(Dependency {
                table: table.clone(),
                name,
                package,
            });
        } else if let Some(index) = single
            && key.trim() == "package"
        {
            out[index].package = unquote(value);
        }
    }
    out
}

/// A TOML line without its `#` comment (a `#` inside quotes is kept).
fn strip_toml_comment(line: &str) -> &str {
    let mut quoted = None;
    for (i, ch) in line.char_indices() {
        match (ch, quoted) {
            ('"' | '\'', None) => quoted = Some(ch),
            (q, Some(open)) if q == open => quoted = None,
            ('#', None) => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The dotted parts of a TOML key, quotes removed (`target.'cfg(unix)'.dependencies`).
fn split_toml_key(key: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = None;
    for ch in key.trim().chars() {
        match (ch, quoted) {
            ('"' | '\'', None) => quoted = Some(ch),
            (q, Some(open)) if q == open => quoted = None,
            ('.', None) => parts.push(String::new()),
            (c, _) => parts.last_mut().expect("never empty").push(c),
        }
    }
    parts.into_iter().map(|p| p.trim().to_owned()).collect()
}

/// Whether a dependency brings in RocksDB (the crate, its `-sys` crate or a
/// fork), under whatever name the manifest gives it.
fn links_rocksdb(dep: &Dependency) -> bool {
    dep.name.contains("rocksdb") || dep.package.contains("rocksdb")
}

// ---------------------------------------------------------------------------
// The scanner on small inputs: every check above fails on the bad input
// here, and passes on the look-alikes that are not violations.

#[test]
fn code_only_blanks_comments_and_literals_but_keeps_code() {
    let src = "let a = \"std::fs\"; // std::fs\n/* std::fs /* nested */ std::fs */ std::io::stdin();\n\
               let c = '\"'; let r = r#\"std::fs \"quoted\"\"#; fn f<'a>(x: &'a str) {}";
    let code = code_only(src);
    assert_eq!(code.lines().count(), src.lines().count(), "newlines kept");
    assert_eq!(code.matches("std::fs").count(), 0, "{code}");
    assert!(code.contains("std::io::stdin()"), "{code}");
    assert!(
        code.contains("fn f<'a>(x: &'a str)"),
        "lifetimes are code: {code}"
    );
    assert_eq!(
        banned_paths(&code, &["std::io"]),
        ["std::io::stdin"],
        "the code after a char literal holding a quote is still read"
    );
}

#[test]
fn shipped_part_cuts_only_the_top_level_test_module() {
    let src = "impl A {\n    #[cfg(test)]\n    fn check(&self) {}\n    fn late(&self) { todo!() }\n}\n\
               #[cfg(test)]\nfn helper() {}\nfn shipped() { std::fs::read(\"x\"); }\n\
               #[cfg(test)]\n#[allow(dead_code)]\nmod tests {\n    fn t() { std::thread::spawn(|| {}); unimplemented!() }\n}\n";
    let shipped = shipped_part(src);
    assert!(
        has_stub(src),
        "a stub after an inner test-only item is seen"
    );
    assert_eq!(io_uses(src), ["std::fs::read"]);
    assert!(
        !shipped.contains("spawn"),
        "the test module is cut: {shipped}"
    );
    assert!(!shipped.contains("unimplemented"), "{shipped}");
    // Before the fix everything after the first `#[cfg(test)]` was dropped.
    let old_cut = src.split("#[cfg(test)]").next().unwrap();
    assert!(!old_cut.contains("todo!"));
    // A test module in its own file (`mod tests;`) cuts nothing.
    let file_module = "#[cfg(test)]\nmod tests;\nfn f() { todo!() }\n";
    assert!(has_stub(file_module));
    assert!(!has_stub(
        "fn f() {}\n#[cfg(test)]\nmod tests { fn t() { todo!() } }\n"
    ));
    assert!(!has_stub(
        "// todo!() later\nfn f() -> &'static str { \"todo!()\" }\n"
    ));
}

#[test]
fn use_trees_are_expanded_and_paths_resolved_through_imports() {
    let paths = |code: &str| -> Vec<String> {
        named_paths(code)
            .into_iter()
            .map(|p| p.segments.join("::") + if p.glob { "::*" } else { "" })
            .collect()
    };
    assert_eq!(
        paths("use std::{fs, io::{self, Write as _}, sync::*};"),
        ["std::fs", "std::io", "std::io::Write", "std::sync::*"]
    );
    assert_eq!(
        paths("use std::thread as t; fn f() { t::scope(|s| {}); }"),
        ["std::thread", "std::thread::scope"]
    );
    assert_eq!(
        paths("fn f() { ::std::net::TcpStream::connect(a); <X as core::fmt::Debug>::fmt; }"),
        ["std::net::TcpStream::connect", "core::fmt::Debug"]
    );
    assert_eq!(paths("extern crate rocksdb as db;"), ["rocksdb"]);
}

#[test]
fn io_check_sees_every_spelling_of_io() {
    for bad in [
        "use std::{fs, thread};",
        "use std::fs::File; fn f() { File::open(\"x\"); }",
        "fn f() { std::fs::write(\"x\", b\"\"); }",
        "use std::io::{self, Write};",
        "use std as s;\nfn f() { s::process::exit(1) }",
        "use std::*;",
        "fn f() { let _ = std::env::var(\"HOME\"); }",
        "fn f() { println!(\"{}\", 1); }",
        "fn f() { eprintln!(\"x\"); }",
    ] {
        assert!(!io_uses(bad).is_empty(), "missed I/O in {bad:?}");
    }
    for fine in [
        "use std::fmt;\nuse std::sync::Arc;",
        "//! Never touches std::fs.\nfn f() -> &'static str { \"std::io\" }",
        "use crate::io::Reader;",
        "#[cfg(test)]\nmod tests { use std::fs; }",
    ] {
        assert_eq!(io_uses(fine), Vec::<String>::new(), "{fine:?}");
    }
}

#[test]
fn thread_check_sees_grouped_and_renamed_spawns() {
    let spawns = |code: &str| banned_paths(&shipped_part(code), THREAD_PATHS);
    for bad in [
        "use std::thread::spawn;\nfn f() { spawn(|| {}); }",
        "use std::thread;\nfn f() { thread::spawn(|| {}); }",
        "use std::{fs, thread};\nfn f() { thread::scope(|s| {}); }",
        "use std::thread::{self, Builder};",
        "use std::thread::*;",
        "fn f() { std::thread::Builder::new(); }",
        "fn f() { rayon::spawn(|| {}); }",
    ] {
        assert!(!spawns(bad).is_empty(), "missed a spawn in {bad:?}");
    }
    for fine in [
        "thread_local! { static X: u8 = 0; }",
        "fn f() { std::thread::sleep(d); std::thread::current(); }",
        "use std::thread;\nfn f() { thread::yield_now(); }",
    ] {
        assert_eq!(spawns(fine), Vec::<String>::new(), "{fine:?}");
    }
}

#[test]
fn channel_check_sees_std_and_crossbeam_channels() {
    let channels = |code: &str| banned_paths(&shipped_part(code), CHANNEL_PATHS);
    for bad in [
        "use std::sync::mpsc;",
        "use std::sync::{Arc, mpsc::channel};",
        "fn f() { let (tx, rx) = crossbeam_channel::bounded(1); }",
        "use crossbeam::channel::unbounded;",
        "use crossbeam_channel as cc;",
    ] {
        assert!(!channels(bad).is_empty(), "missed a channel in {bad:?}");
    }
    assert_eq!(
        channels("use std::sync::{Arc, Mutex};"),
        Vec::<String>::new()
    );
    let manifest = "[dependencies]\ncrossbeam-channel.workspace = true\n";
    assert!(
        dependencies(manifest)
            .iter()
            .any(|d| d.ships() && CHANNEL_CRATES.contains(&d.package.as_str()))
    );
}

#[test]
fn manifest_reader_finds_dependencies_in_every_form() {
    let rocks = |m: &str| -> Vec<String> {
        dependencies(m)
            .into_iter()
            .filter(links_rocksdb)
            .map(|d| format!("{}:{}", d.table, d.name))
            .collect()
    };
    assert_eq!(
        rocks("[dependencies]\nrocksdb = \"0.25\"\n"),
        ["dependencies:rocksdb"]
    );
    assert_eq!(
        rocks("[dependencies]\nrocksdb.workspace = true\n"),
        ["dependencies:rocksdb"]
    );
    assert_eq!(
        rocks("[dependencies.rocksdb]\nversion = \"0.25\"\nfeatures = [\"lz4\"]\n"),
        ["dependencies:rocksdb"]
    );
    assert_eq!(
        rocks("[dependencies]\ndb = { package = \"rocksdb\", version = \"0.25\" }\n"),
        ["dependencies:db"]
    );
    assert_eq!(
        rocks("[dev-dependencies.db]\npackage = \"rocksdb\"\nversion = \"0.25\"\n"),
        ["dev-dependencies:db"]
    );
    assert_eq!(
        rocks("[target.'cfg(unix)'.dependencies]\nlibrocksdb-sys = \"0.17\"\n"),
        ["dependencies:librocksdb-sys"]
    );
    assert_eq!(
        rocks(
            "[package]\nname = \"x\"\n[features]\nrocksdb = []\n\
             [dependencies]\nhelios-objstore.workspace = true\n# rocksdb = \"0.25\"\n\
             [workspace.dependencies]\nrocksdb = \"0.25\"\n"
        ),
        Vec::<String>::new()
    );
    let anyhow = |m: &str| {
        dependencies(m)
            .into_iter()
            .any(|d| d.ships() && d.package == "anyhow")
    };
    assert!(anyhow("[dependencies]\nanyhow = \"1\"\n"));
    assert!(anyhow("[build-dependencies.anyhow]\nversion = \"1\"\n"));
    assert!(!anyhow("[dev-dependencies]\nanyhow = \"1\"\n"));
    assert!(
        dependencies("[dependencies.helios-engine]\npath = \"../x\"\n")
            .iter()
            .any(|d| d.ships() && d.package == "helios-engine"),
        "layers_depend_only_downwards sees table-form dependencies"
    );
}

#[test]
fn byte_layout_check_sees_integer_encoding_and_std_hash() {
    assert_eq!(
        byte_layout("fn f(n: u64) -> [u8; 8] { n.to_le_bytes() }"),
        ["to_le_bytes"]
    );
    assert_eq!(
        byte_layout("use std::hash::{Hash, Hasher};"),
        ["std::hash::Hash", "std::hash::Hasher"]
    );
    assert!(byte_layout("#[derive(Hash)]\nstruct A;\n// to_le_bytes\n").is_empty());
}
