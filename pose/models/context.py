"""FR-SBN's context modules (Ou et al., MMAsia 2020): the global context block (GCNet, Cao et al.
2019) that also hands out its spatial attention heatmap, the spatial-attention-based multi-scale
feature collection and distribution module (SA-MFCD) that reads those heatmaps, and the
concatenate-and-fuse merge both SA-MFCD and the plain skip connection use inside a decoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pose.models.blocks import conv_bn, resize_bilinear


class GlobalContextBlock(nn.Module):
    """GCNet's block (Fig. 1b of FR-SBN): a 1x1 conv gives the spatial attention heatmap (SAH),
    softmax over all positions turns it into attention weights, attention pooling gives one
    C-vector per image, a bottleneck transform (1x1 conv C -> C*ratio, LayerNorm, ReLU, 1x1 conv
    back to C) models channel dependencies, and the vector is added to every position.

    `forward` returns (features, SAH); the SAH is the 1x1 conv's map before the softmax, what
    the paper names the heatmap ("a 1x1 convolution is first used to generate a SAH and followed
    by softmax to generate attention weights"), and what SA-MFCD reads."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        planes = max(1, round(channels * ratio))
        self.conv_mask = nn.Conv2d(channels, 1, kernel_size=1)
        self.channel_add = nn.Sequential(
            nn.Conv2d(channels, planes, kernel_size=1),
            nn.LayerNorm([planes, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, channels, kernel_size=1),
        )

    def init_weights(self) -> None:
        """GCNet's initialisation: the last transform conv starts at zero, so the block starts
        as the identity and a pretrained trunk's features pass through unchanged."""
        nn.init.kaiming_normal_(self.conv_mask.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.conv_mask.bias)
        last = self.channel_add[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(SAH (B,1,H,W), attention weights (B,1,H,W) summing to 1 over the positions)."""
        sah = self.conv_mask(x)
        weights = sah.flatten(2).softmax(dim=-1).view_as(sah)
        return sah, weights

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sah, weights = self.attention(x)
        # attention pooling: sum over positions of x weighted by the softmax -> (B, C, 1, 1)
        context = torch.einsum("bchw,bhw->bc", x, weights[:, 0])[..., None, None]
        return x + self.channel_add(context), sah


class ConcatFuse(nn.Module):
    """A decoder's merge of what reaches it from the encoder: the extra features are resized to
    the deconvolution's output, concatenated with it and fused by 3x3 conv + BN + ReLU back to
    the decoder's width (SA-MFCD's distribution; also the plain skip connection's)."""

    def __init__(self, channels: int, extra_channels: int) -> None:
        super().__init__()
        self.fuse = conv_bn(channels + extra_channels, channels, kernel=3)

    def forward(self, x: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([x, resize_bilinear(extra, x.shape[-2:])], dim=1))


class SAMFCD(nn.Module):
    """Spatial-attention-based multi-scale feature collection (Fig. 1c): the GCB outputs of
    stages 1-3 are upsampled to the highest of their resolutions (stage 1's, stride 4),
    concatenated and fused by 3x3 conv + BN + ReLU to `channels`; their three SAHs are resized
    likewise, concatenated and fused by 3x3 conv + BN + ReLU to one attention map; the product of
    the two is the refined feature map, which the decoders resize to their own resolution
    (`ConcatFuse`)."""

    def __init__(self, in_channels: Sequence[int], channels: int) -> None:
        super().__init__()
        self.out_channels = channels
        self.fuse_features = conv_bn(sum(in_channels), channels, kernel=3)
        self.fuse_attention = conv_bn(len(in_channels), 1, kernel=3)

    def forward(
        self, features: Sequence[torch.Tensor], heatmaps: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        size = max((f.shape[-2:] for f in features), key=lambda s: s[0] * s[1])
        feats = torch.cat([resize_bilinear(f, size) for f in features], dim=1)
        sahs = torch.cat([resize_bilinear(s, size) for s in heatmaps], dim=1)
        return self.fuse_features(feats) * self.fuse_attention(sahs)
