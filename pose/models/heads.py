"""Heatmap heads: the final per-joint conv and SimpleBaseline's deconv stack. They are plain
modules assigned to `final_layer` / `deconv_layers`, the official attribute names."""

from __future__ import annotations

from torch import nn

from pose.models.blocks import BN_MOMENTUM
from pose.models.spec import DeconvHeadSpec

# kernel -> (padding, output_padding) so that each stride-2 deconv exactly doubles H and W
DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def make_final_layer(in_ch: int, num_joints: int, kernel: int) -> nn.Conv2d:
    """Conv (with bias) to one heatmap per joint, keeping the resolution."""
    return nn.Conv2d(in_ch, num_joints, kernel_size=kernel, stride=1, padding=kernel // 2)


def make_deconv_layers(in_ch: int, head: DeconvHeadSpec) -> nn.Sequential:
    """deconv_layers x (ConvTranspose2d stride 2, no bias + BN + ReLU), flat as in pose_resnet."""
    padding, output_padding = DECONV_PADDING[head.deconv_kernel]
    layers: list[nn.Module] = []
    for _ in range(head.deconv_layers):
        layers += [
            nn.ConvTranspose2d(in_ch, head.deconv_channels, head.deconv_kernel, stride=2,
                               padding=padding, output_padding=output_padding, bias=False),
            nn.BatchNorm2d(head.deconv_channels, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
        ]
        in_ch = head.deconv_channels
    return nn.Sequential(*layers)
