"""Datasets and evaluation built from a resolved experiment: the one place that maps the registry's
dataset/recipe entries onto the data and evaluation layers."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch

from pose.config import ResolvedExperiment
from pose.data.coco import load_instances
from pose.data.codec import HeatmapCodec
from pose.data.dataset import TopDownDataset
from pose.errors import ConfigError

Split = Literal["train", "val"]


def build_codec(exp: ResolvedExperiment) -> HeatmapCodec:
    (h, w), (hh, hw) = exp.input_hw, exp.heatmap_hw
    return HeatmapCodec((w, h), (hw, hh), exp.recipe.sigma)


def check_output_size(model: torch.nn.Module, exp: ResolvedExperiment) -> None:
    """The model's heatmaps must have the codec's size; a mismatch (e.g. a stride-32 backbone on
    an input that is not a multiple of 32) is a configuration error, not a crash mid-epoch."""
    h, w = exp.input_hw
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, h, w, device=next(model.parameters()).device))
    model.train(was_training)
    out = out[-1] if isinstance(out, list | tuple) else out
    if tuple(out.shape[2:]) != exp.heatmap_hw:
        raise ConfigError(
            f"model {exp.model_name!r} gives {out.shape[2]}x{out.shape[3]} heatmaps for input "
            f"{h}x{w}, but the targets are {exp.heatmap_hw[0]}x{exp.heatmap_hw[1]}; choose an "
            "input whose sides are multiples of 32"
        )


def boxes_source(exp: ResolvedExperiment, boxes: str) -> str | Path:
    """'gt' or the detection file of the val split; a dataset without one is a config error."""
    if boxes == "gt":
        return "gt"
    detections = exp.dataset.val.detections
    if detections is None:
        raise ConfigError(
            f"dataset {exp.dataset_name!r} has no val detections file; set val.detections in "
            "params/datasets.yaml or evaluate with GT boxes (test.boxes: gt)"
        )
    return exp.dataset.path(detections)


def build_dataset(exp: ResolvedExperiment, split: Split, boxes: str = "gt") -> TopDownDataset:
    """Train split: GT boxes and the recipe's augmentation. Val split: `boxes` (gt/detections)."""
    spec = exp.dataset.train if split == "train" else exp.dataset.val
    (h, w) = exp.input_hw
    instances = load_instances(
        exp.dataset.path(spec.annotations),
        exp.dataset.path(spec.images),
        boxes=boxes_source(exp, boxes) if split == "val" else "gt",
        aspect_ratio=w / h,
        det_score_thresh=exp.recipe.test.det_score_thresh,
    )
    train = split == "train"
    augment = exp.recipe.augment if train else None
    return TopDownDataset(instances, build_codec(exp), train=train, augment=augment, seed=exp.seed)


def evaluate_on_val(
    model: torch.nn.Module,
    exp: ResolvedExperiment,
    boxes: str,
    results_out: Path | None = None,
    progress: bool = True,
    dataset: TopDownDataset | None = None,
) -> dict[str, float]:
    """The full test protocol of the recipe (flip test, rescoring, OKS-NMS, COCOeval) on val.

    `dataset`: the val dataset of `boxes`, when the caller evaluates repeatedly (per epoch) and
    has built it once."""
    from pose.evaluate.pipeline import coco_keypoint_eval, keypoint_results, predict
    from pose.io import write_json

    dataset = dataset if dataset is not None else build_dataset(exp, "val", boxes)
    test = exp.recipe.test
    preds = predict(
        model,
        dataset,
        batch_size=max(1, min(64, exp.recipe.batch_size)),
        flip_test=test.flip_test,
        num_workers=exp.num_workers,
        device=exp.device,
        progress=progress,
        blur_kernel=test.blur_kernel,
        offset=test.offset,
    )
    results = keypoint_results(preds, in_vis_thre=test.in_vis_thre, oks_thre=test.oks_thre)
    if results_out is not None:
        write_json(results_out, results, indent=None)
    return coco_keypoint_eval(exp.dataset.path(exp.dataset.val.annotations), results)
