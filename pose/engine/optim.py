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
    optimizer: torch.optim.Optimizer, spec: ScheduleSpec
) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule: `step` multiplies the lr by `gamma` at each milestone epoch."""
    return torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=list(spec.milestones), gamma=spec.gamma
    )
