//! Opening: every refusal is a typed [`OpenError`], and a good open after a
//! refused one still works.

use helios_objstore::{
    BULK_CF, CLOSE_FLUSH_WAL_FILES, FORMAT_VERSION, OpenError, RocksConfig, RocksStore,
};
use helios_types::store::ObjectStore;
use helios_types::{Blob, HashAlgorithm};

use crate::common::{blob, create, raw_create, raw_open, reopen, write_unlogged};

/// Sets a key of the store's configuration record through RocksDB directly.
fn set_config_record(dir: &std::path::Path, key: &[u8], value: &[u8]) {
    raw_open(dir).put(key, value).expect("raw put");
}

#[test]
fn missing_directory_is_not_found_unless_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no/such/store");
    match RocksStore::open(&missing, &RocksConfig::default()) {
        Err(OpenError::NotFound { path }) => assert_eq!(path, missing),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(
        !missing.exists(),
        "a refused open must not create the directory"
    );
    // An existing but empty directory holds no store either.
    match RocksStore::open(dir.path(), &RocksConfig::default()) {
        Err(OpenError::NotFound { .. }) => {}
        other => panic!("expected NotFound for an empty directory, got {other:?}"),
    }
    // With create, nested directories are made.
    let store =
        RocksStore::open(&missing, &RocksConfig::create(HashAlgorithm::Blake3)).expect("create");
    assert_eq!(store.path(), missing);
    assert_eq!(store.algorithm(), HashAlgorithm::Blake3);
}

#[test]
fn path_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a store").expect("write file");
    for config in [
        RocksConfig::default(),
        RocksConfig::create(HashAlgorithm::Blake3),
    ] {
        match RocksStore::open(&file, &config) {
            Err(OpenError::NotADirectory { path }) => assert_eq!(path, file),
            other => panic!("expected NotADirectory, got {other:?}"),
        }
    }
    assert_eq!(
        std::fs::read(&file).expect("read"),
        b"not a store",
        "the file must be untouched"
    );
}

#[test]
fn other_hash_algorithm_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(create(dir.path(), HashAlgorithm::Blake3));
    let sha = RocksConfig {
        algorithm: Some(HashAlgorithm::Sha256),
        ..RocksConfig::default()
    };
    match RocksStore::open(dir.path(), &sha) {
        Err(OpenError::AlgorithmMismatch {
            recorded,
            requested,
            ..
        }) => {
            assert_eq!(
                (recorded, requested),
                (HashAlgorithm::Blake3, HashAlgorithm::Sha256)
            );
        }
        other => panic!("expected AlgorithmMismatch, got {other:?}"),
    }
    // Creating over an existing store does not change its algorithm either.
    assert!(matches!(
        RocksStore::open(dir.path(), &RocksConfig::create(HashAlgorithm::Sha256)),
        Err(OpenError::AlgorithmMismatch { .. })
    ));
    // No expectation: the recorded algorithm is used.
    assert_eq!(reopen(dir.path()).algorithm(), HashAlgorithm::Blake3);
    // And a SHA-256 store reopens as SHA-256.
    let dir2 = tempfile::tempdir().expect("tempdir");
    drop(create(dir2.path(), HashAlgorithm::Sha256));
    assert_eq!(reopen(dir2.path()).algorithm(), HashAlgorithm::Sha256);
}

#[test]
fn a_version_1_store_is_read_and_raised_to_the_current_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), HashAlgorithm::Blake3);
    let blob = Blob::new(&b"written by version 1"[..]);
    let hash = blob.hash(HashAlgorithm::Blake3);
    store.put(hash, blob.encode()).unwrap();
    store.sync().unwrap();
    drop(store);
    set_config_record(dir.path(), b"format_version", &1u32.to_le_bytes());
    let store = reopen(dir.path());
    assert_eq!(store.get(&hash).unwrap(), Some(blob.encode()));
    drop(store);
    let raw = raw_open(dir.path());
    assert_eq!(
        raw.get(b"format_version").unwrap(),
        Some(FORMAT_VERSION.to_le_bytes().to_vec()),
        "opened by this build, the store says it may hold chunk lists"
    );
    drop(raw);
    set_config_record(dir.path(), b"format_version", &0u32.to_le_bytes());
    assert!(matches!(
        RocksStore::open(dir.path(), &RocksConfig::default()),
        Err(OpenError::UnknownFormat { found: 0, .. })
    ));
}

#[test]
fn processes_that_each_write_a_little_do_not_pile_up_wal_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(create(dir.path(), HashAlgorithm::Blake3));
    let mut written = Vec::new();
    for i in 0..12u32 {
        let store = reopen(dir.path());
        let (hash, encoded) = blob(&store, &i.to_le_bytes());
        store.put(hash, encoded).unwrap();
        written.push(hash);
        // What a clean shutdown of the engine does.
        store.flush_if_large().unwrap();
        assert!(
            store.wal_files() <= CLOSE_FLUSH_WAL_FILES + 1,
            "open {i}: {} WAL files",
            store.wal_files()
        );
        store.close().unwrap();
    }
    let store = reopen(dir.path());
    for hash in &written {
        assert!(store.contains(hash).unwrap(), "every write survives");
    }
    assert!(store.wal_files() <= CLOSE_FLUSH_WAL_FILES + 1);
}

/// Level 0 reaches RocksDB's compaction trigger (4 files); a clean close
/// waits for that compaction instead of cancelling it (a process that
/// lives for one command would otherwise throw it away, and so would every
/// later one, while level 0 grows towards the write stall).
#[test]
fn a_clean_close_finishes_the_compaction_level_zero_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), HashAlgorithm::Blake3);
    let mut written = Vec::new();
    for i in 0..6u32 {
        for j in 0..200u32 {
            let (hash, encoded) = blob(&store, format!("flush {i} object {j}").as_bytes());
            store.put(hash, encoded).unwrap();
            written.push(hash);
        }
        store.flush().unwrap();
    }
    store.finish_compactions().unwrap();
    let level0 = store.stats().unwrap().level0_files;
    assert!(level0 < 4, "{level0} files left at level 0");
    store.close().unwrap();
    let store = reopen(dir.path());
    assert!(written.iter().all(|h| store.contains(h).unwrap()));
    assert!(store.stats().unwrap().level0_files < 4);
}

#[test]
fn a_read_only_open_reads_beside_a_writer_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = create(dir.path(), HashAlgorithm::Blake3);
    let (hash, encoded) = blob(&writer, b"written before the reader opened");
    writer.put(hash, encoded.clone()).unwrap();
    let files = |d: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = files(dir.path());
    let read_only = RocksConfig {
        read_only: true,
        ..RocksConfig::default()
    };
    // The writer holds the lock; a reader needs none.
    let reader = RocksStore::open(dir.path(), &read_only).expect("read-only open beside a writer");
    assert_eq!(
        reader.get(&hash).unwrap(),
        Some(encoded),
        "the writer's WAL is read"
    );
    assert!(
        reader.put(hash, b"x".to_vec()).is_err(),
        "writes are refused"
    );
    reader.sync().unwrap();
    reader.flush_if_large().unwrap();
    drop(reader);
    assert_eq!(files(dir.path()), before, "a reader creates no file");
    drop(writer);
    let missing = tempfile::tempdir().expect("tempdir");
    let create_too = RocksConfig {
        create_if_missing: true,
        ..read_only
    };
    assert!(matches!(
        RocksStore::open(missing.path().join("s"), &create_too),
        Err(OpenError::NotFound { .. })
    ));
    assert!(!missing.path().join("s").exists(), "nor a directory");
}

#[test]
fn unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(create(dir.path(), HashAlgorithm::Blake3));
    set_config_record(
        dir.path(),
        b"format_version",
        &(FORMAT_VERSION + 1).to_le_bytes(),
    );
    match RocksStore::open(dir.path(), &RocksConfig::default()) {
        Err(OpenError::UnknownFormat {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        other => panic!("expected UnknownFormat, got {other:?}"),
    }
    set_config_record(dir.path(), b"format_version", b"garbage");
    assert!(matches!(
        RocksStore::open(dir.path(), &RocksConfig::default()),
        Err(OpenError::NotAStore { .. })
    ));
    set_config_record(dir.path(), b"format_version", &FORMAT_VERSION.to_le_bytes());
    set_config_record(dir.path(), b"hash_algorithm", &[99]);
    assert!(matches!(
        RocksStore::open(dir.path(), &RocksConfig::default()),
        Err(OpenError::NotAStore { .. })
    ));
}

#[test]
fn second_open_while_locked_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), HashAlgorithm::Blake3);
    let (h, e) = blob(&store, b"still here");
    store.put(h, e.clone()).expect("put");
    for config in [
        RocksConfig::default(),
        RocksConfig::create(HashAlgorithm::Blake3),
    ] {
        match RocksStore::open(dir.path(), &config) {
            Err(OpenError::Locked { path, .. }) => assert_eq!(path, dir.path()),
            other => panic!("expected Locked, got {other:?}"),
        }
    }
    assert_eq!(
        store.get(&h).expect("get"),
        Some(e.clone()),
        "the first handle must still work"
    );
    drop(store);
    assert_eq!(
        reopen(dir.path()).get(&h).expect("get"),
        Some(e),
        "the lock is released on drop"
    );
}

#[test]
fn a_rocksdb_directory_that_is_not_a_helios_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    raw_create(dir.path()).put(b"k", b"v").expect("raw put");
    match RocksStore::open(dir.path(), &RocksConfig::default()) {
        Err(OpenError::NotAStore { .. }) => {}
        other => panic!("expected NotAStore, got {other:?}"),
    }
    // Asking to create does not adopt a directory holding foreign data.
    match RocksStore::open(dir.path(), &RocksConfig::create(HashAlgorithm::Blake3)) {
        Err(OpenError::NotAStore { .. }) => {}
        other => panic!("expected NotAStore with create, got {other:?}"),
    }
}

#[test]
fn invalid_config_is_refused_before_touching_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("s");
    let small_cache = RocksConfig {
        block_cache_bytes: 0,
        ..RocksConfig::create(HashAlgorithm::Blake3)
    };
    // Once computed into a WAL limit by an unchecked multiplication.
    let huge_buffer = RocksConfig {
        write_buffer_bytes: usize::MAX,
        ..RocksConfig::create(HashAlgorithm::Blake3)
    };
    for (config, name) in [
        (small_cache, "block_cache_bytes"),
        (huge_buffer, "write_buffer_bytes"),
    ] {
        match RocksStore::open(&target, &config) {
            Err(OpenError::InvalidConfig { field, .. }) => assert_eq!(field, name),
            other => panic!("expected InvalidConfig for {name}, got {other:?}"),
        }
        assert!(!target.exists());
    }
}

#[test]
fn errors_name_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("gone");
    let err = RocksStore::open(&missing, &RocksConfig::default()).expect_err("missing");
    assert!(err.to_string().contains("gone"), "{err}");
}

/// True when this process runs as root, which bypasses file permissions
/// (`/proc/self` is owned by the effective user).
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[test]
fn a_lock_file_that_cannot_be_opened_is_not_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(create(dir.path(), HashAlgorithm::Blake3));
    // RocksDB's error names the LOCK file and says "lock", yet no one holds
    // the store: a directory in the way ("Is a directory") is not a lock.
    let lock = dir.path().join("LOCK");
    std::fs::remove_file(&lock).expect("remove LOCK");
    std::fs::create_dir(&lock).expect("LOCK as a directory");
    match RocksStore::open(dir.path(), &RocksConfig::default()) {
        Err(OpenError::Backend { source, .. }) => {
            let message = source.to_string();
            assert!(message.contains("LOCK"), "{message}");
        }
        other => panic!("expected Backend (not Locked), got {other:?}"),
    }
    std::fs::remove_dir(&lock).expect("remove the directory");
    assert_eq!(reopen(dir.path()).algorithm(), HashAlgorithm::Blake3);
}

#[test]
fn permission_denied_is_neither_locked_nor_not_found() {
    use std::os::unix::fs::PermissionsExt;
    if running_as_root() {
        #[allow(clippy::print_stderr, reason = "test report")]
        {
            eprintln!("skipped: root bypasses file permissions");
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    drop(create(dir.path(), HashAlgorithm::Blake3));
    let set_mode = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };

    let lock = dir.path().join("LOCK");
    set_mode(&lock, 0o000);
    let result = RocksStore::open(dir.path(), &RocksConfig::default());
    set_mode(&lock, 0o644);
    match result {
        Err(OpenError::Backend { source, .. }) => {
            let message = source.to_string();
            assert!(message.contains("Permission denied"), "{message}");
        }
        other => panic!("an unreadable LOCK file: expected Backend, got {other:?}"),
    }

    set_mode(dir.path(), 0o000);
    let result = RocksStore::open(dir.path(), &RocksConfig::default());
    set_mode(dir.path(), 0o755);
    match result {
        Err(OpenError::Io { source, .. }) => {
            assert_eq!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied,
                "{source}"
            );
        }
        other => panic!("an unreadable store directory: expected Io, got {other:?}"),
    }
    assert_eq!(reopen(dir.path()).algorithm(), HashAlgorithm::Blake3);
}

#[test]
fn a_creation_cut_short_is_finished_only_when_create_is_asked() {
    // What a process killed inside RocksDB's own creation leaves: CURRENT
    // and a manifest, no column families of ours, no configuration record.
    let dir = tempfile::tempdir().expect("tempdir");
    drop(raw_create(dir.path()));
    assert!(dir.path().join("CURRENT").is_file());
    match RocksStore::open(dir.path(), &RocksConfig::default()) {
        Err(OpenError::NotAStore { .. }) => {}
        other => panic!("without create: expected NotAStore, got {other:?}"),
    }
    let store = RocksStore::open(dir.path(), &RocksConfig::create(HashAlgorithm::Sha256))
        .expect("create finishes the store");
    assert_eq!(store.algorithm(), HashAlgorithm::Sha256);
    drop(store);
    assert_eq!(reopen(dir.path()).algorithm(), HashAlgorithm::Sha256);
}

/// The memtable bloom filter follows `memtable_bloom`, as the options file
/// RocksDB writes at each open records (the objects family's ratio).
#[test]
fn memtable_bloom_is_configured_as_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let newest_options = || {
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list store")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("OPTIONS-"))
            .collect();
        files.sort_by_key(|n| n["OPTIONS-".len()..].parse::<u64>().unwrap_or(0));
        std::fs::read_to_string(dir.path().join(files.last().expect("an options file")))
            .expect("read options")
    };
    for asked in [true, false] {
        let config = RocksConfig {
            memtable_bloom: asked,
            ..RocksConfig::create(HashAlgorithm::Blake3)
        };
        let store = RocksStore::open(dir.path(), &config).expect("open");
        // Only the objects family has the filter; the others record 0.
        let has_filter = newest_options().contains("memtable_prefix_bloom_size_ratio=0.050000");
        assert_eq!(has_filter, asked, "memtable_bloom {asked}");
        drop(store);
    }
}

/// A store from before the bulk column family: read-only opens read it as
/// it is, and the first read-write open adds the family.
#[test]
fn a_store_without_the_bulk_family_is_read_and_then_given_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), HashAlgorithm::Blake3);
    let (old, old_encoded) = blob(&store, b"written before the bulk family");
    store.put(old, old_encoded.clone()).expect("put");
    store.close().expect("close");
    {
        let mut db = raw_open(dir.path());
        db.drop_cf(BULK_CF).expect("drop the bulk family");
    }
    let read_only = RocksConfig {
        read_only: true,
        ..RocksConfig::default()
    };
    let store = RocksStore::open(dir.path(), &read_only).expect("read-only open");
    assert_eq!(store.get(&old).expect("get"), Some(old_encoded.clone()));
    assert_eq!(store.objects(None).expect("scan").count(), 1);
    drop(store);
    assert!(raw_open(dir.path()).cf_handle(BULK_CF).is_none());

    let store = reopen(dir.path());
    let mut written = Vec::new();
    write_unlogged(&store, [vec![7u8; 20 << 10]], &mut written);
    let (chunk, chunk_encoded) = written.pop().expect("one chunk");
    store.close().expect("close");
    assert!(raw_open(dir.path()).cf_handle(BULK_CF).is_some());
    let store = RocksStore::open(dir.path(), &read_only).expect("read-only open");
    assert_eq!(store.get(&old).expect("get"), Some(old_encoded));
    assert_eq!(store.get(&chunk).expect("get"), Some(chunk_encoded));
}

/// An open store takes about the room its data needs: RocksDB's default
/// would reserve 4 MiB for the MANIFEST, which `du` counts while open.
#[test]
fn an_open_store_reserves_little_room_ahead() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), HashAlgorithm::Blake3);
    let (hash, encoded) = blob(&store, b"one object");
    store.put(hash, encoded).expect("put");
    store.flush().expect("flush");
    let manifests: Vec<u64> = std::fs::read_dir(dir.path())
        .expect("list store")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_name().to_string_lossy().starts_with("MANIFEST-"))
        .map(|e| e.metadata().expect("stat").blocks() * 512)
        .collect();
    assert!(!manifests.is_empty());
    for allocated in manifests {
        assert!(
            allocated <= 256 << 10,
            "MANIFEST holds {allocated} bytes of disk"
        );
    }
    drop(store);
}

/// With `low_priority_compactions`, the thread that compacts runs at nice
/// 19 once it has compacted (RocksDB lowers a pool's threads as they take
/// work).
#[test]
fn compactions_run_at_the_lowest_priority_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = RocksConfig {
        low_priority_compactions: true,
        ..RocksConfig::create(HashAlgorithm::Blake3)
    };
    let store = RocksStore::open(dir.path(), &config).expect("open");
    for round in 0u32..3 {
        for i in 0u32..50 {
            let (hash, encoded) = blob(&store, format!("round {round} blob {i}").as_bytes());
            store.put(hash, encoded).expect("put");
        }
        store.flush().expect("flush");
    }
    store.compact().expect("compact");
    let mut compacting_threads = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("list threads") {
        let task = task.expect("thread").path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if !comm.starts_with("rocksdb:low") {
            continue;
        }
        let stat = std::fs::read_to_string(task.join("stat")).expect("thread stat");
        // Fields after the name in parentheses; nice is the 19th field.
        let after_name = &stat[stat.rfind(')').expect("name") + 2..];
        let nice: i32 = after_name
            .split(' ')
            .nth(16)
            .expect("nice")
            .parse()
            .expect("number");
        assert_eq!(nice, 19, "{comm} runs at nice {nice}");
        compacting_threads += 1;
    }
    assert!(compacting_threads > 0, "no rocksdb:low thread found");
}
