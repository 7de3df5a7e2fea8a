"""The Rust search driving Python environments, and the example harness end
to end."""

import importlib.util
import os

import pytest

import helios
import helios.mcts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Counter:
    """Reach `target` by adding 1 or 2 to the number in `n.txt`; 3 is a trap
    that also writes a large file (wasteful)."""

    def __init__(self, target=5):
        self.target = target
        self.scored = []

    def actions(self, tree, history):
        assert isinstance(tree, helios.Tree)
        return [1, 2, helios.mcts.Proposal(3, prior=0.5)]

    def edits(self, tree, action):
        n = int(tree.read("n.txt"))
        edits = {"n.txt": b"%d" % (n + action)}
        if action == 3:
            edits["waste/%d.bin" % n] = os.urandom(64 * 1024)
        return edits

    def score(self, workdir, tree):
        with open(os.path.join(workdir, "n.txt"), "rb") as f:
            n = int(f.read())
        self.scored.append(n)
        return (100.0 if n == self.target else 10.0 * min(n, self.target), n == self.target)


def start(store):
    tree = store.tree()
    tree.write("n.txt", b"0")
    return tree


def test_search_drives_a_python_environment(mem, tmp_path):
    env = Counter()
    search = helios.mcts.Search(mem, env, root=start(mem), workdir=tmp_path / "wd", max_nodes=60, seed=3)
    result = search.run()
    assert result.solved and result.best.solved
    assert result.best.total_reward == result.best.code_reward - result.best.engine_cost
    assert sum(result.best_actions) == 5
    assert [n.id for n in result.best_path][0] == 0 and result.best_path[-1].id == result.best.id
    assert len(result.nodes) == 61 and env.scored
    assert result.telemetry["nodes"] == 60 and "commit" in result.summary
    assert mem.read(result.best.snapshot, "n.txt") == b"5"
    with pytest.raises(helios.InvalidInput, match="has run"):
        search.run()


def test_workers_score_from_threads_each_in_its_own_directory(mem, tmp_path):
    import threading

    env = Counter()
    seen = {}

    def score(workdir, tree):
        seen.setdefault(os.path.basename(workdir), set()).add(threading.get_ident())
        # The directory holds exactly the node's tree, whatever the others do.
        with open(os.path.join(workdir, "n.txt"), "rb") as f:
            assert f.read() == tree.read("n.txt")
        return Counter.score(env, workdir, tree)

    env.score = score
    search = helios.mcts.Search(mem, env, root=start(mem), workdir=tmp_path / "wd", max_nodes=40, seed=3, workers=3)
    result = search.run()
    assert result.telemetry["workers"] == 3 and len(result.nodes) == 41
    assert result.solved
    assert set(seen) <= {"worker-0", "worker-1", "worker-2"} and "worker-0" in seen
    assert sorted(os.listdir(tmp_path / "wd")) == ["worker-0", "worker-1", "worker-2"]
    with pytest.raises(helios.InvalidInput, match="workers must be at least 1"):
        helios.mcts.Search(mem, Counter(), root=start(mem), workdir=tmp_path / "w0", workers=0)


def test_cost_weights_are_parameters(mem, tmp_path):
    search = helios.mcts.Search(
        mem, Counter(), root=start(mem), workdir=tmp_path / "wd", max_nodes=20, cost_per_us=0, cost_per_object=0
    )
    result = search.run()
    assert all(n.engine_cost == 0 for n in result.nodes)
    with pytest.raises(helios.InvalidInput, match="cost weight"):
        helios.mcts.Search(mem, Counter(), root=start(mem), workdir=tmp_path / "x", cost_per_us=-1)
    with pytest.raises(helios.InvalidInput, match="policy"):
        helios.mcts.Search(mem, Counter(), root=start(mem), workdir=tmp_path / "x", policy="random")


def test_an_environment_exception_stops_the_search_and_is_raised(mem, tmp_path):
    class Broken(Counter):
        def score(self, workdir, tree):
            if len(self.scored) >= 3:
                raise KeyError("scorer broke")
            return super().score(workdir, tree)

    search = helios.mcts.Search(mem, Broken(), root=start(mem), workdir=tmp_path / "wd", max_nodes=50)
    with pytest.raises(KeyError, match="scorer broke"):
        search.run()


def test_progress_is_reported_and_a_bad_edit_is_an_error(mem, tmp_path):
    seen = []
    search = helios.mcts.Search(mem, Counter(), root=start(mem), workdir=tmp_path / "wd", max_nodes=7)
    search.run(progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (7, 7)

    class BadEdits(Counter):
        def edits(self, tree, action):
            return {"../outside": b"x"}

    search = helios.mcts.Search(mem, BadEdits(), root=start(mem), workdir=tmp_path / "wd2", max_nodes=5)
    with pytest.raises(helios.InvalidInput):
        search.run()


def test_the_example_harness_end_to_end(tmp_path):
    spec = importlib.util.spec_from_file_location("mcts_harness", os.path.join(ROOT, "examples", "mcts_harness.py"))
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    with helios.Store.open(tmp_path / "store") as store:
        found = harness.run(store, str(tmp_path / "wd"), files=200, nodes=100, seed=1)
    assert found["solved"], found
    assert not found["best_path_wasteful"], found
    # Every fix is on the path (a wrong fix corrected later is a detour the
    # latency noise of a debug build can let win, not waste).
    assert {"money:correct", "stats:correct", "text:correct"} <= set(found["best_path"])
    assert found["checker_runs"] > 0 and found["best_code_reward"] == 100.0
