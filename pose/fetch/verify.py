"""Checksums: a file is used only when its bytes are the published ones."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pose.errors import DataError
from pose.fetch.spec import FileSpec

CHUNK = 1 << 20


def digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, spec: FileSpec) -> str | None:
    """Check `path` against the spec's size and checksum; return the digest that was checked.

    A mismatch raises DataError naming the file, the expected and the found value."""
    if spec.size is not None and path.stat().st_size != spec.size:
        raise DataError(
            f"{path}: {path.stat().st_size} bytes, expected {spec.size} "
            f"({spec.filename}); the file is truncated or not the published one"
        )
    found = spec.checksum
    if found is None:
        return None
    algo, expected = found
    actual = digest(path, "sha256" if algo == "sha256_prefix" else algo)
    ok = actual.startswith(expected) if algo == "sha256_prefix" else actual == expected
    if not ok:
        raise DataError(
            f"{path}: {spec.describe_checksum()} expected, found "
            f"{'sha256' if algo == 'sha256_prefix' else algo} {actual}: the file is corrupt or "
            "not the published one"
        )
    return actual
