"""Round trips through the embedded engine: working directories, trees,
reads, history, refs, pins, gc, verify, stats, persistence."""

import os

import pytest
from conftest import read_files, write_files

import helios


def test_commit_and_checkout_round_trip(disk, workdir, tmp_path):
    wd, files = workdir
    id, m = disk.commit(wd, "first", durability="sync")
    assert len(id) == 64 and m.new_objects > 0 and m.new_bytes > 0
    assert m.latency > 0 and m.capture_latency > 0
    assert disk.head(wd) == id

    other = tmp_path / "other"
    report = disk.checkout(id, other)
    assert report.files_written == len(files)
    assert read_files(other) == files

    # Edit, commit a child, switch back and forth: only the change is written.
    write_files(wd, {"src/app.py": b"print('bye')\n"})
    child, m2 = disk.commit(wd, "second")
    assert m2.new_objects < m.new_objects
    assert disk.show(child).parents == [id]
    report = disk.checkout(child, other)
    assert report.fast_path and report.files_written == 1
    assert read_files(other)["src/app.py"] == b"print('bye')\n"
    assert [c.path for c in disk.diff(id, child)] == ["src/app.py"]
    assert [s.id for s in disk.log(child)] == [child, id]


def test_materialize_and_reads(disk, workdir, tmp_path):
    wd, files = workdir
    id, _ = disk.commit(wd)
    out = tmp_path / "out"
    disk.materialize(id, out)
    assert read_files(out) == files
    assert disk.read(id, "src/app.py") == files["src/app.py"]
    assert disk.read_range(id, "src/app.py", 0, 5) == b"print"
    assert disk.read_range(id, "src/app.py", 6, 10**9) == files["src/app.py"][6:]
    names = {e.name: e.kind for e in disk.ls(id)}
    assert names == {"README.md": "file", "src": "dir"}
    assert [e.name for e in disk.ls(id, "src/lib")] == ["util.py"]


def test_prefixes_refs_and_names(disk, workdir):
    wd, _ = workdir
    id, _ = disk.commit(wd, "x", durability="sync")
    assert disk.resolve(id[:8]) == id
    assert disk.get_ref("main") is None
    disk.set_ref("main", id[:10])
    assert disk.refs() == {"main": id}
    assert disk.resolve("main") == id
    assert disk.show("main").label == "x"
    assert disk.compare_and_swap_ref("main", None, id) is False
    assert disk.compare_and_swap_ref("main", id, id) is True
    assert disk.delete_ref("main") is True
    assert disk.delete_ref("main") is False


def test_commit_tree_chains_parents_and_metadata(mem):
    tree = mem.tree()
    tree.write("a.txt", b"1")
    first, m = mem.commit_tree(tree, "one", durability="memory", metadata={"reward": "0.5"})
    assert tree.base == first and m.new_objects == 2
    tree.write("a.txt", b"2")
    second, _ = mem.commit_tree(tree, "two", durability="memory")
    snap = mem.show(second)
    assert snap.parents == [first] and snap.label == "two"
    assert mem.show(first).metadata == {"reward": "0.5"}
    orphan, _ = mem.commit_tree(tree.fork(), "none", parents=[])
    assert mem.show(orphan).parents == []
    assert {s.id for s in mem.snapshots()} >= {first, second, orphan}


def test_pins_gc_verify_fsck_and_stats(disk, workdir):
    wd, _ = workdir
    kept, _ = disk.commit(wd, "kept", durability="sync")
    tree = disk.tree(kept)
    tree.write("junk.bin", os.urandom(4096))
    dropped, _ = disk.commit_tree(tree, "dropped", durability="sync")
    disk.pin(kept)
    disk.pin(kept)
    disk.unpin(kept)
    report = disk.gc()
    assert report.snapshots_reclaimed >= 1 and report.objects_reclaimed >= 1
    with pytest.raises(helios.NotFound):
        disk.show(dropped)
    assert disk.verify(kept).trees >= 1
    fsck = disk.fsck()
    assert fsck.ok and fsck.snapshots >= 1 and fsck.bytes > 0
    stats = disk.stats()
    assert stats["commits"] == 2
    assert stats["commit_latency"]["count"] == 2
    assert 0.0 <= stats["dedup_ratio"] <= 1.0


def test_a_store_persists_across_opens(tmp_path, workdir):
    wd, files = workdir
    with helios.Store.open(tmp_path / "s") as store:
        id, _ = store.commit(wd, "persisted", durability="async")
        store.set_ref("main", id)
    with helios.Store.open(tmp_path / "s", create=False, read_only=True) as store:
        assert store.resolve("main") == id
        assert store.read("main", "README.md") == files["README.md"]


def test_durabilities(mem):
    tree = mem.tree()
    for i, durability in enumerate(["memory", "async", "sync"]):
        tree.write("f", b"%d" % i)
        mem.commit_tree(tree, durability=durability)
    mem.flush()


def test_mount_falls_back_or_mounts(disk, workdir, tmp_path):
    wd, files = workdir
    id, _ = disk.commit(wd, durability="sync")
    target = tmp_path / "mnt"
    mounted = disk.mount(id, target)
    assert read_files(target) == files
    if mounted.overlay:
        disk.umount(target)
        assert os.listdir(target) == []
    else:
        assert mounted.reason and mounted.report.files_written == len(files)


def test_a_watched_workdir_commits_what_changed(disk, workdir):
    wd, files = workdir
    assert disk.watch(wd) is True
    assert disk.watch(wd) is False
    first, _ = disk.commit(wd, durability="sync")
    write_files(wd, {"src/app.py": b"print('watched')\n", "new.txt": b"n"})
    os.remove(wd / "README.md")
    second, _ = disk.commit(wd, durability="sync")
    changes = {c.path: c.kind for c in disk.diff(first, second)}
    assert changes == {"README.md": "deleted", "new.txt": "added", "src/app.py": "modified"}
    assert disk.unwatch(wd) is True
    assert disk.unwatch(wd) is False
