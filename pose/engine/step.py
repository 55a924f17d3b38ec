"""One optimisation step and the loader that feeds it, shared by training and `pose
bench-train` so the benchmark measures the code that trains.

Speed options come from the recipe: `precision: bf16` runs forward and loss under autocast
(bfloat16 needs no loss scaling), `channels_last` stores the model and the inputs NHWC, which
tensor cores prefer. The loader decodes and warps in worker processes, pins memory for the GPU
and keeps its workers between epochs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import cv2
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from pose.engine.preemption import ignore_stop_signals


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(model: nn.Module, batch: dict, loss_fn: nn.Module,
               optimizer: torch.optim.Optimizer, device: torch.device, precision: str = "fp32",
               channels_last: bool = False) -> tuple[torch.Tensor, int]:
    """Forward, loss, backward, update; returns the (detached) batch loss and batch size."""
    images = batch["image"].to(device, non_blocking=True,
                               memory_format=memory_format(channels_last))
    target = batch["target"].to(device, non_blocking=True)
    weight = batch["target_weight"].to(device, non_blocking=True)
    with autocast(device, precision):
        output = model(images)
        loss = loss_fn(output, target, weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), images.shape[0]


def _worker_init(worker_id: int) -> None:
    """Workers decode and warp single-threaded (the workers are the parallelism) and leave
    stop signals to the main process."""
    ignore_stop_signals()
    torch.set_num_threads(1)
    cv2.setNumThreads(0)


def train_loader(dataset: Dataset, sampler: Sampler, batch_size: int, workers: int,
                 device: torch.device,
                 worker_init: Callable[[int], None] = _worker_init) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=worker_init if workers > 0 else None,
    )
