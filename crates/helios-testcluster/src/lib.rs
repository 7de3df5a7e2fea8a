//! A real S3-compatible cluster for the remote tier's tests and benches:
//! [`Cluster::start`] runs N Garage nodes on loopback (each a `garage
//! server` child process with its own directories and ports), joins them
//! with every object replicated on 3 nodes (or all, when fewer), and makes
//! one bucket and one key; [`Cluster::kill`] SIGKILLs a node mid-run;
//! dropping the cluster stops the rest and deletes its files.
//!
//! Garage is not a dependency: its binary is found through `HELIOS_GARAGE`
//! (what `cargo xtask ci` sets after installing it once per machine) or on
//! `PATH`. [`Cluster::start_or_skip`] returns `None` when there is none and
//! says so on stderr, so that a test without Garage is skipped visibly,
//! never silently passed.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The bucket every cluster has.
pub const BUCKET: &str = "helios";

/// The key every cluster has (Garage's form: `GK` and 24 hex digits; a
/// secret of 64).
const KEY_ID: &str = "GK4865c16f73000000000000c1";
const KEY_SECRET: &str = "5e1f0c0ffee0000000000000000000000000000000000000000000000000000d";

/// How long a cluster may take to come up (seconds on this machine; a
/// loaded one is given far more).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What can keep a cluster from starting.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No Garage binary.
    #[error(
        "no Garage binary: set HELIOS_GARAGE or put `garage` on PATH \
         (`cargo xtask ci` installs it: cargo install garage@2.5.0)"
    )]
    NoGarage,
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A `garage` admin command failed.
    #[error("`garage {args}` failed: {stderr}")]
    Admin {
        /// Its arguments.
        args: String,
        /// What it printed.
        stderr: String,
    },
    /// The cluster did not come up in time.
    #[error("the cluster did not come up in {0:?}: {1}")]
    Timeout(Duration, String),
}

/// One node: its config and S3 port, and its process while it runs.
#[derive(Debug)]
struct Node {
    config: PathBuf,
    s3_port: u16,
    process: Option<Child>,
}

/// A running cluster; dropping it kills every node.
#[derive(Debug)]
pub struct Cluster {
    garage: PathBuf,
    nodes: Vec<Node>,
    /// The nodes' directories (removed last, once they are dead).
    dir: tempfile::TempDir,
}

/// The Garage binary, if there is one.
pub fn garage_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HELIOS_GARAGE") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("garage"))
        .find(|p| p.is_file())
}

impl Cluster {
    /// Starts `nodes` nodes and waits until the bucket takes writes.
    pub fn start(nodes: usize) -> Result<Cluster, ClusterError> {
        let garage = garage_binary().ok_or(ClusterError::NoGarage)?;
        let dir = tempfile::Builder::new()
            .prefix("helios-garage-")
            .tempdir()
            .map_err(|source| io("making the cluster's directory", source))?;
        let secret = rpc_secret();
        let mut cluster = Cluster {
            garage,
            nodes: Vec::with_capacity(nodes),
            dir,
        };
        for n in 0..nodes {
            let node = cluster.configure(n, nodes, &secret)?;
            cluster.nodes.push(node);
            cluster.run(n)?;
        }
        cluster.join()?;
        Ok(cluster)
    }

    /// [`Cluster::start`], or `None` (said on stderr, naming `test`) when
    /// there is no Garage binary here. Any other failure panics: a cluster
    /// that should start and does not is a failed test.
    pub fn start_or_skip(test: &str, nodes: usize) -> Option<Cluster> {
        match Cluster::start(nodes) {
            Ok(cluster) => Some(cluster),
            Err(ClusterError::NoGarage) => {
                #[allow(clippy::print_stderr, reason = "a skipped test says why")]
                {
                    eprintln!("SKIPPED {test}: {}", ClusterError::NoGarage);
                }
                None
            }
            Err(e) => panic!("starting a {nodes}-node Garage cluster: {e}"),
        }
    }

    /// The URL of a remote at `prefix` in the cluster's bucket.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The variables that point an S3 client (Helios's, through
    /// `object_store`) at node `node`.
    pub fn env(&self, node: usize) -> Vec<(&'static str, String)> {
        vec![
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.nodes[node].s3_port),
            ),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_ACCESS_KEY_ID", KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", KEY_SECRET.to_owned()),
            ("AWS_REGION", "garage".to_owned()),
        ]
    }

    /// SIGKILLs node `node` (no clean shutdown: a machine lost).
    pub fn kill(&mut self, node: usize) -> Result<(), ClusterError> {
        if let Some(mut process) = self.nodes[node].process.take() {
            process
                .kill()
                .map_err(|source| io("killing a Garage node", source))?;
            process
                .wait()
                .map_err(|source| io("reaping a Garage node", source))?;
        }
        Ok(())
    }

    /// Writes node `n`'s config: its own metadata and data directories,
    /// two free loopback ports (RPC, S3), the shared RPC secret.
    fn configure(&self, n: usize, nodes: usize, secret: &str) -> Result<Node, ClusterError> {
        let home = self.dir.path().join(format!("node{n}"));
        std::fs::create_dir_all(&home).map_err(|source| io("making a node's directory", source))?;
        let (rpc_port, s3_port) = (free_port()?, free_port()?);
        let replication = nodes.min(3);
        let config = format!(
            "metadata_dir = \"{home}/meta\"\n\
             data_dir = \"{home}/data\"\n\
             db_engine = \"lmdb\"\n\
             replication_factor = {replication}\n\
             rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_secret = \"{secret}\"\n\
             [s3_api]\n\
             s3_region = \"garage\"\n\
             api_bind_addr = \"127.0.0.1:{s3_port}\"\n",
            home = home.display(),
        );
        let path = home.join("garage.toml");
        write_private(&path, &config)?;
        Ok(Node {
            config: path,
            s3_port,
            process: None,
        })
    }

    /// Starts node `n`'s server, its log in its directory.
    fn run(&mut self, n: usize) -> Result<(), ClusterError> {
        let node = &mut self.nodes[n];
        let log = std::fs::File::create(node.config.with_file_name("log"))
            .map_err(|source| io("making a node's log", source))?;
        let process = Command::new(&self.garage)
            .arg("-c")
            .arg(&node.config)
            .arg("server")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| io("starting `garage server`", source))?;
        node.process = Some(process);
        Ok(())
    }

    /// Connects every node to the first, gives each a zone and a share of
    /// capacity, applies the layout, and makes the key and the bucket.
    fn join(&self) -> Result<(), ClusterError> {
        let ids = self
            .nodes
            .iter()
            .map(|node| self.retry(node, &["node", "id", "-q"]))
            .collect::<Result<Vec<_>, _>>()?;
        let first = &self.nodes[0];
        for id in &ids[1..] {
            self.retry(first, &["node", "connect", id])?;
        }
        for (n, id) in ids.iter().enumerate() {
            let short = id.split('@').next().unwrap_or(id);
            let zone = format!("zone{n}");
            self.retry(first, &["layout", "assign", "-z", &zone, "-c", "1G", short])?;
        }
        self.retry(first, &["layout", "apply", "--version", "1"])?;
        self.retry(
            first,
            &["key", "import", "--yes", "-n", "helios", KEY_ID, KEY_SECRET],
        )?;
        self.retry(first, &["bucket", "create", BUCKET])?;
        self.retry(
            first,
            &[
                "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "helios",
            ],
        )?;
        // Every node must know the bucket before a client may use any.
        for node in &self.nodes {
            self.retry(node, &["bucket", "info", BUCKET])?;
        }
        Ok(())
    }

    /// Runs a `garage` admin command against `node` until it succeeds (a
    /// node starting, or a layout spreading, fails it for a while).
    fn retry(&self, node: &Node, args: &[&str]) -> Result<String, ClusterError> {
        let start = Instant::now();
        loop {
            let output = self.admin(node, args)?;
            if output.status.success() {
                return Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned());
            }
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            if start.elapsed() > START_TIMEOUT {
                return Err(ClusterError::Timeout(
                    START_TIMEOUT,
                    format!("`garage {}`: {stderr}", args.join(" ")),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn admin(&self, node: &Node, args: &[&str]) -> Result<Output, ClusterError> {
        Command::new(&self.garage)
            .arg("-c")
            .arg(&node.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| io("running `garage`", source))
    }

    /// How many nodes the cluster has.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Where the nodes keep their files (for a test that inspects them).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in 0..self.nodes.len() {
            let _already_dead = self.kill(n);
        }
    }
}

/// A loopback port free now (the OS's pick; released for the node to bind).
fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|source| io("finding a free loopback port", source))?;
    let port = listener
        .local_addr()
        .map_err(|source| io("finding a free loopback port", source))?
        .port();
    Ok(port)
}

/// 32 bytes of hex that differ between clusters, so that two clusters
/// started at once never join each other.
fn rpc_secret() -> String {
    let seed = std::collections::hash_map::RandomState::new();
    (0..4)
        .map(|i| {
            use std::hash::BuildHasher as _;
            format!(
                "{:016x}",
                seed.hash_one((i, std::process::id(), Instant::now()))
            )
        })
        .collect()
}

/// Writes a file only its owner reads (Garage refuses a config holding a
/// secret that others may read).
fn write_private(path: &Path, contents: &str) -> Result<(), ClusterError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| io("writing a node's config", source))?;
    file.write_all(contents.as_bytes())
        .map_err(|source| io("writing a node's config", source))
}

fn io(what: &str, source: std::io::Error) -> ClusterError {
    ClusterError::Io {
        what: what.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_three_node_cluster_starts_and_survives_a_killed_node() {
        let Some(mut cluster) = Cluster::start_or_skip("the cluster's own test", 3) else {
            return;
        };
        assert_eq!(cluster.nodes(), 3);
        assert_eq!(cluster.url("x"), "s3://helios/x");
        let endpoint = &cluster.env(0)[0].1;
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
        cluster.kill(2).unwrap();
        // Two of three still answer as a cluster.
        let status = cluster.retry(&cluster.nodes[0], &["bucket", "info", BUCKET]);
        assert!(status.unwrap().contains(BUCKET));
        let dir = cluster.dir().to_owned();
        drop(cluster);
        assert!(!dir.exists(), "the cluster's files outlive it");
    }

    #[test]
    fn two_clusters_get_different_secrets() {
        assert_ne!(rpc_secret(), rpc_secret());
        assert_eq!(rpc_secret().len(), 64);
    }
}
