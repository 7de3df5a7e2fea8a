//! Large files as a user meets them: the release `helios` binary, one
//! process per call, on real files in a temporary directory under the
//! target directory (not tmpfs: a disk, as a workspace lives on).
//!
//! - Throughput: `helios commit` of a new 1 GiB incompressible file into a
//!   fresh store, beside `cat FILE > /dev/null` plus `b3sum FILE` on the
//!   same file in the same run (`b3sum` from PATH, or from
//!   `<target>/tools/bin`; without it the peer is this process hashing the
//!   file with the same BLAKE3 crate, named so in the report). Beside the
//!   default (`--durability sync`), the same commit `--durability async`,
//!   and `sync` with the store on tmpfs (`/dev/shm`, when there is one),
//!   where an fsync costs nothing: what the commit costs without the disk.
//!   And a second peer that, like a sync commit, makes the bytes durable:
//!   `cp FILE COPY && sync COPY` onto the same disk.
//! - Peak resident memory (`VmHWM`, polled every 5 ms: a lower bound) of
//!   `helios commit` and `helios checkout` of a tree holding one 4 GiB
//!   incompressible file, and one 16 GiB sparse file.
//! - Dedup: bytes a commit stores after 10 bytes are inserted at the start
//!   of a 32 MiB file, and chunks after 1 KiB is appended to a 512 MiB one.
//!
//! `cargo bench -p helios-benches --bench large_files` (or `cargo xtask
//! bench large_files`). Sizes: `HELIOS_LARGE_GIB` (default 1) for the
//! throughput file, `HELIOS_LARGE_RUNS` (default 5) runs of each timing.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use helios_benches::{helios_binary, note, target, target_dir};

/// Writes `len` pseudo-random (incompressible) bytes to `path`.
fn write_noise(path: &Path, len: u64, seed: &str) {
    let mut out = std::io::BufWriter::with_capacity(8 << 20, File::create(path).unwrap());
    let mut xof = blake3::Hasher::new().update(seed.as_bytes()).finalize_xof();
    let mut buf = vec![0u8; 8 << 20];
    let mut left = len;
    while left > 0 {
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        xof.fill(&mut buf[..n]);
        out.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    out.flush().unwrap();
}

/// What one run of a program took.
struct Ran {
    time: Duration,
    /// Peak resident memory seen.
    peak_rss: u64,
    stdout: String,
    stderr: String,
}

/// Runs `program ARGS` to success, polling its peak resident memory.
fn run(program: &Path, args: &[&str], store: Option<&Path>) -> Ran {
    let mut cmd = Command::new(program);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(store) = store {
        cmd.env("HELIOS_STORE", store);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{program:?}: {e}"));
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(vm_hwm(&status));
        std::thread::sleep(Duration::from_millis(5));
    }
    let time = start.elapsed();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{program:?} {args:?}: {stderr}");
    Ran {
        time,
        peak_rss: peak,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    }
}

fn vm_hwm(status_file: &str) -> u64 {
    fs::read_to_string(status_file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn b3sum() -> Option<PathBuf> {
    let tools = target_dir().join("tools/bin/b3sum");
    if tools.exists() {
        return Some(tools);
    }
    let found = Command::new("b3sum").arg("--version").output();
    found
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("b3sum"))
}

fn cat_to_null(file: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new("cat")
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    start.elapsed()
}

/// A durable plain copy: `cp` (which copies in the kernel where it can)
/// then `sync COPY` (an fsync of the copy).
fn durable_copy(file: &Path, copy: &Path) -> Duration {
    let start = Instant::now();
    for (program, args) in [
        ("cp", [file.as_os_str(), copy.as_os_str()].as_slice()),
        ("sync", [copy.as_os_str()].as_slice()),
    ] {
        let status = Command::new(program).args(args).status().unwrap();
        assert!(status.success(), "{program} failed");
    }
    let took = start.elapsed();
    fs::remove_file(copy).unwrap();
    took
}

fn hash_in_process(file: &Path) -> Duration {
    let start = Instant::now();
    let mut hasher = blake3::Hasher::new();
    let mut f = File::open(file).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    std::hint::black_box(hasher.finalize());
    start.elapsed()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn commit(helios: &Path, store: &Path, work: &Path) -> Ran {
    commit_with(helios, store, work, "sync")
}

fn commit_with(helios: &Path, store: &Path, work: &Path, durability: &str) -> Ran {
    run(
        helios,
        &[
            "commit",
            "--workdir",
            work.to_str().unwrap(),
            "--durability",
            durability,
        ],
        Some(store),
    )
}

fn fresh_store(helios: &Path, store: &Path) {
    if store.exists() {
        fs::remove_dir_all(store).unwrap();
    }
    run(helios, &["init"], Some(store));
}

/// `helios commit` of a new incompressible file against `cat` + `b3sum`.
fn throughput(helios: &Path, dir: &Path) {
    let gib = env_u64("HELIOS_LARGE_GIB", 1);
    let runs = env_u64("HELIOS_LARGE_RUNS", 5);
    let work = dir.join("w1");
    fs::create_dir_all(&work).unwrap();
    let file = work.join("data.bin");
    write_noise(&file, gib << 30, "throughput");
    let store = dir.join("s1");
    // A store in memory, where fsync is free: the commit without the disk.
    let shm = Path::new("/dev/shm");
    let mem_store = shm
        .is_dir()
        .then(|| shm.join(format!("helios-bench-{}", std::process::id())));
    let peer = b3sum();
    let (mut commits, mut peers) = (Vec::new(), Vec::new());
    let (mut asyncs, mut in_memory, mut copies) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        copies.push(durable_copy(&file, &dir.join("copy.bin")));
        let cat = cat_to_null(&file);
        let hash = match &peer {
            Some(b3sum) => run(b3sum, &[file.to_str().unwrap()], None).time,
            None => hash_in_process(&file),
        };
        peers.push(cat + hash);
        fresh_store(helios, &store);
        commits.push(commit(helios, &store, &work).time);
        fresh_store(helios, &store);
        asyncs.push(commit_with(helios, &store, &work, "async").time);
        if let Some(mem) = &mem_store {
            fresh_store(helios, mem);
            in_memory.push(commit(helios, mem, &work).time);
            fs::remove_dir_all(mem).unwrap();
        }
    }
    let name = if peer.is_some() {
        "cat + b3sum"
    } else {
        "cat + in-process BLAKE3 (no b3sum found)"
    };
    let p50 = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (c50, p50v) = (p50(&mut commits), p50(&mut peers));
    let a50 = p50(&mut asyncs);
    let cp50 = p50(&mut copies);
    let m50 = (!in_memory.is_empty()).then(|| p50(&mut in_memory));
    let ratio = c50.as_secs_f64() / p50v.as_secs_f64();
    target(
        "commit of a new large file <= 1.5x cat + b3sum",
        ratio <= 1.5,
        &format!("{ratio:.2}x"),
    );
    note(&format!(
        "large: commit of a new {gib} GiB incompressible file, {runs} runs: P50 {:.2?} (max {:.2?}); {name} P50 {:.2?} (max {:.2?}); ratio {:.2} (target <= 1.5)",
        c50,
        commits.last().unwrap(),
        p50v,
        peers.last().unwrap(),
        ratio
    ));
    note(&format!(
        "large: the same commit --durability async: P50 {a50:.2?} (max {:.2?}, ratio {:.2}); sync with the store on tmpfs (no disk): {}",
        asyncs.last().unwrap(),
        a50.as_secs_f64() / p50v.as_secs_f64(),
        m50.map_or("no /dev/shm".to_owned(), |m| format!(
            "P50 {m:.2?} (max {:.2?}, ratio {:.2})",
            in_memory.last().unwrap(),
            m.as_secs_f64() / p50v.as_secs_f64()
        )),
    ));
    note(&format!(
        "large: a durable plain copy (cp + sync FILE) of the same file: P50 {cp50:.2?} (max {:.2?}); the sync commit takes {:.2}x its time",
        copies.last().unwrap(),
        c50.as_secs_f64() / cp50.as_secs_f64()
    ));
    fs::remove_dir_all(&work).unwrap();
    fs::remove_dir_all(&store).unwrap();
}

/// Peak memory of commit and checkout with one huge file.
fn memory(helios: &Path, dir: &Path, name: &str, make: impl Fn(&Path)) {
    let work = dir.join("w2");
    fs::create_dir_all(&work).unwrap();
    make(&work.join("huge.bin"));
    let store = dir.join("s2");
    fresh_store(helios, &store);
    let committed = commit(helios, &store, &work);
    let id = committed
        .stdout
        .lines()
        .last()
        .expect("the snapshot id")
        .to_owned();
    let copy = dir.join("copy");
    let checkout = run(
        helios,
        &["checkout", &id, "--workdir", copy.to_str().unwrap()],
        Some(&store),
    );
    let peak = committed.peak_rss.max(checkout.peak_rss);
    target(
        &format!("peak RSS of commit and checkout, {name}, <= 256 MiB"),
        peak <= 256 << 20,
        &format!("{} MiB", peak >> 20),
    );
    note(&format!(
        "large: {name}: peak RSS commit {} MiB ({:.2?}), checkout {} MiB ({:.2?}) (target <= 256 MiB)",
        committed.peak_rss >> 20,
        committed.time,
        checkout.peak_rss >> 20,
        checkout.time
    ));
    for d in [&work, &store, &copy] {
        fs::remove_dir_all(d).unwrap();
    }
}

/// Bytes a commit stores after an edit of a large file.
fn dedup(helios: &Path, dir: &Path, len: u64, edit: &str, apply: impl Fn(&Path)) -> (u64, u64) {
    let work = dir.join("w3");
    fs::create_dir_all(&work).unwrap();
    let file = work.join("data.bin");
    write_noise(&file, len, "dedup");
    let store = dir.join("s3");
    fresh_store(helios, &store);
    commit(helios, &store, &work);
    apply(&file);
    let err = commit(helios, &store, &work).stderr;
    // "... N new objects (B bytes) in ...": chunks, chunk list, root tree.
    let (objects, bytes) = err
        .split_once(" new objects (")
        .and_then(|(head, tail)| {
            let objects = head.rsplit(' ').next()?.parse::<u64>().ok()?;
            let bytes = tail.split_once(" bytes)")?.0.parse::<u64>().ok()?;
            Some((objects, bytes))
        })
        .expect("the commit note");
    note(&format!(
        "large: {edit} of a {} MiB file: the commit stored {objects} new objects ({} KiB: new chunks, the chunk list and the root tree); a file-level store stores {} MiB",
        len >> 20,
        bytes >> 10,
        len >> 20
    ));
    fs::remove_dir_all(&work).unwrap();
    fs::remove_dir_all(&store).unwrap();
    (objects, bytes)
}

fn main() {
    // Criterion's flags (`--bench`, `--noplot`) mean nothing here.
    let helios = helios_binary();
    let dir = tempfile::tempdir_in(target_dir()).unwrap();
    throughput(&helios, dir.path());
    memory(&helios, dir.path(), "one 4 GiB incompressible file", |p| {
        write_noise(p, 4 << 30, "memory");
    });
    memory(&helios, dir.path(), "one 16 GiB sparse file", |p| {
        let f = File::create(p).unwrap();
        f.set_len(16 << 30).unwrap();
    });
    let (_, bytes) = dedup(
        &helios,
        dir.path(),
        32 << 20,
        "10 bytes inserted at the start",
        |p| {
            let mut bytes = fs::read(p).unwrap();
            bytes.splice(0..0, *b"0123456789");
            fs::write(p, bytes).unwrap();
        },
    );
    target(
        "10 bytes inserted at the start of 32 MiB store <= 128 KiB",
        bytes <= 128 << 10,
        &format!("{} KiB", bytes >> 10),
    );
    let (objects, _) = dedup(&helios, dir.path(), 512 << 20, "1 KiB appended", |p| {
        let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
        f.write_all(&[7u8; 1024]).unwrap();
    });
    // Besides the chunks: the chunk list and the root tree.
    let chunks = objects.saturating_sub(2);
    target(
        "1 KiB appended to 512 MiB stores <= 2 chunks",
        chunks <= 2,
        &format!("{chunks} chunks"),
    );
}
