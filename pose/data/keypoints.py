"""COCO person keypoint constants shared by the data pipeline and the evaluation protocol."""

from __future__ import annotations

import numpy as np

NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_JOINTS = len(NAMES)

# Left/right joint pairs swapped by a horizontal flip (official coco.py flip_pairs).
FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
)

# Half-body augmentation splits the joints into these two groups (official coco.py).
UPPER_BODY_IDS: tuple[int, ...] = tuple(range(11))
LOWER_BODY_IDS: tuple[int, ...] = tuple(range(11, 17))

# Per-joint OKS constants of the COCO keypoint challenge (pycocotools / official oks_nms).
OKS_SIGMAS: np.ndarray = np.array(
    [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]
) / 10.0
OKS_SIGMAS.setflags(write=False)

# Limbs for drawing, 0-based (the COCO categories' 1-based skeleton minus one).
SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)


def flip_permutation(num_joints: int = NUM_JOINTS,
                     flip_pairs: tuple[tuple[int, int], ...] = FLIP_PAIRS) -> np.ndarray:
    """Index array `perm` such that `x[perm]` swaps every left/right pair of joints."""
    perm = np.arange(num_joints)
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return perm
