"""params/sources.yaml: every file the pipeline downloads or expects placed by hand.

A source is one output folder (`out`) assembled from one or more files. A file is downloaded
from `url` (http(s), file://, or a local path: a site mirror), or, with `url: null`, placed by
the user where `manual` says; either way it is verified against its checksum before anything is
unpacked or used. A source with `generate` is made by the project itself (the synthetic dataset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from pose.config import read_yaml
from pose.errors import ConfigError
from pose.spec import from_dict

HEX = re.compile(r"^[0-9a-f]+$")
CHECK_KINDS = ("images", "coco_keypoints", "image_info", "detections", "state_dict",
               "mpii_annotations", "plain_state_dicts", "image_folders")


@dataclass(frozen=True)
class FileSpec:
    """One downloadable (or hand-placed) file and how it becomes part of its source's folder.

    - `name`: the file's name in the downloads folder (default: the URL's last part).
    - `md5` / `sha256`: the published checksum; `sha256_prefix`: the leading hex digits a
      torch-hub style name carries (resnet50-19c8e357.pth). A file with none of them (a cloud-drive
      file whose checksum nobody publishes) is verified by the layout check alone.
    - `unpack`: `zip`, `tar` (any compression) or `none` (the file itself goes into `out`).
    - `take`: archive path -> path inside `out` (`.` = `out` itself); default: everything.
    """

    url: str | None = None
    name: str | None = None
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    unpack: Literal["zip", "tar", "none"] = "none"
    take: dict[str, str] = field(default_factory=dict)
    manual: str | None = None

    @property
    def filename(self) -> str:
        if self.name:
            return self.name
        assert self.url is not None
        return PurePosixPath(self.url.split("?", 1)[0]).name

    @property
    def checksum(self) -> tuple[str, str] | None:
        """(algorithm, expected hex digest or prefix), or None when nothing is published."""
        for algo in ("sha256", "md5", "sha256_prefix"):
            value = getattr(self, algo)
            if value:
                return algo, value
        return None

    def describe_checksum(self) -> str:
        found = self.checksum
        if found is None:
            return "no published checksum (checked by content)"
        algo, value = found
        return f"sha256 starting {value}" if algo == "sha256_prefix" else f"{algo} {value}"


@dataclass(frozen=True)
class SourceSpec:
    out: str
    files: list[FileSpec] = field(default_factory=list)
    check: dict = field(default_factory=dict)
    generate: str | None = None  # a synthetic dataset of datasets.yaml, made by `pose synth`
    note: str | None = None
    # Files placed by hand of which any non-empty subset is useful (the published pose weights):
    # the present ones are verified, the absent ones listed, not an error.
    partial: bool = False
    # A folder placed by hand as a whole (ImageNet in the ImageFolder layout): where to get it
    # and how to lay it out. It has no `files`; its layout check is what verifies it.
    manual: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.out)


@dataclass(frozen=True)
class FetchSettings:
    downloads: str = "data/downloads"  # partial and whole archives while a fetch runs
    retries: int = 5                   # attempts after the first, per file
    backoff: float = 2.0               # seconds before the first retry, doubled each time
    max_backoff: float = 60.0
    timeout: float = 60.0              # seconds without data before a connection counts as lost
    keep_archives: bool = False        # keep verified archives after unpacking


@dataclass(frozen=True)
class Sources:
    settings: FetchSettings
    sources: dict[str, SourceSpec]
    path: Path

    def get(self, name: str) -> SourceSpec:
        if name not in self.sources:
            raise ConfigError(
                f"{self.path}: no source {name!r}; expected one of {sorted(self.sources)}"
            )
        return self.sources[name]

    def owner_of(self, path: str | Path) -> str | None:
        """The source whose folder holds `path` (e.g. a model's `pretrained` file)."""
        target = Path(path)
        for name, spec in self.sources.items():
            if target == spec.path or spec.path in target.parents:
                return name
        return None


def _check_file(spec: FileSpec, where: str) -> None:
    if spec.url is None and not spec.manual:
        raise ConfigError(f"{where}: a file needs a `url`, or `manual` instructions with "
                          "`url: null`")
    if spec.url is None and not spec.name:
        raise ConfigError(f"{where}: a file placed by hand needs its `name`")
    for algo in ("md5", "sha256", "sha256_prefix"):
        value = getattr(spec, algo)
        if value is not None and not (isinstance(value, str) and HEX.match(value)):
            raise ConfigError(f"{where}.{algo}: expected lowercase hex digits, got {value!r}")
    if spec.md5 is not None and len(spec.md5) != 32:
        raise ConfigError(f"{where}.md5: expected 32 hex digits, got {spec.md5!r}")
    if spec.sha256 is not None and len(spec.sha256) != 64:
        raise ConfigError(f"{where}.sha256: expected 64 hex digits, got {spec.sha256!r}")
    if spec.sha256_prefix is not None and len(spec.sha256_prefix) < 8:
        raise ConfigError(f"{where}.sha256_prefix: expected at least 8 hex digits")
    if spec.size is not None and spec.size <= 0:
        raise ConfigError(f"{where}.size: expected a positive byte count, got {spec.size!r}")
    if spec.take and spec.unpack == "none":
        raise ConfigError(f"{where}.take: only an archive (unpack: zip or tar) has members")
    for member, dest in spec.take.items():
        for part in (member, dest):
            if PurePosixPath(part).is_absolute() or ".." in PurePosixPath(part).parts:
                raise ConfigError(f"{where}.take: {part!r} must be a relative path inside the "
                                  "archive / the source folder")


def _check_source(name: str, spec: SourceSpec, where: str) -> None:
    if spec.generate is None and not spec.files and not spec.manual:
        raise ConfigError(f"{where}: a source needs `files` (or `generate`, or `manual` for a "
                          "folder placed by hand)")
    if spec.manual and (spec.files or spec.generate is not None or not spec.check):
        raise ConfigError(f"{where}.manual: a folder placed by hand has no `files` nor "
                          "`generate`, and needs a `check` of its layout")
    unknown = sorted(set(spec.check) - set(CHECK_KINDS))
    if unknown:
        raise ConfigError(f"{where}.check: unknown check(s) {unknown}; expected some of "
                          f"{list(CHECK_KINDS)}")
    for i, f in enumerate(spec.files):
        _check_file(f, f"{where}.files[{i}]")
    if spec.partial and any(f.url is not None for f in spec.files):
        raise ConfigError(f"{where}.partial: only a source of files placed by hand (`url: null`) "
                          "may be partial")
    names = [f.filename for f in spec.files]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.files: two files share a name ({names})")


def load_sources(params_dir: str | Path) -> Sources:
    path = Path(params_dir) / "sources.yaml"
    data = read_yaml(path)
    if not isinstance(data, dict) or set(data) - {"settings", "sources"} or "sources" not in data:
        raise ConfigError(f"{path}: expected top-level keys 'settings' and 'sources'")
    settings = from_dict(FetchSettings, data.get("settings") or {}, f"{path}: settings")
    sources: dict[str, SourceSpec] = {}
    for name, raw in (data["sources"] or {}).items():
        where = f"{path}: sources.{name}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
        files = [from_dict(FileSpec, f, f"{where}.files[{i}]")
                 for i, f in enumerate(raw.get("files") or [])]
        spec = from_dict(SourceSpec, {**raw, "files": []}, where)
        spec = SourceSpec(out=spec.out, files=files, check=spec.check, generate=spec.generate,
                          note=spec.note, partial=spec.partial, manual=spec.manual)
        _check_source(name, spec, where)
        sources[name] = spec
    outs = [s.path for s in sources.values()]
    for a in outs:
        for b in outs:
            if a != b and a in b.parents:
                raise ConfigError(f"{path}: source folders overlap ({a} holds {b}); each source "
                                  "must own its folder")
    return Sources(settings=settings, sources=sources, path=path)
