"""Test-time heatmaps (with the official flip test) and their mapping back to image pixels."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from pose.data.codec import HeatmapCodec
from pose.data.keypoints import FLIP_PAIRS, flip_permutation
from pose.data.transforms import affine_points, get_affine_transform


def flip_back(heatmaps: torch.Tensor, flip_pairs: Sequence[tuple[int, int]] = FLIP_PAIRS
              ) -> torch.Tensor:
    """Heatmaps predicted on a mirrored image → heatmaps of the original image: mirror the
    width axis and swap left/right joints. (N, J, h, w) in, new tensor out (same device)."""
    perm = torch.as_tensor(flip_permutation(heatmaps.shape[1], tuple(flip_pairs)),
                           device=heatmaps.device)
    return torch.flip(heatmaps, dims=[3])[:, perm]


def shift_right(heatmaps: torch.Tensor) -> torch.Tensor:
    """The official `shift_heatmap`: move every column one pixel right, keeping column 0, since
    a mirrored crop's features are one pixel off the original's."""
    return torch.cat([heatmaps[..., :1], heatmaps[..., :-1]], dim=-1)


def needs_flip_shift(codec: HeatmapCodec) -> bool:
    """Whether mirrored heatmaps get the official one-pixel shift: a mirrored input pixel lands
    (stride − 1) input pixels off its heatmap pixel, ~1 heatmap pixel at stride 4 and none at
    full resolution (FR-SBN), where the shift would only add an error."""
    return bool(np.any(codec.stride > 1))


def _last(output: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """Models with intermediate supervision return a list; the last entry is the prediction."""
    return output[-1] if isinstance(output, list | tuple) else output


def model_heatmaps(model: torch.nn.Module, images: torch.Tensor, flip_test: bool = True,
                   flip_pairs: Sequence[tuple[int, int]] = FLIP_PAIRS,
                   shift: bool = True) -> torch.Tensor:
    """Heatmaps of a batch; with flip_test the average of the image's and its mirror's (flipped
    back, pairs swapped, shifted right by one pixel), computed on the model's device."""
    out = _last(model(images))
    if not flip_test:
        return out
    flipped = flip_back(_last(model(torch.flip(images, dims=[3]))), flip_pairs)
    if shift:
        flipped = shift_right(flipped)
    return (out + flipped) * 0.5


def heatmap_to_image(centers: np.ndarray, scales: np.ndarray, heatmap_size: Sequence[int]
                     ) -> np.ndarray:
    """(N, 2, 3) matrices mapping heatmap pixels back to image pixels: the official
    transform_preds, the inverse affine of the box onto a map of heatmap_size (w, h)."""
    centers, scales = np.asarray(centers), np.asarray(scales)
    trans = np.zeros((len(centers), 2, 3))
    for k in range(len(centers)):
        trans[k] = get_affine_transform(centers[k], scales[k], 0, heatmap_size, inv=True)
    return trans


def blur_heatmaps(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """Gaussian blur of every (h, w) map with a kernel x kernel window (OpenCV's sigma for that
    size, reflect-101 border), as CPN / MSPN smooth heatmaps before decoding."""
    n, j, h, w = heatmaps.shape
    maps = np.ascontiguousarray(heatmaps.reshape(n * j, h, w), dtype=np.float32)
    out = np.stack([cv2.GaussianBlur(m, (kernel, kernel), 0) for m in maps])
    return out.reshape(n, j, h, w)


def final_preds(codec: HeatmapCodec, heatmaps: np.ndarray, centers: np.ndarray,
                scales: np.ndarray, blur_kernel: int = 0, offset: str = "neighbour"
                ) -> tuple[np.ndarray, np.ndarray]:
    """(N, J, h, w) heatmaps of boxes (centers, scales) → image coords (N, J, 2) and maxvals
    (N, J, 1): by default the official get_final_preds with post-processing on; `blur_kernel`
    and `offset` select the CPN / MSPN decoding (TestSpec)."""
    if blur_kernel:
        heatmaps = blur_heatmaps(heatmaps, blur_kernel)
    coords, maxvals = codec.decode(heatmaps, offset)
    h, w = heatmaps.shape[2:]
    trans = heatmap_to_image(centers, scales, (w, h))
    return affine_points(coords, trans).astype(np.float32), maxvals
