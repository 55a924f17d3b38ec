"""Image classifiers of DANet's Table X: the dense backbone of pose.models.dense (DenseNet-169 /
201, their dense blocks plain, OABs or Dense xUnit layers as its keys say), then DenseNet's
classifier: the final BN-ReLU (the last transition without a width), global average pooling and
one linear layer.

`torchvision_to_dense` renames a standard DenseNet state dict (torchvision's
`features.denseblock1.denselayer1.norm1.weight`, ...) to this module's names, so ImageNet
DenseNet weights load strictly into a plain DenseNet classifier."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from pose.errors import ConfigError
from pose.models.dense import DenseBackbone
from pose.models.spec import ClassifierSpec


class DenseClassifier(nn.Module):
    """(B,3,H,W) -> (B,num_classes) logits."""

    def __init__(self, spec: ClassifierSpec) -> None:
        super().__init__()
        self.backbone = DenseBackbone(spec.backbone)
        self.classifier = nn.Linear(self.backbone.stage_channels[-1], spec.num_classes)
        init_classifier(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone.stages(x)[-1]
        return self.classifier(features.mean((2, 3)))


def init_classifier(model: nn.Module) -> None:
    """DenseNet's initialisation (Huang et al.'s code, torchvision): convs Kaiming-normal, BN
    (1, 0), linear biases 0 (weights keep PyTorch's default)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.constant_(m.bias, 0)


# torchvision module path -> this module's (a dense layer's BN-ReLU-conv pairs are Sequentials
# whose BN is .0 and conv .2; the stem is conv .0, BN .1).
_LAYER = r"features\.denseblock(\d+)\.denselayer(\d+)\."
_RENAMES = (
    (r"features\.conv0\.", "backbone.stem.0."),
    (r"features\.norm0\.", "backbone.stem.1."),
    (_LAYER + r"norm1\.", "backbone.blocks.{0}.{1}.bottleneck.0."),
    (_LAYER + r"conv1\.", "backbone.blocks.{0}.{1}.bottleneck.2."),
    (_LAYER + r"norm2\.", "backbone.blocks.{0}.{1}.conv.0."),
    (_LAYER + r"conv2\.", "backbone.blocks.{0}.{1}.conv.2."),
    (r"features\.transition(\d+)\.norm\.", "backbone.transitions.{0}.0."),
    (r"features\.transition(\d+)\.conv\.", "backbone.transitions.{0}.2."),
    (r"features\.norm5\.", "backbone.transitions.3.0."),
    (r"classifier\.", "classifier."),
)


def torchvision_name(key: str) -> str:
    """This module's name for one torchvision DenseNet key (block and layer numbers from 1 there,
    from 0 here); a key outside DenseNet's scheme is a ConfigError."""
    for pattern, template in _RENAMES:
        m = re.match(pattern, key)
        if m:
            numbers = [str(int(g) - 1) for g in m.groups()]
            return template.format(*numbers) + key[m.end():]
    raise ConfigError(f"{key!r} is not a torchvision DenseNet state-dict name")


def torchvision_to_dense(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A torchvision DenseNet state dict under DenseClassifier's names."""
    return {torchvision_name(k): v for k, v in state_dict.items()}
