"""Every failure arrives as a helios.HeliosError subclass, never a panic."""

import pytest
from conftest import write_files

import helios

CLASSES = [
    helios.NotFound,
    helios.Corrupt,
    helios.Locked,
    helios.NoSpace,
    helios.InvalidInput,
    helios.WouldLoseFiles,
    helios.Reclaimed,
    helios.Closed,
]


def test_hierarchy():
    for cls in CLASSES:
        assert issubclass(cls, helios.HeliosError)
    assert issubclass(helios.HeliosError, Exception)


def test_not_found(mem, tmp_path):
    with pytest.raises(helios.NotFound):
        mem.show("0" * 64)
    with pytest.raises(helios.NotFound, match="no snapshot id starts with"):
        mem.resolve("abcdef")
    tree = mem.tree()
    tree.write("a", b"1")
    id, _ = mem.commit_tree(tree, durability="memory")
    with pytest.raises(helios.NotFound):
        mem.read(id, "missing.txt")
    with pytest.raises(helios.NotFound):
        tree.delete("missing")
    with pytest.raises(helios.NotFound):
        helios.Store.open(tmp_path / "nothing", create=False)
    with pytest.raises(helios.NotFound):
        mem.commit(tmp_path / "no-such-dir")


def test_invalid_input(mem):
    tree = mem.tree()
    for bad in ["../escape", "a/../b", "", "a\0b"]:
        with pytest.raises(helios.InvalidInput):
            tree.write(bad, b"x")
    with pytest.raises(helios.InvalidInput, match="durability"):
        mem.commit_tree(tree, durability="eventually")
    with pytest.raises(helios.InvalidInput):
        mem.resolve("xy")
    tree.write("f", b"1")
    id, _ = mem.commit_tree(tree, durability="memory")
    with pytest.raises(helios.InvalidInput, match="memory only"):
        mem.set_ref("main", id)
    with pytest.raises(helios.InvalidInput):
        mem.set_ref("bad\nname", id)
    with pytest.raises(helios.InvalidInput):
        tree.read("f/under-a-file")
    with pytest.raises(TypeError):
        tree.write("f", "not bytes")


def test_locked(tmp_path):
    with helios.Store.open(tmp_path / "s"):
        with pytest.raises(helios.Locked):
            helios.Store.open(tmp_path / "s")


def test_would_lose_files(disk, workdir, tmp_path):
    wd, _ = workdir
    id, _ = disk.commit(wd, durability="sync")
    other = tmp_path / "other"
    write_files(other, {"README.md": b"mine, not the store's\n"})
    with pytest.raises(helios.WouldLoseFiles) as caught:
        disk.checkout(id, other)
    assert caught.value.paths == ["README.md"]
    assert (other / "README.md").read_bytes() == b"mine, not the store's\n"
    disk.checkout(id, other, force=True)
    assert (other / "README.md").read_bytes() == b"# demo\n"


def test_workdir_overlapping_the_store_is_refused(disk):
    with pytest.raises(helios.InvalidInput, match="cannot be a working directory"):
        disk.commit(disk.path)


def test_closed(tmp_path):
    store = helios.Store.open(tmp_path / "s")
    tree = store.tree()
    store.close()
    store.close()
    with pytest.raises(helios.Closed):
        store.commit_tree(tree)
    with pytest.raises(helios.Closed):
        store.gc()


def test_trees_belong_to_their_store(mem):
    other = helios.Store.in_memory()
    with pytest.raises(helios.InvalidInput, match="another store"):
        mem.commit_tree(other.tree())


def test_a_full_disk_is_no_space_and_acknowledged_snapshots_stay_readable(tmp_path):
    import os
    import subprocess

    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): %s" % mounted.stderr.decode().strip())
    try:
        store = helios.Store.open(disk / "store")
        tree = store.tree()
        acknowledged = []
        with pytest.raises(helios.NoSpace):
            for i in range(100):
                tree.write("f%d" % i, os.urandom(512 * 1024))
                acknowledged.append(store.commit_tree(tree, durability="sync")[0])
        assert acknowledged
        assert len(store.read(acknowledged[-1], "f0")) == 512 * 1024
        with pytest.raises(helios.NoSpace):
            store.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
