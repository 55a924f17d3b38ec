"""ImageNet initialisation of a pose network's trunk, as the official SimpleBaseline / HRNet code
starts training: a torchvision ResNet state dict (conv1.weight, bn1.*, layer1.0.conv1.weight, ...,
fc.*) for the ResNet families, an HRNet-Image-Classification one (hrnet_w32-36af842e.pth, ...) for
HRNet and its variants.

The load is strict by name and shape over the trunk the file was trained as. A file must hold
every trunk entry; what it may hold besides is the classification head, dropped explicitly (ResNet:
`fc.weight` / `fc.bias`; HRNet: incre_modules, downsamp_modules, final_layer, classifier) and, for
HRNet, the fuse layers of the last stage-4 module towards branches 2..4, which the classification
network keeps (every output branch) and the pose network lacks (it fuses to the top branch only).
Any other key the file lacks or adds, or a shape that differs, is a ConfigError naming the file
and the first offending keys: a silently partial load would train from a half-random trunk.

The HRNet trunk is that of the plain HRNet of the model's widths and depths, built from a spec
whose variant keys (every HRNetSpec field with a default) are left at their defaults; the
model's other entries (attention gates, rDNA/RAM weights, fine-to-coarse links, attention
modules, the pose head) are the variants' additions and keep their initialisation. The pose
`final_layer` is never read from the file. A model whose head reads every branch keeps the last
module's fuse layers towards branches 2..4; those load from the file like the rest of the trunk.

BatchNorm's `num_batches_tracked` counters are the only trunk entries a file may lack: the
checkpoints the official code uses (resnet50-19c8e357.pth, ...) predate PyTorch 0.4.1, which added
them, and with a fixed BN momentum they change nothing.

`build_model` never reads the file (complexity and tests build without one); the trainer calls
`load_pretrained` when the model spec sets `pretrained`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pose.errors import ConfigError
from pose.models.hrnet import HRNet
from pose.models.resnet import ResNet
from pose.models.spec import HRNetSpec, RescaleSumHeadSpec, SimpleHeadSpec

TRUNK_PREFIXES = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4.")
CLASSIFIER_KEYS = ("fc.weight", "fc.bias")  # ImageNet's 1000-way classifier: dropped
# The official pose_hrnet's PRETRAINED_LAYERS: the modules it reads from the ImageNet file.
HRNET_PRETRAINED_LAYERS = ("conv1", "bn1", "conv2", "bn2", "layer1", "transition1", "stage2",
                           "transition2", "stage3", "transition3", "stage4")
# HRNet-Image-Classification's head (our pose head is also called final_layer: never loaded).
HRNET_CLASSIFIER_MODULES = ("incre_modules", "downsamp_modules", "final_layer", "classifier")
OPTIONAL_SUFFIX = ".num_batches_tracked"  # absent from pre-0.4.1 files
SHOWN = 5  # offending keys named per kind in an error

Shapes = dict[str, torch.Size]


@dataclass(frozen=True)
class Layout:
    """What an ImageNet file must and may hold for one model.

    `required`: the trunk entries (with the model's shapes), loaded from the file; `optional`:
    entries the file may hold beside them (shapes checked), loaded where the model has them and
    dropped otherwise; `is_head`: the file's classification head, dropped whatever its shape.
    `trunk` and `expected` word the error message."""

    trunk: str
    expected: str
    required: Shapes
    is_head: Callable[[str], bool]
    optional: Shapes = dataclasses.field(default_factory=dict)


def _shown(keys: list[str]) -> str:
    more = f" (+{len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def _shapes(state: Mapping[str, torch.Tensor], keep: Callable[[str], bool]) -> Shapes:
    return {k: v.shape for k, v in state.items() if keep(k)}


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain {name: tensor} file; a missing or unreadable one is a ConfigError naming it."""
    if not path.is_file():
        raise ConfigError(
            f"{path}: pretrained checkpoint not found (the model spec's `pretrained`); the data "
            "fetch stage (`pose fetch`) or the user places the ImageNet weights there"
        )
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt file
        raise ConfigError(f"{path}: not a readable PyTorch state dict ({err})") from err
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ConfigError(
            f"{path}: expected an ImageNet classification state dict (a mapping of parameter "
            "names to tensors)"
        )
    return dict(state)


# --------------------------------------------------------------------------- layouts


def resnet_layout(model: ResNet) -> Layout:
    """torchvision's ResNet: the trunk (conv1, bn1, layer1..layer4) plus `fc`."""
    return Layout(
        trunk="ResNet",
        expected="a torchvision ResNet state dict of the spec's depth (only fc.weight / fc.bias "
                 "are dropped)",
        required=_shapes(model.state_dict(), lambda k: k.startswith(TRUNK_PREFIXES)),
        is_head=lambda k: k in CLASSIFIER_KEYS,
    )


def _hrnet_trunk_spec(model: HRNet) -> HRNetSpec:
    """The spec's required keys read back from the built model; every key with a default (the
    variant keys: fusion, gates, fine-to-coarse, attention modules, ...) stays at its default,
    which is the plain HRNet. A required key added to HRNetSpec fails here by name."""
    stages = [getattr(model, f"stage{k + 1}") for k in range(1, model.num_stages + 1)]
    return HRNetSpec(
        family="hrnet",
        num_joints=1,  # the head is never loaded
        width=stages[0][0].branches[0][0].conv1.out_channels,
        stem_width=model.conv1.out_channels,
        stage1_blocks=len(model.layer1),
        stage_modules=tuple(len(stage) for stage in stages),
        stage_blocks=tuple(len(stage[0].branches[0]) for stage in stages),
        head=SimpleHeadSpec(type="simple", final_kernel=1),
    )


def _hrnet_trunk(spec: HRNetSpec) -> Shapes:
    """The entries of HRNet(spec) under the pretrained layers, built without allocating."""
    with torch.device("meta"):
        state = HRNet(spec).state_dict()
    return _shapes(state, lambda k: k.split(".", 1)[0] in HRNET_PRETRAINED_LAYERS)


def hrnet_layout(model: HRNet, path: Path) -> Layout:
    """HRNet-Image-Classification: the plain pose HRNet's trunk, plus the fuse layers its last
    module keeps for every output branch (the trunk of a head that reads every branch)."""
    plain = _hrnet_trunk_spec(model)
    required = _hrnet_trunk(plain)
    every_branch = dataclasses.replace(plain, head=RescaleSumHeadSpec("rescale_sum", 1))
    optional = {k: v for k, v in _hrnet_trunk(every_branch).items() if k not in required}
    ours = model.state_dict()
    changed = [
        f"{k} {tuple(ours[k].shape)} (plain HRNet {tuple(v)})" if k in ours else k
        for k, v in {**required, **optional}.items()
        if (k in ours and ours[k].shape != v) or (k in required and k not in ours)
    ]
    if changed:
        raise ConfigError(
            f"{path}: the model's spec changes entries of the plain HRNet trunk the ImageNet "
            f"file initialises ({_shown(changed)}); set pretrained: null for this model"
        )
    return Layout(
        trunk="HRNet",
        expected=f"an HRNet-Image-Classification state dict of width {plain.width} "
                 f"(hrnet_w{plain.width}-*.pth; only {' / '.join(HRNET_CLASSIFIER_MODULES)} are "
                 "dropped, and the last stage-4 module's fuse layers to branches 2-4 where the "
                 "model fuses to the top branch only)",
        required=required,
        is_head=lambda k: k.split(".", 1)[0] in HRNET_CLASSIFIER_MODULES,
        optional=optional,
    )


def layout_of(model: nn.Module, path: Path) -> Layout:
    """The ImageNet layout of the model's trunk (ResNet families, HRNet and its variants)."""
    if isinstance(model, ResNet):
        return resnet_layout(model)
    if isinstance(model, HRNet):
        return hrnet_layout(model, path)
    raise TypeError(f"{type(model).__name__} has no ResNet or HRNet trunk to load ImageNet "
                    "weights into")


# --------------------------------------------------------------------------- check and load


def check_state(path: Path, state: Mapping[str, torch.Tensor], layout: Layout) -> None:
    """Raise ConfigError unless `state`, less its head, holds every required entry and nothing
    outside the layout, each with the layout's shape."""
    known = {**layout.optional, **layout.required}
    missing = [k for k in layout.required if k not in state and not k.endswith(OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in known and not layout.is_head(k)]
    mismatched = [
        f"{k} {tuple(state[k].shape)} (model {tuple(shape)})"
        for k, shape in known.items()
        if k in state and state[k].shape != shape
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
            f"{path}: does not match the model's {layout.trunk} trunk ({'; '.join(problems)}); "
            f"expected {layout.expected}"
        )


def load_pretrained(model: nn.Module, path: str | Path) -> list[str]:
    """Copy the trunk weights of the ImageNet state dict at `path` into `model` (SimpleBaseline,
    FR-SBN, HRNet or an HRNet variant); returns the file's keys that were dropped, in file order.
    Nothing is written into the model unless the whole file checks out."""
    path = Path(path)
    layout = layout_of(model, path)
    state = read_state_dict(path)
    check_state(path, state, layout)
    ours = model.state_dict()
    loaded = [k for k in state if k in layout.required or (k in layout.optional and k in ours)]
    with torch.no_grad():
        for key in loaded:
            ours[key].copy_(state[key])
    taken = set(loaded)
    return [k for k in state if k not in taken]
