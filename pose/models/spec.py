"""Typed model specs, one dataclass per family: every key of a params/models.yaml entry is checked
(name, type, allowed value) before any weights are allocated, so a typo fails fast and by name."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pose.errors import ConfigError
from pose.spec import from_dict

RESNET_DEPTHS = (18, 34, 50, 101, 152)
FINAL_KERNELS = (1, 3)  # the official code pads 1 for a 3x3 final conv, 0 for 1x1
DECONV_KERNELS = (2, 3, 4)  # the kernels the official SimpleBaseline knows a padding for
FUSIONS = ("sum",)
UNIT_ATTENTIONS: tuple[str, ...] = ()  # none implemented yet; the key exists for later variants


def check_choice(value: Any, allowed: Iterable[Any], where: str) -> None:
    """Reject a value outside a closed set, listing the allowed values."""
    allowed = tuple(allowed)
    if value not in allowed:
        shown = list(allowed) if allowed else "[] (none implemented yet)"
        raise ConfigError(f"{where}: {value!r} is not allowed; allowed values: {shown}")


def check_positive(value: int, where: str) -> None:
    """Reject zero or negative sizes and counts."""
    if value < 1:
        raise ConfigError(f"{where}: must be >= 1, got {value!r}")


@dataclass(frozen=True)
class SimpleHeadSpec:
    """One conv from the highest-resolution features to one heatmap per joint (HRNet)."""

    type: str
    final_kernel: int

    def check(self, where: str) -> None:
        check_choice(self.final_kernel, FINAL_KERNELS, f"{where}.final_kernel")


@dataclass(frozen=True)
class DeconvHeadSpec:
    """Stride-2 transposed convs (+BN+ReLU) then the final conv (SimpleBaseline)."""

    type: str
    deconv_layers: int
    deconv_channels: int
    deconv_kernel: int
    final_kernel: int

    def check(self, where: str) -> None:
        check_positive(self.deconv_layers, f"{where}.deconv_layers")
        check_positive(self.deconv_channels, f"{where}.deconv_channels")
        check_choice(self.deconv_kernel, DECONV_KERNELS, f"{where}.deconv_kernel")
        check_choice(self.final_kernel, FINAL_KERNELS, f"{where}.final_kernel")


HeadSpec = SimpleHeadSpec | DeconvHeadSpec
HEAD_TYPES: dict[str, type[SimpleHeadSpec] | type[DeconvHeadSpec]] = {
    "simple": SimpleHeadSpec,
    "deconv": DeconvHeadSpec,
}


def parse_head(data: Any, allowed: tuple[str, ...], where: str) -> HeadSpec:
    """Build the head spec chosen by its `type` key (a tagged union)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    if "type" not in data:
        raise ConfigError(f"{where}: missing required key 'type'; allowed values: {list(allowed)}")
    check_choice(data["type"], allowed, f"{where}.type")
    head = from_dict(HEAD_TYPES[data["type"]], data, where)
    head.check(where)
    return head


@dataclass(frozen=True)
class HRNetSpec:
    """HRNet (Sun et al., CVPR 2019). Branch b of every stage has width * 2**b channels; stage
    k+1 (k = 1..len(stage_modules)) has k+1 branches, stage_modules[k-1] modules and
    stage_blocks[k-1] BasicBlocks per branch. Stage 1 is stage1_blocks Bottlenecks with
    stem_width planes (output 4 * stem_width channels)."""

    family: str
    num_joints: int
    width: int
    stem_width: int
    stage1_blocks: int
    stage_modules: tuple[int, ...]
    stage_blocks: tuple[int, ...]
    head: HeadSpec
    fusion: str = "sum"
    unit_attention: tuple[str, ...] = ()
    # Choices made where the paper is ambiguous, each with its reason (listed by the report).
    assumptions: tuple[str, ...] = ()

    head_types = ("simple",)

    def check(self, where: str) -> None:
        for key in ("num_joints", "width", "stem_width", "stage1_blocks"):
            check_positive(getattr(self, key), f"{where}.{key}")
        if not self.stage_modules:
            raise ConfigError(f"{where}.stage_modules: needs at least one stage")
        if len(self.stage_blocks) != len(self.stage_modules):
            raise ConfigError(
                f"{where}.stage_blocks: has {len(self.stage_blocks)} entries but stage_modules "
                f"has {len(self.stage_modules)}; give one per stage"
            )
        for key in ("stage_modules", "stage_blocks"):
            for i, n in enumerate(getattr(self, key)):
                check_positive(n, f"{where}.{key}[{i}]")
        check_choice(self.fusion, FUSIONS, f"{where}.fusion")
        for i, name in enumerate(self.unit_attention):
            check_choice(name, UNIT_ATTENTIONS, f"{where}.unit_attention[{i}]")


@dataclass(frozen=True)
class SimpleBaselineSpec:
    """SimpleBaseline (Xiao et al., ECCV 2018): ResNet trunk (stride 32) + deconv head."""

    family: str
    num_joints: int
    depth: int
    head: HeadSpec
    base_width: int = 64
    assumptions: tuple[str, ...] = ()

    head_types = ("deconv",)

    def check(self, where: str) -> None:
        check_positive(self.num_joints, f"{where}.num_joints")
        check_choice(self.depth, RESNET_DEPTHS, f"{where}.depth")
        check_positive(self.base_width, f"{where}.base_width")
        # Each deconv doubles the resolution: 1/32 -> 1/4 takes exactly three.
        check_choice(self.head.deconv_layers, (3,), f"{where}.head.deconv_layers")


ModelSpec = HRNetSpec | SimpleBaselineSpec
FAMILIES: dict[str, type[HRNetSpec] | type[SimpleBaselineSpec]] = {
    "hrnet": HRNetSpec,
    "simplebaseline": SimpleBaselineSpec,
}


def parse_spec(data: Any, where: str = "model") -> ModelSpec:
    """Validate a raw model mapping into its family's typed spec (no weights are built)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    if "family" not in data:
        raise ConfigError(
            f"{where}: missing required key 'family'; allowed values: {sorted(FAMILIES)}"
        )
    check_choice(data["family"], sorted(FAMILIES), f"{where}.family")
    cls = FAMILIES[data["family"]]
    spec = from_dict(cls, data, where)
    head = parse_head(data["head"], cls.head_types, f"{where}.head")
    spec = dataclasses.replace(spec, head=head)
    spec.check(where)
    return spec
