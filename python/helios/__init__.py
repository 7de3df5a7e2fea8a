"""Helios: an embedded, content-addressed storage engine for tree search over
code workspaces — snapshot, fork, compare and restore whole workspaces
thousands of times per search, paying for what changed.

The engine runs in this process (``Store.open``); every call releases the GIL
while the engine works, so Python threads commit and switch in parallel.

>>> import helios
>>> store = helios.Store.in_memory()
>>> tree = store.tree()
>>> tree.write("src/app.py", b"print('hi')\\n")
>>> root, metrics = store.commit_tree(tree, "first", durability="memory")
>>> child = tree.fork()
>>> child.write("src/app.py", b"print('bye')\\n")
>>> tree.read("src/app.py")
b"print('hi')\\n"

``helios.connect()`` (the same API over a running ``helios serve``) comes with
the server; it is not part of this package yet.
"""

from helios import mcts
from helios._helios import (
    Change,
    Closed,
    CommitMetrics,
    Corrupt,
    Entry,
    GcReport,
    HeliosError,
    InvalidInput,
    Locked,
    Mounted,
    NoSpace,
    NotFound,
    Reclaimed,
    Report,
    Snapshot,
    Store,
    Tree,
    VerifyReport,
    WouldLoseFiles,
)

__all__ = [
    "Change",
    "Closed",
    "CommitMetrics",
    "Corrupt",
    "Entry",
    "GcReport",
    "HeliosError",
    "InvalidInput",
    "Locked",
    "Mounted",
    "NoSpace",
    "NotFound",
    "Reclaimed",
    "Report",
    "Snapshot",
    "Store",
    "Tree",
    "VerifyReport",
    "WouldLoseFiles",
    "mcts",
]
