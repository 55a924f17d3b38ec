"""Heatmap heads: the final per-joint conv, SimpleBaseline's deconv stack (plain modules assigned
to `final_layer` / `deconv_layers`, the official attribute names) and the pyramid regressor of
DNANet / RAM with its rescale-and-sum ablation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pose.models.blocks import BN_MOMENTUM, conv_bn, upsample_to
from pose.models.spec import DeconvHeadSpec, PyramidHeadSpec

# kernel -> (padding, output_padding) so that each stride-2 deconv exactly doubles H and W
DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def make_final_layer(in_ch: int, num_joints: int, kernel: int) -> nn.Conv2d:
    """Conv (with bias) to one heatmap per joint, keeping the resolution."""
    return nn.Conv2d(in_ch, num_joints, kernel_size=kernel, stride=1, padding=kernel // 2)


def deconv_bn(in_ch: int, out_ch: int, kernel: int) -> list[nn.Module]:
    """A stride-2 ConvTranspose2d (no bias) that exactly doubles H and W, then BN."""
    padding, output_padding = DECONV_PADDING[kernel]
    return [
        nn.ConvTranspose2d(in_ch, out_ch, kernel, stride=2, padding=padding,
                           output_padding=output_padding, bias=False),
        nn.BatchNorm2d(out_ch, momentum=BN_MOMENTUM),
    ]


def make_deconv_layers(in_ch: int, head: DeconvHeadSpec) -> nn.Sequential:
    """deconv_layers x (ConvTranspose2d stride 2, no bias + BN + ReLU), flat as in pose_resnet."""
    layers: list[nn.Module] = []
    for _ in range(head.deconv_layers):
        layers += [*deconv_bn(in_ch, head.deconv_channels, head.deconv_kernel),
                   nn.ReLU(inplace=True)]
        in_ch = head.deconv_channels
    return nn.Sequential(*layers)


class PyramidHead(nn.Module):
    """Heatmaps from every branch, merged from the lowest resolution up (DNANet's modified
    regressor, RAM's GPR, eq. 4-6): X'_{r-1} = Int(X_r) + Deconv(X_r), X_{r-1} = [X'_{r-1},
    X_{r-1}], H = Conv(X_1). The two upsampling paths map the running features to branch r-1's
    width (Int as HRNet's up-path, 1x1 conv + BN + nearest x2; Deconv a stride-2 transposed conv
    + BN), so each level's concatenation has twice that width."""

    def __init__(self, channels: Sequence[int], num_joints: int, head: PyramidHeadSpec) -> None:
        super().__init__()
        self.interpolate = nn.ModuleList()
        self.deconv = nn.ModuleList()
        in_ch = channels[-1]
        for out_ch in reversed(channels[:-1]):
            self.interpolate.append(conv_bn(in_ch, out_ch, kernel=1, relu=False))
            self.deconv.append(nn.Sequential(*deconv_bn(in_ch, out_ch, head.deconv_kernel)))
            in_ch = 2 * out_ch
        self.relu = nn.ReLU(inplace=True)
        self.final_layer = make_final_layer(in_ch, num_joints, head.final_kernel)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        x = xs[-1]
        levels = zip(self.interpolate, self.deconv, reversed(xs[:-1]), strict=True)
        for interpolate, deconv, skip in levels:
            up = upsample_to(interpolate(x), skip) + _fit(deconv(x), skip.shape[-2:])
            x = torch.cat([self.relu(up), skip], dim=1)
        return self.final_layer(x)


class RescaleSumHead(nn.Module):
    """Heatmaps from the sum of every branch brought to the top branch's width and resolution
    (1x1 conv + BN + nearest upsampling, HRNet's up-path), ReLU, then the final conv."""

    def __init__(self, channels: Sequence[int], num_joints: int, final_kernel: int) -> None:
        super().__init__()
        self.rescale = nn.ModuleList(
            conv_bn(c, channels[0], kernel=1, relu=False) for c in channels[1:]
        )
        self.relu = nn.ReLU(inplace=True)
        self.final_layer = make_final_layer(channels[0], num_joints, final_kernel)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        total = xs[0]
        for rescale, x in zip(self.rescale, xs[1:], strict=True):
            total = total + upsample_to(rescale(x), xs[0])
        return self.final_layer(self.relu(total))


def _fit(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Crop or zero-pad a deconv output to `size` (they differ by one only for odd inputs)."""
    dh, dw = size[0] - x.shape[-2], size[1] - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    return F.pad(x, (0, dw, 0, dh))
