//! The Python package's gate: build the `helios` wheel (crates/helios-py,
//! python/pyproject.toml) with maturin, install it into a virtual
//! environment under the target directory and run its pytest suite
//! (python/tests, which also runs the example harness in examples/).
//!
//! The wheel is built in the environment it is given — ci's coverage
//! environment — for two reasons. It reuses the debug build of every
//! dependency the tests just made (RocksDB's C++ is not compiled again),
//! and it leaves those artifacts as ci built them: cargo does not track
//! the coverage wrapper, so a build outside it would overwrite the
//! instrumented libraries in place with plain ones and the coverage
//! report would count nothing of them. The extension is then instrumented
//! too, and pytest's runs add their profiles to the report's.
//!
//! The virtual environment (maturin and pytest from PyPI) is made once
//! per target directory and reused. What the gate costs a ci run on a warm
//! target directory: PyO3 and helios-py compiled twice (about 3 s each
//! time, 2 cores), since maturin builds them with its own PyO3
//! configuration (`PYO3_CONFIG_FILE`, `PYO3_BUILD_EXTENSION_MODULE`) and
//! the tests' build without it; the wheel packed and installed (3 s);
//! pytest (2–3 s).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cmd::{cmd, run};
use crate::jobs::target_dir;

/// What the virtual environment holds besides the wheel. Maturin 1.9.4 is
/// the first to set `PYO3_BUILD_EXTENSION_MODULE` itself.
const TOOLS: [&str; 2] = ["maturin>=1.9.4,<2", "pytest>=8,<10"];

/// Builds the wheel, installs it into the venv and runs pytest, each
/// command with `env` set.
pub(crate) fn tests(root: &Path, env: &[(String, String)]) -> anyhow::Result<()> {
    let base = root.join(target_dir()).join("python");
    let bin = venv(&base)?;
    let wheels = base.join("wheels");
    match std::fs::remove_dir_all(&wheels) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", wheels.display()));
        }
        _ => {}
    }

    let mut build = program(
        &bin,
        "maturin",
        &["build", "--profile", "dev", "--locked", "-o"],
    );
    build.arg(&wheels).current_dir(root.join("python"));
    run("python wheel", with(build, env))?;
    let wheel = only_wheel(&wheels)?;

    let mut install = program(
        &bin,
        "pip",
        &["install", "--quiet", "--force-reinstall", "--no-deps"],
    );
    install.arg(&wheel);
    run("python install", install)?;

    // Run from the tests' directory, with pytest's cache off: nothing is
    // written into the clone, and the `helios` source directory beside
    // them cannot shadow the installed package.
    let mut pytest = program(&bin, "pytest", &["-q", "-p", "no:cacheprovider"]);
    pytest.current_dir(root.join("python").join("tests"));
    run("pytest", with(pytest, env))
}

/// The venv's `bin` directory, making the venv first if needed.
fn venv(base: &Path) -> anyhow::Result<PathBuf> {
    let venv = base.join("venv");
    let bin = venv.join("bin");
    if bin.join("maturin").exists() && bin.join("pytest").exists() {
        return Ok(bin);
    }
    let mut make = cmd("python3", &["-m", "venv", "--clear"]);
    make.arg(&venv);
    run("python venv", make)?;
    let mut install = program(&bin, "pip", &["install", "--quiet"]);
    install.args(TOOLS);
    run("install maturin and pytest (once)", install)?;
    Ok(bin)
}

fn program(bin: &Path, name: &str, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(bin.join(name));
    c.args(args);
    c
}

fn with(mut c: std::process::Command, env: &[(String, String)]) -> std::process::Command {
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c
}

/// The one wheel maturin wrote into `dir`.
fn only_wheel(dir: &Path) -> anyhow::Result<PathBuf> {
    let wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    match wheels.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!("expected one wheel in {}, found {wheels:?}", dir.display()),
    }
}
