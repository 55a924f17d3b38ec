"""HRNet for pose (Sun et al., CVPR 2019), built from an HRNetSpec, with the variants of the papers
composed in by spec keys: gates inside residual units (DNANet cDNA/sDNA), resolution-weighted
fusion (rDNA, RAM), new branches made from every branch at stage transitions (RAM's M -> N),
fine-to-coarse connections (DNANet), attention modules at stage inputs (Efficient HRNet) and the
pyramid regressor (DNANet, GPR). Module names follow the official
pose_hrnet (conv1, bn1, conv2, bn2, layer1, transitionK, stageK+1 with branches / fuse_layers,
final_layer), so official checkpoints load by name into the plain model."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import nn

from pose.models.attention import AttentionModule, ResolutionWeights, unit_attention
from pose.models.blocks import (
    BN_MOMENTUM,
    AttentionFactory,
    BasicBlock,
    Bottleneck,
    conv_bn,
    init_weights,
    make_layer,
    upsample_to,
)
from pose.models.heads import PyramidHead, RescaleSumHead, make_final_layer
from pose.models.spec import MULTI_BRANCH_HEADS, HRNetSpec

# fusion -> (weights computed per output branch, affine of the weights); None: plain sum
FUSION_WEIGHTS = {
    "sum": None,
    "resolution_attention": (False, "none"),
    "rdna": (False, "shared"),
    "ram": (True, "per_input"),
}


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
    """Parallel BasicBlock branches, then every output branch combines all inputs brought to its
    resolution (a sum, or resolution-wise weights). With multi_scale_output False only the
    highest-resolution output is fused. With fine_to_coarse, layer k of branch r also receives
    layer k's output of branch r+1, so each layer runs from the lowest resolution up."""

    def __init__(self, channels: Sequence[int], num_blocks: int, multi_scale_output: bool,
                 fusion: str = "sum", attention: AttentionFactory | None = None,
                 fine_to_coarse: bool = False) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            make_layer(BasicBlock, c, c, num_blocks, attention=attention) for c in channels
        )
        n = len(channels)
        outputs = range(n if multi_scale_output else 1) if n > 1 else range(0)
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(_fuse_path(channels, j, i) for j in range(n)) for i in outputs
        )
        weights = FUSION_WEIGHTS[fusion] if n > 1 else None
        self.per_output = bool(weights and weights[0])
        if weights is not None:
            targets = list(outputs) if self.per_output else [0]
            self.fuse_weights = nn.ModuleList(
                ResolutionWeights(channels[i], n, weights[1]) for i in targets
            )
        if fine_to_coarse and n > 1:
            self.fine_to_coarse = nn.ModuleList(
                nn.ModuleList(conv_bn(channels[r + 1], channels[r], kernel=1, relu=False)
                              for r in range(n - 1))
                for _ in range(num_blocks)
            )
        self.relu = nn.ReLU()

    def _run_branches(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        if not hasattr(self, "fine_to_coarse"):
            return [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        xs = list(xs)
        for k, links in enumerate(self.fine_to_coarse):
            for r in reversed(range(len(xs))):
                x = xs[r]
                if r < len(xs) - 1:
                    x = x + upsample_to(links[r](xs[r + 1]), x)
                xs[r] = self.branches[r][k](x)
        return xs

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = self._run_branches(xs)
        if len(self.fuse_layers) == 0:
            return xs
        terms = [
            [upsample_to(path(xs[j]), xs[i]) if j > i else path(xs[j])
             for j, path in enumerate(paths)]
            for i, paths in enumerate(self.fuse_layers)
        ]
        if not hasattr(self, "fuse_weights"):
            return [self.relu(sum(t[1:], t[0])) for t in terms]
        shared = None if self.per_output else self.fuse_weights[0](terms[0])
        fused = []
        for i, t in enumerate(terms):
            w = self.fuse_weights[i](t) if self.per_output else shared
            fused.append(self.relu(sum(w[:, j, None, None, None] * y for j, y in enumerate(t))))
        return fused


def _transition(prev: Sequence[int], cur: Sequence[int], last_relu: bool = True
                ) -> nn.ModuleList:
    """Adapt existing branches (3x3 conv when channels change) and spawn new ones by stride-2
    3x3 convs from the lowest-resolution branch. `last_relu` False leaves the ReLU of a new
    branch's last conv to the fusion that adds it to other terms (a ReLU holds no weights, so
    the state-dict names stay the official ones)."""
    layers: list[nn.Module] = []
    for i, c in enumerate(cur):
        if i < len(prev):
            layers.append(nn.Identity() if prev[i] == c else conv_bn(prev[i], c, kernel=3))
            continue
        n_new = i + 1 - len(prev)
        steps = [conv_bn(prev[-1], c if k == n_new - 1 else prev[-1], kernel=3, stride=2,
                         relu=last_relu or k < n_new - 1)
                 for k in range(n_new)]
        layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class NewBranchFusion(nn.Module):
    """The new branch of a stage transition made from all M branches (RAM's module with M inputs
    and N = M + 1 outputs; the first M are the stage's last fusion): every branch but the lowest
    is brought to the new resolution by HRNet's down-path (stride-2 3x3 convs, the last to the
    new width, no ReLU), the lowest by HRNet's own transition conv (kept under its official
    name, given here as `lowest`), and the M terms are summed, weighted per input as the
    model's `fusion` weighs (none for "sum"), then ReLU'd, like every HRNet fusion output."""

    def __init__(self, channels: Sequence[int], fusion: str) -> None:
        super().__init__()
        new = len(channels) - 1  # index of the new branch; channels[:new] are the inputs
        if new < 2:
            raise ValueError(f"needs at least two input branches, got {list(channels[:new])}")
        self.paths = nn.ModuleList(_fuse_path(channels, j, new) for j in range(new - 1))
        weights = FUSION_WEIGHTS[fusion]
        if weights is not None:
            self.weights = ResolutionWeights(channels[new], new, weights[1])
        self.relu = nn.ReLU()

    def forward(self, xs: Sequence[torch.Tensor], lowest: torch.Tensor) -> torch.Tensor:
        """xs: the M branches entering the transition; lowest: the transition conv's output."""
        terms = [path(x) for path, x in zip(self.paths, xs[:-1], strict=True)] + [lowest]
        if not hasattr(self, "weights"):
            return self.relu(sum(terms[1:], terms[0]))
        w = self.weights(terms)
        return self.relu(sum(w[:, j, None, None, None] * t for j, t in enumerate(terms)))


def _stage_attention(spec: HRNetSpec, stage: int, channels: Sequence[int]) -> nn.ModuleList:
    """The attention module on each branch of `stage` that the spec names, Identity elsewhere."""
    sites = set(spec.stage_attention)
    return nn.ModuleList(
        AttentionModule(c, spec.channel_reduction) if (stage, b) in sites else nn.Identity()
        for b, c in enumerate(channels, start=1)
    )


def _head(spec: HRNetSpec, channels: Sequence[int]) -> nn.Module:
    """The heatmap head the spec names, reading the top branch or every branch."""
    if spec.head.type == "pyramid":
        return PyramidHead(channels, spec.num_joints, spec.head)
    if spec.head.type == "rescale_sum":
        return RescaleSumHead(channels, spec.num_joints, spec.head.final_kernel)
    return make_final_layer(spec.width, spec.num_joints, spec.head.final_kernel)


class HRNet(nn.Module):
    """(B,3,H,W) -> (B,num_joints,H/4,W/4) heatmaps from the highest-resolution branch (or, with
    a multi-branch head, from all branches)."""

    def __init__(self, spec: HRNetSpec) -> None:
        super().__init__()
        s = spec.stem_width
        self.conv1 = nn.Conv2d(3, s, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(s, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(s, s, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(s, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        gates = None
        if spec.unit_attention:
            gates = partial(unit_attention, spec.unit_attention,
                            reduction=spec.channel_reduction)
        stage1_gates = gates if spec.unit_attention_scope == "all" else None
        self.layer1 = make_layer(Bottleneck, s, s, spec.stage1_blocks, attention=stage1_gates)
        prev = [s * Bottleneck.expansion]
        self.num_stages = len(spec.stage_modules)
        all_branches = spec.head.type in MULTI_BRANCH_HEADS
        stages = zip(spec.stage_modules, spec.stage_blocks, strict=True)
        for k, (n_modules, n_blocks) in enumerate(stages, start=1):
            cur = [spec.width * 2**b for b in range(k + 1)]
            # The last module fuses only the top branch, unless the head reads every branch.
            last_stage = k == self.num_stages
            modules = [
                HighResolutionModule(
                    cur, n_blocks, all_branches or not (last_stage and m == n_modules - 1),
                    fusion=spec.fusion, attention=gates, fine_to_coarse=spec.fine_to_coarse,
                )
                for m in range(n_modules)
            ]
            # With transition_inputs "all", the new branch sums terms from every branch (when
            # there are two or more), so the transition conv's ReLU moves after the sum.
            from_all = spec.transition_inputs == "all" and len(prev) > 1
            setattr(self, f"transition{k}", _transition(prev, cur, last_relu=not from_all))
            if from_all:
                setattr(self, f"new_branch{k}", NewBranchFusion(cur, spec.fusion))
            if any(site[0] == k + 1 for site in spec.stage_attention):
                setattr(self, f"attention{k + 1}", _stage_attention(spec, k + 1, cur))
            setattr(self, f"stage{k + 1}", nn.Sequential(*modules))
            prev = cur
        self.final_layer = _head(spec, prev)
        self.all_branches = all_branches
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for k in range(1, self.num_stages + 1):
            transition = getattr(self, f"transition{k}")
            xs = [t(ys[i] if i < len(ys) else ys[-1]) for i, t in enumerate(transition)]
            new_branch = getattr(self, f"new_branch{k}", None)
            if new_branch is not None:
                xs[-1] = new_branch(ys, xs[-1])
            attention = getattr(self, f"attention{k + 1}", None)
            if attention is not None:
                xs = [a(x) for a, x in zip(attention, xs, strict=True)]
            ys = getattr(self, f"stage{k + 1}")(xs)
        return self.final_layer(ys) if self.all_branches else self.final_layer(ys[0])
