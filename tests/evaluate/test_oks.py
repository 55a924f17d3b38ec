"""OKS, OKS-NMS and the official rescoring."""

from __future__ import annotations

import numpy as np
import pytest

from pose.data.keypoints import OKS_SIGMAS
from pose.evaluate.coco_eval import keypoint_results, rescore
from pose.evaluate.oks import oks_iou, oks_nms


def pose_at(x: float, y: float, score: float = 0.9) -> np.ndarray:
    rng = np.random.default_rng(0)
    pts = np.array([x, y]) + rng.uniform(-40, 40, (17, 2))
    return np.concatenate([pts, np.full((17, 1), score)], axis=1)


def test_oks_is_one_for_identical_poses_and_matches_its_formula() -> None:
    g = pose_at(100, 100)
    d = g.copy()
    d[:, 0] += 3.0
    ious = oks_iou(g, np.stack([g, d]), 5000.0, np.array([5000.0, 3000.0]))
    assert ious[0] == pytest.approx(1.0)
    expected = np.exp(-9 / (2 * 4000.0 * (2 * OKS_SIGMAS) ** 2)).mean()
    assert ious[1] == pytest.approx(expected)


def test_oks_nms_removes_a_duplicate_and_keeps_distinct_people() -> None:
    a = pose_at(100, 100)
    dup = a + [1.0, 1.0, 0.0]
    b = pose_at(400, 120)
    keep = oks_nms(np.stack([dup, a, b]), np.array([0.5, 0.9, 0.7]), np.full(3, 8000.0), 0.9)
    assert keep == [1, 2]  # highest score first; the near-copy of pose 1 is suppressed
    far = a + [60.0, 0.0, 0.0]  # same place in the image but a different pose: kept
    assert oks_nms(np.stack([a, far]), np.array([0.9, 0.8]), np.full(2, 8000.0), 0.9) == [0, 1]


def test_rescoring_multiplies_box_score_by_mean_confident_maxval() -> None:
    maxvals = np.zeros((3, 17))
    maxvals[0, :4] = [0.9, 0.5, 0.2, 0.1]  # 0.2 is not above the threshold
    maxvals[1, :] = 0.15  # nothing above: score 0
    maxvals[2, :] = 0.8
    np.testing.assert_allclose(rescore(maxvals, np.array([0.8, 1.0, 0.5])),
                               [0.8 * 0.7, 0.0, 0.4])


def test_keypoint_results_rescore_nms_and_format() -> None:
    a = pose_at(100, 100, 0.6)
    preds = [
        {"image_id": 5, "keypoints": a, "box_score": 0.5, "area": 8000.0},
        {"image_id": 5, "keypoints": a + [0.5, 0, 0.2], "box_score": 1.0, "area": 8000.0},
        {"image_id": 6, "keypoints": a, "box_score": 1.0, "area": 8000.0},
    ]
    results = keypoint_results(preds)
    assert [(r["image_id"], r["score"]) for r in results] == [(5, pytest.approx(0.8)),
                                                              (6, pytest.approx(0.6))]
    r = results[0]
    assert r["category_id"] == 1 and len(r["keypoints"]) == 51
    assert all(isinstance(v, float) for v in r["keypoints"] + [r["score"]])
    assert r["keypoints"][:3] == pytest.approx([a[0, 0] + 0.5, a[0, 1], 0.8])
