//! The gates: `ci` (everything, as CI runs it) and `precommit` (the fast
//! subset the git hook runs).
//!
//! `ci` builds once: clippy, the tests and the coverage report all run in
//! the environment `cargo llvm-cov show-env` prints, so RocksDB's C++ is
//! compiled a single time per target directory (about 12 minutes on a fresh
//! 2-core machine) and reused by every later run that keeps the directory.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;

use crate::cmd::{cmd, output, run};
use crate::prereqs::Prereqs;

/// The line-coverage floor over the library crates and the `helios`
/// binary (whose tests run it as a child process; its profiles count).
const COVERAGE_FLOOR: &str = "85";

/// What coverage does not count: the automation crate, benches, fuzz
/// targets and the test files themselves.
const COVERAGE_IGNORE: &str = r"(^|/)(xtask|benches|fuzz|tests)/";

pub(crate) fn ci(root: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    let prereqs = Prereqs::ensure()?;
    run("rustfmt", cmd("cargo", &["fmt", "--all", "--check"]))?;

    let env = coverage_env(&prereqs)?;
    let with_env = |mut c: Command| {
        c.envs(env.iter().map(|(k, v)| (k, v)));
        c
    };
    run(
        "coverage clean",
        with_env(cmd("cargo", &["llvm-cov", "clean", "--workspace"])),
    )?;
    run(
        "clippy",
        with_env(cmd(
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        )),
    )?;
    run(
        "tests",
        with_env(cmd("cargo", &["test", "--workspace", "--locked"])),
    )?;
    run(
        "coverage",
        with_env(cmd(
            "cargo",
            &[
                "llvm-cov",
                "report",
                "--summary-only",
                "--ignore-filename-regex",
                COVERAGE_IGNORE,
                "--fail-under-lines",
                COVERAGE_FLOOR,
            ],
        )),
    )?;

    // Said before cargo-deny runs, so the skip shows whatever its outcome.
    eprintln!(
        "==> cargo-deny advisories: SKIPPED — the RustSec advisory database is fetched from a git host \
         this network cannot reach. Known advisories are handled by hand: `im` is banned in deny.toml \
         in favour of `imbl`."
    );
    run(
        "cargo-deny",
        cmd(
            "cargo",
            &[
                "deny",
                "--all-features",
                "check",
                "licenses",
                "bans",
                "sources",
            ],
        ),
    )?;
    eprintln!(
        "\nci: all gates passed in {:.0?} ({})",
        start.elapsed(),
        root.display()
    );
    Ok(())
}

/// The variables that make plain `cargo` commands build instrumented code
/// into one shared target directory.
fn coverage_env(prereqs: &Prereqs) -> anyhow::Result<Vec<(String, String)>> {
    let mut tools = vec![
        (
            "LLVM_COV".to_owned(),
            prereqs.llvm_cov.display().to_string(),
        ),
        (
            "LLVM_PROFDATA".to_owned(),
            prereqs.llvm_profdata.display().to_string(),
        ),
    ];
    let mut show = cmd("cargo", &["llvm-cov", "show-env", "--sh"]);
    show.envs(tools.iter().map(|(k, v)| (k, v)));
    let script = output(show).context("cargo llvm-cov show-env")?;
    tools.extend(script.lines().filter_map(parse_export));
    Ok(tools)
}

/// Parses `export KEY='value'` (POSIX single quoting, `'\''` for a quote).
fn parse_export(line: &str) -> Option<(String, String)> {
    let (key, value) = line.strip_prefix("export ")?.split_once('=')?;
    let value = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(value);
    Some((key.to_owned(), value.replace(r"'\''", "'")))
}

pub(crate) fn precommit() -> anyhow::Result<()> {
    run("rustfmt", cmd("cargo", &["fmt", "--all", "--check"]))?;
    run(
        "clippy",
        cmd(
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
    )?;
    run(
        "unit tests",
        cmd("cargo", &["test", "--workspace", "--lib", "--bins"]),
    )
}

pub(crate) fn install_hooks() -> anyhow::Result<()> {
    run(
        "git config",
        cmd("git", &["config", "core.hooksPath", ".githooks"]),
    )?;
    eprintln!("pre-commit hook enabled: every commit first runs `cargo xtask precommit`");
    Ok(())
}

pub(crate) fn fuzz(seconds: u64) -> anyhow::Result<()> {
    if cmd("cargo", &["+nightly", "fuzz", "--version"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        run(
            "install cargo-fuzz",
            cmd("cargo", &["+nightly", "install", "--locked", "cargo-fuzz"]),
        )?;
    }
    let max_time = format!("-max_total_time={seconds}");
    run(
        "fuzz decode",
        cmd(
            "cargo",
            &[
                "+nightly",
                "fuzz",
                "run",
                "decode",
                "fuzz/corpus/decode",
                "--",
                &max_time,
            ],
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::parse_export;

    #[test]
    fn parses_shell_exports() {
        assert_eq!(
            parse_export("export A='b c'"),
            Some(("A".into(), "b c".into()))
        );
        assert_eq!(
            parse_export(r"export Q='it'\''s'"),
            Some(("Q".into(), "it's".into()))
        );
        assert_eq!(parse_export("# comment"), None);
    }
}
