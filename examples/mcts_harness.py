#!/usr/bin/env python3
"""A tree-search harness written in Python against the `helios` package.

It generates a workspace — a small Python package with seeded defects, its
checker, and filler files the search never touches — and runs the Rust MCTS
(`helios.mcts.Search`) over code edits. Each defect offers a correct fix, a
wrong fix and a *wasteful* variant (the correct fix plus a large generated
file). Every node is a Helios snapshot; every evaluation switches one real
directory to the node (writing only what differs) and runs the real checker
there in a fresh `python3` process. The reward is `code_reward - engine_cost`,
so the search should end on the correct fixes without the waste.

    pip install ./python
    python3 examples/mcts_harness.py --files 2000 --nodes 200

Prints one JSON object with the best path, its reward and the search's
figures. `run()` is what the tests call.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import helios
import helios.mcts

# One defect site: the module, its correct body, the seeded defect, a wrong
# fix, and the checks (expressions over the module) that tell them apart.
SITES: List[Dict[str, Any]] = [
    {
        "module": "stats",
        "head": "def mean(xs):\n    if not xs:\n        raise ValueError('empty')\n",
        "correct": "    return sum(xs) / len(xs)\n",
        "defect": "    return sum(xs) / (len(xs) + 1)\n",
        "wrong": "    return sum(xs) // len(xs)\n",
        "checks": ["mean([2, 4]) == 3", "mean([1, 2]) == 1.5"],
    },
    {
        "module": "text",
        "head": "import re\n\n\ndef slugify(s):\n",
        "correct": "    return '-'.join(re.findall(r'[a-z0-9]+', s.lower()))\n",
        "defect": "    return s.strip().replace(' ', '-')\n",
        "wrong": "    return '-'.join(s.lower().split())\n",
        "checks": ["slugify('Hello World') == 'hello-world'", "slugify('Rust & Py') == 'rust-py'"],
    },
    {
        "module": "money",
        "head": "def to_cents(s):\n",
        "correct": "    whole, _, frac = s.partition('.')\n"
        "    return int(whole or '0') * 100 + int((frac + '00')[:2])\n",
        "defect": "    return int(float(s) * 100)\n",
        "wrong": "    return int(round(float(s))) * 100\n",
        "checks": ["to_cents('0.29') == 29", "to_cents('12.5') == 1250"],
    },
]

CHECKER = """\
import importlib, sys
sys.path.insert(0, 'src')
SITES = {sites!r}
passed = total = 0
for module, checks in SITES:
    try:
        ns = vars(importlib.import_module('calc.' + module))
    except Exception:
        ns = None
    for check in checks:
        total += 1
        try:
            passed += bool(ns is not None and eval(check, dict(ns)))
        except Exception:
            pass
print('PASSED %d/%d' % (passed, total))
"""

WASTE_BYTES = 2 << 20


_WASTE: Dict[int, bytes] = {}


def waste(site: int) -> bytes:
    """The incompressible artifact a wasteful fix of `site` adds (made once)."""
    if site not in _WASTE:
        _WASTE[site] = random.Random(site).randbytes(WASTE_BYTES)
    return _WASTE[site]


def module_path(site: dict) -> str:
    return "src/calc/%s.py" % site["module"]


def workspace(files: int, seed: int) -> Dict[str, bytes]:
    """The generated workspace: the package with every defect seeded, its
    checker, and `files` filler files in nested directories."""
    rng = random.Random(seed)
    out = {"src/calc/__init__.py": b""}
    for site in SITES:
        out[module_path(site)] = (site["head"] + site["defect"]).encode()
    checks = [(s["module"], s["checks"]) for s in SITES]
    out["tests/check.py"] = CHECKER.format(sites=checks).encode()
    for i in range(files):
        words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(40))
        out["vendor/pkg%02d/mod%02d/f%05d.py" % (i % 37, i % 11, i)] = (
            "# filler %d\nDOC = %r\n" % (i, words)
        ).encode()
    return out


class FixEnv:
    """The environment: for each site not fixed yet, a correct, a wrong and a
    wasteful fix; the checker decides the code reward."""

    def __init__(self) -> None:
        self.checker_runs = 0

    def actions(self, tree: helios.Tree, history: List[Tuple[int, str]]) -> List[Tuple[int, str]]:
        out = []
        for i, site in enumerate(SITES):
            if tree.read(module_path(site)) == (site["head"] + site["correct"]).encode():
                continue
            out += [(i, "correct"), (i, "wrong"), (i, "wasteful")]
        return out

    def edits(self, tree: helios.Tree, action: Tuple[int, str]) -> Dict[str, Optional[bytes]]:
        i, kind = action
        site = SITES[i]
        body = site["wrong"] if kind == "wrong" else site["correct"]
        edits: Dict[str, Optional[bytes]] = {module_path(site): (site["head"] + body).encode()}
        if kind == "wasteful":
            # A correct fix that also drags in a generated artifact.
            edits["build/generated_%d.bin" % i] = waste(i)
        return edits

    def score(self, workdir: str, tree: helios.Tree) -> Tuple[float, bool]:
        self.checker_runs += 1
        out = subprocess.run(
            [sys.executable, "-B", "-I", "-S", "tests/check.py"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        passed, total = map(int, out.split()[-1].split("/"))
        return 100.0 * passed / total, passed == total


def run(store: helios.Store, workdir: str, files: int = 500, nodes: int = 100, seed: int = 1) -> dict:
    """Generates the workspace, searches it and returns what was found."""
    root = store.tree()
    root.apply(workspace(files, seed))
    env = FixEnv()
    search = helios.mcts.Search(
        store, env, root=root, workdir=workdir, max_nodes=nodes, max_depth=len(SITES) + 1, seed=seed
    )
    result = search.run()
    best = result.best
    actions = ["%s:%s" % (SITES[i]["module"], kind) for i, kind in result.best_actions]
    return {
        "solved": result.solved,
        "best_path": actions,
        "best_reward": best.total_reward,
        "best_code_reward": best.code_reward,
        "best_engine_cost": best.engine_cost,
        "best_path_wasteful": any(a.endswith(":wasteful") for a in actions),
        "best_snapshot": best.snapshot,
        "nodes": len(result.nodes) - 1,
        "checker_runs": env.checker_runs,
        "commit_p50_us": result.telemetry["commit_latency_us"]["p50"],
        "switch_p50_us": result.telemetry["switch_latency_us"]["p50"],
        "wall_seconds": result.telemetry["wall_seconds"],
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000, help="filler files in the workspace")
    parser.add_argument("--nodes", type=int, default=200, help="nodes to create")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", help="store directory (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = args.store or os.path.join(tmp, "store")
        with helios.Store.open(store_dir) as store:
            found = run(store, os.path.join(tmp, "wd"), args.files, args.nodes, args.seed)
    print(json.dumps(found))
    return 0 if found["solved"] else 1


if __name__ == "__main__":
    sys.exit(main())
