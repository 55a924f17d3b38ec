"""Optimisers and learning-rate schedules named by a recipe."""

from __future__ import annotations

import torch
from torch import nn

from pose.config import OptimizerSpec, ScheduleSpec


def build_optimizer(model: nn.Module, spec: OptimizerSpec) -> torch.optim.Optimizer:
    """The recipe's optimiser; weight decay is always passed through, never silently dropped."""
    params = [p for p in model.parameters() if p.requires_grad]
    if spec.type == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    if spec.type == "adamw":
        return torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.SGD(
        params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, spec: ScheduleSpec, epochs: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The recipe's per-epoch schedule (stepped once after every epoch; see ScheduleSpec)."""
    if spec.type == "sgdr":
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer, T_0=spec.t0, T_mult=spec.t_mult, eta_min=spec.eta_min
        )
    if spec.type == "linear":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_lambda=lambda epoch: max(0.0, 1.0 - epoch / epochs)
        )
    return torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=list(spec.milestones), gamma=spec.gamma
    )
