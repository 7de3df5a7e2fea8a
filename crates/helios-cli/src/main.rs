//! `helios`: the command line over the Helios engine, as scripts and agent
//! harnesses call it, one process per operation. Every command works on
//! one store (`--store`, `$HELIOS_STORE`, default `./.helios`).
//!
//! This binary is the front end. When the store's server (`helios serve`)
//! answers, it runs the everyday commands (commit, checkout, diff, log,
//! show, ls, cat, ref, watch, unwatch) through it. It links no engine and
//! no RocksDB, whose static initialisation alone costs a process more
//! than the whole call. Everything else it hands to `helios-local` beside
//! it, which has the engine: with no server, with `--no-server`, for help,
//! version and usage errors, and for the commands that open, serve or
//! generate a store. Either way the output and exit codes are the same.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use helios_cli::args::{Global, ServedCommand};
use helios_cli::{output, served};
use helios_client::{Client, socket_path};

/// The binary that answers what the front end does not.
const LOCAL: &str = "helios-local";

/// The part of the command line the front end answers itself.
#[derive(Parser, Debug)]
#[command(name = "helios")]
struct Front {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: ServedCommand,
}

fn main() -> ExitCode {
    if !server_may_answer() {
        return hand_over();
    }
    // Help, version, usage errors and every other command: helios-local's
    // parser knows all of them and says so in its own words.
    let Ok(front) = Front::try_parse() else {
        return hand_over();
    };
    if front.global.no_server {
        return hand_over();
    }
    // No server, or one that cannot be reached: helios-local opens the
    // store itself, or says why it cannot reach the server.
    let Ok(Some(client)) = Client::connect(&front.global.store) else {
        return hand_over();
    };
    helios_cli::main_with(false, |_| {
        served::run(&front.global, front.command, &client)
    })
}

/// Whether a server may answer for the store the command line names: a
/// look at the arguments before any parsing, so that a call with no
/// server (the embedded default) hands over without building the parser.
/// A wrong guess costs time, never correctness: a parsed command connects
/// to the store it names, and helios-local uses a server it finds.
fn server_may_answer() -> bool {
    let mut store = std::env::var_os("HELIOS_STORE");
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--no-server" {
            return false;
        }
        if arg == "--store" {
            store = args.next();
        } else if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("--store=")) {
            store = Some(value.into());
        }
    }
    let store = store.map_or_else(|| PathBuf::from(".helios"), PathBuf::from);
    socket_path(&store).exists()
}

/// Replaces this process with helios-local, same arguments; returns only
/// if that fails.
fn hand_over() -> ExitCode {
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("helios"));
    let local = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(LOCAL),
        Err(e) => {
            output::error(&format!("cannot tell where this binary is: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let e = std::process::Command::new(&local)
        .arg0(arg0)
        .args(args)
        .exec();
    output::error(&format!(
        "cannot run {} (the helios binaries are installed in pairs: helios and {LOCAL}): {e}",
        local.display()
    ));
    ExitCode::FAILURE
}
