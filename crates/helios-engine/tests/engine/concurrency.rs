//! Several threads committing and restoring while gc runs; every kept
//! snapshot still verifies afterwards, and backpressure holds the queue.

use std::sync::Arc;

use helios_engine::{CommitMeta, Durability, EngineConfig, HeliosEngine};
use helios_vst::Edit;

use crate::common::{contents, on_disk, path, tree};

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

/// What a parallel search does to the engine, with a model: worker threads
/// commit (pinned), switch their own directories to what they committed
/// and check them, and unpin ("prune") some of it, while a thread runs gc
/// throughout. Afterwards every snapshot still pinned reads back exactly,
/// and every one unpinned that no directory holds is reclaimed.
#[test]
fn workers_switch_their_own_directories_and_prune_while_gc_runs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(HeliosEngine::open(dir.path().join("s"), EngineConfig::small()).unwrap());
    let base = tree(&engine, 60, "base");
    let meta = CommitMeta {
        pin: true,
        ..CommitMeta::child_of(None, "base")
    };
    let (root, _) = engine.commit(&base, Durability::Sync, meta).unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (engine, done) = (engine.clone(), done.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                engine.gc().unwrap();
                runs += 1;
            }
            runs
        })
    };
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (engine, base) = (engine.clone(), base.clone());
            let wd = dir.path().join(format!("w{t}"));
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut pruned = Vec::new();
                let mut vst = base.clone();
                for i in 0..30 {
                    // Now and then a fresh line from the root, as a search
                    // jumps between branches.
                    if i % 7 == 0 {
                        vst = base.clone();
                    }
                    vst = vst
                        .edit(Edit::file(
                            path(&format!("w{t}/f{}", i % 4)),
                            format!("{t}-{i}").into_bytes(),
                        ))
                        .unwrap();
                    let meta = CommitMeta {
                        pin: true,
                        ..CommitMeta::child_of(Some(root), "w")
                    };
                    let (id, _) = engine.commit(&vst, Durability::Async, meta).unwrap();
                    let options = helios_workdir::CheckoutOptions {
                        force: true,
                        ..Default::default()
                    };
                    engine.checkout(&id, &wd, &options, &|_, _| {}).unwrap();
                    let mut want = contents(&engine, &vst);
                    want.sort();
                    assert_eq!(on_disk(&wd), want, "worker {t}, step {i}");
                    if i % 3 == 0 {
                        engine.unpin(&id).unwrap();
                        pruned.push(id);
                    } else {
                        kept.push((id, want));
                    }
                }
                let head = engine.workdir_head(&wd).unwrap().unwrap();
                (kept, pruned, head)
            })
        })
        .collect();
    let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(collector.join().unwrap() > 0);

    engine.gc().unwrap();
    let heads: Vec<_> = results.iter().map(|(_, _, head)| *head).collect();
    for (kept, pruned, _) in &results {
        for (id, want) in kept {
            let mut got = contents(&engine, &engine.restore(id).unwrap());
            got.sort();
            assert_eq!(&got, want, "kept snapshot {id}");
        }
        for id in pruned.iter().filter(|id| !heads.contains(id)) {
            assert!(
                matches!(
                    engine.restore(id),
                    Err(helios_engine::EngineError::SnapshotNotFound(_))
                ),
                "pruned snapshot {id} was not reclaimed"
            );
        }
    }
}
