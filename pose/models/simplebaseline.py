"""SimpleBaseline: ResNet trunk + deconv head. It subclasses the trunk rather than wrapping it so
the state dict is flat (conv1, layer1.., deconv_layers, final_layer) as in the official
pose_resnet."""

from __future__ import annotations

import torch

from pose.models.blocks import init_weights
from pose.models.heads import make_deconv_layers, make_final_layer
from pose.models.resnet import ResNet
from pose.models.spec import DeconvHeadSpec, SimpleBaselineSpec


class SimpleBaseline(ResNet):
    """(B,3,H,W) -> (B,num_joints,H/4,W/4) heatmaps."""

    def __init__(self, spec: SimpleBaselineSpec) -> None:
        super().__init__(spec.depth, spec.base_width)
        head = spec.head
        assert isinstance(head, DeconvHeadSpec)  # guaranteed by SimpleBaselineSpec.head_types
        self.deconv_layers = make_deconv_layers(self.out_channels, head)
        self.final_layer = make_final_layer(head.deconv_channels, spec.num_joints,
                                            head.final_kernel)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(self.features(x)))
