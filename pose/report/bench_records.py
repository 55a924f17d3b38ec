"""Training-throughput records: runs/<scale>/<exp>/bench.json, written by `pose bench-train`.

The training-cost table multiplies these figures by epochs and dataset sizes, so a record that
belongs to another experiment, scale, model or input would silently give a wrong estimate: each
one is checked against the resolved experiment, and anything off raises `DataError` naming the
file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pose.config import ResolvedExperiment, format_input
from pose.io import read_json_object
from pose.report.tables import is_number, require

BENCH_FILE = "bench.json"
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class BenchRecord:
    """What the estimate needs from one bench.json (per-device figures)."""

    path: Path
    batch: int
    device: str
    device_name: str
    precision: str
    images_per_second: float
    data_wait_fraction: float
    train_samples: int


def bench_path(runs_dir: Path, scale: str, experiment: str) -> Path:
    return Path(runs_dir) / scale / experiment / BENCH_FILE


def _count(minimum: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def load_bench(path: Path, exp: ResolvedExperiment) -> BenchRecord | None:
    """Read and check a bench.json for `exp` (None when the file does not exist)."""
    data = read_json_object(path)
    if data is None:
        return None
    size = format_input(exp.input_hw)
    require(data, path, "experiment", lambda v: v == exp.name, repr(exp.name))
    require(data, path, "scale", lambda v: v == exp.scale, repr(exp.scale))
    require(data, path, "model", lambda v: v == exp.model_name, repr(exp.model_name))
    require(data, path, "input", lambda v: v == size, f"{size!r} (the input at {exp.scale} scale)")
    require(data, path, "batch", _count(1), "a positive int")
    require(data, path, "device", lambda v: v in DEVICES, f"one of {list(DEVICES)}")
    require(data, path, "device_name", _text, "a device name")
    require(data, path, "precision", _text, "a precision such as 'fp32'")
    require(data, path, "images_per_second", lambda v: is_number(v) and v > 0,
             "a positive number")
    require(data, path, "data_wait_fraction", lambda v: is_number(v) and 0 <= v <= 1,
             "a number in 0..1")
    require(data, path, "train_samples", _count(1), "a positive int")
    return BenchRecord(
        path=Path(path),
        batch=data["batch"],
        device=data["device"],
        device_name=data["device_name"].strip(),
        precision=data["precision"].strip(),
        images_per_second=float(data["images_per_second"]),
        data_wait_fraction=float(data["data_wait_fraction"]),
        train_samples=data["train_samples"],
    )
