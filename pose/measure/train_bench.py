"""Training throughput: images per second of the real training step fed by the real loader,
and where the time goes (waiting for the next batch vs the step itself).

The step and the loader are pose.engine.step's, so a figure measured here is the trainer's.
The numbers estimate a reproduction's cost (GPU-hours per paper in the report) and show whether
the loader keeps the GPU fed: a large data-wait fraction calls for more workers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import torch

from pose.config import Registry, ResolvedExperiment, format_input, parse_input
from pose.engine.launch import job_loader_workers
from pose.engine.losses import build_loss
from pose.engine.optim import build_optimizer
from pose.engine.sampler import EpochSampler
from pose.engine.step import memory_format, train_loader, train_step
from pose.errors import ConfigError
from pose.experiment_data import build_dataset
from pose.measure.speed import cpu_name, resolve_device
from pose.models import build_model

DEFAULT_STEPS = 20
DEFAULT_WARMUP = 5  # untimed steps: workers start, allocator and kernel caches settle


def bench_experiment(registry: Registry, name: str, scale: str) -> tuple[ResolvedExperiment, bool]:
    """NAME as an experiment (resolved at the scale, as it trains there) or as a model (its
    paper-size spec, trained with the recipe and data of the first experiment that uses it).
    Returns the experiment and whether NAME named one."""
    if name in registry.experiments:
        return registry.resolve(name, scale), True
    if name not in registry.models:
        raise ConfigError(f"bench-train: {name!r} is neither an experiment nor a model; known "
                          "models: " + ", ".join(sorted(registry.models)))
    users = [e for e, spec in registry.experiments.items() if spec.model == name]
    if not users:
        raise ConfigError(f"bench-train: no experiment of experiments.yaml uses model {name!r}, "
                          "so it has no recipe to train with")
    template = registry.resolve(users[0], scale)
    # the outputs the template's dataset gives (its joints, or a classifier's classes)
    spec = {**registry.model(name), **{k: template.model_spec[k] for k in
                                       ("num_joints", "num_classes") if k in template.model_spec}}
    return replace(template, model_name=name, model_spec=spec,
                   input_hw=template.paper_input), False


def _batches(loader: torch.utils.data.DataLoader, sampler: EpochSampler, size: int
             ) -> Iterator[dict]:
    """Full batches for as many epochs as the benchmark needs (an epoch's short last batch
    would time fewer images)."""
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        for batch in loader:
            if len(batch["image"]) == size:
                yield batch
        epoch += 1


def bench_train(
    registry: Registry,
    name: str,
    scale: str,
    input_hw: tuple[int, int] | None = None,
    batch: int | None = None,
    workers: int | None = None,
    device: str | None = None,
    precision: str | None = None,
    channels_last: bool | None = None,
    steps: int = DEFAULT_STEPS,
    warmup: int = DEFAULT_WARMUP,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Time `steps` training steps after `warmup` untimed ones; returns the record that
    `pose bench-train --out` writes."""
    if steps < 1 or warmup < 0:
        raise ConfigError(f"bench-train: --steps must be >= 1 and --warmup >= 0, got {steps} "
                          f"and {warmup}")
    exp, is_experiment = bench_experiment(registry, name, scale)
    if input_hw is not None:
        exp = replace(exp, input_hw=input_hw)
    recipe = replace(exp.recipe,
                     precision=precision or exp.recipe.precision,
                     channels_last=exp.recipe.channels_last if channels_last is None
                     else channels_last)
    exp = replace(exp, recipe=recipe)
    if workers is None:  # in a Slurm job: the job's CPUs, as one training process's loader
        workers = job_loader_workers(replace(exp, gpus=1, nodes=1), training=True).num_workers
    dev = resolve_device(device or exp.device)
    # as the trainer splits it: over the experiment's GPUs, or whole in one CPU process
    per_device = batch or (exp.recipe.batch_size // exp.gpus if dev.type == "cuda"
                           else exp.recipe.batch_size)
    if batch is not None and batch < 1 or workers < 0:
        raise ConfigError(f"bench-train: --batch must be >= 1 and --workers >= 0, got {batch} "
                          f"and {workers}")
    if exp.threads:
        torch.set_num_threads(exp.threads)

    torch.manual_seed(exp.seed)
    model = build_model(exp.model_spec, where=f"model {exp.model_name}")
    model = model.to(dev, memory_format=memory_format(recipe.channels_last)).train()
    optimizer = build_optimizer(model, recipe.optimizer)
    loss_fn = build_loss(recipe.loss)
    dataset = build_dataset(exp, "train")
    if len(dataset) < per_device:
        raise ConfigError(f"bench-train: the training set of dataset {exp.dataset_name!r} has "
                          f"{len(dataset)} persons, fewer than one batch of {per_device}")
    sampler = EpochSampler(len(dataset), exp.seed, per_device)
    loader = train_loader(dataset, sampler, per_device, workers, dev)
    if log:
        log(f"bench-train {name}: {exp.model_name} at {format_input(exp.input_hw)}, batch "
            f"{per_device}, {dev.type}, {recipe.precision}"
            f"{', channels-last' if recipe.channels_last else ''}, {workers} workers, "
            f"{warmup} + {steps} steps")

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    data_s = step_s = 0.0
    images = 0
    batches = _batches(loader, sampler, per_device)
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        batch_data = next(batches)
        t1 = time.perf_counter()
        _, n = train_step(model, batch_data, loss_fn, optimizer, dev, recipe.precision,
                          recipe.channels_last)
        sync()
        t2 = time.perf_counter()
        if i >= warmup:
            data_s += t1 - t0
            step_s += t2 - t1
            images += n
    total = data_s + step_s
    return {
        "name": name,
        "experiment": name if is_experiment else None,
        "model": exp.model_name,
        "scale": scale,
        "input": format_input(exp.input_hw),
        "batch": per_device,
        "device": dev.type,
        "device_name": (torch.cuda.get_device_name(dev) if dev.type == "cuda"
                        else f"{cpu_name() or 'CPU'} ({torch.get_num_threads()} threads)"),
        "precision": recipe.precision,
        "channels_last": recipe.channels_last,
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "steps": steps,
        "warmup": warmup,
        "images_per_second": images / total,
        "step_seconds": step_s / steps,
        "data_seconds": data_s / steps,
        "data_wait_fraction": data_s / total,
        "peak_memory_mb": (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda"
                           else None),
        "train_samples": len(dataset),
        "torch": torch.__version__,
    }


def bench_lines(record: dict) -> list[str]:
    options = record["precision"] + (", channels-last" if record["channels_last"] else "")
    lines = [
        f"{record['model']} @ {record['input']}, batch {record['batch']} on "
        f"{record['device_name']} ({options}, {record['workers']} loader workers):",
        f"  {record['images_per_second']:.1f} images/s; per step {record['step_seconds']:.3f} s "
        f"computing, {record['data_seconds']:.3f} s waiting for data "
        f"({100 * record['data_wait_fraction']:.1f}% of the time)",
    ]
    if record.get("peak_memory_mb") is not None:
        lines.append(f"  peak GPU memory {record['peak_memory_mb']:.0f} MiB")
    return lines


def parse_bench_input(text: str | None) -> tuple[int, int] | None:
    return None if text is None else parse_input(text, "--input")
