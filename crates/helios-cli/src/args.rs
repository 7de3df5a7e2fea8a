//! The arguments every `helios` binary reads: the global flags, and the
//! commands a server answers without the engine in the calling process
//! (the rest are helios-local's own).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// The flags every command takes.
#[derive(Args, Debug)]
pub struct Global {
    /// The store directory.
    #[arg(long, global = true, env = "HELIOS_STORE", default_value = ".helios")]
    pub store: PathBuf,
    /// Print machine-readable JSON instead of text (read commands).
    #[arg(long, global = true)]
    pub json: bool,
    /// Open the store in this process even when a server (`helios
    /// serve`) owns it; fails while the server holds it.
    #[arg(long, global = true, env = "HELIOS_NO_SERVER")]
    pub no_server: bool,
}

/// How durable `commit` must be before it returns.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DurabilityArg {
    /// Returns once the snapshot is on disk with the log synced.
    Sync,
    /// Returns once queued; written before the command exits.
    Async,
}

/// The everyday commands: the `helios` front end answers them through a
/// running server, and helios-local answers them with the store opened in
/// process, printing the same.
#[derive(Subcommand, Debug)]
pub enum ServedCommand {
    /// Snapshot a working directory; the new id is the last line of stdout.
    Commit {
        /// The directory to snapshot.
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
        /// A label (commit message).
        #[arg(short = 'm', long, default_value = "")]
        message: String,
        /// Wait for the disk (sync) or only for the queue (async).
        #[arg(long, value_enum, default_value = "sync")]
        durability: DurabilityArg,
        /// Also honour .gitignore files (.heliosignore always counts).
        #[arg(long)]
        gitignore: bool,
    },
    /// Make a working directory exactly a snapshot, touching only what differs.
    Checkout {
        /// Snapshot id, unique id prefix, or ref name.
        id: String,
        /// The directory to switch.
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
        /// Scan the whole directory instead of trusting its recorded state.
        #[arg(long)]
        full: bool,
        /// Discard untracked or changed files that the checkout would
        /// delete or overwrite (without it, checkout refuses and lists them).
        #[arg(long)]
        force: bool,
    },
    /// List what changed between two snapshots.
    Diff {
        /// Base snapshot.
        a: String,
        /// Target snapshot.
        b: String,
    },
    /// Show history: from a snapshot (default: every snapshot, newest first).
    Log {
        /// Start here and follow first parents.
        id: Option<String>,
        /// At most this many entries.
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: usize,
    },
    /// Show a snapshot's record.
    Show {
        /// Snapshot id, prefix or ref.
        id: String,
    },
    /// List a directory of a snapshot.
    Ls {
        /// Snapshot id, prefix or ref.
        id: String,
        /// Directory inside the snapshot (default: the root).
        path: Option<String>,
    },
    /// Print a file of a snapshot (or a byte range of it) to stdout.
    ///
    /// Large files are streamed chunk by chunk; with --range only the
    /// chunks the range touches are read.
    Cat {
        /// Snapshot id, prefix or ref.
        id: String,
        /// File inside the snapshot.
        path: String,
        /// Bytes to print: `START..END` (END excluded), `START..` (to the
        /// end) or `START+LENGTH`, in bytes from 0. A range past the end
        /// is cut at the end; one that starts past it is an error.
        #[arg(long, value_parser = parse_range)]
        range: Option<std::ops::Range<u64>>,
    },
    /// Name a snapshot (or print what a name points at).
    Ref {
        /// The ref name.
        name: String,
        /// Point it here; omit to print it.
        id: Option<String>,
    },
    /// Keep a working directory watched by the store's server (inotify),
    /// so that each commit of it reads only what changed since the last
    /// (the first still reads everything). Needs a running server.
    Watch {
        /// The directory to watch.
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
    },
    /// Stop watching a working directory (see `helios watch`).
    Unwatch {
        /// The watched directory.
        #[arg(long, default_value = ".")]
        workdir: PathBuf,
    },
}

/// Parses `START..END`, `START..` or `START+LENGTH` (bytes).
pub(crate) fn parse_range(text: &str) -> Result<std::ops::Range<u64>, String> {
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{s}` is not a byte offset"))
    };
    let range = if let Some((start, end)) = text.split_once("..") {
        let start = number(start)?;
        let end = if end.is_empty() {
            u64::MAX
        } else {
            number(end)?
        };
        start..end
    } else if let Some((start, len)) = text.split_once('+') {
        let start = number(start)?;
        start..start.saturating_add(number(len)?)
    } else {
        return Err(format!(
            "`{text}`: write START..END, START.. or START+LENGTH"
        ));
    };
    if range.end < range.start {
        return Err(format!("`{text}`: the range ends before it starts"));
    }
    Ok(range)
}
