"""The store is shared between Python threads, and the GIL is released while
the engine works."""

import threading
import time

from conftest import read_files, write_files

import helios


def run_threads(target, n):
    errors = []

    def wrapped(i):
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_four_threads_commit_working_directories_at_once(disk, tmp_path):
    ids = {}

    def work(i):
        wd = tmp_path / ("wd%d" % i)
        for round in range(10):
            write_files(wd, {"common.txt": b"shared\n", "own/%d.txt" % i: b"%d-%d" % (i, round)})
            id, _ = disk.commit(wd, "thread %d round %d" % (i, round), durability="sync")
            ids[(i, round)] = id

    run_threads(work, 4)
    assert len(set(ids.values())) == 40
    for (i, round), id in ids.items():
        assert disk.read(id, "own/%d.txt" % i) == b"%d-%d" % (i, round)
    out = tmp_path / "check"
    disk.checkout(ids[(2, 9)], out)
    assert read_files(out) == {"common.txt": b"shared\n", "own/2.txt": b"2-9"}
    assert disk.fsck().ok


def test_four_threads_fork_and_commit_trees(mem):
    base = mem.tree()
    base.apply({"f%03d" % i: b"base" for i in range(100)})
    root, _ = mem.commit_tree(base, durability="memory")
    made = {}

    def work(i):
        for n in range(50):
            child = mem.tree(root)
            child.write("f%03d" % ((i * 50 + n) % 100), b"thread %d node %d" % (i, n))
            made[(i, n)], _ = mem.commit_tree(child, durability="memory")

    run_threads(work, 4)
    assert len(set(made.values())) == 200
    assert mem.read(made[(3, 7)], "f%03d" % 57) == b"thread 3 node 7"


def test_one_tree_edited_from_four_threads_keeps_every_edit(mem):
    tree = mem.tree()
    run_threads(lambda i: [tree.write("t%d/%d" % (i, n), b"x") for n in range(100)], 4)
    assert len(tree.files()) == 400


def test_the_gil_is_released_during_engine_work(mem):
    tree = mem.tree()
    tree.write("big.bin", bytes(64 << 20))  # hashing 64 MiB takes a while
    ticks = 0
    done = threading.Event()

    def commit():
        mem.commit_tree(tree, durability="memory")
        done.set()

    t = threading.Thread(target=commit)
    start = time.perf_counter()
    t.start()
    while not done.is_set():
        ticks += 1
    t.join()
    elapsed = time.perf_counter() - start
    # Python kept running beside the commit: a held GIL would have frozen
    # this loop until the commit returned (ticks would stay tiny).
    assert ticks > 1000, (ticks, elapsed)
