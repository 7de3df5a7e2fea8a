//! Crash recovery with a real process: a child commits and prints each
//! acknowledged snapshot id; the parent SIGKILLs it at a random moment,
//! reopens the store, and checks that every acknowledged `Sync` commit
//! restores and verifies, and that every stored snapshot is whole (for
//! `Async`, losing the tail is allowed, a dangling snapshot is not).
//! Every eighth commit is of a captured directory holding a new large
//! file, whose chunks the capture stored unlogged (the bulk path): a
//! commit naming them must never land without them.
//!
//! The test binary re-executes itself with [`CHILD_ENV`] set; the same
//! test then plays the child instead of the parent.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_types::SnapshotId;
use helios_vst::Edit;

use crate::common::path;

/// Set in a child: `<sync|async> <store dir> <seed>`.
const CHILD_ENV: &str = "HELIOS_ENGINE_TEST_CHILD";

fn child(durability: Durability, dir: &Path, seed: u64) {
    let engine = HeliosEngine::open(dir, EngineConfig::small()).unwrap();
    let head = engine.get_ref("head").unwrap();
    let mut vst = match head {
        Some(id) => engine.restore(&id).unwrap(),
        None => engine.empty_tree(),
    };
    let mut parent = head;
    let mut out = std::io::stdout().lock();
    let began = Instant::now();
    let workdir = dir.with_extension(format!("wd{seed}"));
    std::fs::create_dir_all(&workdir).unwrap();
    for i in 0u64.. {
        if began.elapsed() > Duration::from_secs(20) {
            break; // never outlive a vanished parent
        }
        let n = seed.wrapping_mul(31).wrapping_add(i);
        if i % 8 == 3 {
            // A large file new to the store, 1.5 MiB: chunked, and its
            // chunks stored by the capture before the commit.
            let mut big = vec![0u8; 3 << 19];
            let mut x = n | 1;
            for b in &mut big {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x.to_le_bytes()[0];
            }
            std::fs::write(workdir.join("big"), &big).unwrap();
            let captured = engine
                .capture(&workdir, &helios_workdir::CaptureOptions::default())
                .unwrap();
            let (id, _) = engine
                .commit(
                    &captured.tree,
                    durability,
                    CommitMeta::child_of(parent, "big"),
                )
                .unwrap();
            parent = Some(id);
            writeln!(out, "ack {id}").unwrap();
            out.flush().unwrap();
            continue;
        }
        let edits = [
            Edit::file(
                path(&format!("dir{}/file{}", n % 5, n % 50)),
                format!("{seed}:{i}").repeat(20).into_bytes(),
            ),
            Edit::file(path(&format!("top{}", n % 3)), n.to_le_bytes().to_vec()),
        ];
        vst = vst.apply(&edits).unwrap();
        let (id, _) = engine
            .commit(&vst, durability, CommitMeta::child_of(parent, "crash"))
            .unwrap();
        if i % 16 == 0 {
            engine.set_ref("head", &id).unwrap();
        }
        parent = Some(id);
        writeln!(out, "ack {id}").unwrap();
        out.flush().unwrap();
    }
}

fn run(test: &str, durability: Durability) {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let mut parts = spec.splitn(3, ' ');
        let d = match parts.next() {
            Some("sync") => Durability::Sync,
            _ => Durability::Async,
        };
        let seed: u64 = parts.next().unwrap().parse().unwrap();
        child(d, Path::new(parts.next().unwrap()), seed);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut acked: BTreeSet<SnapshotId> = BTreeSet::new();
    let mut rng = 0x9E37_79B9u64;
    let began = Instant::now();
    let mut rounds = 0;
    while rounds < 6 || (rounds < 30 && began.elapsed() < Duration::from_secs(15)) {
        rounds += 1;
        let mode = if durability == Durability::Sync {
            "sync"
        } else {
            "async"
        };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{mode} {rounds} {}", store.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    l.strip_prefix("ack ")
                        .and_then(|id| id.parse::<SnapshotId>().ok())
                })
                .collect::<Vec<_>>()
        });
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(200 + rng % 600));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let this_round = reader.join().unwrap();

        let engine = HeliosEngine::open(&store, EngineConfig::small()).unwrap();
        if durability == Durability::Sync {
            acked.extend(this_round);
            for id in &acked {
                engine
                    .verify(id)
                    .unwrap_or_else(|e| panic!("acknowledged {id} lost after SIGKILL: {e}"));
            }
        }
        // Whatever the store lists is whole, in either mode.
        for (id, _) in engine.list_snapshots().unwrap() {
            engine
                .verify(&id)
                .unwrap_or_else(|e| panic!("stored snapshot {id} is not whole: {e}"));
        }
        engine.close().unwrap();
    }
    if durability == Durability::Sync {
        assert!(
            acked.len() > rounds,
            "children acknowledged too few commits to test anything"
        );
    }
}

#[test]
fn sigkill_keeps_every_acknowledged_sync_commit() {
    run(
        "crash::sigkill_keeps_every_acknowledged_sync_commit",
        Durability::Sync,
    );
}

#[test]
fn sigkill_during_async_commits_leaves_no_dangling_snapshot() {
    run(
        "crash::sigkill_during_async_commits_leaves_no_dangling_snapshot",
        Durability::Async,
    );
}
