//! The multi-machine story on a real S3-compatible cluster: a 3-node
//! Garage cluster on loopback (helios-testcluster), and two "machines" —
//! two stores, each `helios` call its own process, each talking to its own
//! node — sharing a search through it. One expands nodes and pushes them
//! by id; the other clones lazily, checks each out (reading only what it
//! lacks), evaluates it and pushes its verdict back. A third node is
//! SIGKILLed half-way; every push acknowledged before or after must stay
//! readable.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use helios_testcluster::Cluster;

use crate::common::{command, contents, last_line};

/// One machine: its store, its working directory, the node it talks to.
struct Machine {
    /// The variables that point it at its node.
    node: Vec<(&'static str, String)>,
    store: PathBuf,
    work: PathBuf,
}

impl Machine {
    fn run(&self, args: &[&str]) -> Output {
        command(&self.store, &self.work, args)
            .envs(self.node.iter().cloned())
            .output()
            .expect("run helios")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "helios {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn commit(&self) -> String {
        let dir = self.work.to_str().unwrap();
        last_line(&self.ok(&["commit", "--workdir", dir]))
    }

    fn checkout(&self, id: &str) {
        let dir = self.work.to_str().unwrap();
        self.ok(&["checkout", id, "--workdir", dir]);
    }
}

fn machine(cluster: &Cluster, node: usize, tmp: &Path, name: &str) -> Machine {
    let work = tmp.join(format!("{name}-work"));
    fs::create_dir(&work).unwrap();
    Machine {
        node: cluster.env(node),
        store: tmp.join(format!("{name}-store")),
        work,
    }
}

/// Expansion `step`'s edit: one to three files changed, added or removed.
fn expand(work: &Path, step: usize) {
    fs::write(
        work.join(format!("src/m{}.rs", step % 5)),
        format!("fn step_{step}() {{}}\n"),
    )
    .unwrap();
    if step.is_multiple_of(2) {
        fs::write(
            work.join(format!("tests/t{step}.rs")),
            "#[test] fn t() {}\n",
        )
        .unwrap();
    }
    if step % 3 == 2 {
        fs::remove_file(work.join(format!("docs/d{step}.md"))).unwrap();
    }
}

#[test]
fn two_machines_share_a_search_through_a_garage_cluster_that_loses_a_node() {
    let Some(mut cluster) = Cluster::start_or_skip("the multi-machine search", 3) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = cluster.url("search");

    // The expander: a store with the remote it pushes to and reads
    // verdicts through.
    let a = machine(&cluster, 0, tmp.path(), "a");
    for dir in ["src", "tests", "docs"] {
        fs::create_dir(a.work.join(dir)).unwrap();
    }
    for i in 0..40 {
        fs::write(
            a.work.join(format!("src/m{i}.rs")),
            format!("fn m{i}() {{}}\n"),
        )
        .unwrap();
        fs::write(a.work.join(format!("docs/d{i}.md")), format!("# d{i}\n")).unwrap();
    }
    a.ok(&["init"]);
    a.ok(&["remote", "add", "shared", &url, "--read-through"]);
    let root = a.commit();
    a.ok(&["push", "shared", &root]);

    // The evaluator: a lazy clone, its first checkout read through.
    let b = machine(&cluster, 1, tmp.path(), "b");
    b.ok(&["clone", &url]);
    b.checkout(&root);
    assert_eq!(contents(&b.work), contents(&a.work));

    let mut acknowledged: BTreeMap<String, BTreeMap<PathBuf, String>> = BTreeMap::new();
    acknowledged.insert(root, contents(&a.work));
    let mut verdicts = Vec::new();
    for step in 0..6 {
        expand(&a.work, step);
        let id = a.commit();
        assert_eq!(last_line(&a.ok(&["push", "shared", &id])), id);
        acknowledged.insert(id.clone(), contents(&a.work));

        b.checkout(&id);
        assert_eq!(contents(&b.work), acknowledged[&id], "step {step}");
        fs::write(b.work.join("VERDICT"), format!("step {step}: pass\n")).unwrap();
        let verdict = b.commit();
        b.ok(&["push", "origin", &verdict]);
        fs::remove_file(b.work.join("VERDICT")).unwrap();
        // The expander reads the verdict through, by id.
        assert_eq!(
            a.ok(&["cat", &verdict, "VERDICT"]),
            format!("step {step}: pass\n")
        );
        verdicts.push(verdict);
        if step == 2 {
            // A machine of the cluster is lost: two of three replicas
            // remain, a quorum for reads and writes.
            cluster.kill(2).unwrap();
        }
    }

    // Every acknowledged push, read back by a third machine from scratch.
    let c = machine(&cluster, 0, tmp.path(), "c");
    c.ok(&["clone", &url]);
    for (id, expected) in &acknowledged {
        c.checkout(id);
        assert_eq!(&contents(&c.work), expected, "snapshot {id}");
    }
    for verdict in &verdicts {
        assert!(c.ok(&["cat", verdict, "VERDICT"]).ends_with(": pass\n"));
    }

    // A whole snapshot pulled by id into a store that does not read
    // through: every object here afterwards, none read later.
    let d = machine(&cluster, 1, tmp.path(), "d");
    d.ok(&["init"]);
    d.ok(&["remote", "add", "shared", &url]);
    let pulled = acknowledged.keys().next_back().unwrap();
    assert_eq!(&last_line(&d.ok(&["fetch", "shared", pulled])), pulled);
    d.checkout(pulled);
    assert_eq!(&contents(&d.work), &acknowledged[pulled]);

    // Garage has no conditional writes: a ref is refused there, with the
    // way out, never moved at the risk of a lost update.
    let refused = a.run(&["push", "shared", &verdicts[0], "--to", "main"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("conditional writes"), "{err}");
    assert!(err.contains("by id"), "{err}");
}
