"""Attention modules the HRNet variants compose: channel and spatial gates (DNANet's cDNA/sDNA and
their conventional forms, the attention module of Efficient HRNet), the de-normalising affine of
DNANet, and resolution-wise weights for fusing branches (DNANet's rDNA, RAM).

Each gate is one class whose parameters choose the variant, so "cDNA" and "channel attention"
differ by one flag, not by a copy."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# global pooling of (B, C, H, W) to (B, C, 1, 1), by name
POOLS = {
    "avg": lambda t: t.mean((2, 3), keepdim=True),
    "max": lambda t: t.amax((2, 3), keepdim=True),
}
SPATIAL_DESCRIPTORS = ("conv", "max", "avg")


class DeNormalize(nn.Module):
    """W' = omega * W + b (DNANet eq. 3): lets a sigmoid/softmax weight leave (0, 1), so stacked
    attentions stop attenuating features. Starts as the identity (omega 1, b 0), so a model
    begins as its conventional-attention counterpart. `shape` is that of omega and b."""

    def __init__(self, shape: Sequence[int] = (1,)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(*shape))
        self.bias = nn.Parameter(torch.zeros(*shape))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.weight * w + self.bias


class ChannelGate(nn.Module):
    """Per-channel weights from pooled descriptors: each pool is squeezed by its own 1x1 conv
    (FC) to `squeeze` channels, the results are concatenated, optionally ReLU'd, and excited by
    one 1x1 conv back to `channels`, then a sigmoid (and the affine when `denormalize`).

    pools ("avg", "max"), no ReLU, denormalize: DNANet's cDNA (eq. 4-7); without the affine, its
    "channel-wise attention". pools ("avg",) with ReLU: the squeeze-and-excitation gate of the
    Efficient HRNet attention module."""

    def __init__(self, channels: int, squeeze: int, pools: Sequence[str], relu: bool,
                 denormalize: bool) -> None:
        super().__init__()
        unknown = [p for p in pools if p not in POOLS]
        if unknown or not pools:
            raise ValueError(
                f"pools must be a non-empty subset of {list(POOLS)}, got {list(pools)}"
            )
        self.pools = tuple(pools)
        self.squeeze = nn.ModuleList(nn.Conv2d(channels, squeeze, 1) for _ in self.pools)
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()
        self.excite = nn.Conv2d(squeeze * len(self.pools), channels, 1)
        self.denormalize = DeNormalize() if denormalize else nn.Identity()

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, 1, 1) attention weights for x."""
        squeezed = [fc(POOLS[p](x)) for p, fc in zip(self.pools, self.squeeze, strict=True)]
        e = self.excite(self.relu(torch.cat(squeezed, dim=1)))
        return self.denormalize(torch.sigmoid(e))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)


class SpatialGate(nn.Module):
    """Per-position weights: channel descriptors ("conv" = 1x1 conv to one map, "max"/"avg" =
    pooling across channels) are concatenated and encoded by a chain of single-map convs (ReLU
    between them), then a sigmoid (and the affine when `denormalize`).

    descriptors (conv, max, avg) with one 7x7 conv, denormalize: DNANet's sDNA (eq. 9-14);
    descriptors (avg,) with two 3x3 convs: the Efficient HRNet spatial attention module."""

    def __init__(self, channels: int, descriptors: Sequence[str], kernels: Sequence[int],
                 denormalize: bool) -> None:
        super().__init__()
        unknown = [d for d in descriptors if d not in SPATIAL_DESCRIPTORS]
        if unknown or not descriptors or not kernels:
            raise ValueError(f"need descriptors from {SPATIAL_DESCRIPTORS} and at least one kernel")
        self.descriptors = tuple(descriptors)
        self.project = nn.Conv2d(channels, 1, 1) if "conv" in self.descriptors else None
        layers: list[nn.Module] = []
        in_ch = len(self.descriptors)
        for i, k in enumerate(kernels):
            if i:
                layers.append(nn.ReLU(inplace=True))
            layers.append(nn.Conv2d(in_ch, 1, k, padding=k // 2))
            in_ch = 1
        self.encode = nn.Sequential(*layers)
        self.denormalize = DeNormalize() if denormalize else nn.Identity()

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) attention weights for x."""
        maps = []
        for d in self.descriptors:
            if d == "conv":
                maps.append(self.project(x))
            elif d == "max":
                maps.append(x.amax(1, keepdim=True))
            else:
                maps.append(x.mean(1, keepdim=True))
        return self.denormalize(torch.sigmoid(self.encode(torch.cat(maps, dim=1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)


# name -> how a residual unit's gate is built for a given channel count and squeeze size
UNIT_GATES = {
    "channel": lambda c, s: ChannelGate(c, s, ("avg", "max"), relu=False, denormalize=False),
    "cdna": lambda c, s: ChannelGate(c, s, ("avg", "max"), relu=False, denormalize=True),
    "spatial": lambda c, s: SpatialGate(c, ("conv", "max", "avg"), (7,), denormalize=False),
    "sdna": lambda c, s: SpatialGate(c, ("conv", "max", "avg"), (7,), denormalize=True),
}


def unit_attention(names: Sequence[str], channels: int, reduction: int) -> nn.Module | None:
    """The gates a residual unit applies to its residual branch, in order (None when none)."""
    if not names:
        return None
    squeeze = max(1, channels // reduction)
    return nn.Sequential(*(UNIT_GATES[n](channels, squeeze) for n in names))


class AttentionModule(nn.Module):
    """Efficient HRNet's attention module (Fig. 2): channel gate (GAP, 1x1 conv to C/r, ReLU,
    1x1 conv to C, sigmoid), then spatial gate (channel average, two 3x3 convs, sigmoid) on the
    re-weighted features, merged with the input by addition."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        squeeze = max(1, channels // reduction)
        self.channel = ChannelGate(channels, squeeze, ("avg",), relu=True, denormalize=False)
        self.spatial = SpatialGate(channels, ("avg",), (3, 3), denormalize=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.spatial(self.channel(x))


class ResolutionWeights(nn.Module):
    """Softmax weights over the M inputs of one fusion: input h, already brought to the target
    resolution (`terms[h]`, C channels), is global-pooled and mapped by its own 1x1 conv to a
    scalar E_h; W_h = softmax(E)_h, then the affine (DNANet eq. 17-19; RAM eq. 1-2).

    `affine` is "none" (resolution-wise attention), "shared" (one omega and b, DNANet's rDNA) or
    "per_input" (omega_h and beta_h, RAM eq. 2)."""

    AFFINES = ("none", "shared", "per_input")

    def __init__(self, channels: int, num_inputs: int, affine: str) -> None:
        super().__init__()
        if affine not in self.AFFINES:
            raise ValueError(f"affine must be one of {self.AFFINES}, got {affine!r}")
        self.score = nn.ModuleList(nn.Conv2d(channels, 1, 1) for _ in range(num_inputs))
        shapes = {"shared": (1,), "per_input": (num_inputs,)}
        self.denormalize = DeNormalize(shapes[affine]) if affine != "none" else nn.Identity()

    def softmax(self, terms: Sequence[torch.Tensor]) -> torch.Tensor:
        """(B, M) pre-affine weights: they sum to 1 over the inputs."""
        scores = [conv(t.mean((2, 3), keepdim=True)).flatten(1)
                  for conv, t in zip(self.score, terms, strict=True)]
        return torch.softmax(torch.cat(scores, dim=1), dim=1)

    def forward(self, terms: Sequence[torch.Tensor]) -> torch.Tensor:
        """(B, M) weights, one per input."""
        return self.denormalize(self.softmax(terms))
