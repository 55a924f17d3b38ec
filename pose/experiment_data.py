"""Datasets and evaluation built from a resolved experiment: the one place that maps the registry's
dataset/recipe entries onto the data and evaluation layers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import torch

from pose.config import ResolvedExperiment
from pose.data.classification import ImageFolderDataset, list_samples
from pose.data.coco import Instance, load_instances
from pose.data.codec import HeatmapCodec
from pose.data.dataset import TopDownDataset
from pose.data.keypoint_sets import MPII
from pose.errors import ConfigError, DataError

Split = Literal["train", "val"]


def build_codec(exp: ResolvedExperiment) -> HeatmapCodec:
    (h, w), (hh, hw) = exp.input_hw, exp.heatmap_hw
    return HeatmapCodec((w, h), (hw, hh), exp.recipe.sigma)


def check_output_size(model: torch.nn.Module, exp: ResolvedExperiment) -> None:
    """The model's heatmaps must have the codec's size; a mismatch (e.g. a stride-32 backbone on
    an input that is not a multiple of 32) is a configuration error, not a crash mid-epoch. A
    classifier must give one score per class of the dataset."""
    h, w = exp.input_hw
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, h, w, device=next(model.parameters()).device))
    model.train(was_training)
    if is_classification(exp):
        classes = exp.model_spec["num_classes"]
        if tuple(out.shape) != (1, classes):
            raise ConfigError(f"model {exp.model_name!r} gives outputs of shape "
                              f"{tuple(out.shape)} for input {h}x{w}; expected (1, {classes})")
        return
    out = out[-1] if isinstance(out, list | tuple) else out
    if tuple(out.shape[2:]) != exp.heatmap_hw:
        raise ConfigError(
            f"model {exp.model_name!r} gives {out.shape[2]}x{out.shape[3]} heatmaps for input "
            f"{h}x{w}, but the targets are {exp.heatmap_hw[0]}x{exp.heatmap_hw[1]}; choose an "
            "input whose sides are multiples of 32"
        )


def is_classification(exp: ResolvedExperiment) -> bool:
    """An image classifier (DANet Table X): ImageFolder data, cross-entropy, top-1 / top-5."""
    return exp.task == "classification"


def uses_pckh(exp: ResolvedExperiment) -> bool:
    """MPII is scored with PCKh against gt_valid.mat; COCO-format data with OKS AP."""
    return not is_classification(exp) and exp.keypoints is MPII


def protocol_boxes(exp: ResolvedExperiment, requested: str | None) -> str:
    """The boxes val is evaluated on: `requested`, else the recipe's. MPII's protocol has no
    person detector: every person is cropped at its annotated centre and scale (HRNet's mpii.py),
    which counts as 'gt' whatever the (COCO) recipe says. A classifier is tested on the
    single central crop of every image ('single_crop'), never on boxes."""
    if is_classification(exp):
        if requested is not None:
            raise ConfigError(f"experiment {exp.name!r} classifies images: it is evaluated on "
                              "single central crops, not on person boxes (no --boxes)")
        return "single_crop"
    if not uses_pckh(exp):
        return requested or exp.recipe.test.boxes
    if requested == "detections":
        raise ConfigError(
            f"dataset {exp.dataset_name!r} (MPII) has no person detections: it is evaluated on "
            "the annotated person centre and scale (boxes: gt)"
        )
    return "gt"


def mpii_ground_truth(exp: ResolvedExperiment) -> Path:
    """gt_valid.mat, beside the val annotations (the official annot/ folder)."""
    from pose.data.mpii import GT_VALID_FILE

    return exp.dataset.path(exp.dataset.val.annotations).parent / GT_VALID_FILE


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
    """Train split: GT boxes and the recipe's augmentation. Val split: `boxes` (gt/detections).
    A classifier's split is its class folders (pose.data.classification)."""
    train = split == "train"
    if is_classification(exp):
        return classification_dataset(exp, split)  # type: ignore[return-value]
    augment = exp.recipe.augment if train else None
    return TopDownDataset(_instances(exp, split, boxes), build_codec(exp), train=train,
                          augment=augment, seed=exp.seed, keypoints=exp.keypoints,
                          decode_cache=exp.decode_cache)


def classification_dataset(exp: ResolvedExperiment, split: Split) -> ImageFolderDataset:
    """The split's images and labels (val checked to have the training split's classes); a
    check scale's subset is `train` training images spread evenly over the classes and the first
    `val_images` val images spread alike."""
    spec = exp.dataset.classification
    assert spec is not None  # Registry.resolve refuses a classifier on a dataset without it
    train_samples, classes = list_samples(exp.dataset.path(spec.train))
    if len(classes) != spec.num_classes:
        raise DataError(f"{exp.dataset.path(spec.train)}: {len(classes)} class folders, but "
                        f"params/datasets.yaml: {exp.dataset_name}.classification.num_classes is "
                        f"{spec.num_classes}")
    samples = train_samples if split == "train" else \
        list_samples(exp.dataset.path(spec.val), classes)[0]
    if exp.subset is not None:
        count = exp.subset.train if split == "train" else exp.subset.val_images
        samples = samples[::max(1, len(samples) // count)][:count]
    return ImageFolderDataset(samples, exp.input_hw, train=split == "train", seed=exp.seed)


def first_images(instances: list[Instance], count: int) -> list[Instance]:
    """The instances of the first `count` images, in the order the images first appear."""
    keep = set(list(dict.fromkeys(i.image_id for i in instances))[:count])
    return [i for i in instances if i.image_id in keep]


def subset_instances(exp: ResolvedExperiment, split: Split, instances: list[Instance]
                     ) -> list[Instance]:
    """A check scale's deterministic small part of a split (scales.yaml `subset`): the first
    training persons; every box of the first validation images (on MPII, one person each)."""
    if exp.subset is None:
        return instances
    if split == "train":
        return instances[: exp.subset.train]
    return first_images(instances, exp.subset.val_images)


def evaluated_image_ids(exp: ResolvedExperiment, dataset: TopDownDataset) -> list[int] | None:
    """The images COCOeval scores: all of the annotation file's, or a subset's own."""
    if exp.subset is None:
        return None
    return sorted({int(i.image_id) for i in dataset.instances})


def _instances(exp: ResolvedExperiment, split: Split, boxes: str) -> list[Instance]:
    """The split's persons: MPII's annot JSON (its centre/scale), or COCO's GT/detection boxes;
    a check scale's subset of them."""
    return subset_instances(exp, split, _all_instances(exp, split, boxes))


def _all_instances(exp: ResolvedExperiment, split: Split, boxes: str) -> list[Instance]:
    spec = exp.dataset.train if split == "train" else exp.dataset.val
    if uses_pckh(exp):
        from pose.data.mpii import mpii_instances, read_mpii_annotations

        protocol_boxes(exp, boxes if split == "val" else None)
        persons = read_mpii_annotations(exp.dataset.path(spec.annotations))
        return mpii_instances(persons, exp.dataset.path(spec.images))
    (h, w) = exp.input_hw
    return load_instances(
        exp.dataset.path(spec.annotations),
        exp.dataset.path(spec.images),
        boxes=boxes_source(exp, boxes) if split == "val" else "gt",
        aspect_ratio=w / h,
        det_score_thresh=exp.recipe.test.det_score_thresh,
    )


def load_model(exp: ResolvedExperiment, checkpoint: Path | None = None,
               untrained: bool = False) -> tuple[torch.nn.Module, dict]:
    """The experiment's model on its evaluation device in eval mode, seeded as training starts,
    with the
    trained weights (default runs/<scale>/<exp>/model.pth, checked to be this model's) unless
    `untrained`; returns it with the checkpoint's payload ({"epochs": 0} when untrained)."""
    from pose.engine.checkpoint import load_weights, model_identity
    from pose.engine.trainer import configure_torch
    from pose.models import build_model

    device = configure_torch(exp, device=exp.eval_device)
    torch.manual_seed(exp.seed)
    model = build_model(exp.model_spec, where=f"model {exp.model_name}")
    payload: dict = {"epochs": 0}
    if not untrained:
        ckpt = checkpoint or exp.run_dir / "model.pth"
        payload = load_weights(ckpt, model, model_identity(exp.model_name, exp.model_spec))
    model.to(device).eval()
    return model, payload


def trained_epochs(payload: dict) -> int:
    return int(payload.get("epochs", payload.get("epoch", 0)))


def predict_protocol(model: torch.nn.Module, exp: ResolvedExperiment, dataset: TopDownDataset,
                     progress: bool = True) -> list[dict]:
    """Per-instance predictions with the recipe's test protocol (flip test with the dataset's
    pairs, blur, sub-pixel offset): what val evaluation, the test-dev submission and the MPII
    test prediction file all start from."""
    from pose.evaluate.pipeline import predict

    test = exp.recipe.test
    return predict(
        model,
        dataset,
        batch_size=max(1, min(64, exp.recipe.batch_size)),
        flip_test=test.flip_test,
        num_workers=exp.num_workers,
        device=str(next(model.parameters()).device),  # the training GPU, or the eval device
        progress=progress,
        blur_kernel=test.blur_kernel,
        offset=test.offset,
    )


def evaluate_on_val(
    model: torch.nn.Module,
    exp: ResolvedExperiment,
    boxes: str,
    results_out: Path | None = None,
    progress: bool = True,
    dataset: TopDownDataset | None = None,
) -> dict[str, float]:
    """The full test protocol of the recipe (flip test, rescoring, OKS-NMS, COCOeval) on val;
    on MPII the same predictions (flip test with MPII's pairs) scored by PCKh against
    gt_valid.mat: Head..Ankle, Mean and Mean@0.1 in percent (DANet's Table VIII columns).

    `dataset`: the val dataset of `boxes`, when the caller evaluates repeatedly (per epoch) and
    has built it once."""
    from pose.evaluate.pipeline import coco_keypoint_eval, keypoint_results
    from pose.io import write_json

    dataset = dataset if dataset is not None else build_dataset(exp, "val", boxes)
    if is_classification(exp):
        return _topk_on_val(exp, model, dataset, results_out, progress)
    test = exp.recipe.test
    preds = predict_protocol(model, exp, dataset, progress)
    if uses_pckh(exp):
        return _pckh_on_val(exp, preds, results_out)
    results = keypoint_results(preds, in_vis_thre=test.in_vis_thre, oks_thre=test.oks_thre)
    if results_out is not None:
        write_json(results_out, results, indent=None)
    return coco_keypoint_eval(exp.dataset.path(exp.dataset.val.annotations), results,
                              image_ids=evaluated_image_ids(exp, dataset))


def _topk_on_val(exp: ResolvedExperiment, model: torch.nn.Module, dataset: ImageFolderDataset,
                 results_out: Path | None, progress: bool) -> dict[str, float]:
    """Single-crop top-1 / top-5 errors (percent); results_out gets every image's top 5."""
    from pose.evaluate.topk import evaluate_classifier
    from pose.io import write_json

    stats, predictions = evaluate_classifier(model, dataset, max(1, min(64, exp.recipe.batch_size)),
                                             exp.num_workers, progress)
    if results_out is not None:
        write_json(results_out, [{**p, "image": str(dataset.samples[p["index"]][0])}
                                 for p in predictions], indent=None)
    return stats


def _pckh_on_val(exp: ResolvedExperiment, preds: list[dict], results_out: Path | None
                 ) -> dict[str, float]:
    """PCKh of per-person predictions in valid.json's order; results_out gets them as JSON
    (index, image_id, 0-based x, y and heatmap maxval per joint)."""
    import numpy as np

    from pose.data.mpii import read_mpii_gt
    from pose.evaluate.coco_eval import check_finite_predictions
    from pose.evaluate.pckh import evaluate_mpii
    from pose.io import write_json

    check_finite_predictions(preds)  # NaN coordinates would count as misses, silently
    preds = sorted(preds, key=lambda p: p["index"])
    if results_out is not None:
        write_json(results_out, [{"index": p["index"], "image_id": p["image_id"],
                                  "keypoints": np.asarray(p["keypoints"]).tolist()}
                                 for p in preds], indent=None)
    joints = exp.keypoints.num_joints
    coords = np.array([np.asarray(p["keypoints"])[:, :2] for p in preds]).reshape(-1, joints, 2)
    gt = read_mpii_gt(mpii_ground_truth(exp))
    if exp.subset is not None:  # a check scale's first persons: their rows of gt_valid.mat
        rows = [p["index"] for p in preds]
        gt = replace(gt, joints=gt.joints[rows], missing=gt.missing[rows],
                     headboxes=gt.headboxes[rows])
    return evaluate_mpii(coords, gt)


def val_score(exp: ResolvedExperiment, stats: dict[str, float]) -> float:
    """The one figure per validation the training log keeps (train_log.csv `val_ap`, 0..1):
    OKS AP, or on MPII the PCKh@0.5 Mean as a fraction, or a classifier's top-1 accuracy."""
    if is_classification(exp):
        return 1.0 - stats["top1_error"] / 100.0
    return stats["Mean"] / 100.0 if uses_pckh(exp) else stats["AP"]
