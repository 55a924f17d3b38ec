"""Provenance of a report: which code, params, pipeline state, software and hardware produced it.

Everything is read, nothing is changed: git is only queried (without taking optional locks), and
a missing piece (no git, no dvc.lock, a package not installed) is recorded as None, not an error.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from pose.errors import ConfigError

# Reported name -> distributions that provide it (first one installed wins).
PACKAGES = {
    "torch": ("torch",),
    "numpy": ("numpy",),
    "pycocotools": ("pycocotools",),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
    "snakemake": ("snakemake",),
    "dvc": ("dvc",),
}


def _git(args: list[str], cwd: Path) -> str | None:
    """Output of a read-only git query, or None outside a repository / without git."""
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(where: Path) -> dict:
    """HEAD commit (None outside git or before the first commit) and whether the tree is dirty."""
    where = where if where.is_dir() else where.parent
    head = _git(["rev-parse", "--verify", "--quiet", "HEAD"], where)
    status = _git(["status", "--porcelain", "--untracked-files=no"], where)
    return {
        "commit": head.strip() if head else None,
        "dirty": None if status is None else bool(status.strip()),
    }


def sha256_file(path: Path) -> str | None:
    """Hex digest of a file, or None if it does not exist."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def params_hashes(params_dir: Path) -> tuple[str, dict[str, str]]:
    """One hash over every file under params/ (names and contents), plus each file's own hash."""
    if not params_dir.is_dir():
        raise ConfigError(f"{params_dir}: params directory not found")
    files = {
        p.relative_to(params_dir).as_posix(): sha256_file(p)
        for p in sorted(params_dir.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    total = hashlib.sha256()
    for name, digest in sorted(files.items()):
        total.update(f"{name}\0{digest}\n".encode())
    return total.hexdigest(), files


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name, dists in PACKAGES.items():
        versions[name] = None
        for dist in dists:
            try:
                versions[name] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
            return value.strip()
    return None


def cuda_devices() -> list[str]:
    """Names of the visible CUDA devices ([] without torch or without a GPU)."""
    if importlib.util.find_spec("torch") is None:
        return []
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver must not stop the report
        return []


def hardware() -> dict:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model() or platform.processor() or None,
        "cores": os.cpu_count(),
        "cuda_devices": cuda_devices(),
    }


def collect_provenance(
    params_dir: Path = Path("params"), lock_file: Path = Path("dvc.lock")
) -> dict:
    """Everything needed to say which inputs and environment a report came from."""
    params_dir, lock_file = Path(params_dir), Path(lock_file)
    params_hash, params_files = params_hashes(params_dir)
    return {
        "git": git_state(params_dir.resolve()),
        "dvc_lock_sha256": sha256_file(lock_file),
        "params_sha256": params_hash,
        "params_files": params_files,
        "python": platform.python_version(),
        "python_implementation": sys.implementation.name,
        "packages": package_versions(),
        "hardware": hardware(),
        "timestamp_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
