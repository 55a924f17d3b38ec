"""BatchNorm over the whole batch of all processes, on any device.

torch.nn.SyncBatchNorm refuses CPU tensors; this one sums per-channel count, sum and sum of
squares with a differentiable all_reduce, so it runs under gloo as under NCCL, and the gradient
reaching each rank's input includes the other ranks' use of the shared statistics. With it,
data-parallel training on N processes computes what one process computes on the total batch.
The recipe's `sync_bn` picks it; the papers' multi-GPU code normalised per GPU.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics span every process of the default group."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = (0, 2, 3)
        local = torch.cat([
            torch.full((1,), x.numel() / x.shape[1], dtype=torch.float32, device=x.device),
            x.float().sum(dims),
            (x.float() ** 2).sum(dims),
        ])
        total = dist_fn.all_reduce(local)
        channels = x.shape[1]
        count = total[0]
        mean = total[1:1 + channels] / count
        var = total[1 + channels:] / count - mean**2
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                momentum = self.momentum if self.momentum is not None else 0.1
                self.num_batches_tracked.add_(1)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                unbiased = var.detach() * count / (count - 1)
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        shape = (1, channels, 1, 1)
        out = (x.float() - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(x.dtype)


def convert_to_global_bn(module: nn.Module) -> nn.Module:
    """Swap every BatchNorm2d for GlobalBatchNorm2d in place, keeping parameters and buffers
    (the state dict's names and values do not change)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            replacement = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum,
                                            child.affine, child.track_running_stats,
                                            device=None)
            replacement.load_state_dict(child.state_dict())
            replacement.to(next(iter(child.buffers()), torch.empty(0)).device)
            replacement.train(child.training)
            setattr(module, name, replacement)
        else:
            convert_to_global_bn(child)
    return module
