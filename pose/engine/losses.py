"""Heatmap regression losses of the official HRNet / SimpleBaseline code, CPN's OHKM, and the
classifiers' cross-entropy (DANet Table X)."""

from __future__ import annotations

import torch
from torch import nn

from pose.config import LossSpec
from pose.errors import ConfigError


def _weighted(
    pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor, use_weight: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """pred·w and gt·w per joint (w = visibility), so invisible joints cost nothing."""
    if not use_weight:
        return pred, target
    w = target_weight.reshape(*target_weight.shape[:2], 1, 1)
    return pred * w, target * w


def joint_losses(
    pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor, use_weight: bool = True
) -> torch.Tensor:
    """(N, J): 0.5 · mean over pixels of the squared error of each sample's joint heatmap."""
    pred, target = _weighted(pred, target, target_weight, use_weight)
    return 0.5 * ((pred - target) ** 2).flatten(2).mean(dim=2)


class JointsMSELoss(nn.Module):
    """Mean over joints of 0.5 · MSE(pred·w, gt·w): invisible joints (w = 0) contribute nothing."""

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor
    ) -> torch.Tensor:
        pred, target = _weighted(pred, target, target_weight, self.use_target_weight)
        # Per joint: mean over batch and pixels; then mean over joints (equal weights), as the
        # official loss sums per-joint MSEs and divides by the joint count.
        return 0.5 * ((pred - target) ** 2).mean()


class JointsOHKMMSELoss(nn.Module):
    """Online hard keypoint mining (CPN Sec. 3.2; HRNet's JointsOHKMMSELoss): per sample, the
    mean of its `topk` largest joint losses; then the mean over the batch. Only the selected
    joints receive a gradient."""

    def __init__(self, use_target_weight: bool = True, topk: int = 8) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.topk = topk

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor
    ) -> torch.Tensor:
        losses = joint_losses(pred, target, target_weight, self.use_target_weight)
        if self.topk > losses.shape[1]:
            raise ConfigError(
                f"loss.topk: {self.topk} exceeds the {losses.shape[1]} joints of the heatmaps"
            )
        hardest, _ = torch.topk(losses, k=self.topk, dim=1, sorted=False)
        return hardest.mean(dim=1).mean()


class ClassificationLoss(nn.Module):
    """Softmax cross-entropy of (B, classes) logits against (B,) labels, in train_step's
    (output, target, target_weight) signature (the weight is every sample's 1)."""

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                target_weight: torch.Tensor | None = None) -> torch.Tensor:
        return nn.functional.cross_entropy(output, target)


def build_loss(spec: LossSpec) -> nn.Module:
    """The loss a recipe names."""
    if spec.type == "cross_entropy":
        return ClassificationLoss()
    if spec.type == "mse":
        return JointsMSELoss(spec.use_target_weight)
    if spec.type == "ohkm":
        return JointsOHKMMSELoss(spec.use_target_weight, spec.topk)
    raise ValueError(f"unknown loss {spec.type!r}")  # unreachable: LossSpec validates the type
