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
# How a fusion combines the branches brought to one resolution: HRNet's plain sum; softmax
# weights over resolutions shared by every output (DNANet's resolution-wise attention, and rDNA
# with its affine); per-output weights with a per-input affine (RAM).
FUSIONS = ("sum", "resolution_attention", "rdna", "ram")
# Gates a residual unit can apply to its residual branch (pose.models.attention.UNIT_GATES).
UNIT_ATTENTIONS = ("channel", "cdna", "spatial", "sdna")
UNIT_ATTENTION_SCOPES = ("all", "branches")


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


@dataclass(frozen=True)
class PyramidHeadSpec:
    """DNANet's modified regressor / RAM's Gradual Pyramid Refinement: from the lowest
    resolution up, interpolation + deconvolution of the running features are added and
    concatenated with the next branch; a final conv regresses the heatmaps."""

    type: str
    deconv_kernel: int
    final_kernel: int

    def check(self, where: str) -> None:
        check_choice(self.deconv_kernel, DECONV_KERNELS, f"{where}.deconv_kernel")
        check_choice(self.final_kernel, FINAL_KERNELS, f"{where}.final_kernel")


@dataclass(frozen=True)
class RescaleSumHeadSpec:
    """Every branch rescaled to the highest resolution (HRNet's up-path: 1x1 conv + BN + nearest
    upsampling) and summed, then the final conv: RAM's ablation that replaces GPR."""

    type: str
    final_kernel: int

    def check(self, where: str) -> None:
        check_choice(self.final_kernel, FINAL_KERNELS, f"{where}.final_kernel")


HeadSpec = SimpleHeadSpec | DeconvHeadSpec | PyramidHeadSpec | RescaleSumHeadSpec
HEAD_TYPES: dict[str, type] = {
    "simple": SimpleHeadSpec,
    "deconv": DeconvHeadSpec,
    "pyramid": PyramidHeadSpec,
    "rescale_sum": RescaleSumHeadSpec,
}
# Heads that read every branch (HRNet's last module then fuses every output, not only the top).
MULTI_BRANCH_HEADS = ("pyramid", "rescale_sum")


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
    # Gates inside residual units, in order (e.g. [cdna, sdna]); `unit_attention_scope` "all"
    # puts them in every unit (stage 1 included), "branches" only in stages 2.. .
    unit_attention: tuple[str, ...] = ()
    unit_attention_scope: str = "all"
    channel_reduction: int = 16  # channel gates squeeze C to max(1, C // channel_reduction)
    # DNANet's connections inside every layer of a module: lower-resolution branch r+1's unit
    # output joins branch r's unit input (1x1 conv + BN, nearest upsampling).
    fine_to_coarse: bool = False
    # Efficient HRNet's attention module at the input of stage s on branch b: [[s, b], ...],
    # s in 2..(number of stages), b in 1..s, numbered as in HRNet (stage 1 is the Bottlenecks).
    stage_attention: tuple[tuple[int, int], ...] = ()
    # Choices made where the paper is ambiguous, each with its reason (listed by the report).
    assumptions: tuple[str, ...] = ()

    head_types = ("simple", "pyramid", "rescale_sum")
    output_stride = 4  # heatmaps at 1/4 of the input, as every head here regresses

    def __post_init__(self) -> None:
        # YAML gives [stage, branch] as lists; sites are compared and looked up as tuples.
        sites = tuple(tuple(site) for site in self.stage_attention)
        object.__setattr__(self, "stage_attention", sites)

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
        if len(set(self.unit_attention)) != len(self.unit_attention):
            raise ConfigError(f"{where}.unit_attention: {list(self.unit_attention)} repeats a gate")
        check_choice(self.unit_attention_scope, UNIT_ATTENTION_SCOPES,
                     f"{where}.unit_attention_scope")
        check_positive(self.channel_reduction, f"{where}.channel_reduction")
        last_stage = len(self.stage_modules) + 1
        for i, (stage, branch) in enumerate(self.stage_attention):
            if not 2 <= stage <= last_stage or not 1 <= branch <= stage:
                raise ConfigError(
                    f"{where}.stage_attention[{i}]: [{stage}, {branch}] is not a branch of the "
                    f"network; stages run 2..{last_stage} and stage s has branches 1..s"
                )
        if len(set(self.stage_attention)) != len(self.stage_attention):
            raise ConfigError(f"{where}.stage_attention: a [stage, branch] site is repeated")


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
    output_stride = 4  # three stride-2 deconvs on a stride-32 trunk

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
