"""Monte Carlo Tree Search over Helios snapshots, with the environment in
Python and the search in Rust.

A node is a snapshot: the search applies an action's edits to its parent's
tree, commits it, checks it out into one working directory (writing only what
differs) and asks the environment to score it there. The reward is
``code_reward - engine_cost`` with ``engine_cost = commit latency (µs) ×
cost_per_us + new objects × cost_per_object``, summed along the path, so
wasteful edits (ones that drag in large files, say) lose to clean ones.

An environment is any object with three methods (see :class:`Environment`)::

    class Env:
        def actions(self, tree, history): ...   # iterable of actions (or Proposal)
        def edits(self, tree, action): ...      # {path: bytes | None}
        def score(self, workdir, tree): ...     # float, or (float, solved)

    result = helios.mcts.Search(store, Env(), root=tree, workdir="wd",
                                max_nodes=200).run()
    result.best_actions, result.best.total_reward
"""

from typing import Any, Iterable, List, Mapping, Optional, Protocol, Tuple, Union

from helios._helios import Node, Proposal, Search, SearchResult, Tree


class Environment(Protocol):
    """What :class:`Search` calls. Every method runs with the GIL held. With
    ``workers=1`` (the default) every call comes from the thread that called
    :meth:`Search.run`; with more, ``score`` is called from that many worker
    threads at once, each for its own working directory (a scorer that runs
    a subprocess or releases the GIL then runs in parallel), while
    ``actions`` and ``edits`` stay on one thread."""

    def actions(self, tree: Tree, history: List[Any]) -> Iterable[Union[Any, Proposal]]:
        """The actions the state ``tree`` (reached by ``history``) offers;
        ``str(action)`` labels its commit. An empty iterable makes it a leaf."""
        ...

    def edits(self, tree: Tree, action: Any) -> Mapping[str, Optional[bytes]]:
        """The edits ``action`` makes to ``tree``: bytes write a file, None
        deletes a path."""
        ...

    def score(self, workdir: str, tree: Tree) -> Union[float, Tuple[float, bool]]:
        """The code reward of the directory ``workdir``, which holds exactly
        ``tree``, and optionally whether the task is solved. Equal trees must
        score equally: scores are cached by root hash."""
        ...


__all__ = ["Environment", "Node", "Proposal", "Search", "SearchResult"]
