//! Tests with real child processes. The test binary re-executes itself with
//! [`CHILD_ENV`] set; the named test then plays the child's role instead of
//! the parent's.
//!
//! - Crash: the child writes `Sync` batches (objects + a batch record + a
//!   head ref, one atomic batch each) and prints `ack <id>` after each write
//!   returns; every third batch writes its objects first, `Unlogged` (as a
//!   capture stores a large file's chunks), and then the record alone; the parent SIGKILLs it at random moments (three rounds in four
//!   a few milliseconds after a random number of acks, the fourth at a
//!   random time after the spawn), reopens the store and checks that every
//!   acknowledged batch is there whole and no batch is there in part. Many
//!   rounds on the same store.
//! - Lock: a child holds the store open; the parent's open is `Locked`
//!   until the child is killed.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use helios_objstore::{OpenError, RocksConfig, RocksStore};
use helios_types::store::{ObjectStore, WriteBatch, WriteMode};
use helios_types::{Hash, HashAlgorithm};

use crate::common::{Rng, blob, create, reopen};

/// Set in a child process: `<role> <store dir> <first batch id>`.
const CHILD_ENV: &str = "HELIOS_OBJSTORE_TEST_CHILD";

/// A child never outlives this, even if its parent vanished.
const CHILD_LIFETIME: Duration = Duration::from_secs(20);

fn spawn_child(test: &str, role: &str, dir: &Path, start: u64) -> Child {
    // `/proc/self/exe` still names this binary if a concurrent `cargo`
    // relinks the file on disk while the test runs.
    let proc_exe = Path::new("/proc/self/exe");
    let exe = if proc_exe.exists() {
        proc_exe.to_owned()
    } else {
        std::env::current_exe().expect("current_exe")
    };
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{role} {} {start}", dir.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child")
}

/// The child's role, when this process is a child.
fn child_role() -> Option<(String, std::path::PathBuf, u64)> {
    let spec = std::env::var(CHILD_ENV).ok()?;
    let (role, rest) = spec.split_once(' ')?;
    let (dir, start) = rest.rsplit_once(' ')?;
    Some((role.to_owned(), dir.into(), start.parse().ok()?))
}

fn batch_key(id: u64) -> Vec<u8> {
    format!("batch/{id:010}").into_bytes()
}

/// The objects of batch `id`: 1 to 16 blobs of 0 to 3000 bytes, unique to it.
fn batch_objects(store: &dyn ObjectStore, id: u64) -> Vec<(Hash, Vec<u8>)> {
    let count = 1 + id % 16;
    (0..count)
        .map(|j| {
            let len = usize::try_from((id * 7 + j * 131) % 3000).unwrap_or(0);
            let mut data = format!("batch {id} object {j} ").into_bytes();
            data.extend(Rng::new(id * 100 + j).bytes(len));
            blob(store, &data)
        })
        .collect()
}

/// Whether batch `id` writes its objects `Unlogged` before its record.
fn unlogged_first(id: u64) -> bool {
    id % 3 == 1
}

/// The crash child: writes Sync batches from `start` on and acknowledges
/// each on stdout after `write` returns. Never returns normally before its
/// lifetime is up; the parent kills it.
fn crash_child(dir: &Path, start: u64) {
    let store = create(dir, HashAlgorithm::Blake3);
    let mut out = std::io::stdout().lock();
    // libtest has printed `test <name> ... ` without a newline: start a line.
    writeln!(out).expect("child: stdout");
    let began = Instant::now();
    let mut id = start;
    while began.elapsed() < CHILD_LIFETIME {
        let objects = batch_objects(&store, id);
        let mut batch = WriteBatch::new();
        let mut record = Vec::new();
        for (h, e) in objects {
            record.extend_from_slice(h.as_bytes());
            batch.put_object(h, e);
        }
        if unlogged_first(id) {
            // The objects alone, without the WAL; the record below is a
            // logged write, so the store makes them durable first.
            store
                .write(std::mem::take(&mut batch), WriteMode::Unlogged)
                .expect("child: unlogged write");
        }
        batch.put_meta(batch_key(id), record);
        batch.put_meta(b"head".to_vec(), id.to_le_bytes().to_vec());
        store
            .write(batch, WriteMode::Sync)
            .expect("child: sync write");
        writeln!(out, "ack {id}")
            .and_then(|()| out.flush())
            .expect("child: stdout");
        id += 1;
    }
}

/// Checks the store after a crash; returns the committed batch ids.
fn check_after_crash(store: &RocksStore, acked: &BTreeSet<u64>, round: usize) -> BTreeSet<u64> {
    let mut committed = BTreeSet::new();
    let mut referenced = BTreeSet::new();
    for item in store.meta_with_prefix(b"batch/").expect("meta scan") {
        let (key, record) = item.expect("meta entry");
        let id: u64 = std::str::from_utf8(&key[6..])
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("batch key");
        assert_eq!(
            record.len() % 32,
            0,
            "round {round}: batch {id} record length"
        );
        let hashes: Vec<Hash> = record.chunks(32).filter_map(Hash::from_slice).collect();
        let expected: Vec<Hash> = batch_objects(store, id)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(
            hashes, expected,
            "round {round}: batch {id} record names its objects"
        );
        for (h, got) in hashes
            .iter()
            .zip(store.get_many(&hashes).expect("get_many"))
        {
            assert!(
                got.is_some(),
                "round {round}: batch {id} is partial: object {h} is missing"
            );
        }
        referenced.extend(hashes);
        committed.insert(id);
    }
    for id in acked {
        assert!(
            committed.contains(id),
            "round {round}: acknowledged batch {id} is lost"
        );
    }
    // No partial batch: every stored object belongs to a committed batch,
    // except the objects of the batch after the last committed one when it
    // wrote them unlogged first (the kill fell between them and the record).
    let stored: BTreeSet<Hash> = store
        .objects(None)
        .expect("objects")
        .map(|r| r.expect("object").0)
        .collect();
    let next = committed.last().map_or(0, |l| l + 1);
    let early: BTreeSet<Hash> = if unlogged_first(next) {
        batch_objects(store, next)
            .into_iter()
            .map(|(h, _)| h)
            .collect()
    } else {
        BTreeSet::new()
    };
    let orphans: Vec<_> = stored
        .difference(&referenced)
        .filter(|h| !early.contains(h))
        .collect();
    assert!(
        orphans.is_empty(),
        "round {round}: objects of an uncommitted batch landed: {orphans:?}"
    );
    // Sync batches are written one after another: the committed ids are a
    // prefix, and the head ref names the last one.
    if let Some(&last) = committed.last() {
        assert_eq!(
            committed.len() as u64,
            last + 1,
            "round {round}: committed batches have a gap"
        );
        let head = store.get_meta(b"head").expect("head").expect("head ref");
        assert_eq!(
            head,
            last.to_le_bytes(),
            "round {round}: head ref names the last committed batch"
        );
    }
    committed
}

#[test]
fn sigkill_never_loses_an_acknowledged_batch_nor_leaves_a_partial_one() {
    const TEST: &str =
        "process::sigkill_never_loses_an_acknowledged_batch_nor_leaves_a_partial_one";
    if let Some((role, dir, start)) = child_role() {
        assert_eq!(role, "crash", "unexpected child role");
        crash_child(&dir, start);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() ^ u64::from(d.subsec_nanos()));
    let mut rng = Rng::new(seed);
    let began = Instant::now();
    let mut next = 0u64;
    let mut acked_total = 0usize;
    let mut awaited_total = 0u64;
    let mut rounds_with_acks = 0usize;
    let mut early_rounds_with_acks = 0usize;
    let mut lost_unacked = 0u64;
    let mut round = 0usize;
    while round < 80 && (round < 12 || began.elapsed() < Duration::from_secs(20)) {
        let mut child = spawn_child(TEST, "crash", dir.path(), next);
        let stdout = child.stdout.take().expect("child stdout");
        // Acks are passed on as they arrive, so the parent can time its
        // kill from the child's progress rather than from the spawn.
        let (tx, acks) = std::sync::mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            let acks = BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("ack ").and_then(|n| n.parse::<u64>().ok()));
            for id in acks {
                if tx.send(id).is_err() {
                    break;
                }
            }
        });
        let mut acked = BTreeSet::new();
        if round % 4 == 3 {
            // Every fourth round is killed at a random moment after the
            // spawn: during start-up, while opening (creating the store in
            // the first rounds, replaying the WAL later), or amid writes.
            std::thread::sleep(Duration::from_millis(rng.below(300)));
        } else {
            // The others wait for 4 to 16 acks, then kill within 30 ms:
            // amid a write, or between a write and its ack. Timing from
            // acks keeps every such round acknowledging batches however
            // slow the machine is at starting the child or at fsync.
            let awaited = 4 + rng.below(13);
            while (acked.len() as u64) < awaited {
                match acks.recv_timeout(Duration::from_secs(15)) {
                    Ok(id) => {
                        acked.insert(id);
                    }
                    Err(e) => panic!(
                        "round {round}: the child acknowledged {} of {awaited} batches ({e}); seed {seed}",
                        acked.len()
                    ),
                }
            }
            awaited_total += awaited;
            std::thread::sleep(Duration::from_millis(rng.below(30)));
        }
        child.kill().expect("SIGKILL child");
        let status = child.wait().expect("wait child");
        assert!(
            !status.success(),
            "round {round}: the child must have been killed, not exit: {status:?}"
        );
        reader.join().expect("reader thread");
        acked.extend(acks.try_iter());
        acked_total += acked.len();
        rounds_with_acks += usize::from(!acked.is_empty());
        early_rounds_with_acks += usize::from(round % 4 == 3 && !acked.is_empty());
        if let Some(first) = acked.first() {
            assert_eq!(
                *first, next,
                "round {round}: the child starts at the next id (seed {seed})"
            );
        }
        if !dir.path().join("CURRENT").exists() {
            round += 1;
            continue; // killed before the store was even created
        }
        // `create`, not a plain open: a child killed while creating the
        // store leaves RocksDB files without the configuration record, and
        // finishing the creation is what a rerun of `helios init` does.
        let store = create(dir.path(), HashAlgorithm::Blake3);
        let committed = check_after_crash(&store, &acked, round);
        let new_next = committed.last().map_or(0, |l| l + 1);
        lost_unacked += new_next.saturating_sub(acked.last().map_or(next, |a| a + 1));
        next = new_next;
        round += 1;
    }
    // Three rounds in four wait for at least 4 acks each: that many rounds
    // acknowledged batches, at least 3 per round on average, and none of
    // the awaited acks went uncounted.
    assert!(
        rounds_with_acks * 4 >= round * 3,
        "only {rounds_with_acks} of {round} rounds acknowledged a batch; seed {seed}"
    );
    assert!(
        acked_total >= 3 * round && acked_total as u64 >= awaited_total,
        "{acked_total} batches acknowledged over {round} rounds, {awaited_total} awaited; seed {seed}"
    );
    #[allow(clippy::print_stderr, reason = "test report")]
    {
        eprintln!(
            "crash test: {round} rounds ({rounds_with_acks} with acks, of them \
             {early_rounds_with_acks} killed at a random time), {acked_total} acknowledged \
             batches, {next} committed, {lost_unacked} committed but unacknowledged (killed \
             between write and ack); seed {seed}, {:?}",
            began.elapsed()
        );
    }
}

#[test]
fn a_store_held_by_another_process_is_locked_until_it_dies() {
    const TEST: &str = "process::a_store_held_by_another_process_is_locked_until_it_dies";
    if let Some((role, dir, _)) = child_role() {
        assert_eq!(role, "hold", "unexpected child role");
        let store = reopen(&dir);
        let mut out = std::io::stdout().lock();
        writeln!(out, "\nopen")
            .and_then(|()| out.flush())
            .expect("child: stdout");
        let began = Instant::now();
        while began.elapsed() < CHILD_LIFETIME {
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(store);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    drop(create(dir.path(), HashAlgorithm::Blake3));
    let mut child = spawn_child(TEST, "hold", dir.path(), 0);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let opened = lines.by_ref().map_while(Result::ok).any(|l| l == "open");
    assert!(opened, "the child must report that it opened the store");
    match RocksStore::open(dir.path(), &RocksConfig::default()) {
        Err(OpenError::Locked { path, .. }) => assert_eq!(path, dir.path()),
        other => panic!("expected Locked while another process holds the store, got {other:?}"),
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let store = reopen(dir.path());
    assert_eq!(store.algorithm(), HashAlgorithm::Blake3);
}
