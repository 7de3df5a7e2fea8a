"""Type stubs of the native module `helios._helios` (crates/helios-py).

Snapshot arguments (`id`, `a`, `b`, ...) are names as the `helios` command
takes them: a ref, a full hex id, or a unique hex prefix of at least 4
digits. Ids come back as full lowercase hex strings. Paths inside a tree are
`/`-separated, relative to its root, given as `str` or `bytes`. Every method
releases the GIL while the engine works.
"""

import os
import pathlib
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

_Path = Union[str, "os.PathLike[str]"]
_TreePath = Union[str, bytes]

class HeliosError(Exception):
    """Base class of every error Helios raises."""

class NotFound(HeliosError):
    """No such snapshot, ref, id prefix, store or path."""

class Corrupt(HeliosError):
    """Stored bytes fail their hash check or do not decode, or an object a
    snapshot needs is missing."""

class Locked(HeliosError):
    """Another handle holds the store's lock, or another operation is using
    the working directory."""

class NoSpace(HeliosError):
    """The disk is full; acknowledged snapshots stay readable and queued
    writes resume once space is freed."""

class InvalidInput(HeliosError):
    """An argument the engine refuses: a bad path, ref name, id, durability
    or configuration value."""

class WouldLoseFiles(HeliosError):
    """Checkout would delete or overwrite untracked or changed files;
    nothing was written."""

    paths: List[str]

class Reclaimed(HeliosError):
    """A commit reuses objects gc reclaimed: pin or ref what you fork from."""

class Closed(HeliosError):
    """The store was closed."""

class CommitMetrics:
    """What a commit cost."""

    latency: float
    """Wall time of the engine's commit call, seconds."""
    new_objects: int
    """Objects the store did not hold before."""
    new_bytes: int
    """Encoded bytes of those objects."""
    capture_latency: float
    """Seconds spent reading the working directory (0 for `commit_tree`)."""

class Report:
    """What a checkout, materialize or working-directory commit did."""

    files_written: int
    bytes_written: int
    dirs_created: int
    removed: int
    files_scanned: int
    files_hashed: int
    fast_path: bool
    """Only what differs from what the directory held was touched."""
    fallback: Optional[str]
    """Why the whole directory was scanned instead, if it was."""

class Entry:
    """An entry of a tree."""

    name: str
    """Its name in a listing, its path from `stat` or a change."""
    kind: str
    """`"file"`, `"exec"`, `"link"` or `"dir"`."""
    size: int
    """A leaf's length, or the bytes beneath a directory."""
    hash: str
    """Its blob or tree hash, hex."""

class Change:
    """One difference between two trees."""

    kind: str
    """`"added"`, `"deleted"`, `"modified"` or `"type_changed"`."""
    path: str
    old: Optional[Entry]
    new: Optional[Entry]

class Snapshot:
    """A snapshot's record."""

    id: str
    root: str
    parents: List[str]
    time: float
    """Seconds since the Unix epoch."""
    label: str
    metadata: Dict[str, str]

class GcReport:
    marked: int
    objects_reclaimed: int
    bytes_reclaimed: int
    snapshots_reclaimed: int

class VerifyReport:
    snapshots: int
    trees: int
    blobs: int
    bytes: int
    remote: int
    """Trees and files a store that reads through to a remote does not
    (wholly) hold: the remote's, not checked here (and not damage)."""
    damaged: List[Tuple[str, str]]
    """`(id, message)` of each damaged snapshot (`fsck` only)."""
    @property
    def ok(self) -> bool: ...

class Mounted:
    overlay: bool
    """True for an overlay mount; False when overlayfs was not allowed and
    the snapshot was checked out instead."""
    reason: Optional[str]
    report: Optional[Report]

class Tree:
    """An in-memory tree of files: forked in O(1), edited as bytes,
    committed with `Store.commit_tree`. Usable from several threads."""

    def fork(self) -> "Tree":
        """A copy in O(1); edits to either never show in the other."""
    def write(self, path: _TreePath, data: bytes, executable: bool = False) -> None:
        """Writes a regular file, creating parent directories."""
    def symlink(self, path: _TreePath, target: _TreePath) -> None: ...
    def mkdir(self, path: _TreePath) -> None: ...
    def delete(self, path: _TreePath) -> None:
        """Deletes a file, symlink or directory; `NotFound` if absent."""
    def apply(self, edits: Union[Mapping[str, Optional[bytes]], Mapping[bytes, Optional[bytes]]]) -> None:
        """`{path: bytes | None}` as one all-or-nothing batch."""
    def read(self, path: _TreePath) -> bytes: ...
    def read_range(self, path: _TreePath, start: int, end: int) -> bytes: ...
    def stat(self, path: _TreePath) -> Optional[Entry]: ...
    def __contains__(self, path: _TreePath) -> bool: ...
    def ls(self, path: Optional[_TreePath] = None) -> List[Entry]: ...
    def files(self) -> List[str]:
        """Every file, executable and symlink path, in order."""
    def diff(self, other: "Tree") -> List[Change]: ...
    @property
    def root(self) -> str:
        """The root hash, hex: equal trees have equal roots."""
    @property
    def size(self) -> int: ...
    @property
    def base(self) -> Optional[str]:
        """The snapshot it was restored from or last committed as."""

class Store:
    """A Helios store opened in this process; safe to share between threads."""

    @staticmethod
    def open(
        path: _Path, create: bool = True, read_only: bool = False, cache_bytes: Optional[int] = None
    ) -> "Store": ...
    @staticmethod
    def in_memory() -> "Store": ...
    @property
    def path(self) -> Optional[pathlib.Path]:
        """The store's directory (a `pathlib.Path`); None in memory."""
    def close(self) -> None: ...
    def __enter__(self) -> "Store": ...
    def __exit__(self, *exc: Any) -> None: ...
    def flush(self) -> None: ...
    def commit(
        self,
        workdir: _Path,
        message: str = "",
        durability: str = "async",
        *,
        pin: bool = False,
        metadata: Optional[Dict[str, str]] = None,
        gitignore: bool = False,
    ) -> Tuple[str, CommitMetrics]:
        """Snapshots a working directory (reading only what changed);
        durability is "memory", "async" or "sync"."""
    def commit_tree(
        self,
        tree: Tree,
        message: str = "",
        durability: str = "async",
        *,
        parents: Optional[List[str]] = None,
        pin: bool = False,
        metadata: Optional[Dict[str, str]] = None,
    ) -> Tuple[str, CommitMetrics]: ...
    def tree(self, id: Optional[str] = None) -> Tree: ...
    def checkout(self, id: str, workdir: _Path, force: bool = False, full: bool = False) -> Report: ...
    def materialize(self, id: str, dir: _Path) -> Report: ...
    def diff(self, a: str, b: str) -> List[Change]: ...
    def log(self, id: str, limit: int = 100) -> List[Snapshot]: ...
    def snapshots(self) -> List[Snapshot]: ...
    def show(self, id: str) -> Snapshot: ...
    def ls(self, id: str, path: Optional[_TreePath] = None) -> List[Entry]: ...
    def read(self, id: str, path: _TreePath) -> bytes: ...
    def read_range(self, id: str, path: _TreePath, start: int, end: int) -> bytes: ...
    def resolve(self, name: str) -> str: ...
    def head(self, workdir: _Path) -> Optional[str]: ...
    def refs(self) -> Dict[str, str]: ...
    def get_ref(self, name: str) -> Optional[str]: ...
    def set_ref(self, name: str, id: str) -> None: ...
    def delete_ref(self, name: str) -> bool: ...
    def compare_and_swap_ref(self, name: str, expected: Optional[str], new: str) -> bool: ...
    def pin(self, id: str) -> None: ...
    def unpin(self, id: str) -> None: ...
    def gc(self) -> GcReport: ...
    def verify(self, id: str) -> VerifyReport: ...
    def fsck(self) -> VerifyReport: ...
    def stats(self) -> Dict[str, Any]: ...
    def watch(self, workdir: _Path) -> bool:
        """Watches `workdir` so each commit of it reads only what changed."""
    def unwatch(self, workdir: _Path) -> bool: ...
    def mount(self, id: str, dir: _Path) -> Mounted: ...
    def umount(self, dir: _Path) -> None: ...

class Proposal:
    """An action with a prior weight (PUCT)."""

    action: Any
    prior: float
    def __init__(self, action: Any, prior: float = 1.0) -> None: ...

class Node:
    """One node of a finished search."""

    id: int
    parent: Optional[int]
    action: Any
    depth: int
    snapshot: str
    commit: CommitMetrics
    engine_cost: float
    code_reward: float
    total_reward: float
    solved: bool
    terminal: bool
    visits: int
    mean: float
    switch_latency: float
    scorer_latency: Optional[float]
    pinned: bool

class SearchResult:
    nodes: List[Node]
    best: Node
    best_path: List[Node]
    telemetry: Dict[str, Any]
    summary: str
    @property
    def best_actions(self) -> List[Any]: ...
    @property
    def solved(self) -> bool: ...

class Search:
    """MCTS over snapshots of `store`, driven in Rust, with `env` in Python."""

    def __init__(
        self,
        store: Store,
        env: Any,
        root: Union[Tree, str],
        workdir: _Path,
        *,
        max_nodes: int = 100,
        max_depth: int = 8,
        policy: str = "uct",
        exploration: float = 1.4142135623730951,
        cost_per_us: float = 0.01,
        cost_per_object: float = 0.1,
        cost_scope: str = "path",
        durability: str = "async",
        keep_best_children: Optional[int] = 4,
        prune_min_visits: int = 2,
        max_live_nodes: Optional[int] = 400,
        gc_every: Optional[int] = 250,
        cache_scores: bool = True,
        seed: int = 0,
        workers: int = 1,
    ) -> None: ...
    def run(
        self, progress: Optional[Callable[[int, int], Any]] = None, release: bool = True
    ) -> SearchResult: ...
