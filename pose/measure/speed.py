"""Inference speed in persons per second (DANet Sec. IV-B "Inference Speed": the average speed of
processing 1x10^3 person crops at 256x192 on a CPU), so speed claims can be checked on the
machine at hand. Only the model's forward pass is timed: the crops are random tensors made
before the clock starts, as a detector's boxes would already be cropped."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from pose.config import format_input
from pose.errors import ConfigError
from pose.models import build_model

DEFAULT_PERSONS = 1000  # DANet: "the average speed of processing 1x10^3 persons"
DEFAULT_WARMUP = 3  # untimed batches first: allocator, thread pool and kernel caches settle


def cpu_name() -> str | None:
    """The CPU model from /proc/cpuinfo (Linux), else what `platform` knows, else None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def resolve_device(device: str) -> torch.device:
    """'cpu' or 'cuda'; asking for CUDA where there is none is a clear error, never a CPU run."""
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device cuda: CUDA is not available here (torch {torch.__version__}, "
                f"built with CUDA {torch.version.cuda or 'none'}); use --device cpu"
            )
        return torch.device("cuda")
    raise ConfigError(f"--device: expected 'cpu' or 'cuda', got {device!r}")


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[int]:
    """Run with `threads` intra-op CPU threads (None: torch's default); yields the count actually
    in effect and restores the previous one afterwards."""
    check_counts(threads=threads)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def _seconds(
    model: nn.Module, x: torch.Tensor, batches: int, device: torch.device
) -> float:
    """Wall time of `batches` forward passes: perf_counter on the CPU; CUDA events (GPU time
    between the first launch and the last kernel) with synchronisation on a GPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        for _ in range(batches):
            model(x)
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000.0
    t0 = time.perf_counter()
    for _ in range(batches):
        model(x)
    return time.perf_counter() - t0


def check_counts(**counts: int | None) -> None:
    """Every count >= 1 (`warmup` >= 0); None means 'not given'. Checked before any timing."""
    for key, value in counts.items():
        least = 0 if key == "warmup" else 1
        if value is not None and value < least:
            raise ConfigError(f"--{key}: must be >= {least}, got {value!r}")


def time_model(
    model: nn.Module,
    input_hw: tuple[int, int],
    batch: int,
    persons: int,
    device: torch.device,
    warmup: int = DEFAULT_WARMUP,
) -> dict:
    """Persons per second of `model` at one batch size: ceil(persons / batch) timed batches
    after `warmup` untimed ones."""
    check_counts(batch=batch, persons=persons, warmup=warmup)
    batches = math.ceil(persons / batch)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, *input_hw, generator=gen).to(device)
    with torch.no_grad():
        _seconds(model, x, warmup, device)
        seconds = _seconds(model, x, batches, device)
    timed = batches * batch
    return {
        "batch": batch,
        "persons_timed": timed,
        "seconds": seconds,
        "ms_per_person": seconds * 1000.0 / timed,
        "persons_per_s": timed / seconds,
    }


def measure_speed(
    spec: Mapping[str, Any],
    name: str,
    input_hw: tuple[int, int],
    device: str = "cpu",
    threads: int | None = None,
    batch: int | None = None,
    persons: int = DEFAULT_PERSONS,
    warmup: int = DEFAULT_WARMUP,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Persons per second of the model `spec` at input (H, W): at batch 1 (one crop at a time,
    the paper's reading of PPS) and, when given, at batch `batch`; with the platform recorded."""
    check_counts(threads=threads, batch=batch, persons=persons, warmup=warmup)
    dev = resolve_device(device)
    sizes = [1] if batch is None or batch == 1 else [1, batch]
    model = build_model(spec, name).to(dev).eval()
    runs = []
    with cpu_threads(threads) as in_effect:
        for size in sizes:
            if log:
                log(f"timing {name} at {format_input(input_hw)} on {device}, batch {size}, "
                    f"{persons} persons")
            runs.append(time_model(model, input_hw, size, persons, dev, warmup))
    return {
        "model": name,
        "input": format_input(input_hw),
        "device": device,
        "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "threads": in_effect,
        "threads_requested": threads,
        "cpu_count": os.cpu_count(),
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "persons": persons,
        "warmup_batches": warmup,
        "batches": runs,
    }


def speed_lines(record: dict) -> list[str]:
    """One human-readable line per batch size."""
    where = f"{record['device']}, {record['threads']} threads"
    if record.get("gpu"):
        where = f"{record['gpu']}, {where}"
    return [
        f"{record['model']} @ {record['input']} ({where}): batch {run['batch']}: "
        f"{run['persons_per_s']:.1f} persons/s, {run['ms_per_person']:.2f} ms/person "
        f"({run['persons_timed']} persons)"
        for run in record["batches"]
    ]
