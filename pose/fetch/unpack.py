"""Unpacking into a staging folder: an archive is read whole (a truncated or corrupt one fails
here) before anything of it reaches the source's folder, and no member may land outside."""

from __future__ import annotations

import errno
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from pose.errors import DataError
from pose.fetch.spec import FileSpec


def _safe_member(name: str, archive: Path) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise DataError(f"{archive}: member {name!r} would unpack outside its folder; refusing "
                        "the archive")


def _extract_zip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            _safe_member(info.filename, archive)
        bad = zf.testzip()  # reads every member and checks its CRC
        if bad is not None:
            raise DataError(f"{archive}: member {bad} fails its CRC check; the archive is corrupt")
        zf.extractall(into)


def _extract_tar(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for member in members:
            _safe_member(member.name, archive)
            if member.issym() or member.islnk():
                raise DataError(f"{archive}: member {member.name!r} is a link; refusing the "
                                "archive")
        tf.extractall(into, members=members, filter="data")


def extract(archive: Path, spec: FileSpec, into: Path) -> None:
    """Unpack `archive` into `into` (a fresh staging folder), whole or not at all."""
    try:
        if spec.unpack == "zip":
            _extract_zip(archive, into)
        else:
            _extract_tar(archive, into)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError) as err:
        raise DataError(f"{archive}: cannot unpack as {spec.unpack} ({err}); the archive is "
                        "truncated or corrupt: delete it and fetch again") from err
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise DataError(f"{into}: the disk filled up while unpacking {archive.name}; free "
                            "space and fetch again") from err
        raise


def place(unpacked: Path, spec: FileSpec, staging: Path, archive: Path) -> None:
    """Move the archive members `take` names (default: everything) into the staging folder."""
    take = spec.take or {".": "."}
    for member, dest in take.items():
        src = unpacked / member
        if not src.exists():
            raise DataError(f"{archive}: has no member {member!r} (take: in "
                            "params/sources.yaml); is it the right archive?")
        target = staging / dest
        if dest == ".":
            for child in src.iterdir():
                shutil.move(str(child), staging / child.name)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), target)
