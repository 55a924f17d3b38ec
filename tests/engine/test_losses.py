"""Heatmap losses: OHKM (CPN / HRNet's JointsOHKMMSELoss) against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from pose.config import LossSpec
from pose.engine.losses import JointsMSELoss, JointsOHKMMSELoss, build_loss
from pose.errors import ConfigError
from pose.spec import from_dict


def _case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """2 samples x 4 joints of 2x2 heatmaps; pred - gt is constant per joint."""
    diffs = torch.tensor([[1.0, 2.0, 3.0, 0.0], [0.0, 0.0, 1.0, 4.0]])
    target = torch.rand(2, 4, 2, 2)
    pred = target + diffs[:, :, None, None]
    weight = torch.ones(2, 4, 1)
    weight[1, 3] = 0.0  # sample 1's worst joint is invisible: it must cost nothing
    return pred, target, weight


def test_ohkm_hand_computed() -> None:
    pred, target, weight = _case()
    # joint losses 0.5·d²: sample 0 [0.5, 2, 4.5, 0] -> top 2 mean (4.5 + 2) / 2 = 3.25;
    # sample 1 [0, 0, 0.5, 0 (w = 0, else 8)] -> (0.5 + 0) / 2 = 0.25; batch mean 1.75
    loss = JointsOHKMMSELoss(use_target_weight=True, topk=2)(pred, target, weight)
    assert loss.item() == pytest.approx(1.75, rel=1e-5)
    unweighted = JointsOHKMMSELoss(use_target_weight=False, topk=2)(pred, target, weight)
    assert unweighted.item() == pytest.approx((3.25 + (8.0 + 0.5) / 2) / 2, rel=1e-5)


def test_ohkm_with_every_joint_is_the_mse_loss() -> None:
    torch.manual_seed(0)
    pred, target = torch.rand(3, 5, 4, 3), torch.rand(3, 5, 4, 3)
    weight = (torch.rand(3, 5, 1) > 0.3).float()
    ohkm = JointsOHKMMSELoss(True, topk=5)(pred, target, weight)
    assert ohkm.item() == pytest.approx(JointsMSELoss(True)(pred, target, weight).item(), rel=1e-6)


def test_ohkm_gradient_reaches_only_the_selected_joints() -> None:
    pred, target, weight = _case()
    pred.requires_grad_(True)
    JointsOHKMMSELoss(True, topk=2)(pred, target, weight).backward()
    touched = pred.grad.abs().flatten(2).sum(dim=2) > 0
    # sample 0: its two hardest joints 2 and 1; sample 1: joint 2 (the other kept loss is 0)
    expected = torch.tensor([[False, True, True, False], [False, False, True, False]])
    assert torch.equal(touched, expected)


def test_build_loss_reads_the_recipe() -> None:
    loss = build_loss(from_dict(LossSpec, {"type": "ohkm", "topk": 3}, "recipe.loss"))
    assert isinstance(loss, JointsOHKMMSELoss) and loss.topk == 3
    assert isinstance(build_loss(LossSpec()), JointsMSELoss)


def test_bad_topk_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"recipe.loss: topk: must be >= 1, got 0"):
        from_dict(LossSpec, {"type": "ohkm", "topk": 0}, "recipe.loss")
    pred, target, weight = _case()
    with pytest.raises(ConfigError, match="exceeds the 4 joints"):
        JointsOHKMMSELoss(True, topk=8)(pred, target, weight)
