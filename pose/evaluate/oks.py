"""Object keypoint similarity and the greedy OKS non-maximum suppression of the official code."""

from __future__ import annotations

import numpy as np

from pose.data.keypoints import OKS_SIGMAS


def oks_iou(g: np.ndarray, d: np.ndarray, area_g: float, area_d: np.ndarray,
            sigmas: np.ndarray = OKS_SIGMAS) -> np.ndarray:
    """OKS of one pose g (J, 3) against poses d (M, J, 3): mean over all joints of
    exp(−dist² / (2·(2σ)²·s²)), with s² the mean of the two areas (official oks_iou)."""
    d = np.asarray(d, dtype=np.float64).reshape(-1, *np.shape(g))
    variances = (np.asarray(sigmas) * 2) ** 2
    dist2 = (d[..., 0] - g[:, 0]) ** 2 + (d[..., 1] - g[:, 1]) ** 2
    s2 = (area_g + np.asarray(area_d, dtype=np.float64)[:, None]) / 2 + np.spacing(1)
    e = dist2 / variances / s2 / 2
    return np.exp(-e).mean(axis=1)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thresh: float,
            sigmas: np.ndarray = OKS_SIGMAS) -> list[int]:
    """Indices kept, highest score first: each kept pose removes the remaining ones whose OKS
    with it exceeds `thresh`. keypoints (N, J, 3), scores (N,), areas (N,)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep: list[int] = []
    while order.size > 0:
        i, rest = int(order[0]), order[1:]
        keep.append(i)
        if rest.size == 0:
            break
        ovr = oks_iou(keypoints[i], keypoints[rest], areas[i], areas[rest], sigmas)
        order = rest[ovr <= thresh]
    return keep
