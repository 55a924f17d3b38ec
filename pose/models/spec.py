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
# Which branches the new, lower-resolution branch of a stage transition is made from: HRNet's
# lowest-resolution branch only, or every branch brought to its resolution and combined as the
# model's `fusion` combines (RAM's M inputs -> N = M + 1 outputs).
TRANSITION_INPUTS = ("lowest", "all")


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


def check_pretrained(path: str | None, base_width: int, where: str) -> None:
    """`pretrained` names an ImageNet ResNet file, which only fits the standard 64-wide trunk."""
    if path is None:
        return
    if not path:
        raise ConfigError(f"{where}.pretrained: empty path; give a file or null")
    if base_width != 64:
        raise ConfigError(
            f"{where}.pretrained: ImageNet ResNet weights fit base_width 64 only, got base_width "
            f"{base_width}; set pretrained: null for a narrowed trunk (as the smoke scale does)"
        )


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


@dataclass(frozen=True)
class RegressorHeadSpec:
    """DANet's regressor on the finest pyramid level: 1x1 conv + BN + ReLU at the pyramid width,
    then the final conv to one heatmap per joint (MSPN's res_conv1 / res_conv2)."""

    type: str
    final_kernel: int

    def check(self, where: str) -> None:
        check_choice(self.final_kernel, FINAL_KERNELS, f"{where}.final_kernel")


HeadSpec = (SimpleHeadSpec | DeconvHeadSpec | PyramidHeadSpec | RescaleSumHeadSpec
            | RegressorHeadSpec)
HEAD_TYPES: dict[str, type] = {
    "simple": SimpleHeadSpec,
    "deconv": DeconvHeadSpec,
    "pyramid": PyramidHeadSpec,
    "rescale_sum": RescaleSumHeadSpec,
    "regressor": RegressorHeadSpec,
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
    # What a stage transition's new branch is made from (TRANSITION_INPUTS): "lowest" is HRNet's
    # stride-2 conv from the lowest-resolution branch; "all" adds HRNet's down-paths from every
    # other branch and combines the terms by `fusion` (weighted for rdna / ram), then ReLU.
    transition_inputs: str = "lowest"
    # Efficient HRNet's attention module at the input of stage s on branch b: [[s, b], ...],
    # s in 2..(number of stages), b in 1..s, numbered as in HRNet (stage 1 is the Bottlenecks).
    stage_attention: tuple[tuple[int, int], ...] = ()
    # An HRNet-Image-Classification ImageNet state dict of this width, loaded into the trunk
    # before training; build_model never reads it (pose.models.pretrained).
    pretrained: str | None = None
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
        check_choice(self.transition_inputs, TRANSITION_INPUTS, f"{where}.transition_inputs")
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
        if self.pretrained is not None and not self.pretrained:
            raise ConfigError(f"{where}.pretrained: empty path; give a file or null")


@dataclass(frozen=True)
class SimpleBaselineSpec:
    """SimpleBaseline (Xiao et al., ECCV 2018): ResNet trunk (stride 32) + deconv head."""

    family: str
    num_joints: int
    depth: int
    head: HeadSpec
    base_width: int = 64
    # An ImageNet ResNet state dict (torchvision names) loaded into the trunk before training;
    # build_model never reads it (pose.models.pretrained).
    pretrained: str | None = None
    assumptions: tuple[str, ...] = ()

    head_types = ("deconv",)
    output_stride = 4  # three stride-2 deconvs on a stride-32 trunk

    def check(self, where: str) -> None:
        check_positive(self.num_joints, f"{where}.num_joints")
        check_choice(self.depth, RESNET_DEPTHS, f"{where}.depth")
        check_positive(self.base_width, f"{where}.base_width")
        # Each deconv doubles the resolution: 1/32 -> 1/4 takes exactly three.
        check_choice(self.head.deconv_layers, (3,), f"{where}.head.deconv_layers")
        check_pretrained(self.pretrained, self.base_width, where)


# How FR-SBN's decoders read the encoder: not at all (SimpleBaseline, FR-SBN), a plain skip
# connection from the encoder stage of the same resolution, or the SA-MFCD module.
FRSBN_FUSIONS = ("none", "skip", "sa_mfcd")
FRSBN_DECODERS = (3, 5)  # 1/32 -> 1/4 (SimpleBaseline) or -> 1/1 (full resolution)


@dataclass(frozen=True)
class FRSBNSpec:
    """Full-resolution SimpleBaseline (Ou et al., MMAsia 2020): ResNet trunk, `decoders` stride-2
    deconv decoders (deconv 4x4 + BN + ReLU, decoder i `decoder_channels[i]` wide), then a 1x1
    conv to the heatmaps. `gcb` adds global context blocks after the four ResNet stages and after
    decoders 1-3; `fusion` feeds encoder features into the decoders: `skip` (stage 3 / 2 / 1 into
    decoder 1 / 2 / 3, the decoders of their resolution) or `sa_mfcd` (stages 1-3 collected at
    stride 4, refined by their GCBs' spatial attention heatmaps, distributed to decoders 2-4),
    each merged by concatenation + 3x3 conv + BN + ReLU. Three decoders without either is
    SimpleBaseline."""

    family: str
    num_joints: int
    depth: int
    decoders: int = 5
    decoder_channels: tuple[int, ...] = (256, 256, 256, 128, 32)
    deconv_kernel: int = 4
    final_kernel: int = 1
    gcb: bool = False
    # GCNet's bottleneck: C -> round(C * gcb_ratio) -> C (GCNet's r16 is 1/16).
    gcb_ratio: float = 0.0625
    fusion: str = "none"
    # Width of SA-MFCD's fused features (the 3x3 conv over the concatenated stages 1-3).
    mfcd_channels: int = 256
    base_width: int = 64
    # An ImageNet ResNet state dict (torchvision names) loaded into the trunk before training;
    # build_model never reads it (pose.models.pretrained).
    pretrained: str | None = None
    assumptions: tuple[str, ...] = ()

    @property
    def output_stride(self) -> int:
        """Each decoder halves the trunk's stride 32: 3 decoders -> 4, 5 -> 1."""
        return 32 // 2**self.decoders

    def check(self, where: str) -> None:
        check_positive(self.num_joints, f"{where}.num_joints")
        check_choice(self.depth, RESNET_DEPTHS, f"{where}.depth")
        check_positive(self.base_width, f"{where}.base_width")
        check_choice(self.decoders, FRSBN_DECODERS, f"{where}.decoders")
        if len(self.decoder_channels) != self.decoders:
            raise ConfigError(
                f"{where}.decoder_channels: has {len(self.decoder_channels)} entries "
                f"{list(self.decoder_channels)} but decoders is {self.decoders}; give one width "
                "per decoder"
            )
        for i, c in enumerate(self.decoder_channels):
            check_positive(c, f"{where}.decoder_channels[{i}]")
        check_choice(self.deconv_kernel, DECONV_KERNELS, f"{where}.deconv_kernel")
        check_choice(self.final_kernel, FINAL_KERNELS, f"{where}.final_kernel")
        if not 0 < self.gcb_ratio <= 1:
            raise ConfigError(f"{where}.gcb_ratio: must be in (0, 1], got {self.gcb_ratio!r}")
        check_choice(self.fusion, FRSBN_FUSIONS, f"{where}.fusion")
        check_positive(self.mfcd_channels, f"{where}.mfcd_channels")
        if self.fusion == "sa_mfcd":
            if not self.gcb:
                raise ConfigError(
                    f"{where}.fusion: 'sa_mfcd' reads the spatial attention heatmaps of the "
                    "GCBs after stages 1-3; set gcb: true"
                )
            if self.decoders < 4:
                raise ConfigError(
                    f"{where}.fusion: 'sa_mfcd' feeds decoders 2-4, but decoders is "
                    f"{self.decoders}; use decoders: 5"
                )
        check_pretrained(self.pretrained, self.base_width, where)


# DANet (Luo et al.): densely connected backbone with orthogonal attention blocks, or a ResNet,
# read by one single pyramid. `mau_mode` is Table VI's factor on the new features; `cau_position`
# Table V's choice of which input the channel attention scales.
DENSE_STEMS = ("danet", "densenet")
DENSE_POOLS = ("max", "avg")
MAU_MODES = ("one_minus", "times", "one_plus")
CAU_POSITIONS = ("before_bottleneck", "before_split", "before_mask")
PYRAMID_FUSIONS = ("sum", "sfu")
PYRAMID_UPSAMPLES = ("bilinear", "deconv")
PYRAMID_LEVELS = 4  # strides 4, 8, 16, 32


@dataclass(frozen=True)
class DenseBackboneSpec:
    """Stem, then `blocks[i]` dense layers (BN-ReLU-1x1 conv to `bottleneck`, BN-ReLU-3x3 conv to
    `growth`, output concatenated to the input) and a BN-ReLU-1x1 transition conv to
    `transitions[i]` channels (null: BN-ReLU only, DenseNet's end) per stage, pooled between
    stages. DANet Table I: stem "danet", bottleneck 32, max pooling; DenseNet-BC: stem
    "densenet", bottleneck 4 x growth, transitions halving the width, average pooling. `mau`,
    `cau`, `xunit` add the attention units to every dense layer (OAB = cau + mau)."""

    type: str
    blocks: tuple[int, ...]
    transitions: tuple[int | None, ...]
    stem: str = "danet"
    stem_width: int = 64
    growth: int = 32
    bottleneck: int = 32
    pool: str = "max"
    cau: bool = False
    cau_position: str = "before_bottleneck"
    cau_squeeze: int = 32  # channels of the CAU's squeeze FC
    mau: bool = False
    mau_mode: str = "one_minus"
    xunit: bool = False
    attention_kernel: int = 9  # depthwise kernel of MAU, xunit

    def check(self, where: str) -> None:
        if len(self.blocks) != PYRAMID_LEVELS:
            raise ConfigError(
                f"{where}.blocks: has {len(self.blocks)} entries {list(self.blocks)}; the pyramid "
                f"reads {PYRAMID_LEVELS} stages (strides 4, 8, 16, 32), give one count per stage"
            )
        if len(self.transitions) != len(self.blocks):
            raise ConfigError(
                f"{where}.transitions: has {len(self.transitions)} entries but blocks has "
                f"{len(self.blocks)}; give one width (or null) per block"
            )
        for i, n in enumerate(self.blocks):
            check_positive(n, f"{where}.blocks[{i}]")
        for i, w in enumerate(self.transitions):
            if w is not None:
                check_positive(w, f"{where}.transitions[{i}]")
        check_choice(self.stem, DENSE_STEMS, f"{where}.stem")
        check_choice(self.pool, DENSE_POOLS, f"{where}.pool")
        for key in ("stem_width", "growth", "bottleneck", "cau_squeeze"):
            check_positive(getattr(self, key), f"{where}.{key}")
        check_choice(self.mau_mode, MAU_MODES, f"{where}.mau_mode")
        check_choice(self.cau_position, CAU_POSITIONS, f"{where}.cau_position")
        if self.attention_kernel < 1 or self.attention_kernel % 2 == 0:
            raise ConfigError(
                f"{where}.attention_kernel: must be odd and >= 1, got {self.attention_kernel!r}"
            )
        if self.mau_mode != "one_minus" and not self.mau:
            raise ConfigError(f"{where}.mau_mode: {self.mau_mode!r} needs mau: true")
        if self.cau_position != "before_bottleneck" and not (self.cau and self.mau):
            raise ConfigError(
                f"{where}.cau_position: {self.cau_position!r} only differs from "
                "'before_bottleneck' with both units; needs cau: true and mau: true"
            )


@dataclass(frozen=True)
class ResNetBackboneSpec:
    """The ResNet trunk (layer1..layer4 outputs) as the pyramid's backbone (DANet Tables VII,
    IX)."""

    type: str
    depth: int
    base_width: int = 64

    def check(self, where: str) -> None:
        check_choice(self.depth, RESNET_DEPTHS, f"{where}.depth")
        check_positive(self.base_width, f"{where}.base_width")


BackboneSpec = DenseBackboneSpec | ResNetBackboneSpec
BACKBONE_TYPES: dict[str, type[DenseBackboneSpec] | type[ResNetBackboneSpec]] = {
    "dense": DenseBackboneSpec,
    "resnet": ResNetBackboneSpec,
}


@dataclass(frozen=True)
class DANetSpec:
    """DANet (Luo et al., "Efficient Human Pose Estimation by Learning Deeply Aggregated
    Representations") and its single-pyramid baselines: a `backbone` (tagged by `type`: dense or
    resnet), a single pyramid `pyramid_width` wide merging levels by `fusion` (sum, or the
    second-order fusion unit whose theta is `sfu_hidden` wide) with each coarser map brought up
    by `upsample` (MSPN's bilinear + 1x1 conv, or a 4x4 stride-2 transposed conv), and the
    regressor `head`."""

    family: str
    num_joints: int
    backbone: BackboneSpec
    head: HeadSpec
    fusion: str = "sum"
    pyramid_width: int = 256
    sfu_hidden: int = 128
    sfu_kernel: int = 9
    upsample: str = "bilinear"
    assumptions: tuple[str, ...] = ()

    head_types = ("regressor",)
    output_stride = 4  # the regressor reads the stride-4 level

    def __post_init__(self) -> None:
        # YAML gives the backbone as a mapping; its `type` picks the spec (a tagged union).
        data = self.backbone
        if isinstance(data, Mapping):
            where = "backbone"
            if "type" not in data:
                raise ConfigError(f"{where}: missing required key 'type'; allowed values: "
                                  f"{sorted(BACKBONE_TYPES)}")
            check_choice(data["type"], sorted(BACKBONE_TYPES), f"{where}.type")
            parsed = from_dict(BACKBONE_TYPES[data["type"]], data, where)
            object.__setattr__(self, "backbone", parsed)

    def check(self, where: str) -> None:
        check_positive(self.num_joints, f"{where}.num_joints")
        self.backbone.check(f"{where}.backbone")
        check_choice(self.fusion, PYRAMID_FUSIONS, f"{where}.fusion")
        check_choice(self.upsample, PYRAMID_UPSAMPLES, f"{where}.upsample")
        for key in ("pyramid_width", "sfu_hidden"):
            check_positive(getattr(self, key), f"{where}.{key}")
        if self.sfu_kernel < 1 or self.sfu_kernel % 2 == 0:
            raise ConfigError(f"{where}.sfu_kernel: must be odd and >= 1, got {self.sfu_kernel!r}")


@dataclass(frozen=True)
class ClassifierSpec:
    """Image classification (DANet Table X): a dense `backbone` (DenseNet-BC; with `cau` + `mau`
    its dense blocks are OABs, with `xunit` those of Dense xUnit), global average pooling of its
    last stage and one linear layer to `num_classes` (DenseNet's classifier). `num_classes` is
    the trained dataset's (set when an experiment resolves), as `num_joints` is for pose."""

    family: str
    num_classes: int
    backbone: DenseBackboneSpec
    assumptions: tuple[str, ...] = ()

    output_stride = 32  # the last dense stage (a class score per image, no heatmaps)

    def check(self, where: str) -> None:
        check_positive(self.num_classes, f"{where}.num_classes")
        check_choice(self.backbone.type, ("dense",), f"{where}.backbone.type")
        self.backbone.check(f"{where}.backbone")


ModelSpec = HRNetSpec | SimpleBaselineSpec | FRSBNSpec | DANetSpec | ClassifierSpec
FAMILIES: dict[str, type] = {
    "hrnet": HRNetSpec,
    "simplebaseline": SimpleBaselineSpec,
    "frsbn": FRSBNSpec,
    "danet": DANetSpec,
    "classifier": ClassifierSpec,
}
# Families whose models classify images (top-1 / top-5) rather than regress keypoint heatmaps.
CLASSIFICATION_FAMILIES = ("classifier",)


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
    if hasattr(cls, "head_types"):  # families whose head is a tagged `head` mapping
        head = parse_head(data["head"], cls.head_types, f"{where}.head")
        spec = dataclasses.replace(spec, head=head)
    spec.check(where)
    return spec
