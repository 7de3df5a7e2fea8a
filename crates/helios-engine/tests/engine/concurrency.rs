//! Several threads committing and restoring while gc runs; every kept
//! snapshot still verifies afterwards, and backpressure holds the queue.

use std::sync::Arc;

use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_vst::Edit;

use crate::common::{contents, path, tree};

#[test]
fn commits_restores_and_gc_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    // A tiny queue so committers really wait on the writer.
    let config = EngineConfig {
        queue_capacity: 2,
        ..EngineConfig::small()
    };
    let engine = Arc::new(HeliosEngine::open(dir.path().join("s"), config).unwrap());
    let base = tree(&engine, 40, "base");
    let (root, _) = engine
        .commit(&base, Durability::Sync, CommitMeta::default())
        .unwrap();
    engine.set_ref("root", &root).unwrap();
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (engine, base) = (engine.clone(), base.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                let mut vst = base;
                for i in 0..40 {
                    vst = vst
                        .edit(Edit::file(
                            path(&format!("w{t}/f{}", i % 5)),
                            format!("{t}-{i}").into_bytes(),
                        ))
                        .unwrap();
                    let d = if i % 10 == 0 {
                        Durability::Sync
                    } else {
                        Durability::Async
                    };
                    // Pinned by the commit itself: no gc can fall between.
                    let meta = CommitMeta {
                        pin: true,
                        ..CommitMeta::child_of(Some(root), "w")
                    };
                    let (id, _) = engine.commit(&vst, d, meta).unwrap();
                    let back = engine.restore(&id).unwrap();
                    assert_eq!(back.root_hash(), vst.root_hash());
                    mine.push((id, vst.clone()));
                }
                mine
            })
        })
        .collect();
    let collector = {
        let engine = engine.clone();
        std::thread::spawn(move || (0..4).map(|_| engine.gc().unwrap()).collect::<Vec<_>>())
    };
    let all: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    collector.join().unwrap();
    engine.flush().unwrap();
    for (id, vst) in &all {
        engine.verify(id).unwrap();
        assert_eq!(
            contents(&engine, &engine.restore(id).unwrap()),
            contents(&engine, vst)
        );
    }
    let stats = engine.stats();
    assert_eq!(stats.commits, 121);
    assert!(stats.queue_wait.count >= 121, "every queued write is timed");
}
