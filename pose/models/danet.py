"""DANet (Luo et al., "Efficient Human Pose Estimation by Learning Deeply Aggregated
Representations", Fig. 3) and its single-pyramid baselines: a backbone's four levels (the dense
backbone with orthogonal attention blocks of pose.models.dense, or a ResNet trunk) merged by the
single pyramid of pose.models.pyramid, whose finest map the regressor turns into heatmaps."""

from __future__ import annotations

import torch
from torch import nn

from pose.models.blocks import init_weights
from pose.models.dense import DenseBackbone
from pose.models.pyramid import Regressor, SinglePyramid
from pose.models.resnet import ResNet
from pose.models.spec import DANetSpec, DenseBackboneSpec, RegressorHeadSpec


def make_backbone(spec: DANetSpec) -> DenseBackbone | ResNet:
    """The backbone the spec names; both expose `stages(x)` and `stage_channels`."""
    if isinstance(spec.backbone, DenseBackboneSpec):
        return DenseBackbone(spec.backbone)
    return ResNet(spec.backbone.depth, spec.backbone.base_width)


class DANet(nn.Module):
    """(B,3,H,W) -> (B,num_joints,H/4,W/4) heatmaps."""

    def __init__(self, spec: DANetSpec) -> None:
        super().__init__()
        head = spec.head
        assert isinstance(head, RegressorHeadSpec)  # guaranteed by DANetSpec.head_types
        self.backbone = make_backbone(spec)
        self.pyramid = SinglePyramid(self.backbone.stage_channels, spec.pyramid_width,
                                     spec.fusion, spec.sfu_hidden, spec.sfu_kernel,
                                     spec.upsample)
        self.regressor = Regressor(spec.pyramid_width, spec.num_joints, head.final_kernel)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.regressor(self.pyramid(self.backbone.stages(x)))
