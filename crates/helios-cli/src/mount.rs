//! `helios mount` / `helios umount`: overlay working directories that
//! outlive the command. The lower layer (a read-only copy of the snapshot)
//! is made once per snapshot under `<store>/overlay/lower/`; each mount's
//! upper and work directories live under `<store>/overlay/mounts/`.
//! Where this process may not mount overlayfs, `mount` says so in one line
//! and falls back to a plain checkout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use helios_engine::{EngineError, HeliosEngine, StateManager};
use helios_types::HashAlgorithm;
use helios_workdir::overlay::{OverlayMount, unmount_dir};
use helios_workdir::{CheckoutOptions, WorkdirError};

use crate::output::{line, note, progress, reporter};

/// The scratch directory of the mount at `dir`.
fn scratch(store: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let name = HashAlgorithm::Blake3
        .digest(dir.as_os_str().as_encoded_bytes())
        .to_hex();
    Ok(store.join("overlay/mounts").join(&name[..32]))
}

pub(crate) fn mount(
    engine: &HeliosEngine,
    store: &Path,
    name: &str,
    dir: &Path,
) -> anyhow::Result<ExitCode> {
    let id = engine.resolve_name(name)?;
    engine.check_workdir(dir)?;
    let vst = engine.restore(&id)?;
    let lower = store.join("overlay/lower").join(id.to_hex());
    if !lower.exists() {
        let bar = progress("base copy");
        let tmp = lower.with_extension("partial");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        helios_workdir::materialize(&vst, engine.objects(), &tmp, &|_| true, &reporter(&bar))?;
        std::fs::rename(&tmp, &lower)?;
        bar.finish_and_clear();
    }
    std::fs::create_dir_all(dir)?;
    let scratch = scratch(store, dir)?;
    match OverlayMount::create(&lower, &vst, &vst, engine.objects(), &scratch, dir) {
        Ok(mounted) => {
            mounted.keep_mounted();
            line(&format!(
                "{} mounted at {} (overlay)",
                &id.to_hex()[..12],
                dir.display()
            ));
        }
        Err(WorkdirError::OverlayUnavailable { reason }) => {
            note(&format!(
                "overlay mount not allowed here ({reason}); using a plain checkout instead"
            ));
            let report = engine.checkout(&id, dir, &CheckoutOptions::default(), &|_, _| {})?;
            line(&format!(
                "{} checked out at {} ({} files written)",
                &id.to_hex()[..12],
                dir.display(),
                report.files_written
            ));
        }
        Err(e) => return Err(EngineError::from(e).into()),
    }
    engine.close()?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn umount(store: &Path, dir: &Path) -> anyhow::Result<ExitCode> {
    let scratch = scratch(store, dir)?;
    unmount_dir(dir, &scratch)?;
    line(&format!("unmounted {}", dir.display()));
    Ok(ExitCode::SUCCESS)
}
