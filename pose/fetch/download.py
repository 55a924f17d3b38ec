"""Streaming download with resume (HTTP Range), retries with back-off and a progress bar.

The bytes go to `<name>.part` beside the final name, with a small `<name>.part.json` saying which
URL and size they belong to, so an interrupted transfer (a dropped connection, a killed job) is
resumed from where it stopped, and a part of another file is never appended to.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tqdm import tqdm

from pose.errors import DataError
from pose.fetch.spec import FetchSettings

log = logging.getLogger(__name__)
CHUNK = 1 << 20
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class TransferInterrupted(Exception):
    """The connection broke or stalled; the part file is kept for a resumed attempt."""


def local_path(url: str) -> Path | None:
    """The file a `file://` URL or a plain path names; None for a network URL."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(parsed.path)
    return Path(url) if not parsed.scheme else None


def _disk_check(folder: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DataError(
            f"{folder}: not enough disk space for {what}: {free / 2**30:.1f} GiB free, "
            f"{needed / 2**30:.1f} GiB needed; free space, or set settings.downloads in "
            "params/sources.yaml to a larger disk"
        )


def _disk_full(err: OSError, path: Path) -> DataError:
    return DataError(
        f"{path}: the disk filled up while writing ({err.strerror}); the partial file is kept "
        "and the next run resumes it once space is freed"
    )


def _part_meta(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _start_offset(part: Path, url: str, size: int | None) -> int:
    """Bytes already downloaded for this URL and size; a stale part is discarded."""
    meta = _part_meta(part)
    if part.exists() and meta.exists():
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        if info.get("url") == url and info.get("size") == size:
            return part.stat().st_size
    part.unlink(missing_ok=True)
    meta.write_text(json.dumps({"url": url, "size": size}), encoding="utf-8")
    return 0


def _open(url: str, offset: int, timeout: float) -> tuple[Any, int, int | None]:
    """Open `url` from byte `offset`; returns (response, offset the body starts at, total size).
    The response is None when the file is already whole (HTTP 416 on a resumed request)."""
    request = urllib.request.Request(url, headers={"User-Agent": "poserepro-fetch"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            return None, offset, offset  # nothing left: the part is already whole
        if err.code in RETRYABLE_STATUS:
            raise TransferInterrupted(f"HTTP {err.code} {err.reason}") from err
        raise DataError(
            f"{url}: HTTP {err.code} {err.reason}; check the URL, or set another (a mirror or a "
            "local copy) in params/sources.yaml"
        ) from err
    except (urllib.error.URLError, OSError, HTTPException) as err:
        raise TransferInterrupted(str(getattr(err, "reason", err))) from err
    status = getattr(response, "status", 200)
    length = response.headers.get("Content-Length")
    if offset and status == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        return response, offset, int(total) if total.isdigit() else None
    # 200: the server ignored the Range header; start again from the first byte
    return response, 0, int(length) if length and length.isdigit() else None


def _transfer(url: str, part: Path, size: int | None, settings: FetchSettings,
              bar: Callable[[int, int | None], tqdm]) -> None:
    """One attempt: append the remaining bytes of `url` to `part`."""
    offset = part.stat().st_size if part.exists() else 0
    response, start, total = _open(url, offset, settings.timeout)
    if response is None:
        return
    if size is not None and total is not None and total != size:
        response.close()
        raise DataError(f"{url}: the server sends {total} bytes, params/sources.yaml expects "
                        f"{size}; the file changed upstream or the URL is wrong")
    expected = total if total is not None else size
    if expected is not None:
        _disk_check(part.parent, expected - start, f"downloading {part.name[:-5]}")
    mode = "ab" if start else "wb"
    progress = bar(start, expected)
    try:
        with response, part.open(mode) as out:
            while True:
                try:
                    block = response.read(CHUNK)
                except (OSError, HTTPException) as err:
                    raise TransferInterrupted(str(err)) from err
                if not block:
                    break
                try:
                    out.write(block)
                except OSError as err:
                    if err.errno == errno.ENOSPC:
                        raise _disk_full(err, part) from err
                    raise
                progress.update(len(block))
    finally:
        progress.close()
    got = part.stat().st_size
    if expected is not None and got < expected:
        raise TransferInterrupted(f"connection closed after {got} of {expected} bytes")


def download(url: str, dest: Path, size: int | None, settings: FetchSettings,
             progress: bool = True, sleep: Callable[[float], None] = time.sleep) -> Path:
    """Download `url` to `dest` (renamed into place only when whole), resuming a partial file
    and retrying `settings.retries` times with exponential back-off."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    source = local_path(url)
    if source is not None:
        return _copy_local(source, dest, size, progress)
    _start_offset(part, url, size)

    def bar(start: int, total: int | None) -> tqdm:
        return tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=dest.name, disable=not progress, leave=False)

    delay = settings.backoff
    for attempt in range(settings.retries + 1):
        try:
            _transfer(url, part, size, settings, bar)
            break
        except TransferInterrupted as err:
            if attempt == settings.retries:
                raise DataError(
                    f"{url}: download of {dest.name} failed after {attempt + 1} attempts "
                    f"({err}); {part} is kept and the next run resumes it"
                ) from err
            log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)", dest.name, err, delay,
                        attempt + 2, settings.retries + 1)
            sleep(delay)
            delay = min(delay * 2, settings.max_backoff)
    part.replace(dest)
    _part_meta(part).unlink(missing_ok=True)
    return dest


def _copy_local(source: Path, dest: Path, size: int | None, progress: bool) -> Path:
    """A local file or mounted mirror: copy it (the checksum is checked on the copy)."""
    if not source.is_file():
        raise DataError(f"{source}: local source file not found (url in params/sources.yaml)")
    total = source.stat().st_size
    _disk_check(dest.parent, total, f"copying {source.name}")
    part = dest.with_name(dest.name + ".part")
    try:
        with source.open("rb") as src, part.open("wb") as out, tqdm(
            total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
            leave=False,
        ) as pbar:
            for block in iter(lambda: src.read(CHUNK), b""):
                out.write(block)
                pbar.update(len(block))
    except OSError as err:
        part.unlink(missing_ok=True)
        if err.errno == errno.ENOSPC:
            raise DataError(f"{part}: the disk filled up while copying {source} "
                            f"({err.strerror}); free space and fetch again") from err
        raise DataError(f"{source}: cannot copy ({err})") from err
    part.replace(dest)
    return dest
