"""Modification times after `dvc pull` / `dvc checkout`: each up-to-date DVC stage's outputs dated
no older than its dependencies, so that Snakemake (which re-runs a job whose input is newer than
its output) does not re-run what DVC reports unchanged.

`dvc pull` and `dvc checkout` write outputs at the time they run, in no particular order, and
`git clone` dates the tracked ones (eval.json, the tables) in checkout order: an input can then be
newer than an output made from it. DVC decides by content hashes and does not mind; Snakemake
decides by dates, and would re-train. The Snakemake rules keep their date triggers (the params
stamps of workflow/rules/common.smk rely on them), so the dates are set right instead: only
stages whose `dvc status` is clean, and only ever forward, so a real change still re-runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pose.errors import OutputError, PoseError

if TYPE_CHECKING:
    from dvc.repo import Repo

# The entries under a path (the path itself first); the DVC walk leaves out what .dvcignore
# ignores (__pycache__ of a code folder is written when Python imports it: not a dependency).
Walk = Callable[[Path], Iterator[Path]]


@dataclass(frozen=True)
class StageFiles:
    """A DVC stage's name ("train@hrnet_w32_256x192") with the paths it reads and writes."""

    name: str
    deps: tuple[Path, ...]
    outs: tuple[Path, ...]


def walk_tree(path: Path) -> Iterator[Path]:
    """`path` and, for a folder, every folder and file under it (nothing for a missing path)."""
    if not os.path.lexists(path):
        return
    yield path
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                yield Path(root) / name


def _mtime_ns(path: Path) -> int:
    """The date Snakemake compares: a link's target's."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:  # a dangling link
        return path.lstat().st_mtime_ns


def _date(path: Path, mtime_ns: int) -> None:
    """Date `path` (and a link's target) `mtime_ns`, keeping its access time."""
    try:
        os.utime(path, ns=(path.stat().st_atime_ns, mtime_ns))
        if path.is_symlink():
            os.utime(path, ns=(path.lstat().st_atime_ns, mtime_ns), follow_symlinks=False)
    except PermissionError as err:
        raise OutputError(
            f"{path}: cannot set its modification time ({err.strerror}). A file linked from a DVC "
            "cache owned by another user cannot be re-dated: use a cache of your own (the "
            "remote is shared, the cache need not be) or `dvc config cache.type copy` followed "
            "by `dvc checkout --relink`"
        ) from err


class _Tree:
    """The entries under each path (listed once: dating changes no tree) and the newest date
    under each dependency (forgotten when entries under it move)."""

    def __init__(self, walk: Walk) -> None:
        self._walk = walk
        self._entries: dict[Path, list[Path]] = {}
        self._newest: dict[Path, int | None] = {}

    def entries(self, path: Path) -> list[Path]:
        if path not in self._entries:
            self._entries[path] = list(self._walk(path))
        return self._entries[path]

    def newest(self, paths: Sequence[Path]) -> int | None:
        for path in paths:
            if path not in self._newest:
                self._newest[path] = max(map(_mtime_ns, self.entries(path)), default=None)
        return max((n for n in map(self._newest.get, paths) if n is not None), default=None)

    def moved(self, out: Path) -> None:
        """Entries under `out` moved: forget the newest date of every path above or below it."""
        for path in [p for p in self._newest
                     if p == out or p in out.parents or out in p.parents]:
            del self._newest[path]


def date_outputs(stages: Sequence[StageFiles], changed: Iterable[str],
                 walk: Walk = walk_tree) -> list[str]:
    """Date the outputs of each stage not in `changed` no older than its newest dependency.

    `stages` come upstream first (a topological order). Only entries older than the stage's
    newest dependency move, and only forward to that date (Snakemake re-runs a job whose input
    is strictly newer than its oldest output, so an equal date is up to date). Passes repeat
    until nothing moves: files with the same content may be one file of the DVC cache, linked
    twice, so dating one dates the other. Returns the names of the stages whose outputs moved.
    """
    skip = set(changed)
    moved: list[str] = []
    for _ in range(len(stages) + 1):
        tree = _Tree(walk)  # a fresh view of the dates each pass (linked files move together)
        again = False
        for stage in stages:
            if stage.name in skip:
                continue
            newest = tree.newest(stage.deps)
            if newest is None:
                continue
            stale = [e for out in stage.outs for e in tree.entries(out) if _mtime_ns(e) < newest]
            for entry in stale:
                _date(entry, newest)
            if stale:
                for out in stage.outs:
                    tree.moved(out)
                again = True
                if stage.name not in moved:
                    moved.append(stage.name)
        if not again:
            return moved
    raise PoseError("dating the DVC outputs did not settle: "
                    f"{', '.join(moved)} keep moving (a dependency cycle through linked files?)")


def _ignoring_walk(repo: Repo) -> Walk:
    """walk_tree without what the project's .dvcignore ignores (DVC hashes none of it)."""

    def walk(path: Path) -> Iterator[Path]:
        if not os.path.lexists(path):
            return
        yield path
        if path.is_dir() and not path.is_symlink():
            for top, dirs, files in repo.dvcignore.walk(repo.fs, str(path)):
                for name in (*dirs, *files):
                    yield Path(top) / name

    return walk


def _stage_files(repo: Repo) -> list[StageFiles]:
    """Every stage of the project (all its dvc.yaml files), upstream first."""
    import networkx as nx

    graph = repo.index.graph  # its edges run from a stage to the stages it depends on
    return [
        StageFiles(stage.addressing,
                   tuple(Path(d.fs_path) for d in stage.deps),
                   tuple(Path(o.fs_path) for o in stage.outs))
        for stage in reversed(list(nx.topological_sort(graph)))
    ]


def restore_mtimes(root: Path = Path()) -> tuple[list[str], list[str]]:
    """Date the outputs of the DVC project's up-to-date stages no older than their dependencies
    (after `dvc pull` / `dvc checkout`). Returns (the stages whose outputs moved, the stages DVC
    reports changed, left as they are)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            changed = set(repo.status())
            moved = date_outputs(_stage_files(repo), changed, walk=_ignoring_walk(repo))
    except DvcException as err:
        raise PoseError(f"{root.resolve()}: DVC cannot read the project: {err}") from err
    return moved, sorted(changed)
