"""The MSRA Gaussian heatmap codec of the official HRNet / SimpleBaseline code.

Encoding and decoding live in one object (the mmpose codec idea) so that a round-trip test pins
both down. Both are vectorised over joints (encode) and over instances × joints (decode).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class HeatmapCodec:
    """Joints in input pixels ↔ unnormalised Gaussian heatmaps at input_size / stride.

    Sizes are (w, h). Heatmap pixel i stands for input pixel i·stride (the official convention:
    the Gaussian centre is int(x / stride + 0.5)).
    """

    def __init__(self, input_size: Sequence[int], heatmap_size: Sequence[int], sigma: float):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        self.stride = np.array(self.input_size, dtype=np.float64) / np.array(self.heatmap_size)

    def __repr__(self) -> str:
        return (f"HeatmapCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"sigma={self.sigma:g})")

    def encode(self, joints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(J, 2) joints in input px and (J,) visibility → heatmaps (J, h, w) float32 and target
        weight (J, 1) float32: 1 for a visible joint whose Gaussian window (radius 3σ) touches
        the map, else 0 with an all-zero heatmap."""
        w, h = self.heatmap_size
        radius = self.sigma * 3
        joints = np.asarray(joints, dtype=np.float64)[:, :2]
        mu = np.trunc(joints / self.stride + 0.5)  # the official int(): truncation toward zero
        ul = np.trunc(mu - radius)
        br = np.trunc(mu + radius + 1)
        # The official code pastes a (2·radius+1)² patch centred at its index size // 2 onto
        # [ul, br): for integer radius that centre is mu itself.
        centre = (ul + (2 * radius + 1) // 2).astype(np.float32)
        weight = (np.asarray(visible) > 0).astype(np.float32)
        outside = (ul[:, 0] >= w) | (ul[:, 1] >= h) | (br[:, 0] < 0) | (br[:, 1] < 0)
        weight[outside] = 0.0

        # Only the (2·radius+1)² window of each kept joint is computed, with the same float32
        # arithmetic as a whole-map exp(−d² / 2σ²), so the heatmaps are bit-identical to it.
        heatmaps = np.zeros((len(joints), h, w), dtype=np.float32)
        kept = np.flatnonzero(weight > 0.5)
        if len(kept):
            side = int((br[kept] - ul[kept]).max())  # 2·radius + 1 at most
            steps = np.arange(side, dtype=np.float64)
            px = ul[kept, :1] + steps[None, :]  # (K, side) heatmap columns of each window
            py = ul[kept, 1:] + steps[None, :]
            ok_x = (px >= 0) & (px < np.minimum(br[kept, :1], w))
            ok_y = (py >= 0) & (py < np.minimum(br[kept, 1:], h))
            dx2 = (px.astype(np.float32) - centre[kept, :1]) ** 2
            dy2 = (py.astype(np.float32) - centre[kept, 1:]) ** 2
            heat = np.exp(-(dy2[:, :, None] + dx2[:, None, :]) / (2 * self.sigma ** 2))
            ok = ok_y[:, :, None] & ok_x[:, None, :]
            k, iy, ix = np.nonzero(ok)
            heatmaps[kept[k], py[k, iy].astype(np.intp), px[k, ix].astype(np.intp)] = \
                heat[k, iy, ix]
        return heatmaps, weight[:, None]

    def decode(self, heatmaps: np.ndarray, offset: str = "neighbour"
               ) -> tuple[np.ndarray, np.ndarray]:
        """(N, J, h, w) heatmaps → coords (N, J, 2) float32 in heatmap px and maxvals (N, J, 1).

        Argmax, then a quarter-pixel offset. "neighbour" (the official HRNet one): 0.25 px
        towards the higher neighbour on each axis when maxval > 0 and the peak lies strictly
        inside the map's inner border (1 < x < w − 1 and 1 < y < h − 1, the official condition).
        "second_max" (CPN / MSPN): 0.25 px along the unit vector towards the second-highest
        pixel. A joint with maxval <= 0 is placed at (0, 0)."""
        if offset not in ("neighbour", "second_max"):
            raise ValueError(f"offset must be 'neighbour' or 'second_max', got {offset!r}")
        heatmaps = np.asarray(heatmaps)
        if heatmaps.ndim != 4:
            raise ValueError(f"heatmaps must be (N, J, h, w), got shape {heatmaps.shape}")
        n, j, h, w = heatmaps.shape
        flat = heatmaps.reshape(n, j, h * w)
        idx = flat.argmax(axis=2)
        maxvals = np.take_along_axis(flat, idx[..., None], axis=2).astype(np.float32)
        positive = maxvals[..., 0] > 0
        px = np.where(positive, idx % w, 0)
        py = np.where(positive, idx // w, 0)

        def at(y: np.ndarray, x: np.ndarray) -> np.ndarray:
            pos = np.clip(y, 0, h - 1) * w + np.clip(x, 0, w - 1)
            return np.take_along_axis(flat, pos[..., None], axis=2)[..., 0].astype(np.float64)

        coords = np.stack([px, py], axis=-1).astype(np.float32)
        if offset == "second_max":
            coords += towards_second_max(flat, idx, w) * positive[..., None]
            return coords, maxvals
        diff = np.stack([at(py, px + 1) - at(py, px - 1), at(py + 1, px) - at(py - 1, px)], -1)
        inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
        coords += (np.sign(diff) * 0.25 * inside[..., None]).astype(np.float32)
        return coords, maxvals


def towards_second_max(flat: np.ndarray, idx: np.ndarray, w: int) -> np.ndarray:
    """(N, J, 2) offsets of 0.25 px from the argmax `idx` towards the second-highest pixel of each
    flattened (N, J, h·w) map; zero where the two coincide."""
    rest = flat.copy()
    np.put_along_axis(rest, idx[..., None], -np.inf, axis=2)
    idx2 = rest.argmax(axis=2)
    step = np.stack([idx2 % w - idx % w, idx2 // w - idx // w], axis=-1).astype(np.float64)
    norm = np.linalg.norm(step, axis=-1, keepdims=True)
    return (0.25 * step / np.maximum(norm, 1e-12)).astype(np.float32)
