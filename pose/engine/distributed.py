"""Data-parallel training: the process group torchrun sets up, and what the trainer syncs.

One process per GPU (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and MASTER_ADDR/PORT); NCCL on
CUDA, gloo on the CPU (the backend the CPU tests use). DistributedDataParallel averages the
gradients, so with every rank on an equal share of the batch the update equals a single
process's on the whole batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from pose.errors import ConfigError

# Rank 0 validates while the others wait at a barrier: COCO val with detections takes minutes.
BARRIER_TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device_type: str) -> DistContext:
    """The process group of a torchrun launch, or a single-process context without one."""
    if not launched_by_torchrun():
        return DistContext()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    if world > 1 and not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo",
                                timeout=BARRIER_TIMEOUT)
    return DistContext(rank, world, local_rank)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def per_process_batch(total: int, ctx: DistContext, where: str) -> int:
    """The recipe's batch is the total over all GPUs (as the papers state it)."""
    if total % ctx.world_size:
        raise ConfigError(
            f"{where}: batch_size {total} does not split over {ctx.world_size} processes; "
            "choose gpus that divide the recipe's total batch"
        )
    return total // ctx.world_size


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank when it is true on one (a stop request seen by some ranks only)."""
    return any_ranks([flag], ctx)[0]


def any_ranks(flags: list[bool], ctx: DistContext) -> list[bool]:
    """any_rank of several flags in one all-reduce (the per-step checks of the training loop)."""
    if not ctx.distributed:
        return [bool(f) for f in flags]
    value = torch.tensor([1.0 if f else 0.0 for f in flags])
    if dist.get_backend() == "nccl":
        value = value.cuda()
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return [bool(v > 0) for v in value.tolist()]


def sum_over_ranks(values: list[float], ctx: DistContext) -> list[float]:
    if not ctx.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tensor.tolist()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()
