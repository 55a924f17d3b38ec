"""COCO keypoint results (rescoring + OKS-NMS) and their pycocotools evaluation."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from pose.data.coco import PERSON_CATEGORY, read_annotations
from pose.data.keypoints import NUM_JOINTS
from pose.errors import DataError, DivergedError
from pose.evaluate.oks import oks_nms

log = logging.getLogger(__name__)

STAT_NAMES = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


def rescore(maxvals: np.ndarray, box_scores: np.ndarray, in_vis_thre: float = 0.2) -> np.ndarray:
    """Instance score = box score × mean of the joint maxvals above in_vis_thre (0 when none
    is): maxvals (N, J), box_scores (N,) → (N,)."""
    maxvals = np.asarray(maxvals, dtype=np.float64)
    above = maxvals > in_vis_thre
    count = above.sum(axis=1)
    mean = np.where(above, maxvals, 0.0).sum(axis=1) / np.maximum(count, 1)
    return np.asarray(box_scores, dtype=np.float64) * mean


def check_finite_predictions(preds: list[dict], where: str = "model predictions") -> None:
    """DivergedError naming the first instance whose keypoints or box score are NaN or
    infinite: COCOeval would count a NaN similarity as a match and score a broken model."""
    for n, p in enumerate(preds):
        kpts = np.asarray(p["keypoints"], dtype=np.float64)
        score = float(p.get("box_score", 0.0))
        if np.isfinite(kpts).all() and np.isfinite(score):
            continue
        instance = p.get("index", n)
        what = (f"keypoints hold {np.count_nonzero(~np.isfinite(kpts))} non-finite values"
                if not np.isfinite(kpts).all() else f"box score is {score}")
        raise DivergedError(
            f"{where}: image {p['image_id']}, instance {instance}: {what}; the model's "
            "weights hold NaN or infinite values (a diverged training?), so nothing is scored"
        )


def keypoint_results(preds: list[dict], in_vis_thre: float = 0.2, oks_thre: float = 0.9
                     ) -> list[dict]:
    """Per-instance predictions (image_id, keypoints (J, 3), box_score, area) → the COCO
    results list after rescoring and per-image OKS-NMS, as the official coco.py evaluate.
    Non-finite keypoints or scores are a DivergedError naming the instance."""
    check_finite_predictions(preds)
    by_image: dict[int, list[dict]] = {}
    for p in preds:
        by_image.setdefault(int(p["image_id"]), []).append(p)
    results = []
    for image_id, group in by_image.items():
        kpts = np.stack([np.asarray(p["keypoints"], dtype=np.float64) for p in group])
        scores = rescore(kpts[..., 2], np.array([p["box_score"] for p in group]), in_vis_thre)
        areas = np.array([p["area"] for p in group], dtype=np.float64)
        for k in oks_nms(kpts, scores, areas, oks_thre):
            results.append({
                "image_id": image_id,
                "category_id": PERSON_CATEGORY,
                "keypoints": [float(v) for v in kpts[k].reshape(-1)],
                "score": float(scores[k]),
            })
    return results


def _check_results(results: Any, where: str, image_ids: set[int]) -> list[dict]:
    if not isinstance(results, list):
        raise DataError(f"{where}: not a COCO keypoint results list (got {type(results).__name__})")
    for n, r in enumerate(results):
        if not isinstance(r, dict) or not {"image_id", "keypoints", "score"} <= r.keys():
            raise DataError(f"{where}: result {r!r:.80} lacks image_id, keypoints or score")
        if len(r["keypoints"]) != 3 * NUM_JOINTS:
            raise DataError(f"{where}: result for image {r['image_id']} has "
                            f"{len(r['keypoints'])} keypoint values, expected {3 * NUM_JOINTS}")
        if int(r["image_id"]) not in image_ids:
            raise DataError(f"{where}: result for image_id {r['image_id']}, which the "
                            "annotation file does not list")
        if not (np.isfinite(np.asarray(r["keypoints"], dtype=np.float64)).all()
                and np.isfinite(float(r["score"]))):
            raise DataError(f"{where}: result {n} (image {r['image_id']}) has non-finite "
                            "keypoints or score (NaN or infinity), which COCOeval would count "
                            "as matches")
    return results


def coco_keypoint_eval(ann_file: Path, results: list[dict] | Path,
                       image_ids: Sequence[int] | None = None) -> dict[str, float]:
    """pycocotools COCOeval(gt, dt, 'keypoints') → {AP, AP50, ..., ARL} as floats in 0..1.

    Evaluates the images of the annotation file (or `image_ids` when given), so an image with
    people but no result counts as missed. A statistic with no ground truth in its area range
    is -1.0 (pycocotools' convention). With no results at all the statistics are 0.0 and a
    warning says so (COCOeval cannot load an empty result list).
    """
    data = read_annotations(Path(ann_file))
    if not isinstance(data.get("categories"), list):
        raise DataError(f"{ann_file}: not a COCO keypoints annotation file: no 'categories'")
    known = {int(img["id"]) for img in data["images"]}
    if isinstance(results, str | Path):
        where = str(results)
        try:
            results = json.loads(Path(results).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{where}: cannot read keypoint results as JSON ({exc})") from exc
    else:
        where = "keypoint results"
    results = _check_results(results, where, known)
    if not results:
        warnings.warn(f"no keypoint results to evaluate against {ann_file}: reporting 0.0 for "
                      "every statistic", RuntimeWarning, stacklevel=2)
        return dict.fromkeys(STAT_NAMES, 0.0)

    for ann in data["annotations"]:
        if "id" not in ann:
            raise DataError(f"{ann_file}: annotation {ann!r:.80} has no 'id'")
        # fields COCOeval reads; COCO files have them, hand-made ones may not
        ann.setdefault("iscrowd", 0)
        ann.setdefault("num_keypoints", int(np.count_nonzero(np.asarray(ann["keypoints"])[2::3])))
    dts = [{**r, "category_id": r.get("category_id", PERSON_CATEGORY)} for r in results]
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        gt = COCO()
        gt.dataset = data  # freshly read here: COCOeval may annotate it in place
        gt.createIndex()
        dt = gt.loadRes(dts)
        coco_eval = COCOeval(gt, dt, "keypoints")
        if image_ids is not None:
            coco_eval.params.imgIds = sorted(int(i) for i in image_ids)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    log.info("COCOeval keypoints on %s:\n%s", ann_file, summary.getvalue())
    return {name: float(v) for name, v in zip(STAT_NAMES, coco_eval.stats, strict=True)}
