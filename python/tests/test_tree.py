"""In-memory trees: fork isolation, edits, reads, diff."""

import pytest

import helios


def test_fork_isolation(mem):
    base = mem.tree()
    base.apply({"a.txt": b"a", "dir/b.txt": b"b"})
    child = base.fork()
    child.write("a.txt", b"changed")
    child.delete("dir")
    grandchild = child.fork()
    grandchild.write("new.txt", b"n")
    assert base.read("a.txt") == b"a" and "dir/b.txt" in base
    assert child.read("a.txt") == b"changed" and "dir" not in child
    assert "new.txt" not in child and grandchild.read("new.txt") == b"n"
    assert base.files() == ["a.txt", "dir/b.txt"]
    assert child.files() == ["a.txt"]


def test_committed_trees_do_not_change(mem):
    tree = mem.tree()
    tree.write("f", b"1")
    id, _ = mem.commit_tree(tree, durability="memory")
    tree.write("f", b"2")
    assert mem.tree(id).read("f") == b"1"
    assert mem.read(id, "f") == b"1"


def test_edits_and_entries(mem):
    tree = mem.tree()
    tree.write("bin/run", b"#!/bin/sh\n", executable=True)
    tree.symlink("link", "bin/run")
    tree.mkdir("empty/dir")
    tree.write(b"raw/name", b"bytes path")
    assert tree.stat("bin/run").kind == "exec"
    assert tree.stat("link").kind == "link" and tree.read("link") == b"bin/run"
    assert tree.stat("empty/dir").kind == "dir"
    assert tree.stat("missing") is None
    assert tree.read(b"raw/name") == b"bytes path"
    assert tree.read_range("raw/name", 6, 100) == b"path"
    assert [e.name for e in tree.ls()] == ["bin", "empty", "link", "raw"]
    assert tree.size == len(b"#!/bin/sh\n") + len(b"bin/run") + len(b"bytes path")


def test_apply_takes_any_mapping(mem):
    import types

    tree = mem.tree()
    tree.apply(types.MappingProxyType({"a": b"1", b"b": b"2"}))
    assert tree.files() == ["a", "b"]
    with pytest.raises(TypeError):
        tree.apply([("a", b"1")])


def test_apply_is_all_or_nothing(mem):
    tree = mem.tree()
    tree.write("keep", b"k")
    with pytest.raises(helios.NotFound):
        tree.apply({"new": b"n", "missing": None})
    assert tree.files() == ["keep"]


def test_diff_root_and_equality(mem):
    a = mem.tree()
    a.write("x", b"1")
    b = a.fork()
    assert a == b and a.root == b.root
    b.write("x", b"2")
    b.write("y", b"3")
    assert a != b
    changes = {c.path: c.kind for c in a.diff(b)}
    assert changes == {"x": "modified", "y": "added"}
    removed = b.diff(a)
    assert {c.path: c.kind for c in removed} == {"x": "modified", "y": "deleted"}
    assert [c.new for c in removed if c.kind == "deleted"] == [None]


def test_large_write_round_trips_by_range(mem):
    data = bytes(range(256)) * 8192  # 2 MiB: stored as chunks
    tree = mem.tree()
    tree.write("big.bin", data)
    id, _ = mem.commit_tree(tree, durability="async")
    assert mem.read(id, "big.bin") == data
    assert mem.read_range(id, "big.bin", 1_000_000, 1_000_010) == data[1_000_000:1_000_010]
