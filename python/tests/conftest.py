"""Fixtures shared by the tests: stores (in memory and on disk) and a small
working directory on disk."""

import os

import pytest

import helios


@pytest.fixture
def mem():
    store = helios.Store.in_memory()
    yield store
    store.close()


@pytest.fixture
def disk(tmp_path):
    store = helios.Store.open(tmp_path / "store")
    yield store
    store.close()


def write_files(root, files):
    """Writes `{relative path: bytes}` under `root`."""
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def read_files(root):
    """`{relative path: bytes}` of every file under `root`."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


@pytest.fixture
def workdir(tmp_path):
    files = {
        "README.md": b"# demo\n",
        "src/app.py": b"print('hello')\n",
        "src/lib/util.py": b"def f():\n    return 1\n",
    }
    path = tmp_path / "wd"
    write_files(path, files)
    return path, files
