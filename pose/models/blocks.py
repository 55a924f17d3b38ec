"""Residual blocks shared by the ResNet trunk and HRNet, with the attribute names of the official
code (conv1/bn1/.../downsample.0/.1) so published checkpoints load by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

BN_MOMENTUM = 0.1


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3x3 conv, padding 1, no bias (a BatchNorm always follows)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


def conv_bn(
    in_ch: int, out_ch: int, kernel: int, stride: int = 1, relu: bool = True
) -> nn.Sequential:
    """conv (no bias) + BN [+ ReLU] as a Sequential, so weights are named .0 and .1."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch, momentum=BN_MOMENTUM),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Nearest upsampling to `like`'s size (HRNet's up-paths): equals x2**k when sizes divide,
    and also copes with inputs whose size is not a multiple of 32."""
    return F.interpolate(x, size=like.shape[-2:], mode="nearest")


def resize_bilinear(x: torch.Tensor, size: Sequence[int], align_corners: bool = False
                    ) -> torch.Tensor:
    """Bilinear resize to (H, W), up or down; a tensor already that size is returned as is."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=align_corners)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or projected) shortcut."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, attention: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample
        # Gates the residual branch before the shortcut is added (CBAM / CSARB placement);
        # an Identity holds no state, so plain blocks keep the official state-dict names.
        self.attention = attention if attention is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.attention(self.bn2(self.conv2(out)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, as torchvision v1.5), 1x1 expand by 4."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, attention: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.attention = attention if attention is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attention(self.bn3(self.conv3(out)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


Block = type[BasicBlock] | type[Bottleneck]
AttentionFactory = Callable[[int], nn.Module | None]


def make_layer(block: Block, inplanes: int, planes: int, blocks: int, stride: int = 1,
               attention: AttentionFactory | None = None) -> nn.Sequential:
    """A run of `blocks` residual blocks; the first gets a 1x1 projection shortcut when the
    stride or channel count changes (named downsample.0 / downsample.1). `attention(channels)`
    builds each block's residual-branch gate."""
    out_ch = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out_ch:
        downsample = conv_bn(inplanes, out_ch, kernel=1, stride=stride, relu=False)

    def gate() -> nn.Module | None:
        return attention(out_ch) if attention is not None else None

    layers = [block(inplanes, planes, stride, downsample, gate())]
    layers += [block(out_ch, planes, attention=gate()) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def init_weights(model: nn.Module) -> None:
    """The official initialisation: conv and deconv weights ~ N(0, 0.001), biases 0, BN (1, 0)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
