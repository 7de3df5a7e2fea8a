#!/usr/bin/env python3
"""What the Python binding adds to the engine, measured through the package.

The workload is the engine bench's (`cargo bench -p helios-benches --bench
engine`): a 100K-file tree of 2 KiB files committed to a RocksDB store, then
prepared trees with 1-5 edited files (and with 1) committed with
durability="memory", commit alone timed; and a working directory holding the
tree switched to children with 1-5 edited files and back, every switch
timed. `crates/helios-py/examples/overhead_baseline.rs` runs the same
workload in Rust; pass its binary with --rust to print both side by side.

Each Python commit also yields the engine's own timing of the call
(`CommitMetrics.latency`), so `py - engine` is the binding's overhead on the
very same calls, free of run-to-run noise.

    pip install ./python   # release build
    cargo build --release -p helios-py --example overhead_baseline
    python3 python/bench/overhead.py --rust $CARGO_TARGET_DIR/release/examples/overhead_baseline
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

import helios


def content(label: str) -> bytes:
    b = label.encode()
    return (b * (2048 // len(b) + 1))[:2048]


def path(i: int) -> str:
    return "d%02d/s%d/f%06d.py" % (i % 100, (i // 100) % 10, i)


def edits(j: int, files: int, one_file: bool) -> dict:
    k = 1 if one_file else 1 + j % 5
    return {path((j * 7919 + m * 104729) % files): content("edit %d %d " % (j, m)) for m in range(k)}


def pct(samples: List[float], p: int) -> float:
    s = sorted(samples)
    rank = min(max(-(-p * len(s) // 100), 1), len(s))
    return s[rank - 1]


def summary(samples_s: List[float]) -> dict:
    return {
        "p50_us": round(pct(samples_s, 50) * 1e6, 2),
        "p99_us": round(pct(samples_s, 99) * 1e6, 2),
        "n": len(samples_s),
    }


def commits(store, base, n, files, one):
    trees = []
    for j in range(n):
        t = base.fork()
        t.apply(edits(j, files, one))
        trees.append(t)
    wall, engine = [], []
    clock = time.perf_counter
    for t in trees:
        start = clock()
        _, m = store.commit_tree(t, durability="memory")
        wall.append(clock() - start)
        engine.append(m.latency)
    cut = n // 10  # warm-up, dropped as the Rust side does
    wall, engine = wall[cut:], engine[cut:]
    return {
        "python": summary(wall),
        "engine_inside": summary(engine),
        "overhead": summary([w - e for w, e in zip(wall, engine)]),
    }


def switches(store, base, root, wd, n, files):
    samples = []
    clock = time.perf_counter
    for j in range(n):
        child = base.fork()
        child.apply(edits(j, files, False))
        id, _ = store.commit_tree(child, durability="memory")
        for target in (id, root):
            start = clock()
            store.checkout(target, wd)
            samples.append(clock() - start)
    return summary(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--switches", type=int, default=200)
    parser.add_argument("--rust", help="the overhead_baseline example binary, run first")
    args = parser.parse_args()
    out: Dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0]}
    if args.rust:
        rust = subprocess.run(
            [args.rust, str(args.files), str(args.commits), str(args.switches)],
            check=True,
            capture_output=True,
            text=True,
        )
        out["rust"] = json.loads(rust.stdout.strip().splitlines()[-1])

    tmp = tempfile.mkdtemp(prefix="helios-overhead-py-")
    try:
        store = helios.Store.open(os.path.join(tmp, "store"))
        base = store.tree()
        base.apply({path(i): content("file %d " % i) for i in range(args.files)})
        root, _ = store.commit_tree(base, durability="sync")
        store.pin(root)
        py = {
            "commit_1_5_files": commits(store, base, args.commits, args.files, False),
            "commit_1_file": commits(store, base, args.commits, args.files, True),
        }
        wd = os.path.join(tmp, "wd")
        store.materialize(root, wd)
        py["switch_1_5_files"] = switches(store, base, root, wd, args.switches, args.files)
        store.close()
        out["python"] = py
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
