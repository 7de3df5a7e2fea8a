//! `helios mount` / `helios umount`: overlay working directories that
//! outlive the command, set up by helios-workdir's `OverlayBase`. The lower
//! layer (a read-only copy of the snapshot) is made once per snapshot under
//! `<store>/overlay/lower/`; each mount's upper and work directories live
//! under `<store>/overlay/mounts/`. Where this process may not mount
//! overlayfs, `mount` says so in one line, before any copy, and falls back
//! to a plain checkout. Where the layers live in the store is the engine's
//! business (`overlay_lower`, `overlay_scratch`).

use std::path::Path;
use std::process::ExitCode;

use helios_engine::{EngineError, HeliosEngine};
use helios_workdir::overlay::unmount_dir;
use helios_workdir::{CheckoutOptions, OverlayBase, WorkdirError};

use crate::output::{line, note, progress, reporter};

pub(crate) fn mount(engine: &HeliosEngine, name: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    let id = engine.resolve_name(name)?;
    engine.check_workdir(dir)?;
    let vst = engine.restore(&id)?;
    let lower = engine.overlay_lower(&id)?;
    std::fs::create_dir_all(dir)?;
    let scratch = engine.overlay_scratch(dir)?;
    let bar = progress("base copy");
    let mounted = OverlayBase::new(&vst, engine.objects(), &lower, &scratch, &reporter(&bar))
        .and_then(|base| base.mount(&vst, engine.objects(), &scratch, dir));
    bar.finish_and_clear();
    match mounted {
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

pub(crate) fn umount(engine: &HeliosEngine, dir: &Path) -> anyhow::Result<ExitCode> {
    let scratch = engine.overlay_scratch(dir)?;
    unmount_dir(dir, &scratch)?;
    engine.close()?;
    line(&format!("unmounted {}", dir.display()));
    Ok(ExitCode::SUCCESS)
}
