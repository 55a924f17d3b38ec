"""Top-down person instances from a COCO keypoints annotation file, with ground-truth boxes or a
COCO results-format file of person detections (the official coco.py rules). Detection boxes need
only the image list, so they also work on an image-info file (test-dev: no annotations)."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pose.data.keypoints import NUM_JOINTS
from pose.data.transforms import PIXEL_STD, box_to_center_scale, clean_box
from pose.errors import DataError

PERSON_CATEGORY = 1

log = logging.getLogger(__name__)


@dataclass
class Instance:
    """One person crop: where to look (center, scale) and, for ground-truth boxes, the joints.

    `joints` is (17, 3) = (x, y, visibility in {0, 1}), all zeros for a detection. `area` is the
    crop area in image pixels, scale[0]·scale[1]·200², the area the official OKS-NMS uses.
    """

    image_id: int
    image_path: Path
    center: np.ndarray
    scale: np.ndarray
    joints: np.ndarray
    box_score: float
    area: float


def _read_json(path: Path, what: str) -> Any:
    """Parse a JSON file, turning a missing or garbled file into a DataError that names it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read {what} as JSON ({exc})") from exc


def read_annotations(ann_file: Path) -> dict[str, Any]:
    """Load a COCO keypoints annotation file and check the keys the pipeline relies on."""
    data = _read_json(ann_file, "COCO keypoints annotation file")
    if not isinstance(data, dict):
        raise DataError(f"{ann_file}: not a COCO keypoints annotation file: expected a JSON "
                        f"object, got {type(data).__name__}")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{ann_file}: not a COCO keypoints annotation file: no '{key}' list")
    _check_images(data["images"], ann_file)
    for ann in data["annotations"]:
        need = {"image_id", "category_id", "bbox", "keypoints", "area"}
        if not isinstance(ann, dict) or not need <= ann.keys():
            raise DataError(f"{ann_file}: annotation {ann!r:.80} lacks one of {sorted(need)}")
        if len(ann["keypoints"]) != 3 * NUM_JOINTS:
            raise DataError(f"{ann_file}: annotation {ann.get('id')} has "
                            f"{len(ann['keypoints'])} keypoint values, expected {3 * NUM_JOINTS}")
    return data


def _check_images(images: list[Any], path: Path) -> None:
    for img in images:
        if not isinstance(img, dict) or not {"id", "width", "height"} <= img.keys():
            raise DataError(f"{path}: image entry {img!r:.80} lacks id, width or height")


def read_image_info(path: Path) -> dict[str, Any]:
    """The image list of a COCO file: a keypoints annotation file or an image-info file (COCO
    test-dev's `image_info_test-dev2017.json`: images and categories, no annotations). All that
    detection boxes need, since test-dev has no public ground truth."""
    data = _read_json(path, "COCO annotation or image-info file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path}: not a COCO annotation or image-info file: expected a JSON "
                        "object with an 'images' list")
    _check_images(data["images"], path)
    return data


def _image_path(image_dir: Path, img: dict[str, Any]) -> Path:
    return Path(image_dir) / img.get("file_name", f"{int(img['id']):012d}.jpg")


def _instance(image_id: int, path: Path, box: np.ndarray, joints: np.ndarray, score: float,
              aspect_ratio: float) -> Instance:
    center, scale = box_to_center_scale(box, aspect_ratio)
    area = float(scale[0] * scale[1] * PIXEL_STD ** 2)
    return Instance(image_id, path, center, scale, joints, float(score), area)


def gt_instances(data: dict[str, Any], image_dir: Path, aspect_ratio: float) -> list[Instance]:
    """Ground-truth boxes, cleaned as in the official coco.py: crowd annotations, other
    categories, annotations with area <= 0, no box left after clipping, or no labelled
    keypoint are dropped; visibility 2 becomes 1."""
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    out = []
    for img in data["images"]:
        image_id = int(img["id"])
        path = _image_path(image_dir, img)
        for ann in by_image.get(image_id, []):
            if ann.get("iscrowd", 0) or ann["category_id"] != PERSON_CATEGORY:
                continue
            box = clean_box(ann["bbox"], img["width"], img["height"])
            if box is None or ann["area"] <= 0 or max(ann["keypoints"]) == 0:
                continue
            kpts = np.asarray(ann["keypoints"], dtype=np.float64).reshape(NUM_JOINTS, 3)
            kpts[:, 2] = np.minimum(kpts[:, 2], 1)
            out.append(_instance(image_id, path, box, kpts, 1.0, aspect_ratio))
    return out


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_detection(det: Any, i: int, det_file: Path) -> None:
    """One entry of a COCO results-format detection file: the keys and value types read."""
    where = f"{det_file}: detection {i} ({det!r:.80})"
    need = {"image_id", "category_id", "bbox", "score"}
    if not isinstance(det, dict) or not need <= det.keys():
        raise DataError(f"{where} lacks one of image_id, category_id, bbox, score")
    for key in ("image_id", "category_id"):
        if not _is_int(det[key]):
            raise DataError(f"{where}: {key} must be an integer, got {det[key]!r:.40}")
    bbox = det["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        raise DataError(f"{where}: bbox must be 4 finite numbers [x, y, w, h], got "
                        f"{bbox!r:.60}")
    if not _is_number(det["score"]):
        raise DataError(f"{where}: score must be a finite number, got {det['score']!r:.40}")


def det_instances(data: dict[str, Any], det_file: Path, image_dir: Path, aspect_ratio: float,
                  score_thresh: float, images_from: str = "the annotation file"
                  ) -> list[Instance]:
    """Person detections (category 1) with score >= score_thresh (the official test: drop
    score < IMAGE_THRE), each an instance with its box score and zero joints.

    Every entry is checked as the file is read (keys, integer ids, a bbox of 4 finite numbers,
    a finite score): a bad one is a DataError naming the file and the entry's index. A file
    with no detection, or none left by the rules above, is a DataError too (it would score AP
    0.0). Boxes with zero or negative width or height are skipped with a warning: the official
    loader keeps every box as given, and such a box becomes a crop of zero or negative scale (a
    degenerate affine transform) whose prediction holds no person, so dropping it removes at
    most one false positive from what the official code scores."""
    dets = _read_json(det_file, "person detection results file")
    if not isinstance(dets, list):
        raise DataError(f"{det_file}: not a COCO detection results file: expected a JSON list "
                        f"of {{image_id, category_id, bbox, score}}, got {type(dets).__name__}")
    if not dets:
        raise DataError(f"{det_file}: no detection at all (an empty list); evaluating with it "
                        "would score AP 0.0")
    images = {int(img["id"]): img for img in data["images"]}
    out = []
    persons = 0
    degenerate: list[int] = []
    for i, det in enumerate(dets):
        _check_detection(det, i, det_file)
        img = images.get(det["image_id"])
        if img is None:
            raise DataError(f"{det_file}: detection for image_id {det['image_id']}, which "
                            f"{images_from} does not list (detections for another split?)")
        if det["category_id"] != PERSON_CATEGORY:
            continue
        persons += 1
        if det["score"] < score_thresh:
            continue
        if det["bbox"][2] <= 0 or det["bbox"][3] <= 0:
            degenerate.append(i)
            continue
        joints = np.zeros((NUM_JOINTS, 3), dtype=np.float64)
        out.append(_instance(int(img["id"]), _image_path(image_dir, img), det["bbox"], joints,
                             det["score"], aspect_ratio))
    if degenerate:
        first = degenerate[0]
        log.warning("%s: %d person detection(s) with zero or negative width or height skipped "
                    "(first: detection %d, bbox %s)", det_file, len(degenerate), first,
                    dets[first]["bbox"])
    if not out:
        raise DataError(f"{det_file}: no person detection to evaluate ({len(dets)} "
                        f"detection(s), {persons} of category {PERSON_CATEGORY}, none with "
                        f"score >= {score_thresh} and a box of positive size); evaluating with "
                        "it would score AP 0.0")
    return out


def load_instances(ann_file: Path, image_dir: Path, boxes: str | Path = "gt",
                   aspect_ratio: float = 0.75, det_score_thresh: float = 0.0) -> list[Instance]:
    """Instances of `ann_file`'s images: boxes="gt" for the cleaned ground-truth boxes, or the
    path of a COCO results-format person detection file. With detections `ann_file` may be an
    image-info file (no annotations). aspect_ratio is input w / h."""
    if isinstance(boxes, str) and boxes == "gt":
        return gt_instances(read_annotations(Path(ann_file)), Path(image_dir), aspect_ratio)
    data = read_image_info(Path(ann_file))
    return det_instances(data, Path(boxes), Path(image_dir), aspect_ratio, det_score_thresh,
                         images_from=str(ann_file))
