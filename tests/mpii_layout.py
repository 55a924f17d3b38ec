"""A tiny folder in the field's MPII layout for tests: images/*.jpg, annot/{train,valid,test}.json
and gt_valid.mat (the official evaluation's arrays) made from the valid persons."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from pose.data.mpii import GT_VALID_FILE

GT_NAMES = ["rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thrx", "neck", "head",
            "rwri", "relb", "rsho", "lsho", "lelb", "lwri"]


def write_gt(path: Path, persons: list[dict], names: list[str] = GT_NAMES) -> None:
    """gt_valid.mat in the official layout: 16 x N, 16 x 2 x N, 2 x 2 x N; each head box spans
    30 px above the person's centre."""
    pos = np.array([p["joints"] for p in persons], dtype=np.float64)
    missing = 1.0 - np.array([p["joints_vis"] for p in persons], dtype=np.float64)
    boxes = np.array([[[p["center"][0] - 10, p["center"][1] - 40],
                       [p["center"][0] + 10, p["center"][1] - 10]] for p in persons])
    scipy.io.savemat(path, {"dataset_joints": np.array([names], dtype=object),
                            "jnt_missing": missing.T, "pos_gt_src": pos.transpose(1, 2, 0),
                            "headboxes_src": boxes.transpose(1, 2, 0)})


def write_mpii_folder(root: Path, train: list[dict], valid: list[dict], test: list[dict],
                      image_hw: tuple[int, int]) -> Path:
    """Three random images 000000001..3.jpg of `image_hw`, the three annot files and the
    ground truth of `valid`; returns `root`."""
    (root / "images").mkdir(parents=True)
    (root / "annot").mkdir()
    rng = np.random.default_rng(0)
    for k in (1, 2, 3):
        image = rng.integers(0, 255, (*image_hw, 3), dtype=np.uint8)
        assert cv2.imwrite(str(root / "images" / f"{k:09d}.jpg"), image)
    for name, data in (("train", train), ("valid", valid), ("test", test)):
        (root / "annot" / f"{name}.json").write_text(json.dumps(data))
    write_gt(root / "annot" / GT_VALID_FILE, valid)
    return root
