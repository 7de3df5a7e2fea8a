//! `helios-local`: the `helios` command line with the engine in the
//! process. The `helios` front end runs it (exec, same arguments) for
//! every command it does not answer through a server itself: with no
//! server running, with `--no-server`, and for the commands that open,
//! serve, or generate a store. Every command works on one store
//! (`--store`, `$HELIOS_STORE`, default `./.helios`): through its server
//! when one runs, otherwise by opening it itself. It does one thing, and
//! exits non-zero with a one-line error on stderr when it fails.

mod backend;
mod bench;
mod commands;
mod mount;
mod remotes;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use helios_cli::args::{Global, ServedCommand};
use helios_demo::DemoConfig;

/// Content-addressed snapshots of code workspaces for tree search.
///
/// Snapshot a directory, switch it between snapshots touching only what
/// differs, compare, inspect, collect garbage and verify.
///
/// What the engine reports on its own (a special file it skipped, a
/// damaged record it ignored, a background write that failed) goes to
/// stderr, one line each; `HELIOS_LOG` sets how much: `warn` by default,
/// `info`, `debug`, `off`, or directives per crate such as
/// `helios_workdir=debug`.
#[derive(Parser, Debug)]
#[command(name = "helios", version, about, long_about)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Create an empty store.
    Init {
        /// Hash algorithm for every object: blake3 or sha256.
        #[arg(long, default_value = "blake3")]
        algorithm: helios_types::HashAlgorithm,
    },
    #[command(flatten)]
    Served(ServedCommand),
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
    /// Name, list and forget remotes: shared copies of snapshots in a
    /// directory every machine mounts (`file:///ABSOLUTE/DIR`).
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Make a new store (--store) that shares a remote's snapshots: the
    /// remote becomes `origin`, each of its refs the local ref
    /// `origin/REF`, and the store reads what it lacks from it as it is
    /// used (checkout, cat, show…), every object rehashed. With --full it
    /// fetches every ref's snapshots now instead.
    Clone {
        /// The remote: file:///ABSOLUTE/DIR.
        url: String,
        /// Fetch every ref's snapshots and history now (the store then
        /// needs the remote no more).
        #[arg(long)]
        full: bool,
    },
    /// Send a snapshot, its history, and what they reach that the remote
    /// lacks, then point the remote's ref at it (only forward: the ref's
    /// snapshot must be an ancestor, unless --force). A snapshot given by
    /// id without --to moves no ref: another machine reads it by id.
    Push {
        /// The remote's name (see `helios remote add`).
        remote: String,
        /// Snapshot id, prefix or ref to send.
        what: String,
        /// The remote ref to point at it (default: WHAT, when it is a ref;
        /// none for an id).
        #[arg(long, value_name = "REF")]
        to: Option<String>,
        /// Move the remote ref even where that drops snapshots it named.
        #[arg(long)]
        force: bool,
    },
    /// Bring a remote ref's snapshot (or one pushed by id) and what it
    /// reaches that this store lacks (every object rehashed, all stored in
    /// one write or none); for a ref, the local ref REMOTE/REF then names
    /// it. Prints its id
    Fetch {
        /// The remote's name.
        remote: String,
        /// The remote ref, or a snapshot's full id.
        what: String,
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

/// `helios remote …`.
#[derive(Subcommand, Debug)]
pub(crate) enum RemoteCommand {
    /// Name a remote; its directory is created and marked with the
    /// store's hash algorithm.
    Add {
        /// The name (letters, digits, `-`, `_`, `.`).
        name: String,
        /// Where it is: file:///ABSOLUTE/DIR.
        url: String,
        /// Read from it whatever this store lacks, as it is used (one
        /// remote per store; `helios clone` sets it).
        #[arg(long)]
        read_through: bool,
    },
    /// List the remotes.
    List,
    /// Forget a remote (nothing on it is touched).
    Remove {
        /// The name.
        name: String,
    },
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
    /// With `--server`: leave the working directory unwatched, so that
    /// every snapshot scans it (with the server's stat cache warm): the
    /// full-scan comparison with `git add -A`, which scans too.
    #[arg(long)]
    pub(crate) no_watch: bool,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A signal is how a server is told to stop: it says so itself and
    // exits 0 once drained.
    let serving = matches!(cli.command, Command::Serve { .. });
    helios_cli::main_with(serving, |interrupt| commands::run(cli, interrupt))
}
