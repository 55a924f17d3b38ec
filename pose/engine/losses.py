"""Heatmap regression loss of the official HRNet / SimpleBaseline code."""

from __future__ import annotations

import torch
from torch import nn

from pose.config import LossSpec


class JointsMSELoss(nn.Module):
    """Mean over joints of 0.5 · MSE(pred·w, gt·w): invisible joints (w = 0) contribute nothing."""

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor
    ) -> torch.Tensor:
        if self.use_target_weight:
            w = target_weight.reshape(*target_weight.shape[:2], 1, 1)
            pred, target = pred * w, target * w
        # Per joint: mean over batch and pixels; then mean over joints (equal weights), as the
        # official loss sums per-joint MSEs and divides by the joint count.
        return 0.5 * ((pred - target) ** 2).mean()


def build_loss(spec: LossSpec) -> nn.Module:
    """The loss a recipe names."""
    if spec.type == "mse":
        return JointsMSELoss(spec.use_target_weight)
    raise ValueError(f"unknown loss {spec.type!r}")  # unreachable: LossSpec validates the type
