"""Stage functions: each takes a resolved configuration and paths, and returns nothing but files.

The CLI is a thin layer over these, and Snakemake rules and DVC stages call the CLI, so a rule and
a stage always run the same code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import yaml

from pose.code_version import current_code
from pose.config import (
    Registry,
    ResolvedExperiment,
    format_input,
    load_registry,
    parse_input,
    pipeline_for_scale,
)
from pose.errors import DataError, PoseError
from pose.io import check_writable, write_json, write_text

log = logging.getLogger(__name__)


def synth_stage(registry: Registry, dataset: str, out: Path | None, progress: bool) -> Path:
    """Generate the synthetic COCO-format dataset described in params/datasets.yaml."""
    from pose.data.synth import SynthConfig, write_synthetic_dataset
    from pose.spec import from_dict

    spec = registry.dataset(dataset)
    if spec.source != "synthetic":
        raise PoseError(f"dataset {dataset!r} is not synthetic (source: {spec.source}); use fetch")
    where = f"{registry.params_dir}/datasets.yaml: {dataset}.synth"
    cfg = from_dict(SynthConfig, spec.synth, where)
    root = Path(out) if out else Path(spec.root)
    _refuse_foreign_dir(root)
    write_synthetic_dataset(root, cfg, progress=progress,
                            extra=_classes_writer(spec, f"{registry.params_dir}/datasets.yaml: "
                                                        f"{dataset}.classification.synth"))
    return root


def _classes_writer(spec, where: str) -> Callable[[Path], int] | None:
    """Writes the synthetic dataset's classification splits (the stand-in for ImageNet) into
    the folder being generated; None when the dataset has none."""
    from pose.data.classification import SynthClassesConfig, write_synthetic_classes
    from pose.spec import from_dict

    cls = spec.classification
    if cls is None:
        return None
    cfg = from_dict(SynthClassesConfig, cls.synth, where)
    return lambda tmp: write_synthetic_classes(tmp / cls.train, tmp / cls.val, cls.num_classes,
                                               cfg)


def _refuse_foreign_dir(root: Path) -> None:
    """The generator replaces `root` whole: only an empty folder or an earlier synthetic dataset
    may be replaced, never a folder holding something else (e.g. a downloaded COCO)."""
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        return
    marker = root / "annotations" / "person_keypoints_train.json"
    try:
        info = json.loads(marker.read_text(encoding="utf-8")).get("info", {})
    except (OSError, ValueError, AttributeError):
        info = {}
    if not isinstance(info, dict) or "synth_config" not in info:
        raise PoseError(
            f"{root}: exists and is not a synthetic dataset made by `pose synth`; refusing to "
            "replace it (choose another --out, or remove the folder)"
        )


def fetch_stage(registry: Registry, name: str, progress: bool,
                emit: Callable[[str], None] = print) -> None:
    """Make a source's folder, or every source of a dataset, whole; `emit` gets one line per
    source as it is done (a dataset whose last source fails still reports the others).

    A generated source (the synthetic dataset) is generated; a fetched dataset is then checked
    for every file its splits name, so a run never starts training on a partial dataset."""
    from pose.fetch.fetch import fetch_source

    sources = registry.sources
    if name in sources.sources:
        spec = sources.get(name)
        if spec.generate is not None:
            root = synth_stage(registry, spec.generate, None, progress)
            emit(f"{name}: generated {root}")
            return
        result = fetch_source(sources, name, progress=progress)
        done = (f"downloaded {', '.join(result.downloaded)}" if result.downloaded
                else "nothing downloaded")
        absent = [f for check in result.layout.values() if isinstance(check, dict)
                  for f in check.get("absent", [])]  # a partial source's files not placed
        emit(f"{name}: {result.status} {result.out} ({done}"
             + (f"; not placed: {', '.join(absent)})" if absent else ")"))
        return
    if name not in registry.datasets:
        raise PoseError(f"{name!r} is neither a source of {sources.path} "
                        f"({', '.join(sources.sources)}) nor a dataset "
                        f"({', '.join(registry.datasets)})")
    spec = registry.dataset(name)
    for source in spec.sources:
        fetch_stage(registry, source, progress, emit)
    if spec.source != "synthetic":
        _check_dataset_files(name, spec)


def _check_dataset_files(name: str, spec) -> None:
    wanted = [spec.path(p) for split in (spec.train, spec.val) if split is not None
              for p in (split.annotations, split.images, split.detections) if p]
    if spec.classification is not None:
        wanted += [spec.path(spec.classification.train), spec.path(spec.classification.val)]
    missing = [str(p) for p in wanted if not p.exists()]
    if missing:
        raise DataError(
            f"dataset {name!r} is incomplete after fetching its sources: {', '.join(missing)} "
            "missing (paths from params/datasets.yaml)"
        )


def train_stage(exp: ResolvedExperiment, progress: bool) -> Path:
    from pose.engine.trainer import train_experiment

    return train_experiment(exp, progress=progress)


def evaluate_stage(
    exp: ResolvedExperiment,
    checkpoint: Path | None,
    boxes: str | None,
    progress: bool,
    untrained: bool = False,
    weights: Path | None = None,
    out: Path | None = None,
    annotations: Path | None = None,
    images: Path | None = None,
    detections: Path | None = None,
) -> dict:
    """Evaluate the trained model on val; writes eval.json (metrics) and results.json.

    With `untrained`, the freshly initialised model (seeded as training starts) is evaluated
    instead, as the chance-level contrast to the trained figure. `weights`: a plain state dict
    from elsewhere (pose.engine.state_dict), loaded strictly into the experiment's model.
    `annotations`/`images`/`detections` replace the val split's files. With any of these, another
    `checkpoint` or other `boxes` the run is a diagnostic: it prints, and writes nothing of the
    run's (the table reads eval.json as the protocol's figure). `out` also gets the record.
    """
    import torch

    from pose.experiment_data import evaluate_on_val, load_model, protocol_boxes, trained_epochs

    if weights is not None and (checkpoint is not None or untrained):
        raise PoseError("--weights replaces the run's weights: give it without --checkpoint or "
                        "--untrained")
    files = {"annotations": annotations, "images": images, "detections": detections}
    if any(v is not None for v in files.values()):
        exp, boxes = with_val_files(exp, boxes, annotations, images, detections)
    diagnostic = (untrained or checkpoint is not None or boxes is not None
                  or weights is not None or any(v is not None for v in files.values()))
    # before the evaluation runs (minutes at full scale), not when its outputs are written
    if not diagnostic:
        check_writable(exp.run_dir, "evaluation writes eval.json and results.json")
    if out is not None:
        check_writable(Path(out).parent, f"evaluation writes {Path(out).name}")
    if weights is not None:
        from pose.engine.state_dict import load_plain_state_dict

        model, payload = load_model(exp, None, untrained=True)  # built and seeded as usual
        load_plain_state_dict(weights, model, exp.model_name)
    else:
        model, payload = load_model(exp, checkpoint, untrained)
    boxes = protocol_boxes(exp, boxes)
    results_out = None if diagnostic else exp.run_dir / "results.json"
    with torch.no_grad():
        stats = evaluate_on_val(model, exp, boxes, results_out, progress)
    record = {
        "experiment": exp.name,
        "scale": exp.scale,
        "dataset": exp.dataset_name,
        "boxes": boxes,
        "input": format_input(exp.input_hw),
        "flip_test": exp.recipe.test.flip_test and exp.task == "keypoints",
        "epochs": None if weights is not None else trained_epochs(payload),
        **({"weights": str(weights)} if weights is not None else {}),
        **{k: str(v) for k, v in files.items() if v is not None},
        **{k: float(v) for k, v in stats.items()},
        # what it was evaluated with: Snakemake re-evaluates when params/ gives another
        "config_hash": exp.config_hash,
        "eval_code": current_code()["eval_code"],
    }
    if not diagnostic:
        write_json(exp.run_dir / "eval.json", record)
    if out is not None:
        write_json(out, record)
    return record


def with_val_files(exp: ResolvedExperiment, boxes: str | None, annotations: Path | None,
                   images: Path | None, detections: Path | None
                   ) -> tuple[ResolvedExperiment, str | None]:
    """The experiment evaluated on other val files (a COCO-format annotation file and its image
    folder, and the detection file its detection boxes come from); returns it with the boxes
    to use. Each file must exist; the combinations that leave a box source open are refused."""
    from dataclasses import replace

    from pose.config import SplitSpec

    if (annotations is None) != (images is None):
        raise PoseError("--annotations and --images go together: an annotation file and the "
                        "folder of its images")
    if detections is not None:
        if boxes == "gt":
            raise PoseError("--detections gives detection boxes; it contradicts --boxes gt")
        boxes = "detections"
    for path, kind in ((annotations, "file"), (images, "folder"), (detections, "file")):
        if path is not None and not (path.is_file() if kind == "file" else path.is_dir()):
            raise DataError(f"{path}: {kind} not found")
    wanted = boxes or exp.recipe.test.boxes
    if annotations is not None and detections is None and wanted == "detections":
        raise PoseError(
            f"{annotations}: the recipe evaluates with detection boxes; give their file "
            "(--detections FILE, COCO results format) or use --boxes gt"
        )
    val = exp.dataset.val
    # absolute paths: DatasetSpec.path() joins them to the dataset root unchanged
    val = SplitSpec(
        annotations=str(annotations.resolve()) if annotations is not None else val.annotations,
        images=str(images.resolve()) if images is not None else val.images,
        detections=(str(detections.resolve()) if detections is not None
                    else None if annotations is not None else val.detections),
    )
    return replace(exp, dataset=replace(exp.dataset, val=val)), boxes


def verify_official_stage(registry: Registry, scale: str, progress: bool,
                          weights_dir: Path | None = None,
                          runs_dir: Path = Path("runs/official"),
                          table: Path = Path("reports/tables/official_weights"),
                          overrides: dict | None = None,
                          emit: Callable[[str], None] = print) -> dict:
    """Every placed official weights file through evaluate_stage: records and the table."""
    from pose.evaluate.official import verify_official

    registry.scale(scale)

    def evaluate(**kwargs: object) -> dict:
        return evaluate_stage(checkpoint=None, progress=progress, **kwargs)  # type: ignore[arg-type]

    return verify_official(registry, scale, evaluate, weights_dir, runs_dir, table, overrides,
                           emit)


def oracle_stage(
    annotations: Path,
    images: Path,
    input_hw: tuple[int, int],
    sigma: float,
    out: Path | None,
    progress: bool,
) -> dict:
    """AP of heatmaps rendered from the ground truth: the codec's upper bound on this data.

    GT boxes are used: a detection box has no ground truth of its own to render.
    """
    from pose.data.coco import load_instances
    from pose.data.codec import HeatmapCodec
    from pose.data.dataset import TopDownDataset
    from pose.evaluate.pipeline import coco_keypoint_eval, keypoint_results, predict_oracle

    h, w = input_hw
    instances = load_instances(annotations, images, boxes="gt", aspect_ratio=w / h)
    codec = HeatmapCodec((w, h), (w // 4, h // 4), sigma)
    dataset = TopDownDataset(instances, codec, train=False)
    results = keypoint_results(predict_oracle(dataset, progress=progress))
    stats = coco_keypoint_eval(annotations, results)
    record = {"mode": "oracle", "annotations": str(annotations), "boxes": "gt",
              "input": format_input(input_hw), "sigma": sigma, **stats}
    if out:
        write_json(out, record)
    return record


def ground_truth_stage(annotations: Path, out: Path | None) -> dict:
    """AP of the ground-truth keypoints fed back as results (must be 1.0: checks the evaluator)."""
    from pose.data.coco import read_annotations
    from pose.evaluate.pipeline import coco_keypoint_eval

    anns = read_annotations(annotations)["annotations"]
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in anns
        if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd", 0)
    ]
    stats = coco_keypoint_eval(annotations, results)
    record = {"mode": "ground_truth", "annotations": str(annotations), **stats}
    if out:
        write_json(out, record)
    return record


def complexity_stage(registry: Registry, model: str, input_text: str) -> dict:
    """Params, paper-convention GFLOPs and true GMACs of the paper-size model."""
    from pose.measure.complexity import measure_complexity

    hw = parse_input(input_text, "--input")
    return measure_complexity(registry.model(model), model, hw)


def table_stage(registry: Registry, table: str, scale: str) -> None:
    from pose.report.tables import build_table

    registry.scale(scale)
    build_table(registry, table, scale)


def report_stage(registry: Registry, scale: str) -> None:
    """The index and what it shows beside the tables: the training curves, every training's
    figures (reports/results.csv), the claims check and the papers' figures. A check scale's
    few steps per experiment have none of these but the index."""
    from pose.report.claims_stage import write_claims_outputs
    from pose.report.figures import write_paper_figures
    from pose.report.index import write_index
    from pose.report.plots import plot_training

    if registry.scale(scale).preflight:
        write_index(registry, scale)
        return
    runs, reports = Path("runs"), Path("reports")
    plot_training(registry, scale)
    claims = write_claims_outputs(registry, scale, runs, reports, reports / "plots")
    figures = write_paper_figures(registry, scale, runs, reports / "plots")
    write_index(registry, scale, claims=claims, figures=figures)


PIPELINE_HEADER = """\
# What `dvc repro` and a plain `snakemake` run. Derived from scales.yaml and experiments.yaml by
# `pose use-scale SCALE`; do not edit by hand (every `pose` command run at this scale, and the
# Snakefile, stop on a copy that no longer matches the registry).
# - scale: the preset (scales.yaml); dataset: the dataset that scale trains on.
# - train: the experiments the scale trains, each with its model and recipe; dvc.yaml's train and
#   evaluate stages iterate over it (DVC templating cannot filter experiments.yaml by scale).
# The Slurm profile runs Snakemake with `scale=full dataset=coco`: the Snakefile then takes the
# experiments to train from the registry for that scale, and this file's `train` is not checked.
"""


def use_scale_stage(params_dir: Path, scale: str, dataset: str | None = None) -> Path:
    """Rewrite params/pipeline.yaml for `scale` from the registry (the file is derived: DVC reads
    the scale's selection from it). The old file is not read, so a stale one is replaced.
    `dataset`: which of the scale's datasets the pipeline runs (default: pipeline_for_scale's)."""
    registry = load_registry(params_dir, check_pipeline=False)
    if registry.scale(scale).preflight:
        raise PoseError(
            f"scale {scale!r} is a check scale: Snakemake runs it (`snakemake --cores N --config "
            f"scale={scale} dataset=coco`, or dataset=synthetic anywhere), one `pose preflight` "
            "job per experiment; DVC versions the training scales' results"
        )
    body = yaml.safe_dump(
        pipeline_for_scale(registry, scale, dataset), sort_keys=False, default_flow_style=None,
        width=100,
    )
    path = Path(params_dir) / "pipeline.yaml"
    write_text(path, PIPELINE_HEADER + body)
    return path
