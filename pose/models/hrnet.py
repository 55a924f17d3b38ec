"""HRNet for pose (Sun et al., CVPR 2019), built from an HRNetSpec. Module names follow the
official pose_hrnet (conv1, bn1, conv2, bn2, layer1, transitionK, stageK+1 with branches /
fuse_layers, final_layer) so official checkpoints load by name."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pose.models.blocks import (
    BN_MOMENTUM,
    BasicBlock,
    Bottleneck,
    conv_bn,
    init_weights,
    make_layer,
)
from pose.models.heads import make_final_layer
from pose.models.spec import HRNetSpec


def _fuse_path(channels: Sequence[int], src: int, dst: int) -> nn.Module:
    """Map branch `src` onto branch `dst`'s channels and resolution (resize done in forward)."""
    if src == dst:
        return nn.Identity()
    if src > dst:  # lower resolution: 1x1 conv + BN here, nearest upsampling in forward
        return conv_bn(channels[src], channels[dst], kernel=1, relu=False)
    steps = [
        conv_bn(channels[src], channels[src], kernel=3, stride=2) for _ in range(dst - src - 1)
    ]
    steps.append(conv_bn(channels[src], channels[dst], kernel=3, stride=2, relu=False))
    return nn.Sequential(*steps)


class HighResolutionModule(nn.Module):
    """Parallel BasicBlock branches, then every output branch sums all inputs brought to its
    resolution. With multi_scale_output False only the highest-resolution output is fused."""

    def __init__(self, channels: Sequence[int], num_blocks: int, multi_scale_output: bool) -> None:
        super().__init__()
        self.branches = nn.ModuleList(make_layer(BasicBlock, c, c, num_blocks) for c in channels)
        n = len(channels)
        outputs = range(n if multi_scale_output else 1) if n > 1 else range(0)
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(_fuse_path(channels, j, i) for j in range(n)) for i in outputs
        )
        self.relu = nn.ReLU()

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        if len(self.fuse_layers) == 0:
            return xs
        fused = []
        for i, paths in enumerate(self.fuse_layers):
            size = xs[i].shape[-2:]
            total = None
            for j, path in enumerate(paths):
                y = path(xs[j])
                if j > i:
                    # Equals nearest upsampling by 2**(j-i) when sizes divide; also copes with
                    # inputs whose size is not a multiple of 32.
                    y = F.interpolate(y, size=size, mode="nearest")
                total = y if total is None else total + y
            fused.append(self.relu(total))
        return fused


def _transition(prev: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
    """Adapt existing branches (3x3 conv when channels change) and spawn new ones by stride-2
    3x3 convs from the lowest-resolution branch."""
    layers: list[nn.Module] = []
    for i, c in enumerate(cur):
        if i < len(prev):
            layers.append(nn.Identity() if prev[i] == c else conv_bn(prev[i], c, kernel=3))
            continue
        n_new = i + 1 - len(prev)
        steps = [conv_bn(prev[-1], c if k == n_new - 1 else prev[-1], kernel=3, stride=2)
                 for k in range(n_new)]
        layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """(B,3,H,W) -> (B,num_joints,H/4,W/4) heatmaps from the highest-resolution branch."""

    def __init__(self, spec: HRNetSpec) -> None:
        super().__init__()
        s = spec.stem_width
        self.conv1 = nn.Conv2d(3, s, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(s, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(s, s, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(s, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_layer(Bottleneck, s, s, spec.stage1_blocks)
        prev = [s * Bottleneck.expansion]
        self.num_stages = len(spec.stage_modules)
        stages = zip(spec.stage_modules, spec.stage_blocks, strict=True)
        for k, (n_modules, n_blocks) in enumerate(stages, start=1):
            cur = [spec.width * 2**b for b in range(k + 1)]
            last_stage = k == self.num_stages
            modules = [
                HighResolutionModule(cur, n_blocks, not (last_stage and m == n_modules - 1))
                for m in range(n_modules)
            ]
            setattr(self, f"transition{k}", _transition(prev, cur))
            setattr(self, f"stage{k + 1}", nn.Sequential(*modules))
            prev = cur
        self.final_layer = make_final_layer(spec.width, spec.num_joints, spec.head.final_kernel)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for k in range(1, self.num_stages + 1):
            transition = getattr(self, f"transition{k}")
            xs = [t(ys[i] if i < len(ys) else ys[-1]) for i, t in enumerate(transition)]
            ys = getattr(self, f"stage{k + 1}")(xs)
        return self.final_layer(ys[0])
