"""One source, made whole or not at all: obtain each file, verify it, unpack into a staging
folder beside the final one, check the layout, and rename the staging folder into place.

The finished folder holds `.fetched.json`, the identity (names, sizes, checksums) of the files it
came from; a re-run that finds it, and a layout that still checks, downloads nothing.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pose.errors import DataError
from pose.fetch.download import _disk_check, download
from pose.fetch.layout import check_layout
from pose.fetch.spec import FileSpec, Sources, SourceSpec
from pose.fetch.unpack import extract, place
from pose.fetch.verify import verify_file
from pose.io import atomic_dir, write_json

log = logging.getLogger(__name__)
STAMP = ".fetched.json"


@dataclass
class FetchResult:
    source: str
    out: Path
    downloaded: list[str]   # files transferred by this run (empty when everything verified)
    status: str             # fetched | verified | adopted
    layout: dict


def identity(files: list[FileSpec]) -> list[dict]:
    """What a folder was made from, independent of where the bytes came from (a mirror URL
    override does not make a fetched folder stale)."""
    keys = ("name", "size", "md5", "sha256", "sha256_prefix", "unpack", "take")
    return [{k: v for k, v in {**asdict(f), "name": f.filename}.items() if k in keys}
            for f in files]


def _read_stamp(out: Path) -> dict | None:
    try:
        return json.loads((out / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _manual_message(spec: FileSpec, target: Path) -> str:
    return (f"{target}: missing. This file is not downloadable by the pipeline; place it there "
            f"by hand. Where to get it: {spec.manual.strip()} Expected: "
            f"{spec.describe_checksum()}.")


def _verify_existing(name: str, spec: SourceSpec) -> FetchResult:
    """The folder exists: accept it when it checks, never download into or delete it."""
    out = spec.path
    stamp = _read_stamp(out)
    manual = all(f.url is None for f in spec.files)
    if manual:
        for f in spec.files:
            target = out / f.filename
            if target.is_file():
                verify_file(target, f)
            elif not spec.partial:  # a partial source's layout check lists the absent ones
                raise DataError(_manual_message(f, target))
    elif stamp is not None and stamp.get("files") != identity(spec.files):
        raise DataError(
            f"{out}: was fetched from other files than params/sources.yaml {name} now names; "
            "remove the folder to fetch it again"
        )
    try:
        layout = check_layout(out, spec.check)
    except DataError as err:
        raise DataError(f"{err} ({out} exists but does not check; nothing was downloaded into "
                        "it: repair or remove it, then fetch again)") from err
    status = "verified" if stamp is not None else "adopted"
    if stamp is None or stamp.get("layout") != layout:
        write_json(out / STAMP, {"source": name, "files": identity(spec.files),
                                 "layout": layout, "status": status})
    return FetchResult(name, out, [], status, layout)


def _obtain(spec: FileSpec, downloads: Path, settings, progress: bool,
            sleep: Callable[[float], None]) -> tuple[Path, bool]:
    """The verified file in the downloads folder; (path, whether it was transferred now)."""
    target = downloads / spec.filename
    if target.exists():
        try:
            verify_file(target, spec)
            return target, False
        except DataError as err:
            log.warning("%s; downloading it again", err)
            target.unlink()
    assert spec.url is not None
    download(spec.url, target, spec.size, settings, progress=progress, sleep=sleep)
    try:
        verify_file(target, spec)
    except DataError as err:
        target.unlink(missing_ok=True)
        raise DataError(f"{err}. It was deleted before anything was unpacked; run the fetch "
                        "again to download it afresh") from err
    return target, True


def _add_to_staging(archive: Path, spec: FileSpec, staging: Path, keep: bool) -> None:
    if spec.unpack == "none":
        (shutil.copy2 if keep else shutil.move)(str(archive), staging / spec.filename)
        return
    _disk_check(staging.parent, archive.stat().st_size, f"unpacking {archive.name}")
    # inside the staging folder: a killed job leaves nothing beside it but that one folder
    with tempfile.TemporaryDirectory(prefix=".unpack.", dir=staging) as tmp:
        extract(archive, spec, Path(tmp))
        place(Path(tmp), spec, staging, archive)


def _remove_stale_staging(out: Path) -> None:
    """Staging folders of this source left by a killed job (pose.io.atomic_dir's names): up to
    an archive's size each, never visible as data, removed before a new attempt."""
    if out.parent.is_dir():
        for stale in out.parent.glob(f".{out.name}.*.tmp"):
            log.warning("removing %s, left by an interrupted fetch", stale)
            shutil.rmtree(stale, ignore_errors=True)


def fetch_source(sources: Sources, name: str, progress: bool = True,
                 sleep: Callable[[float], None] = time.sleep) -> FetchResult:
    """Make `name`'s folder whole (or verify it when it already is)."""
    spec = sources.get(name)
    if spec.generate is not None:
        raise DataError(f"source {name!r} is generated (`pose synth {spec.generate}`), not "
                        "fetched")
    if spec.path.exists():
        return _verify_existing(name, spec)
    if spec.manual:
        raise DataError(f"{spec.path}: missing. This folder is not downloadable by the "
                        f"pipeline; place it there by hand: {spec.manual.strip()}")
    manual = [f for f in spec.files if f.url is None]
    if manual and spec.partial:
        raise DataError(
            f"{spec.path}: missing. These files are not downloadable by the pipeline; place any "
            f"of {', '.join(f.filename for f in manual)} there by hand. Where to get them: "
            f"{manual[0].manual.strip()}"
        )
    if manual:
        raise DataError(_manual_message(manual[0], spec.path / manual[0].filename))
    settings = sources.settings
    downloads = Path(settings.downloads)
    downloads.mkdir(parents=True, exist_ok=True)
    transferred, archives = [], []
    _remove_stale_staging(spec.path)
    with atomic_dir(spec.path) as staging:
        for f in spec.files:
            archive, now = _obtain(f, downloads, settings, progress, sleep)
            if now:
                transferred.append(f.filename)
            archives.append(archive)
            _add_to_staging(archive, f, staging, settings.keep_archives)
        layout = check_layout(staging, spec.check, shown=spec.path)
        write_json(staging / STAMP, {"source": name, "files": identity(spec.files),
                                     "layout": layout, "status": "fetched"})
    if not settings.keep_archives:
        for archive in archives:
            archive.unlink(missing_ok=True)
    return FetchResult(name, spec.path, transferred, "fetched", layout)
