"""Faults a user meets, made on purpose: a checkpoint with a planted object, a read-only folder."""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch


class Planted:
    """Unpickled, it creates `marker`: what a hostile checkpoint could do instead."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


def plant_checkpoint(path: Path, marker: Path, **payload: object) -> None:
    """A checkpoint of the project's shape with a Planted object inside."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, **payload, "note": Planted(marker)}, path)


def assert_plant_is_live(path: Path, marker: Path) -> None:
    """The plant does run when loaded without weights_only (the old loader): the test is real."""
    assert not marker.exists()
    torch.load(path, map_location="cpu", weights_only=False)
    assert marker.exists()


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """`folder` read-only within the block: its mode, and for root (whom modes do not stop)
    file creation in it refused as the kernel refuses it to a user."""
    folder.mkdir(parents=True, exist_ok=True)
    mode = folder.stat().st_mode
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    real = tempfile.mkstemp
    try:
        if os.geteuid() == 0:
            def refusing(*args, **kwargs):
                where = kwargs.get("dir")
                if where is not None and Path(where).resolve() == folder.resolve():
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(where))
                return real(*args, **kwargs)

            tempfile.mkstemp = refusing
        yield folder
    finally:
        tempfile.mkstemp = real
        folder.chmod(mode)
