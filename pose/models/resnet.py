"""ResNet trunk (no avgpool / fc) with torchvision's attribute names, so ImageNet weights and the
official SimpleBaseline checkpoints load by name."""

from __future__ import annotations

import torch
from torch import nn

from pose.models.blocks import BN_MOMENTUM, BasicBlock, Block, Bottleneck, make_layer

RESNET_LAYOUTS: dict[int, tuple[Block, tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(nn.Module):
    """Stride-32 feature extractor; `out_channels` is the width of layer4's output.

    `base_width` is the stem's width (64 in every standard ResNet); stage k has base_width·2^k
    planes. Only the smoke scale narrows it."""

    def __init__(self, depth: int, base_width: int = 64) -> None:
        super().__init__()
        block, counts = RESNET_LAYOUTS[depth]
        self.conv1 = nn.Conv2d(3, base_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = base_width
        widths = tuple(base_width * 2**k for k in range(4))
        stage_channels = []
        for i, (planes, n) in enumerate(zip(widths, counts, strict=True), start=1):
            layer = make_layer(block, inplanes, planes, n, stride=1 if i == 1 else 2)
            setattr(self, f"layer{i}", layer)
            inplanes = planes * block.expansion
            stage_channels.append(inplanes)
        # Output widths of layer1..layer4 (strides 4, 8, 16, 32), for decoders that read them.
        self.stage_channels: tuple[int, ...] = tuple(stage_channels)
        self.out_channels = inplanes

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of layer1..layer4 (strides 4, 8, 16, 32), read by pyramids and skip paths."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            outs.append(x)
        return outs

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
