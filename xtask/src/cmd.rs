//! Running external commands: print them, time them, fail loudly.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// Builds a command from a program and arguments.
pub(crate) fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Runs a command with inherited output; an error if it fails.
pub(crate) fn run(step: &str, mut command: Command) -> anyhow::Result<()> {
    eprintln!("\n==> {step}: {}", describe(&command));
    let start = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("cannot start `{}`", describe(&command)))?;
    eprintln!(
        "==> {step}: {} in {:.1?}",
        if status.success() { "ok" } else { "FAILED" },
        start.elapsed()
    );
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

/// Runs a command and returns its stdout; an error if it fails.
pub(crate) fn output(mut command: Command) -> anyhow::Result<String> {
    let out = command
        .output()
        .with_context(|| format!("cannot start `{}`", describe(&command)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            describe(&command),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// True when `program` can be started.
pub(crate) fn exists(program: &str, version_arg: &str) -> bool {
    Command::new(program)
        .arg(version_arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn describe(c: &Command) -> String {
    std::iter::once(c.get_program().to_string_lossy().into_owned())
        .chain(c.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}
