//! `helios mount` / `helios fork` / `helios umount`: overlay working directories that
//! outlive the command, made and taken down by the engine
//! (`HeliosEngine::mount`, `HeliosEngine::unmount`), which also lets a later
//! `helios commit --workdir DIR` capture only the upper layer. Where this
//! process may not mount overlayfs, `mount` says so in one line, before any
//! copy, and falls back to a plain checkout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use helios_engine::Mounted;

use helios_cli::served::Store as _;

use crate::backend::Backend;
use helios_cli::output::{line, note, progress, reporter};

pub(crate) fn mount(backend: &Backend, name: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    let bar = progress("base copy");
    let made: anyhow::Result<_> = match backend {
        Backend::Local(engine) => engine
            .resolve_name(name)
            .map_err(Into::into)
            .and_then(|id| {
                let mounted = engine.mount(&id, dir, &reporter(&bar))?;
                Ok((id, mounted))
            }),
        Backend::Served(client) => client.mount(name, dir, &reporter(&bar)).map_err(Into::into),
    };
    bar.finish_and_clear();
    let (id, mounted) = made?;
    let short = &id.to_hex()[..12];
    match mounted {
        Mounted::Overlay => line(&format!("{short} mounted at {} (overlay)", dir.display())),
        Mounted::Checkout { reason, report } => {
            note(&format!(
                "overlay mount not allowed here ({reason}); used a plain checkout instead"
            ));
            line(&format!(
                "{short} checked out at {} ({} files written)",
                dir.display(),
                report.files_written
            ));
        }
    }
    backend.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// `helios fork ID DIR...`: every directory at snapshot `ID`
/// ([`helios_engine::HeliosEngine::fork_workdirs`]), one line each.
pub(crate) fn fork(backend: &Backend, name: &str, dirs: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let bar = progress("base copy");
    let made: anyhow::Result<_> = match backend {
        Backend::Local(engine) => engine
            .resolve_name(name)
            .map_err(Into::into)
            .and_then(|id| {
                let forked = engine.fork_workdirs(&id, dirs, &reporter(&bar))?;
                Ok((id, forked))
            }),
        Backend::Served(client) => client.fork(name, dirs, &reporter(&bar)).map_err(Into::into),
    };
    bar.finish_and_clear();
    let (id, forked) = made?;
    let short = &id.to_hex()[..12];
    if let Some(Mounted::Checkout { reason, .. }) = forked.first() {
        note(&format!(
            "overlay mount not allowed here ({reason}); used plain checkouts instead"
        ));
    }
    for (dir, mounted) in dirs.iter().zip(&forked) {
        line(&match mounted {
            Mounted::Overlay => format!("{short} mounted at {} (overlay)", dir.display()),
            Mounted::Checkout { report, .. } => format!(
                "{short} checked out at {} ({} files written)",
                dir.display(),
                report.files_written
            ),
        });
    }
    backend.finish()?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn umount(backend: &Backend, dir: &Path) -> anyhow::Result<ExitCode> {
    match backend {
        Backend::Local(engine) => engine.unmount(dir)?,
        Backend::Served(client) => client.umount(dir)?,
    }
    backend.finish()?;
    line(&format!("unmounted {}", dir.display()));
    Ok(ExitCode::SUCCESS)
}
