"""The registry in params/: load, validate and resolve.

Every stage receives a `ResolvedExperiment`: the experiment's model spec, recipe and dataset with
the scale preset applied, so one mapping fully specifies a run (it is written beside the run's
outputs). Cross references (an experiment's model, recipe, dataset; a table row's experiment) are
checked when the registry loads, so a typo fails before any job starts.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from pose.data.dataset import AugmentConfig
from pose.data.keypoint_sets import KeypointSet, keypoint_set
from pose.data.mpii import TABLE_GROUPS
from pose.errors import ConfigError
from pose.models.spec import parse_spec
from pose.spec import OMIT_DEFAULT, deep_merge, from_dict, to_dict

PARAMS_DIR = Path("params")


# --------------------------------------------------------------------------- typed entries
@dataclass(frozen=True)
class SplitSpec:
    annotations: str
    images: str
    detections: str | None = None


@dataclass(frozen=True)
class ClassificationSpec:
    """An image classification set in torchvision's ImageFolder layout: `train` and `val` are
    folders (relative to the dataset root) of one sub-folder per class, the classes numbered in
    sorted folder-name order. `synth`: the generator's settings of a synthetic set
    (pose.data.classification.SynthClassesConfig)."""

    train: str
    val: str
    num_classes: int
    synth: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.num_classes, bool) or self.num_classes < 2:
            raise ConfigError(f"num_classes: expected 2 or more, got {self.num_classes!r}")


# DatasetSpec's counts for the cost plan only (pose.plan), left out of a run's resolved dataset
PLAN_COUNTS = ("train_samples", "val_samples")


@dataclass(frozen=True)
class DatasetSpec:
    # how it comes into being, and its keypoint set (pose.data.keypoint_sets): synthetic and
    # coco are COCO-format (17 joints, OKS AP), mpii is MPII's layout (16 joints, PCKh);
    # imagenet holds classification splits only
    source: Literal["synthetic", "coco", "mpii", "imagenet"]
    root: str
    # the keypoint splits (every source but imagenet)
    train: SplitSpec | None = None
    val: SplitSpec | None = None
    synth: dict = field(default_factory=dict)
    # params/sources.yaml entries whose folders make up `root` (fetched, or generated)
    sources: list[str] = field(default_factory=list)
    # COCO test-dev: the image-info file, its images and the person detections. No public ground
    # truth: predictions are uploaded to the evaluation server (pose.evaluate.testdev).
    test_dev: SplitSpec | None = None
    # The classification splits (ImageNet; the synthetic set's stand-in for it), which the
    # classification experiments (DANet Table X) train and evaluate on.
    classification: ClassificationSpec | None = field(default=None, metadata=OMIT_DEFAULT)
    # The cost plan's counts (pose.plan) where the data is not on disk: the samples one training
    # epoch passes over and the boxes (or images) one evaluation runs the model on. Neither
    # training nor evaluation reads them, so they are no part of a run's identity.
    train_samples: int | None = field(default=None, metadata=OMIT_DEFAULT)
    val_samples: int | None = field(default=None, metadata=OMIT_DEFAULT)

    def __post_init__(self) -> None:
        # from_dict builds nested dataclasses of required fields only; build the optional ones
        for name, kind in (("train", SplitSpec), ("val", SplitSpec), ("test_dev", SplitSpec),
                           ("classification", ClassificationSpec)):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, from_dict(kind, value, name))
        for name in PLAN_COUNTS:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ConfigError(f"{name}: expected a positive count, got {value!r}")
        if self.source != "imagenet" and (self.train is None or self.val is None):
            raise ConfigError(f"a {self.source} dataset needs its keypoint splits `train` and "
                              "`val`")
        if self.source == "imagenet" and self.classification is None:
            raise ConfigError("an imagenet dataset needs `classification` (its train and val "
                              "class folders)")

    def path(self, relative: str) -> Path:
        return Path(self.root) / relative

    @property
    def keypoints(self) -> KeypointSet:
        return keypoint_set(self.source)


@dataclass(frozen=True)
class OptimizerSpec:
    type: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = field(default=False, metadata=OMIT_DEFAULT)  # SGD's Nesterov momentum


@dataclass(frozen=True)
class ScheduleSpec:
    """Learning-rate schedule over the epochs of training.

    - step: lr × gamma at each milestone epoch (HRNet, SimpleBaseline).
    - sgdr: cosine annealing with warm restarts (Loshchilov & Hutter 2017): the first cycle
      lasts t0 epochs, each next one t_mult times longer, lr falling to eta_min (DNANet, RAM+GPR).
    - linear: lr falls linearly to 0 at the end of training (DANet).

    `update`: when the lr changes. `epoch`: once after every epoch, each epoch at one lr.
    `iteration`: after every optimiser step, at the fractional epoch reached (SGDR's T_cur
    "updated at each batch iteration"; sgdr and linear only, step's milestones being whole
    epochs). Either way a cycle restarts exactly at its first step.
    """

    type: Literal["step", "sgdr", "linear"] = "step"
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    t0: int = 1
    t_mult: int = 2
    eta_min: float = 0.0
    update: Literal["epoch", "iteration"] = field(default="epoch", metadata=OMIT_DEFAULT)

    def __post_init__(self) -> None:
        if self.update == "iteration" and self.type == "step":
            raise ConfigError("update: 'iteration' applies to the sgdr and linear "
                              "schedules; a step schedule's milestones are whole epochs")


@dataclass(frozen=True)
class LossSpec:
    """Heatmap loss. `mse`: the official JointsMSELoss; `ohkm`: online hard keypoint mining
    (CPN, HRNet's JointsOHKMMSELoss), which averages only the `topk` largest joint losses of
    each sample (`topk` is read by `ohkm` only). `cross_entropy`: softmax cross-entropy of a
    classifier's logits (the classification experiments)."""

    type: Literal["mse", "ohkm", "cross_entropy"] = "mse"
    use_target_weight: bool = True
    topk: int = 8

    def __post_init__(self) -> None:
        if self.topk < 1:
            raise ConfigError(f"topk: must be >= 1, got {self.topk!r}")


@dataclass(frozen=True)
class TestSpec:
    flip_test: bool = True
    boxes: Literal["detections", "gt"] = "detections"
    det_score_thresh: float = 0.0
    in_vis_thre: float = 0.2
    oks_thre: float = 0.9
    # Megvii-style decoding (CPN / MSPN, which DANet's "Testing" follows): Gaussian blur of the
    # averaged heatmaps (kernel side, 0 = none), then the quarter offset towards the
    # second-highest response instead of the official one towards the higher neighbour per axis.
    blur_kernel: int = 0
    offset: Literal["neighbour", "second_max"] = "neighbour"

    def __post_init__(self) -> None:
        if self.blur_kernel != 0 and (self.blur_kernel < 3 or self.blur_kernel % 2 == 0):
            raise ConfigError(
                f"test.blur_kernel: {self.blur_kernel!r} is not allowed; use 0 (no blur) or an "
                "odd kernel side >= 3"
            )


@dataclass(frozen=True)
class RecipeSpec:
    optimizer: OptimizerSpec
    schedule: ScheduleSpec
    epochs: int
    # The batch: `batch_size`, the total over all GPUs of one optimiser step, or
    # `batch_per_gpu`, each GPU's share (the official HRNet configs' BATCH_SIZE_PER_GPU);
    # exactly one. Registry.resolve turns batch_per_gpu into the total with experiments.yaml
    # `gpus`, so a resolved recipe holds the total in batch_size and every stage reads that.
    batch_size: int | None = field(default=None, metadata=OMIT_DEFAULT)
    batch_per_gpu: int | None = field(default=None, metadata=OMIT_DEFAULT)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossSpec = field(default_factory=LossSpec)
    test: TestSpec = field(default_factory=TestSpec)
    sigma: float = 2.0
    # Speed options (pose.engine.step): bf16 autocast, NHWC tensors; `sync_bn` normalises over
    # the total batch of all GPUs instead of each GPU's share (pose.engine.sync_bn).
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    sync_bn: bool = False
    # Choices made where the paper is ambiguous, each with its reason (listed by the report).
    assumptions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        given = [k for k in BATCH_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ConfigError(
                f"give exactly one of batch_size (the total over all GPUs) and batch_per_gpu "
                f"(each GPU's share, times experiments.yaml `gpus`); got "
                f"{', '.join(f'{k}: {getattr(self, k)!r}' for k in given) or 'neither'}"
            )
        value = getattr(self, given[0])
        if value < 1:
            raise ConfigError(f"{given[0]}: must be > 0, got {value!r}")

    def total_batch(self, gpus: int) -> int:
        """The batch of one optimiser step over `gpus` GPUs (experiments.yaml `gpus`)."""
        if self.batch_size is not None:
            return self.batch_size
        return self.batch_per_gpu * gpus  # type: ignore[operator]


# A recipe's batch keys: a scale's `recipe` that names either replaces the recipe's batch.
BATCH_KEYS = ("batch_size", "batch_per_gpu")


@dataclass(frozen=True)
class ExperimentSpec:
    model: str
    input: str
    recipe: str
    dataset: str
    seed: int = 0
    gpus: int = 1  # in all, over `nodes` nodes (one process per GPU, the total batch split)
    nodes: int = 1
    sigma: float | None = None


@dataclass(frozen=True)
class SubsetSpec:
    train: int
    val_images: int

    def __post_init__(self) -> None:
        for key in ("train", "val_images"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"subset.{key}: expected a positive count, got {value!r}")


@dataclass(frozen=True)
class CpuDdpSpec:
    processes: int
    experiments: list[str]

    def __post_init__(self) -> None:
        if isinstance(self.processes, bool) or not isinstance(self.processes, int) \
                or self.processes < 2:
            raise ConfigError(f"cpu_ddp.processes: expected 2 or more, got {self.processes!r}")


# A seed replica's run id: the experiment's id, this separator and the seed it trains with
# (`hrnet_w32_256x192-seed1` in runs/<scale>/hrnet_w32_256x192-seed1/). The experiment's own run
# (its `seed`) keeps the plain id, so a scale with more seeds changes no existing run.
SEED_SEPARATOR = "-seed"


@dataclass(frozen=True)
class SeedsSpec:
    """How many trainings with different seeds a scale runs per experiment: `default` for all,
    replaced for the experiments of a paper (`papers`, by paper key: the table-name prefix) and
    then for single experiments (`experiments`). Seeds are the experiment's seed, +1, +2, ..."""

    default: int = 1
    papers: dict[str, int] = field(default_factory=dict)
    experiments: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        counts = {"default": self.default,
                  **{f"papers.{k}": v for k, v in self.papers.items()},
                  **{f"experiments.{k}": v for k, v in self.experiments.items()}}
        for key, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"seeds.{key}: expected a count of 1 or more, got {value!r}")


def seed_run_id(experiment: str, seed: int) -> str:
    """The run id of `experiment` trained with `seed` (not its own seed)."""
    return f"{experiment}{SEED_SEPARATOR}{seed}"


def split_run_id(run: str) -> tuple[str, int | None]:
    """(experiment, seed) of a seed replica's run id; (run, None) for an experiment's own run."""
    base, sep, seed = run.rpartition(SEED_SEPARATOR)
    if sep and base and seed.isdigit():
        return base, int(seed)
    return run, None


@dataclass(frozen=True)
class ScaleSpec:
    # `all`, or the experiment ids this scale trains (complexity is measured for every one).
    train: Literal["all"] | list[str]
    dataset: str | None
    input: str | None
    recipe: dict
    models: dict
    device: Literal["cpu", "cuda"]
    num_workers: int
    threads: int | None
    val_every: int
    # where the evaluation stages (val, test-dev, MPII test) run; null: on `device`
    eval_device: Literal["cpu", "cuda"] | None = None
    # A check scale (preflight): each experiment runs as one `pose preflight` job that trains,
    # evaluates and records what it used (resources.json, ran or failed) instead of stopping
    # the pipeline at the first failure.
    preflight: bool = False
    # Datasets a run may name to replace every experiment's own (`--config dataset=synthetic`
    # at preflight: the paper-size check runs anywhere); other runs keep each experiment's.
    stand_ins: list[str] = field(default_factory=list)
    # A deterministic small part of each split: the first `train` training instances and the
    # persons of the first `val_images` validation images (null: the whole splits).
    subset: SubsetSpec | None = None
    # Training on the CPU in several processes under torchrun (gloo), as a GPU run does with
    # NCCL: `processes` each for the listed experiments (their DistributedDataParallel path).
    cpu_ddp: CpuDdpSpec | None = None
    # The ImageNet checkpoints are loaded when present and skipped (recorded) when not; a
    # training scale needs them (the data stage fetches them first).
    pretrained_optional: bool = False
    # A folder where the loaders keep each image decoded once (pose.data.dataset: raw pixels,
    # about 56 GB for COCO train2017; node-local disk is best). The samples are bit-identical,
    # so it is outside every hash. null: decode every time.
    decode_cache: str | None = None
    # Trainings per experiment with different seeds (SeedsSpec; null: one, the experiment's own)
    seeds: SeedsSpec | None = None

    def __post_init__(self) -> None:
        # from_dict builds nested dataclasses of required fields only; build the optional ones
        for name, kind in (("subset", SubsetSpec), ("cpu_ddp", CpuDdpSpec),
                           ("seeds", SeedsSpec)):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, from_dict(kind, value, name))


# The columns of a `metric: pckh` table (MPII, DANet's Table VIII), in the paper's order.
PCKH_COLUMNS: tuple[str, ...] = (*TABLE_GROUPS, "Mean")


# Units a paper prints its complexity columns in. Params: millions ("M"), or megabytes of fp32
# weights ("MB": 4 bytes a parameter, 10^6 bytes a megabyte). GFLOPs: the official HRNet model
# summary's count (conv/linear weight elements x output positions, / 2^30: "hrnet"), or true
# multiply-adds / 10^9 ("gmacs").
# M: millions; MB: megabytes of fp32 weights; Mi: binary millions (2^20 parameters, DANet
# Table X)
PARAMS_UNITS = ("M", "MB", "Mi")
GFLOPS_UNITS = ("hrnet", "gmacs")


@dataclass(frozen=True)
class SpeedSpec:
    """One speed column of a paper table and how `pose speed` measures it as the paper did:
    its measure (persons per second or ms per person), device, CPU threads, batch, persons."""

    column: str  # the paper's column name; rows give their figure as paper.speed[column]
    measure: Literal["persons_per_s", "ms_per_person"]
    device: Literal["cpu", "cuda"]
    threads: int | None = None  # null: torch's default
    batch: int = 1
    persons: int = 1000
    note: str = ""  # the paper's own words on its platform, for the report

    def __post_init__(self) -> None:
        for key, least in (("threads", 1), ("batch", 1), ("persons", 1)):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < least):
                raise ConfigError(f"speed.{key}: expected an int >= {least}, got {value!r}")

    @property
    def protocol(self) -> str:
        """The record's name under runs/speed/<experiment>/: 'cpu-8threads-b1-1000persons'."""
        threads = f"-{self.threads}threads" if self.threads else ""
        return f"{self.device}{threads}-b{self.batch}-{self.persons}persons"


@dataclass(frozen=True)
class PaperFigures:
    ap: float | None = None
    params_m: float | None = None  # as printed, in the row's params unit (M unless `params_unit`)
    gflops: float | None = None  # as printed, in the row's GFLOPs unit
    # PCKh@0.5 per column of PCKH_COLUMNS (a `metric: pckh` table); a column left out is one the
    # paper does not give.
    pckh: dict | None = None
    # The other COCO columns where the paper's table prints them (x100, as printed)
    ap50: float | None = None
    ap75: float | None = None
    apm: float | None = None
    apl: float | None = None
    ar: float | None = None
    # Speed as printed, by the column names of the table's `speed` (persons per second or ms)
    speed: dict | None = None
    # This row's units where they differ from its table's (a row copied from another paper)
    params_unit: Literal["M", "MB", "Mi"] | None = None
    # Single-crop top-1 / top-5 error in percent (a `metric: topk` table, DANet Table X)
    top1_error: float | None = None
    top5_error: float | None = None
    gflops_unit: Literal["hrnet", "gmacs"] | None = None
    # Where the printed AP columns were measured, where that is not the table's split and the
    # experiment's input (the row's figures are then never compared with the reproduction's)
    ap_split: Literal["val", "test-dev"] | None = None
    ap_input: str | None = None

    def __post_init__(self) -> None:
        if self.ap_input is not None:
            parse_input(self.ap_input, "paper.ap_input")


@dataclass(frozen=True)
class TableRow:
    label: str
    experiment: str
    paper: PaperFigures


@dataclass(frozen=True)
class TableSpec:
    title: str
    rows: list[dict]
    caption: str = ""
    # The COCO split the paper's AP column was measured on. A test-dev table never shows a val
    # AP (a val figure must not pass for a test-dev one): only the evaluation server's stats for
    # the project's test-dev submission (`pose import-server-stats`).
    ap_split: Literal["val", "test-dev"] = "val"
    # Choices made where the paper is ambiguous, each with its reason (listed by the report).
    assumptions: list[str] = field(default_factory=list)
    # What the rows compare: COCO OKS AP, MPII PCKh@0.5 per joint group (paper.pckh), or the
    # single-crop top-1 / top-5 error of image classifiers (paper.top1_error, top5_error)
    metric: Literal["ap", "pckh", "topk"] = "ap"
    # The units of the paper's params and GFLOPs columns (PARAMS_UNITS, GFLOPS_UNITS); a row
    # copied from another paper may name its own (paper.params_unit, paper.gflops_unit)
    params_unit: Literal["M", "MB", "Mi"] = "M"
    gflops_unit: Literal["hrnet", "gmacs"] = "hrnet"
    # The paper's speed columns, each with how it was measured (rows give paper.speed)
    speed: list[SpeedSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        specs = [from_dict(SpeedSpec, v, f"speed[{i}]") if isinstance(v, dict) else v
                 for i, v in enumerate(self.speed)]
        columns = [v.column for v in specs]
        if len(set(columns)) != len(columns):
            raise ConfigError(f"speed: column names must differ, got {columns}")
        object.__setattr__(self, "speed", specs)

    def typed_rows(self, where: str) -> list[TableRow]:
        return [from_dict(TableRow, r, f"{where}.rows[{i}]") for i, r in enumerate(self.rows)]


# --------------------------------------------------------------------------- parsing helpers
def parse_input(text: str, where: str) -> tuple[int, int]:
    """'256x192' (H x W, as the papers write it) -> (256, 192)."""
    try:
        h, w = (int(v) for v in str(text).lower().replace("×", "x").split("x"))
    except ValueError:
        raise ConfigError(
            f"{where}: expected an input size like '256x192' (H x W), got {text!r}"
        ) from None
    if h <= 0 or w <= 0 or h % 4 or w % 4:
        raise ConfigError(f"{where}: input {text!r} must be positive multiples of 4 (H x W)")
    return h, w


def format_input(hw: tuple[int, int]) -> str:
    return f"{hw[0]}x{hw[1]}"


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping of a YAML file names the same key twice."""

    def __init__(self, key: Any, line: int, first_line: int):
        super().__init__(problem=f"duplicate key {key!r} (first at line {first_line})")
        self.key, self.line, self.first_line = key, line, first_line

    def where(self, path: Path | str) -> str:
        """The user's message: file and line of the second occurrence."""
        return (f"{path}:{self.line}: duplicate key {self.key!r} (first at line "
                f"{self.first_line}); a key may appear once per mapping")


# libyaml's parser where PyYAML has it (several times faster: every pose command and Snakemake
# read params/), with the same safe constructor
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """yaml.SafeLoader that rejects a key written twice in one mapping (plain YAML keeps the last
    one silently). Keys a merge (`<<: *anchor`) brings in may be overridden by an explicit key:
    only the keys written in the mapping itself are compared."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise DuplicateKeyError(key, line, seen[key])
                    seen[key] = line
                except TypeError:  # an unhashable key: the base class says so
                    continue
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(stream: Any) -> Any:
    """yaml.safe_load with duplicate keys rejected (UniqueKeyLoader): every params reader."""
    return yaml.load(stream, Loader=UniqueKeyLoader)  # a SafeLoader subclass: safe


def read_yaml(path: Path) -> Any:
    """Load one YAML file, naming it in the error if it is missing or malformed; a key written
    twice in one mapping is an error naming the file and line."""
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        with path.open(encoding="utf-8") as f:
            return load_yaml_text(f)
    except DuplicateKeyError as err:
        raise ConfigError(err.where(path)) from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err


def unknown_name(kind: str, name: Any, known: Any) -> str:
    """`unknown model 'hrnet_w23'; did you mean 'hrnet_w32'? known: ...`: the closest names
    (difflib) first, then every known one."""
    names = sorted(str(k) for k in known)
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"unknown {kind} {name!r}; {hint}known: {', '.join(names) or '(none)'}"


def _mapping(data: Any, where: str) -> dict:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of entries, got {type(data).__name__}")
    return data


def stable_hash(obj: Any) -> str:
    """Short content hash of a YAML/JSON-able object (key order independent)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class ResolvedExperiment:
    """An experiment at a scale: everything a stage needs, nothing looked up later."""

    name: str
    scale: str
    model_name: str
    model_spec: dict  # what is trained (scale overrides applied)
    paper_model_spec: dict  # the paper-size model (complexity is always measured on this)
    paper_input: tuple[int, int]
    input_hw: tuple[int, int]
    recipe: RecipeSpec
    dataset_name: str
    dataset: DatasetSpec
    seed: int
    gpus: int
    nodes: int
    device: str
    eval_device: str
    num_workers: int
    threads: int | None
    val_every: int
    # training processes: the GPUs at a CUDA scale, else 1 or the scale's cpu_ddp processes
    processes: int = 1
    subset: SubsetSpec | None = None
    pretrained_optional: bool = False
    preflight: bool = False
    decode_cache: str | None = None  # how images are read, not what they are: in no hash

    @property
    def run_dir(self) -> Path:
        return Path("runs") / self.scale / self.name

    @property
    def output_stride(self) -> int:
        """Input pixels per heatmap pixel of the trained model (4, or 1 at full resolution)."""
        return parse_spec(self.model_spec, self.model_name).output_stride

    @property
    def heatmap_hw(self) -> tuple[int, int]:
        return self.input_hw[0] // self.output_stride, self.input_hw[1] // self.output_stride

    @property
    def keypoints(self) -> KeypointSet:
        """The joints of the dataset trained on (COCO's 17 or MPII's 16)."""
        return self.dataset.keypoints

    @property
    def task(self) -> Literal["keypoints", "classification"]:
        """What the model predicts, by its family: keypoint heatmaps, or image classes (top-1 /
        top-5, DANet Table X)."""
        return model_task(self.model_spec)

    def _dataset_dict(self) -> dict:
        """The dataset entry as far as this experiment reads it: a keypoint run does not read
        the classification splits, a classification run reads only them."""
        d = {k: v for k, v in to_dict(self.dataset).items() if k not in PLAN_COUNTS}
        if self.task == "keypoints":
            d.pop("classification", None)
            return d
        return {k: d[k] for k in ("source", "root", "sources", "classification")}

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "scale": self.scale,
            "model_name": self.model_name,
            "model_spec": self.model_spec,
            "input": format_input(self.input_hw),
            "paper_input": format_input(self.paper_input),
            "recipe": to_dict(self.recipe),
            "dataset_name": self.dataset_name,
            "dataset": self._dataset_dict(),
            "seed": self.seed,
            "gpus": self.gpus,
            "nodes": self.nodes,
            "device": self.device,
            "eval_device": self.eval_device,
            "num_workers": self.num_workers,
            "threads": self.threads,
            "val_every": self.val_every,
            # a check scale's settings, only where set (the other scales' hashes stay as they
            # were)
            **({"processes": self.processes}
               if self.device != "cuda" and self.processes > 1 else {}),
            **({"subset": to_dict(self.subset)} if self.subset else {}),
            **({"pretrained_optional": True} if self.pretrained_optional else {}),
            **({"preflight": True} if self.preflight else {}),
            **({"decode_cache": self.decode_cache} if self.decode_cache else {}),
        }

    @property
    def batch_per_process(self) -> int | None:
        """Each training process's share of the batch where BatchNorm normalises over it alone
        (several processes, no sync_bn); None where BatchNorm sees the total batch."""
        splits = self.gpus if self.device == "cuda" else self.processes
        if splits <= 1 or self.recipe.sync_bn:
            return None
        return self.recipe.batch_size // splits

    @property
    def train_hash(self) -> str:
        """Identity of what the trained weights depend on (see `weights_identity`)."""
        return weights_identity(self.to_dict(), self.batch_per_process)

    @property
    def config_hash(self) -> str:
        """Identity of what an evaluation depends on (see `evaluation_identity`)."""
        return evaluation_identity(self.to_dict())


def _without_notes(obj: Any) -> Any:
    """`obj` without its `assumptions` entries: documentation changes no weights."""
    if isinstance(obj, dict):
        return {k: _without_notes(v) for k, v in obj.items() if k != "assumptions"}
    if isinstance(obj, list):
        return [_without_notes(v) for v in obj]
    return obj


def weights_identity(resolved: dict, batch_per_process: int | None = None) -> str:
    """The train_hash of a resolved experiment's `to_dict()` (or a run's config.yaml, which
    holds it): what the weights depend on. Not the test protocol, how often validation runs,
    where it runs or the params' documentation; the number of GPUs only through each process's
    BatchNorm batch (`batch_per_process`, where BatchNorm is per process)."""
    d = _without_notes(resolved)
    for key in ("device", "eval_device", "num_workers", "threads", "gpus", "nodes",
                "val_every", "processes", "preflight", "train_hash", "train_code",
                "decode_cache"):
        d.pop(key, None)
    d["recipe"].pop("test")
    d["dataset"].pop("test_dev", None)  # only predicted on, never trained on
    if batch_per_process is not None:
        d["batch_per_process"] = batch_per_process
    return stable_hash(d)


def evaluation_identity(resolved: dict) -> str:
    """The config_hash of a resolved experiment's `to_dict()`: the weights' params and the
    test protocol (not where it runs, how often training validated, nor documentation)."""
    d = _without_notes(resolved)
    for key in ("device", "eval_device", "num_workers", "threads", "gpus", "nodes",
                "processes", "preflight", "val_every", "train_hash", "train_code",
                "decode_cache"):
        d.pop(key, None)
    return stable_hash(d)


def recorded_hash(record: Path, key: str) -> str | None:
    """The hash `key` a run's record holds (config.yaml: train_hash, written with model.pth;
    eval.json: config_hash); None when there is no such file or it predates the record."""
    try:
        data = yaml.safe_load(Path(record).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Registry:
    params_dir: Path
    datasets: dict[str, DatasetSpec]
    recipes: dict[str, RecipeSpec]
    models: dict[str, dict]
    experiments: dict[str, ExperimentSpec]
    scales: dict[str, ScaleSpec]
    tables: dict[str, TableSpec]
    default_scale: str | None
    # params/pipeline.yaml as read: scale, dataset and the derived `train` mapping.
    pipeline: dict = field(default_factory=dict)
    # params/sources.yaml (pose.fetch.spec.Sources): where the real data comes from
    sources: Any = None
    # params/official_weights.yaml (pose.evaluate.official.OfficialWeights; None without the
    # file): the published pose weights `pose verify-official` evaluates
    official_weights: Any = None
    # params/claims.yaml (pose.claims.ClaimsFile; None without the file): the papers' claims
    claims: Any = None

    # ---- lookups with clear errors
    def _get(self, kind: str, table: dict, name: str) -> Any:
        if name not in table:
            raise ConfigError(unknown_name(kind, name, table))
        return table[name]

    def model(self, name: str) -> dict:
        return self._get("model", self.models, name)

    def dataset(self, name: str) -> DatasetSpec:
        return self._get("dataset", self.datasets, name)

    def scale(self, name: str) -> ScaleSpec:
        return self._get("scale", self.scales, name)

    def table(self, name: str) -> TableSpec:
        return self._get("table", self.tables, name)

    def resolve(self, experiment: str, scale: str, dataset: str | None = None
                ) -> ResolvedExperiment:
        """The experiment at `scale`; `dataset` (the run's) replaces the experiment's own when
        it is one of the scale's stand-ins, and is otherwise ignored."""
        base, seed = split_run_id(experiment)
        if seed is not None and base in self.experiments:  # a seed replica's run
            exp = replace(self.experiments[base], seed=seed)
        else:
            base, exp = experiment, self._get("experiment", self.experiments, experiment)
        sc = self.scale(scale)
        where = f"{self.params_dir}/experiments.yaml: {base}"
        paper_spec = self.model(exp.model)
        family = paper_spec.get("family")
        # Family entries first, then entries for this model by name (more specific wins).
        model_spec = deep_merge(
            deep_merge(paper_spec, sc.models.get(family, {})), sc.models.get(exp.model, {})
        )
        paper_input = parse_input(exp.input, f"{where}.input")
        input_hw = parse_input(sc.input, f"scales.yaml: {scale}.input") if sc.input else paper_input
        recipe_raw = to_dict(self._get("recipe", self.recipes, exp.recipe))
        if any(k in sc.recipe for k in BATCH_KEYS):  # the scale's batch replaces the recipe's
            recipe_raw = {k: v for k, v in recipe_raw.items() if k not in BATCH_KEYS}
        recipe = from_dict(
            RecipeSpec,
            deep_merge(recipe_raw, sc.recipe),
            f"{self.params_dir}/recipes.yaml: {exp.recipe} (+ scales.yaml: {scale}.recipe)",
        )
        # the total batch of one step: every stage reads batch_size
        recipe = replace(recipe, batch_size=recipe.total_batch(exp.gpus), batch_per_gpu=None)
        if "sigma" not in sc.recipe:
            # The experiment's sigma (e.g. 3 at 384x288) is in heatmap pixels of the paper's
            # input; a scale that shrinks the input shrinks it alike, so the Gaussian keeps
            # covering the same part of the person (2 on 64x48 -> 1 on 32x24).
            sigma = exp.sigma if exp.sigma is not None else recipe.sigma
            recipe = replace(recipe, sigma=sigma * input_hw[0] / paper_input[0])
        dataset_name = self.stand_in(scale, dataset) or sc.dataset or exp.dataset
        model_spec = self._fit_to_dataset(model_spec, dataset_name, where)
        return ResolvedExperiment(
            name=experiment,
            scale=scale,
            model_name=exp.model,
            model_spec=model_spec,
            paper_model_spec=paper_spec,
            paper_input=paper_input,
            input_hw=input_hw,
            recipe=recipe,
            dataset_name=dataset_name,
            dataset=self.dataset(dataset_name),
            seed=exp.seed,
            gpus=exp.gpus,
            nodes=exp.nodes,
            device=sc.device,
            eval_device=sc.eval_device or sc.device,
            num_workers=sc.num_workers,
            threads=sc.threads,
            val_every=sc.val_every,
            processes=_processes(base, exp, sc),
            subset=sc.subset,
            pretrained_optional=sc.pretrained_optional,
            preflight=sc.preflight,
            decode_cache=sc.decode_cache,
        )

    def _fit_to_dataset(self, model_spec: dict, dataset_name: str, where: str) -> dict:
        """One models.yaml entry serves every dataset: its heatmaps are the dataset's joints, a
        classifier's outputs the dataset's classes."""
        ds = self.dataset(dataset_name)
        if model_task(model_spec) == "classification":
            if ds.classification is None:
                raise ConfigError(f"{where}: model {model_spec.get('family')!r} classifies "
                                  f"images, but dataset {dataset_name!r} has no "
                                  "`classification` splits")
            key, count = "num_classes", ds.classification.num_classes
        else:
            if ds.train is None:
                raise ConfigError(f"{where}: dataset {dataset_name!r} ({ds.source}) has no "
                                  "keypoint splits for a pose model")
            key, count = "num_joints", ds.keypoints.num_joints
        return model_spec if model_spec.get(key) == count else {**model_spec, key: count}

    def stand_in(self, scale: str, dataset: str | None) -> str | None:
        """`dataset` when the scale lets a run replace every experiment's dataset with it."""
        return dataset if dataset is not None and dataset in self.scale(scale).stand_ins \
            else None

    def trained_experiments(self, scale: str, dataset: str | None = None) -> list[str]:
        """The experiments the scale trains (scales.yaml `train`), in registry order; with
        `dataset`, only those that train on it (one pipeline run covers one dataset; a stand-in
        dataset replaces every experiment's)."""
        train = self.scale(scale).train
        chosen = [e for e in self.experiments if train == "all" or e in train]
        if dataset is None or self.stand_in(scale, dataset):
            return chosen
        return [e for e in chosen if (self.scale(scale).dataset or self.experiments[e].dataset)
                == dataset]

    def seed_count(self, experiment: str, scale: str) -> int:
        """Trainings of `experiment` at `scale` (SeedsSpec: by experiment, else the most any of
        its papers asks for, else the scale's default)."""
        seeds = self.scale(scale).seeds
        if seeds is None:
            return 1
        if experiment in seeds.experiments:
            return seeds.experiments[experiment]
        papers = [n for key, n in seeds.papers.items() if experiment in self.paper_experiments(key)]
        return max(papers) if papers else seeds.default

    def paper_experiments(self, paper: str) -> set[str]:
        """The experiments of every row of a paper's tables (paper key: the table-name prefix) and
        its claims' recipe-matched baselines."""
        from pose.report.papers import matched_baselines, paper_key

        names = list(self.tables)
        return {row.experiment for t in names if paper_key(t, names) == paper
                for row in self.table(t).typed_rows(f"{self.params_dir}/papers/{t}.yaml")
                } | set(matched_baselines(self, paper))

    def seed_runs(self, experiment: str, scale: str) -> list[str]:
        """The run ids of `experiment` at `scale`: its own run, then one per further seed."""
        first = self.experiments[experiment].seed
        return [experiment] + [seed_run_id(experiment, first + k)
                               for k in range(1, self.seed_count(experiment, scale))]

    def trained_runs(self, scale: str, dataset: str | None = None) -> list[str]:
        """Every training the scale runs: each trained experiment's seed runs (train and
        evaluate iterate over these; complexity, throughput and speed over the experiments)."""
        return [run for e in self.trained_experiments(scale, dataset)
                for run in self.seed_runs(e, scale)]

    def datasets_for_scale(self, scale: str) -> list[str]:
        """Datasets the trained experiments need at this scale (what synth/fetch produce)."""
        trained = self.trained_experiments(scale)
        return sorted({self.resolve(e, scale).dataset_name for e in trained})

    def init_source(self, experiment: str, scale: str) -> str | None:
        """The source holding the experiment's ImageNet checkpoint (None: trained from scratch,
        or the scale turns pretraining off)."""
        pretrained = self.resolve(experiment, scale).model_spec.get("pretrained")
        return self.sources.owner_of(pretrained) if pretrained else None

    def data_sources(self, scale: str, dataset: str | None = None) -> dict[str, str]:
        """{source: folder} the scale's runs need (on `dataset` only, when given): the datasets'
        sources and the checkpoints of the models trained. dvc.yaml's data stage and the
        Snakefile's fetch rules iterate over it."""
        datasets = [dataset] if dataset is not None else self.datasets_for_scale(scale)
        names = [s for d in datasets for s in self.dataset(d).sources]
        if self.scale(scale).pretrained_optional:  # used when present, never fetched for it
            return {n: self.sources.get(n).out for n in names}
        for exp in self.trained_experiments(scale, dataset):
            init = self.init_source(exp, scale)
            if init is not None and init not in names:
                names.append(init)
        return {n: self.sources.get(n).out for n in names}

    def test_dev_sources(self, dataset: str) -> dict[str, str]:
        """{source: folder} of the dataset's test-dev split (image info, images, detections):
        fetched for the test-dev submission only."""
        split = self.dataset(dataset).test_dev
        if split is None:
            return {}
        paths = [self.dataset(dataset).path(rel)
                 for rel in (split.annotations, split.images, split.detections) if rel]
        names = dict.fromkeys(self.sources.owner_of(p) for p in paths)
        return {n: self.sources.get(n).out for n in names if n is not None}

    def test_dev_experiments(self, scale: str) -> list[str]:
        """Trained experiments whose table compares on COCO test-dev (they get a submission)."""
        wanted = {row.experiment for name, table in self.tables.items()
                  if table.ap_split == "test-dev"
                  for row in table.typed_rows(f"{self.params_dir}/papers/{name}.yaml")}
        return [e for e in self.trained_experiments(scale) if e in wanted]

    def complexity_targets(self) -> list[tuple[str, str]]:
        """(model, paper input) pairs whose complexity the tables need, each once."""
        return sorted({(e.model, e.input) for e in self.experiments.values()})


def model_task(model_spec: dict) -> Literal["keypoints", "classification"]:
    """'classification' for an image classifier's spec (DANet Table X), else 'keypoints'."""
    from pose.models.spec import CLASSIFICATION_FAMILIES

    return "classification" if model_spec.get("family") in CLASSIFICATION_FAMILIES \
        else "keypoints"


def _processes(name: str, exp: ExperimentSpec, sc: ScaleSpec) -> int:
    """Training processes: one per GPU on CUDA; on the CPU one, or the scale's cpu_ddp count
    for the experiments it lists."""
    if sc.device == "cuda":
        return exp.gpus
    if sc.cpu_ddp is not None and name in sc.cpu_ddp.experiments:
        return sc.cpu_ddp.processes
    return 1


def load_registry(params_dir: str | Path = PARAMS_DIR, check_pipeline: bool = True) -> Registry:
    """Read and cross-check every file of params/.

    With `check_pipeline=False` pipeline.yaml is read if it can be, never checked: for callers
    that run at another scale, check it themselves, or rewrite it (`pose use-scale`).
    """
    from pose.claims import load_claims
    from pose.evaluate.official import load_official_weights
    from pose.fetch.spec import load_sources
    from pose.models import validate_spec  # models validate their own spec keys

    p = Path(params_dir)
    datasets = {
        k: from_dict(DatasetSpec, v, f"{p}/datasets.yaml: {k}")
        for k, v in _mapping(read_yaml(p / "datasets.yaml"), f"{p}/datasets.yaml").items()
    }
    recipes = {
        k: from_dict(RecipeSpec, v, f"{p}/recipes.yaml: {k}")
        for k, v in _mapping(read_yaml(p / "recipes.yaml"), f"{p}/recipes.yaml").items()
    }
    models = _mapping(read_yaml(p / "models.yaml"), f"{p}/models.yaml")
    for name, spec in models.items():
        validate_spec(spec, f"{p}/models.yaml: {name}")
    exp_file = _mapping(read_yaml(p / "experiments.yaml"), f"{p}/experiments.yaml")
    if set(exp_file) != {"experiments"}:
        raise ConfigError(f"{p}/experiments.yaml: expected a single top-level key 'experiments'")
    experiments = {
        k: from_dict(ExperimentSpec, v, f"{p}/experiments.yaml: {k}")
        for k, v in _mapping(exp_file["experiments"], f"{p}/experiments.yaml").items()
    }
    scales = {
        k: from_dict(ScaleSpec, v, f"{p}/scales.yaml: {k}")
        for k, v in _mapping(read_yaml(p / "scales.yaml"), f"{p}/scales.yaml").items()
    }
    tables = {name: _load_table(p, name) for name in _table_names(p)}
    pipeline = _read_pipeline(p, required=check_pipeline)
    registry = Registry(
        p, datasets, recipes, models, experiments, scales, tables, pipeline.get("scale"), pipeline,
        sources=load_sources(p),
        official_weights=load_official_weights(p),
    )
    _cross_check(registry)
    registry = replace(registry, claims=load_claims(registry))
    if check_pipeline:
        check_pipeline_file(registry)
    return registry


def _read_pipeline(p: Path, required: bool) -> dict:
    try:
        return _mapping(read_yaml(p / "pipeline.yaml"), f"{p}/pipeline.yaml")
    except ConfigError:
        if required:
            raise
        return {}


def _table_names(p: Path) -> list[str]:
    index = _mapping(read_yaml(p / "tables.yaml"), f"{p}/tables.yaml")
    names = index.get("tables")
    if set(index) != {"tables"} or not isinstance(names, list):
        raise ConfigError(f"{p}/tables.yaml: expected a single key 'tables' holding a list")
    on_disk = {f.stem for f in (p / "papers").glob("*.yaml")}
    unlisted = sorted(on_disk - set(names))
    if unlisted:
        raise ConfigError(
            f"{p}/tables.yaml: tables {unlisted} exist in {p}/papers/ but are not listed"
        )
    return names


def _load_table(p: Path, name: str) -> TableSpec:
    f = p / "papers" / f"{name}.yaml"
    return from_dict(TableSpec, _mapping(read_yaml(f), str(f)), str(f))


# --------------------------------------------------------------------------- pipeline.yaml
PIPELINE_KEYS = ("scale", "dataset", "data", "train", "runs", "curves", "speed")


# What a training run depends on besides its dataset when it starts from no checkpoint: the
# loader code, which decides that nothing is loaded (DVC needs one path per dependency slot).
NO_INIT_DEP = "pose/models/pretrained.py"


def pipeline_train(registry: Registry, scale: str, dataset: str | None = None
                   ) -> dict[str, dict[str, str]]:
    """pipeline.yaml's `train`: what dvc.yaml's train/evaluate stages iterate over (DVC templating
    cannot filter experiments.yaml by the scale's selection itself). `init` is the folder of the
    run's ImageNet checkpoint, a dependency of its training; `train_hash` the identity of every
    param the weights depend on, the train stage's one params trigger."""
    exps = registry.experiments
    out = {}
    for name in registry.trained_experiments(scale, dataset):
        init = registry.init_source(name, scale)
        out[name] = {"model": exps[name].model, "recipe": exps[name].recipe,
                     "init": registry.sources.get(init).out if init else NO_INIT_DEP,
                     # what the weights depend on (ResolvedExperiment.train_hash): dvc.yaml's
                     # train stage re-runs when it changes, as Snakemake's train rule does
                     "train_hash": registry.resolve(name, scale, dataset).train_hash}
    return out


def pipeline_runs(registry: Registry, scale: str, dataset: str | None = None
                  ) -> dict[str, dict[str, str]]:
    """pipeline.yaml's `runs`: every training of the scale (each trained experiment once per
    seed, Registry.trained_runs), what dvc.yaml's train and evaluate stages iterate over; the
    fields of `train` for its experiment, with the run's own train_hash (the seed is in it)."""
    train = pipeline_train(registry, scale, dataset)
    out = {}
    for run in registry.trained_runs(scale, dataset):
        experiment = split_run_id(run)[0] if run not in train else run
        out[run] = {**train[experiment], "experiment": experiment,
                    "train_hash": registry.resolve(run, scale, dataset).train_hash}
    return out


def pipeline_curves(registry: Registry, scale: str, dataset: str | None = None) -> dict:
    """pipeline.yaml's `curves`: dvc.yaml's two top-level plots (`dvc plots show`), validation
    AP and training loss per epoch with every training of the scale overlaid."""
    logs = [f"runs/{scale}/{run}/train_log.csv" for run in registry.trained_runs(scale, dataset)]
    return {
        field: {title: {"x": "epoch", "y": dict.fromkeys(logs, field), "x_label": "epoch",
                        "y_label": label}}
        for field, title, label in (
            ("val_ap", "validation AP per epoch", "validation AP (OKS, or top-1 accuracy)"),
            ("loss", "training loss per epoch", "loss"))
    }


def pipeline_for_scale(registry: Registry, scale: str, dataset: str | None = None) -> dict:
    """Everything pipeline.yaml holds for `scale` on one dataset, derived from the registry.

    A pipeline run covers one dataset. A scale whose experiments train on several (full: COCO
    and MPII) runs them one dataset at a time; without `dataset` the first of them in
    datasets.yaml's order is taken."""
    datasets = registry.datasets_for_scale(scale)
    if dataset is None:
        dataset = next((d for d in registry.datasets if d in datasets), None)
    check_pipeline_dataset(registry, scale, dataset)
    return {"scale": scale, "dataset": dataset,
            "data": {k: {"out": v} for k, v in registry.data_sources(scale, dataset).items()},
            "train": pipeline_train(registry, scale, dataset),
            "runs": pipeline_runs(registry, scale, dataset),
            "curves": pipeline_curves(registry, scale, dataset),
            "speed": _pipeline_speed(registry, scale, dataset)}


def _pipeline_speed(registry: Registry, scale: str, dataset: str | None) -> dict:
    """pipeline.yaml's `speed` (pose.report.tables.pipeline_speed): the `pose speed` records
    dvc.yaml's speed stage makes."""
    from pose.report.tables import pipeline_speed

    return pipeline_speed(registry, scale, dataset)


def check_pipeline_dataset(registry: Registry, scale: str, dataset: str | None) -> None:
    """The dataset named beside a scale (pipeline.yaml, the Slurm profile) must be one the
    scale's experiments train on; dvc.yaml and the Snakefile depend on it by name."""
    needed = registry.datasets_for_scale(scale)
    if registry.stand_in(scale, dataset):
        return
    if dataset is None or dataset not in needed:
        # Say which datasets the scale takes: the command that named the wrong one (`pose
        # use-scale S --dataset D`, a profile's config) is no hint.
        takes = needed + [d for d in registry.scale(scale).stand_ins if d not in needed]
        stand_ins = registry.scale(scale).stand_ins
        also = f" (or {stand_ins} in place of every experiment's)" if stand_ins else ""
        raise ConfigError(
            f"scale {scale!r} trains on dataset(s) {needed}{also}, not {dataset!r}: name one "
            f"of {takes} (`pose use-scale {scale} --dataset {takes[0]}`, or `dataset` in "
            f"{registry.params_dir}/pipeline.yaml or the profile's config)"
            if dataset is not None else
            f"scale {scale!r} trains on dataset(s) {needed}, but the pipeline names none "
            f"({registry.params_dir}/pipeline.yaml: run `pose use-scale {scale}`)"
        )


def check_pipeline_train(registry: Registry, scale: str, train: Any,
                         dataset: str | None = None) -> None:
    """pipeline.yaml's `train` must be what the registry derives, or DVC would train another
    selection than Snakemake and the tables."""
    want = pipeline_train(registry, scale, dataset)
    have = train if isinstance(train, dict) else {}
    if train == want:
        return
    problems = [
        f"{label}: {names}"
        for label, names in (
            ("missing", [e for e in want if e not in have]),
            ("not trained at this scale", [e for e in have if e not in want]),
            ("model, recipe or params differ",
             [e for e in want if e in have and have[e] != want[e]]),
        )
        if names
    ] or [f"expected a mapping of experiment ids, got {train!r}"]
    raise ConfigError(
        f"{registry.params_dir}/pipeline.yaml: `train` is out of date with scales.yaml "
        f"{scale}.train and experiments.yaml ({'; '.join(problems)}); it is derived: run "
        f"`pose use-scale {scale}`"
    )


def check_pipeline_file(registry: Registry) -> None:
    """pipeline.yaml must agree with the registry: a known scale, its dataset and its `train`."""
    unknown = sorted(set(registry.pipeline) - set(PIPELINE_KEYS))
    if unknown:
        raise ConfigError(
            f"{registry.params_dir}/pipeline.yaml: unknown key(s) {unknown}; expected "
            f"{', '.join(PIPELINE_KEYS)} (run `pose use-scale SCALE`)"
        )
    scale = registry.pipeline.get("scale")
    if scale not in registry.scales:
        raise ConfigError(
            f"{registry.params_dir}/pipeline.yaml: scale {scale!r} is not one of "
            f"{sorted(registry.scales)}; run `pose use-scale SCALE`"
        )
    dataset = registry.pipeline.get("dataset")
    check_pipeline_dataset(registry, scale, dataset)
    want = {k: {"out": v} for k, v in registry.data_sources(scale, dataset).items()}
    if registry.pipeline.get("data") != want:
        raise ConfigError(
            f"{registry.params_dir}/pipeline.yaml: `data` is out of date with sources.yaml, "
            f"datasets.yaml and scales.yaml {scale} (expected sources {sorted(want)}); it is "
            f"derived: run `pose use-scale {scale}`"
        )
    check_pipeline_train(registry, scale, registry.pipeline.get("train"), dataset)
    if registry.pipeline.get("runs") != pipeline_runs(registry, scale, dataset):
        raise ConfigError(
            f"{registry.params_dir}/pipeline.yaml: `runs` is out of date with scales.yaml "
            f"{scale}.train and {scale}.seeds; it is derived: run `pose use-scale {scale}`"
        )
    if registry.pipeline.get("curves") != pipeline_curves(registry, scale, dataset):
        raise ConfigError(
            f"{registry.params_dir}/pipeline.yaml: `curves` is out of date with scales.yaml "
            f"{scale}.train and {scale}.seeds; it is derived: run `pose use-scale {scale}`"
        )
    if registry.pipeline.get("speed", {}) != _pipeline_speed(registry, scale, dataset):
        raise ConfigError(
            f"{registry.params_dir}/pipeline.yaml: `speed` is out of date with the papers' "
            f"speed columns (params/papers/) and scales.yaml {scale}; it is derived: run "
            f"`pose use-scale {scale}`"
        )


def check_pipeline(registry: Registry, scale: str, dataset: str | None) -> None:
    """Check a run at `scale` on `dataset`. When they are pipeline.yaml's own, the whole file is
    checked (its `train` drives DVC); a scale given instead (Snakemake's `--config scale=full
    dataset=coco`) takes its selection from the registry, so only its dataset is checked."""
    own = (scale, dataset) == (registry.pipeline.get("scale"), registry.pipeline.get("dataset"))
    if own:
        check_pipeline_file(registry)
    else:
        registry.scale(scale)
        check_pipeline_dataset(registry, scale, dataset)


def _positive(value: float | None, where: str, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise ConfigError(f"{where}: must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _check_resolved(exp: ResolvedExperiment, scale_where: str, spec: ExperimentSpec) -> None:
    """Every experiment at every scale must build: a typo in a scale's override fails at load
    time, naming the scale, not when a job starts."""
    from pose.models import validate_spec

    validate_spec(exp.model_spec, f"{scale_where}.models applied to models.yaml: {spec.model}")
    where = f"recipes.yaml: {spec.recipe} (at {scale_where})"
    r = exp.recipe
    for key, value in (("epochs", r.epochs), ("batch_size", r.batch_size),
                       ("optimizer.lr", r.optimizer.lr), ("sigma", r.sigma)):
        _positive(value, f"{where}.{key}")
    _positive(r.optimizer.weight_decay, f"{where}.optimizer.weight_decay", allow_zero=True)
    if r.schedule.type == "sgdr":
        _positive(r.schedule.t0, f"{where}.schedule.t0")
        _positive(r.schedule.t_mult, f"{where}.schedule.t_mult")
    if list(r.schedule.milestones) != sorted(set(r.schedule.milestones)):
        raise ConfigError(
            f"{where}.schedule.milestones: must increase, got {r.schedule.milestones}"
        )
    _positive(exp.val_every, f"{scale_where}.val_every")
    _positive(exp.num_workers, f"{scale_where}.num_workers", allow_zero=True)
    _positive(exp.threads, f"{scale_where}.threads")
    _positive(spec.gpus, f"experiments.yaml: {exp.name}.gpus")
    _positive(spec.nodes, f"experiments.yaml: {exp.name}.nodes")
    if spec.gpus % spec.nodes:
        raise ConfigError(f"experiments.yaml: {exp.name}: gpus {spec.gpus} do not split evenly "
                          f"over nodes {spec.nodes}")
    if exp.device != "cuda" and r.batch_size % exp.processes:
        raise ConfigError(
            f"{where}.batch_size: {r.batch_size} is the total over {exp.processes} training "
            f"processes of experiment {exp.name} and must divide evenly over them"
        )
    if exp.device == "cuda" and r.batch_size % spec.gpus:
        raise ConfigError(
            f"{where}.batch_size: {r.batch_size} is the total over experiments.yaml: "
            f"{exp.name}.gpus = {spec.gpus} GPUs and must divide evenly over them"
        )


def _check_train_selection(reg: Registry, scale: str, train: str | list[str]) -> None:
    """A scale's `train` names known experiments, each once: a typo must not drop one silently."""
    where = f"{reg.params_dir}/scales.yaml: {scale}.train"
    if train == "all":
        return
    if not train:
        raise ConfigError(f"{where}: empty; list the experiments this scale trains, or `all`")
    unknown = [e for e in train if e not in reg.experiments]
    if unknown:
        raise ConfigError(
            f"{where}: unknown experiment(s) {unknown}; known: {sorted(reg.experiments)}"
        )
    repeated = sorted({e for e in train if train.count(e) > 1})
    if repeated:
        raise ConfigError(f"{where}: experiment(s) {repeated} listed more than once")


def _check_seeds(reg: Registry, scale: str, seeds: SeedsSpec | None) -> None:
    """`seeds` names paper keys and experiments that exist: a typo must not drop seeds."""
    if seeds is None:
        return
    from pose.report.papers import paper_key

    where = f"{reg.params_dir}/scales.yaml: {scale}.seeds"
    names = list(reg.tables)
    papers = sorted({paper_key(t, names) for t in names})
    unknown = sorted(set(seeds.papers) - set(papers))
    if unknown:
        raise ConfigError(f"{where}.papers: unknown paper(s) {unknown}; known: {papers}")
    unknown = sorted(set(seeds.experiments) - set(reg.experiments))
    if unknown:
        raise ConfigError(f"{where}.experiments: unknown experiment(s) {unknown}")


def _check_check_scale_keys(reg: Registry, sname: str, sc: ScaleSpec) -> None:
    """stand_ins name datasets; cpu_ddp names experiments and applies on the CPU only."""
    where = f"{reg.params_dir}/scales.yaml: {sname}"
    unknown = [d for d in sc.stand_ins if d not in reg.datasets]
    if unknown:
        raise ConfigError(f"{where}.stand_ins: unknown dataset(s) {unknown}; known: "
                          f"{sorted(reg.datasets)}")
    if sc.cpu_ddp is None:
        return
    if sc.device != "cpu":
        raise ConfigError(f"{where}.cpu_ddp: only for `device: cpu` (on CUDA every experiment "
                          "trains on its `gpus`)")
    unknown = [e for e in sc.cpu_ddp.experiments if e not in reg.experiments]
    if unknown:
        raise ConfigError(f"{where}.cpu_ddp.experiments: unknown experiment(s) {unknown}")
    if not sc.preflight:
        return
    # a check scale proves the distributed path of every family and of every sync_bn recipe
    listed = set(sc.cpu_ddp.experiments)
    covered = {reg.models[reg.experiments[e].model].get("family") for e in listed}
    families = {reg.models[e.model].get("family") for e in reg.experiments.values()}
    sync_bn = [n for n, e in reg.experiments.items() if reg.recipes[e.recipe].sync_bn]
    missing = sorted(families - covered) + [e for e in sync_bn if e not in listed]
    if missing:
        raise ConfigError(f"{where}.cpu_ddp.experiments: add an experiment of each model "
                          f"family and every sync_bn experiment; missing: {missing}")


def _cross_check(reg: Registry) -> None:
    from pose.evaluate.official import check_official_weights

    p = reg.params_dir
    for name, exp in reg.experiments.items():
        where = f"{p}/experiments.yaml: {name}"
        if split_run_id(name)[1] is not None:
            raise ConfigError(f"{where}: an experiment id must not end in "
                              f"'{SEED_SEPARATOR}<digits>' (the seed runs' ids)")
        for kind, table, ref in (
            ("model", reg.models, exp.model),
            ("recipe", reg.recipes, exp.recipe),
            ("dataset", reg.datasets, exp.dataset),
        ):
            if ref not in table:
                raise ConfigError(f"{where}.{kind}: {unknown_name(kind, ref, table)}")
        parse_input(exp.input, f"{where}.input")
    for sname, sc in reg.scales.items():
        if sc.dataset is not None and sc.dataset not in reg.datasets:
            raise ConfigError(
                f"{p}/scales.yaml: {sname}.dataset: unknown dataset {sc.dataset!r}; "
                f"known: {sorted(reg.datasets)}"
            )
        if sc.input is not None:
            parse_input(sc.input, f"{p}/scales.yaml: {sname}.input")
        _check_train_selection(reg, sname, sc.train)
        _check_seeds(reg, sname, sc.seeds)
        _check_check_scale_keys(reg, sname, sc)
        families = {spec.get("family") for spec in reg.models.values()}
        for key in sc.models:
            if key not in families and key not in reg.models:
                raise ConfigError(
                    f"{p}/scales.yaml: {sname}.models.{key}: neither a model family "
                    f"({sorted(families)}) nor a model name"
                )
    for sname in reg.scales:
        for ename, exp in reg.experiments.items():
            _check_resolved(reg.resolve(ename, sname), f"{p}/scales.yaml: {sname}", exp)
    _check_sources(reg)
    check_official_weights(reg)


def _check_topk_figures(row: TableRow, metric: str, where: str) -> None:
    """paper.top1_error / top5_error belong to `metric: topk` tables and are percentages."""
    for key in ("top1_error", "top5_error"):
        value = getattr(row.paper, key)
        if value is None:
            continue
        if metric != "topk":
            raise ConfigError(f"{where}: paper.{key} is only read by a `metric: topk` table")
        if not 0 <= value <= 100:
            raise ConfigError(f"{where}: paper.{key} must be a percentage in 0..100, got "
                              f"{value!r}")


def _check_pckh_figures(row: TableRow, metric: str, where: str) -> None:
    """paper.pckh belongs to `metric: pckh` tables and holds PCKH_COLUMNS' percentages."""
    figures = row.paper.pckh
    if figures is None:
        return
    if metric != "pckh":
        raise ConfigError(f"{where}: paper.pckh is only read by a `metric: pckh` table")
    unknown = sorted(set(figures) - set(PCKH_COLUMNS))
    if unknown:
        raise ConfigError(f"{where}: paper.pckh has unknown column(s) {unknown}; expected some "
                          f"of {list(PCKH_COLUMNS)}")
    bad = {k: v for k, v in figures.items()
           if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 100}
    if bad:
        raise ConfigError(f"{where}: paper.pckh values must be percentages in 0..100, got {bad}")


def _check_paper_speed(row: TableRow, table: TableSpec, where: str) -> None:
    """paper.speed names the table's speed columns and gives positive figures."""
    figures = row.paper.speed or {}
    known = [s.column for s in table.speed]
    unknown = sorted(set(figures) - set(known))
    if unknown:
        raise ConfigError(f"{where}: paper.speed names {unknown}, not a column of the table's "
                          f"`speed:` (columns: {known}), which says how each was measured")
    bad = {k: v for k, v in figures.items()
           if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0}
    if bad:
        raise ConfigError(f"{where}: paper.speed values must be positive numbers, got {bad}")


def _check_sources(reg: Registry) -> None:
    """Datasets and checkpoints must come from sources: a synthetic dataset from its generator,
    every path of a fetched one from one of its sources' folders, every `pretrained` file from a
    source (so the data stage fetches it before training)."""
    p = reg.params_dir
    for name, ds in reg.datasets.items():
        where = f"{p}/datasets.yaml: {name}.sources"
        specs = {s: reg.sources.get(s) for s in ds.sources}
        if ds.source == "synthetic":
            if [(s.generate, s.out) for s in specs.values()] != [(name, ds.root)]:
                raise ConfigError(f"{where}: a synthetic dataset has one source, with "
                                  f"`generate: {name}` and `out: {ds.root}`")
            continue
        for split, spec in (("train", ds.train), ("val", ds.val), ("test_dev", ds.test_dev)):
            for rel in (spec.annotations, spec.images, spec.detections) if spec else ():
                owner = rel and reg.sources.owner_of(ds.path(rel))
                # train/val come from the dataset's sources; test-dev from any source (only the
                # test-dev submission stage fetches it)
                if rel and (owner is None or (split != "test_dev" and owner not in specs)):
                    raise ConfigError(
                        f"{where}: {name}.{split}: {ds.path(rel)} is in none of the "
                        f"{'dataset' if split != 'test_dev' else 'registry'}'s sources "
                        f"({sorted(specs)}); add the source that fetches it"
                    )
        cls = ds.classification
        for split, rel in (("train", cls.train), ("val", cls.val)) if cls else ():
            if reg.sources.owner_of(ds.path(rel)) not in specs:
                raise ConfigError(f"{where}: {name}.classification.{split}: {ds.path(rel)} is in "
                                  f"none of the dataset's sources ({sorted(specs)}); add the "
                                  "source that fetches it")
    for model, spec in reg.models.items():
        pretrained = spec.get("pretrained")
        if pretrained and reg.sources.owner_of(pretrained) is None:
            raise ConfigError(f"{p}/models.yaml: {model}.pretrained: {pretrained} is in no "
                              f"source folder of {p}/sources.yaml")
    for tname, table in reg.tables.items():
        for row in table.typed_rows(f"{p}/papers/{tname}.yaml"):
            _check_pckh_figures(row, table.metric, f"{p}/papers/{tname}.yaml: row {row.label!r}")
            _check_topk_figures(row, table.metric, f"{p}/papers/{tname}.yaml: row {row.label!r}")
            _check_paper_speed(row, table, f"{p}/papers/{tname}.yaml: row {row.label!r}")
            if row.experiment not in reg.experiments:
                raise ConfigError(
                    f"{p}/papers/{tname}.yaml: row {row.label!r} names unknown experiment "
                    f"{row.experiment!r}; known: {sorted(reg.experiments)}"
                )
