"""ImageNet initialisation of a ResNet trunk from a torchvision state dict (conv1.weight, bn1.*,
layer1.0.conv1.weight, ..., fc.weight, fc.bias), as SimpleBaseline and FR-SBN start training.

The load is strict by name and shape over the trunk (conv1, bn1, layer1..layer4); the one
documented exception is the ImageNet classifier, `fc.weight` / `fc.bias`, which the pose networks
do not have and which is dropped explicitly. Any other key the file lacks or adds, or a shape
that differs, is a ConfigError naming the file and the first offending keys: a silently partial
load would train from a half-random trunk.

BatchNorm's `num_batches_tracked` counters are the only trunk entries a file may lack: the
checkpoints the official SimpleBaseline/HRNet code uses (resnet50-19c8e357.pth, ...) predate
PyTorch 0.4.1, which added them, and with a fixed BN momentum they change nothing.

`build_model` never reads the file (complexity and tests build without one); the trainer calls
`load_pretrained` when the model spec sets `pretrained`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pose.errors import ConfigError
from pose.models.resnet import ResNet

TRUNK_PREFIXES = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4.")
CLASSIFIER_KEYS = ("fc.weight", "fc.bias")  # ImageNet's 1000-way classifier: dropped
OPTIONAL_SUFFIX = ".num_batches_tracked"  # absent from pre-0.4.1 torchvision files
SHOWN = 5  # offending keys named per kind in an error


def trunk_state(model: ResNet) -> dict[str, torch.Tensor]:
    """The trunk's entries of the model's state dict (sharing storage with its parameters)."""
    return {k: v for k, v in model.state_dict().items() if k.startswith(TRUNK_PREFIXES)}


def _shown(keys: list[str]) -> str:
    more = f" (+{len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain {name: tensor} file; a missing or unreadable one is a ConfigError naming it."""
    if not path.is_file():
        raise ConfigError(
            f"{path}: pretrained checkpoint not found (the model spec's `pretrained`); the data "
            "fetch stage (`pose fetch`) or the user places the ImageNet ResNet weights there"
        )
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt file
        raise ConfigError(f"{path}: not a readable PyTorch state dict ({err})") from err
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ConfigError(
            f"{path}: expected a torchvision ResNet state dict (a mapping of parameter names to "
            "tensors)"
        )
    return dict(state)


def check_trunk_state(
    path: Path, state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> None:
    """Raise ConfigError unless `state` (less fc.*) covers `expected` exactly, shapes equal."""
    missing = [k for k in expected if k not in state and not k.endswith(OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in expected and k not in CLASSIFIER_KEYS]
    mismatched = [
        f"{k} {tuple(state[k].shape)} (model {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"{label}: {_shown(keys)}"
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        )
        if keys
    ]
    if problems:
        raise ConfigError(
            f"{path}: does not match the model's ResNet trunk ({'; '.join(problems)}); expected "
            "a torchvision ResNet state dict of the spec's depth (only fc.weight / fc.bias are "
            "dropped)"
        )


def load_pretrained(model: nn.Module, path: str | Path) -> list[str]:
    """Copy the trunk weights of the torchvision state dict at `path` into `model` (a ResNet
    subclass: SimpleBaseline, FR-SBN); returns the dropped classifier keys."""
    if not isinstance(model, ResNet):
        raise TypeError(f"{type(model).__name__} has no ResNet trunk to load ImageNet weights into")
    path = Path(path)
    state = read_state_dict(path)
    expected = trunk_state(model)
    check_trunk_state(path, state, expected)
    with torch.no_grad():
        for key, tensor in expected.items():
            if key in state:
                tensor.copy_(state[key])
    return [k for k in CLASSIFIER_KEYS if k in state]
