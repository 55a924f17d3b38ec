"""Optimisers and learning-rate schedules named by a recipe."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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
    return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum,
                           weight_decay=spec.weight_decay, nesterov=spec.nesterov)


def sgdr_cycle(t: float, t0: int, t_mult: int) -> tuple[int, int]:
    """(start, length) in epochs of the SGDR cycle that epoch position `t` lies in. Whole-number
    arithmetic on the cycle bounds: a restart falls exactly on its epoch, never a rounding off."""
    start, length = 0, t0
    while t >= start + length:
        start, length = start + length, length * t_mult
    return start, length


def lr_factor(spec: ScheduleSpec, epochs: int, base_lr: float) -> Callable[[float], float]:
    """lr / base_lr at epoch position t (fractional within an epoch) of the sgdr and linear
    schedules: SGDR's eta_min + (base - eta_min)(1 + cos(pi T_cur / T_i)) / 2, or 1 - t/epochs."""
    if spec.type == "sgdr":
        floor = spec.eta_min / base_lr

        def sgdr(t: float) -> float:
            start, length = sgdr_cycle(t, spec.t0, spec.t_mult)
            return floor + (1.0 - floor) * (1.0 + math.cos(math.pi * (t - start) / length)) / 2

        return sgdr
    if spec.type == "linear":
        return lambda t: max(0.0, 1.0 - t / epochs)
    raise ValueError(f"schedule {spec.type!r} has no lr factor; step uses MultiStepLR")


class LrSchedule:
    """The recipe's schedule and when it advances (ScheduleSpec.update): once after every epoch,
    or after every optimiser step at the fractional epoch `steps / steps_per_epoch`. Its state
    (the torch scheduler's: steps or epochs taken) goes into the checkpoint, so a run resumed
    mid-epoch continues with the lr an uninterrupted run has at that step."""

    def __init__(self, optimizer: torch.optim.Optimizer, spec: ScheduleSpec, epochs: int,
                 steps_per_epoch: int = 1):
        self.per_iteration = spec.update == "iteration"
        if self.per_iteration and steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.scheduler: torch.optim.lr_scheduler.LRScheduler
        if spec.type == "step":
            self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
                optimizer, milestones=list(spec.milestones), gamma=spec.gamma)
            return
        factor = lr_factor(spec, epochs, optimizer.param_groups[0]["lr"])
        per = steps_per_epoch if self.per_iteration else 1
        # LambdaLR counts its step() calls: steps taken, or epochs done
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_lambda=lambda count: factor(count / per))

    def after_step(self) -> None:
        if self.per_iteration:
            self.scheduler.step()

    def after_epoch(self) -> None:
        if not self.per_iteration:
            self.scheduler.step()

    def last_step_lr(self) -> float:
        """The lr of the latest optimiser step (the training log's per epoch: per epoch the
        epoch's, per iteration its last step's, not the next epoch's first)."""
        if not self.per_iteration:
            return float(self.scheduler.get_last_lr()[0])
        taken = max(self.scheduler.last_epoch - 1, 0)
        return float(self.scheduler.base_lrs[0] * self.scheduler.lr_lambdas[0](taken))

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


def build_scheduler(optimizer: torch.optim.Optimizer, spec: ScheduleSpec, epochs: int,
                    steps_per_epoch: int = 1) -> LrSchedule:
    """The recipe's schedule (see ScheduleSpec); `steps_per_epoch` is read when it advances
    per iteration."""
    return LrSchedule(optimizer, spec, epochs, steps_per_epoch)
