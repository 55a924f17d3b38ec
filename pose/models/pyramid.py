"""DANet's single pyramid (Luo et al., Sec. III, Fig. 3): the four backbone levels are brought to
one width by lateral 1x1 convs and merged from the coarsest level up (the paper's "bottom-up
path") by a sum or the second-order fusion unit (SFU, Sec. III-B); a regressor turns the finest
merged map into heatmaps. The lateral units follow the single-stage MSPN / CPN GlobalNet the
paper compares against (1x1 conv + BN, ReLU after each merge); the upsampling unit is MSPN's
(bilinear, then 1x1 conv + BN) or a 4x4 stride-2 transposed conv + BN (`upsample`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pose.models.blocks import BN_MOMENTUM, conv_bn, resize_bilinear
from pose.models.dense import bn_relu_conv
from pose.models.heads import make_final_layer


class SecondOrderFusion(nn.Module):
    """SFU (eq. 3): lambda = Sigmoid(theta(Cat(f_td, f_bu))), f = lambda f_td + (1 - lambda)
    f_bu. theta is Fig. 4's three-layer block: BN-ReLU-1x1 conv from the concatenation to
    `hidden` channels, BN-ReLU-9x9 depthwise conv, BN-ReLU-1x1 conv to one weight map."""

    def __init__(self, channels: int, hidden: int, kernel: int) -> None:
        super().__init__()
        self.theta = nn.Sequential(
            bn_relu_conv(2 * channels, hidden, 1),
            bn_relu_conv(hidden, hidden, kernel, groups=hidden),
            bn_relu_conv(hidden, 1, 1),
        )

    def weights(self, f_td: torch.Tensor, f_bu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(lambda, 1 - lambda), each (B, 1, H, W): they sum to 1 at every pixel."""
        lam = torch.sigmoid(self.theta(torch.cat([f_td, f_bu], dim=1)))
        return lam, 1 - lam

    def forward(self, f_td: torch.Tensor, f_bu: torch.Tensor) -> torch.Tensor:
        lam, rest = self.weights(f_td, f_bu)
        return lam * f_td + rest * f_bu


class SumFusion(nn.Module):
    """The plain merge of a feature pyramid: f_td + f_bu."""

    def forward(self, f_td: torch.Tensor, f_bu: torch.Tensor) -> torch.Tensor:
        return f_td + f_bu


def upsample_unit(kind: str, width: int) -> nn.Sequential:
    """f_bu from the coarser merged map. "bilinear": MSPN's unit, a 1x1 conv + BN applied after
    bilinear upsampling (in SinglePyramid.forward). "deconv": a learned 2x upsampling, 4x4
    stride-2 transposed conv + BN (SimpleBaseline's deconv layer), 16x the weights of the 1x1."""
    if kind == "deconv":
        return nn.Sequential(
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width, momentum=BN_MOMENTUM),
        )
    return conv_bn(width, width, 1, relu=False)


class SinglePyramid(nn.Module):
    """Levels (finest first) -> the finest merged map at `width` channels: x_L = ReLU(lat_L), then
    from coarse to fine x_l = ReLU(fuse(lat_l, up_l(x_{l+1}))), lat a 1x1 conv + BN of the backbone
    level ("top-down" features f_td), up the `upsample` unit (f_bu)."""

    def __init__(self, channels: Sequence[int], width: int, fusion: str, sfu_hidden: int,
                 sfu_kernel: int, upsample: str = "bilinear") -> None:
        super().__init__()
        self.lateral = nn.ModuleList(conv_bn(c, width, 1, relu=False) for c in channels)
        self.upsample = upsample
        self.up = nn.ModuleList(upsample_unit(upsample, width) for _ in channels[:-1])
        self.fuse = nn.ModuleList(
            SecondOrderFusion(width, sfu_hidden, sfu_kernel) if fusion == "sfu" else SumFusion()
            for _ in channels[:-1]
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self.relu(self.lateral[-1](levels[-1]))
        for i in reversed(range(len(levels) - 1)):
            f_td = self.lateral[i](levels[i])
            if self.upsample == "deconv":
                f_bu = self.up[i](x)
                if f_bu.shape[-2:] != f_td.shape[-2:]:
                    raise ValueError(
                        f"pyramid upsample 'deconv' doubles a {tuple(x.shape[-2:])} map to "
                        f"{tuple(f_bu.shape[-2:])}, but level {i} is {tuple(f_td.shape[-2:])}: "
                        "the input height and width must be multiples of 32"
                    )
            else:  # MSPN's up path: bilinear with corners aligned
                f_bu = self.up[i](resize_bilinear(x, f_td.shape[-2:], align_corners=True))
            x = self.relu(self.fuse[i](f_td, f_bu))
        return x


class Regressor(nn.Module):
    """Heatmaps from the aggregated representation: 1x1 conv + BN + ReLU at the pyramid width,
    then the final conv to one heatmap per joint (MSPN's res_conv1 / res_conv2 on its finest
    level; the final conv keeps its bias, as every final layer here)."""

    def __init__(self, width: int, num_joints: int, final_kernel: int) -> None:
        super().__init__()
        self.hidden = conv_bn(width, width, 1)
        self.final_layer = make_final_layer(width, num_joints, final_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.hidden(x))
