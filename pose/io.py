"""Atomic file output: every artefact is written to a temporary path and renamed into place,
so an interrupted stage never leaves a half-written file where the next stage would read it."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


TMP_SUFFIX = ".tmp"  # atomic_path's temporary beside `name`: `.{name}.<random>.tmp`
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _tmp_prefix(name: str) -> str:
    return f".{name}."


def _cannot_write(path: Path, err: OSError) -> Exception:
    """A PoseError naming the file for a write that failed: a full disk, a read-only folder."""
    from pose.errors import OutputError

    if err.errno in DISK_FULL:
        return OutputError(f"{path}: disk full while writing it ({err.strerror}); nothing was "
                           f"written: free space on the disk of {path.parent} and run again")
    return OutputError(f"{path}: cannot write it ({err.strerror or err}); check that "
                       f"{path.parent} is writable")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`, renamed onto `path` only if the block succeeds.
    A full disk or a read-only folder is an OutputError naming `path`; nothing partial stays."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path.name), suffix=TMP_SUFFIX,
                                   dir=path.parent)
    except OSError as err:
        raise _cannot_write(path, err) from err
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as err:
            if err.errno in DISK_FULL:
                raise _cannot_write(path, err) from err
            raise
        try:
            # mkstemp creates 0600; give the file the mode a plain open() would (shared clusters)
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
        except OSError as err:
            raise _cannot_write(path, err) from err
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def sweep_temporaries(folder: str | Path, names: Iterable[str]) -> list[Path]:
    """Remove atomic_path's temporaries of `names` left in `folder` by a killed writer (a
    SIGKILL mid-write never reaches the cleanup); returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for name in names:
        for tmp in folder.glob(f"{glob.escape(_tmp_prefix(name))}*{TMP_SUFFIX}"):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def check_writable(folder: str | Path, what: str) -> None:
    """OutputError unless files can be created in `folder` (or, when it does not exist yet, in
    the nearest existing folder above it, where it would be made): checked before a long run
    whose outputs would otherwise fail at its end. `what`: "<stage> writes <files>"."""
    from pose.errors import OutputError

    folder = Path(folder).absolute()
    probe_dir = folder
    while not probe_dir.exists() and probe_dir.parent != probe_dir:
        probe_dir = probe_dir.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check.", suffix=TMP_SUFFIX, dir=probe_dir)
    except OSError as err:
        raise OutputError(f"{folder}: cannot write there ({err.strerror or err}); {what} "
                          f"into it: make {probe_dir} writable and run again") from err
    os.close(fd)
    os.unlink(probe)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_json_object(path: str | Path) -> dict | None:
    """A stage's JSON record: None if the stage has not run (no file), DataError naming the file
    if it is unreadable or not a JSON object."""
    from pose.errors import DataError

    path = Path(path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not readable JSON ({err})") from err
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    """Write JSON atomically."""
    write_text(path, json.dumps(obj, indent=indent) + "\n")


def write_yaml(path: str | Path, obj: Any) -> None:
    """Write YAML atomically, keeping key order."""
    write_text(path, yaml.safe_dump(obj, sort_keys=False))
