"""A tiny COCO keypoints fixture written by hand: three images with bright blobs at the joints,
people of medium and large size, a crowd region, an unlabelled person and a detection file."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

# Joint positions as fractions of the person box (a standing person facing the camera).
TEMPLATE = np.array([
    [0.50, 0.08], [0.56, 0.05], [0.44, 0.05], [0.62, 0.07], [0.38, 0.07],
    [0.70, 0.20], [0.30, 0.20], [0.80, 0.35], [0.20, 0.35], [0.85, 0.50], [0.15, 0.50],
    [0.62, 0.55], [0.38, 0.55], [0.63, 0.75], [0.37, 0.75], [0.64, 0.95], [0.36, 0.95],
])


def person(ann_id: int, image_id: int, box: list[float], vis: list[int] | None = None) -> dict:
    """A person annotation whose joints follow TEMPLATE inside `box`."""
    x, y, w, h = box
    vis = [2] * 17 if vis is None else vis
    kpts = []
    for (u, v), flag in zip(TEMPLATE, vis, strict=True):
        kpts += [round(x + u * w, 2), round(y + v * h, 2), flag] if flag else [0, 0, 0]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": box,
            "area": w * h * 0.6, "keypoints": kpts, "num_keypoints": sum(f > 0 for f in vis),
            "segmentation": []}


def write_coco_fixture(root: Path) -> SimpleNamespace:
    image_dir = root / "images"
    image_dir.mkdir(parents=True)
    images = [
        {"id": 1, "file_name": "a.jpg", "width": 160, "height": 200},
        {"id": 2, "file_name": "b.png", "width": 320, "height": 240},
        {"id": 3, "file_name": "c.png", "width": 200, "height": 160},
    ]
    half = [2] * 11 + [0] * 6
    anns = [
        person(1, 1, [40, 20, 70, 160]),
        person(2, 2, [20, 30, 120, 200]),  # large (area > 96²)
        person(3, 2, [180, 40, 60, 110], vis=[2, 1, 1] + [2] * 14),
        {**person(4, 2, [150, 150, 60, 60]), "iscrowd": 1, "keypoints": [0] * 51,
         "num_keypoints": 0},
        {**person(5, 2, [250, 100, 40, 80]), "keypoints": [0] * 51, "num_keypoints": 0},
        person(6, 3, [60, 10, 70, 130], vis=half),
    ]
    rng = np.random.default_rng(0)
    for img in images:
        canvas = rng.integers(0, 60, (img["height"], img["width"], 3), dtype=np.uint8)
        for ann in anns:
            if ann["image_id"] == img["id"]:
                k = np.array(ann["keypoints"], dtype=float).reshape(17, 3)
                for x, y, v in k:
                    if v > 0:
                        cv2.circle(canvas, (round(x), round(y)), 3, (255, 255, 255), -1)
        cv2.imwrite(str(image_dir / img["file_name"]), canvas)
    ann_file = root / "person_keypoints.json"
    categories = [{"id": 1, "name": "person", "supercategory": "person",
                   "keypoints": [f"k{i}" for i in range(17)], "skeleton": []}]
    ann_file.write_text(json.dumps({"images": images, "annotations": anns,
                                    "categories": categories}))
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [38, 18, 74, 165], "score": 0.95},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 30, 30], "score": 0.0},
        {"image_id": 2, "category_id": 1, "bbox": [22, 28, 118, 205], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [178, 42, 64, 108], "score": 0.8},
        {"image_id": 2, "category_id": 2, "bbox": [10, 10, 50, 50], "score": 0.99},
        {"image_id": 3, "category_id": 1, "bbox": [58, 8, 74, 134], "score": 0.7},
    ]
    det_file = root / "detections.json"
    det_file.write_text(json.dumps(dets))
    return SimpleNamespace(ann_file=ann_file, image_dir=image_dir, det_file=det_file,
                           annotations=anns)


@pytest.fixture()
def coco_fixture(tmp_path: Path) -> SimpleNamespace:
    return write_coco_fixture(tmp_path / "coco")
