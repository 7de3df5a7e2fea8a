//! The stress run: 1,000,000 objects put in buffered batches of 1000 (one
//! `sync` at the end), the store reopened (open time measured), a random
//! sample read back and verified; time and bytes on disk printed. Ignored by
//! default; run it with
//! `cargo test -p helios-objstore --release -- --ignored stress`.

use std::time::Instant;

use helios_objstore::{RocksConfig, RocksStore};
use helios_types::HashAlgorithm;
use helios_types::store::{ObjectStore, WriteBatch, WriteMode};

use crate::common::{Rng, blob, create, disk_bytes, source_object};

const OBJECTS: u64 = 1_000_000;
const BATCH: u64 = 1000;
const SAMPLE: u64 = 20_000;

#[test]
#[ignore = "stress: cargo test -p helios-objstore --release -- --ignored stress"]
fn stress_million_objects_put_reopen_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), HashAlgorithm::Blake3);
    let began = Instant::now();
    let mut in_write = std::time::Duration::ZERO;
    let mut payload = 0u64;
    for first in (0..OBJECTS / BATCH).map(|b| b * BATCH) {
        let mut batch = WriteBatch::new();
        for i in first..first + BATCH {
            let (h, e) = blob(&store, &source_object(i));
            payload += e.len() as u64;
            batch.put_object(h, e);
        }
        let t = Instant::now();
        store
            .write(batch, WriteMode::Buffered)
            .expect("write batch");
        in_write += t.elapsed();
    }
    let t = Instant::now();
    store.sync().expect("sync");
    in_write += t.elapsed();
    let put_time = began.elapsed();
    let stats = store.stats().expect("stats");
    drop(store);

    let opened = Instant::now();
    let store = RocksStore::open(dir.path(), &RocksConfig::default()).expect("reopen");
    let open_time = opened.elapsed();

    let mut rng = Rng::new(77);
    let read_began = Instant::now();
    for _ in 0..SAMPLE {
        let i = rng.below(OBJECTS);
        let data = source_object(i);
        let (h, e) = blob(&store, &data);
        assert_eq!(
            store.get(&h).expect("get"),
            Some(e),
            "object {i} after reopen"
        );
    }
    let read_time = read_began.elapsed();
    let absent = blob(&store, b"never stored").0;
    assert!(!store.contains(&absent).expect("contains"));
    store.flush().expect("flush");
    let on_disk = disk_bytes(dir.path());
    let after = store.stats().expect("stats");
    #[allow(clippy::print_stderr, reason = "stress report")]
    {
        eprintln!(
            "stress: put {OBJECTS} objects ({:.1} MiB encoded) in {put_time:.2?} with generating and hashing, \
             {in_write:.2?} in write+sync = {:.0} objects/s, {:.1} MiB/s; stats before reopen {stats:?}",
            payload as f64 / 1048576.0,
            OBJECTS as f64 / in_write.as_secs_f64(),
            payload as f64 / 1048576.0 / in_write.as_secs_f64(),
        );
        eprintln!(
            "stress: reopen {open_time:.2?}; {SAMPLE} random verified reads {read_time:.2?} = {:.1} µs each; \
             after flush: {:.1} MiB on disk ({:.2} of payload), stats {after:?}",
            read_time.as_secs_f64() * 1e6 / SAMPLE as f64,
            on_disk as f64 / 1048576.0,
            on_disk as f64 / payload as f64,
        );
    }
}
