//! `helios`: the command line over the Helios engine. Every command works
//! on one store (`--store`, `$HELIOS_STORE`, default `./.helios`): through
//! its server when one runs (`helios serve`), otherwise by opening it
//! itself. It does one thing, and exits non-zero with a one-line error on
//! stderr when it fails.

mod backend;
mod bench;
mod commands;
mod mount;
mod output;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use helios_demo::DemoConfig;

/// Content-addressed snapshots of code workspaces for tree search.
///
/// Snapshot a directory, switch it between snapshots touching only what
/// differs, compare, inspect, collect garbage and verify.
#[derive(Parser, Debug)]
#[command(name = "helios", version, about, long_about)]
pub(crate) struct Cli {
    /// The store directory.
    #[arg(long, global = true, env = "HELIOS_STORE", default_value = ".helios")]
    pub(crate) store: PathBuf,
    /// Print machine-readable JSON instead of text (read commands).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Open the store in this process even when a server (`helios
    /// serve`) owns it; fails while the server holds it.
    #[arg(long, global = true, env = "HELIOS_NO_SERVER")]
    pub(crate) no_server: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How durable `commit` must be before it returns.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum DurabilityArg {
    /// Returns once the snapshot is on disk with the log synced.
    Sync,
    /// Returns once queued; written before the command exits.
    Async,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Create an empty store.
    Init {
        /// Hash algorithm for every object: blake3 or sha256.
        #[arg(long, default_value = "blake3")]
        algorithm: helios_types::HashAlgorithm,
    },
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
    /// Mount a snapshot as an overlayfs working directory (Linux, root or
    /// user namespace): reads share one base copy, writes stay in a layer
    /// of their own.
    Mount {
        /// Snapshot id, prefix or ref.
        id: String,
        /// Where to mount it.
        dir: PathBuf,
    },
    /// Prepare several working directories at one snapshot in one call,
    /// for a harness that fans out from one node: overlay mounts over one
    /// shared base copy where mounting is allowed (each as `helios mount`
    /// makes it; take them down with `helios umount`), plain checkouts
    /// otherwise.
    Fork {
        /// Snapshot id, prefix or ref.
        id: String,
        /// The directories (each created if missing; an existing one must
        /// be empty for a mount, or holds a checkout's changes).
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
    },
    /// Unmount a directory made by `helios mount`.
    Umount {
        /// The mounted directory.
        dir: PathBuf,
    },
    /// Run a server that owns the store, so that any number of processes
    /// can use it at once (each `helios` command finds it and goes through
    /// it). Listens on `<store>/server.sock` (mode 0600, same user only);
    /// prints `ready` once it accepts calls; SIGTERM or SIGINT drains the
    /// calls in flight, writes queued commits and removes the socket.
    Serve {
        /// Also serve Prometheus metrics at http://ADDR/metrics (a
        /// loopback address, e.g. 127.0.0.1:9185; port 0 picks one).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
        /// Only check whether a server answers for the store: exit 0 if
        /// one does, 1 if none does.
        #[arg(long)]
        check: bool,
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
    /// Delete what no ref, pin, working directory or mount reaches, then
    /// compact the store: deleted objects leave the disk and the rest is
    /// rewritten under the bottommost level's zstd compression (slow on a
    /// large store: it reads and writes all of it).
    Gc,
    /// Verify every snapshot: reread and rehash every object (exit 1 on damage).
    Fsck,
    /// Counters and sizes of the store.
    Stats,
    /// The macro benchmark: a seeded search-like trace replayed through
    /// Helios and through git side by side (needs git on PATH). With
    /// --json the last stdout line is one JSON object.
    Bench(BenchArgs),
    /// The MCTS demonstration: a search over code edits in a generated
    /// 2,000-file workspace with seeded defects and a real checker (run
    /// with python3), whose reward pays for the engine's own cost. Creates
    /// the store if needed. With --json the last stdout line is one JSON
    /// object.
    Demo(DemoArgs),
}

/// What `helios bench` is told.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Files in the generated workspace.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) files: usize,
    /// Nodes in the trace.
    #[arg(long, default_value_t = 200)]
    pub(crate) nodes: usize,
    /// Seed of the workspace and the trace.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// How the Helios side runs: `engine`, in this process beside git's
    /// porcelain (`add -A` + `commit`, `checkout`); `cli`, one `helios`
    /// process per operation as a script or an agent harness calls it,
    /// beside git's plumbing (`add -A` + `write-tree`, `read-tree -u
    /// --reset`), with no-op checkouts and git's repacked size too.
    #[arg(long, value_enum, default_value = "engine")]
    pub(crate) via: Via,
    /// With `--via cli`: also measure the per-call cost (`helios log -n
    /// 1`) of a store after this many commits of a one-file edit, e.g.
    /// `100,1000,10000`.
    #[arg(long, value_delimiter = ',', value_name = "COMMITS")]
    pub(crate) history: Vec<usize>,
    /// With `--via cli`: start `helios serve` on the store for the run and
    /// register the working directory with its watcher, so that every
    /// `helios` process goes through the server, as harnesses sharing a
    /// store do.
    #[arg(long)]
    pub(crate) server: bool,
    /// Keep the scratch directory (stores, working directories, git's
    /// repositories) and print where it is, to look at what a run left.
    #[arg(long)]
    pub(crate) keep: bool,
}

/// Where `helios bench` runs the Helios side of the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Via {
    /// The engine in this process.
    Engine,
    /// The `helios` binary, one process per operation.
    Cli,
}

/// What `helios demo` is told. Each flag's default is the demo's own
/// (`DemoConfig::default()`), so the two cannot drift apart.
#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Nodes the search creates (each a commit, a switch and a check).
    #[arg(long, default_value_t = DemoConfig::default().search.max_nodes)]
    pub(crate) nodes: usize,
    /// Seed of the workspace and the search (the first seed of an
    /// experiment).
    #[arg(long, default_value_t = DemoConfig::default().search.seed)]
    pub(crate) seed: u64,
    /// Nodes evaluated at once, each by a worker thread with a working
    /// directory of its own (`worker-N` under the demo's directory); the
    /// checker runs in each at the same time. 1 runs the search in order.
    #[arg(long, default_value_t = DemoConfig::default().search.workers, value_name = "N")]
    pub(crate) workers: usize,
    /// Files in the generated workspace (at least 16).
    #[arg(long, default_value_t = DemoConfig::default().files)]
    pub(crate) files: usize,
    /// Functions of the package that carry a seeded defect (1 to 5).
    #[arg(long, default_value_t = DemoConfig::default().defects)]
    pub(crate) defects: usize,
    /// Engine cost per microsecond of commit latency.
    #[arg(
        long,
        default_value_t = DemoConfig::default().search.weights.per_latency_us,
        value_name = "WEIGHT"
    )]
    pub(crate) cost_per_us: f64,
    /// Engine cost per new object a commit creates.
    #[arg(
        long,
        default_value_t = DemoConfig::default().search.weights.per_new_object,
        value_name = "WEIGHT"
    )]
    pub(crate) cost_per_object: f64,
    /// Leave engine cost out of the reward (both weights zero).
    #[arg(long, conflicts_with_all = ["cost_per_us", "cost_per_object", "waste_experiment"])]
    pub(crate) cost_off: bool,
    /// Instead of one search, run this many consecutive seeds from
    /// --seed, each with the engine-cost weights on and off, and print
    /// how often the best path carries a wasteful edit (a Markdown
    /// table; with --json, one JSON object).
    #[arg(long, value_name = "SEEDS")]
    pub(crate) waste_experiment: Option<u64>,
}

/// The error and its causes on one line, as a server says it.
fn describe(e: &anyhow::Error) -> String {
    helios_server::describe(e.as_ref())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let interrupt = match signals::Interrupt::install() {
        Ok(interrupt) => interrupt,
        Err(e) => {
            output::error(&format!("cannot install signal handlers: {e}"));
            return ExitCode::FAILURE;
        }
    };
    // A signal is how a server is told to stop: it says so itself and
    // exits 0 once drained.
    let serving = matches!(cli.command, Command::Serve { .. });
    let result = commands::run(cli, &interrupt);
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

/// Parses `START..END`, `START..` or `START+LENGTH` (bytes).
fn parse_range(text: &str) -> Result<std::ops::Range<u64>, String> {
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
