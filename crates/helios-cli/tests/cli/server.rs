//! `helios serve` as harnesses use it: a real server process, real client
//! processes (the `helios` binary, one per call), real signals. Every
//! command gives through the server what it gives with the store opened in
//! process; many clients work at once; SIGTERM drains, SIGKILL loses no
//! acknowledged commit; another user is refused; metrics are scraped over
//! real HTTP.

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{checkout_new, command, commit, contents, fails, helios, last_line, ok, setup};

/// A running `helios serve`, killed if the test ends before stopping it.
struct Server {
    child: Option<Child>,
    metrics: Option<String>,
}

impl Server {
    fn start(store: &Path, extra: &[&str]) -> Server {
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let mut child = command(store, store.parent().unwrap(), &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start helios serve");
        // `ready` comes only once the socket accepts calls.
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        if !ready.starts_with("ready: ") {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("the server did not start: {ready}{err}");
        }
        let metrics = ready
            .split("metrics on http://")
            .nth(1)
            .map(|rest| rest.trim_end().trim_end_matches("/metrics").to_owned());
        Server {
            child: Some(child),
            metrics,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends `signal` and waits for the server to exit.
    fn stop(mut self, signal: &str) -> Output {
        let child = self.child.take().unwrap();
        let sent = Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        child.wait_with_output().unwrap()
    }

    /// GET /metrics.
    fn scrape(&self) -> String {
        let addr = self.metrics.as_deref().expect("started with --metrics");
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("text/plain"), "{head}");
        body.to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of the sample `name` (with its labels, as printed) in a
/// Prometheus text exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn write_files(dir: &Path, n: usize, tag: &str) {
    for i in 0..n {
        let sub = dir.join(format!("d{}", i % 4));
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join(format!("f{i}.txt")), format!("{tag} {i}\n")).unwrap();
    }
}

#[test]
fn every_command_answers_through_the_server_as_it_does_in_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, work) = setup(tmp.path());
    write_files(&work, 40, "one");
    fs::create_dir(work.join("empty")).unwrap();
    let first = commit(&store, &work);
    let before = contents(&work);

    let server = Server::start(&store, &[]);
    let check = ok(&store, tmp.path(), &["serve", "--check"]);
    assert!(check.contains(&format!("pid {}", server.pid())), "{check}");

    fs::write(work.join("d1/f1.txt"), "changed\n").unwrap();
    fs::remove_file(work.join("d2/f2.txt")).unwrap();
    fs::write(work.join("new.txt"), "new\n").unwrap();
    let second = commit(&store, &work);
    assert_ne!(first, second);
    let after = contents(&work);

    // A reader with the store opened in process (read-only, beside the
    // server) prints the same, byte for byte.
    let second_path = second.clone();
    for args in [
        vec!["log"],
        vec!["--json", "log"],
        vec!["log", "-n", "1", &second_path],
        vec!["show", &second_path],
        vec!["--json", "show", &second_path[..10]],
        vec!["ls", &second_path],
        vec!["--json", "ls", &second_path, "d1"],
        vec!["diff", &first, &second_path],
        vec!["--json", "diff", &first, &second_path],
        vec!["cat", &second_path, "d1/f1.txt"],
        vec!["cat", "--range", "1..4", &second_path, "d3/f3.txt"],
        vec!["fsck"],
    ] {
        let served = helios(&store, tmp.path(), &args);
        let mut local_args = vec!["--no-server"];
        local_args.extend_from_slice(&args);
        let local = helios(&store, tmp.path(), &local_args);
        assert!(
            served.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&served.stderr)
        );
        assert_eq!(served.stdout, local.stdout, "{args:?}");
        assert_eq!(served.status.code(), local.status.code(), "{args:?}");
    }
    // Errors too: the same line and exit code.
    for args in [
        vec!["show", "0123456789abcdef"],
        vec!["cat", &second_path, "no/such/file"],
        vec!["cat", &second_path, "../escape"],
        vec!["ls", &second_path, "new.txt"],
        vec!["ref", "nothing-here"],
    ] {
        let served = fails(&store, tmp.path(), &args);
        let mut local_args = vec!["--no-server"];
        local_args.extend_from_slice(&args);
        let local = fails(&store, tmp.path(), &local_args);
        assert_eq!(served, local, "{args:?}");
    }

    // Writes: refs, checkout back and forth.
    assert_eq!(
        last_line(&ok(&store, tmp.path(), &["ref", "main", &first])),
        first
    );
    assert_eq!(last_line(&ok(&store, tmp.path(), &["ref", "main"])), first);
    let dir = work.to_str().unwrap();
    let out = ok(&store, tmp.path(), &["checkout", "main", "--workdir", dir]);
    assert!(
        out.contains("3 written") || out.contains("written"),
        "{out}"
    );
    assert_eq!(contents(&work), before);
    ok(&store, tmp.path(), &["checkout", &second, "--workdir", dir]);
    assert_eq!(contents(&work), after);
    // A user's file where the target has one is refused, as in process,
    // and kept.
    fs::write(work.join("d2/f2.txt"), "mine\n").unwrap();
    let err = fails(&store, tmp.path(), &["checkout", &first, "--workdir", dir]);
    assert!(err.contains("d2/f2.txt"), "{err}");
    let local = fails(
        &store,
        tmp.path(),
        &["--no-server", "checkout", &first, "--workdir", dir],
    );
    assert!(local.contains("helios serve"), "{local}");
    assert_eq!(
        fs::read_to_string(work.join("d2/f2.txt")).unwrap(),
        "mine\n"
    );
    fs::remove_file(work.join("d2/f2.txt")).unwrap();

    // The store is the server's: opening it for writing here is refused
    // with a hint; the live figures come from the server.
    let err = fails(
        &store,
        tmp.path(),
        &["--no-server", "commit", "--workdir", dir],
    );
    assert!(err.contains("helios serve"), "{err}");
    let stats = ok(&store, tmp.path(), &["stats"]);
    assert!(stats.contains("server       up"), "{stats}");
    assert!(stats.contains("snapshots    2"), "{stats}");

    let out = server.stop("TERM");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped by SIGTERM"));
    assert!(!store.join("server.sock").exists(), "the socket is removed");
    // Back to one process per command.
    let check = helios(&store, tmp.path(), &["serve", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    ok(&store, tmp.path(), &["fsck"]);
    assert_eq!(contents(&work), after);
}

#[test]
fn a_watched_directory_is_committed_from_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, work) = setup(tmp.path());
    write_files(&work, 60, "one");
    let dir = work.to_str().unwrap();
    let err = fails(&store, tmp.path(), &["watch", "--workdir", dir]);
    assert!(err.contains("helios serve"), "{err}");

    let server = Server::start(&store, &[]);
    let watched = ok(&store, tmp.path(), &["watch", "--workdir", dir]);
    if !watched.starts_with("watching") {
        eprintln!("skipped: inotify is not available here ({watched})");
        return;
    }
    assert!(ok(&store, tmp.path(), &["watch", "--workdir", dir]).contains("already"));
    let commit_scanned = |work: &Path| {
        let out = command(&store, work, &["commit", "--workdir", dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let note = String::from_utf8_lossy(&out.stderr).into_owned();
        let scanned: u64 = note.split(' ').next().unwrap().parse().unwrap();
        (scanned, last_line(&String::from_utf8_lossy(&out.stdout)))
    };
    let (scanned, _) = commit_scanned(&work);
    assert_eq!(scanned, 60, "the first commit reads everything");
    fs::write(work.join("d0/f0.txt"), "edited\n").unwrap();
    fs::write(work.join("d3/extra.txt"), "added\n").unwrap();
    let (scanned, id) = commit_scanned(&work);
    assert!(scanned <= 4, "{scanned} files scanned after a 2-file edit");
    let cat = ok(&store, tmp.path(), &["cat", &id, "d0/f0.txt"]);
    assert_eq!(cat, "edited\n");
    assert!(ok(&store, tmp.path(), &["unwatch", "--workdir", dir]).starts_with("stopped"));
    drop(server);
}

#[test]
fn many_clients_commit_and_switch_their_own_directories_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = setup(tmp.path());
    let server = Server::start(&store, &[]);
    const CLIENTS: usize = 4;
    const ROUNDS: usize = 4;
    let ids: Vec<Vec<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (store, root) = (&store, tmp.path());
                s.spawn(move || {
                    let work = root.join(format!("client-{c}"));
                    fs::create_dir(&work).unwrap();
                    let dir = work.to_str().unwrap();
                    let mut ids = Vec::new();
                    let mut states = Vec::new();
                    for round in 0..ROUNDS {
                        write_files(&work, 12, &format!("client {c} round {round}"));
                        ids.push(commit(store, &work));
                        states.push(contents(&work));
                    }
                    // Back to each snapshot, newest to oldest.
                    for (id, state) in ids.iter().zip(&states).rev() {
                        ok(store, root, &["checkout", id, "--workdir", dir]);
                        assert_eq!(&contents(&work), state, "client {c} at {id}");
                    }
                    ids
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let all: Vec<&String> = ids.iter().flatten().collect();
    assert_eq!(all.len(), CLIENTS * ROUNDS);
    let log = ok(&store, tmp.path(), &["--json", "log", "-n", "1000"]);
    let listed: serde_json::Value = serde_json::from_str(&log).unwrap();
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    for id in &all {
        assert!(
            listed.contains(&id.as_str()),
            "{id} was acknowledged and is not listed"
        );
    }
    let out = server.stop("INT");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped by SIGINT"));
    let fsck = ok(&store, tmp.path(), &["fsck"]);
    assert!(fsck.contains(", 0 damaged"), "{fsck}");
}

#[test]
fn a_server_killed_with_sigkill_loses_no_acknowledged_commit_and_a_new_one_replaces_its_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, work) = setup(tmp.path());
    let server = Server::start(&store, &[]);
    let dir = work.to_str().unwrap().to_owned();
    // The test's own count of acknowledged commits (the store's log would
    // also count setup's commit, and sees a commit before its client does).
    let acknowledged_count = Arc::new(AtomicUsize::new(0));
    let killer = {
        let pid = server.pid();
        let acknowledged_count = Arc::clone(&acknowledged_count);
        std::thread::spawn(move || {
            // Once a few commits are acknowledged, mid-stream.
            let start = Instant::now();
            while acknowledged_count.load(Ordering::SeqCst) < 3
                && start.elapsed() < Duration::from_secs(120)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap();
        })
    };
    let mut acknowledged = Vec::new();
    for round in 0..200 {
        write_files(&work, 20, &format!("round {round}"));
        let out = helios(&store, &work, &["commit", "--workdir", &dir]);
        if !out.status.success() {
            break;
        }
        acknowledged.push(last_line(&String::from_utf8_lossy(&out.stdout)));
        acknowledged_count.store(acknowledged.len(), Ordering::SeqCst);
        if killer.is_finished() {
            break;
        }
    }
    killer.join().unwrap();
    drop(server);
    assert!(acknowledged.len() >= 3, "{acknowledged:?}");
    // The dead server's socket stays; nobody answers on it.
    assert!(fs::symlink_metadata(store.join("server.sock")).is_ok());
    let check = helios(&store, tmp.path(), &["serve", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    // A new server replaces it and has every acknowledged commit.
    let server = Server::start(&store, &[]);
    for id in &acknowledged {
        ok(&store, tmp.path(), &["show", id]);
    }
    let fsck = ok(&store, tmp.path(), &["fsck"]);
    assert!(fsck.contains(", 0 damaged"), "{fsck}");
    // A client killed mid-call leaves nothing half-done: the server goes
    // on, and the store stays whole.
    write_files(&work, 400, "big");
    let mut client = command(&store, &work, &["commit", "--workdir", &dir])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(30));
    client.kill().unwrap();
    client.wait().unwrap();
    ok(&store, tmp.path(), &["serve", "--check"]);
    let fsck = ok(&store, tmp.path(), &["fsck"]);
    assert!(fsck.contains(", 0 damaged"), "{fsck}");
    let id = commit(&store, &work);
    assert_eq!(
        ok(&store, tmp.path(), &["cat", &id, "d0/f0.txt"]),
        "big 0\n"
    );
    // And a second server beside it is refused.
    let second = helios(&store, tmp.path(), &["serve"]);
    assert_eq!(second.status.code(), Some(1));
    server.stop("TERM");
}

#[test]
fn metrics_are_served_on_loopback_only_and_count_what_the_server_did() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, work) = setup(tmp.path());
    let err = fails(&store, tmp.path(), &["serve", "--metrics", "0.0.0.0:0"]);
    assert!(err.contains("loopback"), "{err}");

    let server = Server::start(&store, &["--metrics", "127.0.0.1:0"]);
    write_files(&work, 10, "one");
    let first = commit(&store, &work);
    write_files(&work, 10, "two");
    commit(&store, &work);
    ok(
        &store,
        tmp.path(),
        &["checkout", &first, "--workdir", work.to_str().unwrap()],
    );
    fails(&store, tmp.path(), &["show", "ffffffffffff"]);

    let text = server.scrape();
    assert_eq!(
        sample(&text, "helios_requests_total{method=\"commit\"}"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(sample(&text, "helios_commit_seconds_count"), Some(2.0));
    assert_eq!(sample(&text, "helios_capture_seconds_count"), Some(2.0));
    assert_eq!(sample(&text, "helios_switch_seconds_count"), Some(1.0));
    assert_eq!(
        sample(&text, "helios_errors_total{code=\"NotFound\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "helios_commits_total"), Some(2.0));
    assert!(sample(&text, "helios_new_objects_total").unwrap() >= 10.0);
    assert!(sample(&text, "helios_l1_hit_ratio").is_some());
    assert!(sample(&text, "helios_queue_depth").is_some());
    // Every client has exited; the server notices each hang-up on its own
    // time.
    let start = Instant::now();
    while sample(&server.scrape(), "helios_connected_clients") != Some(0.0) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "clients stay connected"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Anything else is not found.
    let mut stream = TcpStream::connect(server.metrics.as_deref().unwrap()).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    server.stop("TERM");
}

#[test]
fn a_client_of_another_user_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = setup(tmp.path());
    if !matches!(Command::new("id").arg("-u").output(), Ok(o) if o.stdout == b"0\n") {
        eprintln!("skipped: switching to another uid needs root");
        return;
    }
    let server = Server::start(&store, &["--metrics", "127.0.0.1:0"]);
    // Open the way to the socket for everyone, so that only the server's
    // own check stands between another user and the store.
    use std::os::unix::fs::PermissionsExt as _;
    for dir in [tmp.path(), store.as_path()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::set_permissions(store.join("server.sock"), fs::Permissions::from_mode(0o666)).unwrap();
    let mut as_nobody = command(&store, Path::new("/"), &["serve", "--check"]);
    std::os::unix::process::CommandExt::uid(&mut as_nobody, 65534);
    let out = match as_nobody.output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: cannot run a process as uid 65534 ({e})");
            return;
        }
    };
    assert!(!out.status.success(), "another user's check passed");
    let text = server.scrape();
    // The client may dial again after the first refusal: each is refused.
    let refused = sample(&text, "helios_refused_peers_total").unwrap();
    assert!(refused >= 1.0, "{text}");
    // The owner still gets in.
    ok(&store, tmp.path(), &["serve", "--check"]);
    server.stop("TERM");
}

#[test]
fn the_client_library_commits_edits_and_manages_refs_and_pins() {
    use helios_client::proto::{Edit, EditKind};
    let tmp = tempfile::tempdir().unwrap();
    let (store, work) = setup(tmp.path());
    write_files(&work, 8, "base");
    let base = commit(&store, &work);
    let _server = Server::start(&store, &[]);
    let client = helios_client::Client::connect(&store)
        .unwrap()
        .expect("a server answers");
    assert_eq!(client.status().unwrap().algorithm, "blake3");

    let edit = |path: &str, kind: EditKind, content: &[u8]| Edit {
        path: path.into(),
        kind: kind.into(),
        content: content.to_vec(),
    };
    let (id, metrics) = client
        .commit_edits(
            Some(&base[..8]),
            vec![
                edit("d0/f0.txt", EditKind::File, b"edited in memory\n"),
                edit("run.sh", EditKind::Executable, b"#!/bin/sh\n"),
                edit("link", EditKind::Symlink, b"d0/f0.txt"),
                edit("d1", EditKind::Delete, b""),
            ],
            "edits",
            helios_engine::Durability::Sync,
            [("reward".to_owned(), "0.5".to_owned())].into(),
        )
        .unwrap();
    assert!(metrics.new_objects >= 3, "{metrics:?}");
    let (_, record) = client.show(&id.to_hex()).unwrap();
    assert_eq!(record.parents[0].to_hex(), base);
    assert_eq!(record.metadata["reward"], "0.5");
    let changes = client.diff(&base, &id.to_hex()).unwrap();
    let paths: Vec<String> = changes.iter().map(|c| c.path().to_string()).collect();
    assert_eq!(paths, ["d0/f0.txt", "d1", "link", "run.sh"], "{changes:?}");
    let mut bytes = Vec::new();
    client
        .read_into(&id.to_hex(), "d0/f0.txt", 7..9, &mut bytes)
        .unwrap();
    assert_eq!(bytes, b"in");
    // A malformed edit is refused before anything is stored.
    let err = client
        .commit_edits(
            None,
            vec![edit("../out", EditKind::File, b"x")],
            "",
            helios_engine::Durability::Sync,
            Default::default(),
        )
        .unwrap_err();
    assert!(
        matches!(err, helios_client::ClientError::Server { .. }),
        "{err}"
    );

    // Refs and pins.
    assert_eq!(client.set_ref("best", &id.to_hex()[..12]).unwrap(), id);
    assert_eq!(client.get_ref("best").unwrap(), Some(id));
    assert_eq!(client.refs().unwrap().len(), 1);
    assert!(client.delete_ref("best").unwrap());
    assert!(!client.delete_ref("best").unwrap());
    assert_eq!(client.get_ref("best").unwrap(), None);
    assert_eq!(client.pin(&id.to_hex()).unwrap(), id);
    let gc = client.gc(false).unwrap();
    assert_eq!(
        gc.snapshots_reclaimed, 0,
        "the pinned snapshot and the directory's survive"
    );
    client.unpin(&id.to_hex()).unwrap();

    // Capture reads without storing a snapshot.
    fs::write(work.join("d0/f0.txt"), "captured\n").unwrap();
    let (root, report) = client.capture(&work, false).unwrap();
    // Every file is looked at; the edited one is read (and so may be any
    // written in the same tick as the commit that recorded them: a stat
    // cache cannot tell those from an edit).
    assert_eq!(report.files_scanned, 8, "{report:?}");
    assert!(report.files_hashed >= 1, "{report:?}");
    let (_, held) = client.show(&base).unwrap();
    assert_ne!(root, held.root);
    assert_eq!(
        client.log(None, 10).unwrap().len(),
        2,
        "capture stored no snapshot"
    );
}

#[test]
fn fork_mount_and_umount_go_through_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, work) = setup(tmp.path());
    write_files(&work, 30, "base");
    let id = commit(&store, &work);
    let server = Server::start(&store, &[]);
    let forks: Vec<_> = (0..2)
        .map(|i| tmp.path().join(format!("fork{i}")))
        .collect();
    let mut args = vec!["fork", id.as_str()];
    args.extend(forks.iter().map(|d| d.to_str().unwrap()));
    let printed = ok(&store, tmp.path(), &args);
    assert_eq!(printed.lines().count(), 2, "{printed}");
    let overlay = printed.contains("(overlay)");
    if !overlay {
        eprintln!("SKIPPED overlay mounts through the server (plain checkouts tested): {printed}");
    }
    for d in &forks {
        assert_eq!(contents(d), contents(&work), "{}", d.display());
    }
    let mounted = tmp.path().join("mounted");
    let printed = ok(
        &store,
        tmp.path(),
        &["mount", &id, mounted.to_str().unwrap()],
    );
    assert!(printed.contains(&id[..12]), "{printed}");
    assert_eq!(contents(&mounted), contents(&work));
    // An edit in the mount commits on top of the mounted snapshot.
    fs::write(mounted.join("d0/f0.txt"), "in the mount\n").unwrap();
    let child = commit(&store, &mounted);
    let show = ok(&store, tmp.path(), &["show", &child]);
    assert!(show.contains(&format!("parent   {id}")), "{show}");
    if overlay {
        for d in forks.iter().chain([&mounted]) {
            let out = ok(&store, tmp.path(), &["umount", d.to_str().unwrap()]);
            assert!(out.starts_with("unmounted"), "{out}");
        }
    } else {
        let err = fails(&store, tmp.path(), &["umount", mounted.to_str().unwrap()]);
        let local = fails(
            &store,
            tmp.path(),
            &["--no-server", "umount", mounted.to_str().unwrap()],
        );
        assert!(
            !err.is_empty() && local.contains("helios serve"),
            "{err} / {local}"
        );
    }
    // The live figures, as JSON.
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&store, tmp.path(), &["--json", "stats"])).unwrap();
    assert!(
        stats["server"]["requests"].as_u64().unwrap() >= 4,
        "{stats}"
    );
    assert_eq!(stats["snapshots"], 2, "{stats}");
    server.stop("TERM");
}

#[test]
fn long_calls_stream_their_progress_before_the_reply() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, work) = setup(tmp.path());
    write_files(&work, 300, "many");
    let id = commit(&store, &work);
    let _server = Server::start(&store, &[]);
    let client = helios_client::Client::connect(&store)
        .unwrap()
        .expect("a server answers");
    let seen = std::cell::RefCell::new(Vec::new());
    let record = |done: u64, total: u64| seen.borrow_mut().push((done, total));

    // A checkout into an empty directory writes every file.
    let fresh = tmp.path().join("fresh");
    let (_, report) = client.checkout(&id, &fresh, false, false, &record).unwrap();
    let steps = seen.take();
    let written = report.files_written;
    assert!(written >= 300, "{report:?}");
    // The first file written and the last are always reported, in order.
    assert_eq!(steps.first(), Some(&(1, written)), "{steps:?}");
    assert_eq!(steps.last(), Some(&(written, written)), "{steps:?}");
    assert!(steps.windows(2).all(|w| w[0].0 < w[1].0), "{steps:?}");

    // fsck reports too, and its last step is the whole.
    let summary = client.fsck(&record).unwrap();
    assert!(summary.damaged.is_empty());
    let steps = seen.take();
    let &(done, total) = steps.last().expect("fsck reported progress");
    assert_eq!(done, total, "{steps:?}");

    // An error still ends the stream as the error, not as a missing reply.
    let err = client
        .checkout("no-such-ref", &fresh, false, false, &record)
        .unwrap_err();
    assert!(
        matches!(err, helios_client::ClientError::Server { .. }),
        "{err:?}"
    );
}

#[test]
fn a_fetch_goes_through_the_server_that_owns_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (store_a, work_a) = setup(tmp.path());
    write_files(&work_a, 30, "a");
    let first = commit(&store_a, &work_a);
    ok(&store_a, tmp.path(), &["ref", "main", &first]);
    let url = format!("file://{}", tmp.path().join("shared").display());
    ok(&store_a, tmp.path(), &["remote", "add", "shared", &url]);
    ok(&store_a, tmp.path(), &["push", "shared", "main"]);
    fs::write(work_a.join("f3"), "edited\n").unwrap();
    let second = commit(&store_a, &work_a);
    ok(&store_a, tmp.path(), &["push", "shared", &second]);

    let store_b = tmp.path().join("b");
    ok(&store_b, tmp.path(), &["init"]);
    ok(&store_b, tmp.path(), &["remote", "add", "shared", &url]);
    let server = Server::start(&store_b, &[]);
    // By ref: the server fetches, and the local ref follows it.
    let by_ref = ok(&store_b, tmp.path(), &["fetch", "shared", "main", "--json"]);
    let by_ref: serde_json::Value = serde_json::from_str(&by_ref).unwrap();
    assert_eq!(by_ref["id"], first.as_str(), "{by_ref}");
    assert_eq!(by_ref["ref"], "shared/main", "{by_ref}");
    assert!(by_ref["objects"].as_u64().unwrap() > 30, "{by_ref}");
    // By id: only what differs comes, and no ref names it.
    let by_id = ok(
        &store_b,
        tmp.path(),
        &["fetch", "shared", &second, "--json"],
    );
    let by_id: serde_json::Value = serde_json::from_str(&by_id).unwrap();
    assert!(by_id["ref"].is_null(), "{by_id}");
    assert!(by_id["objects"].as_u64().unwrap() < 10, "{by_id}");
    // What the server fetched, it serves.
    let work_b = checkout_new(&store_b, tmp.path(), &second, "wb");
    assert_eq!(contents(&work_b), contents(&work_a));
    // A remote the store does not know: one clear line, from the server.
    let err = fails(&store_b, tmp.path(), &["fetch", "elsewhere", "main"]);
    assert!(err.contains("elsewhere"), "{err}");
    let stopped = server.stop("TERM");
    assert!(stopped.status.success());
}
