"""PCKh against figures worked out by hand on three persons, and against the MPII benchmark
toolkit's definitions (its 14-joint matrix, column pairs and pooled Total)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pose.data.mpii import read_mpii_gt
from pose.errors import DataError
from pose.evaluate.pckh import (
    evaluate_mpii,
    head_sizes,
    pckh_per_joint,
    pckh_table,
)

# Head boxes [[x1, y1], [x2, y2]] (1-based, MATLAB) and the head sizes 0.6 × diagonal:
#   person 0: diagonal (30, 40) -> 50  -> head size 30: error limit 15 px at 0.5, 3 px at 0.1
#   person 1: diagonal (60, 80) -> 100 -> head size 60: error limit 30 px at 0.5, 6 px at 0.1
#   person 2: diagonal (50, 0)  -> 50  -> head size 30: error limit 15 px at 0.5, 3 px at 0.1
HEADBOXES = np.array([[[10, 10], [40, 50]], [[0, 0], [60, 80]], [[100, 100], [150, 100]]],
                     dtype=np.float64)

# Ground truth, 1-based integers: joint j of person p at (100 + 10 j + 300 p, 200 + 5 j).
GT = np.array([[[100 + 10 * j + 300 * p, 200 + 5 * j] for j in range(16)] for p in range(3)],
              dtype=np.float64)

# Missing ground-truth joints: r_wrist (10) of persons 0 and 1, l_wrist (15) of persons 1 and 2.
MISSING = np.zeros((3, 16), dtype=bool)
MISSING[0, 10] = MISSING[1, 10] = MISSING[1, 15] = MISSING[2, 15] = True

# Prediction error (px) per (person, joint); every other joint is predicted exactly.
# Ratio = error / head size; "ok" at 0.5 when ratio <= 0.5, and at 0.1 when ratio <= 0.1.
ERRORS = {
    (0, 0): (3.2, 0),     # r_ankle    3.2/30 = 0.107   ok@0.5, wrong@0.1 (it would pass 0.11)
    (0, 5): (3, 4),       # l_ankle    5/30   = 0.167   ok@0.5, wrong@0.1
    (0, 6): (100, 0),     # pelvis     100/30          wrong (not in Mean)
    (0, 9): (9, 12),      # head_top   15/30  = 0.5     ok@0.5 (boundary counts), wrong@0.1
    (0, 10): (500, 500),  # r_wrist    missing in the ground truth: not counted at all
    (0, 12): (16, 0),     # r_should.  16/30  = 0.533   wrong
    (0, 15): (0, 20),     # l_wrist    20/30  = 0.667   wrong
    (1, 1): (6, 0),       # r_knee     6/60   = 0.1     ok@0.5, ok@0.1 (boundary)
    (1, 9): (18, 24),     # head_top   30/60  = 0.5     ok@0.5, wrong@0.1
    (1, 12): (20, 0),     # r_should.  20/60  = 0.333   ok@0.5, wrong@0.1
    (1, 13): (0, 31),     # l_should.  31/60  = 0.517   wrong
    (2, 9): (0, 16),      # head_top   16/30  = 0.533   wrong
    (2, 10): (4, 0),      # r_wrist    4/30   = 0.133   ok@0.5, wrong@0.1
    (2, 11): (-15, 0),    # r_elbow    15/30  = 0.5     ok@0.5, wrong@0.1
    (2, 14): (0, -15.5),  # l_elbow    15.5/30 = 0.517  wrong
}


def predictions() -> np.ndarray:
    """0-based predictions: the 1-based ground truth minus 1, plus the errors above."""
    preds = GT - 1.0
    for (p, j), err in ERRORS.items():
        preds[p, j] += err
    return preds


def test_head_sizes_are_sixty_percent_of_the_diagonal():
    np.testing.assert_allclose(head_sizes(HEADBOXES), [30.0, 60.0, 30.0])


def test_per_joint_pckh_by_hand():
    pckh, count = pckh_per_joint(predictions(), GT, MISSING, HEADBOXES)
    # Visible persons per joint: 3, except r_wrist (10: person 2 only) and l_wrist (15: person 0).
    expected_count = [3] * 16
    expected_count[10] = expected_count[15] = 1
    np.testing.assert_array_equal(count, expected_count)
    expected = np.full(16, 100.0)
    expected[6] = 100 * 2 / 3   # pelvis: person 0 wrong
    expected[9] = 100 * 2 / 3   # head_top: persons 0, 1 on the boundary (ok), person 2 wrong
    expected[12] = 100 * 2 / 3  # r_shoulder: person 0 wrong
    expected[13] = 100 * 2 / 3  # l_shoulder: person 1 wrong
    expected[14] = 100 * 2 / 3  # l_elbow: person 2 wrong
    expected[10] = 100.0        # r_wrist: 1 of 1 (persons 0 and 1 missing, not counted wrong)
    expected[15] = 0.0          # l_wrist: 0 of 1 (person 0 wrong, persons 1 and 2 missing)
    np.testing.assert_allclose(pckh, expected)


def test_table_groups_and_weighted_means_by_hand():
    table = pckh_table(predictions(), GT, MISSING, HEADBOXES)
    assert list(table) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean",
                           "Mean@0.1"]
    # Head: upper neck (3 of 3) and head top (2 of 3) averaged, as the MPII toolkit groups them
    assert table["Head"] == pytest.approx((100 + 200 / 3) / 2)
    assert table["Shoulder"] == pytest.approx(200 / 3)          # (66.67 + 66.67) / 2
    assert table["Elbow"] == pytest.approx((100 + 200 / 3) / 2)  # r 3/3, l 2/3 -> 83.33
    assert table["Wrist"] == pytest.approx(50.0)                # r 1/1, l 0/1
    assert table["Hip"] == table["Knee"] == table["Ankle"] == pytest.approx(100.0)
    # Mean: the 14 joints other than pelvis and thorax, 3 persons each = 42, minus 4 missing
    # = 38 visible; wrong at 0.5: head_top p2, r_sho p0, l_sho p1, l_elb p2, l_wri p0 = 5.
    # (33 / 38 = 86.84; the unweighted mean of the 14 joint figures would be 83.33.)
    assert table["Mean"] == pytest.approx(100 * 33 / 38)
    # Mean@0.1: wrong at 0.1 among the 38: p0 r_ankle, l_ankle, head_top, r_sho, l_wri (5);
    # p1 head_top, r_sho, l_sho (3); p2 head_top, r_wri, r_elb, l_elb (4) = 12 -> 26 / 38.
    # (p1 r_knee at exactly 0.1 counts as correct.)
    assert table["Mean@0.1"] == pytest.approx(100 * 26 / 38)


def test_head_is_upper_neck_and_head_top_together():
    # Upper-neck misses (ratio 0.8) on persons 0 and 1 lower Head to (1/3 + 2/3) / 2; the head top
    # alone (2 of 3) would not see them.
    preds = predictions()
    preds[0, 8] += (0, 24)
    preds[1, 8] += (0, 48)
    table = pckh_table(preds, GT, MISSING, HEADBOXES)
    assert table["Head"] == pytest.approx((100 / 3 + 200 / 3) / 2)


# The benchmark toolkit's 14-joint matrix (annolist2matrix): columns 1-6 are MPII joints 0-5,
# 7-12 joints 10-15, 13-14 joints 8-9 (upper neck, head top); pelvis and thorax are dropped.
TOOLKIT_COLUMNS = [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9]
# genTablePCK's column pairs (1-based toolkit columns) for Table VIII's groups.
TOOLKIT_PAIRS = {"Head": (13, 14), "Shoulder": (9, 10), "Elbow": (8, 11), "Wrist": (7, 12),
                 "Hip": (3, 4), "Knee": (2, 5), "Ankle": (1, 6)}


def _toolkit_table(preds: np.ndarray, gt: np.ndarray, missing: np.ndarray,
                   boxes: np.ndarray) -> dict[str, float]:
    """The toolkit's figures, recomputed from its definitions: NaN distances for missing joints,
    PCKh per column, pairs averaged, Total pooled over all 14 columns."""
    dist = np.linalg.norm(preds + 1.0 - gt, axis=2) / head_sizes(boxes)[:, None]
    dist = np.where(missing, np.nan, dist)[:, TOOLKIT_COLUMNS]
    pck = [100 * np.mean(d[~np.isnan(d)] <= 0.5) for d in dist.T]
    table = {k: (pck[a - 1] + pck[b - 1]) / 2 for k, (a, b) in TOOLKIT_PAIRS.items()}
    pooled = dist[~np.isnan(dist)]
    table["Mean"] = 100 * np.mean(pooled <= 0.5)
    return table


def test_columns_match_the_benchmark_toolkit_on_random_predictions():
    rng = np.random.default_rng(0)
    n = 40
    gt = rng.uniform(50, 400, size=(n, 16, 2))
    corner = rng.uniform(0, 300, size=(n, 2))
    boxes = np.stack([corner, corner + rng.uniform(20, 60, size=(n, 2))], axis=1)
    missing = rng.random((n, 16)) < 0.1
    preds = gt - 1.0 + rng.normal(0, 12, size=(n, 16, 2))
    ours = pckh_table(preds, gt, missing, boxes)
    toolkit = _toolkit_table(preds, gt, missing, boxes)
    assert {k: ours[k] for k in toolkit} == pytest.approx(toolkit)


def test_threshold_argument_moves_the_cut():
    # At 0.52 the two misses at ratio 0.517 (p1 l_shoulder, p2 l_elbow) become correct.
    table = pckh_table(predictions(), GT, MISSING, HEADBOXES, threshold=0.52)
    assert table["Mean"] == pytest.approx(100 * 35 / 38)
    assert table["Elbow"] == pytest.approx(100.0)


def test_predictions_are_zero_based_and_shifted_by_one():
    # A head size of 0.6 px (diagonal 1): an off-by-one of (1, 1) = 1.41 px is 2.4 head sizes.
    boxes = np.array([[[0, 0], [1, 0]]], dtype=np.float64)
    gt = GT[:1]
    missing = np.zeros((1, 16), dtype=bool)
    right = pckh_table(gt - 1.0, gt, missing, boxes)
    wrong = pckh_table(gt, gt, missing, boxes)  # 1-based predictions given by mistake
    assert right["Mean"] == pytest.approx(100.0)
    assert wrong["Mean"] == pytest.approx(0.0)


def test_joint_that_no_person_has_is_nan_and_left_out_of_the_mean():
    missing = MISSING.copy()
    missing[:, 9] = True  # no head_top anywhere
    table = pckh_table(predictions(), GT, missing, HEADBOXES)
    assert np.isnan(table["Head"])
    # The 38 visible minus the 3 head tops = 35, minus the 4 non-head misses = 31 correct.
    assert table["Mean"] == pytest.approx(100 * 31 / 35)


def test_ground_truth_file_layout_gives_the_same_figures(tmp_path: Path):
    names = np.array([["rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thrx", "neck",
                       "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri"]], dtype=object)
    path = tmp_path / "gt_valid.mat"
    scipy.io.savemat(path, {
        "dataset_joints": names,
        "jnt_missing": MISSING.T.astype(np.float64),     # 16 x N
        "pos_gt_src": GT.transpose(1, 2, 0),             # 16 x 2 x N
        "headboxes_src": HEADBOXES.transpose(1, 2, 0),   # 2 x 2 x N
    })
    gt = read_mpii_gt(path)
    assert evaluate_mpii(predictions(), gt) == pytest.approx(
        pckh_table(predictions(), GT, MISSING, HEADBOXES))


def test_prediction_count_must_match_the_ground_truth():
    with pytest.raises(DataError, match=r"predictions have shape \(2, 16, 2\)"):
        pckh_table(predictions()[:2], GT, MISSING, HEADBOXES)


def test_empty_head_box_is_rejected():
    boxes = HEADBOXES.copy()
    boxes[1, 1] = boxes[1, 0]
    with pytest.raises(DataError, match=r"person\(s\) \[1\] have an empty head box"):
        pckh_table(predictions(), GT, MISSING, boxes)
