"""Densely connected backbones: DANet's orthogonal attention blocks (Luo et al., "Efficient Human
Pose Estimation by Learning Deeply Aggregated Representations", Sec. III-A, Table I) and the
standard DenseNet-121/169 layouts (Huang et al., CVPR 2017) of its Table IX, one code path whose
keys (stem, bottleneck width, transition widths, pooling, attention units) pick the variant.

Every k x k "convolution block" is BN-ReLU-conv, as the caption of DANet's Fig. 4 says."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pose.models.attention import ChannelGate
from pose.models.blocks import BN_MOMENTUM, conv_bn
from pose.models.spec import DenseBackboneSpec

# How the mask M multiplies the new features (Table VI): OAB's (1 - M), MAU-Variant1's M and
# MAU-Variant2's (1 + M).
MAU_FACTORS = {
    "one_minus": lambda m: 1 - m,
    "times": lambda m: m,
    "one_plus": lambda m: 1 + m,
}


def bn_relu_conv(in_ch: int, out_ch: int, kernel: int, groups: int = 1) -> nn.Sequential:
    """Fig. 4's k x k block: BN, ReLU, then a bias-free conv keeping the resolution."""
    return nn.Sequential(
        nn.BatchNorm2d(in_ch, momentum=BN_MOMENTUM),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, groups=groups, bias=False),
    )


def pointwise_depthwise(in_ch: int, out_ch: int, kernel: int, relu: bool) -> nn.Sequential:
    """BN-ReLU-1x1 conv to `out_ch`, then BN[-ReLU] and a k x k depthwise conv. Without the second
    ReLU it is the xunit map generator (BN straight into the depthwise conv); with it, two of
    Fig. 4's BN-ReLU-conv blocks, MAU's psi (DANet: 'similar settings can also be found in [23],
    [24]'). Module indices are those of one flat Sequential."""
    depthwise = bn_relu_conv(out_ch, out_ch, kernel, groups=out_ch)
    if not relu:
        del depthwise[1]
    return nn.Sequential(*bn_relu_conv(in_ch, out_ch, 1), *depthwise)


class MaskAttentionUnit(nn.Module):
    """MAU (eq. 1): M = Sigmoid(Abs(psi(f_p))) is high where the layer input f_p already responds;
    the new features are multiplied by (1 - M) so that what f_p represents is masked out of them
    (`mode` "times" / "one_plus" are Table VI's MAU-Variant1 / -2). psi maps f_p to one map per
    new channel: BN-ReLU-1x1 conv to the growth width, then BN-ReLU-9x9 depthwise conv (Fig. 4's
    k x k blocks are all BN-ReLU-conv)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, mode: str) -> None:
        super().__init__()
        self.psi = pointwise_depthwise(in_ch, out_ch, kernel, relu=True)
        self.mode = mode
        self.factor = MAU_FACTORS[mode]

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"

    def mask(self, f_p: torch.Tensor) -> torch.Tensor:
        """M in [0.5, 1): 0.5 where psi(f_p) is 0, towards 1 where |psi(f_p)| is large."""
        return torch.sigmoid(self.psi(f_p).abs())

    def forward(self, f_p: torch.Tensor, f_n: torch.Tensor) -> torch.Tensor:
        return f_n * self.factor(self.mask(f_p))


class XUnit(nn.Module):
    """xunit (Kligvasser et al., CVPR 2018), Table VI's alternative spatial attention: the new
    features gate themselves by a Gaussian exp(-d^2) of a pointwise + 9x9 depthwise map."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.features = pointwise_depthwise(channels, channels, kernel, relu=False)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.features(x).square())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class DenseLayer(nn.Module):
    """One layer of a dense / orthogonal attention block (eq. 2): f_n = phi(f_p x C) x (1 - M),
    output Cat(f_p, f_n). phi is BN-ReLU-1x1 conv to `bottleneck`, BN-ReLU-3x3 conv to `growth`.

    `cau_position` says which input the channel weights C = CA(f_p) scale (Table V):
    "before_bottleneck" phi's only (OAB), "before_split" both phi's and the MAU's, "before_mask"
    the MAU's only. C scales f_p itself, before the first BN of phi / psi (eq. 2: phi(f_p x C));
    in training that BN cancels the part of C shared by the batch."""

    def __init__(self, in_ch: int, spec: DenseBackboneSpec) -> None:
        super().__init__()
        self.bottleneck = bn_relu_conv(in_ch, spec.bottleneck, 1)
        self.conv = bn_relu_conv(spec.bottleneck, spec.growth, 3)
        squeeze = spec.cau_squeeze
        self.cau = (ChannelGate(in_ch, squeeze, ("avg",), relu=True, denormalize=False)
                    if spec.cau else None)
        self.cau_position = spec.cau_position
        self.mau = (MaskAttentionUnit(in_ch, spec.growth, spec.attention_kernel, spec.mau_mode)
                    if spec.mau else None)
        self.xunit = XUnit(spec.growth, spec.attention_kernel) if spec.xunit else None

    def new_features(self, f_p: torch.Tensor) -> torch.Tensor:
        """f_n, the `growth` channels this layer adds."""
        phi_in = mask_in = f_p
        if self.cau is not None:
            scaled = self.cau(f_p)
            if self.cau_position in ("before_bottleneck", "before_split"):
                phi_in = scaled
            if self.cau_position in ("before_split", "before_mask"):
                mask_in = scaled
        f_n = self.conv(self.bottleneck(phi_in))
        if self.xunit is not None:
            f_n = self.xunit(f_n)
        if self.mau is not None:
            f_n = self.mau(mask_in, f_n)
        return f_n

    def forward(self, f_p: torch.Tensor) -> torch.Tensor:
        return torch.cat([f_p, self.new_features(f_p)], dim=1)


def make_stem(kind: str, width: int) -> nn.Sequential:
    """Stride-4 stem, conv + BN + ReLU. "danet": Table I's 7x7 s2 and 3x3 s2 convs; "densenet":
    7x7 s2 conv and 3x3 s2 max pooling (Huang et al.)."""
    layers: list[nn.Module] = [*conv_bn(3, width, 7, stride=2)]
    if kind == "danet":
        layers += [*conv_bn(width, width, 3, stride=2)]
    else:
        layers.append(nn.MaxPool2d(3, stride=2, padding=1))
    return nn.Sequential(*layers)


def make_transition(in_ch: int, out_ch: int | None) -> nn.Sequential:
    """BN-ReLU-1x1 conv to the Table I width; with no width only BN-ReLU (DenseNet's norm5 and
    the ReLU its classifier applies, ending a standard DenseNet)."""
    if out_ch is None:
        return nn.Sequential(nn.BatchNorm2d(in_ch, momentum=BN_MOMENTUM), nn.ReLU(inplace=True))
    return bn_relu_conv(in_ch, out_ch, 1)


def make_pool(kind: str) -> nn.Module:
    """Downsampling between blocks: Table I's 3x3 max pooling stride 2, or DenseNet's 2x2
    average pooling stride 2."""
    if kind == "max":
        return nn.MaxPool2d(3, stride=2, padding=1)
    return nn.AvgPool2d(2, stride=2)


class DenseBackbone(nn.Module):
    """Stem, then per stage a dense block and its transition; the transition outputs are the
    pyramid's four levels (strides 4, 8, 16, 32), pooled between stages (none after the last)."""

    def __init__(self, spec: DenseBackboneSpec) -> None:
        super().__init__()
        self.stem = make_stem(spec.stem, spec.stem_width)
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        self.pools = nn.ModuleList(make_pool(spec.pool) for _ in spec.blocks[1:])
        in_ch = spec.stem_width
        stage_channels = []
        for layers, width in zip(spec.blocks, spec.transitions, strict=True):
            block = []
            for _ in range(layers):
                block.append(DenseLayer(in_ch, spec))
                in_ch += spec.growth
            self.blocks.append(nn.Sequential(*block))
            self.transitions.append(make_transition(in_ch, width))
            in_ch = in_ch if width is None else width
            stage_channels.append(in_ch)
        self.stage_channels: tuple[int, ...] = tuple(stage_channels)

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Transition outputs of every stage, finest first."""
        x = self.stem(x)
        outs = []
        for i, (block, transition) in enumerate(zip(self.blocks, self.transitions, strict=True)):
            if i:
                x = self.pools[i - 1](x)
            x = transition(block(x))
            outs.append(x)
        return outs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.stages(x)


def danet_depth(blocks: Sequence[int], stem_convs: int = 2, transitions: int = 4) -> int:
    """DANet-S naming (Sec. III-C): S counts the conv layers of the top-down path, two per dense
    layer, plus the stem convs and the transitions (DANet-102: 2 x 48 + 2 + 4)."""
    return 2 * sum(blocks) + stem_convs + transitions
