//! The remote tier as a user meets it: the release `helios` binary, one
//! process per call, against a real 3-node Garage cluster on loopback
//! (helios-testcluster; skipped, said so, without a Garage binary).
//!
//! - Push and pull throughput of new content: rounds of 64 new 1 MiB
//!   incompressible files, each committed, pushed by id (`helios push`),
//!   then pulled whole into another store (`helios fetch REMOTE ID`).
//! - An unchanged push: requests per object checked, on a 10,000-file tree.
//! - A lazy switch: a store cloned lazily checks out snapshot after
//!   snapshot that differ by 1–5 files, their objects only on the remote;
//!   beside it, the same switches back once the objects are local, and
//!   the lazy switches again through a `helios serve` on the evaluating
//!   machine, and on a 1-node Garage (no reads between nodes, so none of
//!   the 3-node cluster's 40 ms delayed-ACK stalls).
//!
//! `cargo bench -p helios-benches --bench remote` (or `cargo xtask bench
//! remote`); `HELIOS_REMOTE_RUNS` (default 5) throughput rounds,
//! `HELIOS_REMOTE_SWITCHES` (default 40) switches.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use helios_benches::{SplitMix64, helios_binary, note, report, source_like, target, target_dir};
use helios_testcluster::Cluster;
use helios_workload::Latency;

/// One machine: a store and a working directory, its calls pointed at one
/// node of the cluster.
struct Machine {
    helios: PathBuf,
    env: Vec<(&'static str, String)>,
    store: PathBuf,
    work: PathBuf,
}

impl Machine {
    fn new(helios: &Path, cluster: &Cluster, node: usize, root: &Path, name: &str) -> Machine {
        let work = root.join(format!("{name}-work"));
        fs::create_dir_all(&work).unwrap();
        Machine {
            helios: helios.to_owned(),
            env: cluster.env(node),
            store: root.join(format!("{name}-store")),
            work,
        }
    }

    /// A fresh store that knows the remote at `url` as `shared`.
    fn sharing(
        helios: &Path,
        cluster: &Cluster,
        node: usize,
        root: &Path,
        name: &str,
        url: &str,
    ) -> Machine {
        let machine = Machine::new(helios, cluster, node, root, name);
        machine.run(&["init"]);
        machine.run(&["remote", "add", "shared", url]);
        machine
    }

    /// Runs `helios ARGS`, which must succeed; returns stdout and the time
    /// the process took.
    fn run(&self, args: &[&str]) -> (String, Duration) {
        let start = Instant::now();
        let out = Command::new(&self.helios)
            .args(args)
            .env("HELIOS_STORE", &self.store)
            .envs(self.env.iter().cloned())
            .output()
            .unwrap();
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "helios {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (String::from_utf8(out.stdout).unwrap(), took)
    }

    /// `--json` call: the JSON object on its last line, and its time.
    fn json(&self, args: &[&str]) -> (serde_json::Value, Duration) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (out, took) = self.run(&all);
        (
            serde_json::from_str(out.lines().last().unwrap()).unwrap(),
            took,
        )
    }

    fn commit(&self) -> String {
        let dir = self.work.to_str().unwrap();
        let (out, _) = self.run(&["commit", "--workdir", dir]);
        out.lines().last().unwrap().to_owned()
    }

    /// Starts `helios serve` on this machine's store (with its cluster
    /// settings, for the server reads through): its calls then go through
    /// it, as a worker that keeps a server runs them.
    fn serve(&self) -> Served {
        let mut child = Command::new(&self.helios)
            .arg("serve")
            .env("HELIOS_STORE", &self.store)
            .envs(self.env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert!(ready.starts_with("ready: "), "helios serve: {ready}");
        Served(child)
    }

    fn checkout(&self, id: &str) -> Duration {
        let dir = self.work.to_str().unwrap();
        self.run(&["checkout", id, "--workdir", dir]).1
    }
}

/// A running `helios serve`, stopped with SIGTERM when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of `rates` (sorted in place).
fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn mb_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

/// Replaces the files of `dir` with 64 new 1 MiB incompressible ones.
fn new_content(dir: &Path, round: usize) {
    let mut xof = blake3::Hasher::new()
        .update(format!("remote bench round {round}").as_bytes())
        .finalize_xof();
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..64 {
        xof.fill(&mut buf);
        fs::write(dir.join(format!("blob{i}")), &buf).unwrap();
    }
}

fn throughput(helios: &Path, cluster: &Cluster, root: &Path) {
    let runs = env_or("HELIOS_REMOTE_RUNS", 5);
    let url = cluster.url("throughput");
    let a = Machine::sharing(helios, cluster, 0, root, "push", &url);
    let b = Machine::sharing(helios, cluster, 1, root, "pull", &url);
    let (mut pushes, mut pulls) = (Vec::new(), Vec::new());
    let (mut push_rates, mut pull_rates) = (Vec::new(), Vec::new());
    for round in 0..runs {
        new_content(&a.work, round);
        let id = a.commit();
        let (pushed, took) = a.json(&["push", "shared", &id]);
        let bytes = pushed["bytes"].as_u64().unwrap();
        pushes.push(took);
        push_rates.push(mb_per_s(bytes, took));
        let (fetched, took) = b.json(&["fetch", "shared", &id]);
        let bytes = fetched["bytes"].as_u64().unwrap();
        pulls.push(took);
        pull_rates.push(mb_per_s(bytes, took));
    }
    report(
        "remote push 64 MiB new (helios push, per process)",
        Latency::from_samples(pushes),
    );
    report(
        "remote pull 64 MiB new (helios fetch ID, per process)",
        Latency::from_samples(pulls),
    );
    let (push, pull) = (median(&mut push_rates), median(&mut pull_rates));
    let worst = |rates: &[f64]| rates.iter().copied().fold(f64::INFINITY, f64::min);
    let peer = curl_peer(cluster, root);
    target(
        "push throughput >= 50 MB/s of new content",
        push >= 50.0,
        &format!(
            "median {push:.0} MB/s, worst {:.0} MB/s over {runs} rounds",
            worst(&push_rates)
        ),
    );
    target(
        "pull throughput >= 50 MB/s of new content",
        pull >= 50.0,
        &format!(
            "median {pull:.0} MB/s, worst {:.0} MB/s over {runs} rounds",
            worst(&pull_rates)
        ),
    );
    if let Some((put, get)) = peer {
        note(&format!(
            "remote: helios / curl on the same cluster: push {:.2}x of a PUT, pull {:.2}x of a GET",
            push / put,
            pull / get
        ));
    }
}

/// The nearest peer: `curl` putting and getting one 64 MiB object of the
/// same kind of bytes on the same node (median MB/s of 3 each), the
/// ceiling any client of this cluster meets. `None` without curl.
fn curl_peer(cluster: &Cluster, root: &Path) -> Option<(f64, f64)> {
    if Command::new("curl").arg("--version").output().is_err() {
        note("remote: no curl on PATH: no peer figure");
        return None;
    }
    let env: std::collections::HashMap<_, _> = cluster.env(0).into_iter().collect();
    let dir = root.join("peer");
    fs::create_dir_all(&dir).unwrap();
    new_content(&dir, usize::MAX);
    let file = dir.join("all");
    let mut all = Vec::with_capacity(64 << 20);
    for i in 0..64 {
        all.extend(fs::read(dir.join(format!("blob{i}"))).unwrap());
    }
    fs::write(&file, &all).unwrap();
    let url = format!(
        "{}/{}/peer/blob",
        env["AWS_ENDPOINT_URL"],
        helios_testcluster::BUCKET
    );
    let user = format!(
        "{}:{}",
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    );
    let curl = |args: &[&str]| {
        let start = Instant::now();
        let status = Command::new("curl")
            .args(["-sf", "--aws-sigv4", "aws:amz:garage:s3", "--user", &user])
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
            .args(args)
            .arg(&url)
            .status()
            .unwrap();
        assert!(status.success(), "curl {args:?}");
        mb_per_s(all.len() as u64, start.elapsed())
    };
    let mut puts: Vec<f64> = (0..3)
        .map(|_| curl(&["-T", file.to_str().unwrap()]))
        .collect();
    let mut gets: Vec<f64> = (0..3).map(|_| curl(&["-o", "/dev/null"])).collect();
    let (put, get) = (median(&mut puts), median(&mut gets));
    note(&format!(
        "remote: curl on the same cluster: PUT {put:.0} MB/s, GET {get:.0} MB/s of 64 MiB"
    ));
    Some((put, get))
}

/// A 10,000-file source-like tree, 100 directories of 100.
fn source_tree(work: &Path, rng: &mut SplitMix64) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for d in 0..100 {
        let dir = work.join(format!("pkg{d:02}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            let path = dir.join(format!("m{f:02}.rs"));
            let len = 512 + rng.index(4096);
            fs::write(&path, source_like(rng, len)).unwrap();
            files.push(path);
        }
    }
    files
}

/// What a run of lazy switches measured.
struct Switches {
    /// Each switch of the lazily cloned store to a snapshot just pushed.
    lazy: Latency,
    /// The same switches once the objects are local.
    local: Latency,
    /// Each push of a 1-5 file edit, and the requests it made (sorted).
    pushes: Latency,
    push_requests: Vec<u64>,
}

/// A machine expands (edits 1-5 files of a 10,000-file tree, commits,
/// pushes by id) and another, cloned lazily, checks each snapshot out,
/// one process per call, or through its `helios serve` when `served`.
/// With `costs`, notes what the first and an unchanged push cost.
fn switches(
    helios: &Path,
    cluster: &Cluster,
    root: &Path,
    name: &str,
    costs: bool,
    served: bool,
) -> Switches {
    let rounds = env_or("HELIOS_REMOTE_SWITCHES", 40);
    let url = cluster.url(name);
    let a = Machine::sharing(helios, cluster, 0, root, &format!("{name}-expander"), &url);
    let mut rng = SplitMix64::new(20);
    let files = source_tree(&a.work, &mut rng);
    let base = a.commit();
    let (first, took) = a.json(&["push", "shared", &base]);
    if costs {
        let objects = first["objects"].as_u64().unwrap();
        note(&format!(
            "remote: first push of a 10,000-file tree: {objects} objects, {} bytes in {took:.2?}",
            first["bytes"]
        ));
        let (again, _) = a.json(&["push", "shared", &base]);
        let requests = again["requests"].as_u64().unwrap();
        let per_thousand = requests as f64 * 1000.0 / objects as f64;
        target(
            "an unchanged push sends <= 1 request per 1,000 objects checked",
            per_thousand <= 1.0,
            &format!("{requests} requests for {objects} objects ({per_thousand:.2} per 1,000)"),
        );
    }

    let node = 1.min(cluster.nodes() - 1);
    let c = Machine::new(helios, cluster, node, root, &format!("{name}-evaluator"));
    let (_, clone) = c.run(&["clone", &url]);
    let full = c.checkout(&base);
    if costs {
        note(&format!(
            "remote: lazy clone {clone:.2?}, then a full lazy checkout of 10,000 files {full:.2?}"
        ));
    }
    let _server = served.then(|| c.serve());
    let (mut lazy, mut local, mut pushes) = (Vec::new(), Vec::new(), Vec::new());
    let mut push_requests = Vec::new();
    let mut previous = base;
    for _ in 0..rounds {
        for _ in 0..1 + rng.index(5) {
            let path = &files[rng.index(files.len())];
            let len = 512 + rng.index(4096);
            fs::write(path, source_like(&mut rng, len)).unwrap();
        }
        let id = a.commit();
        let (pushed, took) = a.json(&["push", "shared", &id]);
        pushes.push(took);
        push_requests.push(pushed["requests"].as_u64().unwrap());
        lazy.push(c.checkout(&id));
        // Back and forth again: now every object is local.
        local.push(c.checkout(&previous));
        c.checkout(&id);
        previous = id;
    }
    push_requests.sort_unstable();
    Switches {
        lazy: Latency::from_samples(lazy),
        local: Latency::from_samples(local),
        pushes: Latency::from_samples(pushes),
        push_requests,
    }
}

fn report_switches(helios: &Path, cluster: &Cluster, root: &Path) {
    let run = switches(helios, cluster, root, "switches", true, false);
    report(
        "remote push of a 1-5 file edit, 10K files (helios push)",
        run.pushes,
    );
    let requests = &run.push_requests;
    note(&format!(
        "remote: requests per push of a 1-5 file edit: median {}, max {}",
        requests[requests.len() / 2],
        requests[requests.len() - 1]
    ));
    report(
        "remote lazy switch of 1-5 files, 10K files (helios checkout)",
        run.lazy,
    );
    report(
        "local switch of 1-5 files, 10K files (same store, objects held)",
        run.local,
    );
    target(
        "lazy checkout of a 1-5 file switch <= 50 ms P99",
        run.lazy.p99 <= Duration::from_millis(50),
        &format!(
            "P50 {:.1?}, P99 {:.1?} (n={})",
            run.lazy.p50, run.lazy.p99, run.lazy.samples
        ),
    );
    let served = switches(helios, cluster, root, "served", false, true);
    report(
        "remote lazy switch of 1-5 files, 10K files, through helios serve (helios checkout)",
        served.lazy,
    );
    report(
        "local switch of 1-5 files, 10K files, through helios serve",
        served.local,
    );
}

/// The same lazy switches on one Garage node: no replication, so no reads
/// between nodes, where a third of the 3-node cluster's requests wait
/// 40 ms for a delayed ACK (Garage's sockets do not set TCP_NODELAY).
/// What is left is Helios's own cost over a real S3 server.
fn report_single_node_switches(helios: &Path, root: &Path) {
    let Ok(single) = Cluster::start(1) else {
        note("remote: a 1-node Garage did not start; its switches are not measured");
        return;
    };
    let run = switches(helios, &single, root, "single", false, false);
    report(
        "remote lazy switch of 1-5 files, 10K files, 1-node Garage (helios checkout)",
        run.lazy,
    );
}

fn main() {
    let Some(cluster) = Cluster::start_or_skip("the remote bench", 3) else {
        return;
    };
    let helios = helios_binary();
    let root = tempfile::tempdir_in(target_dir()).unwrap();
    throughput(&helios, &cluster, root.path());
    report_switches(&helios, &cluster, root.path());
    report_single_node_switches(&helios, root.path());
}
