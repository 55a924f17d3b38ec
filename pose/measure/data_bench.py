"""Training data throughput: samples per second per core of the data path alone (decode,
augmentation, crop, targets, collation through the trainer's loader), no model.

Each timing runs pose.measure.data_bench_run in a fresh process. `compare_with` times an earlier
commit's implementation, checked out as a `git worktree`, on the same samples (same experiment,
seed and (epoch, index) keys) in the same run, alternating the two `repeat` times so that a
shared machine's load falls on both alike; the record holds each one's median, their ratio and
how far the two implementations' samples differ.

"Per core" is the total samples/s divided by max(workers, 1): with `workers` 0 the loader runs
in this one process, held to one thread as the trainer's workers are. `cpu_seconds` is the CPU
time of the timing process alone (not its workers): with `workers` 0, a figure that other load
on a shared machine barely moves, and `cpu_ratio` compares the two implementations by it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pose.data.transforms import IMAGENET_STD
from pose.errors import ConfigError

RUNNER = Path(__file__).with_name("data_bench_run.py")
REPO = Path(__file__).resolve().parents[2]
DEFAULT_SAMPLES = 512
DUMP_COUNT = 16  # samples compared between two implementations


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise ConfigError(f"bench-data: git {' '.join(args)} failed in {repo}: "
                          f"{result.stderr.strip()}")
    return result.stdout.strip()


def worktree(rev: str, repo: Path = REPO) -> tuple[Path, str]:
    """A checkout of `rev` under the temporary folder (made once per commit, then reused)."""
    commit = git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}")
    path = Path(tempfile.gettempdir()) / f"pose-bench-{commit[:12]}"
    if not (path / "pose" / "__init__.py").exists():
        git(repo, "worktree", "add", "--detach", str(path), commit)
    return path, commit


def describe(repo: Path) -> str:
    """The checkout's commit, marked "+changes" when its tracked files differ from it."""
    try:
        commit = git(repo, "rev-parse", "HEAD")
        dirty = git(repo, "status", "--porcelain", "--untracked-files=no")
    except (ConfigError, OSError):
        return "unknown (not a git checkout)"
    return commit + ("+changes" if dirty else "")


def time_once(spec: dict) -> dict:
    """One timing in a fresh `python -P` process (-P: the runner's folder does not shadow
    modules); the `pose` imported is the one under spec['root']."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = {**spec, "out": str(Path(tmp) / "record.json")}
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        result = subprocess.run([sys.executable, "-P", str(RUNNER), str(spec_file)],
                                capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise ConfigError(f"bench-data: timing the implementation at {spec['root']} "
                              f"failed:\n{result.stderr.strip()[-3000:]}")
        record = json.loads(Path(spec["out"]).read_text())
    expected = Path(spec["root"]).resolve() / "pose"
    if Path(record["pose"]) != expected:
        raise ConfigError(f"bench-data: the timing imported {record['pose']}, not {expected}")
    return record


def sample_differences(new: Path, old: Path) -> dict:
    """How far two dumps of the same samples differ: images in 0-255 pixel units (the
    normalised values times std·255), targets and weights as stored, meta exactly."""
    a, b = np.load(new), np.load(old)
    if sorted(a.files) != sorted(b.files):
        raise ConfigError("bench-data: the two implementations' samples have different fields: "
                          f"{sorted(set(a.files) ^ set(b.files))}")
    unit = (IMAGENET_STD * 255.0)[:, None, None]
    pixel = [np.abs(a[k] - b[k]) * unit for k in a.files if k.endswith("/image")]
    pixels = np.concatenate([d.ravel() for d in pixel])
    target = max(float(np.abs(a[k] - b[k]).max()) for k in a.files if k.endswith("/target"))
    weight = max(float(np.abs(a[k] - b[k]).max()) for k in a.files
                 if k.endswith("/target_weight"))
    meta = sorted({k.split("/", 2)[2] for k in a.files if "/meta/" in k
                   and not np.array_equal(a[k], b[k])})
    return {
        "samples": len(pixel),
        "pixel_mean_abs": float(pixels.mean()),
        "pixel_max_abs": float(pixels.max()),
        "pixels_differing_fraction": float((pixels > 0.5).mean()),
        "target_max_abs": target,
        "target_weight_max_abs": weight,
        "meta_fields_differing": meta,
    }


def _summary(runs: list[dict], workers: int) -> dict:
    seconds = statistics.median(r["seconds"] for r in runs)
    samples = runs[0]["samples"]
    rate = samples / seconds
    return {
        "seconds": seconds,
        "samples_per_second": rate,
        "per_core": rate / max(workers, 1),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "runs_seconds": [r["seconds"] for r in runs],
    }


def bench_data(
    name: str,
    scale: str,
    params: Path,
    input_hw: tuple[int, int] | None = None,
    workers: int = 0,
    samples: int = DEFAULT_SAMPLES,
    batch: int | None = None,
    repeat: int = 3,
    images: Path | None = None,
    annotations: Path | None = None,
    decode_cache: Path | None = None,
    compare_with: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Time the training data path `repeat` times (median); with `compare_with`, the commit's
    implementation too, alternating, and the two implementations' samples compared."""
    if samples < 1 or workers < 0 or repeat < 1 or (batch is not None and batch < 1):
        raise ConfigError(f"bench-data: --samples, --repeat and --batch must be >= 1 and "
                          f"--workers >= 0, got {samples}, {repeat}, {batch} and {workers}")
    if (images is None) != (annotations is None):
        raise ConfigError("bench-data: --images and --annotations go together (a COCO-format "
                          "image folder and its keypoint annotation file)")
    for path, flag in ((images, "--images"), (annotations, "--annotations")):
        if path is not None and not path.exists():
            raise ConfigError(f"bench-data: {flag} {path} does not exist")
    base = {
        "params": str(Path(params).resolve()), "name": name, "scale": scale,
        "input_hw": list(input_hw) if input_hw else None, "workers": workers,
        "samples": samples, "batch": batch, "dump_count": min(DUMP_COUNT, samples),
        "images": str(Path(images).resolve()) if images else None,
        "annotations": str(Path(annotations).resolve()) if annotations else None,
    }
    options: dict = {}
    if decode_cache is not None:
        options["decode_cache"] = str(Path(decode_cache).resolve())
    current = {**base, "root": str(REPO), "options": options}
    previous = None
    if compare_with is not None:
        prev_root, prev_commit = worktree(compare_with)
        previous = {**base, "root": str(prev_root), "options": {}}
    runs: dict[str, list[dict]] = {"current": [], "previous": []}
    with tempfile.TemporaryDirectory() as tmp:
        dumps = {"current": Path(tmp) / "current.npz", "previous": Path(tmp) / "previous.npz"}
        for i in range(repeat):
            for label, spec in (("previous", previous), ("current", current)):
                if spec is None:
                    continue
                if i == 0 and previous is not None:
                    spec = {**spec, "dump": str(dumps[label])}
                record = time_once(spec)
                runs[label].append(record)
                if log:
                    log(f"bench-data {label} run {i + 1}/{repeat}: {record['samples']} samples "
                        f"in {record['seconds']:.2f} s")
        differences = (sample_differences(dumps["current"], dumps["previous"])
                       if previous is not None else None)
    first = runs["current"][0]
    out = {
        "name": name,
        "experiment": first["experiment"],
        "recipe": name if first["kind"] == "recipe" else None,
        "dataset": first["dataset"],
        "scale": scale,
        "input": first["input"],
        "batch": first["batch"],
        "workers": workers,
        "per_core_definition": "samples_per_second / max(workers, 1); workers 0: one process, "
                               "one thread",
        "samples": first["samples"],
        "repeat": repeat,
        "train_samples": first["train_samples"],
        "cpu_count": os.cpu_count(),
        "implementation": {"root": str(REPO), "commit": describe(REPO),
                           "decode_cache": options.get("decode_cache")},
        **_summary(runs["current"], workers),
    }
    if previous is not None:
        before = _summary(runs["previous"], workers)
        out["compare"] = {
            "rev": compare_with,
            "commit": prev_commit,
            "root": previous["root"],
            **before,
            "ratio": out["per_core"] / before["per_core"],
            "cpu_ratio": before["cpu_seconds"] / out["cpu_seconds"],
            "differences": differences,
        }
    return out


def data_bench_lines(record: dict) -> list[str]:
    impl = record["implementation"]
    commit = impl["commit"][:12] + ("+changes" if impl["commit"].endswith("+changes") else "")
    lines = [
        f"{record['name']} ({record['dataset']}) at {record['input']}, batch {record['batch']}, "
        f"{record['workers']} workers, {record['samples']} samples, median of "
        f"{record['repeat']}:",
        f"  this checkout ({commit}"
        f"{', decode cache (filled)' if impl.get('decode_cache') else ''}"
        f"): {record['samples_per_second']:.1f} samples/s, {record['per_core']:.1f} per core",
    ]
    compare = record.get("compare")
    if compare:
        diff = compare["differences"]
        lines += [
            f"  {compare['rev']} ({compare['commit'][:12]}): "
            f"{compare['samples_per_second']:.1f} samples/s, {compare['per_core']:.1f} per core",
            f"  ratio {compare['ratio']:.2f}x per core (CPU time ratio "
            f"{compare['cpu_ratio']:.2f}x)",
            f"  samples compared: {diff['samples']}; image |diff| mean "
            f"{diff['pixel_mean_abs']:.4f}, max {diff['pixel_max_abs']:.2f} (0-255 units, "
            f"{100 * diff['pixels_differing_fraction']:.3f}% of values off by > 0.5); target "
            f"max {diff['target_max_abs']:.3g}; weight max {diff['target_weight_max_abs']:.3g}; "
            f"meta differing: {', '.join(diff['meta_fields_differing']) or 'none'}",
        ]
    return lines
