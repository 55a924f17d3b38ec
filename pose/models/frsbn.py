"""FR-SBN: full-resolution SimpleBaseline with global context blocks and SA-MFCD (Ou, Chen and Wu,
"Full-Resolution Encoder-Decoder Networks with Multi-Scale Feature Fusion for Human Pose
Estimation", MMAsia 2020). One class composes every row of its Table 1 from the spec's keys:
three decoders alone are SimpleBaseline (SBN), five are FR-SBN, `gcb` adds the global context
blocks, `fusion` the plain skip connection or SA-MFCD. Like SimpleBaseline it subclasses the
ResNet trunk, so the trunk's weights keep torchvision's names (conv1, bn1, layer1..4) and an
ImageNet checkpoint loads by name (pose.models.pretrained)."""

from __future__ import annotations

import torch
from torch import nn

from pose.models.blocks import init_weights
from pose.models.context import SAMFCD, ConcatFuse, GlobalContextBlock
from pose.models.heads import deconv_bn, make_final_layer
from pose.models.resnet import ResNet
from pose.models.spec import FRSBNSpec

GCB_DECODERS = 3  # GCBs follow the four ResNet stages and the first three decoders
SKIP_SOURCES = {1: 3, 2: 2, 3: 1}  # decoder -> the ResNet stage of its output resolution
MFCD_SOURCES = (1, 2, 3)  # ResNet stages SA-MFCD collects
MFCD_TARGETS = (2, 3, 4)  # decoders SA-MFCD feeds


class FRSBN(ResNet):
    """(B,3,H,W) -> (B,num_joints,H/s,W/s) heatmaps, s = spec.output_stride (1 with five
    decoders, 4 with three)."""

    def __init__(self, spec: FRSBNSpec) -> None:
        super().__init__(spec.depth, spec.base_width)
        self.spec = spec
        stage_ch = self.stage_channels
        widths = spec.decoder_channels
        decoders: list[nn.Module] = []
        in_ch = self.out_channels
        for out_ch in widths:
            decoders.append(nn.Sequential(*deconv_bn(in_ch, out_ch, spec.deconv_kernel),
                                          nn.ReLU(inplace=True)))
            in_ch = out_ch
        self.decoders = nn.ModuleList(decoders)
        if spec.gcb:
            self.stage_gcbs = nn.ModuleList(
                GlobalContextBlock(c, spec.gcb_ratio) for c in stage_ch
            )
            self.decoder_gcbs = nn.ModuleList(
                GlobalContextBlock(c, spec.gcb_ratio) for c in widths[:GCB_DECODERS]
            )
        # Decoder number (1-based, as the paper counts) -> its concatenate-and-fuse merge.
        merges: dict[str, nn.Module] = {}
        if spec.fusion == "skip":
            for d, stage in SKIP_SOURCES.items():
                if d <= spec.decoders:
                    merges[str(d)] = ConcatFuse(widths[d - 1], stage_ch[stage - 1])
        elif spec.fusion == "sa_mfcd":
            self.mfcd = SAMFCD([stage_ch[s - 1] for s in MFCD_SOURCES], spec.mfcd_channels)
            for d in MFCD_TARGETS:
                merges[str(d)] = ConcatFuse(widths[d - 1], spec.mfcd_channels)
        self.merges = nn.ModuleDict(merges)
        self.final_layer = make_final_layer(widths[-1], spec.num_joints, spec.final_kernel)
        init_weights(self)
        for m in self.modules():
            if isinstance(m, GlobalContextBlock):
                m.init_weights()

    @property
    def output_stride(self) -> int:
        return self.spec.output_stride

    def encode(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Stage outputs (after their GCBs, which sit inside the encoder) and the GCBs' spatial
        attention heatmaps (empty without GCBs)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feats: list[torch.Tensor] = []
        sahs: list[torch.Tensor] = []
        for i, layer in enumerate((self.layer1, self.layer2, self.layer3, self.layer4)):
            x = layer(x)
            if self.spec.gcb:
                x, sah = self.stage_gcbs[i](x)
                sahs.append(sah)
            feats.append(x)
        return feats, sahs

    def decoder_inputs(
        self, feats: list[torch.Tensor], sahs: list[torch.Tensor]
    ) -> dict[int, torch.Tensor]:
        """What each decoder (by number) merges from the encoder."""
        if self.spec.fusion == "skip":
            return {d: feats[s - 1] for d, s in SKIP_SOURCES.items() if str(d) in self.merges}
        if self.spec.fusion == "sa_mfcd":
            refined = self.mfcd([feats[s - 1] for s in MFCD_SOURCES],
                                [sahs[s - 1] for s in MFCD_SOURCES])
            return dict.fromkeys(MFCD_TARGETS, refined)
        return {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats, sahs = self.encode(x)
        extra = self.decoder_inputs(feats, sahs)
        x = feats[-1]
        for d, decoder in enumerate(self.decoders, start=1):
            x = decoder(x)
            if d in extra:
                x = self.merges[str(d)](x, extra[d])
            if self.spec.gcb and d <= GCB_DECODERS:
                x, _ = self.decoder_gcbs[d - 1](x)
        return self.final_layer(x)
