"""Geometry of the top-down crop (official HRNet / SimpleBaseline protocol) as small pure functions.

Every function takes arrays and returns new arrays; the random ones take a numpy Generator, so a
test can replay a draw. Boxes are COCO (x, y, w, h); `scale` is the box size in units of
`PIXEL_STD` pixels, as in the official code, and only `scale[0]` sets the crop's zoom.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

PIXEL_STD = 200.0
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def fit_aspect(w: float, h: float, aspect_ratio: float) -> tuple[float, float]:
    """Grow the shorter side so that w / h equals the network input's aspect ratio."""
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    return w, h


def box_to_center_scale(box: Sequence[float], aspect_ratio: float, padding: float = 1.25
                        ) -> tuple[np.ndarray, np.ndarray]:
    """COCO box (x, y, w, h) → center (2,) and scale (2,) float32, grown to the aspect ratio and
    padded by 1.25 so that the crop holds some context around the person."""
    x, y, w, h = (float(v) for v in box[:4])
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float32)
    w, h = fit_aspect(w, h, aspect_ratio)
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD], dtype=np.float32) * padding
    return center, scale.astype(np.float32)


def clean_box(box: Sequence[float], width: int, height: int) -> np.ndarray | None:
    """Clip a ground-truth box to the image as the official coco.py does (its corners become
    pixel indices, so the clipped box is one pixel narrower); None when nothing is left."""
    x, y, w, h = (float(v) for v in box[:4])
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 < x1 or y2 < y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Point making a right angle at b with a, so that 3 points fix a similarity transform."""
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def get_affine_transform(center: np.ndarray, scale: np.ndarray, rotation: float,
                         output_size: Sequence[int], inv: bool = False) -> np.ndarray:
    """2x3 matrix mapping the rotated box (center, scale·200) onto an output of size (w, h);
    with inv=True the matrix maps output pixels back to the image."""
    src_w = (np.asarray(scale) * PIXEL_STD)[0]  # in the scale's own dtype, as the official code
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    rad = np.pi * rotation / 180.0
    sn, cs = np.sin(rad), np.cos(rad)
    src_dir = np.array([src_w * 0.5 * sn, -src_w * 0.5 * cs])  # (0, -w/2) rotated by rad
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = np.asarray(center, dtype=np.float64) + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = [dst_w * 0.5, dst_h * 0.5 - dst_w * 0.5]
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


def affine_points(points: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Apply 2x3 matrices to points: (..., J, 2) with (2, 3) or batched (..., 2, 3)."""
    points = np.asarray(points, dtype=np.float64)
    homog = np.concatenate([points, np.ones_like(points[..., :1])], axis=-1)
    return homog @ np.swapaxes(trans, -1, -2)


def crop_image(image: np.ndarray, center: np.ndarray, scale: np.ndarray, rotation: float,
               output_size: Sequence[int]) -> np.ndarray:
    """Bilinear affine crop of the box to an output of size (w, h)."""
    trans = get_affine_transform(center, scale, rotation, output_size)
    size = (int(output_size[0]), int(output_size[1]))
    return cv2.warpAffine(image, trans, size, flags=cv2.INTER_LINEAR)


def flip_joints(joints: np.ndarray, visible: np.ndarray, width: int,
                flip_pairs: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Mirror (J, 2) joints in an image of `width` pixels (x → width − x − 1) and swap the
    left/right pairs; invisible joints come out at (0, 0), as in the official fliplr_joints."""
    perm = np.arange(len(joints))
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    flipped = np.array(joints, dtype=np.float64)[perm]
    flipped[:, 0] = width - flipped[:, 0] - 1
    vis = np.asarray(visible)[perm].copy()
    return np.where(vis[:, None] > 0, flipped, 0.0), vis


def half_body_center_scale(joints: np.ndarray, visible: np.ndarray, rng: np.random.Generator,
                           aspect_ratio: float, upper_ids: Sequence[int],
                           scale_factor: float = 1.5) -> tuple[np.ndarray, np.ndarray] | None:
    """Box around the visible upper or lower body joints (upper when a standard normal draw is
    below 0.5 and it has more than 2 joints), fitted to the aspect ratio and enlarged by
    `scale_factor`; None when the chosen half has fewer than 2 joints."""
    vis = np.asarray(visible) > 0
    is_upper = np.isin(np.arange(len(joints)), np.asarray(upper_ids))
    upper = np.asarray(joints, dtype=np.float32)[vis & is_upper, :2]
    lower = np.asarray(joints, dtype=np.float32)[vis & ~is_upper, :2]
    if rng.standard_normal() < 0.5 and len(upper) > 2:
        chosen = upper
    else:
        chosen = lower if len(lower) > 2 else upper
    if len(chosen) < 2:
        return None
    center = chosen.mean(axis=0)
    w, h = (chosen.max(axis=0) - chosen.min(axis=0)).tolist()
    w, h = fit_aspect(w, h, aspect_ratio)
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD], dtype=np.float32) * scale_factor
    return center.astype(np.float32), scale.astype(np.float32)


# How a scale multiplier or a rotation is drawn: "normal", the official HRNet / SimpleBaseline
# code's clipped normal; "uniform", uniform over a range (the MSPN / RSN code, and the papers that
# state their augmentation as ranges).
SAMPLING_LAWS = ("normal", "uniform")


def random_scale(rng: np.random.Generator, factor: float, law: str = "normal",
                 bounds: tuple[float, float] | None = None) -> float:
    """Multiplier for the scale. "normal": N(0,1)·factor + 1 clipped to [1 − factor, 1 + factor]
    (about 32% of draws land on a bound at factor 0.35). "uniform": U(lo, hi) over `bounds`,
    by default [1 − factor, 1 + factor]."""
    if law == "uniform":
        lo, hi = bounds if bounds is not None else (1.0 - factor, 1.0 + factor)
        return float(rng.uniform(lo, hi))
    if law != "normal":
        raise ValueError(f"scale law must be one of {SAMPLING_LAWS}, got {law!r}")
    return float(np.clip(rng.standard_normal() * factor + 1.0, 1.0 - factor, 1.0 + factor))


def random_rotation(rng: np.random.Generator, factor: float, prob: float,
                    law: str = "normal") -> float:
    """Rotation in degrees with probability `prob`, else 0 (the probability draw comes first, as
    in the official conditional expression). "normal": N(0,1)·factor clipped to ±2·factor (at
    factor 45 about 32% of draws fall beyond ±45). "uniform": U(−factor, factor)."""
    if law not in SAMPLING_LAWS:
        raise ValueError(f"rotation law must be one of {SAMPLING_LAWS}, got {law!r}")
    if rng.random() <= prob:
        if law == "uniform":
            return float(rng.uniform(-factor, factor))
        return float(np.clip(rng.standard_normal() * factor, -2.0 * factor, 2.0 * factor))
    return 0.0


# normalize_image's float32 arithmetic done once per uint8 value and channel: a table lookup
# gives the same bits as computing (x / 255 − mean) / std on every pixel, in a tenth of the time.
_NORMALIZE_LUT = [np.ascontiguousarray(((np.arange(256, dtype=np.float32) / 255.0 - mean) / std)
                                       .astype(np.float32))
                  for mean, std in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]


def normalize_image(image: np.ndarray, bgr: bool = False) -> np.ndarray:
    """RGB uint8 (H, W, 3) → float32 (3, H, W) RGB in ImageNet mean/std units; `bgr`: the input
    is OpenCV's BGR order (the channels are swapped in the same pass)."""
    planes = cv2.split(np.ascontiguousarray(image, dtype=np.uint8))
    out = np.empty((3, *image.shape[:2]), dtype=np.float32)
    for channel, source in enumerate((2, 1, 0) if bgr else (0, 1, 2)):
        cv2.LUT(planes[source], _NORMALIZE_LUT[channel], dst=out[channel])
    return out


def cutout_mask(height: int, width: int, side: int, holes: int, rng: np.random.Generator
                ) -> np.ndarray:
    """Cutout (DeVries & Taylor 2017): float32 (H, W) ones with `holes` square holes of `side`
    px set to 0, each centred on a uniform pixel of the whole image and clipped at its border,
    as in the reference implementation (so a hole near an edge is smaller)."""
    mask = np.ones((height, width), dtype=np.float32)
    for _ in range(holes):
        cy, cx = int(rng.integers(height)), int(rng.integers(width))
        y0, x0 = cy - side // 2, cx - side // 2
        mask[max(y0, 0):max(y0 + side, 0), max(x0, 0):max(x0 + side, 0)] = 0.0
    return mask
