//! A remote in a real directory (`file://`), as machines sharing a mount
//! use it: packs stored and read back by range, damage found by hash,
//! refs that never lose an update when writers race, markers that keep
//! stores of different algorithms apart.

use std::sync::{Arc, Barrier};

use helios_remote::{FormatError, PackBuilder, Remote, RemoteError};
use helios_types::{Blob, Hash, HashAlgorithm, SnapshotId};

const ALG: HashAlgorithm = HashAlgorithm::Blake3;

fn remote(dir: &std::path::Path) -> Remote {
    let remote = Remote::open(&format!("file://{}", dir.display())).unwrap();
    remote.init(ALG).unwrap();
    remote
}

fn blob(content: &[u8]) -> (Hash, Vec<u8>) {
    let encoded = Blob::encode_bytes(content);
    (ALG.digest(&encoded), encoded)
}

fn snapshot_id(n: u8) -> SnapshotId {
    SnapshotId::from_bytes([n; 32])
}

#[test]
fn a_pack_stored_on_the_remote_gives_back_each_object_by_range() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = remote(tmp.path());
    let objects: Vec<_> = (0..50u32)
        .map(|i| blob(format!("object {i}").as_bytes()))
        .collect();
    let mut builder = PackBuilder::new(ALG);
    for (hash, encoded) in &objects {
        builder.add(*hash, encoded).unwrap();
    }
    let (pack, index) = builder.finish();
    let id = remote.put_pack(pack.clone(), &index).unwrap();
    // Storing it again changes nothing.
    assert_eq!(remote.put_pack(pack, &index).unwrap(), id);
    assert_eq!(remote.pack_ids().unwrap(), vec![id]);

    let read_index = remote.index(&id).unwrap();
    assert_eq!(read_index, index);
    let wanted: Vec<_> = objects
        .iter()
        .step_by(7)
        .map(|(hash, _)| *read_index.find(hash).unwrap())
        .collect();
    let read = remote.read_objects(&id, &read_index, &wanted).unwrap();
    for (entry, bytes) in wanted.iter().zip(&read) {
        let (_, encoded) = objects.iter().find(|(h, _)| *h == entry.hash).unwrap();
        assert_eq!(bytes, encoded);
    }
}

#[test]
fn a_cached_index_is_read_from_disk_and_a_damaged_one_again_from_the_remote() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = remote(&tmp.path().join("remote"));
    let ids: Vec<Hash> = (0..3u32)
        .map(|p| {
            let mut builder = PackBuilder::new(ALG);
            let (hash, encoded) = blob(format!("pack {p}").as_bytes());
            builder.add(hash, &encoded).unwrap();
            let (pack, index) = builder.finish();
            writer.put_pack(pack, &index).unwrap()
        })
        .collect();
    let url = format!("file://{}", tmp.path().join("remote").display());
    let cache = tmp.path().join("cache");
    let open = || Remote::open(&url).unwrap().with_index_cache(cache.clone());

    let first = open();
    let indexes = first.indexes(&ids).unwrap();
    assert_eq!(first.requests(), 3, "every index read from the remote once");
    assert!(ids.iter().all(|id| first.has_cached_index(id)));

    let cached = open();
    assert_eq!(cached.indexes(&ids).unwrap(), indexes);
    assert_eq!(cached.requests(), 0, "all from the cache");

    let damaged = cache.join(format!("{}.idx", ids[1].to_hex()));
    std::fs::write(&damaged, b"HELIOSPI garbage").unwrap();
    let repaired = open();
    assert_eq!(repaired.indexes(&ids).unwrap(), indexes);
    assert_eq!(repaired.requests(), 1, "only the damaged one read again");
    assert_eq!(
        std::fs::read(&damaged).unwrap().len(),
        std::fs::read(cache.join(format!("{}.idx", ids[0].to_hex())))
            .unwrap()
            .len(),
        "and cached again whole"
    );
}

#[test]
fn damaged_packs_and_indexes_on_the_remote_are_errors_naming_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = remote(tmp.path());
    let (hash, encoded) = blob(b"precious");
    let mut builder = PackBuilder::new(ALG);
    builder.add(hash, &encoded).unwrap();
    let (pack, index) = builder.finish();
    let id = remote.put_pack(pack, &index).unwrap();
    let packs = tmp.path().join("packs");

    // A flipped bit in the pack: the object read back is refused by name.
    let pack_file = packs.join(format!("{}.pack", id.to_hex()));
    let mut bytes = std::fs::read(&pack_file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20;
    std::fs::write(&pack_file, &bytes).unwrap();
    let entry = *index.find(&hash).unwrap();
    let err = remote.read_objects(&id, &index, &[entry]).unwrap_err();
    assert!(
        matches!(&err, RemoteError::Format { source: FormatError::HashMismatch { expected, .. }, .. } if *expected == hash),
        "{err}"
    );
    assert!(err.to_string().contains(&hash.to_hex()), "{err}");

    // An index that is not the one its name promises.
    let index_file = packs.join(format!("{}.idx", id.to_hex()));
    let mut bytes = std::fs::read(&index_file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&index_file, &bytes).unwrap();
    assert!(matches!(
        remote.index(&id),
        Err(RemoteError::Format {
            source: FormatError::HashMismatch { .. },
            ..
        })
    ));
    // A truncated one.
    std::fs::write(&index_file, &bytes[..10]).unwrap();
    assert!(matches!(
        remote.index(&id),
        Err(RemoteError::Format {
            source: FormatError::Truncated { .. },
            ..
        })
    ));
}

#[test]
fn a_ref_update_from_a_stale_read_is_refused_and_nothing_is_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = remote(tmp.path());
    assert_eq!(remote.get_ref("main").unwrap(), None);
    let first = remote.update_ref("main", None, snapshot_id(1)).unwrap();
    assert_eq!(remote.get_ref("main").unwrap(), Some(first));
    // Creating it again as if it did not exist: refused.
    let err = remote.update_ref("main", None, snapshot_id(2)).unwrap_err();
    assert!(
        matches!(&err, RemoteError::RefMoved { now, .. } if *now == snapshot_id(1)),
        "{err}"
    );
    let second = remote
        .update_ref("main", Some(&first), snapshot_id(2))
        .unwrap();
    // A writer that read `first` and did not see `second`.
    let err = remote
        .update_ref("main", Some(&first), snapshot_id(3))
        .unwrap_err();
    assert!(
        matches!(&err, RemoteError::RefMoved { now, .. } if *now == snapshot_id(2)),
        "{err}"
    );
    assert_eq!(remote.get_ref("main").unwrap(), Some(second));
}

#[test]
fn of_many_writers_racing_from_the_same_read_exactly_one_moves_the_ref() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("file://{}", tmp.path().display());
    let base = remote(tmp.path())
        .update_ref("search", None, snapshot_id(0))
        .unwrap();
    let writers = 8u8;
    let barrier = Arc::new(Barrier::new(usize::from(writers)));
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=writers)
            .map(|n| {
                let (barrier, url) = (Arc::clone(&barrier), url.clone());
                scope.spawn(move || {
                    // Each writer its own client, as on its own machine.
                    let remote = Remote::open(&url).unwrap();
                    barrier.wait();
                    remote.update_ref("search", Some(&base), snapshot_id(n))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for lost in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(lost, RemoteError::RefMoved { .. }), "{lost}");
    }
    let now = Remote::open(&url).unwrap().get_ref("search").unwrap();
    assert_eq!(now, Some(*won[0]));
}

#[test]
fn refs_of_any_name_are_listed_as_they_were_named() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = remote(tmp.path());
    for (n, name) in (1..).zip(["main", "node/42", "../escape", "space and %"]) {
        remote.update_ref(name, None, snapshot_id(n)).unwrap();
    }
    let refs = remote.refs().unwrap();
    let names: Vec<_> = refs.keys().map(String::as_str).collect();
    assert_eq!(names, ["../escape", "main", "node/42", "space and %"]);
    assert_eq!(refs["node/42"].id, snapshot_id(2));
    // Nothing was written outside the remote's directory.
    assert!(!tmp.path().parent().unwrap().join("escape").exists());
}

#[test]
fn a_remote_keeps_to_one_hash_algorithm_and_a_bad_url_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = remote(tmp.path());
    assert_eq!(remote.algorithm().unwrap(), Some(ALG));
    remote.init(ALG).unwrap();
    assert!(matches!(
        remote.init(HashAlgorithm::Sha256),
        Err(RemoteError::AlgorithmMismatch {
            remote: HashAlgorithm::Blake3,
            local: HashAlgorithm::Sha256,
            ..
        })
    ));
    for url in ["s4://bucket", "file://relative/dir", "/no/scheme"] {
        assert!(
            matches!(Remote::open(url), Err(RemoteError::BadUrl(u)) if u == url),
            "{url}"
        );
    }
    std::fs::write(tmp.path().join("HELIOS"), "something else\n").unwrap();
    assert!(matches!(
        remote.algorithm(),
        Err(RemoteError::Format {
            source: FormatError::BadMarker(_),
            ..
        })
    ));
}

/// An in-memory object store whose write of `slow` waits, whose write of
/// `failing` fails, and which records the keys it stored, in order.
#[derive(Debug)]
struct Scripted {
    inner: object_store::memory::InMemory,
    slow: String,
    failing: String,
    stored: std::sync::Mutex<Vec<String>>,
}

impl Scripted {
    fn new(slow: &str, failing: &str) -> Arc<Scripted> {
        Arc::new(Scripted {
            inner: object_store::memory::InMemory::new(),
            slow: slow.to_owned(),
            failing: failing.to_owned(),
            stored: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn stored(&self) -> Vec<String> {
        self.stored.lock().unwrap().clone()
    }
}

impl std::fmt::Display for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for Scripted {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        payload: object_store::PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        if location.as_ref() == self.slow {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        if location.as_ref() == self.failing {
            return Err(object_store::Error::Generic {
                store: "Scripted",
                source: "this write fails".into(),
            });
        }
        let put = self.inner.put_opts(location, payload, opts).await?;
        self.stored.lock().unwrap().push(location.to_string());
        Ok(put)
    }

    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures_util::stream::BoxStream<
            'static,
            object_store::Result<object_store::path::Path>,
        >,
    ) -> futures_util::stream::BoxStream<'static, object_store::Result<object_store::path::Path>>
    {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures_util::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>>
    {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        to: &object_store::path::Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Three one-object packs, and their ids.
fn three_packs() -> Vec<(Vec<u8>, helios_remote::PackIndex)> {
    (0..3u32)
        .map(|p| {
            let mut builder = PackBuilder::new(ALG);
            let (hash, encoded) = blob(format!("pack {p}").as_bytes());
            builder.add(hash, &encoded).unwrap();
            builder.finish()
        })
        .collect()
}

fn key(id: &Hash, ext: &str) -> String {
    format!("packs/{}.{ext}", id.to_hex())
}

/// Starts each pack after the one before, as a push does.
fn send(
    remote: &Remote,
    packs: Vec<(Vec<u8>, helios_remote::PackIndex)>,
) -> Vec<helios_remote::PackUpload> {
    let mut uploads: Vec<helios_remote::PackUpload> = Vec::new();
    for (pack, index) in packs {
        let upload = remote.start_pack(pack, &index, uploads.last());
        uploads.push(upload);
    }
    uploads
}

#[test]
fn packs_sent_at_once_become_visible_in_the_order_they_were_begun() {
    let packs = three_packs();
    let ids: Vec<Hash> = packs.iter().map(|(_, index)| index.id()).collect();
    let store = Scripted::new(&key(&ids[0], "pack"), "");
    let remote = Remote::over("scripted://", store.clone()).unwrap();
    for upload in send(&remote, packs) {
        remote.finish_pack(upload).unwrap();
    }
    let stored = store.stored();
    let at = |k: String| stored.iter().position(|s| *s == k).unwrap();
    assert!(
        at(key(&ids[1], "pack")) < at(key(&ids[0], "pack")),
        "the packs went at once (the first, slow, landed after the second): {stored:?}"
    );
    let indexes: Vec<&String> = stored.iter().filter(|k| k.ends_with(".idx")).collect();
    let begun: Vec<String> = ids.iter().map(|id| key(id, "idx")).collect();
    assert_eq!(
        indexes,
        begun.iter().collect::<Vec<_>>(),
        "indexes in the order begun"
    );
    for id in &ids {
        assert!(
            at(key(id, "pack")) < at(key(id, "idx")),
            "each pack before its index"
        );
    }
}

#[test]
fn after_a_pack_fails_no_later_pack_becomes_visible() {
    let packs = three_packs();
    let ids: Vec<Hash> = packs.iter().map(|(_, index)| index.id()).collect();
    let store = Scripted::new("", &key(&ids[1], "pack"));
    let remote = Remote::over("scripted://", store.clone()).unwrap();
    let mut uploads = send(&remote, packs).into_iter();
    assert_eq!(remote.finish_pack(uploads.next().unwrap()).unwrap(), ids[0]);
    for upload in uploads {
        let err = remote.finish_pack(upload).unwrap_err();
        assert!(err.to_string().contains("this write fails"), "{err}");
    }
    let stored = store.stored();
    assert!(stored.contains(&key(&ids[0], "idx")), "{stored:?}");
    assert!(!stored.contains(&key(&ids[1], "idx")), "{stored:?}");
    assert!(
        !stored.contains(&key(&ids[2], "idx")),
        "a later index: {stored:?}"
    );
}
