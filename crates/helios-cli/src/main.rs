//! `helios`: the command line over the Helios engine. Until the engine lands
//! it offers only the commands that need no store.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use helios_types::{Blob, HashAlgorithm};

/// Content-addressed snapshots of code workspaces for tree search.
#[derive(Parser, Debug)]
#[command(name = "helios", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the object hash of a file's contents, as a blob.
    HashObject {
        /// The file to hash.
        path: std::path::PathBuf,
        /// Hash algorithm: blake3 (default) or sha256.
        #[arg(long, default_value = "blake3")]
        algorithm: HashAlgorithm,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::HashObject { path, algorithm } => {
            let data = std::fs::read(&path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            #[allow(clippy::print_stdout, reason = "the command's output")]
            {
                println!("{}", Blob::hash_of(algorithm, &data));
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "errors go to stderr")]
            {
                eprintln!("helios: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
