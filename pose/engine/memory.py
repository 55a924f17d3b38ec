"""GPU memory of one training step, estimated on whatever device the step ran (the preflight
runs it on the CPU), so a full-scale job's fit is known before a GPU is asked for.

What a training step holds at its peak, and how each part is measured:
- parameters, gradients and the optimiser's state: the bytes of the tensors themselves after a
  real step (Adam keeps two moments per weight, SGD with momentum one);
- activations saved for backward: every tensor autograd packs during the forward pass
  (`torch.autograd.graph.saved_tensors_hooks`), counted once per storage, parameters left out;
  they grow linearly with the batch, so the per-sample figure is scaled to the per-GPU batch;
- under DistributedDataParallel the gradient buckets hold another copy of the gradients.
Not counted: the CUDA context and cuDNN workspaces (a few hundred MB) and the caching
allocator's fragmentation; `fits` keeps a margin for them (FIT_MARGIN, FIT_RESERVE_GB).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

GB = 1024**3
# A step fits when its estimate plus this share of it and this reserve stays within the GPU's
# memory: the context, workspaces and fragmentation the estimate does not see.
FIT_MARGIN = 0.10
FIT_RESERVE_GB = 1.0


def tensor_bytes(tensors: Iterator[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _storage_key(t: torch.Tensor) -> tuple[int, int]:
    """(address, bytes) of the tensor's storage: views of one storage are counted once."""
    try:
        storage = t.untyped_storage()
        return storage.data_ptr(), storage.nbytes()
    except (RuntimeError, NotImplementedError):  # tensors without a plain storage
        return id(t), t.numel() * t.element_size()


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return tensor_bytes(v for state in optimizer.state.values() for v in state.values()
                        if isinstance(v, torch.Tensor))


@dataclass
class StepMeter:
    """Times the training steps it wraps and measures the first one's memory."""

    batch: int = 0  # samples per process in the measured step
    param_bytes: int = 0
    grad_bytes: int = 0
    optimizer_bytes: int = 0
    saved_bytes: int = 0  # activations saved for backward at `batch`
    step_seconds: list[float] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, model: nn.Module, batch: int) -> Iterator[None]:
        measure = not self.step_seconds
        params = {_storage_key(p)[0] for p in model.parameters()}
        saved: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            key, nbytes = _storage_key(t)
            if key not in params:
                saved[key] = nbytes
            return t

        hooks = (torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t) if measure
                 else contextlib.nullcontext())
        start = time.perf_counter()
        with hooks:
            yield
        self.step_seconds.append(time.perf_counter() - start)
        if measure:
            self.batch = batch
            self.saved_bytes = sum(saved.values())
            self.param_bytes = tensor_bytes(p for p in model.parameters())
            self.grad_bytes = tensor_bytes(p.grad for p in model.parameters()
                                           if p.grad is not None)

    def record_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        if not self.optimizer_bytes:
            self.optimizer_bytes = optimizer_state_bytes(optimizer)

    def mean_step_seconds(self) -> float | None:
        """Mean over the steps after the first (warm-up: allocation, thread pools), or the
        first when it is the only one."""
        steps = self.step_seconds[1:] or self.step_seconds
        return sum(steps) / len(steps) if steps else None

    def to_dict(self) -> dict:
        return {**asdict(self), "mean_step_seconds": self.mean_step_seconds()}


def estimate_gpu_memory(step: dict, per_gpu_batch: int, distributed: bool) -> dict:
    """The bytes one GPU holds in a training step at `per_gpu_batch`, part by part (GB), from a
    StepMeter record measured at another batch."""
    per_sample = step["saved_bytes"] / step["batch"]
    parts = {
        "parameters": step["param_bytes"],
        "gradients": step["grad_bytes"],
        "optimizer_state": step["optimizer_bytes"],
        "activations": per_sample * per_gpu_batch,
        "ddp_buckets": step["grad_bytes"] if distributed else 0,
    }
    gb = {k: v / GB for k, v in parts.items()}
    return {"per_gpu_batch": per_gpu_batch, "distributed": distributed,
            "activations_per_sample_gb": per_sample / GB, "parts_gb": gb,
            "total_gb": sum(gb.values())}


def fits(total_gb: float, gpu_memory_gb: float) -> bool:
    return total_gb * (1 + FIT_MARGIN) + FIT_RESERVE_GB <= gpu_memory_gb
