"""PCKh on MPII, as the benchmark's evaluation toolkit (evalMPII: getDistPCKh, computePCK,
genTablePCK) scores the test set of DANet's Table VIII.

Coordinates: predictions come in 0-based image pixels (what the decoder gives); the ground truth
of gt_valid.mat is MATLAB's 1-based pixels. Like HRNet's mpii.py, 1 is added to every
prediction before the two are compared (HRNet also writes these 1-based predictions to pred.mat).

Per joint j over the persons where j is not missing in the ground truth:
    head size   = 0.6 × ‖(x2, y2) − (x1, y1)‖ of the person's head box (SC_BIAS 0.6)
    correct     = ‖pred − gt‖ / head size <= threshold
    PCKh[j]     = 100 × correct count / visible count
The toolkit keeps 14 joints (pelvis and thorax dropped). A group of Table VIII is the plain mean
of its joints' PCKh, the toolkit's pairs: Head = (upper neck + head top) / 2, Shoulder = both
shoulders, and so on. Mean is the toolkit's Total: all 14 joints pooled, i.e. all correct
joints / all visible joints. HRNet's mpii.py computes the same per-joint PCKh and Mean, but
prints the head top alone as "Head", so its validation Head column is not the benchmark's.
Mean@0.1 is that mean at threshold 0.1 (HRNet's code reads row 11 of its 0.01-step table,
which is 0.11; mmpose reads row 10, 0.1, which is what the name says and what is used here).
"""

from __future__ import annotations

import numpy as np

from pose.data.mpii import MEAN_EXCLUDED, NUM_JOINTS, TABLE_GROUPS, MpiiGroundTruth
from pose.errors import DataError

SC_BIAS = 0.6
THRESHOLD = 0.5
LOW_THRESHOLD = 0.1


def head_sizes(headboxes: np.ndarray) -> np.ndarray:
    """(N, 2, 2) head boxes [[x1, y1], [x2, y2]] → (N,) head sizes: SC_BIAS × diagonal."""
    boxes = np.asarray(headboxes, dtype=np.float64)
    return SC_BIAS * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=1)


def _checked(preds: np.ndarray, gt_joints: np.ndarray, missing: np.ndarray,
             headboxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    preds = np.asarray(preds, dtype=np.float64)
    gt_joints = np.asarray(gt_joints, dtype=np.float64)
    missing = np.asarray(missing, dtype=bool)
    headboxes = np.asarray(headboxes, dtype=np.float64)
    n = len(gt_joints)
    shapes = {"predictions": (preds, (n, NUM_JOINTS, 2)),
              "ground-truth joints": (gt_joints, (n, NUM_JOINTS, 2)),
              "missing flags": (missing, (n, NUM_JOINTS)),
              "head boxes": (headboxes, (n, 2, 2))}
    for what, (arr, shape) in shapes.items():
        if arr.shape != shape:
            raise DataError(f"PCKh: {what} have shape {arr.shape}, expected {shape} (one row "
                            f"per ground-truth person, {NUM_JOINTS} MPII joints): predictions "
                            "of another split?")
    return preds, gt_joints, missing, headboxes


def scaled_errors(preds: np.ndarray, gt_joints: np.ndarray, missing: np.ndarray,
                  headboxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 16) error / head size, and (N, 16) visible mask (errors of missing joints are 0).

    preds: (N, 16, 2) 0-based; gt_joints: (N, 16, 2) 1-based; missing: (N, 16) bool;
    headboxes: (N, 2, 2) 1-based.
    """
    preds, gt_joints, missing, headboxes = _checked(preds, gt_joints, missing, headboxes)
    visible = ~missing
    sizes = head_sizes(headboxes)
    bad = np.flatnonzero((sizes <= 0) & visible.any(axis=1))
    if bad.size:
        raise DataError(f"PCKh: ground-truth person(s) {bad[:5].tolist()} have an empty head "
                        "box; the head size normalises every error and must be > 0")
    errors = np.linalg.norm(preds + 1.0 - gt_joints, axis=2)
    safe = np.where(sizes > 0, sizes, 1.0)[:, None]
    return np.where(visible, errors / safe, 0.0), visible


def _correct_counts(scaled: np.ndarray, visible: np.ndarray, threshold: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    correct = ((scaled <= threshold) & visible).sum(axis=0).astype(np.float64)
    return correct, visible.sum(axis=0).astype(np.float64)


def _percent(correct: np.ndarray, count: np.ndarray) -> np.ndarray:
    """100 × correct / count; NaN for a joint no person has (HRNet divides by zero there)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, 100.0 * correct / np.maximum(count, 1), np.nan)


def _mean(correct: np.ndarray, count: np.ndarray) -> float:
    keep = np.ones(NUM_JOINTS, dtype=bool)
    keep[list(MEAN_EXCLUDED)] = False
    total = count[keep].sum()
    return float(100.0 * correct[keep].sum() / total) if total > 0 else float("nan")


def pckh_per_joint(preds: np.ndarray, gt_joints: np.ndarray, missing: np.ndarray,
                   headboxes: np.ndarray, threshold: float = THRESHOLD
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(16,) PCKh in percent per MPII joint and (16,) visible-joint counts."""
    scaled, visible = scaled_errors(preds, gt_joints, missing, headboxes)
    correct, count = _correct_counts(scaled, visible, threshold)
    return _percent(correct, count), count


def pckh_table(preds: np.ndarray, gt_joints: np.ndarray, missing: np.ndarray,
               headboxes: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    """Table VIII's columns in percent: Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Mean
    (at `threshold`), then Mean@0.1."""
    scaled, visible = scaled_errors(preds, gt_joints, missing, headboxes)
    correct, count = _correct_counts(scaled, visible, threshold)
    per_joint = _percent(correct, count)
    table = {name: float(np.mean(per_joint[list(ids)])) for name, ids in TABLE_GROUPS.items()}
    table["Mean"] = _mean(correct, count)
    table["Mean@0.1"] = _mean(*_correct_counts(scaled, visible, LOW_THRESHOLD))
    return table


def evaluate_mpii(preds: np.ndarray, gt: MpiiGroundTruth, threshold: float = THRESHOLD
                  ) -> dict[str, float]:
    """pckh_table of 0-based predictions (N, 16, 2) against gt_valid.mat as read by
    pose.data.mpii.read_mpii_gt (predictions in valid.json's order)."""
    return pckh_table(preds, gt.joints, gt.missing, gt.headboxes, threshold)
