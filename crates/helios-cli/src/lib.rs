//! The `helios` command line's shared half, linked by both of its
//! binaries:
//!
//! - `helios`, the front end every script and harness calls: it links no
//!   engine and no RocksDB, so it starts in about a millisecond, and it
//!   answers the everyday commands ([`args::ServedCommand`]) through the
//!   store's running server (`helios serve`);
//! - `helios-local`, which the front end runs (exec, same arguments) for
//!   everything else: no server running, `--no-server`, and the commands
//!   that open, serve or generate a store.
//!
//! Both print through [`served`] and [`output`], so which binary answered
//! never shows: same output, same exit codes (docs/ARCHITECTURE.md, "Two
//! binaries").

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod args;
pub mod logging;
pub mod output;
pub mod served;
pub mod signals;

use std::process::ExitCode;

use signals::Interrupt;

/// Runs a command the way both binaries end one: the engine's warnings go
/// to stderr ([`logging`]), SIGINT and SIGTERM are
/// caught while it runs ([`signals`]), an error becomes one line on stderr
/// and exit status 1, a signal the status 128 + its number. `serving`: the
/// command is a server, which a signal stops on purpose and which says so
/// itself.
pub fn main_with(
    serving: bool,
    run: impl FnOnce(&Interrupt) -> anyhow::Result<ExitCode>,
) -> ExitCode {
    logging::init(serving);
    let interrupt = match Interrupt::install() {
        Ok(interrupt) => interrupt,
        Err(e) => {
            output::error(&format!("cannot install signal handlers: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = run(&interrupt);
    if let Some((signal, status)) = interrupt.outcome().filter(|_| !serving) {
        // The command closed the engine on its way out: what it says
        // below is the whole story of what was written.
        if let Err(e) = &result {
            output::error(&describe(e));
        }
        output::note(&format!(
            "interrupted by {signal}: stopped cleanly; everything acknowledged is stored"
        ));
        return ExitCode::from(status);
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            output::error(&describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, as a server says it.
fn describe(e: &anyhow::Error) -> String {
    helios_client::describe(e.as_ref())
}
